"""The job spec's `[tune]` table: one search space for both engines (Optuna locally, SageMaker
automatic model tuning in the cloud).

Pure and closed like the rest of the spec. What needs the job (that the objective is one of its
metric definitions, that a range stays inside what the reference entrypoint accepts) is checked where
the job is resolved; here only what the table alone decides, with SageMaker's own limits.

    [tune]
    objective = "val_accuracy"      # a metric definition's name
    direction = "maximize"
    strategy = "random"             # bayesian | random | grid | hyperband
    max_trials = 8
    max_parallel = 2
    [tune.ranges.lr]
    type = "continuous"             # continuous | integer | categorical
    min = 0.001
    max = 0.1
    scaling = "log"                 # auto | linear | log | reverse_log
    [tune.ranges.batch_size]
    type = "categorical"
    values = [32, 64, 128]
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Set in every trial's environment (both engines): the reference entrypoint then keeps the trial's
# checkpoints under its own job name, as trials share the tuning job's checkpoint prefix.
TUNING_JOB_ENV = "LAUNCHER_TUNING_JOB"
MAX_TUNING_JOB_NAME = 32      # HyperParameterTuningJobName: 1-32 characters
MAX_RANGES = 30               # all parameter ranges together
MAX_CATEGORICAL_VALUES = 30   # values of one categorical range
MAX_TRIALS = 750              # MaxNumberOfTrainingJobs upper bound of the API
MAX_PARALLEL = 100            # MaxParallelTrainingJobs upper bound of the API
TUNING_JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")

Strategy = Literal["bayesian", "random", "grid", "hyperband"]
Scaling = Literal["auto", "linear", "log", "reverse_log"]


class ParameterRange(BaseModel):
    """One tuned hyperparameter: a continuous or integer interval, or a list of values."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    type: Literal["continuous", "integer", "categorical"]
    min: float | None = None
    max: float | None = None
    scaling: Scaling = "auto"
    values: list[Any] | None = None

    @model_validator(mode="after")
    def _shape(self) -> ParameterRange:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical range needs values = [...]")
            if len(self.values) > MAX_CATEGORICAL_VALUES:
                raise ValueError(f"{len(self.values)} values; SageMaker accepts at most "
                                 f"{MAX_CATEGORICAL_VALUES} per categorical range")
            if len({repr(v) for v in self.values}) != len(self.values):
                raise ValueError("a categorical range lists a value twice")
            if self.min is not None or self.max is not None or self.scaling != "auto":
                raise ValueError("a categorical range takes values only (no min, max or scaling)")
            return self
        if self.values is not None:
            raise ValueError(f"a {self.type} range takes min and max, not values")
        if self.min is None or self.max is None:
            raise ValueError(f"a {self.type} range needs min and max")
        if not (math.isfinite(self.min) and math.isfinite(self.max)) or self.min >= self.max:
            raise ValueError(f"min ({self.min:g}) must be below max ({self.max:g})")
        if self.type == "integer" and (self.min != int(self.min) or self.max != int(self.max)):
            raise ValueError("an integer range has whole-number bounds")
        if self.scaling == "log" and self.min <= 0:
            raise ValueError("log scaling needs min > 0")
        if self.scaling == "reverse_log":
            if self.type != "continuous":
                raise ValueError("reverse_log scaling is for continuous ranges")
            if not (self.min >= 0 and self.max < 1):
                raise ValueError("reverse_log scaling needs 0 <= min and max < 1")
        return self

    @property
    def log(self) -> bool:
        return self.scaling == "log"

    def describe(self) -> str:
        if self.type == "categorical":
            return "{" + ", ".join(str(v) for v in self.values or []) + "}"
        scale = "" if self.scaling in ("auto", "linear") else f" ({self.scaling})"
        return f"[{self.min:g}, {self.max:g}] {self.type}{scale}"


class TuneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    objective: str = Field(min_length=1, max_length=255)  # a metric definition's name
    direction: Literal["maximize", "minimize"] = "maximize"
    strategy: Strategy = "bayesian"
    max_trials: int | None = Field(None, ge=1, le=MAX_TRIALS)  # None: the grid's size; else 10
    max_parallel: int = Field(1, ge=1, le=MAX_PARALLEL)
    early_stopping: Literal["off", "auto"] = "off"
    ranges: dict[str, ParameterRange] = Field(default_factory=dict)
    seed: int | None = None  # the sampler's seed (Optuna), RandomSeed of the tuning job
    name: str | None = None  # exact tuning job name (≤32 characters); default generated
    # Hyperband: the resource is the epoch; min and max epochs a trial may run.
    min_resource: int | None = Field(None, ge=1)
    max_resource: int | None = Field(None, ge=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not TUNING_JOB_NAME_RE.match(v):
            raise ValueError(f"{v!r}: a tuning job name has 1-{MAX_TUNING_JOB_NAME} letters, digits "
                             "and hyphens, starting with a letter or digit")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TuneSpec:
        if not self.ranges:
            raise ValueError("[tune] needs at least one range: [tune.ranges.NAME]")
        if len(self.ranges) > MAX_RANGES:
            raise ValueError(f"{len(self.ranges)} ranges; SageMaker accepts at most {MAX_RANGES}")
        if self.strategy == "grid":
            loose = [k for k, r in self.ranges.items() if r.type != "categorical"]
            if loose:
                raise ValueError(f"grid search takes categorical ranges only; {loose[0]!r} is "
                                 f"{self.ranges[loose[0]].type} (list its values, or pick another strategy)")
            if self.max_trials is not None and self.max_trials != self.grid_size:
                raise ValueError(f"grid search runs every combination ({self.grid_size}); drop max_trials")
        if self.strategy == "hyperband" and self.early_stopping != "off":
            raise ValueError("hyperband stops trials early itself: early_stopping must be off")
        if (self.min_resource or self.max_resource) and self.strategy != "hyperband":
            raise ValueError("min_resource and max_resource are for the hyperband strategy")
        if self.min_resource and self.max_resource and self.min_resource > self.max_resource:
            raise ValueError("min_resource must not exceed max_resource")
        if self.max_parallel > self.trials:
            raise ValueError(f"max_parallel ({self.max_parallel}) exceeds the trials ({self.trials})")
        return self

    @property
    def grid_size(self) -> int:
        return math.prod(len(r.values or []) for r in self.ranges.values() if r.type == "categorical")

    @property
    def trials(self) -> int:
        """How many trials run at most: the grid's size, the maximum given, or 10."""
        if self.strategy == "grid":
            return self.grid_size
        return self.max_trials or 10
