"""The shared digits job, uninterrupted: it learns, logs in the defined format, writes artefacts."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch
from ep_harness import DIGITS_HPS, DIGITS_VALIDATION, ENTRYPOINTS, Finished, read_metrics

import networks
from launcher.entrypoints.hyperparameters import config_from_mapping
from launcher.entrypoints.planning import plan_run
from launcher.entrypoints.schedules import lr_per_step

pytestmark = pytest.mark.integration

PLAN = plan_run(config_from_mapping(DIGITS_HPS), samples=1437)


def test_learns_well_above_chance(digits_baseline: Finished) -> None:
    metrics = read_metrics(digits_baseline.tree)
    assert metrics["final"]["val_accuracy"] > 0.85  # chance is 0.1
    assert metrics["epochs_completed"] == 3 and metrics["optimizer_steps"] == 36
    assert metrics["best"]["epoch"] in (1, 2, 3)
    assert not digits_baseline.tree.failure.exists()


def test_header_and_log_format(digits_baseline: Finished) -> None:
    lines = digits_baseline.lines
    assert (
        "Training examples: 1437 | Batch size: 64 | Iterations per epoch: 23 | Total iterations: 69" in lines
    )
    assert (
        "Gradient accumulation steps: 2 | Optimizer steps per epoch: 12 | Total optimizer steps: 36" in lines
    )
    assert any(line.startswith("Effective learning rate: 0.05") for line in lines)
    assert not any("\r" in line for line in lines)
    epoch_lines = [line for line in lines if line.startswith("epoch=") and "val_loss=" in line]
    assert len(epoch_lines) == 3
    assert re.fullmatch(
        r"epoch=3 step=36 train_loss=\S+ val_loss=\S+ val_accuracy=\S+ lr=\S+ "
        r"epoch_time_s=\S+ samples_per_sec=\S+",
        epoch_lines[-1],
    )


def test_metric_definitions_read_the_run(digits_baseline: Finished) -> None:
    definitions = json.loads((ENTRYPOINTS / "metric_definitions.json").read_text())
    series: dict[str, list[float]] = {}
    for line in digits_baseline.lines:
        for d in definitions:
            m = re.search(d["Regex"], line)
            if m:
                series.setdefault(d["Name"], []).append(float(m.group(1)))
    assert len(series["val_loss"]) == len(series["val_accuracy"]) == 3
    assert series["val_accuracy"][-1] == pytest.approx(
        read_metrics(digits_baseline.tree)["final"]["val_accuracy"], abs=1e-6
    )
    assert max(series["step"]) == 36


def test_lr_of_every_step_is_the_plan(digits_baseline: Finished) -> None:
    planned = lr_per_step(PLAN.schedule)
    assert read_metrics(digits_baseline.tree)["lr_history"] == planned
    printed = [float(line.split("lr=")[1]) for line in digits_baseline.lines if line.startswith("step=")]
    assert printed == planned


def test_artefacts(digits_baseline: Finished) -> None:
    tree = digits_baseline.tree
    description = json.loads((tree.model / "model.json").read_text())
    assert description["architecture"] == "cnn"
    assert description["input_shape"] == [1, 8, 8] and description["classes"] == list(range(10))
    assert description["hyperparameters"]["batch_size"] == 64
    with open(tree.output / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]
    assert set(rows[0]) >= {"train_loss", "val_loss", "val_accuracy", "lr", "epoch_time_s"}
    assert len(list(tree.checkpoints.glob("ckpt-*.pt"))) == 2  # keep_checkpoints
    assert not list(tree.model.glob("ckpt-*"))  # checkpoints never in the model directory

    # A user reloads the model from model.json + model.pt and gets the reported accuracy.
    model = networks.load_trained(tree.model)
    with np.load(DIGITS_VALIDATION / "digits-validation.npz") as data:
        x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    assert accuracy == pytest.approx(read_metrics(tree)["final"]["val_accuracy"], abs=1e-6)
