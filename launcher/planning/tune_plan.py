"""The plan of a tuning job before anything is created: how many trials, how many optimizer steps a
trial takes over the tuned ranges, the cost bound and the wall-time bound.

Pure like the rest of `launcher.planning` (no AWS, no disk, no clock):

* trials: the grid's size (grid search) or `max_trials` (10 when not given);
* steps per trial: the step plan of every corner of the space (each numeric range's bounds, each
  categorical value), so a tuned `batch_size` or `epochs` gives the least and the most steps; a corner
  the reference entrypoint would refuse (warmup as long as the run) is a SpecError here;
* cost bound: trials × max_run × on-demand price × instance count (managed spot never bills more);
* wall-time bound: ceil(trials / max_parallel) rounds of max_run each.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from launcher.config.spec import JobSpec, build_spec
from launcher.config.tune_spec import TUNING_JOB_ENV, ParameterRange, TuneSpec
from launcher.errors import SpecError
from launcher.planning.training_plan import hourly_price, make_plan

MAX_CORNERS = 256  # corners of the space planned; beyond, only the step-shaping ranges vary
# Hyperparameters of the reference entrypoint that change the number of optimizer steps.
STEP_KEYS = frozenset({"epochs", "batch_size", "max_steps", "grad_accum_steps", "drop_last",
                       "val_fraction"})


def trial_spec(spec: JobSpec, tuned: dict[str, Any], *, name: str | None = None,
               tuning: str | None = None) -> JobSpec:
    """The spec one trial runs: the base spec with the tuned values among its hyperparameters, no
    [tune] table, the classic contract (a tuning job's trials run under it in the cloud, so locally
    too), and its own name. Validated again, so the reference entrypoint canonicalises the values.
    `tuning`: the tuning job's name, in TUNING_JOB_ENV as a cloud trial has it."""
    data = spec.model_dump()
    data["hyperparameters"] = {**data["hyperparameters"], **tuned}
    data["tune"] = None
    data["job_name"] = name
    data["contract"] = "classic"
    if tuning is not None:
        data["environment"] = {**data["environment"], TUNING_JOB_ENV: tuning}
    return build_spec(data)


def corner_values(r: ParameterRange) -> list[Any]:
    """The values that bound a range: its bounds (whole numbers for an integer range), or its values."""
    if r.type == "categorical":
        return list(r.values or [])
    assert r.min is not None and r.max is not None
    if r.type == "integer":
        return [int(r.min), int(r.max)]
    return [float(r.min), float(r.max)]


def corners(tune: TuneSpec) -> list[dict[str, Any]]:
    """Every combination of the ranges' bounding values (at most MAX_CORNERS; past that, ranges that
    do not shape the steps keep their first bounding value)."""
    names = list(tune.ranges)
    choices = [corner_values(tune.ranges[n]) for n in names]
    if math.prod(len(c) for c in choices) > MAX_CORNERS:
        choices = [c if n in STEP_KEYS else c[:1] for n, c in zip(names, choices, strict=True)]
    combos = itertools.islice(itertools.product(*choices), MAX_CORNERS)
    return [dict(zip(names, combo, strict=True)) for combo in combos]


@dataclass(frozen=True)
class TrialSteps:
    """Optimizer steps of one trial over the corners of the space."""

    least: int
    most: int
    least_at: dict[str, Any]
    most_at: dict[str, Any]


@dataclass(frozen=True)
class TunePlan:
    trials: int
    trials_source: str
    max_parallel: int
    max_run_seconds: int
    instance_type: str | None
    instance_count: int
    local: bool
    price_per_hour: float | None
    price_source: str
    spot: bool
    steps: TrialSteps | None
    steps_note: str | None
    ranges: dict[str, str] = field(default_factory=dict)

    @property
    def rounds(self) -> int:
        return math.ceil(self.trials / self.max_parallel)

    @property
    def wall_bound_seconds(self) -> int:
        """No trial runs longer than max_run, and at most max_parallel run at once."""
        return self.rounds * self.max_run_seconds

    @property
    def instance_seconds_bound(self) -> int:
        return self.trials * self.max_run_seconds * self.instance_count

    @property
    def cost_bound(self) -> float | None:
        """USD: trials × max_run × price × instances; None locally or without a price."""
        if self.local or self.price_per_hour is None:
            return None
        return self.price_per_hour * self.instance_seconds_bound / 3600

    def to_dict(self) -> dict[str, Any]:
        return {
            "trials": self.trials, "trials_source": self.trials_source,
            "max_parallel": self.max_parallel, "rounds": self.rounds,
            "max_run_seconds": self.max_run_seconds, "wall_bound_seconds": self.wall_bound_seconds,
            "instance_type": self.instance_type, "instance_count": self.instance_count,
            "local": self.local, "price_per_hour": self.price_per_hour,
            "price_source": self.price_source, "spot": self.spot,
            "cost_bound": None if self.cost_bound is None else round(self.cost_bound, 2),
            "currency": "USD",
            "steps_per_trial": None if self.steps is None else {
                "least": self.steps.least, "most": self.steps.most,
                "least_at": self.steps.least_at, "most_at": self.steps.most_at},
            "steps_note": self.steps_note,
            "ranges": dict(self.ranges),
        }


def trials_source(tune: TuneSpec) -> str:
    if tune.strategy == "grid":
        sizes = " × ".join(str(len(r.values or [])) for r in tune.ranges.values())
        return f"every point of the grid ({sizes})"
    return "max_trials" if tune.max_trials else "max_trials not given: 10"


def trial_steps(spec: JobSpec, *, samples: int | None, processes_per_host: int, gpus_per_host: int,
                local: bool) -> tuple[TrialSteps | None, str | None]:
    """(the least and most optimizer steps of a trial, None) or (None, why they are unknown).

    Each corner is planned as its trial would be: a corner the reference entrypoint refuses raises
    SpecError naming the corner. For a user's own script a corner without a plan is a note."""
    tune = spec.tune
    assert tune is not None
    if samples is None:
        return None, "the number of training examples is unknown (pass --samples N)"
    found: list[tuple[int, dict[str, Any]]] = []
    for corner in corners(tune):
        try:
            trial = trial_spec(spec, corner)
            plan = make_plan(trial, samples=samples,
                             world_size=spec.compute.instance_count * processes_per_host,
                             gpus_per_host=gpus_per_host, local=local)
        except SpecError as e:
            if spec.uses_reference_entrypoint:
                raise SpecError(f"the trial at {_format(corner)} would be refused: {e.message}",
                                e.remedy or "narrow the ranges") from None
            return None, f"no step plan for your own script: {e.message}"
        found.append((plan.steps.total_optimizer_steps, corner))
    least = min(found, key=lambda f: f[0])
    most = max(found, key=lambda f: f[0])
    return TrialSteps(least[0], most[0], least[1], most[1]), None


def _format(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def plan_tuning(spec: JobSpec, *, samples: int | None, processes_per_host: int, gpus_per_host: int,
                local: bool, price_per_hour: float | None = None) -> TunePlan:
    """The plan of the spec's [tune] table (SpecError when the spec has none)."""
    tune = spec.tune
    if tune is None:
        raise SpecError("no [tune] table in the spec", "add one, or pass --objective and --range")
    itype = spec.compute.instance_type
    price, source = (None, "local run: no AWS charges") if local else hourly_price(spec, price_per_hour)
    steps, note = trial_steps(spec, samples=samples, processes_per_host=processes_per_host,
                              gpus_per_host=gpus_per_host, local=local)
    return TunePlan(
        trials=tune.trials, trials_source=trials_source(tune), max_parallel=tune.max_parallel,
        max_run_seconds=spec.spot.max_run, instance_type=itype,
        instance_count=spec.compute.instance_count, local=local, price_per_hour=price,
        price_source=source, spot=not local and spec.spot_enabled(cloud=True),
        steps=steps, steps_note=note, ranges={k: r.describe() for k, r in tune.ranges.items()})
