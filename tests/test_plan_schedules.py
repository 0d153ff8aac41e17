"""`launch plan`'s `lr_per_step` against torch's own schedulers, stepped once per optimizer step.

torch is a test-only dependency: the planner computes the schedule without it.
"""

from __future__ import annotations

from typing import Any

import pytest

from launcher.config.spec import build_spec
from launcher.planning.training_plan import make_plan

torch = pytest.importorskip("torch")

DATA = {"train": "/data/train", "validation": "/data/validation"}


def torch_lrs(kind: str, *, base_lr: float, total: int, steps_per_epoch: int, warmup: int,
              start_factor: float, step_size: int, gamma: float, min_lr: float) -> list[float]:
    """The LR each optimizer step uses: read before each `scheduler.step()`."""
    from torch.optim import SGD
    from torch.optim import lr_scheduler as sched

    opt = SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    remaining = total - warmup
    main: Any
    if kind == "constant":
        main = sched.LambdaLR(opt, lambda _: 1.0)
    elif kind == "step":
        main = sched.StepLR(opt, step_size=step_size * steps_per_epoch, gamma=gamma)
    elif kind == "cosine":
        main = sched.CosineAnnealingLR(opt, T_max=remaining, eta_min=min_lr)
    else:
        main = sched.LinearLR(opt, start_factor=1.0, end_factor=min_lr / base_lr, total_iters=remaining)
    scheduler = main
    if warmup:
        warm = sched.LinearLR(opt, start_factor=start_factor, end_factor=1.0, total_iters=warmup)
        scheduler = sched.SequentialLR(opt, [warm, main], milestones=[warmup])
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


CASES = [
    # (schedule, hyperparameters beyond the schedule)
    ("constant", {}),
    ("constant", {"warmup_steps": 7, "warmup_start_factor": 0.25}),
    ("step", {"step_size": 2, "gamma": 0.5}),
    ("step", {"step_size": 1, "gamma": 0.1, "warmup_epochs": 0.5}),
    ("cosine", {}),
    ("cosine", {"min_lr": 0.001, "warmup_epochs": 1}),
    ("linear", {"min_lr": 0.002}),
    ("linear", {"warmup_steps": 11}),
]


@pytest.mark.parametrize(("schedule", "extra"), CASES)
def test_lr_per_step_matches_torch(schedule: str, extra: dict[str, Any]) -> None:
    # 1000 / 64 → 16 iterations, accumulation 3 → 6 optimizer steps per epoch, 7 epochs → 42 steps.
    hps = {"batch_size": 64, "epochs": 7, "grad_accum_steps": 3, "lr": 0.05,
           "lr_schedule": schedule, **extra}
    plan = make_plan(build_spec({"hyperparameters": hps, "data": DATA}), samples=1000, local=True)
    assert plan.steps.optimizer_steps_per_epoch == 6
    expected = torch_lrs(
        schedule, base_lr=0.05, total=plan.steps.total_optimizer_steps, steps_per_epoch=6,
        warmup=plan.warmup_steps, start_factor=plan.config.warmup_start_factor,
        step_size=plan.config.step_size, gamma=plan.config.gamma, min_lr=plan.config.min_lr,
    )
    assert len(plan.lr_per_step) == len(expected) == 42
    assert plan.lr_per_step == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_scaled_lr_schedule_matches_torch_with_the_scaled_base() -> None:
    hps = {"batch_size": 32, "lr": 0.1, "scale_lr": True, "base_batch_size": 64,
           "lr_schedule": "cosine", "warmup_steps": 3, "epochs": 3}
    plan = make_plan(build_spec({"hyperparameters": hps, "data": DATA}), samples=640, world_size=4,
                     local=True)
    assert plan.effective_lr == pytest.approx(0.2)  # 0.1 × 128 / 64
    expected = torch_lrs("cosine", base_lr=0.2, total=plan.steps.total_optimizer_steps,
                         steps_per_epoch=plan.steps.optimizer_steps_per_epoch, warmup=3,
                         start_factor=0.1, step_size=30, gamma=0.1, min_lr=0.0)
    assert plan.lr_per_step == pytest.approx(expected, rel=1e-12, abs=1e-15)
