"""An honest drill (issue #14, item 10): MATCH only when a kill landed after a checkpoint and the run
resumed from it; otherwise INCONCLUSIVE with the reason. Kills that hit start-up are counted apart,
and restart times are per kill and never overlap (their sum stays below the run's duration).

The jobs here are simulated (no process runs): `submit` feeds the interrupter the lines an attempt
would print, on a fake clock, and returns a finished job whose model archive the drill compares.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from launcher.backends.base import JobDescription, JobStatus, Transition
from launcher.drill import run as drill
from launcher.drill.run import TrackingInterrupter, run_drill_job


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(drill.time, "monotonic", c)
    return c


def model_archive(path: Path, content: bytes) -> str:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("model.bin")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    return str(path)


Script = list[list[tuple[float, str]]]  # per attempt: (time, line); the last line of a killed attempt


def fake_submit(tmp_path: Path, clock: Clock, script: Script, *, drill_model: bytes = b"m",
                status: JobStatus = JobStatus.COMPLETED):
    """Attempt i prints script[i]; every attempt but the last is killed after its last line."""

    def submit(name: str, interrupter: TrackingInterrupter | None, k: int) -> JobDescription:
        if interrupter is None:  # the uninterrupted reference run
            return JobDescription(name, "local", JobStatus.COMPLETED,
                                  artifacts={"model": model_archive(tmp_path / f"{name}.tar.gz", b"m")})
        transitions = []
        for i, lines in enumerate(script):
            interrupter.arm(i)
            for t, line in lines:
                clock.now = t
                interrupter.observe(line)
            if i < len(script) - 1:
                interrupter.killed()
                transitions.append(Transition("Interrupted", "t"))
            clock.now += 1.0
        return JobDescription(name, "local", status, transitions=transitions,
                              artifacts={"model": model_archive(tmp_path / f"{name}.tar.gz", drill_model)})

    return submit


def attempt(start: float, *lines: tuple[float, str]) -> list[tuple[float, str]]:
    return [(start, "Training examples: 1437 | Batch size: 64"), *lines]


def test_a_kill_at_start_up_is_inconclusive_even_when_models_match(tmp_path, clock):
    script = [attempt(1.0), attempt(3.0, (5.0, "epoch=1 step=23 train_loss=0.5"))]
    report = run_drill_job(fake_submit(tmp_path, clock, script), "drill", 1, verify=True,
                           interrupter=TrackingInterrupter())
    assert report.comparison is not None and report.comparison.match  # the bytes are equal …
    assert report.verdict == "INCONCLUSIVE" and not report.passed    # … but nothing was proved
    assert report.startup_kills == 1 and report.effective_kills == 0
    assert "1 hit start-up" in report.verdict_line
    assert report.to_dict()["verdict"] == "INCONCLUSIVE"
    assert any("start-up" in n for n in report.notes)


def test_a_kill_before_the_first_checkpoint_is_inconclusive(tmp_path, clock):
    script = [attempt(1.0, (2.0, "step=2 train_loss=0.9")),
              attempt(4.0, (6.0, "step=2 train_loss=0.9"), (7.0, "step=23"))]  # from scratch
    report = run_drill_job(fake_submit(tmp_path, clock, script), "drill", 1,
                           interrupter=TrackingInterrupter())
    assert report.verdict == "INCONCLUSIVE"
    assert report.kill_outcomes == ["before-checkpoint"]
    assert "before the first checkpoint" in report.verdict_line


def test_kills_that_never_happen_are_inconclusive(tmp_path, clock):
    script = [attempt(1.0, (2.0, "step=23"))]  # the job finished before the kill time
    report = run_drill_job(fake_submit(tmp_path, clock, script), "drill", 2, verify=True,
                           interrupter=TrackingInterrupter())
    assert report.interruptions == 0 and report.verdict == "INCONCLUSIVE"
    assert "2 kill(s) never happened" in report.verdict_line


def test_a_script_without_a_resume_line_cannot_be_judged(tmp_path, clock):
    script = [attempt(1.0, (2.0, "step=10")), attempt(4.0)]  # prints no step or resume line after
    report = run_drill_job(fake_submit(tmp_path, clock, script), "drill", 1,
                           interrupter=TrackingInterrupter())
    assert report.kill_outcomes == ["unknown"] and report.verdict == "INCONCLUSIVE"
    assert "cannot tell" in report.verdict_line


def test_an_effective_kill_matches_and_restart_time_is_per_kill(tmp_path, clock):
    script = [
        attempt(1.0, (10.0, "step=12 train_loss=0.4")),   # killed at t=10 after progress
        attempt(12.0), attempt(14.0), attempt(16.0),        # three kills at start-up
        attempt(17.0, (18.0, "Resumed from ckpt-000010.pt at optimizer step 10"), (20.0, "step=23")),
    ]
    interrupter = TrackingInterrupter()
    report = run_drill_job(fake_submit(tmp_path, clock, script), "drill", 4, verify=True,
                           interrupter=interrupter)
    duration = clock.now  # the fake run's whole duration
    assert report.kill_outcomes == ["effective", "startup", "startup", "startup"]
    assert report.verdict == "MATCH" and report.passed and report.startup_kills == 3
    assert report.verdict_line.startswith("MATCH: ")
    assert "1 of 4 kill(s) resumed from a checkpoint, 3 hit start-up" in report.verdict_line
    # Only the last kill (t=16) was followed by progress (t=18); the others' restarts were killed.
    assert report.restart_times == [pytest.approx(2.0)] and report.restart_seconds == pytest.approx(2.0)
    # The old arithmetic counted "now" for every restart killed at start-up: more than the run took.
    a = interrupter.attempts
    old = sum((after.resumed_at or clock.now) - before.killed_at
              for before, after in zip(a, a[1:], strict=False) if before.killed_at is not None)
    assert old > duration > report.restart_seconds
    assert report.lost_iterations == [2, 0, 0, 0]


def test_without_verify_an_effective_kill_is_resumed_and_a_mismatch_is_reported(tmp_path, clock):
    script = [attempt(1.0, (3.0, "step=7")), attempt(5.0, (6.0, "Resumed from x at optimizer step 5"))]
    report = run_drill_job(fake_submit(tmp_path, clock, script), "drill", 1,
                           interrupter=TrackingInterrupter())
    assert report.verdict == "RESUMED" and report.passed
    clock.now = 0.0
    report = run_drill_job(fake_submit(tmp_path, clock, script, drill_model=b"other"), "drill2", 1,
                           verify=True, interrupter=TrackingInterrupter())
    assert report.verdict == "MISMATCH" and not report.passed
    failed = run_drill_job(fake_submit(tmp_path, clock, script, status=JobStatus.FAILED), "drill3", 1,
                           interrupter=TrackingInterrupter())
    assert failed.verdict == "FAILED" and failed.verdict_line.startswith("FAILED: ")
