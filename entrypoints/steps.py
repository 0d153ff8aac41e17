"""Step arithmetic shared by the training script and the launcher's planner.

Pure and standard-library only, importing no sibling module: the launcher imports this file as
``entrypoints.steps`` (without torch) and the training script as ``steps``. Both therefore print the
same header and plan the same number of optimizer steps.

Conventions (with worked examples):

* iterations per epoch = ceil(samples / batch) or floor(samples / batch) with ``drop_last``;
  1,000 samples at batch 50 for 10 epochs is 20 per epoch and 200 in total; 60,000 at 128 is 469;
  1,000 at 64 with ``drop_last`` is 15.
* With several processes a ``DistributedSampler(drop_last=False)`` pads the dataset by repeating
  samples, so every process sees ceil(samples / world_size) samples.
* With gradient accumulation a partial final accumulation group still takes an optimizer step,
  so optimizer steps per epoch = ceil(iterations per epoch / grad_accum_steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["StepPlan", "resolve_warmup_steps", "split_sizes"]


@dataclass(frozen=True)
class StepPlan:
    """How many iterations and optimizer steps a run takes.

    ``batch_size`` is per process; ``samples`` counts training examples over all processes.
    ``max_steps`` caps the total number of optimizer steps (``None``: no cap).
    """

    samples: int
    batch_size: int
    epochs: int
    drop_last: bool = False
    grad_accum_steps: int = 1
    world_size: int = 1
    max_steps: int | None = None

    def __post_init__(self) -> None:
        _require_int("samples", self.samples, 1, "the training set is empty")
        _require_int("batch_size", self.batch_size, 1)
        _require_int("epochs", self.epochs, 1)
        _require_int("grad_accum_steps", self.grad_accum_steps, 1)
        _require_int("world_size", self.world_size, 1)
        if self.max_steps is not None:
            _require_int("max_steps", self.max_steps, 1, "omit it (None) for no cap")
        if self.drop_last and self.per_process_samples < self.batch_size:
            where = "per process " if self.world_size > 1 else ""
            raise ValueError(
                f"drop_last with batch_size {self.batch_size} and {self.per_process_samples} "
                f"training examples {where}gives 0 iterations per epoch: lower batch_size or "
                "set drop_last to false"
            )

    @property
    def per_process_samples(self) -> int:
        """Samples each process sees per epoch (DistributedSampler pads to a multiple)."""
        return math.ceil(self.samples / self.world_size)

    @property
    def iterations_per_epoch(self) -> int:
        """Forward/backward passes (micro-batches) per process per epoch."""
        if self.drop_last:
            return self.per_process_samples // self.batch_size
        return math.ceil(self.per_process_samples / self.batch_size)

    @property
    def total_iterations(self) -> int:
        """Iterations over all epochs, before any ``max_steps`` cap."""
        return self.iterations_per_epoch * self.epochs

    @property
    def optimizer_steps_per_epoch(self) -> int:
        """Optimizer steps per epoch; a partial final accumulation group still steps."""
        return math.ceil(self.iterations_per_epoch / self.grad_accum_steps)

    @property
    def uncapped_optimizer_steps(self) -> int:
        """Optimizer steps over all epochs, ignoring ``max_steps``."""
        return self.optimizer_steps_per_epoch * self.epochs

    @property
    def total_optimizer_steps(self) -> int:
        """Optimizer steps the run takes: the LR schedule's horizon."""
        if self.max_steps is None:
            return self.uncapped_optimizer_steps
        return min(self.uncapped_optimizer_steps, self.max_steps)

    @property
    def global_batch_size(self) -> int:
        """Samples that contribute to one optimizer step over all processes."""
        return self.batch_size * self.grad_accum_steps * self.world_size

    @property
    def epochs_to_run(self) -> int:
        """Epochs actually entered (fewer than ``epochs`` when ``max_steps`` stops early)."""
        return math.ceil(self.total_optimizer_steps / self.optimizer_steps_per_epoch)

    def header_lines(self) -> list[str]:
        """The lines the training script logs once at start (and ``launch plan`` prints)."""
        lines = [
            f"Training examples: {self.samples} | Batch size: {self.batch_size} | "
            f"Iterations per epoch: {self.iterations_per_epoch} | "
            f"Total iterations: {self.total_iterations}"
        ]
        if self.grad_accum_steps > 1:
            lines.append(
                f"Gradient accumulation steps: {self.grad_accum_steps} | "
                f"Optimizer steps per epoch: {self.optimizer_steps_per_epoch} | "
                f"Total optimizer steps: {self.uncapped_optimizer_steps}"
            )
        if self.world_size > 1:
            lines.append(f"World size: {self.world_size} | Samples per process: {self.per_process_samples}")
        if self.grad_accum_steps > 1 or self.world_size > 1:
            lines.append(
                f"Global batch size: {self.global_batch_size} ({self.batch_size} per process x "
                f"{self.grad_accum_steps} accumulation x {self.world_size} processes)"
            )
        if self.max_steps is not None and self.max_steps < self.uncapped_optimizer_steps:
            lines.append(
                f"Max steps: {self.max_steps} | Total optimizer steps: {self.total_optimizer_steps} "
                f"(of {self.uncapped_optimizer_steps}; training stops in epoch {self.epochs_to_run})"
            )
        return lines


def resolve_warmup_steps(warmup_steps: int, warmup_epochs: float, optimizer_steps_per_epoch: int) -> int:
    """Warmup length in optimizer steps from either ``warmup_steps`` or ``warmup_epochs``.

    ``warmup_epochs`` is converted with round-half-up on its decimal value (0.25 epochs of 10 steps
    is 3 steps, not the banker's 2), and a positive value is at least one step so that asking for
    warmup never silently yields none. Giving both is an error.
    """
    if warmup_steps < 0 or warmup_epochs < 0:
        raise ValueError("warmup_steps and warmup_epochs must be >= 0")
    if warmup_steps > 0 and warmup_epochs > 0:
        raise ValueError(f"give warmup_steps ({warmup_steps}) or warmup_epochs ({warmup_epochs}), not both")
    if warmup_epochs > 0:
        # Decimal(str(x)) avoids binary noise: 0.15 * 10 must round as 1.5, not 1.4999...
        exact = Decimal(str(warmup_epochs)) * optimizer_steps_per_epoch
        return max(1, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    return warmup_steps


def split_sizes(samples: int, val_fraction: float) -> tuple[int, int]:
    """(train, validation) sizes of the seeded hold-out split used without a validation channel.

    The validation share is round-half-up of ``samples * val_fraction``, kept within
    [1, samples - 1] when ``val_fraction`` > 0 so neither side is ever empty.
    """
    _require_int("samples", samples, 1, "the training set is empty")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if val_fraction == 0.0:
        return samples, 0
    if samples < 2:
        raise ValueError(f"cannot hold out a validation split from {samples} sample(s)")
    exact = Decimal(str(val_fraction)) * samples
    n_val = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    n_val = min(max(n_val, 1), samples - 1)
    return samples - n_val, n_val


def _require_int(name: str, value: int, minimum: int, hint: str = "") -> None:
    # bool is an int subclass; True as a batch size is always a caller bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        suffix = f" ({hint})" if hint else ""
        raise ValueError(f"{name} must be >= {minimum}, got {value}{suffix}")
