"""How far a training job is, from its log lines: epoch and step of the total, throughput, ETA.

Pure (no clock of its own, no I/O): the caller passes the time of each line. The totals come from
the local job record (`total_steps`, `steps_per_epoch`, `epochs`, written when the job was resolved
with a plan) or from the header the reference entrypoint logs once, so a cloud job gets them from its
log stream too::

    Training examples: 1437 | Batch size: 64 | Iterations per epoch: 23 | Total iterations: 69
    Gradient accumulation steps: 2 | Optimizer steps per epoch: 12 | Total optimizer steps: 36
    Max steps: 30 | Total optimizer steps: 30 (of 36; training stops in epoch 3)

The ETA is the remaining steps at the rate seen between the first and the latest step; there is
none before two steps were seen at different times, nor when the total is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_HOST = re.compile(r"^\[algo-\d+\]\s")
_ITERATIONS = re.compile(r"Iterations per epoch: (\d+) \| Total iterations: (\d+)")
_ACCUMULATED = re.compile(r"Optimizer steps per epoch: (\d+) \| Total optimizer steps: (\d+)")
_CAPPED = re.compile(r"Max steps: \d+ \| Total optimizer steps: (\d+)")
_STEP = re.compile(r"(?<![\w.])step=(\d+)(?![\w.])")
_EPOCH = re.compile(r"(?<![\w.])epoch=(\d+)(?![\w.])")
# Any `name=number` pair: what a job's metrics are when its metric definitions are not known.
_PAIR = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)=([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
                   r"(?![\w.])")

# Axes and bookkeeping, not metrics to show next to the bar.
COUNTERS = ("step", "epoch")
NOT_SHOWN = (*COUNTERS, "samples_per_sec", "epoch_time_s")

Parse = Callable[[str], dict[str, float]]


def key_value_metrics(line: str) -> dict[str, float]:
    """Every `name=number` pair of a line (the reference entrypoint's metric line format)."""
    found = {}
    for name, value in _PAIR.findall(line):
        try:
            found[name] = float(value)
        except ValueError:
            continue
    return found


def definitions_parser(definitions: Any) -> Parse:
    """The job's own metric definitions (`[{"name", "regex"}]` as stored in a local record), or
    every `name=number` pair when there are none."""
    if not definitions:
        return key_value_metrics
    from launcher.config.spec import MetricDefinition
    from launcher.job.metrics import MetricParser

    parser = MetricParser([MetricDefinition(name=d["name"], regex=d["regex"]) for d in definitions])
    return parser.feed


def strip_host(line: str) -> str:
    return _HOST.sub("", line, count=1)


@dataclass
class Progress:
    total_steps: int | None = None
    steps_per_epoch: int | None = None
    epochs: int | None = None
    parse: Parse = key_value_metrics
    step: int | None = None
    epoch: int | None = None          # the last `epoch=` value seen
    samples_per_sec: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    started: float | None = None      # time of the first line (elapsed counts from it)
    first: tuple[float, int] | None = None   # (time, step) the rate is measured from
    latest: tuple[float, int] | None = None  # (time, step) of the newest step seen

    @classmethod
    def from_details(cls, details: Mapping[str, Any], parse: Parse | None = None) -> Progress:
        """Totals from a local job record's details (absent in records of earlier versions)."""
        def number(key: str) -> int | None:
            value = details.get(key)
            return value if isinstance(value, int) and value > 0 else None

        return cls(total_steps=number("total_steps"), steps_per_epoch=number("steps_per_epoch"),
                   epochs=number("epochs"),
                   parse=parse or definitions_parser(details.get("metric_definitions")))

    def feed(self, line: str, now: float) -> None:
        line = strip_host(line)
        if self.started is None:
            self.started = now
        self._header(line)
        values = self.parse(line)
        if not values:
            return
        step = _STEP.search(line)
        epoch = _EPOCH.search(line)
        if epoch:
            self.epoch = int(epoch.group(1))
        if "samples_per_sec" in values:
            self.samples_per_sec = values["samples_per_sec"]
        self.metrics.update({k: v for k, v in values.items() if k not in NOT_SHOWN})
        if step:
            self._observe(int(step.group(1)), now)

    def _header(self, line: str) -> None:
        if m := _ITERATIONS.search(line):
            self.steps_per_epoch = self.steps_per_epoch or int(m.group(1))
            self.total_steps = self.total_steps or int(m.group(2))
            if self.epochs is None and int(m.group(1)):
                self.epochs = int(m.group(2)) // int(m.group(1))
        elif m := _ACCUMULATED.search(line):  # optimizer steps, not micro-batches: these win
            self.steps_per_epoch, self.total_steps = int(m.group(1)), int(m.group(2))
        elif m := _CAPPED.search(line):
            self.total_steps = int(m.group(1))
            if self.steps_per_epoch:
                self.epochs = -(-self.total_steps // self.steps_per_epoch)

    def _observe(self, step: int, now: float) -> None:
        if self.first is None or (self.step is not None and step < self.step):
            self.first = (now, step)  # first step, or a restart from a checkpoint: measure anew
        self.step = step
        self.latest = (now, step)

    # -- what it shows ----------------------------------------------------------------------------

    @property
    def fraction(self) -> float | None:
        if self.total_steps is None or self.step is None:
            return None
        return min(1.0, self.step / self.total_steps)

    @property
    def current_epoch(self) -> int | None:
        """The epoch in progress (1-based): from the step when the steps per epoch are known."""
        if self.step is not None and self.steps_per_epoch:
            epoch = self.step // self.steps_per_epoch + (self.step % self.steps_per_epoch > 0)
            return max(1, min(epoch, self.epochs or epoch))
        return self.epoch

    def rate(self) -> float | None:
        """Optimizer steps per second between the first and the latest step seen."""
        if self.first is None or self.latest is None:
            return None
        (t0, s0), (t1, s1) = self.first, self.latest
        if s1 <= s0 or t1 <= t0:
            return None
        return (s1 - s0) / (t1 - t0)

    def eta(self, now: float) -> float | None:
        rate = self.rate()
        if rate is None or self.total_steps is None or self.latest is None:
            return None
        left = max(0, self.total_steps - self.latest[1]) / rate
        return max(0.0, left - (now - self.latest[0]))

    def elapsed(self, now: float) -> float | None:
        return None if self.started is None else max(0.0, now - self.started)

    def to_dict(self, now: float) -> dict[str, Any]:
        return {"step": self.step, "total_steps": self.total_steps, "epoch": self.current_epoch,
                "epochs": self.epochs, "fraction": self.fraction,
                "samples_per_sec": self.samples_per_sec, "eta_seconds": _round(self.eta(now)),
                "elapsed_seconds": _round(self.elapsed(now)), "metrics": dict(self.metrics)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def duration(seconds: float) -> str:
    """`0:07`, `12:05`, `1:02:03`: minutes and seconds, hours only when there are some."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_text(p: Progress, now: float) -> str:
    """One line: `epoch 2/3 · step 46/69 (67%) · 217 samples/s · ETA 0:12`; without a total,
    the step and the elapsed time."""
    parts = []
    epoch = p.current_epoch
    if epoch is not None:
        parts.append(f"epoch {epoch}/{p.epochs}" if p.epochs else f"epoch {epoch}")
    if p.step is None:
        parts.append("waiting for the first step" if p.total_steps is None
                     else f"step 0/{p.total_steps}")
    elif p.total_steps is not None:
        parts.append(f"step {p.step}/{p.total_steps} ({100 * (p.fraction or 0):.0f}%)")
    else:
        parts.append(f"step {p.step}")
    if p.samples_per_sec:
        parts.append(f"{p.samples_per_sec:,.0f} samples/s")
    done = p.fraction == 1.0
    eta = p.eta(now) if p.total_steps is not None and not done else None
    if eta is not None:
        parts.append(f"ETA {duration(eta)}")
    elif (elapsed := p.elapsed(now)) is not None:
        parts.append(f"elapsed {duration(elapsed)}")
    return " · ".join(parts)


def metrics_text(p: Progress, limit: int = 4) -> str:
    return "  ".join(f"{k}={v:.4g}" for k, v in list(p.metrics.items())[:limit])
