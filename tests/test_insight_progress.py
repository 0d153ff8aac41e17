"""Progress of a job: parsed from its log lines, shown live on a terminal (a fake terminal console
and a real pseudo-terminal), plain lines without one, and in `launch status` (local and cloud)."""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launcher.cli.main import main
from launcher.cli.render.live import JobScreen
from launcher.cli.render.progress import Progress, duration, progress_text
from launcher.context import Environment

REPO = Path(__file__).resolve().parent.parent
HEADER = "Training examples: 1437 | Batch size: 64 | Iterations per epoch: 23 | Total iterations: 69"
LINES = [
    "Hyperparameters: {\"batch_size\": 64, \"epochs\": 3, \"lr\": 0.01}",
    HEADER,
    "epoch=1 step=23 train_loss=0.94 val_loss=1.09 val_accuracy=0.76 lr=0.01 epoch_time_s=12.3 "
    "samples_per_sec=116.5",
    "Checkpoint saved: ckpt-000000023.pt (end of epoch 1)",
    "epoch=2 step=46 train_loss=0.10 val_loss=0.11 val_accuracy=0.97 lr=0.01 epoch_time_s=6.6 "
    "samples_per_sec=217.5",
]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but \t and \n


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _env(tty: bool) -> Environment:
    return Environment(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=tty, environ={},
                       config_path=Path("/nonexistent"), home=Path("/nonexistent"))


def _feed(screen: JobScreen, clock: Clock) -> None:
    for i, line in enumerate(LINES):
        clock.now = 10.0 * i  # the two metric lines arrive 20 s apart: 23 steps in 20 s
        screen.echo(line)
    clock.now = 45.0


# -- the tracker ----------------------------------------------------------------------------------


def test_progress_reads_the_header_and_gives_an_eta_from_the_observed_rate():
    p = Progress()
    for i, line in enumerate(LINES):
        p.feed(line, 10.0 * i)
    assert (p.total_steps, p.steps_per_epoch, p.epochs) == (69, 23, 3)
    assert p.step == 46 and p.current_epoch == 2 and p.samples_per_sec == 217.5
    assert p.rate() == pytest.approx(23 / 20)
    # 23 steps left at 1.15 steps/s = 20 s after the latest line (t=40); at t=45, 15 s remain.
    assert p.eta(45.0) == pytest.approx(15.0)
    assert progress_text(p, 45.0) == "epoch 2/3 · step 46/69 (67%) · 218 samples/s · ETA 0:15"
    assert p.metrics == {"train_loss": 0.10, "val_loss": 0.11, "val_accuracy": 0.97, "lr": 0.01}


def test_totals_from_the_record_and_accumulation_and_cap_headers():
    p = Progress.from_details({"total_steps": 36, "steps_per_epoch": 12, "epochs": 3})
    assert progress_text(p, 0.0) == "step 0/36"
    q = Progress()
    q.feed("Training examples: 1437 | Batch size: 32 | Iterations per epoch: 45 | "
           "Total iterations: 135", 0)
    q.feed("Gradient accumulation steps: 2 | Optimizer steps per epoch: 23 | Total optimizer steps: 69", 0)
    q.feed("Max steps: 50 | Total optimizer steps: 50 (of 69; training stops in epoch 3)", 0)
    assert (q.total_steps, q.steps_per_epoch, q.epochs) == (50, 23, 3)


def test_without_a_total_it_shows_the_step_and_the_elapsed_time():
    p = Progress()
    p.feed("starting", 100.0)
    p.feed("step=7 loss=0.5", 130.0)
    assert p.eta(190.0) is None
    assert progress_text(p, 190.0) == "step 7 · elapsed 1:30"


def test_a_restart_from_a_checkpoint_measures_the_rate_anew():
    p = Progress(total_steps=100)
    p.feed("step=40 loss=1", 0.0)
    p.feed("step=50 loss=1", 10.0)
    p.feed("step=45 loss=1", 100.0)  # killed and resumed from the checkpoint of step 45
    assert p.rate() is None
    p.feed("step=55 loss=1", 105.0)
    assert p.rate() == pytest.approx(2.0)


def test_duration_format():
    assert [duration(s) for s in (7, 65, 3723)] == ["0:07", "1:05", "1:02:03"]


# -- the display ----------------------------------------------------------------------------------


def test_live_display_on_a_fake_terminal_shows_step_total_and_eta():
    env, clock = _env(tty=True), Clock()
    screen = JobScreen(env, clock=clock, auto_refresh=False)
    screen.watch(Progress())
    _feed(screen, clock)
    screen.close()
    out = env.stdout.getvalue()
    assert "\x1b[" in out  # drawn and redrawn in place
    assert "step 46/69 (67%)" in out and "epoch 2/3" in out
    assert "ETA 0:15" in out
    assert "val_accuracy=0.97" in out  # the latest metrics under the bar
    for line in LINES:  # the script's lines scroll above the display
        assert line in out


def test_piped_output_is_the_script_lines_only_without_control_characters():
    env, clock = _env(tty=False), Clock()
    screen = JobScreen(env, clock=clock, auto_refresh=False)
    screen.watch(Progress())
    _feed(screen, clock)
    screen.close()
    out = env.stdout.getvalue()
    assert out == "".join(line + "\n" for line in LINES)
    assert not CONTROL.search(out)


# -- launch logs -f / launch status ---------------------------------------------------------------


def write_local_job(home: Path, name: str, *, status: str = "InProgress", lines: list[str] = LINES,
                    started_ago: float = 100.0, details: dict | None = None,
                    version: int | None = 1) -> Path:
    """A local job folder as the runner leaves it (record, log), without running anything."""
    job = home / "jobs" / name
    (job / "logs").mkdir(parents=True)
    start = (datetime.now(UTC) - timedelta(seconds=started_ago)).isoformat(timespec="milliseconds")
    record = {
        "name": name, "backend": "local", "status": status, "secondary_status": "Training",
        "created": start, "started": start, "ended": None,
        "transitions": [{"status": "Starting", "start": start, "message": ""},
                        {"status": "Training", "start": start, "message": ""}],
        "failure_reason": None, "exit_code": None, "metrics": {"train_loss": 0.94},
        "artifacts": {}, "instance_type": "ml.m5.xlarge", "instance_count": 1, "spot": False,
        "training_seconds": None, "billable_seconds": None, "deviations": [],
        "details": details if details is not None else {
            "job_dir": str(job), "total_steps": 69, "steps_per_epoch": 23, "epochs": 3},
    }
    if version is not None:
        record["format_version"] = version
    (job / "job.json").write_text(json.dumps(record))
    (job / "logs" / "algo-1.log").write_text("".join(line + "\n" for line in lines))
    # The runner of a job in progress is alive: this test process stands in for it.
    from launcher.backends.local.isolation import runner_token

    (job / "runner.pid").write_text(runner_token())
    return job


def set_status(job: Path, status: str) -> None:
    record = json.loads((job / "job.json").read_text())
    record["status"] = status
    tmp = job / ".job.tmp"
    tmp.write_text(json.dumps(record))
    os.replace(tmp, job / "job.json")


def test_status_of_a_running_local_job_gives_progress_and_eta(cli_env, tmp_path):
    write_local_job(tmp_path / "home", "running-job", started_ago=100.0)
    assert main(["status", "running-job"], cli_env) == 0
    out = cli_env.out
    assert "running-job  InProgress (Training)" in out
    # 46 steps in ~100 s since training started: 23 steps left take ~50 s.
    assert re.search(r"epoch 2/3 · step 46/69 \(67%\) · 218 samples/s · ETA 0:[45]\d", out)
    assert "val_accuracy=0.97" in out  # the log's latest values, newer than the record's
    cli_env.stdout = io.StringIO()
    assert main(["status", "running-job", "--json"], cli_env) == 0
    progress = json.loads(cli_env.out)["progress"]
    assert progress["step"] == 46 and progress["total_steps"] == 69 and progress["epochs"] == 3
    assert 40 < progress["eta_seconds"] < 60


def test_status_of_a_finished_job_has_no_progress(cli_env, tmp_path):
    write_local_job(tmp_path / "home", "done-job", status="Completed")
    assert main(["status", "done-job", "--json"], cli_env) == 0
    assert json.loads(cli_env.out)["progress"] is None


def _read_until(fd: int, proc: subprocess.Popen, wanted: str, limit_s: float = 60.0) -> str:
    """Read the terminal until `wanted` shows (the limit only keeps a broken test from hanging)."""
    out = b""
    deadline = time.monotonic() + limit_s
    while wanted.encode() not in out and time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out.decode(errors="replace")


def _drain(fd: int, proc: subprocess.Popen) -> str:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out.decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_logs_follow_in_a_pseudo_terminal_shows_the_live_progress(tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    job = write_local_job(tmp_path / "home", "watched", started_ago=100.0)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "LAUNCHER_HOME": str(tmp_path / "home"),
           "LAUNCHER_CONFIG": str(tmp_path / "config.toml"), "TERM": "xterm", "PYTHONPATH": str(REPO)}
    env.pop("COLUMNS", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from launcher.cli.main import run; run()", "logs", "watched", "-f"],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, close_fds=True)
    os.close(slave)
    try:
        seen = _read_until(master, proc, "step 46/69")
        set_status(job, "Completed")  # the follow loop ends on the next poll
        seen += _drain(master, proc)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert "\x1b[" in seen
    assert "step 46/69 (67%)" in seen and "ETA 0:" in seen
    assert "epoch=2 step=46" in seen


def test_logs_through_a_pipe_are_plain_lines(tmp_path):
    write_local_job(tmp_path / "home", "piped", status="Completed")
    env = {**os.environ, "LAUNCHER_HOME": str(tmp_path / "home"),
           "LAUNCHER_CONFIG": str(tmp_path / "config.toml"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", "from launcher.cli.main import run; run()", "logs", "piped", "-f"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout == "".join(line + "\n" for line in LINES)
    assert not CONTROL.search(proc.stdout)


def test_status_of_a_running_cloud_job_reads_its_log_stream(cli_env, aws):
    import boto3

    from tests.sagemaker_helpers import REGION, put_log_lines, set_job_state
    from tests.test_sagemaker_jobs import create_job

    create_job("cloud-running")
    started = datetime.now(UTC) - timedelta(seconds=100)
    set_job_state("cloud-running", "InProgress", "Training", secondary_status_transitions=[
        {"Status": s, "StartTime": started, "StatusMessage": ""} for s in ("Starting", "Training")])
    logs = boto3.client("logs", region_name=REGION)
    put_log_lines(logs, "cloud-running/algo-1-1700000000", LINES)
    assert main(["status", "cloud-running", "--cloud", "--region", REGION, "--json"], cli_env) == 0
    data = json.loads(cli_env.out)
    assert data["status"] == "InProgress"
    progress = data["progress"]
    assert (progress["step"], progress["total_steps"], progress["epoch"]) == (46, 69, 2)
    assert 40 < progress["eta_seconds"] < 60  # 46 steps in ~100 s: ~50 s for the last 23


def test_cloud_wait_on_a_terminal_shows_the_progress_under_the_log(cli_env, aws, monkeypatch,
                                                                   tmp_path):
    import boto3

    from tests.sagemaker_helpers import (
        REGION,
        base_args,
        install_capture,
        make_account,
        make_source,
        put_log_lines,
    )
    from tests.test_sagemaker_submit import train

    monkeypatch.setenv("COLUMNS", "100")
    make_account(boto3.client("s3", region_name=REGION))
    install_capture(monkeypatch)
    put_log_lines(boto3.client("logs", region_name=REGION), "waited-tty/algo-1-1700000000", LINES)
    cli_env.stdout_isatty = True
    assert train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge",
                                     "--name", "waited-tty", "--wait")) == 0
    out = cli_env.out
    assert "\x1b[" in out and "step 46/69 (67%)" in out  # the total from the log's header line
    assert out.index("epoch=2 step=46") < out.index("Completed")  # then the summary
