"""The MLP path on sharded N x D data: seeded validation split, early stopping with restore-best."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from ep_harness import make_tree, read_metrics, run_train, write_blobs

import networks
from channels import prepare_data

pytestmark = pytest.mark.integration


def test_mlp_learns_blobs_without_checkpoints(tmp_path: Path) -> None:
    data = write_blobs(tmp_path / "train", n=600, files=3)
    tree = make_tree(tmp_path / "job", checkpoints=False)
    hps = {
        "epochs": 4,
        "batch_size": 32,
        "lr": 0.05,
        "hidden_sizes": [32],
        "val_fraction": 0.2,
        "my_extra": "x",
    }
    status, lines = run_train(tree, hps, env=tree.env(train=data, validation=None))
    assert status == 0, "\n".join(lines[-20:])
    assert "WARNING: Ignoring unknown hyperparameters: my_extra" in lines
    assert any(line.startswith("Checkpoints: off") for line in lines)
    assert (
        "Training examples: 480 | Batch size: 32 | Iterations per epoch: 15 | Total iterations: 60" in lines
    )
    assert read_metrics(tree)["final"]["val_accuracy"] > 0.9
    assert json.loads((tree.model / "model.json").read_text())["architecture"] == "mlp"


def test_early_stopping_restores_the_best_weights(tmp_path: Path) -> None:
    # Random labels: the MLP can only memorise, so val_loss soon rises and early stopping fires.
    rng = np.random.default_rng(3)
    (tmp_path / "train").mkdir()
    np.savez(
        tmp_path / "train" / "noise.npz",
        x=rng.normal(size=(400, 8)).astype(np.float32),
        y=rng.integers(0, 4, 400),
    )
    tree = make_tree(tmp_path / "job")
    hps = {"epochs": 40, "batch_size": 16, "optimizer": "adamw", "lr": 0.01, "hidden_sizes": [128, 128],
           "val_fraction": 0.25, "early_stopping_patience": 2, "seed": 1}  # fmt: skip
    status, lines = run_train(tree, hps, env=tree.env(train=tmp_path / "train", validation=None))
    assert status == 0, "\n".join(lines[-20:])
    metrics = read_metrics(tree)
    best = metrics["best"]["epoch"]
    assert metrics["stopped_early"] and metrics["epochs_completed"] == best + 2 < 40
    assert metrics["restored_best_epoch"] == best
    assert any(line.startswith("Early stopping: val_loss has not improved for 2 epochs") for line in lines)
    assert any(line.startswith(f"Restored the best weights: epoch {best}") for line in lines)
    assert json.loads((tree.model / "model.json").read_text())["weights_from_epoch"] == best

    # The saved weights are the best epoch's: they reproduce its val_loss on the same seeded split.
    split = prepare_data(tmp_path / "train", None, 0.25, seed=1)
    model = networks.load_trained(tree.model)
    with torch.no_grad():
        loss = F.cross_entropy(model(torch.from_numpy(split.val_x)), torch.from_numpy(split.val_y)).item()
    assert loss == pytest.approx(metrics["best"]["val_loss"], rel=1e-5)
