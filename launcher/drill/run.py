"""Spot-interruption drills: kill a local job the way a reclaim does, restart it the way SageMaker
does, and prove the result is the same as an uninterrupted run.

A reclaim gives the script no warning it can rely on, so an interruption is a SIGKILL of the whole
process tree at a random moment; the restart reuses the job name, the configuration and the
checkpoint location (restored into the container before the script starts). Lost work is measured
from the script's own log: the last `step=N` seen before the kill minus the optimizer step the
restart resumed from (`… optimizer step N` in the reference entrypoint's resume line), so it is
exact when the script logs every step and a lower bound otherwise.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.backends.base import JobDescription, JobStatus
from launcher.backends.local.options import Interrupter

STEP_RE = re.compile(r"\bstep=(\d+)")
RESUME_RE = re.compile(r"[Rr]esumed from .*?optimizer step (\d+)")


@dataclass
class Attempt:
    started: float
    killed_at: float | None = None
    last_step: int = 0
    resumed_step: int | None = None  # None: started from scratch
    resumed_at: float | None = None  # when the resume line (or first step) appeared


class TrackingInterrupter(Interrupter):
    """Records each attempt's progress from its output; subclasses decide when to kill."""

    def __init__(self) -> None:
        self.attempts: list[Attempt] = []

    def arm(self, attempt: int) -> None:
        self.attempts.append(Attempt(time.monotonic()))

    def observe(self, line: str) -> None:
        if not self.attempts:
            return
        a = self.attempts[-1]
        if (m := RESUME_RE.search(line)) is not None:
            a.resumed_step = int(m.group(1))
            a.resumed_at = a.resumed_at or time.monotonic()
        elif (m := STEP_RE.search(line)) is not None:
            a.last_step = max(a.last_step, int(m.group(1)))
            a.resumed_at = a.resumed_at or time.monotonic()

    def killed(self) -> None:
        if self.attempts:
            self.attempts[-1].killed_at = time.monotonic()

    def lost_iterations(self) -> list[int]:
        """Per interruption: steps reached before the kill that the next attempt had to redo."""
        lost = []
        for i, before in enumerate(self.attempts):
            if before.killed_at is None:
                continue
            lost.append(max(0, before.last_step - self._resumed_after(i)))
        return lost

    def _resumed_after(self, i: int) -> int:
        """The step the work after attempt i resumed from: a later attempt killed before it logged
        its resume line restored the same checkpoints, so look further."""
        for later in self.attempts[i + 1:]:
            if later.resumed_step is not None:
                return later.resumed_step
            if later.last_step > 0:  # made progress without resuming: started from scratch
                return 0
        return 0

    def restart_seconds(self) -> float:
        """Wall time from each kill until the restarted script made progress again."""
        total = 0.0
        for before, after in zip(self.attempts, self.attempts[1:], strict=False):
            if before.killed_at is not None:
                total += (after.resumed_at or time.monotonic()) - before.killed_at
        return total


class RandomInterrupter(TrackingInterrupter):
    """Kill attempt i after `delays[i]` seconds."""

    def __init__(self, delays: list[float]) -> None:
        super().__init__()
        self.delays = delays

    def should_kill(self, elapsed: float, line: str | None) -> bool:
        i = len(self.attempts) - 1
        return 0 <= i < len(self.delays) and elapsed >= self.delays[i]


class LineInterrupter(TrackingInterrupter):
    """Kill attempt i at the n-th output line matching `triggers[i] = (regex, n)` (deterministic)."""

    def __init__(self, triggers: list[tuple[str, int]]) -> None:
        super().__init__()
        self.triggers = [(re.compile(p), n) for p, n in triggers]
        self._count = 0

    def arm(self, attempt: int) -> None:
        super().arm(attempt)
        self._count = 0

    def should_kill(self, elapsed: float, line: str | None) -> bool:
        i = len(self.attempts) - 1
        if line is None or not 0 <= i < len(self.triggers):
            return False
        pattern, n = self.triggers[i]
        if pattern.search(line):
            self._count += 1
        return self._count >= n


def draw_delays(k: int, window: tuple[float, float], seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(*window) for _ in range(k)]


@dataclass
class Comparison:
    match: bool
    detail: str


def _extract_model(desc: JobDescription, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(desc.artifacts["model"]) as tar:
        tar.extractall(into, filter="data")
    return into


def compare_models(a: JobDescription, b: JobDescription, python: str = sys.executable) -> Comparison:
    """Bit-for-bit comparison of the two jobs' model files: tensors of .pt/.pth files (loaded with
    torch in a subprocess, so the launcher never imports it), bytes of anything else."""
    with tempfile.TemporaryDirectory() as tmp:
        da = _extract_model(a, Path(tmp) / "a")
        db = _extract_model(b, Path(tmp) / "b")
        out = subprocess.run([python, "-m", "launcher.drill.compare", str(da), str(db)],
                             capture_output=True, text=True)
    try:
        result: dict[str, Any] = json.loads(out.stdout)
    except ValueError:
        return Comparison(False, f"comparison failed: {out.stderr.strip()[-300:]}")
    return Comparison(bool(result["match"]), str(result["detail"]))


@dataclass
class DrillReport:
    job: JobDescription
    interruptions: int
    lost_iterations: list[int]
    restart_seconds: float
    comparison: Comparison | None = None
    reference: JobDescription | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def mean_lost_iterations(self) -> float:
        return sum(self.lost_iterations) / len(self.lost_iterations) if self.lost_iterations else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job.name,
            "status": str(self.job.status),
            "interruptions": self.interruptions,
            "lost_iterations": self.lost_iterations,
            "mean_lost_iterations": self.mean_lost_iterations,
            "restart_seconds": round(self.restart_seconds, 3),
            "metrics": self.job.metrics,
            "reference": self.reference.name if self.reference else None,
            "match": None if self.comparison is None else self.comparison.match,
            "detail": None if self.comparison is None else self.comparison.detail,
            "notes": self.notes,
        }


def run_drill_job(
    submit: Callable[[str, Interrupter | None, int], JobDescription],
    job_name: str,
    interruptions: int,
    *,
    seed: int = 0,
    window: tuple[float, float] | None = None,
    verify: bool = False,
    interrupter: TrackingInterrupter | None = None,
) -> DrillReport:
    """Run the drill. `submit(name, interrupter, max_interruptions)` runs one local job.

    With `verify`, an uninterrupted reference run goes first: its duration sets the window the
    random kill times are drawn from (20-90 % of it), and its model is compared with the drill's.
    """
    reference = None
    if verify:
        t0 = time.monotonic()
        reference = submit(f"{job_name[:53].rstrip('-')}-reference", None, 0)
        duration = time.monotonic() - t0
        if reference.status is not JobStatus.COMPLETED:
            return DrillReport(reference, 0, [], 0.0, Comparison(False, "the reference run failed"),
                               reference)
        window = window or (0.2 * duration, 0.9 * duration)
    if interrupter is None:
        interrupter = RandomInterrupter(draw_delays(interruptions, window or (2.0, 30.0), seed))
    job = submit(job_name, interrupter, interruptions)
    done = job.interruptions
    report = DrillReport(job, done, interrupter.lost_iterations(), interrupter.restart_seconds(),
                         reference=reference)
    if done < interruptions:
        report.notes.append(f"{interruptions - done} interruption(s) did not happen: the job "
                            "finished before their kill time")
    if reference is not None:
        if job.status is JobStatus.COMPLETED:
            report.comparison = compare_models(reference, job)
        else:
            report.comparison = Comparison(False, f"the interrupted run ended {job.status}")
    return report
