"""DDP under torchrun with two CPU processes (gloo), as SageMaker's Torchrun driver launches it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from ep_harness import assert_bitwise_equal, load_model_state, make_tree, read_metrics, run_train, step_line

from checkpointing import list_checkpoints, load_checkpoint

pytestmark = pytest.mark.integration

HPS: dict[str, object] = {
    "epochs": 2,
    "batch_size": 32,
    "lr": 0.05,
    "lr_schedule": "cosine",
    "warmup_steps": 3,
    "checkpoint_every_steps": 5,
    "log_every_steps": 1,
    "seed": 11,
}


def test_two_processes(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    status, lines = run_train(tree, HPS, nproc=2)
    output = "\n".join(lines)
    assert status == 0, output[-4000:]
    # Only rank 0 logs: one header, one line per step.
    assert sum(line.startswith("Training examples: 1437 |") for line in lines) == 1
    assert "World size: 2 | Samples per process: 719" in lines
    assert (
        "Training examples: 1437 | Batch size: 32 | Iterations per epoch: 23 | Total iterations: 46" in lines
    )
    assert sum(line.startswith("epoch=2 step=46 ") for line in lines) == 1
    assert read_metrics(tree)["final"]["val_accuracy"] > 0.8
    assert (tree.model / "model.pt").exists()
    step, path = list_checkpoints(tree.checkpoints)[-1]
    state = load_checkpoint(path)
    assert step == 46 and len(state["per_rank"]) == 2


@pytest.mark.slow
def test_two_processes_resume_bitwise(tmp_path: Path) -> None:
    clean = make_tree(tmp_path / "clean")
    status, lines = run_train(clean, HPS, nproc=2)
    assert status == 0, "\n".join(lines[-30:])
    tree = make_tree(tmp_path / "killed")
    status, _ = run_train(tree, HPS, nproc=2, kill_when=step_line(12))
    assert status == -signal.SIGKILL
    status, lines = run_train(tree, HPS, nproc=2)
    assert status == 0, "\n".join(lines[-30:])
    assert any(line.startswith("Resumed from ckpt-") for line in lines)
    assert_bitwise_equal(load_model_state(clean), load_model_state(tree))


def test_rank_zero_failing_after_training_fails_the_job_with_its_reason(tmp_path: Path) -> None:
    """Rank 1 waits at the closing barrier while rank 0 writes the outputs; when that write fails,
    rank 0 must not wait for it: the job ends promptly with rank 0's reason, not a hang or rank
    1's lost connection."""
    tree = make_tree(tmp_path)
    tree.model.rmdir()
    tree.model.write_text("a file where the model directory should be")
    status, lines = run_train(tree, {**HPS, "epochs": 1}, nproc=2)
    assert status != 0
    assert sum(line.startswith("epoch=1 step=23 ") for line in lines) == 1  # training finished
    reason = tree.failure.read_text()
    assert "model" in reason and "Connection" not in reason, reason
