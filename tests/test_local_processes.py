"""A local job owns its processes: a child that calls `setsid` ends with the job (stop, --max-run,
the launcher killed by SIGKILL), a job whose launcher died is recorded Failed, and its name runs again
from its checkpoints. Waits are bounded loops on what happened, never on how long it took."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from launcher.backends.local.isolation import namespace_wrapper
from launcher.cli.main import main
from tests.conftest import CapturedEnv

FIXTURES = Path(__file__).parent / "fixtures"
LAUNCH = [sys.executable, "-c", "from launcher.cli.main import run; run()"]

needs_namespaces = pytest.mark.skipif(namespace_wrapper() is None,
                                      reason="this machine allows no PID namespace (the fallback is tested)")


def _tokened(token: str) -> list[int]:
    """Host PIDs of processes whose argv holds `token`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _until(condition: object, attempts: int = 300) -> bool:
    for _ in range(attempts):  # bounded: 300 × 0.1 s at most
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _env(tmp_path: Path, token: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "LAUNCHER_HOME": str(tmp_path / "home"),
            "LAUNCHER_CONFIG": str(tmp_path / "config.toml"), "ESCAPER_TOKEN": token, **extra}


def _src(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / "escaper.py", src / "escaper.py")
    return src


def _start(tmp_path: Path, name: str, token: str, *extra: str, ready: bool = True) -> subprocess.Popen[str]:
    argv = [*LAUNCH, "train", "--local", "--source-dir", str(_src(tmp_path)), "--entrypoint",
            "escaper.py", "--name", name, "--env", f"ESCAPER_TOKEN={token}", *extra]
    proc = subprocess.Popen(argv, env=_env(tmp_path, token), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout if ready else ():  # "ready" once its setsid grandchild runs
        if line.startswith("ready"):
            break
    return proc


def _kill_leftovers(token: str) -> None:
    for pid in _tokened(token):
        os.kill(pid, signal.SIGKILL)


@needs_namespaces
def test_stop_ends_a_setsid_child(tmp_path: Path, cli_env: CapturedEnv,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    token = f"escaper-{uuid.uuid4().hex}"
    proc = _start(tmp_path, "stop-setsid", token)
    try:
        assert _tokened(token), "the grandchild should run"
        monkeypatch.setenv("LAUNCHER_HOME", str(tmp_path / "home"))
        cli_env.home = tmp_path / "home"
        assert main(["stop", "stop-setsid", "--local"], cli_env) == 0
        proc.wait(timeout=60)
        assert _until(lambda: not _tokened(token)), "the setsid grandchild outlived the stop"
    finally:
        _kill_leftovers(token)


@needs_namespaces
def test_max_run_ends_a_setsid_child(tmp_path: Path) -> None:
    token = f"escaper-{uuid.uuid4().hex}"
    proc = _start(tmp_path, "maxrun-setsid", token, "--max-run", "2", "--json", ready=False)
    try:
        out, _ = proc.communicate(timeout=120)
        record = json.loads(out)
        assert (record["status"], record["secondary_status"]) == ("Stopped", "MaxRuntimeExceeded")
        log = Path(record["details"]["job_dir"]) / "logs" / "algo-1.log"
        assert "ready step=7" in log.read_text()  # the grandchild had started before the deadline
        assert _until(lambda: not _tokened(token)), "the setsid grandchild outlived --max-run"
    finally:
        _kill_leftovers(token)


@needs_namespaces
def test_sigkill_of_launch_ends_the_job_and_the_name_runs_again_from_its_checkpoint(
        tmp_path: Path, cli_env: CapturedEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    token = f"escaper-{uuid.uuid4().hex}"
    job_dir = tmp_path / "home" / "jobs" / "killed-launcher"
    proc = _start(tmp_path, "killed-launcher", token)
    try:
        # The checkpoint reached its mirror (the stand-in for the checkpoint S3 URI) before the kill.
        assert _until(lambda: (job_dir / "checkpoints-s3" / "ckpt.txt").exists())
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert _until(lambda: not _tokened(token)), "the job's processes outlived their launcher"
        monkeypatch.setenv("LAUNCHER_HOME", str(tmp_path / "home"))
        cli_env.home = tmp_path / "home"
        assert main(["status", "killed-launcher", "--local", "--json"], cli_env) == 0
        status = json.loads(cli_env.out)
        assert status["status"] == "Failed" and status["failure_reason"].startswith("launcher exited")
        rerun = subprocess.run([*LAUNCH, "train", "--local", "--source-dir", str(_src(tmp_path)),
                                "--entrypoint", "escaper.py", "--name", "killed-launcher", "--json"],
                               env=_env(tmp_path, token), capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["status"] == "Completed"
        assert "resumed from step 7" in (job_dir / "logs" / "algo-1.log").read_text()
    finally:
        _kill_leftovers(token)


def test_the_fallback_says_so(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('ok')\n")
    proc = subprocess.run([*LAUNCH, "train", "--local", "--source-dir", str(src), "--name", "fallback",
                           "--json"], env=_env(tmp_path, "unused", LAUNCHER_PID_NAMESPACE="0"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no PID namespace here" in proc.stderr
    assert json.loads(proc.stdout)["details"]["processes"] == "a session per host"


@needs_namespaces
def test_by_default_each_host_gets_a_pid_namespace(cli_env: CapturedEnv, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import os\nprint(f'pid={os.getpid()}')\n")
    assert main(["train", "--local", "--source-dir", str(src), "--name", "ns", "--json"], cli_env) == 0
    assert json.loads(cli_env.out)["details"]["processes"] == "a PID namespace per host"
    assert cli_env.home is not None
    assert "pid=1" in (cli_env.home / "jobs" / "ns" / "logs" / "algo-1.log").read_text()
