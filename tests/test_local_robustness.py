"""Edge cases of the local backend: signals, stuck handlers, limits, hosts, environment hygiene."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time

import pytest

from launcher.backends.local.process import HostCommand, ProcessGroup
from launcher.cli.main import main
from tests.test_local_container import make_source, read_seen
from tests.test_local_stop import FIXTURES, _record, _start


def test_sigterm_stops_the_job_like_ctrl_c(tmp_path):
    proc, job_dir = _start(tmp_path, "term-me")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    assert _record(job_dir)["status"] == "Stopped"


def test_stop_when_the_runner_died_kills_the_script_and_records_it(tmp_path, cli_env):
    proc, job_dir = _start(tmp_path, "orphan")
    child = int((job_dir / "pids").read_text())
    proc.kill()  # the runner dies; the script lives on in its own session
    proc.wait(timeout=10)
    cli_env.home = tmp_path / "home"
    os.environ["LAUNCHER_HOME"] = str(tmp_path / "home")
    assert main(["stop", "orphan", "--local"], cli_env) == 0
    assert _record(job_dir)["status"] == "Stopped"
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the orphaned script is still running")


def test_a_failing_output_handler_does_not_hang_the_script(tmp_path):
    def boom(host: str, line: str) -> None:
        raise BrokenPipeError

    group = ProcessGroup(boom)
    script = "import sys\nfor i in range(20000): print('x' * 100)\n"
    group.start([HostCommand("algo-1", [sys.executable, "-c", script], tmp_path, dict(os.environ),
                             tmp_path / "log.txt")])
    assert group.wait(timeout=60) == [0]
    assert len((tmp_path / "log.txt").read_text().splitlines()) == 20000


def test_max_run_is_enforced_like_sagemaker(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "sleeper.py", src / "sleeper.py")
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "sleeper.py",
               "--no-spot", "--max-run", "2", "--name", "too-long"], cli_env)
    desc = json.loads(cli_env.out)
    assert rc == 1 and desc["status"] == "Stopped"
    assert desc["secondary_status"] == "MaxRuntimeExceeded" and "max_run" in desc["failure_reason"]


@pytest.mark.slow  # ~60 s: torchrun's agents wait at their exit barrier before giving up
def test_the_failing_host_names_the_exit_code(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "fail_on_algo2.py", src / "fail_on_algo2.py")
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint",
               "fail_on_algo2.py", "--no-spot", "--hosts", "2", "--name", "two-hosts"], cli_env)
    desc = json.loads(cli_env.out)
    assert desc["status"] == "Failed"
    assert desc["exit_code"] not in (0, 247) and rc == desc["exit_code"]  # torchrun's, not the kill's


def test_host_distributed_variables_do_not_leak_and_user_env_is_kept(cli_env, tmp_path, monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("SM_MODEL_DIR", "/stale")
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--no-spot", "--checkpoint-s3-uri", "s3://bucket/ck/", "--dry-run",
               "--processes-per-host", "2", "--env", "OMP_NUM_THREADS=7"], cli_env)
    assert rc == 0
    env = json.loads(cli_env.out)["hosts"]["algo-1"]["environment"]
    assert env["OMP_NUM_THREADS"] == "7" and env["SM_MODEL_DIR"] != "/stale"
    assert "checkpointconfig" not in json.dumps(env)  # config files are written at staging


def test_checkpoint_uri_without_spot_still_checkpoints_like_the_cloud_request(cli_env, tmp_path, aws):
    import boto3

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bucket")
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--no-spot", "--checkpoint-s3-uri", "s3://bucket/ck/", "--name", "ck-no-spot"], cli_env)
    assert rc == 0, cli_env.err
    seen = read_seen(json.loads(cli_env.out))
    assert "checkpointconfig.json" in seen["config"]
    assert "MASTER_ADDR" not in seen["env"]


def test_shell_entrypoint_under_torchrun_is_refused(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "run.sh").write_text("echo hi\n")
    rc = main(["train", "--local", "--source-dir", str(src), "--entrypoint", "run.sh",
               "--processes-per-host", "2"], cli_env)
    assert rc == 2 and "runs a Python entry script" in cli_env.err


def test_bad_job_files_are_one_line_errors(cli_env, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("compute: [unclosed\n")
    assert main(["config", "-c", str(bad)], cli_env) == 2
    assert "cannot parse job file" in cli_env.err and "Traceback" not in cli_env.err
    assert main(["config", "-c", str(tmp_path)], cli_env) == 2
    hyphen = tmp_path / "job.toml"
    hyphen.write_text("[hyperparameters]\nwarmup-steps = 5\n")
    assert main(["config", "-c", str(hyphen)], cli_env) == 0


def test_output_that_is_a_file_is_refused_before_running(cli_env, tmp_path):
    (tmp_path / "out").write_text("")
    rc = main(["train", "--local", "--source-dir", str(make_source(tmp_path)), "--entrypoint",
               "probe.py", "--output", str(tmp_path / "out")], cli_env)
    assert rc == 2 and "is a file" in cli_env.err

