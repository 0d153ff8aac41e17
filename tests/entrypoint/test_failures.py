"""Failing jobs write a readable FailureReason and exit non-zero (contract 5.3)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from ep_harness import make_tree, run_train

pytestmark = pytest.mark.integration


def test_bad_hyperparameter_fails_fast_with_a_reason(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    started = time.perf_counter()
    status, lines = run_train(tree, {"epochs": 1, "batch_size": 0})
    assert status == 2
    reason = tree.failure.read_text()
    assert reason.startswith("Invalid hyperparameters: hyperparameter batch_size=0 must be an integer >= 1")
    assert len(reason) <= 1025
    assert any(line.startswith("ERROR: Invalid hyperparameters") for line in lines)
    assert not (tree.model / "model.pt").exists()
    # Validation happens before torch is imported: the reason arrives in well under torch's import time.
    assert time.perf_counter() - started < 10


def test_the_false_trap_value_is_not_an_error_but_a_typo_is(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    status, _ = run_train(tree, {"epochs": 1, "shuffle": "Flase"})
    assert status == 2
    assert "shuffle='Flase': expected a boolean" in tree.failure.read_text()


def test_missing_channel(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    env = tree.env(train=tmp_path / "nowhere", validation=None)
    status, _ = run_train(tree, {"epochs": 1}, env=env)
    assert status == 2
    assert tree.failure.read_text().startswith("Container setup: channel 'train' directory")


def test_unreadable_data(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    channel = tmp_path / "train"
    channel.mkdir()
    np.savez(channel / "bad.npz", features=np.zeros((4, 2)))
    status, _ = run_train(tree, {"epochs": 1}, env=tree.env(train=channel, validation=None))
    assert status == 2
    assert tree.failure.read_text().startswith("Invalid input data: ")
    assert "missing array(s) ['x', 'y']" in tree.failure.read_text()


@pytest.mark.slow
def test_impossible_plan(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    status, _ = run_train(tree, {"epochs": 1, "batch_size": 64, "warmup_steps": 1000})
    assert status == 2
    assert tree.failure.read_text().startswith(
        "Invalid hyperparameters: warmup (1000 optimizer steps) must be shorter than the run "
        "(23 optimizer steps)"
    )
