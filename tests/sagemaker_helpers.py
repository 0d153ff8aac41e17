"""Helpers for the SageMaker backend tests: a tiny source dir, data channels, a request capture hook,
and direct access to the in-process moto server's SageMaker state."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROLE = "arn:aws:iam::123456789012:role/launcher-training"
BUCKET = "launcher-test-bucket"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
METRICS = [{"Name": "loss", "Regex": r"loss=([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"}]


TRUST_SAGEMAKER = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def make_account(s3: Any, *, inputs: tuple[str, ...] = ("s3://data-bucket/train/", "s3://data-bucket/val/")
                 ) -> None:
    """What the submit-time preflight looks for on moto: the bucket, the role, the S3 inputs."""
    import boto3

    s3.create_bucket(Bucket=BUCKET)
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(RoleName=ROLE.rsplit("/", 1)[-1], AssumeRolePolicyDocument=json.dumps(TRUST_SAGEMAKER))
    for uri in inputs:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if bucket != BUCKET:
            with contextlib.suppress(Exception):
                s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key=f"{key}part-0.npz", Body=b"data")


def make_source(root: Path, *, body: str = "print('loss=0.5')\n") -> Path:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "train.py").write_text(body)
    (src / "metric_definitions.json").write_text(json.dumps(METRICS))
    return src


def make_channel(root: Path, name: str, samples: int = 8, seed: int = 0) -> Path:
    d = root / "data" / name
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    np.savez(d / f"{name}.npz", x=rng.normal(size=(samples, 4)).astype("float32"),
             y=rng.integers(0, 3, size=samples))
    return d


def base_args(src: Path, *extra: str) -> list[str]:
    return ["--source-dir", str(src), "--entrypoint", "train.py", "--role", ROLE, "--bucket", BUCKET,
            "--region", REGION, *extra]


def install_capture(monkeypatch: Any) -> list[dict[str, Any]]:
    """Capture every CreateTrainingJob body sent by sessions the backend builds.

    The hook is registered on the boto3 session right after it is made, before any client exists.
    """
    import launcher.backends.sagemaker.backend as backend_mod

    captured: list[dict[str, Any]] = []
    real = backend_mod.make_session

    def make_session(*args: Any, **kwargs: Any) -> Any:
        session = real(*args, **kwargs)
        session.events.register(
            "before-call.sagemaker.CreateTrainingJob",
            lambda params, **_: captured.append(json.loads(params["body"])),
        )
        return session

    monkeypatch.setattr(backend_mod, "make_session", make_session)
    return captured


def s3_objects(s3: Any, bucket: str = BUCKET, prefix: str = "") -> dict[str, int]:
    """key → size of every object under prefix."""
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = obj["Size"]
    return out


def moto_jobs() -> dict[str, Any]:
    """The training jobs of the in-process moto server (its threads share this process)."""
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION].training_jobs


def set_job_state(name: str, status: str, secondary: str, *, transitions: list[str] | None = None,
                  **fields: Any) -> None:
    """Put a moto training job in a lifecycle state (moto creates every job Completed)."""
    job = moto_jobs()[name]
    job.training_job_status = status
    job.secondary_status = secondary
    now = datetime.now(UTC)
    if transitions is not None:
        job.secondary_status_transitions = [
            {"Status": s, "StartTime": now, "StatusMessage": f"{s} message"} for s in transitions
        ]
    if status != "Completed":
        job.final_metric_data_list = []
    for key, value in fields.items():
        setattr(job, key, value)


def put_log_lines(logs: Any, stream: str, lines: list[str], start_ms: int | None = None) -> None:
    group = "/aws/sagemaker/TrainingJobs"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=group)
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    base = start_ms or int(datetime.now(UTC).timestamp() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": base + i, "message": m} for i, m in enumerate(lines)])


def strip_locations(request: dict[str, Any]) -> dict[str, Any]:
    """A request without what legitimately differs between a dry run and a submit: the job name and
    the SDK's driver-file location (its folder is named after the submit's second)."""
    req = json.loads(json.dumps(request))
    req.pop("TrainingJobName", None)
    for channel in req["InputDataConfig"]:
        if channel["ChannelName"] == "sm_drivers":
            channel["DataSource"]["S3DataSource"]["S3Uri"] = "<sdk drivers>"
    ckpt = req.get("CheckpointConfig")
    if ckpt:
        ckpt["S3Uri"] = ckpt["S3Uri"].replace(request["TrainingJobName"], "<job>")
    return req


def iter_limit(it: Iterator[str], n: int) -> list[str]:
    out = []
    for line in it:
        out.append(line)
        if len(out) >= n:
            break
    return out


def dry_run_request(spec: Any, job_name: str, *, cwd: Path) -> dict[str, Any]:
    """The request the SageMaker backend's dry run shows for `spec`, resolved as `launch train` does."""
    from launcher.backends.sagemaker.request import dry_run_plan
    from launcher.job.resolve import Target, resolve_job

    job = resolve_job(spec, target=Target.SAGEMAKER, cwd=cwd, name=job_name)
    return dry_run_plan(job)[1]
