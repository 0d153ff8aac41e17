"""The plan of a job: steps, the LR of every optimizer step, the cost, and what to warn about.

Bounded work for any input: planning costs the same for 10 epochs and 10^9 optimizer steps. Nothing
per step is stored: :meth:`Plan.lr_at` computes the LR of one step on demand, :attr:`Plan.lr_points`
is a sample of at most ``LR_POINTS`` (step, LR) pairs for charts, and :attr:`Plan.lr_per_step` is a
lazy sequence (``len`` = the steps; each item computed when read). ``--json`` lists every step's LR
for runs of up to ``LR_LIST_MAX_STEPS`` steps. A run of more than ``MAX_OPTIMIZER_STEPS`` optimizer
steps is refused (SpecError), in constant time.

:func:`make_plan` is pure (no AWS, no disk, no clock): the same spec and sample count always give the
same plan. The arithmetic and the schedule are *not* implemented here: they come from
``entrypoints.planning.plan_run`` (over ``entrypoints.steps`` and ``entrypoints.schedules``), the very
recipe the reference entrypoint runs with, so `launch plan` and the training log cannot disagree.

Callers: `launch plan` (printing), and backends before staging (``make_plan(spec, samples=n)``), which
turns an impossible spec (warmup as long as the run, ``drop_last`` leaving no batch, a scaled LR
below ``min_lr``) into a :class:`~launcher.errors.SpecError` before anything is uploaded or run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

from launcher.config.catalog import PRICE_DATE, PRICE_SOURCE, lookup
from launcher.config.spec import JobSpec
from launcher.errors import SpecError
from launcher.planning.advice import PlanWarning, plan_warnings
from launcher.planning.cost import DEFAULT_SPOT_SAVINGS, CostEstimate, expected_seconds
from launcher.reference import (
    HyperparameterError,
    TrainConfig,
    config_from_mapping,
    planning,
    schedules,
    steps,
)

TRAIN_CHANNEL = "train"
VALIDATION_CHANNELS = ("validation", "val")  # names the reference entrypoint reads validation from
USER_SCRIPT_PLAN_KEYS = ("epochs", "batch_size")  # what a step plan of a user's own script needs
MAX_OPTIMIZER_STEPS = 10**10   # the planner's cap: ~317 years at one optimizer step per second
LR_LIST_MAX_STEPS = 100_000    # `to_dict()` (plan --json) lists every step's LR up to this many steps
LR_POINTS = 1024               # the most (step, LR) pairs in `Plan.lr_points`


class StepLRs(Sequence[float]):
    """The LR of every optimizer step of a schedule, computed when read: ``len`` is the number of
    steps, ``lrs[i]`` is ``schedules.lr_at(schedule, i)``, slices are lazy too. Nothing is stored, so
    memory is constant; reading all of it costs time in proportion to the steps (charts should use
    :attr:`Plan.lr_points`)."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, schedule: schedules.ScheduleSpec, steps: range | None = None) -> None:
        self.schedule = schedule
        self._steps = range(schedule.total_steps) if steps is None else steps

    def __len__(self) -> int:
        return len(self._steps)

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> StepLRs: ...

    def __getitem__(self, index: int | slice) -> float | StepLRs:
        if isinstance(index, slice):
            return StepLRs(self.schedule, self._steps[index])
        return schedules.lr_at(self.schedule, self._steps[index])

    def __iter__(self) -> Iterator[float]:
        return (schedules.lr_at(self.schedule, step) for step in self._steps)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    def __repr__(self) -> str:
        return f"StepLRs({self.schedule.schedule}, steps {self._steps.start}…{self._steps.stop - 1})"


@dataclass(frozen=True)
class Plan:
    """Everything `launch plan` shows. Build it with :func:`make_plan`."""

    spec: JobSpec
    config: TrainConfig
    channel_samples: int          # examples in the train channel
    steps: steps.StepPlan         # over the examples actually trained on (after any hold-out)
    holdout: int                  # examples held out of train for validation (reference entrypoint)
    instance_type: str | None
    instance_count: int
    processes_per_host: int
    gpus_per_host: int
    warmup_steps: int
    effective_lr: float
    schedule: schedules.ScheduleSpec
    lr_points: list[tuple[int, float]]  # at most LR_POINTS (step, LR) pairs: for charts
    local: bool
    cost: CostEstimate | None     # None for local jobs
    throughput: float | None      # samples/s per instance
    throughput_source: str | None
    expected_seconds: float | None  # training time at ``throughput``; None when unknown
    warnings: list[PlanWarning] = field(default_factory=list)

    @property
    def world_size(self) -> int:
        return self.steps.world_size

    @property
    def lr_per_step(self) -> StepLRs:
        """The LR of every optimizer step, lazily (see :class:`StepLRs`)."""
        return StepLRs(self.schedule)

    def lr_at(self, step: int) -> float:
        """The LR optimizer step ``step`` (0-based) uses; IndexError outside the run."""
        if not 0 <= step < self.schedule.total_steps:
            raise IndexError(f"step {step} is outside the run (0 … {self.schedule.total_steps - 1})")
        return schedules.lr_at(self.schedule, step)

    @property
    def peak_lr(self) -> float:
        """The highest LR of the run (every schedule peaks at a sampled step: warmup end or start)."""
        return max(lr for _, lr in self.lr_points)

    @property
    def samples_to_process(self) -> int:
        """Training examples read over the run, over all processes (padding and the cap included)."""
        return samples_to_process(self.steps)

    def scaling_rule(self) -> str:
        """The linear scaling rule, spelled out with this job's numbers."""
        c, g = self.config, self.steps.global_batch_size
        factor = g / c.base_batch_size
        if c.scale_lr:
            return (f"linear scaling rule: lr {c.lr:g} × global batch {g} / base_batch_size "
                    f"{c.base_batch_size} (×{factor:g}) = {self.effective_lr:g}")
        return (f"scale_lr is off: lr {c.lr:g} is used as given (with --hp scale_lr=true, global batch "
                f"{g} / base_batch_size {c.base_batch_size} would make it ×{factor:g} = "
                f"{c.lr * factor:g})")

    def to_dict(self) -> dict[str, Any]:
        s, c = self.steps, self.config
        cost: dict[str, Any]
        if self.cost is None:
            cost = {"price_per_hour": None, "upper_bound": None, "expected": None,
                    "note": "local job: no AWS charges"}
        else:
            cost = self.cost.to_dict()
        return {
            "entrypoint": self.spec.entrypoint,
            "reference_entrypoint": self.spec.uses_reference_entrypoint,
            "local": self.local,
            "channel_samples": self.channel_samples,
            "holdout_samples": self.holdout,
            "samples": s.samples,
            "batch_size": s.batch_size,
            "grad_accum_steps": s.grad_accum_steps,
            "world_size": s.world_size,
            "global_batch_size": s.global_batch_size,
            "per_process_samples": s.per_process_samples,
            "epochs": s.epochs,
            "drop_last": s.drop_last,
            "max_steps": s.max_steps,
            "iterations_per_epoch": s.iterations_per_epoch,
            "total_iterations": s.total_iterations,
            "optimizer_steps_per_epoch": s.optimizer_steps_per_epoch,
            "total_optimizer_steps": s.total_optimizer_steps,
            "epochs_to_run": s.epochs_to_run,
            "warmup_steps": self.warmup_steps,
            "lr": c.lr,
            "scale_lr": c.scale_lr,
            "base_batch_size": c.base_batch_size,
            "effective_lr": self.effective_lr,
            "lr_scaling": self.scaling_rule(),
            "lr_schedule": c.lr_schedule,
            "schedule": {
                "base_lr": self.schedule.base_lr,
                "schedule": self.schedule.schedule,
                "total_steps": self.schedule.total_steps,
                "steps_per_epoch": self.schedule.steps_per_epoch,
                "step_size": self.schedule.step_size,
                "gamma": self.schedule.gamma,
                "min_lr": self.schedule.min_lr,
                "warmup_steps": self.schedule.warmup_steps,
                "warmup_start_factor": self.schedule.warmup_start_factor,
            },
            "lr_per_step": (list(self.lr_per_step) if s.total_optimizer_steps <= LR_LIST_MAX_STEPS
                            else None),
            "lr_per_step_limit": LR_LIST_MAX_STEPS,
            "lr_points": [[step, lr] for step, lr in self.lr_points],
            "header_lines": s.header_lines(),
            "instance_type": self.instance_type,
            "instance_count": self.instance_count,
            "processes_per_host": self.processes_per_host,
            "gpus_per_host": self.gpus_per_host,
            "samples_to_process": self.samples_to_process,
            "throughput": self.throughput,
            "throughput_source": self.throughput_source,
            "expected_seconds": self.expected_seconds,
            "cost": cost,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def samples_to_process(s: steps.StepPlan) -> int:
    """Examples read over the run by all processes: sampler padding, drop_last and max_steps included."""
    per_epoch = min(s.per_process_samples, s.iterations_per_epoch * s.batch_size)
    full = per_epoch * s.world_size * s.epochs
    return round(full * s.total_optimizer_steps / s.uncapped_optimizer_steps)


def train_config(spec: JobSpec) -> TrainConfig:
    """The config the step arithmetic runs on.

    The reference entrypoint: its typed hyperparameters over its defaults. A user's own script: only
    the epochs and batch size it was given (SpecError when either is missing or not a whole number);
    nothing else of the reference schema applies to it.
    """
    if not spec.uses_reference_entrypoint:
        values = spec.all_hyperparameters()
        known: dict[str, int] = {}
        for name in USER_SCRIPT_PLAN_KEYS:
            value = next((values[k] for k in (name, name.replace("_", "-")) if k in values), None)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"no whole-number {name} among your script's hyperparameters",
                                f"pass --{name.replace('_', '-')} N to see the step plan")
            known[name] = value
        values = dict(known)
    else:
        values = spec.hyperparameters
    try:
        return config_from_mapping(values)
    except HyperparameterError as e:
        raise SpecError(str(e)) from None


def catalogue_gpus(spec: JobSpec) -> int:
    """GPUs of one cloud host, from the instance catalogue (0 without an instance type)."""
    return lookup(spec.compute.instance_type).gpus if spec.compute.instance_type else 0


def processes_per_host(spec: JobSpec, gpus: int) -> int:
    """The one world-size rule: processes per host default to its GPUs, at least one."""
    return spec.compute.processes_per_host or max(1, gpus)


@dataclass(frozen=True)
class PlanOptions:
    """What `launch plan` adds to the step plan: prices, throughput and assumed spot savings."""

    price_per_hour: float | None = None
    throughput: float | None = None
    throughput_source: str | None = None
    spot_savings: float = DEFAULT_SPOT_SAVINGS


def plan_training(
    spec: JobSpec,
    *,
    samples: int | None,
    processes_per_host: int,
    gpus_per_host: int,
    local: bool,
    options: PlanOptions | None = None,
) -> tuple[Plan | None, str | None]:
    """(the step plan, None) or (None, why it cannot be known); SpecError when it cannot run.

    The reference entrypoint's plan is a check: a plan the script would refuse (warmup as long as
    the run, drop_last leaving no batch) is a SpecError here, before anything is staged or uploaded.
    A user script's plan is informative only: a problem with it is a note, never a refusal.
    """
    if not spec.uses_reference_entrypoint:
        try:
            train_config(spec)
        except SpecError as e:
            return None, f"no step plan for your own script: {e}"
    if samples is None:
        if spec.uses_reference_entrypoint:
            check_epochs_cap(train_config(spec))
        return None, ("the number of training examples is unknown (no local .npz train channel to "
                      "count); pass --samples N")
    o = options or PlanOptions()
    kwargs: dict[str, Any] = dict(
        samples=samples, world_size=spec.compute.instance_count * processes_per_host,
        gpus_per_host=gpus_per_host, local=local, price_per_hour=o.price_per_hour,
        throughput=o.throughput, throughput_source=o.throughput_source, spot_savings=o.spot_savings)
    if spec.uses_reference_entrypoint:
        return make_plan(spec, **kwargs), None
    try:
        return make_plan(spec, **kwargs), None
    except SpecError as e:
        return None, f"no step plan for your own script: {e}"


def make_plan(
    spec: JobSpec,
    *,
    samples: int,
    world_size: int | None = None,
    gpus_per_host: int | None = None,
    price_per_hour: float | None = None,
    throughput: float | None = None,
    local: bool = False,
    spot_savings: float = DEFAULT_SPOT_SAVINGS,
    throughput_source: str | None = None,
) -> Plan:
    """Plan ``spec`` for a train channel of ``samples`` examples. Pure; raises SpecError.

    ``world_size`` overrides ``instance_count × processes_per_host`` (processes default to the
    host's GPUs, at least 1; ``gpus_per_host`` defaults to the instance catalogue's).
    ``price_per_hour`` (USD per instance, on-demand) overrides the catalogue. ``throughput`` is
    samples/s per instance and yields the expected duration and cost. ``local`` drops the cost and
    treats spot as not applicable. With the reference entrypoint and no ``validation`` (or ``val``)
    channel, ``val_fraction`` of the examples is held out, as the script does.
    """
    config = train_config(spec)
    gpus = catalogue_gpus(spec) if gpus_per_host is None else gpus_per_host
    per_host = processes_per_host(spec, gpus)
    ws = spec.compute.instance_count * per_host if world_size is None else world_size

    train_samples = samples
    if spec.uses_reference_entrypoint:
        try:
            train_samples = planning.training_samples(
                samples, any(name in spec.data for name in VALIDATION_CHANNELS), config.val_fraction)
        except ValueError as e:
            raise SpecError(f"train channel: {e}", "add a validation channel or more examples") from None
    try:
        run = planning.plan_run(config, train_samples, ws)
    except ValueError as e:
        raise _spec_error(config, train_samples, ws, e) from None
    step_plan, schedule = run.steps, run.schedule
    check_step_cap(step_plan)

    seconds = None
    if throughput is not None:
        try:
            seconds = expected_seconds(samples_to_process(step_plan), throughput,
                                       spec.compute.instance_count)
        except ValueError as e:
            raise SpecError(str(e), "pass --throughput SAMPLES_PER_SECOND (> 0)") from None
    cost = None if local else _cost(spec, price_per_hour, spot_savings, seconds)
    plan = Plan(
        spec=spec, config=config, channel_samples=samples, steps=step_plan,
        holdout=samples - train_samples,
        instance_type=spec.compute.instance_type, instance_count=spec.compute.instance_count,
        processes_per_host=per_host if world_size is None else max(1, ws // spec.compute.instance_count),
        gpus_per_host=gpus, warmup_steps=run.warmup_steps, effective_lr=run.effective_lr,
        schedule=schedule,
        lr_points=schedules.lr_points(schedule, LR_POINTS), local=local, cost=cost,
        throughput=throughput, throughput_source=throughput_source if throughput else None,
        expected_seconds=seconds,
    )
    return replace(plan, warnings=plan_warnings(plan))


def _count(n: int) -> str:
    """A count of any size in a few characters (a float would overflow past 1e308)."""
    if n < 10**15:
        return f"{n:,}"
    exponent = len(str(n)) - 1
    return f"{n * 100 // 10**exponent / 100:.2f}e{exponent}"


def check_step_cap(s: steps.StepPlan) -> None:
    """SpecError when the run has more optimizer steps than the planner's cap (constant time)."""
    total = s.total_optimizer_steps
    if total > MAX_OPTIMIZER_STEPS:
        raise SpecError(
            f"{_count(total)} optimizer steps ({_count(s.optimizer_steps_per_epoch)} per epoch × "
            f"{_count(s.epochs)} epochs) exceed the planner's cap of {MAX_OPTIMIZER_STEPS:,}",
            "lower --epochs, or cap the run with --max-steps N")


def check_epochs_cap(config: TrainConfig) -> None:
    """The cap before the examples are known: every epoch has at least one optimizer step."""
    lower_bound = config.epochs if config.max_steps is None else min(config.epochs, config.max_steps)
    if lower_bound > MAX_OPTIMIZER_STEPS:
        raise SpecError(
            f"{_count(config.epochs)} epochs are at least {_count(lower_bound)} optimizer steps, more "
            f"than the planner's cap of {MAX_OPTIMIZER_STEPS:,}",
            "lower --epochs, or cap the run with --max-steps N")


def _spec_error(config: TrainConfig, samples: int, world_size: int, error: ValueError) -> SpecError:
    """The shared recipe's ValueError as a SpecError, spelling out warmup-versus-run in full."""
    try:
        step_plan = steps.StepPlan(
            samples=samples, batch_size=config.batch_size, epochs=config.epochs,
            drop_last=config.drop_last, grad_accum_steps=config.grad_accum_steps,
            world_size=world_size, max_steps=config.max_steps)
        warmup = steps.resolve_warmup_steps(
            config.warmup_steps, config.warmup_epochs, step_plan.optimizer_steps_per_epoch)
    except ValueError:
        return SpecError(str(error))
    total = step_plan.total_optimizer_steps
    if warmup < total:
        remedy = "lower min_lr or base_batch_size" if config.scale_lr and "min_lr" in str(error) else None
        return SpecError(str(error), remedy)
    given = (f"warmup_epochs={config.warmup_epochs:g}" if config.warmup_epochs > 0
             else f"warmup_steps={config.warmup_steps}")
    capped = ", capped by max_steps" if total < step_plan.uncapped_optimizer_steps else ""
    return SpecError(
        f"warmup ({given}: {warmup} optimizer steps) is not shorter than the run "
        f"({total} optimizer steps: {step_plan.optimizer_steps_per_epoch} per epoch × "
        f"{step_plan.epochs} epochs{capped})",
        "shorten the warmup (about 5-10 % of the steps is usual) or train for more epochs",
    )


def hourly_price(spec: JobSpec, price_per_hour: float | None) -> tuple[float | None, str]:
    """(the instance's price per hour, where it comes from): given, or the bundled catalogue's."""
    itype = spec.compute.instance_type
    if price_per_hour is not None:
        return price_per_hour, "given with --price-per-hour"
    if itype is None:
        return None, "no instance type (pass --instance TYPE)"
    price = lookup(itype).price_per_hour
    return price, (f"{PRICE_SOURCE}, {PRICE_DATE}" if price is not None
                   else f"no price for {itype} in the bundled catalogue (pass --price-per-hour USD)")


def _cost(
    spec: JobSpec, price_per_hour: float | None, spot_savings: float, seconds: float | None
) -> CostEstimate:
    itype = spec.compute.instance_type
    price, source = hourly_price(spec, price_per_hour)
    try:
        return CostEstimate(
            instance_type=itype, instance_count=spec.compute.instance_count, price_per_hour=price,
            price_source=source, max_run_seconds=spec.spot.max_run,
            spot=spec.spot_enabled(cloud=True), spot_savings=spot_savings, expected_seconds=seconds,
        )
    except ValueError as e:
        raise SpecError(str(e)) from None
