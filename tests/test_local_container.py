"""The emulated container as a script sees it, through `launch train --local` with a probe script."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from launcher.cli.main import main
from tests.conftest import CapturedEnv

FIXTURES = Path(__file__).parent / "fixtures"


def make_source(root: Path) -> Path:
    src = root / "src"
    src.mkdir()
    shutil.copy(FIXTURES / "probe.py", src / "probe.py")
    shutil.copy(FIXTURES / "metric_definitions.json", src / "metric_definitions.json")
    (src / "helper.py").write_text("X = 1\n")
    (src / ".env").write_text("SECRET=1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "probe.cpython-311.pyc").write_bytes(b"\0")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return src


def make_channel(root: Path, name: str, n: int = 12) -> Path:
    d = root / name
    d.mkdir()
    np.savez(d / f"{name}.npz", x=np.zeros((n, 3), np.float32), y=np.zeros(n, np.int64))
    return d


def read_seen(desc: dict) -> dict:
    with tarfile.open(desc["artifacts"]["model"]) as tar:
        member = tar.extractfile("seen.json")
        assert member is not None
        return json.loads(member.read())


def run_probe(cli_env: CapturedEnv, tmp_path: Path, *extra: str) -> tuple[int, dict]:
    src = make_source(tmp_path)
    train = make_channel(tmp_path, "train")
    val = make_channel(tmp_path, "val", 4)
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--data", f"train={train}", "--data", f"val={val}", "--name", "probe-job", *extra],
              cli_env)
    return rc, json.loads(cli_env.out)


def test_environment_argv_and_tree_match_the_modeltrainer_contract(cli_env, tmp_path):
    job_file = tmp_path / "job.toml"
    job_file.write_text('[extra_hyperparameters]\nstr_ten = "10"\nzeros = "007"\nquoted = \'"x"\'\n')
    rc, desc = run_probe(
        cli_env, tmp_path, "-c", str(job_file),
        "--hp", "epochs=10", "--hp", "lr-rate=0.1", "--hp", "amp_flag=true",
        "--hp", "layers=[64,128]", "--hp", 'opt={"eps":1e-8}', "--hp", "nothing=null",
        "--hp", "arch=resnet 50", "--hp", "home=$HOME", "--hp", "empty=", "--hp", "b=1e-5",
        "--env", "CUSTOM_FLAG=yes",
    )
    assert rc == 0, cli_env.err
    assert desc["status"] == "Completed"
    seen = read_seen(desc)
    env = seen["env"]

    # argv: insertion order (the job file's extras, then --hp, keys as given), one token each.
    argv = seen["argv"]
    pairs = dict(zip(argv[::2], argv[1::2], strict=True))
    assert argv[:4] == ["--str_ten", "10", "--zeros", "007"] and pairs["--epochs"] == "10"
    assert pairs["--str_ten"] == "10" and pairs["--zeros"] == "007" and pairs["--quoted"] == "x"
    assert pairs["--lr-rate"] == "0.1" and pairs["--amp_flag"] == "true"
    assert pairs["--layers"] == "[64, 128]" and pairs["--opt"] == '{"eps": 1e-08}'
    assert pairs["--nothing"] == "null" and pairs["--arch"] == "resnet 50"
    assert pairs["--home"] == "$HOME" and pairs["--empty"] == "" and pairs["--b"] == "1e-05"

    # SM_HPS: decoded, JSON-looking strings coerced, default json.dumps spacing.
    hps = json.loads(env["SM_HPS"])
    assert hps["epochs"] == 10 and hps["str_ten"] == 10 and hps["zeros"] == "007"
    assert hps["quoted"] == "x" and hps["layers"] == [64, 128] and hps["nothing"] is None
    assert '"layers": [64, 128]' in env["SM_HPS"]
    assert env["SM_HP_LR_RATE"] == "0.1" and env["SM_HP_AMP_FLAG"] == "true"
    assert env["SM_HP_LAYERS"] == "[64, 128]"

    # Config files in the real formats; hyperparameters.json holds the sent (encoded) strings.
    cfg = seen["config"]
    assert cfg["hyperparameters.json"]["layers"] == "[64, 128]"
    assert cfg["hyperparameters.json"]["str_ten"] == "10"
    assert cfg["resourceconfig.json"]["current_group_name"] == "homogeneousCluster"
    assert list(cfg["inputdataconfig.json"]) == ["train", "val", "code", "sm_drivers"]
    assert "checkpointconfig.json" in cfg  # spot is on by default, as for cloud jobs

    # Channels, code dir as cwd, variables.
    assert json.loads(env["SM_CHANNELS"]) == ["train", "val", "code", "sm_drivers"]
    assert seen["channels"]["train"] == ["train.npz"]
    assert seen["cwd"] == env["SM_SOURCE_DIR"] == env["SM_CHANNEL_CODE"] == seen["sys_path0"]
    assert env["SM_ENTRY_SCRIPT"] == "probe.py"
    assert env["TRAINING_JOB_NAME"] == "probe-job"
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST_RANK"] == "0"
    assert env["PYTHONUNBUFFERED"] == "1" and "PYTHONPATH" not in env
    assert env["SM_OUTPUT_FAILURE"].endswith("/output/failure")
    assert len(json.loads(env["SM_TRAINING_ENV"])) == 20
    assert "SM_DISTRIBUTED_CONFIG" not in env  # single process: no torchrun driver
    # Packaging excluded secrets, VCS and caches.
    assert seen["code_files"] == ["helper.py", "metric_definitions.json", "probe.py"]
    # Metrics parsed from the output with the source dir's definitions (negative, exponent).
    assert desc["metrics"] == {"loss": -0.25, "accuracy": 1e-05}
    assert Path(desc["artifacts"]["output"]).name == "output.tar.gz"
    assert desc["deviations"], "the job must record where the emulation differs"


def test_no_spot_means_no_checkpoint_config(cli_env, tmp_path):
    rc, desc = run_probe(cli_env, tmp_path, "--no-spot")
    assert rc == 0
    assert "checkpointconfig.json" not in read_seen(desc)["config"]


def test_failing_script_exit_code_and_driver_failure_file(cli_env, tmp_path):
    rc, desc = run_probe(cli_env, tmp_path, "--env", "CUSTOM_EXIT=3")
    assert rc == 3
    assert desc["status"] == "Failed" and desc["exit_code"] == 3
    assert desc["failure_reason"].startswith("AlgorithmError: CalledProcessError: Command")
    assert "returned non-zero exit status 3." in desc["failure_reason"]
    # The stripped log keeps the traceback lines (without their indentation).
    rc = main(["logs", "probe-job"], cli_env)
    assert rc == 0 and "File probe.py" in cli_env.out and "ValueError: boom" in cli_env.out


def test_script_written_failure_file_wins(cli_env, tmp_path):
    rc, desc = run_probe(cli_env, tmp_path, "--env", "CUSTOM_EXIT=2",
                         "--env", "CUSTOM_FAILURE=data channel empty: add files")
    assert rc == 2
    assert desc["failure_reason"] == "AlgorithmError: data channel empty: add files"


def test_job_commands_read_the_local_record(cli_env, tmp_path):
    rc, _ = run_probe(cli_env, tmp_path)
    assert rc == 0
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(["status", "probe-job", "--json"], cli_env) == 0
    status = json.loads(cli_env.out)
    assert status["status"] == "Completed" and status["backend"] == "local"
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(["list", "--local", "--json"], cli_env) == 0
    assert [j["name"] for j in json.loads(cli_env.out)] == ["probe-job"]
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(["download", "probe-job", "--to", str(tmp_path / "dl"), "--extract"], cli_env) == 0
    assert (tmp_path / "dl" / "model" / "seen.json").exists()
    assert (tmp_path / "dl" / "output" / "extra.txt").read_text() == "output data"


def test_duplicate_job_name_is_refused_before_running(cli_env, tmp_path):
    rc, _ = run_probe(cli_env, tmp_path)
    assert rc == 0
    other = tmp_path / "again"
    other.mkdir()
    rc2, _ = 0, None
    rc2 = main(["train", "--local", "--source-dir", str(make_source(other)), "--entrypoint", "probe.py",
                "--name", "probe-job"], cli_env)
    assert rc2 == 2 and "already exists" in cli_env.err


@pytest.mark.parametrize("bad", [
    ["--hp", "name=it's"],
    ["--data", "code=/tmp"],
    ["--max-wait", "10", "--max-run", "100"],
    ["--instance", "ml.p3.2xlarg"],
    ["--data", "train=s3://"],
    ["--name", "bad_name!"],
    ["--data", "train=/does/not/exist"],
])
def test_bad_input_fails_before_a_job_exists(cli_env, tmp_path, bad):
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--source-dir", str(src), "--entrypoint", "probe.py", *bad], cli_env)
    assert rc == 2, cli_env.err
    assert cli_env.err.startswith("error: ") and "Traceback" not in cli_env.err
    assert not (cli_env.home / "jobs").exists() or not any((cli_env.home / "jobs").iterdir())


def test_requirements_are_installed_only_when_present_or_named(cli_env, tmp_path):
    src = make_source(tmp_path)
    (src / "requirements.txt").write_text("numpy\n")  # already satisfied: no download
    rc = main(["train", "--local", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--name", "with-reqs", "--no-spot"], cli_env)
    assert rc == 0, cli_env.err
    assert "requirements.txt: nothing to install beyond the launcher's packages" in cli_env.err
    rc = main(["train", "--local", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--name", "missing-reqs", "--requirements", "nope.txt"], cli_env)
    assert rc == 2 and "requirements file nope.txt not found in" in cli_env.err


def test_local_dry_run_shows_the_container_and_writes_nothing(cli_env, tmp_path):
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--dry-run", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--name", "dry", "--hp", "layers=[1,2]"], cli_env)
    assert rc == 0, cli_env.err
    preview = json.loads(cli_env.out)
    host = preview["hosts"]["algo-1"]
    assert host["argv"][1:] == ["probe.py", "--layers", "[1, 2]"]
    assert host["environment"]["TRAINING_JOB_NAME"] == "dry"
    assert host["environment"]["SM_HP_LAYERS"] == "[1, 2]"
    assert not (cli_env.home / "jobs").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "--hosts", "2"], "--hosts rehearses locally"),
    (["train", "--verify"], "--verify rehearses locally"),
    (["train", "--local", "--wait"], "--wait is for cloud jobs"),
])
def test_flags_of_the_other_mode_are_refused(cli_env, argv, message):
    assert main(argv, cli_env) == 2
    assert message in cli_env.err
