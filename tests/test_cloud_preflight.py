"""The cloud path refuses, before the first byte is uploaded, what SageMaker would kill or fail on.

Every refused input is submitted for real through `launch train` against moto, and the S3 objects
and training jobs are counted before and after: zero change. The policy simulator (which moto does
not offer) is answered by botocore's Stubber.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from launcher.backends.sagemaker.submit_checks import check_role_reads_inputs
from launcher.cli.main import build_parser, main
from launcher.errors import AwsError, SpecError
from tests.conftest import CapturedEnv
from tests.sagemaker_helpers import (
    REGION,
    ROLE,
    base_args,
    install_capture,
    make_account,
    make_source,
    moto_jobs,
)


@pytest.fixture
def s3(aws: str) -> Any:
    client = boto3.client("s3", region_name=REGION)
    make_account(client)
    return client


def _count_objects(s3: Any) -> int:
    return sum(page.get("KeyCount", 0) for b in s3.list_buckets()["Buckets"]
               for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]))


def _train(env: CapturedEnv, *argv: str) -> int:
    args = build_parser().parse_args(["train", *argv])
    return int(args.handler(args, env))


REFUSED = [
    (["--data", "train=s3://data-bucket/missing/"], AwsError, "s3://data-bucket/missing/ holds no objects"),
    (["--data", "train=s3://no-such-bucket/train/"], AwsError, "no-such-bucket"),
    (["--output", "s3://no-such-output/out/"], AwsError, "s3://no-such-output"),
    (["--checkpoint-s3-uri", "s3://no-such-ckpt/ck/"], AwsError, "s3://no-such-ckpt"),
    (["--role", "arn:aws:iam::123456789012:role/ghost"], AwsError, "role/ghost: does not exist"),
    (["--data", "train=s3://data-bucket/train"], SpecError, "end it with '/'"),
    (["--data", "extra-v2=s3://data-bucket/train/"], SpecError, "cannot export"),
    (["--hp", "model.depth=3"], SpecError, "cannot export"),
    (["--image-uri", "1" * 256], SpecError, "255"),
]


@pytest.mark.parametrize(("extra", "error", "message"), REFUSED)
def test_refused_inputs_change_nothing(cli_env: CapturedEnv, s3: Any, tmp_path: Path, extra: list[str],
                                       error: type[Exception], message: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    captured = install_capture(monkeypatch)
    before = (_count_objects(s3), len(moto_jobs()))
    with pytest.raises(error, match=message):
        _train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", *extra))
    assert (_count_objects(s3), len(moto_jobs())) == before and captured == []


def test_existing_name_is_refused_before_any_upload(cli_env: CapturedEnv, s3: Any, tmp_path: Path) -> None:
    src = make_source(tmp_path)
    assert _train(cli_env, *base_args(src, "--instance", "ml.g5.xlarge", "--name", "taken")) == 0
    before = (_count_objects(s3), len(moto_jobs()))
    (src / "train.py").write_text("print('changed code: a new package would be uploaded')\n")
    with pytest.raises(AwsError, match="a training job named 'taken' already exists"):
        _train(cli_env, *base_args(src, "--instance", "ml.g5.xlarge", "--name", "taken"))
    assert (_count_objects(s3), len(moto_jobs())) == before


def test_role_without_sagemaker_trust_is_refused(cli_env: CapturedEnv, s3: Any, tmp_path: Path) -> None:
    iam = boto3.client("iam", region_name=REGION)
    arn = iam.create_role(RoleName="ec2-only", AssumeRolePolicyDocument=(
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
        '{"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'))["Role"]["Arn"]
    before = (_count_objects(s3), len(moto_jobs()))
    with pytest.raises(AwsError, match="trust policy"):
        _train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--role", arn))
    assert (_count_objects(s3), len(moto_jobs())) == before


def test_no_preflight_skips_the_checks(cli_env: CapturedEnv, s3: Any, tmp_path: Path) -> None:
    argv = base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge",
                     "--data", "train=s3://data-bucket/missing/")
    assert main(["train", *argv], cli_env) == 4 and "preflight:" in cli_env.err
    assert _train(cli_env, *argv, "--no-preflight") == 0
    assert len(moto_jobs()) == 1


def test_simulator_warning_is_reported_not_fatal(cli_env: CapturedEnv, s3: Any, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    argv = base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge",
                     "--data", "train=s3://data-bucket/train/")
    assert _train(cli_env, *argv) == 0  # moto offers no policy simulator: a warning only
    assert "policy simulator could not be asked" in caplog.text


def _simulator(decisions: list[str] | None, error: str | None = None) -> tuple[Any, Stubber]:
    iam = boto3.client("iam", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(iam)
    if error:
        stub.add_client_error("simulate_principal_policy", service_error_code=error)
    else:
        for action, decision in zip(("s3:GetObject", "s3:ListBucket"), decisions or [], strict=True):
            stub.add_response("simulate_principal_policy", {"EvaluationResults": [
                {"EvalActionName": action, "EvalResourceName": "arn:aws:s3:::data-bucket/train/*",
                 "EvalDecision": decision}]})
    stub.activate()
    return iam, stub


def test_policy_simulator_allow_and_deny() -> None:
    iam, stub = _simulator(["allowed", "allowed"])
    check = check_role_reads_inputs(iam, ROLE, ["s3://data-bucket/train/"])
    assert check is not None and check.ok
    stub.assert_no_pending_responses()
    iam, _ = _simulator(["allowed", "implicitDeny"])
    check = check_role_reads_inputs(iam, ROLE, ["s3://data-bucket/train/"])
    assert check is not None and not check.ok and "may not s3:ListBucket" in check.detail
    iam, _ = _simulator(None, error="AccessDenied")
    assert check_role_reads_inputs(iam, ROLE, ["s3://data-bucket/train/"]) is None  # → a warning
