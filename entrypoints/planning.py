"""From hyperparameters and a sample count to the run's step plan and LR schedule.

The one recipe both sides use: the training script calls :func:`plan_run`, and the launcher can
call it as ``entrypoints.planning.plan_run`` (no torch). It imports the three pure modules, flat
inside the container (where this directory is ``sys.path[0]``) and relatively when imported as
part of the ``entrypoints`` package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # mypy checks this directory flat (mypy_path = entrypoints), as the container runs it
    from hyperparameters import TrainConfig
    from schedules import ScheduleSpec, effective_lr
    from steps import StepPlan, resolve_warmup_steps, split_sizes
else:
    try:  # imported as launcher.entrypoints.planning (the launcher)
        from .hyperparameters import TrainConfig
        from .schedules import ScheduleSpec, effective_lr
        from .steps import StepPlan, resolve_warmup_steps, split_sizes
    except ImportError:  # run flat inside the container: no parent package
        from hyperparameters import TrainConfig
        from schedules import ScheduleSpec, effective_lr
        from steps import StepPlan, resolve_warmup_steps, split_sizes


@dataclass(frozen=True)
class RunPlan:
    """The step arithmetic and the LR schedule of one run."""

    steps: StepPlan
    schedule: ScheduleSpec
    effective_lr: float

    @property
    def warmup_steps(self) -> int:
        return self.schedule.warmup_steps


def training_samples(channel_samples: int, has_validation_channel: bool, val_fraction: float) -> int:
    """Training examples after the seeded hold-out split (none when a validation channel exists)."""
    if has_validation_channel:
        return channel_samples
    return split_sizes(channel_samples, val_fraction)[0]


def plan_run(config: TrainConfig, samples: int, world_size: int = 1) -> RunPlan:
    """Plan a run over ``samples`` training examples (after any validation split).

    Raises ``ValueError`` with a readable message when the combination is impossible (e.g.
    warmup as long as the run, or drop_last leaving no batch).
    """
    steps = StepPlan(
        samples=samples,
        batch_size=config.batch_size,
        epochs=config.epochs,
        drop_last=config.drop_last,
        grad_accum_steps=config.grad_accum_steps,
        world_size=world_size,
        max_steps=config.max_steps,
    )
    warmup = resolve_warmup_steps(config.warmup_steps, config.warmup_epochs, steps.optimizer_steps_per_epoch)
    lr = effective_lr(config.lr, config.scale_lr, config.base_batch_size, steps.global_batch_size)
    schedule = ScheduleSpec(
        base_lr=lr,
        schedule=config.lr_schedule,
        total_steps=steps.total_optimizer_steps,
        steps_per_epoch=steps.optimizer_steps_per_epoch,
        step_size=config.step_size,
        gamma=config.gamma,
        min_lr=config.min_lr,
        warmup_steps=warmup,
        warmup_start_factor=config.warmup_start_factor,
    )
    return RunPlan(steps=steps, schedule=schedule, effective_lr=lr)


def schedule_lines(config: TrainConfig, run: RunPlan) -> list[str]:
    """Human-readable LR lines logged after the step header (no ``lr=`` so no metric matches)."""
    line = f"Learning rate: {config.lr:g} | Schedule: {config.lr_schedule}"
    if run.warmup_steps:
        line += f" | Warmup steps: {run.warmup_steps} (from {config.warmup_start_factor:g} x)"
    if config.scale_lr:
        rule = (
            f"linear scaling rule: {config.lr:g} x global batch {run.steps.global_batch_size} "
            f"/ base batch {config.base_batch_size}"
        )
    else:
        rule = "scale_lr off"
    return [line, f"Effective learning rate: {run.effective_lr:g} ({rule})"]
