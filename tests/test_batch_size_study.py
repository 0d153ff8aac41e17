"""examples/batch_size_study: its job files still parse and plan as documented, and run.py's summary
arithmetic holds. The study itself is not run here (README "The batch-size question")."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from types import ModuleType
from typing import Any

import pytest

from launcher.cli.main import main
from tests.conftest import REPO, CapturedEnv

STUDY = REPO / "examples" / "batch_size_study"
BATCHES = [32, 64, 128, 256, 512]
SEEDS = [0, 1, 2]


def _run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("batch_size_study_run", STUDY / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _plan(env: CapturedEnv, job_file: str) -> dict[str, Any]:
    assert main(["plan", "--local", "-c", str(STUDY / job_file), "--json"], env) == 0, env.err
    data: dict[str, Any] = json.loads(env.out)
    return data


@pytest.mark.parametrize("job_file", ["fixed_lr.toml", "scaled_lr.toml"])
def test_study_grid_plans_fifteen_trials(cli_env: CapturedEnv, job_file: str) -> None:
    data = _plan(cli_env, job_file)
    tune = data["tune"]
    assert tune["trials"] == len(BATCHES) * len(SEEDS) == 15
    assert "5 × 3" in tune["trials_source"]
    assert tune["max_parallel"] == 2 and tune["local"] is True
    assert tune["ranges"] == {"batch_size": "{32, 64, 128, 256, 512}", "seed": "{0, 1, 2}"}
    # 1,437 digits: ceil(1437 / 512) = 3 steps per epoch at the largest batch, 45 at the smallest.
    assert tune["steps_per_trial"]["least"] == 3 * 16 and tune["steps_per_trial"]["most"] == 45 * 16
    assert data["epochs"] == 16 and data["lr"] == 0.05 and data["lr_schedule"] == "cosine"


def test_only_the_lr_rule_differs_between_the_variants(cli_env: CapturedEnv) -> None:
    fixed = _plan(cli_env, "fixed_lr.toml")
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    scaled = _plan(cli_env, "scaled_lr.toml")
    assert fixed["scale_lr"] is False and fixed["effective_lr"] == 0.05
    # The plan's one trial is at each range's first value, batch 32: the rule leaves the LR there;
    # the tuning plan's step range covers the other batch sizes.
    assert scaled["scale_lr"] is True and scaled["base_batch_size"] == 32
    assert scaled["tune"]["trial_planned_at"] == {"batch_size": 32, "seed": 0}
    assert scaled["batch_size"] == 32 and scaled["effective_lr"] == pytest.approx(0.05)
    assert fixed["warmup_steps"] == scaled["warmup_steps"] == 2 * 45


def test_base_lr_grid_plans(cli_env: CapturedEnv) -> None:
    tune = _plan(cli_env, "lr_at_32.toml")["tune"]
    assert tune["trials"] == 15 and tune["ranges"]["lr"] == "{0.0125, 0.025, 0.05, 0.1, 0.2}"
    assert tune["steps_per_trial"]["least"] == tune["steps_per_trial"]["most"] == 45 * 16


def test_run_py_names_distinct_tuning_jobs() -> None:
    run = _run_py()
    names = [run.tuning_name(STUDY / file, None) for _, file in run.STUDIES]
    assert names == ["bs-study-fixed-lr", "bs-study-scaled-lr"]
    assert [run.tuning_name(STUDY / file, "again") for _, file in run.STUDIES] == [
        "again-fixed-lr", "again-scaled-lr"]
    assert all(len(n) <= 32 for n in names)


def test_summary_statistics_and_failed_trials() -> None:
    run = _run_py()

    def trial(seed: int, acc: float | None, *, batch: int = 64, status: str = "Completed") -> Any:
        return run.TrialResult(variant="scaled lr", name=f"t-{batch}-{seed}", batch_size=batch, seed=seed,
                               status=status, val_accuracy=acc, val_loss=None if acc is None else 1 - acc,
                               peak_lr=run.peak_lr({"lr": 0.05, "scale_lr": True, "base_batch_size": 32},
                                                   batch),
                               steps=368, train_seconds=float(seed + 1), loop_seconds=None)

    rows = run.summarize([trial(0, 0.90), trial(1, 0.96), trial(2, None, status="Failed"),
                          trial(0, 0.5, batch=32)])
    assert [(r.variant, r.batch_size) for r in rows] == [("scaled lr", 32), ("scaled lr", 64)]
    row = rows[1]
    assert (row.trials, row.completed) == (3, 2)
    assert row.acc_mean == pytest.approx(0.93) and row.acc_std == pytest.approx(math.sqrt(0.0018))
    assert (row.acc_min, row.acc_max) == (0.90, 0.96)
    assert row.peak_lr == pytest.approx(0.1) and row.train_seconds == pytest.approx(2.0)
    assert rows[0].acc_std is None  # one seed: no spread
    text = run.table(rows)
    assert "| scaled lr | 64 | 0.1 | 368 | 2/3 | 0.9300 ± 0.0424 | 0.9000 – 0.9600 |" in text


def test_training_phase_seconds_from_transitions() -> None:
    run = _run_py()
    transitions = [{"status": "Downloading", "start": "2026-01-01T00:00:00.000+00:00"},
                   {"status": "Training", "start": "2026-01-01T00:00:01.250+00:00"},
                   {"status": "Uploading", "start": "2026-01-01T00:00:09.000+00:00"}]
    assert run.phase_seconds(transitions, "Training") == pytest.approx(7.75)
    assert run.phase_seconds(transitions[:2], "Training") is None  # still training: no end yet
    assert run.peak_lr({"lr": 0.05}, 512) == 0.05
