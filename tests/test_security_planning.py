"""Planning does bounded work for any input (issue #14, item 5).

Nothing per optimizer step is stored: the LR of a step is computed on demand, charts get a bounded
sample (`Plan.lr_points`), `--json` lists every step only up to LR_LIST_MAX_STEPS, and a run above
MAX_OPTIMIZER_STEPS is refused in constant time. Memory is measured with tracemalloc's peak (never
wall time): `--epochs 10**20` used to grow past 3 GB, `--epochs 1000000 --dry-run` took 948 MB.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from launcher.cli.main import main
from launcher.config.spec import build_spec
from launcher.errors import SpecError
from launcher.planning.training_plan import (
    LR_LIST_MAX_STEPS,
    LR_POINTS,
    MAX_OPTIMIZER_STEPS,
    make_plan,
    plan_training,
)
from launcher.reference import schedules

DATA = {"train": "/data/train", "validation": "/data/validation"}
KB = 1024


def peak_bytes(fn: Callable[[], Any]) -> tuple[int, Any]:
    """(peak traced bytes, result or the raised SpecError) of one call."""
    tracemalloc.start()
    try:
        result = fn()
    except SpecError as e:
        result = e
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak, result


def spec(**hp: Any) -> Any:
    return build_spec({"data": DATA, "hyperparameters": {"lr_schedule": "cosine", "warmup_steps": 5, **hp}})


def test_ten_epochs_and_a_billion_steps_cost_the_same():
    short, long = spec(epochs=10, batch_size=64), spec(epochs=1000, batch_size=1)
    make_plan(short, samples=1437)  # imports and caches out of the measurement
    peak_short, small = peak_bytes(lambda: make_plan(short, samples=1437))
    peak_long, plan = peak_bytes(lambda: make_plan(long, samples=1_000_000))
    assert small.steps.total_optimizer_steps == 230
    assert plan.steps.total_optimizer_steps == 10**9
    assert peak_short < 256 * KB and peak_long < 256 * KB  # was: 8 GB of floats for 10^9 steps
    assert len(plan.lr_points) <= LR_POINTS
    last = 10**9 - 1
    assert plan.lr_at(last) == schedules.lr_at(plan.schedule, last) == plan.lr_per_step[-1]
    assert len(plan.lr_per_step) == 10**9
    assert [s for s, _ in plan.lr_points][:3] == [0, 4, 5]  # first step, warmup end, peak
    assert plan.peak_lr == plan.lr_at(5)
    assert all(lr == plan.lr_at(step) for step, lr in plan.lr_points)
    with pytest.raises(IndexError):
        plan.lr_at(10**9)


def test_json_lists_every_step_only_under_the_listing_cap():
    small = make_plan(spec(epochs=10, batch_size=64), samples=1437).to_dict()
    assert len(small["lr_per_step"]) == 230 and len(small["lr_points"]) == 230
    big_plan = make_plan(spec(epochs=100, batch_size=1), samples=LR_LIST_MAX_STEPS)
    peak, big = peak_bytes(big_plan.to_dict)
    assert big["total_optimizer_steps"] > LR_LIST_MAX_STEPS
    assert big["lr_per_step"] is None and len(big["lr_points"]) <= LR_POINTS
    assert big["lr_per_step_limit"] == LR_LIST_MAX_STEPS
    assert peak < 512 * KB


def test_lazy_steps_equal_the_materialised_schedule():
    plan = make_plan(spec(epochs=3, batch_size=64, lr_schedule="step", step_size=1), samples=1437)
    full = schedules.lr_per_step(plan.schedule)
    assert plan.lr_per_step == full and full == plan.lr_per_step
    assert list(plan.lr_per_step[10:20]) == full[10:20] and plan.lr_per_step[-1] == full[-1]


@pytest.mark.parametrize("epochs", [10**20, MAX_OPTIMIZER_STEPS + 1, 10**400])
def test_epochs_far_above_the_cap_are_refused_in_constant_memory(epochs):
    huge = spec(epochs=epochs, batch_size=64)
    peak, error = peak_bytes(lambda: make_plan(huge, samples=60_000))
    assert isinstance(error, SpecError), error
    assert "exceed the planner's cap of 10,000,000,000" in str(error) and "--max-steps" in str(error)
    assert peak < 64 * KB
    # Without a sample count the epochs alone bound the steps from below.
    peak, error = peak_bytes(lambda: plan_training(huge, samples=None, processes_per_host=1,
                                                   gpus_per_host=0, local=True))
    assert isinstance(error, SpecError) and peak < 64 * KB
    capped = spec(epochs=epochs, batch_size=64, max_steps=1000)
    assert make_plan(capped, samples=60_000).steps.total_optimizer_steps == 1000


def _cli_peak(cli_env: Any, argv: list[str]) -> tuple[int, int]:
    main(["plan", "--local", "--epochs", "1", "--json"], cli_env)  # warm: imports out of the measurement
    for stream in (cli_env.stdout, cli_env.stderr):
        stream.seek(0)
        stream.truncate()
    tracemalloc.start()
    try:
        rc = main(argv, cli_env)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return rc, peak


def test_cli_train_with_epochs_1e20_is_refused_in_bounded_memory(cli_env):
    rc, peak = _cli_peak(cli_env, ["train", "--local", "--epochs", str(10**20)])
    assert rc == 2
    assert "error: 2.30e21 optimizer steps (23 per epoch × 1.00e20 epochs)" in cli_env.err
    assert "Traceback" not in cli_env.err
    assert peak < 4 * 1024 * KB  # was: more than 3 GB
    assert not (cli_env.home / "jobs").exists() or not any((cli_env.home / "jobs").iterdir())


def test_cli_dry_run_of_a_million_epochs_is_bounded(cli_env):
    rc, peak = _cli_peak(cli_env, ["train", "--local", "--dry-run", "--epochs", "1000000"])
    assert rc == 0, cli_env.err
    assert "train 23000000 optimizer steps" in cli_env.err
    assert peak < 4 * 1024 * KB  # was: 948 MB


def test_cli_plan_json_of_a_million_epochs_is_bounded(cli_env):
    import json

    rc, peak = _cli_peak(cli_env, ["plan", "--local", "--epochs", "1000000", "--json"])
    assert rc == 0, cli_env.err
    data = json.loads(cli_env.out)
    assert data["total_optimizer_steps"] == 23_000_000 and data["lr_per_step"] is None
    assert 0 < len(data["lr_points"]) <= LR_POINTS
    assert peak < 4 * 1024 * KB
