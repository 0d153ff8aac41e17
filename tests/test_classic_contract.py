"""The classic Script Mode contract (docs/classic.md): what the image's training toolkit gives a
script, emulated locally and requested in the cloud; dependency directories; the `--classic` hint.

tests/fixtures/toolkit_record.json is a record of the real toolkits running a probe on a tree the
launcher wrote (sagemaker-training 5.1.4, sagemaker-pytorch-training 3.0.0; re-record with
`python -m tests.classic_reference PYTHON`); the slow test makes that record again from PyPI.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from launcher.backends.local import container as ct
from launcher.cli.main import build_parser, main
from launcher.errors import PackagingError, SpecError
from launcher.job import classic_contract as cc
from launcher.job.packaging import package_source
from launcher.job.script_scan import contract_only_names
from tests import classic_reference as ref
from tests.sagemaker_helpers import BUCKET, REGION, base_args, install_capture, make_account, s3_objects

# Ours and not the reference run's, and why: the platform's and the image's variables (the reference
# run had no platform; PWD is the shell's), and SM_DLC_TORCH_VERSION, which the PyTorch toolkit sets
# only where torch imports (the DLC; this Python) and the reference venv has no torch.
PLATFORM = {"TRAINING_JOB_ARN", "PYTHONUNBUFFERED", "PWD"}
TORCH = {"SM_DLC_TORCH_VERSION"}


def emulated(root: Path, *, distributed: bool = False) -> tuple[dict[str, str], list[str], Path]:
    """(environment, argv, cwd) the launcher gives the reference case's script, normalised."""
    cfg = ref.reference_case(root, distributed=distributed)
    layout = ref.prepare_tree(root, cfg)
    launch = ref._toolkit_env(layout)
    env = ct.container_environment(layout, cfg, launch)
    env = {k: "<launch>" if launch.get(k) == v else v for k, v in env.items()}
    argv = ct.entry_command(sys.executable, cfg)
    return ref.normalise(env, root), argv, ct.code_dir(layout, cfg)


def compare_with_record(record: dict[str, Any], tmp: Path) -> None:
    run = record["run"]
    ours, argv, cwd = emulated(tmp / "run")
    real = run["env"]
    launch_only = set(ref.RUN_ONLY)
    assert set(ours) - set(real) <= PLATFORM | TORCH, "variables the real classic job would not have"
    assert set(real) - set(ours) - launch_only == set(), "variables the real classic job has"
    for name in sorted((set(ours) & set(real)) - {"PYTHONPATH"}):
        assert ours[name] == real[name], name
    assert ours["PYTHONPATH"].split(":")[0] == real["PYTHONPATH"]  # the code dir first
    training_env = json.loads(ours["SM_TRAINING_ENV"])
    assert sorted(training_env) == sorted(json.loads(real["SM_TRAINING_ENV"]))
    assert argv[1:] == ["classic_probe.py", *run["argv"]]  # sys.argv; the toolkit adds `--` before it
    assert str(cwd).replace(str(tmp / "run"), "<root>") == run["cwd"] == run["sys_path0"]
    dist_env, _, _ = emulated(tmp / "dist", distributed=True)
    real_vars = record["distributed"]["env_vars"]
    assert {k: v for k, v in dist_env.items() if k.startswith("SM_") and k not in TORCH} == real_vars


def test_the_emulation_matches_the_recorded_toolkit(tmp_path):
    record = json.loads(ref.RECORD.read_text())
    assert (record["sagemaker_training"], record["sagemaker_pytorch_training"]) == ("5.1.4", "3.0.0")
    assert record["run"]["success_file"] is True
    compare_with_record(record, tmp_path)


def test_argv_and_variable_rendering_follow_the_toolkit():
    record = json.loads(ref.RECORD.read_text())
    assert cc.to_cmd_args(ref.USER_HPS) == record["run"]["argv"]
    assert cc.to_cmd_args({"b": True, "x": None, "d": {"z": 1, "a": "q"}, "lr": 1e-05}) == [
        "-b", "True", "-d", "a=q,z=1", "--lr", "1e-05", "-x", ""]
    assert cc.env_value({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}' and cc.env_value(None) == ""
    encoded = cc.encode({"opt": "adam", "n": 3}, cc.framework_hyperparameters(
        program="t.py", submit_directory="s3://b/k/sourcedir.tar.gz", region="eu-west-1", job_name="j"))
    assert encoded["opt"] == '"adam"' and encoded["n"] == "3" and encoded[cc.PROGRAM] == '"t.py"'
    with_mpi = {**encoded, "sagemaker_mpi_enabled": "true"}
    assert cc.user_hyperparameters(with_mpi) == {"opt": "adam", "n": 3}
    assert cc.framework_parameters(with_mpi) == {"sagemaker_mpi_enabled": True}
    with pytest.raises(ValueError, match="reserved"):
        cc.encode({cc.PROGRAM: "x.py"})


@pytest.mark.slow
def test_the_real_toolkit_from_pypi_agrees(tmp_path):
    """Installs sagemaker-training and sagemaker-pytorch-training into a fresh venv and records again."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    proc = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                           "sagemaker-training==5.1.4", "sagemaker-pytorch-training==3.0.0"],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.splitlines() if x.strip()] or ["(no output)"]
        pytest.skip(f"pip could not install the reference toolkits: {lines[-1].strip()}")
    record = ref.record(python, tmp_path / "work")
    compare_with_record(record, tmp_path / "ours")


# -- local runs ---------------------------------------------------------------------------------

V2_SCRIPT = '''"""An SDK v2-era script: argparse over the toolkit's argv, the toolkit's variables."""
import argparse, json, os, sys
from mylib.helpers import VALUE

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int)
p.add_argument("--optimizer")
p.add_argument("--amp")
p.add_argument("-k", type=int)
p.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
args = p.parse_args()
inter = os.environ["SM_OUTPUT_INTERMEDIATE_DIR"]
open(os.path.join(inter, "progress.txt"), "w").write("half")
seen = {"args": vars(args), "argv": sys.argv[1:], "module_dir": os.environ["SM_MODULE_DIR"],
        "user_args": json.loads(os.environ["SM_USER_ARGS"]), "cwd": os.getcwd(), "lib": VALUE,
        "env": sorted(os.environ), "hps": json.loads(os.environ["SM_HPS"]),
        "config": json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "hyperparameters.json"))),
        "inputs": json.loads(os.environ["SM_INPUT_DATA_CONFIG"]), "files": sorted(os.listdir("."))}
open(os.path.join(args.model_dir, "seen.json"), "w").write(json.dumps(seen))
'''


def v2_project(root: Path) -> tuple[Path, Path]:
    src = root / "v2src"
    src.mkdir()
    (src / "train.py").write_text(V2_SCRIPT)
    lib = root / "deps" / "mylib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("")
    (lib / "helpers.py").write_text("VALUE = 42\n")
    return src, lib


def seen_of(desc: dict[str, Any]) -> dict[str, Any]:
    with tarfile.open(desc["artifacts"]["model"]) as tar:
        member = tar.extractfile("seen.json")
        assert member is not None
        seen: dict[str, Any] = json.loads(member.read())
    return seen


def run_local(env: Any, *argv: str) -> tuple[int, dict[str, Any]]:
    rc = main(["train", "--local", "--json", "--no-spot", *argv], env)
    return rc, json.loads(env.out) if rc == 0 else {}


def test_local_classic_run_of_a_v2_script_with_a_dependency(cli_env, tmp_path):
    src, lib = v2_project(tmp_path)
    data = ref.FIXTURES  # any directory with files serves as a channel here
    rc, desc = run_local(cli_env, "--classic", "--source-dir", str(src), "--entrypoint", "train.py",
                         "--dependency", str(lib), "--data", f"train={data}", "--name", "v2-classic",
                         "--hp", "epochs=2", "--hp", "optimizer=adam", "--hp", "amp=true", "--hp", "k=5")
    assert rc == 0, cli_env.err
    seen = seen_of(desc)
    assert seen["args"] == {"epochs": 2, "optimizer": "adam", "amp": "True", "k": 5,
                            "model_dir": seen["args"]["model_dir"]}
    assert seen["argv"] == ["--amp", "True", "--epochs", "2", "-k", "5", "--optimizer", "adam"]
    assert seen["user_args"] == seen["argv"] and seen["hps"] == {"epochs": 2, "optimizer": "adam",
                                                                 "amp": True, "k": 5}
    assert seen["module_dir"] == f"file://{src.resolve()}"
    assert seen["cwd"].endswith("/opt/ml/code") and seen["lib"] == 42
    assert seen["files"] == ["mylib", "train.py"]  # the dependency at the top, under its own name
    # hyperparameters.json: JSON-encoded values, the reserved ones included.
    assert seen["config"]["optimizer"] == '"adam"' and seen["config"]["epochs"] == "2"
    assert seen["config"][cc.PROGRAM] == '"train.py"' and seen["config"][cc.JOB_NAME] == '"v2-classic"'
    assert list(seen["inputs"]) == ["train"]  # no SDK channels
    modeltrainer_only = contract_only_names()["modeltrainer"]
    assert not modeltrainer_only & set(seen["env"]), "a variable the classic job does not have"
    assert contract_only_names()["classic"] - {"SM_DLC_TORCH_VERSION"} <= set(seen["env"])


def test_the_reference_entrypoint_runs_under_the_classic_contract(cli_env, tmp_path):
    rc, desc = run_local(cli_env, "--classic", "--epochs", "1", "--name", "ref-classic", "--max-steps", "3")
    assert rc == 0, cli_env.err
    assert desc["status"] == "Completed" and desc["details"]["hyperparameters"]["epochs"] == "1"
    assert "val_accuracy" in desc["metrics"]


def test_default_contract_suggests_classic_and_ships_dependencies(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(
        "import os, sys\n"
        "print('module dir', os.environ.get('SM_MODULE_DIR'), os.environ.get('SM_USER_ARGS'))\n"
        "out = os.path.join(os.environ['SM_MODEL_DIR'], 'files.txt')\n"
        "open(out, 'w').write(' '.join(sorted(os.listdir('.'))))\n")
    lib = tmp_path / "vendored"
    lib.mkdir()
    (lib / "util.py").write_text("X = 1\n")
    rc, desc = run_local(cli_env, "--source-dir", str(src), "--entrypoint", "train.py", "--dependency",
                         str(lib), "--data", f"train={ref.FIXTURES}", "--name", "mt-deps")
    assert rc == 0, cli_env.err
    assert "SM_MODULE_DIR, SM_USER_ARGS" in cli_env.err and "--classic" in cli_env.err
    with tarfile.open(desc["artifacts"]["model"]) as tar:
        member = tar.extractfile("files.txt")
        assert member is not None and member.read().decode() == "train.py vendored"


def test_the_hint_is_computed_from_both_contracts_and_runs_both_ways(cli_env, tmp_path):
    names = contract_only_names()
    assert {"SM_MODULE_DIR", "SM_USER_ARGS", "SM_OUTPUT_INTERMEDIATE_DIR", "SM_IS_HETERO"} <= names["classic"]
    assert {"SM_INPUT_DATA_DIR", "SM_OUTPUT_FAILURE", "SM_SOURCE_DIR"} <= names["modeltrainer"]
    record = json.loads(ref.RECORD.read_text())["run"]["env"]
    assert names["classic"] - {"SM_DLC_TORCH_VERSION"} <= set(record)
    assert not names["modeltrainer"] & set(record)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import os\nprint(os.environ['SM_OUTPUT_FAILURE'])\n")
    rc = main(["train", "--local", "--classic", "--dry-run", "--source-dir", str(src), "--entrypoint",
               "train.py", "--data", f"train={ref.FIXTURES}"], cli_env)
    assert rc == 0 and "SM_OUTPUT_FAILURE" in cli_env.err and "ModelTrainer" in cli_env.err


# -- packaging and resolution ---------------------------------------------------------------------

def test_dependencies_land_at_the_top_of_the_package(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("x")
    dep = tmp_path / "other" / "pkg"
    (dep / "__pycache__").mkdir(parents=True)
    (dep / "m.py").write_text("y")
    (dep / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    pkg = package_source(src, tmp_path / "out", dependencies=[dep])
    assert pkg.files == ("pkg/m.py", "train.py")
    with tarfile.open(pkg.path) as tar:
        assert sorted(tar.getnames()) == ["pkg/m.py", "train.py"]
    assert package_source(src, tmp_path / "out2").sha256 != pkg.sha256
    (src / "pkg").mkdir()
    (src / "pkg" / "a.py").write_text("z")
    with pytest.raises(PackagingError, match="would land on 'pkg'"):
        package_source(src, tmp_path / "out3", dependencies=[dep])


def test_classic_hyperparameters_are_json_encoded_and_reserved_keys_refused(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print(1)\n")
    args = build_parser().parse_args(["train", "--classic", "--source-dir", str(src), "--entrypoint",
                                      "train.py", "--hp", "opt=adam", "--hp", "lr=0.1", "--hp", "a.b=1"])
    from launcher.cli.session import cli_runner
    from launcher.cli.spec_args import resolve_from_args
    from launcher.job.resolve import Target

    runner, _ = cli_runner(cli_env)
    job = runner.resolve(resolve_from_args(args, cli_env).spec, Target.LOCAL)
    assert job.hyperparameters == {"opt": '"adam"', "lr": "0.1", "a.b": "1"}  # dots are fine here
    bad = build_parser().parse_args(["train", "--classic", "--source-dir", str(src), "--entrypoint",
                                     "train.py", "--hp", "sagemaker_program=x.py"])
    with pytest.raises(SpecError, match="reserved"):
        runner.resolve(resolve_from_args(bad, cli_env).spec, Target.LOCAL)


# -- the cloud request ------------------------------------------------------------------------------

def _train(env: Any, *argv: str) -> int:
    args = build_parser().parse_args(["train", *argv])
    return int(args.handler(args, env))


def test_cloud_classic_dry_run_equals_the_request_sent(cli_env, aws, monkeypatch, tmp_path):
    s3 = boto3.client("s3", region_name=REGION)
    make_account(s3)
    captured = install_capture(monkeypatch)
    src, lib = v2_project(tmp_path)
    args = base_args(src, "--classic", "--instance", "ml.g5.12xlarge", "--dependency", str(lib),
                     "--data", "train=s3://data-bucket/train/", "--hp", "optimizer=adam", "--hp", "epochs=2",
                     "--name", "classic-cloud-1", "--env", "A=1", "--retry-attempts", "2", "--json")
    assert _train(cli_env, *args, "--dry-run") == 0
    dry = json.loads(cli_env.stdout.getvalue())
    assert s3_objects(s3) == {} and captured == []
    algorithm = dry["AlgorithmSpecification"]
    assert "ContainerEntrypoint" not in algorithm and "ContainerArguments" not in algorithm
    assert [c["ChannelName"] for c in dry["InputDataConfig"]] == ["train"]
    hps = dry["HyperParameters"]
    code_uri = json.loads(hps[cc.SUBMIT_DIRECTORY])
    assert code_uri.startswith(f"s3://{BUCKET}/") and code_uri.endswith("/sourcedir.tar.gz")
    assert hps["optimizer"] == '"adam"' and hps["epochs"] == "2"
    assert hps[cc.PROGRAM] == '"train.py"' and hps[cc.JOB_NAME] == '"classic-cloud-1"'
    assert hps[cc.REGION] == f'"{REGION}"' and hps[cc.CONTAINER_LOG_LEVEL] == "20"
    assert hps[cc.TORCH_DISTRIBUTED] == "true" and hps[cc.INSTANCE_TYPE] == '"ml.g5.12xlarge"'  # 4 GPUs
    assert dry["EnableManagedSpotTraining"] is True and "CheckpointConfig" in dry
    assert dry["Environment"] == {"A": "1"} and dry["RetryStrategy"] == {"MaximumRetryAttempts": 2}
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert _train(cli_env, *args, "--no-wait") == 0
    [sent] = captured
    assert sent == dry  # the SDK's request (no source code: no drivers) is the dry run's
    bucket_key = code_uri.removeprefix(f"s3://{BUCKET}/")
    body = s3.get_object(Bucket=BUCKET, Key=bucket_key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert sorted(tar.getnames()) == ["mylib/__init__.py", "mylib/helpers.py", "train.py"]
    assert not [k for k in s3_objects(s3) if "/staging/" in k]  # no SDK driver files


def test_cloud_classic_with_network_isolation_ships_the_code_as_a_channel(cli_env, tmp_path):
    src, _ = v2_project(tmp_path)
    args = base_args(src, "--classic", "--instance", "ml.g5.xlarge", "--network-isolation",
                     "--data", "train=s3://data-bucket/train/", "--json", "--dry-run")
    assert _train(cli_env, *args) == 0
    dry = json.loads(cli_env.stdout.getvalue())
    code = next(c for c in dry["InputDataConfig"] if c["ChannelName"] == "code")
    assert code["InputMode"] == "File"
    submit = json.loads(dry["HyperParameters"][cc.SUBMIT_DIRECTORY])
    assert submit == "/opt/ml/input/data/code/sourcedir.tar.gz"
    assert cc.TORCH_DISTRIBUTED not in dry["HyperParameters"]  # one GPU: no torchrun


def test_local_classic_shell_script_gets_quoted_sorted_arguments(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.sh").write_text('printf "%s\\n" "$@" > "$SM_MODEL_DIR/args.txt"\n')
    rc, desc = run_local(cli_env, "--classic", "--source-dir", str(src), "--entrypoint", "train.sh",
                         "--data", f"train={ref.FIXTURES}", "--hp", "note=resnet 50", "--hp", "b=$HOME")
    assert rc == 0, cli_env.err
    with tarfile.open(desc["artifacts"]["model"]) as tar:
        member = tar.extractfile("args.txt")
        assert member is not None
        assert member.read().decode().splitlines() == ["-b", "$HOME", "--note", "resnet 50"]
    host = Path(desc["details"]["job_dir"]) / "hosts" / "algo-1" / "opt" / "ml"
    assert (host / "output" / "success").is_file()  # as the toolkit reports a success


def test_a_failing_classic_script_is_reported_as_the_toolkit_reports_it() -> None:
    """The failure file's text as sagemaker-training 5.1.4 wrote it for a script that raised
    (recorded from the real toolkit: ExitCode, the traceback's last two lines, `python -- script`)."""
    from launcher.backends.local.failures import toolkit_failure

    traceback = ("Traceback (most recent call last):\n"
                 '  File "/opt/ml/code/classic_probe.py", line 3, in <module>\n'
                 "    raise ValueError('bad things happened')\n"
                 "ValueError: bad things happened")
    text = toolkit_failure(["/usr/bin/python", "classic_probe.py", "-a", "1", "--epochs", "3"], 1, traceback)
    assert text == ('ExecuteUserScriptError:\nExitCode 1\nErrorMessage "raise ValueError(\'bad things '
                    'happened\')\n ValueError: bad things happened"\nCommand "/usr/bin/python -- '
                    'classic_probe.py -a 1 --epochs 3"')


def test_a_failing_local_classic_job_gets_the_toolkit_failure_reason(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("raise ValueError('bad things happened')\n")
    rc = main(["train", "--local", "--json", "--no-spot", "--classic", "--source-dir", str(src),
               "--entrypoint", "train.py", "--data", f"train={ref.FIXTURES}", "--hp", "epochs=3"], cli_env)
    assert rc == 1
    desc = json.loads(cli_env.out)
    assert desc["failure_reason"].startswith('AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n'
                                             'ErrorMessage "raise ValueError(\'bad things happened\')\n '
                                             'ValueError: bad things happened"\nCommand "python3 -- train.py '
                                             '--epochs 3"')
