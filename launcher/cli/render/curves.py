"""Every metric of a job as a series, from its log lines: what `launch metrics` prints and plots.

Each line is parsed with the job's metric definitions (as SageMaker would: `re.search`, group 1;
see `launcher.job.metrics.MetricParser`), or, when they are not known (cloud jobs, local records
of earlier versions), every `name=number` pair. Each value is placed at the line's `step=` (the
optimizer step), the epoch (`step / steps per epoch` when the steps per epoch are known, else the
line's `epoch=`) and the line's index among the lines with metrics. A step seen again after a
restart from a checkpoint replaces the value logged before the restart. The hyperparameters are the
ones sent, completed by the effective values the reference entrypoint logs once
(`Hyperparameters: {...}`), so a comparison can name what differs, defaults included.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from launcher.cli.render.progress import COUNTERS, Parse, Progress, strip_host

_STEP = re.compile(r"(?<![\w.])step=(\d+)(?![\w.])")
_EPOCH = re.compile(r"(?<![\w.])epoch=(\d+)(?![\w.])")
_EFFECTIVE = "Hyperparameters: "


@dataclass(frozen=True)
class Point:
    index: int                # the line's index among the lines with metrics
    step: int | None          # the line's step=, when it has one
    epoch: float | None       # epochs completed at this point
    value: float


@dataclass
class JobCurves:
    name: str
    backend: str
    series: dict[str, list[Point]] = field(default_factory=dict)
    steps_per_epoch: int | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def has(self, axis: str) -> bool:
        """Whether every point of every series can be placed on `axis` (step or epoch)."""
        points = [p for s in self.series.values() for p in s]
        return bool(points) and all(getattr(p, axis) is not None for p in points)

    def xy(self, metric: str, axis: str) -> tuple[list[float], list[float]]:
        """The series on `axis` (step, epoch or index), sorted, one value per x (the latest)."""
        by_x: dict[float, float] = {}
        for p in self.series.get(metric, []):
            x = p.index if axis == "index" else getattr(p, axis)
            if x is not None:
                by_x[float(x)] = p.value
        xs = sorted(by_x)
        return xs, [by_x[x] for x in xs]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "steps_per_epoch": self.steps_per_epoch,
                "hyperparameters": self.hyperparameters,
                "metrics": {k: [{"step": p.step, "epoch": p.epoch, "index": p.index,
                                 "value": None if math.isnan(p.value) else p.value} for p in v]
                            for k, v in self.series.items()}}


def collect(name: str, backend: str, lines: Iterable[str], *, parse: Parse,
            steps_per_epoch: int | None = None,
            hyperparameters: dict[str, Any] | None = None) -> JobCurves:
    curves = JobCurves(name, backend, steps_per_epoch=steps_per_epoch,
                       hyperparameters=dict(hyperparameters or {}))
    header = Progress(steps_per_epoch=steps_per_epoch, parse=lambda line: {})
    index = 0
    for raw in lines:
        line = strip_host(raw)
        header.feed(line, 0.0)  # the steps per epoch, from the entrypoint's header line
        if line.startswith(_EFFECTIVE):  # the reference entrypoint's values, defaults included
            with contextlib.suppress(ValueError):
                effective = json.loads(line[len(_EFFECTIVE):])
                if isinstance(effective, dict):
                    curves.hyperparameters.update(effective)
            continue
        values = {k: v for k, v in parse(line).items() if k not in COUNTERS}
        if not values:
            continue
        step_m, epoch_m = _STEP.search(line), _EPOCH.search(line)
        step = int(step_m.group(1)) if step_m else None
        spe = header.steps_per_epoch
        epoch = (step / spe if step is not None and spe else
                 float(epoch_m.group(1)) if epoch_m else None)
        for metric, value in values.items():
            curves.series.setdefault(metric, []).append(Point(index, step, epoch, value))
        index += 1
    curves.steps_per_epoch = header.steps_per_epoch
    return curves


def summary_rows(curves: JobCurves) -> list[tuple[str, int, float, float, float]]:
    """(metric, points, last, min, max) of each series, in the order first logged."""
    rows = []
    for metric, points in curves.series.items():
        values = [p.value for p in points if not math.isnan(p.value)]
        if values:
            rows.append((metric, len(points), values[-1], min(values), max(values)))
    return rows


def differing_hyperparameters(jobs: list[JobCurves]) -> list[str]:
    """The hyperparameters whose values differ between the jobs (what a comparison is about)."""
    if len(jobs) < 2:
        return []
    keys = list(dict.fromkeys(k for j in jobs for k in j.hyperparameters))
    return [k for k in keys if len({str(j.hyperparameters.get(k)) for j in jobs}) > 1]
