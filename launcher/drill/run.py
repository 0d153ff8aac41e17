"""Spot-interruption drills: kill a local job the way a reclaim does, restart it the way SageMaker
does, and prove the result is the same as an uninterrupted run.

A reclaim gives the script no warning it can rely on, so an interruption is a SIGKILL of the whole
process tree at a random moment; the restart reuses the job name, the configuration and the
checkpoint location (restored into the container before the script starts). Lost work is measured
from the script's own log: the last `step=N` seen before the kill minus the optimizer step the
restart resumed from (`… optimizer step N` in the reference entrypoint's resume line), so it is
exact when the script logs every step and a lower bound otherwise.

The verdict is honest about what the drill proved (`DrillReport.verdict`):

- MATCH: at least one kill landed after a checkpoint and the next attempt resumed from it (a resume
  line with step ≥ 1), the run completed, and its model equals the uninterrupted reference bit for bit;
- RESUMED: the same without `--verify` (nothing compared);
- MISMATCH: the models differ; FAILED: a run did not complete;
- INCONCLUSIVE, with the reason: no kill was effective (kills that hit start-up, before the script
  made progress, are counted apart; kills before the first checkpoint restart from step 0; kill
  times after the end never happen; a script that prints no resume line cannot show it resumed).

Restart time is measured per kill, from the kill to the first progress of the next attempt (its
resume line or a step line); a kill whose next attempt was killed again before making progress has
no restart time. The intervals never overlap, so their sum stays below the drill's duration.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.backends.base import JobDescription, JobStatus
from launcher.backends.local.options import Interrupter
from launcher.job.archives import extract_archive

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
        resumed = self.resumed_after(i)
        return 0 if resumed is None else resumed

    def resumed_after(self, i: int) -> int | None:
        """The optimizer step the work after attempt i resumed from (0: from scratch), or None when
        no later attempt showed progress (a resume line or a step)."""
        for later in self.attempts[i + 1:]:
            if later.resumed_step is not None:
                return later.resumed_step
            if later.last_step > 0:  # made progress without resuming: started from scratch
                return 0
        return None

    def kill_outcomes(self) -> list[str]:
        """Per kill, in order: "effective" (after progress, and the run resumed from a checkpoint at
        step ≥ 1), "startup" (before the attempt made progress), "before-checkpoint" (the run
        restarted from step 0) or "unknown" (no later resume line or step was seen)."""
        outcomes = []
        for i, a in enumerate(self.attempts):
            if a.killed_at is None:
                continue
            if a.resumed_at is None or a.resumed_at > a.killed_at:
                outcomes.append("startup")
                continue
            resumed = self.resumed_after(i)
            outcomes.append("unknown" if resumed is None else
                            "before-checkpoint" if resumed == 0 else "effective")
        return outcomes

    def restart_times(self) -> list[float]:
        """Per kill whose next attempt made progress before being killed in turn: seconds from the
        kill to that progress. Disjoint intervals: their sum never exceeds the run's duration."""
        times = []
        for before, after in zip(self.attempts, self.attempts[1:], strict=False):
            if before.killed_at is None or after.resumed_at is None:
                continue
            if after.killed_at is not None and after.resumed_at > after.killed_at:
                continue
            times.append(max(0.0, after.resumed_at - before.killed_at))
        return times

    def restart_seconds(self) -> float:
        """Total of :meth:`restart_times`."""
        return sum(self.restart_times())


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
    extract_archive(Path(desc.artifacts["model"]), into)  # all or nothing, never outside `into`
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


VERDICTS = ("MATCH", "RESUMED", "MISMATCH", "FAILED", "INCONCLUSIVE")


@dataclass
class DrillReport:
    job: JobDescription
    interruptions: int
    lost_iterations: list[int]
    restart_seconds: float
    comparison: Comparison | None = None
    reference: JobDescription | None = None
    notes: list[str] = field(default_factory=list)
    requested: int = 0                 # kills asked for (--simulate-interruptions K)
    kill_outcomes: list[str] = field(default_factory=list)  # see TrackingInterrupter.kill_outcomes
    restart_times: list[float] = field(default_factory=list)

    @property
    def mean_lost_iterations(self) -> float:
        return sum(self.lost_iterations) / len(self.lost_iterations) if self.lost_iterations else 0.0

    @property
    def effective_kills(self) -> int:
        return self.kill_outcomes.count("effective")

    @property
    def startup_kills(self) -> int:
        return self.kill_outcomes.count("startup")

    @property
    def verdict(self) -> str:
        """MATCH, RESUMED (no --verify), MISMATCH, FAILED or INCONCLUSIVE (see the module doc)."""
        if self.job.status is not JobStatus.COMPLETED:
            return "FAILED"
        if self.comparison is not None and not self.comparison.match:
            return "MISMATCH"
        if self.effective_kills == 0:
            return "INCONCLUSIVE"
        return "MATCH" if self.comparison is not None else "RESUMED"

    @property
    def passed(self) -> bool:
        """The drill proved resumption (and, with --verify, an identical model)."""
        return self.verdict in ("MATCH", "RESUMED")

    def inconclusive_reason(self) -> str:
        """Why no kill proved anything, one clause per kind of kill."""
        parts = []
        missing = max(0, self.requested - self.interruptions)
        if missing:
            parts.append(f"{missing} kill(s) never happened (the job finished first)")
        counts = {o: self.kill_outcomes.count(o) for o in ("startup", "before-checkpoint", "unknown")}
        if counts["startup"]:
            parts.append(f"{counts['startup']} hit start-up, before the script made progress")
        if counts["before-checkpoint"]:
            parts.append(f"{counts['before-checkpoint']} came before the first checkpoint (the run "
                         "restarted from step 0)")
        if counts["unknown"]:
            parts.append(f"{counts['unknown']} left no trace of a resume (the script prints no "
                         "'Resumed from … optimizer step N' line, so the drill cannot tell)")
        if not parts:
            parts.append("no kill happened")
        return "no kill landed after a checkpoint and was followed by a resume from it: " + "; ".join(parts)

    @property
    def verdict_line(self) -> str:
        """The one line the CLI prints."""
        verdict = self.verdict
        ref = f"reference job {self.reference.name}" if self.reference else "no reference run"
        kills = (f"{self.effective_kills} of {self.interruptions} kill(s) resumed from a checkpoint"
                 + (f", {self.startup_kills} hit start-up" if self.startup_kills else ""))
        if verdict == "FAILED":
            detail = self.comparison.detail if self.comparison is not None else \
                f"the interrupted run ended {self.job.status}"
            return f"FAILED: {detail}"
        if verdict == "MISMATCH":
            assert self.comparison is not None
            return f"MISMATCH: {self.comparison.detail} ({ref})"
        if verdict == "INCONCLUSIVE":
            return (f"INCONCLUSIVE: {self.inconclusive_reason()} (rerun with more "
                    "--simulate-interruptions, another --interrupt-seed, or checkpoint more often)")
        if verdict == "MATCH":
            assert self.comparison is not None
            return f"MATCH: {self.comparison.detail} ({ref}; {kills})"
        return f"RESUMED: {kills} (add --verify to compare with an uninterrupted run bit for bit)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job.name,
            "status": str(self.job.status),
            "interruptions": self.interruptions,
            "effective_kills": self.effective_kills,
            "startup_kills": self.startup_kills,
            "kill_outcomes": list(self.kill_outcomes),
            "lost_iterations": self.lost_iterations,
            "mean_lost_iterations": self.mean_lost_iterations,
            "restart_seconds": round(self.restart_seconds, 3),
            "restart_seconds_each": [round(t, 3) for t in self.restart_times],
            "metrics": self.job.metrics,
            "reference": self.reference.name if self.reference else None,
            "match": None if self.comparison is None else self.comparison.match,
            "detail": None if self.comparison is None else self.comparison.detail,
            "verdict": self.verdict,
            "verdict_line": self.verdict_line,
            "passed": self.passed,
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
            return DrillReport(reference, 0, [], 0.0,
                               Comparison(False, f"the uninterrupted reference run ended {reference.status}"),
                               reference, requested=interruptions)
        window = window or (0.2 * duration, 0.9 * duration)
    if interrupter is None:
        interrupter = RandomInterrupter(draw_delays(interruptions, window or (2.0, 30.0), seed))
    job = submit(job_name, interrupter, interruptions)
    done = job.interruptions
    restarts = interrupter.restart_times()
    report = DrillReport(job, done, interrupter.lost_iterations(), sum(restarts),
                         reference=reference, requested=interruptions,
                         kill_outcomes=interrupter.kill_outcomes(), restart_times=restarts)
    if done < interruptions:
        report.notes.append(f"{interruptions - done} interruption(s) did not happen: the job "
                            "finished before their kill time")
    if report.startup_kills:
        report.notes.append(f"{report.startup_kills} interruption(s) hit start-up, before the script "
                            "made progress: they test restarting, not resuming")
    if reference is not None:
        if job.status is JobStatus.COMPLETED:
            report.comparison = compare_models(reference, job)
        else:
            report.comparison = Comparison(False, f"the interrupted run ended {job.status}")
    return report
