"""User scripts as the local runner runs them: the job's own interpreter for `.sh` entrypoints and
everything they spawn, failures that explain themselves, logs kept as written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import CapturedEnv


def _launch(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`launch` run by its path, without an activated venv: a PATH with only the system's bins."""
    launch = Path(sys.executable).parent / "launch"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LAUNCHER_HOME": str(tmp_path / "home"),
           "LAUNCHER_CONFIG": str(tmp_path / "none.toml"), "LANG": os.environ.get("LANG", "C.UTF-8")}
    return subprocess.run([str(launch), *argv], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_sh_entrypoint_runs_the_jobs_python_without_an_activated_venv(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "run.sh").write_text("#!/bin/sh\nset -e\n"
                                'python -c "import sys, numpy; print(\'py=\' + sys.executable)"\n')
    proc = _launch(tmp_path, "train", "--local", "--source-dir", str(src), "--entrypoint", "run.sh",
                   "--no-spot", "--name", "sh-job")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    printed = next(line for line in proc.stdout.splitlines() if line.startswith("py="))
    assert Path(printed.removeprefix("py=")).parent == Path(sys.executable).parent


def test_a_failing_script_shows_its_exception_and_keeps_its_traceback_indented(tmp_path: Path,
                                                                             cli_env: CapturedEnv) -> None:
    from launcher.cli.main import main

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("def load():\n    raise ValueError('no column named label')\n\nload()\n")
    argv = ["train", "--local", "--source-dir", str(src), "--no-spot", "--name", "boom", "--json"]
    rc = main(argv, cli_env)
    assert rc == 1
    desc = json.loads(cli_env.out)
    assert "ValueError: no column named label" in desc["details"]["last_traceback"]
    log = (cli_env.home / "jobs" / "boom" / "logs" / "algo-1.log").read_text()  # type: ignore[operator]
    assert '  File "' in log and "    raise ValueError" in log  # indentation as written


def test_a_worker_killed_by_a_signal_is_named_in_the_summary(tmp_path: Path, cli_env: CapturedEnv) -> None:
    """A worker that dies without a Python traceback (an abort in native code): torchrun's
    table names the rank and the signal, and the summary carries it."""
    from launcher.cli.main import main

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import os\nif os.environ['RANK'] == '1':\n    os.abort()\n")
    argv = ["train", "--local", "--source-dir", str(src), "--no-spot", "--name", "abort",
            "--processes-per-host", "2", "--json"]
    assert main(argv, cli_env) == 1
    tb = json.loads(cli_env.out)["details"]["last_traceback"]
    assert tb.splitlines()[-1].startswith("Root cause: rank 1 (local_rank: 1); exitcode -6"), tb
    assert "Signal 6 (SIGABRT)" in tb
