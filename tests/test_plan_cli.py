"""`launch plan` end to end through the CLI: output, flags, sample counting, preflight, imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from launcher.cli.main import main
from launcher.job.data_manifest import ChannelInfo
from launcher.planning.throughput import record_throughput
from tests.conftest import REPO, CapturedEnv

DIGITS_TRAIN = 1437  # launcher/datasets/digits/train (npz header of y)


def plan_json(env: CapturedEnv, *argv: str) -> dict[str, Any]:
    assert main(["plan", *argv, "--json"], env) == 0, env.err
    return json.loads(env.out)


def test_demo_plan_human_output(cli_env: CapturedEnv) -> None:
    assert main(["plan", "--instance", "ml.g4dn.xlarge"], cli_env) == 0, cli_env.err
    out = cli_env.out
    for text in ("Iterations per epoch", "Total optimizer steps", "Warmup steps", "Peak LR",
                 "scale_lr is off", "┤", "═ warmup (23 steps)", "┴ epoch boundary",
                 "upper bound  $0.736", "assuming 70% spot savings", "expected     unknown"):
        assert text in out, text
    assert "ceil(1437 / 64)" in out


def test_json_counts_samples_from_npz_headers(cli_env: CapturedEnv) -> None:
    data = plan_json(cli_env, "--instance", "ml.g4dn.xlarge")
    assert data["samples"] == DIGITS_TRAIN
    assert data["samples_source"].startswith("channel train")
    assert data["iterations_per_epoch"] == 23 and data["total_optimizer_steps"] == 23 * 12
    assert data["warmup_steps"] == 23  # demo: warmup_epochs 1
    assert len(data["lr_per_step"]) == 276
    assert data["cost"]["price_per_hour"] == 0.736 and data["cost"]["spot"] is True


def test_own_npz_channel_and_holdout(cli_env: CapturedEnv, tmp_path: Path) -> None:
    data_dir = tmp_path / "mydata"
    (data_dir / "shard").mkdir(parents=True)
    np.savez(data_dir / "a.npz", x=np.zeros((300, 4), np.float32), y=np.zeros(300, np.int64))
    np.savez(data_dir / "shard" / "b.npz", x=np.zeros((200, 4), np.float32), y=np.zeros(200, np.int64))
    data = plan_json(cli_env, "--local", "--data", f"train={data_dir}", "--batch-size", "50",
                     "--epochs", "2", "--warmup-epochs", "0")
    assert data["channel_samples"] == 500 and data["holdout_samples"] == 50 and data["samples"] == 450
    assert data["iterations_per_epoch"] == 9
    assert "2 .npz files" in data["samples_source"]


def test_samples_flag_and_s3_channel_without_it(cli_env: CapturedEnv) -> None:
    argv = ["plan", "--instance", "ml.g5.xlarge", "--data", "train=s3://bkt/data/train/"]
    assert main(argv, cli_env) == 2
    assert "pass --samples N, or --preflight" in cli_env.err
    data = plan_json(cli_env, *argv[1:], "--samples", "60000", "--batch-size", "128", "--epochs", "10",
                     "--warmup-epochs", "0", "--hp", "val_fraction=0")
    assert data["iterations_per_epoch"] == 469 and data["total_iterations"] == 4690


def test_throughput_flag_remembered_throughput_and_price_override(cli_env: CapturedEnv) -> None:
    base = ["--instance", "ml.p3.2xlarge", "--samples", "1000", "--max-run", "7200", "--no-spot"]
    data = plan_json(cli_env, *base, "--throughput", "100")
    assert data["expected_seconds"] == pytest.approx(1000 * 12 / 100)
    assert data["cost"]["expected"] == pytest.approx(3.825 * 120 / 3600, rel=1e-3)
    assert data["cost"]["upper_bound"] == pytest.approx(7.65)
    assert cli_env.home is not None
    record_throughput(cli_env.home, "reference/train.py", "ml.p3.2xlarge", 50.0)
    cli_env.stdout.truncate(0), cli_env.stdout.seek(0)
    data = plan_json(cli_env, *base, "--price-per-hour", "2")
    assert data["throughput"] == 50.0 and "earlier reference/train.py job" in data["throughput_source"]
    assert data["expected_seconds"] == pytest.approx(240.0)
    assert data["cost"]["price_per_hour"] == 2.0 and data["cost"]["upper_bound"] == pytest.approx(4.0)


def test_max_run_warning_in_human_output(cli_env: CapturedEnv) -> None:
    argv = ["plan", "--instance", "ml.g4dn.xlarge", "--samples", "100000", "--throughput", "10",
            "--max-run", "600"]
    assert main(argv, cli_env) == 0
    assert "warning: the expected training time" in cli_env.out and "raise --max-run" in cli_env.out


def test_local_plan_has_no_cost_and_no_spot(cli_env: CapturedEnv) -> None:
    assert main(["plan", "--local"], cli_env) == 0, cli_env.err
    assert "Cost: local run, no AWS charges." in cli_env.out
    assert "spot" not in cli_env.out.lower()


def test_warmup_longer_than_run_exits_2(cli_env: CapturedEnv) -> None:
    argv = ["plan", "--local", "--samples", "100", "--epochs", "2", "--warmup-epochs", "2"]
    assert main(argv, cli_env) == 2
    assert "is not shorter than the run" in cli_env.err and "shorten the warmup" in cli_env.err


def test_plot_writes_a_png(cli_env: CapturedEnv, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    assert main(["plan", "--local", "--plot", "lr.png"], cli_env) == 0, cli_env.err
    png = tmp_path / "lr.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"LR figure written to {png}" in cli_env.out


def test_request_is_the_dry_run_request(cli_env: CapturedEnv) -> None:
    data = plan_json(cli_env, "--instance", "ml.g4dn.xlarge", "--request", "--bucket", "bkt",
                     "--role", "arn:aws:iam::123456789012:role/r", "--region", "us-east-1",
                     "--name", "plan-test-1")
    request = data["request"]
    assert request["TrainingJobName"] == "plan-test-1"
    assert request["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert request["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600


def test_request_and_local_do_not_mix(cli_env: CapturedEnv) -> None:
    assert main(["plan", "--local", "--request"], cli_env) == 2


# --- preflight against moto -------------------------------------------------------------------------

TRUST_SAGEMAKER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
TRUST_EC2 = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _setup(trust: dict[str, Any]) -> str:
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="plan-bkt")
    s3.put_object(Bucket="plan-bkt", Key="data/train/part-0.npz", Body=b"x")
    info = ChannelInfo(samples=640, files=["part-0.npz"], shapes={"part-0.npz": {"y": [640]}})
    s3.put_object(Bucket="plan-bkt", Key="data/train/_launcher_manifest.json", Body=info.to_json())
    iam = boto3.client("iam", region_name="us-east-1")
    return str(iam.create_role(RoleName="plan-role",
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


def test_preflight_passes_and_counts_samples_from_the_manifest(aws: str, cli_env: CapturedEnv) -> None:
    arn = _setup(TRUST_SAGEMAKER)
    data = plan_json(cli_env, "--preflight", "--instance", "ml.g4dn.xlarge", "--bucket", "plan-bkt",
                     "--role", arn, "--data", "train=s3://plan-bkt/data/train/", "--hp", "val_fraction=0")
    assert data["samples"] == 640 and "manifest" in data["samples_source"]
    assert [c["ok"] for c in data["preflight"]] == [True, True, True], data["preflight"]
    assert [c["name"] for c in data["preflight"]] == ["bucket", "role", "channel train"]


def test_preflight_failures_exit_4(aws: str, cli_env: CapturedEnv) -> None:
    arn = _setup(TRUST_EC2)
    argv = ["plan", "--preflight", "--instance", "ml.g4dn.xlarge", "--bucket", "no-such-bkt",
            "--role", arn, "--data", "train=s3://plan-bkt/empty/", "--samples", "100"]
    assert main(argv, cli_env) == 4
    out = cli_env.out
    assert "FAIL bucket: s3://no-such-bkt: does not exist" in out
    assert "does not let sagemaker.amazonaws.com assume it" in out
    assert "FAIL channel train: s3://plan-bkt/empty/ holds no objects" in out


def test_preflight_role_missing_and_wrong_region(aws: str, cli_env: CapturedEnv) -> None:
    import boto3

    boto3.client("s3", region_name="eu-west-2").create_bucket(
        Bucket="plan-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    data_argv = ["--preflight", "--instance", "ml.g4dn.xlarge", "--bucket", "plan-eu", "--samples", "10",
                 "--role", "arn:aws:iam::123456789012:role/missing", "--json"]
    assert main(["plan", *data_argv], cli_env) == 4
    checks = {c["name"]: c for c in json.loads(cli_env.out)["preflight"]}
    assert "is in eu-west-2, the job runs in us-east-1" in checks["bucket"]["detail"]
    assert "does not exist" in checks["role"]["detail"]


# --- imports --------------------------------------------------------------------------------------------


def test_plan_imports_neither_torch_nor_the_sdk(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from launcher.cli.main import main\n"
        "rc = main(['plan', '--instance', 'ml.g4dn.xlarge', '--json'])\n"
        "assert rc == 0, rc\n"
        "heavy = [m for m in ('torch', 'sagemaker', 'boto3', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LAUNCHER_HOME": str(tmp_path / "home"),
           "LAUNCHER_CONFIG": str(tmp_path / "config.toml"), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["samples"] == DIGITS_TRAIN
