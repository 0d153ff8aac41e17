"""Stopping local jobs: `launch stop` from another process, and Ctrl-C in the foreground."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from launcher.cli.main import main

FIXTURES = Path(__file__).parent / "fixtures"
LAUNCH = [sys.executable, "-c", "from launcher.cli.main import run; run()"]


def _start(tmp_path: Path, name: str) -> tuple[subprocess.Popen[str], Path]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "sleeper.py", src / "sleeper.py")
    env = {**os.environ, "LAUNCHER_HOME": str(tmp_path / "home"),
           "LAUNCHER_CONFIG": str(tmp_path / "config.toml")}
    proc = subprocess.Popen([*LAUNCH, "train", "--local", "--source-dir", str(src), "--entrypoint",
                             "sleeper.py", "--name", name, "--no-spot"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # bounded: the script prints "ready" at once or the test times out
        if line.startswith("ready"):
            break
    return proc, tmp_path / "home" / "jobs" / name


def _record(job_dir: Path) -> dict:
    return json.loads((job_dir / "job.json").read_text())


def test_launch_stop_kills_the_job_and_records_stopped(tmp_path, cli_env, monkeypatch):
    proc, job_dir = _start(tmp_path, "stop-me")
    monkeypatch.setenv("LAUNCHER_HOME", str(tmp_path / "home"))
    cli_env.home = tmp_path / "home"
    t0 = time.monotonic()
    assert main(["stop", "stop-me", "--local"], cli_env) == 0
    assert time.monotonic() - t0 < 10
    assert "Stopped" in cli_env.out
    proc.wait(timeout=30)
    record = _record(job_dir)
    assert record["status"] == "Stopped" and record["failure_reason"] == "stop requested"
    assert "model" in record["artifacts"]  # what the script wrote is kept, as SageMaker does


def test_ctrl_c_stops_cleanly_with_exit_130(tmp_path):
    proc, job_dir = _start(tmp_path, "interrupt-me")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    record = _record(job_dir)
    assert record["status"] == "Stopped"
    assert [t["status"] for t in record["transitions"]][-1] == "Stopped"
    assert not (job_dir / "pids").exists()
    assert "model" in record["artifacts"]
