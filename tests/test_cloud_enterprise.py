"""Enterprise submission: VPC, network isolation, inter-container encryption, KMS keys, retry
strategy, warm pool and TensorBoard reach CreateTrainingJob exactly as the dry run shows them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import tomli_w

from launcher.cli.main import build_parser, main
from launcher.config.layers import resolve_spec
from launcher.errors import SpecError
from tests.conftest import CapturedEnv
from tests.sagemaker_helpers import (
    REGION,
    base_args,
    install_capture,
    make_account,
    make_source,
    strip_locations,
)

KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
FLAGS = ["--subnet", "subnet-0a1", "--subnet", "subnet-0b2", "--security-group", "sg-0c3",
         "--network-isolation", "--inter-container-encryption", "--volume-kms-key", KEY,
         "--output-kms-key", "alias/launcher-output", "--retry-attempts", "2",
         "--tensorboard-s3-uri", "s3://launcher-test-bucket/tb/"]
EXPECTED = {
    "VpcConfig": {"SecurityGroupIds": ["sg-0c3"], "Subnets": ["subnet-0a1", "subnet-0b2"]},
    "EnableNetworkIsolation": True,
    "EnableInterContainerTrafficEncryption": True,
    "RetryStrategy": {"MaximumRetryAttempts": 2},
    "TensorBoardOutputConfig": {"LocalPath": "/opt/ml/output/tensorboard",
                                "S3OutputPath": "s3://launcher-test-bucket/tb/"},
}


def _train(env: CapturedEnv, *argv: str) -> int:
    args = build_parser().parse_args(["train", *argv])
    return int(args.handler(args, env))


def test_dry_run_shows_the_fields_and_equals_the_sent_request(cli_env: CapturedEnv, aws: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    make_account(boto3.client("s3", region_name=REGION))
    captured = install_capture(monkeypatch)
    argv = base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--name", "vpc-job", *FLAGS)
    assert _train(cli_env, *argv, "--dry-run") == 0
    dry = json.loads(cli_env.out)
    for key, value in EXPECTED.items():
        assert dry[key] == value, key
    assert dry["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert dry["OutputDataConfig"]["KmsKeyId"] == "alias/launcher-output"
    assert _train(cli_env, *argv, "--json") == 0
    [sent] = captured
    assert strip_locations(sent) == strip_locations(dry)


def test_warm_pool_reaches_the_request_on_demand(cli_env: CapturedEnv, tmp_path: Path) -> None:
    argv = base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--keep-alive", "1800")
    assert main(["train", *argv, "--dry-run"], cli_env) == 2
    assert "warm pool (keep_alive_seconds) cannot be used with managed spot" in cli_env.err
    cli_env.stderr.truncate(0)
    assert main(["train", *argv, "--no-spot", "--dry-run"], cli_env) == 0, cli_env.err
    assert json.loads(cli_env.out)["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 1800


def test_a_job_file_with_the_fields_round_trips(cli_env: CapturedEnv, tmp_path: Path) -> None:
    table: dict[str, Any] = {"subnets": ["subnet-0a1"], "security_group_ids": ["sg-0c3"],
                             "network_isolation": True, "inter_container_encryption": True,
                             "volume_kms_key": KEY, "output_kms_key": "alias/out", "retry_attempts": 3,
                             "keep_alive_seconds": 600, "tensorboard_s3_uri": "s3://b/tb/"}
    job = tmp_path / "job.toml"
    job.write_text(tomli_w.dumps({"sagemaker": table, "spot": {"enabled": False}}))
    spec = resolve_spec(config_path=tmp_path / "none.toml", environ={}, job_file=job).spec
    assert spec.sagemaker.model_dump() == table
    again = tmp_path / "again.toml"
    again.write_text(tomli_w.dumps({"sagemaker": spec.sagemaker.model_dump(exclude_none=True),
                                    "spot": {"enabled": False}}))
    assert resolve_spec(config_path=tmp_path / "none.toml", environ={}, job_file=again).spec == spec


@pytest.mark.parametrize(("section", "message"), [
    ({"subnets": ["subnet-0a1"]}, "needs subnets and security groups"),
    ({"security_group_ids": ["sg-1"], "subnets": ["vpc-1"]}, "not a subnet id"),
    ({"volume_kms_key": "my key"}, "not a KMS key"),
    ({"retry_attempts": 31}, "retry_attempts"),
    ({"keep_alive_seconds": 3601}, "keep_alive_seconds"),
    ({"tensorboard_s3_uri": "s3://b/tb"}, "ending in '/'"),
    ({"vpc": True}, "unknown setting 'sagemaker.vpc'"),
])
def test_invalid_settings_are_refused_with_the_field(tmp_path: Path, section: dict[str, Any],
                                                      message: str) -> None:
    job = tmp_path / "job.toml"
    job.write_text(tomli_w.dumps({"sagemaker": section}))
    with pytest.raises(SpecError, match=message):
        resolve_spec(config_path=tmp_path / "none.toml", environ={}, job_file=job)


SDK_CONFIG = """SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      Session:
        DefaultS3Bucket: org-bucket
  TrainingJob:
    EnableNetworkIsolation: true
    VpcConfig:
      SecurityGroupIds: [sg-0org]
      Subnets: [subnet-0org]
    OutputDataConfig:
      KmsKeyId: alias/org-output
    RoleArn: arn:aws:iam::123456789012:role/org-role
    Tags:
      - Key: cost-center
        Value: ml
"""


def test_sdk_config_files_are_a_layer_launch_config_names(cli_env: CapturedEnv, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "sm-config.yaml"
    user.write_text(SDK_CONFIG)
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(user))
    assert main(["config", "--json", "--bucket", "flag-bucket"], cli_env) == 0
    values = json.loads(cli_env.out)["values"]
    source = f"sagemaker config {user}"
    assert values["sagemaker.network_isolation"] == {"value": True, "source": source}
    assert values["sagemaker.subnets"] == {"value": ["subnet-0org"], "source": source}
    assert values["sagemaker.output_kms_key"]["value"] == "alias/org-output"
    assert values["aws.role"] == {"value": "arn:aws:iam::123456789012:role/org-role", "source": source}
    assert values["tags.cost-center"] == {"value": "ml", "source": source}
    assert values["aws.bucket"] == {"value": "flag-bucket", "source": "flag"}  # flags win
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(["config", "--json", "--no-sdk-config"], cli_env) == 0
    values = json.loads(cli_env.out)["values"]
    assert values["sagemaker.network_isolation"]["value"] is False
    assert values["aws.role"]["value"] is None


def test_sdk_config_fields_reach_the_dry_run(cli_env: CapturedEnv, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "sm-config.yaml"
    user.write_text(SDK_CONFIG)
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(user))
    argv = ["train", "--dry-run", "--instance", "ml.g5.xlarge", "--region", "us-east-1",
            "--source-dir", str(make_source(tmp_path))]
    assert main(argv, cli_env) == 0, cli_env.err
    request = json.loads(cli_env.out)
    assert request["VpcConfig"] == {"SecurityGroupIds": ["sg-0org"], "Subnets": ["subnet-0org"]}
    assert request["EnableNetworkIsolation"] is True and request["RoleArn"].endswith("role/org-role")
    assert request["OutputDataConfig"]["KmsKeyId"] == "alias/org-output"
    assert {"Key": "cost-center", "Value": "ml"} in request["Tags"]
