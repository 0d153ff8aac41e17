"""Smaller promises of the cloud path: checkpoints kept on demand, what a job cost, downloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.backends.sagemaker.describe import from_describe, job_cost
from launcher.cli.main import main
from launcher.config.catalog import lookup
from tests.conftest import CapturedEnv


def test_no_spot_keeps_the_reference_entrypoints_checkpoints(cli_env: CapturedEnv) -> None:
    argv = ["train", "--dry-run", "--instance", "ml.g5.xlarge", "--no-spot", "--epochs", "2",
            "--role", "arn:aws:iam::123456789012:role/r", "--bucket", "bkt", "--region", "us-east-1"]
    assert main(argv, cli_env) == 0, cli_env.err
    request = json.loads(cli_env.out)
    assert request["EnableManagedSpotTraining"] is False
    assert request["CheckpointConfig"]["S3Uri"].startswith("s3://bkt/launcher/checkpoints/")


def test_cost_is_billable_seconds_times_price_with_spot_savings() -> None:
    price = lookup("ml.g5.xlarge").price_per_hour
    assert price is not None
    cost = job_cost("ml.g5.xlarge", 2, billable_seconds=1800, training_seconds=3600, spot=True)
    assert cost is not None
    assert cost["usd"] == pytest.approx(0.5 * price * 2, abs=1e-4)
    assert cost["on_demand_usd"] == pytest.approx(price * 2, abs=1e-4)
    assert cost["spot_saved_usd"] == pytest.approx(price, abs=1e-4)
    assert job_cost("ml.g5.xlarge", 1, billable_seconds=None, training_seconds=None, spot=False) is None


def test_describe_carries_the_cost_once_sagemaker_reports_seconds(tmp_path: Path) -> None:
    resp = {"TrainingJobName": "j", "TrainingJobStatus": "Completed", "EnableManagedSpotTraining": False,
            "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1},
            "BillableTimeInSeconds": 3600, "TrainingTimeInSeconds": 3600}
    cost = from_describe(resp).details["cost"]
    assert cost["usd"] == lookup("ml.g5.xlarge").price_per_hour and "spot_saved_usd" not in cost
    assert from_describe({**resp, "BillableTimeInSeconds": None}).details.get("cost") is None


def test_download_without_artifacts_exits_not_found_and_leaves_no_folder(cli_env: CapturedEnv, aws: str,
                                                                        tmp_path: Path) -> None:
    import boto3

    from tests.sagemaker_helpers import REGION, base_args, make_account, make_source, set_job_state

    make_account(boto3.client("s3", region_name=REGION))
    argv = base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--name", "no-art")
    assert main(["train", *argv, "--no-wait"], cli_env) == 0, cli_env.err
    set_job_state("no-art", "InProgress", "Training")
    to = tmp_path / "artifacts"
    assert main(["download", "no-art", "--cloud", "--to", str(to)], cli_env) == 3
    assert "has no artifacts in S3 yet" in cli_env.err and not to.exists()


def test_logs_of_a_job_without_streams_say_so(cli_env: CapturedEnv, aws: str, tmp_path: Path) -> None:
    import boto3

    from tests.sagemaker_helpers import REGION, base_args, make_account, make_source, set_job_state

    make_account(boto3.client("s3", region_name=REGION))
    argv = base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--name", "quiet-job")
    assert main(["train", *argv, "--no-wait"], cli_env) == 0, cli_env.err
    set_job_state("quiet-job", "InProgress", "Starting")
    assert main(["logs", "quiet-job", "--cloud"], cli_env) == 0
    assert "no log lines yet for quiet-job (InProgress, Starting): they appear once it starts" in cli_env.err


def test_prune_cloud_deletes_old_staged_driver_files_only(cli_env: CapturedEnv, aws: str,
                                                          tmp_path: Path) -> None:
    import boto3

    from tests.sagemaker_helpers import BUCKET, REGION, base_args, make_account, make_source, s3_objects

    s3 = boto3.client("s3", region_name=REGION)
    make_account(s3)
    assert main(["train", *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge")], cli_env) == 0
    staged = [k for k in s3_objects(s3) if k.startswith("launcher/staging/")]
    kept = {k for k in s3_objects(s3) if not k.startswith("launcher/staging/")}
    assert staged and any(k.startswith("launcher/code/") for k in kept)
    prune = ["prune", "--cloud", "--older-than", "0s", "--bucket", BUCKET, "--region", REGION, "--json"]
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main([*prune, "--dry-run"], cli_env) == 0
    assert json.loads(cli_env.out)["cloud_staging"]["objects"] == len(staged)
    assert len(s3_objects(s3)) == len(staged) + len(kept)  # a dry run deletes nothing
    assert main(prune, cli_env) == 0
    assert set(s3_objects(s3)) == kept


def test_status_says_which_job_when_a_local_and_a_cloud_job_share_a_name(cli_env: CapturedEnv, aws: str,
                                                                        tmp_path: Path) -> None:
    import boto3

    from tests.sagemaker_helpers import REGION, base_args, make_account, make_source

    make_account(boto3.client("s3", region_name=REGION))
    src = make_source(tmp_path)
    assert main(["train", *base_args(src, "--instance", "ml.g5.xlarge", "--name", "twin")], cli_env) == 0
    assert main(["train", "--local", "--source-dir", str(src), "--name", "twin", "--no-spot"], cli_env) == 0
    cli_env.stderr.truncate(0)
    cli_env.stderr.seek(0)
    assert main(["status", "twin"], cli_env) == 0
    assert "note: this is the local job twin; a SageMaker training job has the same name" in cli_env.err
    cli_env.stderr.truncate(0)
    cli_env.stderr.seek(0)
    assert main(["status", "twin", "--local"], cli_env) == 0 and "note:" not in cli_env.err
