"""Each schedule's LR per optimizer step equals torch's own schedulers (the reference semantics)."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from ep_harness import REPO
from torch.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    SequentialLR,
    StepLR,
)

from launcher.entrypoints import hyperparameters
from launcher.entrypoints.schedules import SCHEDULES, ScheduleSpec, effective_lr, lr_at, lr_per_step

TOL = 1e-12


def torch_lrs(spec: ScheduleSpec) -> list[float]:
    """Drive torch's schedulers once per optimizer step and record the LR each step used."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=spec.base_lr)
    main_steps = spec.total_steps - spec.warmup_steps
    main: LRScheduler
    if spec.schedule == "constant":
        main = LambdaLR(opt, lambda _: 1.0)
    elif spec.schedule == "step":
        main = StepLR(opt, step_size=spec.step_size * spec.steps_per_epoch, gamma=spec.gamma)
    elif spec.schedule == "cosine":
        main = CosineAnnealingLR(opt, T_max=main_steps, eta_min=spec.min_lr)
    else:
        main = LinearLR(opt, start_factor=1.0, end_factor=spec.min_lr / spec.base_lr, total_iters=main_steps)
    scheduler: LRScheduler = main
    if spec.warmup_steps:
        warmup = LinearLR(
            opt, start_factor=spec.warmup_start_factor, end_factor=1.0, total_iters=spec.warmup_steps
        )
        scheduler = SequentialLR(opt, [warmup, main], milestones=[spec.warmup_steps])
    lrs = []
    for _ in range(spec.total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return lrs


CASES = [
    {"schedule": "constant"},
    {"schedule": "step", "step_size": 2, "gamma": 0.5},
    {"schedule": "step", "step_size": 1, "gamma": 0.1},
    {"schedule": "cosine"},
    {"schedule": "cosine", "min_lr": 0.001},
    {"schedule": "linear"},
    {"schedule": "linear", "min_lr": 0.002},
]


@pytest.mark.parametrize("warmup_steps", [0, 1, 17])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_matches_torch(case: dict[str, object], warmup_steps: int) -> None:
    spec = ScheduleSpec(
        base_lr=0.1,
        total_steps=230,
        steps_per_epoch=23,
        warmup_steps=warmup_steps,
        warmup_start_factor=0.25,
        **case,  # type: ignore[arg-type]
    )
    ours, theirs = lr_per_step(spec), torch_lrs(spec)
    assert len(ours) == spec.total_steps
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    assert worst <= TOL, f"max |ours - torch| = {worst}"


def test_warmup_shape_and_handover() -> None:
    spec = ScheduleSpec(base_lr=1.0, schedule="cosine", total_steps=110, steps_per_epoch=10, warmup_steps=10)
    assert lr_at(spec, 0) == pytest.approx(0.1)
    assert lr_at(spec, 5) == pytest.approx(0.55)
    assert lr_at(spec, 10) == 1.0  # the main schedule's first value, exactly
    assert lr_at(spec, 109) == pytest.approx((1 + math.cos(math.pi * 99 / 100)) / 2)


def test_step_decays_every_step_size_epochs_after_warmup() -> None:
    spec = ScheduleSpec(
        base_lr=1.0, schedule="step", total_steps=100, steps_per_epoch=10, step_size=3, gamma=0.5
    )
    assert lr_at(spec, 29) == 1.0
    assert lr_at(spec, 30) == 0.5
    assert lr_at(spec, 60) == 0.25


def test_effective_lr_linear_scaling_rule() -> None:
    assert effective_lr(0.1, False, 256, 1024) == 0.1
    assert effective_lr(0.1, True, 256, 1024) == pytest.approx(0.4)
    assert effective_lr(0.1, True, 256, 32) == pytest.approx(0.0125)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": "exp"}, "lr_schedule must be one of"),
        ({"warmup_steps": 50}, "warmup .* must be shorter"),
        ({"min_lr": 0.5}, "min_lr"),
        ({"base_lr": 0.0}, "positive"),
        ({"warmup_start_factor": 0.0}, "warmup_start_factor"),
    ],
)
def test_spec_validation(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"base_lr": 0.1, "schedule": "cosine", "total_steps": 50, "steps_per_epoch": 5}
    base.update(kwargs)
    with pytest.raises(ValueError, match=message):
        ScheduleSpec(**base)  # type: ignore[arg-type]


def test_hyperparameters_knows_every_schedule() -> None:
    assert hyperparameters.LR_SCHEDULES == SCHEDULES


def test_pure_modules_import_without_torch() -> None:
    """The launcher imports these without torch or numpy (and without the flat sibling names)."""
    code = (
        "import sys\n"
        "import launcher.entrypoints.steps, launcher.entrypoints.schedules\n"
        "import launcher.entrypoints.hyperparameters, launcher.entrypoints.planning\n"
        "bad = {'torch', 'numpy', 'steps', 'schedules', 'hyperparameters'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)
