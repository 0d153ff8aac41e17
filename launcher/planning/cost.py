"""What a job costs at most, and what it is expected to cost: pure arithmetic, stated assumptions.

The model (docs/plan.md, "Cost"):

* **Rate.** On-demand USD per instance-hour (the bundled catalogue, which states its source and
  date, or ``--price-per-hour``) × instance count.
* **Upper bound.** SageMaker bills at most ``MaxRuntimeInSeconds`` of training time per instance, so
  the job cannot cost more than ``rate × max_run / 3600``. With managed spot the bound is the same:
  spot never bills more time, nor at a higher rate, than on-demand. (Time spent uploading the model
  after a stop is billed on top; it is small and not included.)
* **Spot expectation.** Spot savings vary by type, region and hour; the expected spot figure applies
  a stated savings assumption (``DEFAULT_SPOT_SAVINGS``, override per call) to the on-demand figure.
* **Expected duration.** With a throughput (samples per second per instance), the expected training
  time is ``samples to process / (throughput × instance count)``: linear scaling across instances,
  no allowance for start-up, data download, validation or checkpointing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Assumed share of the on-demand price that managed spot saves. AWS quotes "up to 90 %"; typical GPU
# savings observed are 60-80 %. A planning figure, not a promise: BillableTimeInSeconds decides.
DEFAULT_SPOT_SAVINGS = 0.70


@dataclass(frozen=True)
class CostEstimate:
    """Cost of one job. ``price_per_hour`` is per instance; None when no price is known."""

    instance_type: str | None
    instance_count: int
    price_per_hour: float | None
    price_source: str
    max_run_seconds: int
    spot: bool
    spot_savings: float = DEFAULT_SPOT_SAVINGS
    expected_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.instance_count < 1:
            raise ValueError(f"instance_count must be >= 1, got {self.instance_count}")
        if self.price_per_hour is not None and not (
            math.isfinite(self.price_per_hour) and self.price_per_hour >= 0
        ):
            raise ValueError(f"price per hour must be a number >= 0, got {self.price_per_hour}")
        if not 0.0 <= self.spot_savings < 1.0:
            raise ValueError(f"spot savings must be in [0, 1), got {self.spot_savings}")
        if self.max_run_seconds < 1:
            raise ValueError(f"max_run must be >= 1 second, got {self.max_run_seconds}")

    @property
    def hourly(self) -> float | None:
        """On-demand USD per hour for all instances together."""
        return None if self.price_per_hour is None else self.price_per_hour * self.instance_count

    @property
    def upper_bound(self) -> float | None:
        """The most the job can cost: every instance billed for max_run at the on-demand rate."""
        return _dollars(self.hourly, self.max_run_seconds)

    @property
    def spot_expected_at_max_run(self) -> float | None:
        """Spot, if the job ran for all of max_run, under the savings assumption."""
        if not self.spot or self.upper_bound is None:
            return None
        return self.upper_bound * (1.0 - self.spot_savings)

    @property
    def expected_on_demand(self) -> float | None:
        """On-demand cost of the expected duration (capped at max_run), when a throughput is known."""
        if self.expected_seconds is None:
            return None
        return _dollars(self.hourly, min(self.expected_seconds, self.max_run_seconds))

    @property
    def expected(self) -> float | None:
        """The expected cost: on-demand, or spot under the savings assumption."""
        on_demand = self.expected_on_demand
        if on_demand is None:
            return None
        return on_demand * (1.0 - self.spot_savings) if self.spot else on_demand

    @property
    def exceeds_max_run(self) -> bool:
        """The expected duration is longer than max_run: SageMaker would stop the job."""
        return self.expected_seconds is not None and self.expected_seconds > self.max_run_seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "price_per_hour": self.price_per_hour,
            "price_source": self.price_source,
            "hourly": _round(self.hourly),
            "max_run_seconds": self.max_run_seconds,
            "upper_bound": _round(self.upper_bound),
            "spot": self.spot,
            "spot_savings_assumption": self.spot_savings if self.spot else None,
            "spot_expected_at_max_run": _round(self.spot_expected_at_max_run),
            "expected_seconds": None if self.expected_seconds is None else round(self.expected_seconds, 1),
            "expected_on_demand": _round(self.expected_on_demand),
            "expected": _round(self.expected),
            "currency": "USD",
        }


def expected_seconds(samples_to_process: float, throughput: float, instance_count: int = 1) -> float:
    """Training seconds for ``samples_to_process`` at ``throughput`` samples/s per instance."""
    if not (math.isfinite(throughput) and throughput > 0):
        raise ValueError(f"throughput must be a positive number of samples per second, got {throughput}")
    return samples_to_process / (throughput * instance_count)


def format_bytes(n: float) -> str:
    """1,234,567 → '1.2 MB' (decimal units, as S3 and transfer tools report sizes)."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def format_duration(seconds: float) -> str:
    """``5400`` → ``1 h 30 min``; ``95`` → ``1 min 35 s``; ``7.2`` → ``7.2 s``."""
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"


def format_usd(amount: float | None) -> str:
    if amount is None:
        return "unknown"
    return f"${amount:,.2f}" if amount >= 0.995 or amount == 0 else f"${amount:.3f}"


def _dollars(hourly: float | None, seconds: float) -> float | None:
    return None if hourly is None else hourly * seconds / 3600.0


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
