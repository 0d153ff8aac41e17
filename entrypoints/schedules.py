"""Learning-rate schedules as pure closed-form functions of the optimizer step.

Pure and ``math``-only, importing no sibling module: the launcher plots and prints the schedule
without torch (``lr_points``: a bounded sample; ``lr_at``: any one step, on demand), and the training
script sets each optimizer step's LR from ``lr_at``, so the plan and the run cannot disagree.
``lr_per_step`` materialises every step: for short runs and tests only (its memory grows with the
run; the launcher never calls it).

Semantics are torch's own schedulers stepped once per optimizer step (tested to 1e-12):

* warmup: ``LinearLR(start_factor=warmup_start_factor, end_factor=1, total_iters=warmup_steps)``
  followed, ``SequentialLR``-style with milestone ``warmup_steps``, by the main schedule running
  over the remaining ``total_steps - warmup_steps`` steps;
* ``constant``: the base LR;
* ``step``: ``StepLR(step_size=step_size * steps_per_epoch, gamma)`` (counted from the end of warmup);
* ``cosine``: ``CosineAnnealingLR(T_max=remaining, eta_min=min_lr)``;
* ``linear``: ``LinearLR(start_factor=1, end_factor=min_lr / base_lr, total_iters=remaining)``.

Older torch releases had a ``SequentialLR`` milestone quirk (the step at the milestone re-ran the
next scheduler's epoch-0 path through the deprecated ``step(0)``, which is wrong for schedulers
without a closed form). We match the composed behaviour stated above, which torch 2.13's
``SequentialLR`` (``_update_lr(0)`` at the milestone) also produces: the LR of step
``warmup_steps`` is exactly the main schedule's first value.

``lr_at(spec, step)`` is the LR used by optimizer step ``step`` (0-based), i.e. the optimizer's LR
after ``step`` calls of ``scheduler.step()``. Like torch, the final value of cosine/linear is one
step short of ``min_lr`` (``min_lr`` would be the LR of step ``total_steps``, which never runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SCHEDULES", "ScheduleSpec", "effective_lr", "lr_at", "lr_per_step", "lr_points",
           "sample_steps"]

SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine", "linear")


@dataclass(frozen=True)
class ScheduleSpec:
    """Everything that determines the LR of every optimizer step.

    ``base_lr`` is the peak LR after any linear scaling rule; ``min_lr`` is absolute (not scaled).
    """

    base_lr: float
    schedule: str
    total_steps: int
    steps_per_epoch: int
    step_size: int = 30
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup_steps: int = 0
    warmup_start_factor: float = 0.1

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {self.schedule!r}")
        if not (math.isfinite(self.base_lr) and self.base_lr > 0):
            raise ValueError(f"the learning rate must be a positive number, got {self.base_lr}")
        if self.total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {self.total_steps}")
        if self.steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}")
        if self.step_size < 1:
            raise ValueError(f"step_size must be >= 1 epoch, got {self.step_size}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValueError(f"gamma must be > 0, got {self.gamma}")
        if not (math.isfinite(self.min_lr) and 0 <= self.min_lr <= self.base_lr):
            raise ValueError(f"min_lr must be in [0, lr] = [0, {self.base_lr}], got {self.min_lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.warmup_steps >= self.total_steps:
            raise ValueError(
                f"warmup ({self.warmup_steps} optimizer steps) must be shorter than the run "
                f"({self.total_steps} optimizer steps)"
            )
        if not 0 < self.warmup_start_factor <= 1:
            raise ValueError(f"warmup_start_factor must be in (0, 1], got {self.warmup_start_factor}")

    @property
    def main_steps(self) -> int:
        """Steps of the main schedule after warmup: its horizon (T_max for cosine)."""
        return self.total_steps - self.warmup_steps


def lr_at(spec: ScheduleSpec, step: int) -> float:
    """LR used by optimizer step ``step`` (0-based).

    Past ``total_steps`` (never reached by a run) ``step`` keeps decaying on its staircase while
    ``cosine`` and ``linear`` hold ``min_lr``; torch's cosine would climb back up instead.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step < spec.warmup_steps:
        factor = spec.warmup_start_factor + (1.0 - spec.warmup_start_factor) * (step / spec.warmup_steps)
        return spec.base_lr * factor
    return _main_lr(spec, step - spec.warmup_steps)


def lr_per_step(spec: ScheduleSpec) -> list[float]:
    """The LR of every optimizer step of the run; ``len == spec.total_steps``."""
    return [lr_at(spec, step) for step in range(spec.total_steps)]


def sample_steps(spec: ScheduleSpec, max_points: int = 1024) -> list[int]:
    """At most ``max_points`` optimizer steps (sorted, distinct) that draw the schedule faithfully:
    every step of a run that short; otherwise evenly spaced steps plus the first and last step, the
    last warmup step and the first step after it, and (while they fit) the first step of each ``step``
    decay. Its cost depends on ``max_points`` only, never on the length of the run."""
    if max_points < 4:
        raise ValueError(f"max_points must be >= 4, got {max_points}")
    total = spec.total_steps
    if total <= max_points:
        return list(range(total))
    marks = {0, total - 1}
    if spec.warmup_steps:
        marks.update({spec.warmup_steps - 1, spec.warmup_steps})
    if spec.schedule == "step":
        period = spec.step_size * spec.steps_per_epoch
        decays = (total - 1 - spec.warmup_steps) // period
        if decays <= max_points // 4:
            for k in range(1, decays + 1):
                first = spec.warmup_steps + k * period
                marks.update({first - 1, first})
    even = max(2, max_points - len(marks))
    marks.update((total - 1) * i // (even - 1) for i in range(even))
    return sorted(m for m in marks if 0 <= m < total)[:max_points]


def lr_points(spec: ScheduleSpec, max_points: int = 1024) -> list[tuple[int, float]]:
    """``(step, lr_at(spec, step))`` at :func:`sample_steps`: a chart of any run in bounded memory."""
    return [(step, lr_at(spec, step)) for step in sample_steps(spec, max_points)]


def effective_lr(lr: float, scale_lr: bool, base_batch_size: int, global_batch_size: int) -> float:
    """Linear scaling rule: ``lr * global_batch_size / base_batch_size`` when ``scale_lr``."""
    if not scale_lr:
        return lr
    if base_batch_size < 1 or global_batch_size < 1:
        raise ValueError("base_batch_size and global_batch_size must be >= 1")
    return lr * global_batch_size / base_batch_size


def _main_lr(spec: ScheduleSpec, j: int) -> float:
    # j counts steps since the end of warmup; the main schedule starts from base_lr at j == 0.
    if spec.schedule == "constant":
        return spec.base_lr
    if spec.schedule == "step":
        return spec.base_lr * spec.gamma ** (j // (spec.step_size * spec.steps_per_epoch))
    horizon = spec.main_steps
    if spec.schedule == "cosine":
        if j >= horizon:
            # Past T_max torch's cosine climbs back; plans never go there, so hold at the floor.
            return spec.min_lr
        return spec.min_lr + (spec.base_lr - spec.min_lr) * (1 + math.cos(math.pi * j / horizon)) / 2
    # linear: LinearLR stays at end_factor once total_iters is reached.
    frac = min(j, horizon) / horizon
    return spec.base_lr + (spec.min_lr - spec.base_lr) * frac
