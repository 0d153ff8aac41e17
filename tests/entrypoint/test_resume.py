"""Spot-interruption semantics: SIGKILL at arbitrary points, restart, and end bitwise identical.

Each scenario runs the shared digits job, kills it with SIGKILL (no warning, like a spot reclaim)
when a chosen line appears, restarts it with the same environment (as SageMaker does, with the
checkpoint directory restored), and compares the final ``model.pt`` tensor by tensor, the per-step
LR history and the per-epoch metrics with the uninterrupted baseline. Kill points are lines the
job prints; the kill lands a little later, which is fine: any point must resume exactly.
"""

from __future__ import annotations

import csv
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from ep_harness import (
    DIGITS_HPS,
    Finished,
    JobTree,
    assert_bitwise_equal,
    checkpoint_line,
    load_model_state,
    make_tree,
    read_metrics,
    run_train,
    step_line,
)

pytestmark = pytest.mark.integration

TIME_COLUMNS = {"epoch_time_s", "samples_per_sec"}
Kill = tuple[Callable[[str], bool], Callable[[JobTree], None] | None]


def history(tree: JobTree) -> list[dict[str, str]]:
    with open(tree.output / "history.csv") as handle:
        return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in csv.DictReader(handle)]


def truncate_newest(tree: JobTree) -> None:
    """A torn upload/restore: the newest checkpoint file is cut short."""
    newest = max(tree.checkpoints.glob("ckpt-*.pt"))
    newest.write_bytes(newest.read_bytes()[:1000])


def interrupt_and_finish(tree: JobTree, kills: list[Kill]) -> list[str]:
    for kill_when, after_kill in kills:
        status, lines = run_train(tree, DIGITS_HPS, kill_when=kill_when)
        assert status == -signal.SIGKILL, "the job finished before the kill point:\n" + "\n".join(lines[-5:])
        if after_kill is not None:
            after_kill(tree)
    status, lines = run_train(tree, DIGITS_HPS)
    assert status == 0, "\n".join(lines[-40:])
    return lines


def assert_same_run(baseline: Finished, tree: JobTree) -> None:
    assert_bitwise_equal(load_model_state(baseline.tree), load_model_state(tree))
    assert history(tree) == history(baseline.tree)
    resumed, clean = read_metrics(tree), read_metrics(baseline.tree)
    assert resumed["lr_history"] == clean["lr_history"]
    assert resumed["resumed_from_steps"] and not clean["resumed_from_steps"]


def test_four_interruptions_in_one_job(digits_baseline: Finished, tmp_path: Path) -> None:
    """During warmup, right after an epoch-end checkpoint, mid-epoch with the newest checkpoint
    then torn (fallback to the previous one), and mid-epoch again: the result is unchanged."""
    tree = make_tree(tmp_path)
    lines = interrupt_and_finish(
        tree,
        [
            (step_line(5), None),  # warmup is steps 0-5; resumes from the step-3 checkpoint
            (checkpoint_line(12), None),  # the end-of-epoch-1 checkpoint just renamed into place
            (step_line(20), truncate_newest),
            (step_line(29), None),
        ],
    )
    assert any(line.startswith("Resumed from ckpt-") for line in lines)
    assert_same_run(digits_baseline, tree)


SCENARIOS: dict[str, list[Kill]] = {
    "during-warmup": [(step_line(5), None)],
    "mid-epoch": [(step_line(17), None)],
    "right-after-mid-epoch-checkpoint": [(checkpoint_line(21), None)],
    "corrupt-newest-checkpoint": [(step_line(20), truncate_newest)],
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_single_interruption(digits_baseline: Finished, tmp_path: Path, scenario: str) -> None:
    tree = make_tree(tmp_path)
    lines = interrupt_and_finish(tree, SCENARIOS[scenario])
    if scenario == "corrupt-newest-checkpoint":
        assert any("Skipping unusable checkpoint" in line for line in lines)
    assert_same_run(digits_baseline, tree)


@pytest.mark.slow
def test_restart_of_a_finished_job_rewrites_the_same_model(digits_baseline: Finished, tmp_path: Path) -> None:
    """A job killed after its last checkpoint but before its artefacts resumes into them."""
    tree = make_tree(tmp_path)
    shutil.copytree(digits_baseline.tree.checkpoints, tree.checkpoints, dirs_exist_ok=True)
    status, lines = run_train(tree, DIGITS_HPS)
    assert status == 0, "\n".join(lines[-20:])
    assert any("(training had finished)" in line for line in lines)
    assert not any(line.startswith("epoch=") for line in lines)
    assert_bitwise_equal(load_model_state(digits_baseline.tree), load_model_state(tree))


@pytest.mark.slow
def test_changed_configuration_is_refused(digits_baseline: Finished, tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    shutil.copytree(digits_baseline.tree.checkpoints, tree.checkpoints, dirs_exist_ok=True)
    status, lines = run_train(tree, {**DIGITS_HPS, "lr": 0.1})
    assert status == 2
    assert tree.failure.read_text().startswith("Cannot resume: ")
    assert "lr: 0.05 -> 0.1" in tree.failure.read_text()
