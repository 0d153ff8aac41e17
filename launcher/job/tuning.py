"""What a tuning job is, on either engine: its trials and the best of them, for the job verbs.

The local engine (Optuna) and the SageMaker one (a HyperParameterTuningJob) both describe a tuning
job as a `TuningDescription`, so `launch status/describe/list` render one shape.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

FINISHED_TRIAL = frozenset({"Completed"})


@dataclass
class Trial:
    name: str                                  # the trial's training job
    number: int                                # 0-based, in creation order
    status: str                                # InProgress | Completed | Failed | Stopped | Pruned
    hyperparameters: dict[str, Any]            # the tuned ones, decoded
    objective: float | None = None             # the objective metric's final value
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    artifacts: list[str] = field(default_factory=list)
    failure_reason: str | None = None


@dataclass
class TuningDescription:
    name: str
    backend: str                               # local | sagemaker
    status: str                                # InProgress | Completed | Failed | Stopped | Stopping
    objective: str
    direction: str                             # maximize | minimize
    strategy: str
    max_trials: int
    max_parallel: int
    trials: list[Trial] = field(default_factory=list)
    created: str | None = None
    ended: str | None = None
    failure_reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def ranked(self) -> list[Trial]:
        """Trials with an objective value, best first; then the others in creation order."""
        scored = [t for t in self.trials if t.objective is not None and math.isfinite(t.objective)]
        sign = -1.0 if self.direction == "maximize" else 1.0
        scored.sort(key=lambda t: (sign * (t.objective or 0.0), t.number))
        rest = sorted((t for t in self.trials if t not in scored), key=lambda t: t.number)
        return scored + rest

    def best(self) -> Trial | None:
        """The best completed trial, if any."""
        return next((t for t in self.ranked() if t.objective is not None and
                     t.status in FINISHED_TRIAL), None)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for t in self.trials:
            found[t.status] = found.get(t.status, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningDescription:
        data = dict(data)
        data["trials"] = [Trial(**t) for t in data.get("trials", [])]
        return cls(**data)
