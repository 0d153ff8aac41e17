"""`launch tune --local`: a real search on the bundled digits, pruning, Ctrl-C and resume after a
kill, and the job verbs on a local tuning job.

Every trial is a real local job run by a worker process. The control tests use a tiny script (written
per test) that logs `epoch=N score=X` lines and blocks where the test needs a trial to be running;
each run records itself in a file (created with O_EXCL), so the test counts runs exactly. Waits are
bounded polls on files the tuner writes, never timed sleeps.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from launcher.cli.main import main
from tests.conftest import REPO, CapturedEnv

pytestmark = pytest.mark.slow

SCRIPT = '''
import os, pathlib, sys, time
state = pathlib.Path(os.environ["TUNE_TEST_DIR"])
mode = os.environ["TUNE_TEST_MODE"]
i = 1
while True:
    try:
        fd = os.open(state / f"run-{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        break
    except FileExistsError:
        i += 1
os.write(fd, os.environ.get("TRAINING_JOB_NAME", "?").encode())
os.close(fd)

def say(epoch, score):
    print(f"epoch={epoch} score={score}", flush=True)

if mode == "prune":      # runs 1 and 2 score well and end; run 3 scores badly, then blocks
    good = i <= 2
    for epoch in (1, 2, 3):
        say(epoch, 1.0 if good else 0.1)
    if not good:
        time.sleep(600)
elif mode == "block":    # run 3 blocks while the file `block` exists
    say(1, 0.5 + i / 100)
    if i == 3 and (state / "block").exists():
        time.sleep(600)
else:                    # hang: every run reports once, then blocks
    say(1, 0.5)
    time.sleep(600)
'''

BASE_FLAGS = ["--entrypoint", "train.py", "--metric", r"score=\bscore=([0-9.]+)", "--metric",
              r"epoch=\bepoch=([0-9]+)", "--objective", "score", "--range", "x=float:0:1",
              "--strategy", "random", "--max-run", "120"]


def fresh(env: CapturedEnv) -> CapturedEnv:
    return CapturedEnv(stdout=io.StringIO(), stderr=io.StringIO(), environ=env.environ, cwd=env.cwd,
                       stdout_isatty=False, config_path=env.config_path, home=env.home)


def script_dir(tmp_path: Path) -> tuple[Path, Path]:
    src, state = tmp_path / "src", tmp_path / "state"
    src.mkdir()
    state.mkdir()
    (src / "train.py").write_text(SCRIPT)
    return src, state


def flags(src: Path, state: Path, mode: str, *extra: str) -> list[str]:
    return ["tune", "--local", "--source-dir", str(src), *BASE_FLAGS, "--env", f"TUNE_TEST_DIR={state}",
            "--env", f"TUNE_TEST_MODE={mode}", *extra]


def runs(state: Path) -> list[str]:
    """The job name of every run of the script, in order."""
    found = sorted(state.glob("run-*"), key=lambda p: int(p.name.split("-")[1]))
    return [p.read_text() for p in found]


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 120,
             process: subprocess.Popen[str] | None = None) -> None:
    """Poll `condition` (bounded); a process that ends meanwhile fails the test with its output."""
    deadline = time.monotonic() + seconds
    while not condition():
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the tuner ended ({process.returncode}) before {what}:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def logged(jobs: Path, name: str) -> bool:
    log = jobs / name / "logs" / "algo-1.log"
    return log.is_file() and "score=" in log.read_text()


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment holds `marker` (the test's own state dir): the trials' processes."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def spawn(env: CapturedEnv, argv: list[str]) -> subprocess.Popen[str]:
    child = {**os.environ, "LAUNCHER_HOME": str(env.home), "LAUNCHER_CONFIG": str(env.config_path),
             "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", "from launcher.cli.main import run; run()", *argv],
                            cwd=env.cwd, env=child, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def record(env: CapturedEnv, name: str) -> dict[str, Any]:
    assert env.home is not None
    data: dict[str, Any] = json.loads((env.home / "jobs" / name / "tuning.json").read_text())
    return data


def job_record(env: CapturedEnv, name: str) -> dict[str, Any]:
    assert env.home is not None
    data: dict[str, Any] = json.loads((env.home / "jobs" / name / "job.json").read_text())
    return data


def test_digits_search_completes_and_the_verbs_read_it(cli_env: CapturedEnv, tmp_path: Path) -> None:
    code = main(["tune", "--local", "--epochs", "1", "--objective", "val_accuracy",
                 "--range", "lr=log:0.001:0.1", "--range", "batch_size=cat:32,64", "--max-trials", "4",
                 "--max-parallel", "2", "--tune-name", "digits", "--tune-seed", "0", "--json"], cli_env)
    assert code == 0, cli_env.err
    desc = json.loads(cli_env.out)
    assert desc["status"] == "Completed"
    assert [t["name"] for t in desc["trials"]] == [f"digits-00{i}" for i in range(1, 5)]
    assert desc["details"]["contract"] == "classic"
    for trial in desc["trials"]:
        job = job_record(cli_env, trial["name"])
        assert trial["status"] == job["status"] == "Completed"
        assert trial["objective"] == job["metrics"]["val_accuracy"]
        sent = job["details"]["hyperparameters"]
        assert float(sent["lr"]) == pytest.approx(trial["hyperparameters"]["lr"])
        assert int(sent["batch_size"]) == trial["hyperparameters"]["batch_size"]
        assert Path(job["artifacts"]["model"]).is_file()
    assert "▶ digits-001" in cli_env.err and "■ digits-004" in cli_env.err  # progress, JSON kept clean
    best = max(desc["trials"], key=lambda t: t["objective"])

    env = fresh(cli_env)
    assert main(["status", "digits", "--json"], env) == 0
    status = json.loads(env.out)
    assert status["kind"] == "tuning" and status["trials"] == {"Completed": 4}
    assert status["best"]["name"] == best["name"]

    env = fresh(cli_env)
    assert main(["describe", "digits", "--plot", "fig.png"], env) == 0, env.err
    assert (tmp_path / "fig.png").stat().st_size > 0
    ranked = [line.split()[1] for line in env.out.splitlines()
              if line.split()[:1] in (["1"], ["2"], ["3"], ["4"])]
    assert ranked == [t["name"] for t in sorted(desc["trials"], key=lambda t: (-t["objective"], t["number"]))]
    flat = "".join(env.out.split())  # long paths wrap at the terminal's width
    assert f"besttrial{best['name']}(val_accuracy=" in flat
    assert job_record(cli_env, best["name"])["artifacts"]["model"] in flat

    env = fresh(cli_env)
    assert main(["list", "--local", "--json"], env) == 0
    rows = {row["name"]: row for row in json.loads(env.out)}
    assert rows["digits"]["backend"] == "local (tuning)" and rows["digits"]["details"]["trials"] == 4
    assert "digits-001" in rows  # the trials are ordinary local jobs

    env = fresh(cli_env)
    assert main(["stop", "digits"], env) == 0 and env.out.strip() == "digits: Completed"


def test_a_pruned_trial_is_stopped_like_launch_stop(cli_env: CapturedEnv, tmp_path: Path) -> None:
    src, state = script_dir(tmp_path)
    code = main(flags(src, state, "prune", "--max-trials", "3", "--early-stopping", "auto",
                      "--tune-name", "pr", "--json"), cli_env)
    assert code == 0, cli_env.err
    desc = json.loads(cli_env.out)
    assert [t["status"] for t in desc["trials"]] == ["Completed", "Completed", "Pruned"]
    assert runs(state) == ["pr-001", "pr-002", "pr-003"]
    pruned = job_record(cli_env, "pr-003")
    assert pruned["status"] == "Stopped" and pruned["failure_reason"] == "stop requested"
    assert desc["trials"][2]["objective"] == 0.1
    assert "✂ pr-003" in cli_env.err


def test_ctrl_c_stops_every_trial_and_leaves_no_process(cli_env: CapturedEnv, tmp_path: Path) -> None:
    src, state = script_dir(tmp_path)
    assert cli_env.home is not None
    jobs = cli_env.home / "jobs"
    tuner = spawn(cli_env, flags(src, state, "hang", "--max-trials", "4", "--max-parallel", "2",
                                 "--tune-name", "cc"))
    try:
        wait_for("two running trials", lambda: logged(jobs, "cc-001") and logged(jobs, "cc-002"),
                 process=tuner)
        tuner.send_signal(signal.SIGINT)
        out, err = tuner.communicate(timeout=120)
    finally:
        tuner.kill()
    assert tuner.returncode == 130, err
    assert record(cli_env, "cc")["status"] == "Stopped"
    assert [t["status"] for t in record(cli_env, "cc")["trials"]] == ["Stopped", "Stopped"]
    for name in ("cc-001", "cc-002"):
        assert job_record(cli_env, name)["status"] == "Stopped"
    assert processes_with(str(state)) == []
    assert len(runs(state)) == 2


def test_resume_after_a_kill_repeats_no_finished_trial_and_reruns_the_running_one_once(
        cli_env: CapturedEnv, tmp_path: Path) -> None:
    src, state = script_dir(tmp_path)
    (state / "block").write_text("")
    assert cli_env.home is not None
    jobs = cli_env.home / "jobs"
    argv = flags(src, state, "block", "--max-trials", "4", "--tune-name", "rs", "--tune-seed", "3")
    tuner = spawn(cli_env, argv)
    try:
        wait_for("the third trial to run", lambda: logged(jobs, "rs-003"), process=tuner)
        tuner.send_signal(signal.SIGKILL)
        tuner.wait(timeout=60)
    finally:
        tuner.kill()
    wait_for("the trial's processes to die with their tuner", lambda: processes_with(str(state)) == [], 30)
    env = fresh(cli_env)
    assert main(["status", "rs", "--json"], env) == 0
    settled = json.loads(env.out)
    assert settled["status"] == "Stopped" and "--tune-name rs" in settled["failure_reason"]

    (state / "block").unlink()
    env = fresh(cli_env)
    assert main([*argv, "--json"], env) == 0, env.err
    desc = json.loads(env.out)
    trials = {t["name"]: t for t in desc["trials"]}
    assert runs(state) == ["rs-001", "rs-002", "rs-003", "rs-004", "rs-005"]
    assert [trials[n]["status"] for n in sorted(trials)] == ["Completed", "Completed", "Stopped", "Completed",
                                                             "Completed"]
    assert trials["rs-003"]["failure_reason"].endswith("re-run as rs-004")
    assert trials["rs-004"]["hyperparameters"] == trials["rs-003"]["hyperparameters"]
    assert "resuming rs: 2 trial(s) finished, 1 interrupted" in env.err

    env = fresh(cli_env)  # a finished tuning job runs nothing more
    assert main([*argv, "--json"], env) == 0
    assert json.loads(env.out)["status"] == "Completed" and len(runs(state)) == 5
