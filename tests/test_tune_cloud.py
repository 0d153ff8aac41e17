"""`launch tune --instance …` on moto: the tuning job is created from the classic training request
(spot with max wait, checkpoints, the classic static hyperparameters), `--dry-run` creates nothing,
a refused spec creates nothing, and `launch list` finds the cloud tuning job."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest

from launcher.cli.main import main
from launcher.errors import ExitStatus
from tests.conftest import CapturedEnv
from tests.sagemaker_helpers import BUCKET, REGION, ROLE, make_account

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto")

TUNE = ["tune", "--instance", "ml.g5.xlarge", "--role", ROLE, "--bucket", BUCKET, "--region", REGION,
        "--epochs", "2", "--objective", "val_accuracy", "--range", "lr=log:0.001:0.1",
        "--range", "batch_size=cat:32,64", "--max-trials", "4", "--max-parallel", "2"]


@pytest.fixture
def sm(aws: str) -> Any:
    make_account(boto3.client("s3", region_name=REGION))
    return boto3.client("sagemaker", region_name=REGION)


def fresh(env: CapturedEnv) -> CapturedEnv:
    return CapturedEnv(stdout=io.StringIO(), stderr=io.StringIO(), environ=env.environ, cwd=env.cwd,
                       stdout_isatty=False, config_path=env.config_path, home=env.home)


def tuning_jobs(sm: Any) -> list[str]:
    return [s["HyperParameterTuningJobName"]
            for s in sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"]]


def test_dry_run_shows_the_request_and_creates_nothing(cli_env: CapturedEnv, sm: Any) -> None:
    assert main([*TUNE, "--tune-name", "dry", "--dry-run"], cli_env) == 0, cli_env.err
    request = json.loads(cli_env.out)
    assert request["HyperParameterTuningJobName"] == "dry"
    assert tuning_jobs(sm) == []
    assert "cost bound" in cli_env.err


def test_no_wait_creates_a_spot_tuning_job_with_checkpoints_and_classic_hyperparameters(
        cli_env: CapturedEnv, sm: Any) -> None:
    assert main([*TUNE, "--tune-name", "tj1", "--no-wait", "--json"], cli_env) == 0, cli_env.err
    assert tuning_jobs(sm) == ["tj1"]
    described = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="tj1")
    definition = described["TrainingJobDefinition"]
    assert definition["EnableManagedSpotTraining"] is True
    stopping = definition["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]
    assert definition["CheckpointConfig"]["S3Uri"].startswith(f"s3://{BUCKET}/")
    static = definition["StaticHyperParameters"]
    assert json.loads(static["sagemaker_program"]) == "train.py"
    assert static["sagemaker_submit_directory"].strip('"').startswith(f"s3://{BUCKET}/")
    assert json.loads(static["epochs"]) == 2
    assert "lr" not in static and "batch_size" not in static
    config = described["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4
    assert config["HyperParameterTuningJobObjective"]["MetricName"] == "val_accuracy"
    out = json.loads(cli_env.out)
    assert out["name"] == "tj1" and out["backend"] == "sagemaker"

    # (moto does not list a tuning job's trials, which `describe` and `status` read: not tested here)
    env = fresh(cli_env)
    assert main(["list", "--cloud", "--json"], env) == 0, env.err
    assert "tj1" in {row["name"] for row in json.loads(env.out)}


@pytest.mark.parametrize(("extra", "says"), [
    (["--objective", "accuracy"], "not one of the job's metric definitions"),
    (["--range", "momentum=float:0.5:1.5"], "momentum=1.5"),
    (["--lr", "0.1"], "both tuned and fixed"),
])
def test_refused_specs_create_nothing(cli_env: CapturedEnv, sm: Any, extra: list[str], says: str) -> None:
    assert main([*TUNE, *extra, "--no-wait"], cli_env) == ExitStatus.INVALID
    assert says in cli_env.err
    assert tuning_jobs(sm) == []
