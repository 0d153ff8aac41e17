"""Submitting to SageMaker through `launch train`'s own parser and handler, against moto over HTTP."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import pytest

from launcher.backends.sagemaker.staging import read_manifest
from launcher.cli.main import build_parser
from launcher.errors import AwsError, ExitStatus, SpecError
from launcher.job.data_manifest import MANIFEST_NAME
from tests.sagemaker_helpers import (
    BUCKET,
    METRICS,
    REGION,
    base_args,
    install_capture,
    make_account,
    make_channel,
    make_source,
    moto_jobs,
    put_log_lines,
    s3_objects,
    strip_locations,
)


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name=REGION)
    make_account(client)
    return client


@pytest.fixture
def captured(aws, monkeypatch):
    return install_capture(monkeypatch)


def train(env, *argv: str) -> int:
    """`launch train ARGV` with its errors raised, not turned into exit codes."""
    args = build_parser().parse_args(["train", *argv])
    return int(args.handler(args, env))


def submitted(env) -> dict:
    return json.loads(env.stdout.getvalue())


def reset(env) -> None:
    env.stdout.truncate(0)
    env.stdout.seek(0)
    env.stderr.truncate(0)
    env.stderr.seek(0)


def channel(request, name):
    return next(c for c in request["InputDataConfig"] if c["ChannelName"] == name)


def test_spot_gpu_job_with_two_channels(cli_env, s3, captured, tmp_path):
    src = make_source(tmp_path)
    rc = train(cli_env, *base_args(src, "--instance", "ml.p3.2xlarge", "--data", "train=s3://data-bucket/train/",
                                   "--data", "validation=s3://data-bucket/val/", "--hp", "epochs=3",
                                   "--hp", "lr=0.1", "--hp", "use_bn=true", "--hp", "arch=resnet 50",
                                   "--max-run", "1800", "--tag", "team=vision", "--json"))
    assert rc == 0
    [req] = captured
    name = req["TrainingJobName"]
    assert name.startswith("train-") and len(name) <= 63
    assert req["EnableManagedSpotTraining"] is True
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}
    assert req["CheckpointConfig"] == {"S3Uri": f"s3://{BUCKET}/launcher/checkpoints/{name}/",
                                       "LocalPath": "/opt/ml/checkpoints"}
    assert [c["ChannelName"] for c in req["InputDataConfig"]] == ["train", "validation", "code", "sm_drivers"]
    assert channel(req, "train")["DataSource"]["S3DataSource"] == {
        "S3DataType": "S3Prefix", "S3Uri": "s3://data-bucket/train/",
        "S3DataDistributionType": "FullyReplicated"}
    assert req["HyperParameters"] == {"epochs": "3", "lr": "0.1", "use_bn": "true", "arch": "resnet 50"}
    assert req["AlgorithmSpecification"]["MetricDefinitions"] == METRICS
    assert req["AlgorithmSpecification"]["TrainingImage"].endswith("/pytorch-training:2.8.0-gpu-py312")
    assert req["ResourceConfig"] == {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1,
                                     "VolumeSizeInGB": 30}
    tags = {t["Key"]: t["Value"] for t in req["Tags"]}
    assert tags["team"] == "vision" and tags["launcher:version"] and tags["launcher:code-hash"]
    code = channel(req, "code")["DataSource"]["S3DataSource"]["S3Uri"]
    assert code == f"s3://{BUCKET}/launcher/code/{tags['launcher:code-hash']}/sourcedir.tar.gz"
    out = submitted(cli_env)
    assert out["name"] == name and out["backend"] == "sagemaker" and out["spot"] is True
    assert name in moto_jobs()


def test_two_submits_in_one_second_get_different_names(cli_env, s3, captured, tmp_path, monkeypatch):
    from datetime import UTC, datetime

    import sagemaker.train.utils as sdk_utils

    import launcher.job.naming

    instant = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant if tz else instant.replace(tzinfo=None)

    monkeypatch.setattr(launcher.job.naming, "datetime", Frozen)
    monkeypatch.setattr(sdk_utils, "datetime", Frozen)
    src = make_source(tmp_path)
    for _ in range(2):
        assert train(cli_env, *base_args(src, "--instance", "ml.g5.xlarge", "--json")) == 0
    a, b = (r["TrainingJobName"] for r in captured)
    assert a != b and a.startswith("train-20260102-030405-") and b.startswith("train-20260102-030405-")
    assert {a, b} == set(moto_jobs())
    # The SDK's own names for the two submits collide (1-second resolution, no suffix) …
    sdk_names = [channel(r, "sm_drivers")["DataSource"]["S3DataSource"]["S3Uri"].split("/")[-3]
                 for r in captured]
    assert sdk_names == ["train-20260102030405"] * 2
    # … which is why we never send them.
    assert all(r["TrainingJobName"] not in sdk_names for r in captured)


def test_second_identical_submit_uploads_no_code(cli_env, s3, captured, tmp_path):
    src = make_source(tmp_path)
    args = base_args(src, "--instance", "ml.g5.xlarge", "--json")
    assert train(cli_env, *args) == 0
    first = submitted(cli_env)["submit"]
    code_keys = {k for k in s3_objects(s3, prefix="launcher/code/")}
    assert first["uploaded_objects"] == 1 and len(code_keys) == 1

    reset(cli_env)
    assert train(cli_env, *args) == 0
    second = submitted(cli_env)["submit"]
    assert second["uploaded_objects"] == 0 and second["uploaded_bytes"] == 0
    assert second["already_staged"] == [f"s3://{BUCKET}/{next(iter(code_keys))}"]
    assert set(s3_objects(s3, prefix="launcher/code/")) == code_keys
    # The SDK re-uploads its driver files on every submit: measured, not ours to avoid.
    assert second["sdk_driver_objects"] >= 15 and second["sdk_driver_bytes"] > 10_000
    drivers = s3_objects(s3, prefix=f"launcher/staging/{captured[1]['TrainingJobName']}/")
    assert len(drivers) == second["sdk_driver_objects"]
    assert sum(drivers.values()) == second["sdk_driver_bytes"]
    assert any(k.endswith("/sm_drivers/sm_train.sh") for k in drivers)


def test_local_data_is_uploaded_once_with_a_manifest(cli_env, s3, captured, tmp_path):
    src = make_source(tmp_path)
    data = make_channel(tmp_path, "train", samples=12)
    args = base_args(src, "--instance", "ml.g5.xlarge", "--data", f"train={data}", "--json")
    assert train(cli_env, *args) == 0
    uri = channel(captured[0], "train")["DataSource"]["S3DataSource"]["S3Uri"]
    prefix = uri.removeprefix(f"s3://{BUCKET}/")
    keys = s3_objects(s3, prefix=prefix)
    assert set(keys) == {prefix + "train.npz", prefix + MANIFEST_NAME}
    info = read_manifest(s3, uri)
    assert info is not None and info.samples == 12 and info.shapes["train.npz"]["x"] == [12, 4]
    assert submitted(cli_env)["submit"]["uploaded_objects"] == 3  # code, data, manifest

    reset(cli_env)
    assert train(cli_env, *args) == 0  # unchanged: nothing uploaded
    assert submitted(cli_env)["submit"]["uploaded_objects"] == 0
    assert channel(captured[1], "train") == channel(captured[0], "train")

    make_channel(tmp_path, "train", samples=12, seed=1)  # new content: new prefix
    reset(cli_env)
    assert train(cli_env, *args) == 0
    assert channel(captured[2], "train") != channel(captured[0], "train")
    assert submitted(cli_env)["submit"]["uploaded_objects"] == 2
    assert read_manifest(s3, f"s3://{BUCKET}/launcher/data/000000000000/") is None


def test_adding_a_file_uploads_that_file_only_and_old_versions_stay(cli_env, s3, captured, tmp_path):
    import numpy as np

    src = make_source(tmp_path)
    data = make_channel(tmp_path, "train", samples=12)
    for i in range(3):
        np.savez(data / f"extra-{i}.npz", x=np.full((5, 4), i, "float32"), y=np.zeros(5, "int64"))
    args = base_args(src, "--instance", "ml.g5.xlarge", "--data", f"train={data}", "--json")
    assert train(cli_env, *args) == 0
    first = channel(captured[0], "train")["DataSource"]["S3DataSource"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    def etags(prefix):
        return {o["Key"]: (o["ETag"], o["LastModified"])
                for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}

    before = etags(first)

    np.savez(data / "extra-new.npz", x=np.ones((7, 4), "float32"), y=np.ones(7, "int64"))
    reset(cli_env)
    assert train(cli_env, *args) == 0
    report = submitted(cli_env)["submit"]
    assert report["uploaded_objects"] == 2  # the new file and the new version's manifest
    assert report["copied_in_s3_objects"] == 4  # train.npz and extra-0..2, copied inside S3
    second = channel(captured[1], "train")["DataSource"]["S3DataSource"]["S3Uri"].removeprefix(f"s3://{BUCKET}/")
    assert second != first
    keys = set(s3_objects(s3, prefix=second))
    assert keys == {second + n for n in ("train.npz", "extra-0.npz", "extra-1.npz", "extra-2.npz",
                                         "extra-new.npz", MANIFEST_NAME)}
    body = s3.get_object(Bucket=BUCKET, Key=second + "extra-1.npz")["Body"].read()
    assert body == (data / "extra-1.npz").read_bytes()
    assert etags(first) == before  # the first job's view never changes


def test_dry_run_has_no_side_effects_and_matches_the_real_request(cli_env, s3, captured, tmp_path):
    src = make_source(tmp_path)
    data = make_channel(tmp_path, "train")
    args = base_args(src, "--instance", "ml.p3.8xlarge", "--instance-count", "2", "--data", f"train={data}",
                     "--data", "validation=s3://data-bucket/val/", "--input-mode", "FastFile",
                     "--hp", "epochs=2", "--env", "A=1", "--name", "exact-name-1")
    assert train(cli_env, *args, "--dry-run") == 0
    dry = json.loads(cli_env.stdout.getvalue())
    assert "nothing was uploaded" in cli_env.stderr.getvalue()
    assert s3_objects(s3) == {} and moto_jobs() == {} and captured == []

    reset(cli_env)
    assert train(cli_env, *args, "--json") == 0
    [real] = captured
    assert strip_locations(dry) == strip_locations(real)
    assert dry["TrainingJobName"] == real["TrainingJobName"] == "exact-name-1"
    assert {t["Key"]: t["Value"] for t in real["Tags"]}["launcher:distribution"] == "torchrun"


def test_the_sdk_stages_torchrun_for_multi_gpu_jobs(cli_env, s3, captured, tmp_path):
    src = make_source(tmp_path)
    assert train(cli_env, *base_args(src, "--instance", "ml.g5.12xlarge", "--json")) == 0
    drivers = channel(captured[0], "sm_drivers")["DataSource"]["S3DataSource"]["S3Uri"]
    prefix = drivers.removeprefix(f"s3://{BUCKET}/")
    body = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/distributed.json")["Body"].read()
    assert json.loads(body)["process_count_per_node"] is None  # torchrun: one process per GPU
    script = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/sm_train.sh")["Body"].read().decode()
    assert "torchrun_driver.py" in script and "tar -xzf sourcedir.tar.gz" in script
    # The SDK records the source dir it was given: ours is the S3 tarball, never a local path.
    source = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/sourcecode.json")["Body"].read())
    assert source["source_dir"] == channel(captured[0], "code")["DataSource"]["S3DataSource"]["S3Uri"]
    assert str(tmp_path) not in json.dumps(source)


@pytest.mark.parametrize(("extra", "error", "match"), [
    (["--instance", "ml.p3.2xlarg"], SpecError, "did you mean ml.p3.2xlarge"),
    (["--instance", "ml.g5.xlarge", "--instance-count", "0"], SpecError, "instance_count"),
    (["--instance", "ml.g5.xlarge", "--max-run", str(29 * 24 * 3600)], SpecError, "max_run"),
    (["--instance", "ml.g5.xlarge", "--max-run", "3600", "--max-wait", "60"], SpecError, "max_wait"),
    (["--instance", "ml.g5.xlarge", "--data", "train=s3://data-bucket"], SpecError, "whole bucket"),
    (["--instance", "ml.g5.xlarge", "--data", "train=https://example.com/x"], SpecError, "does not exist"),
    (["--instance", "ml.g5.xlarge", "--data", "code=s3://data-bucket/c/"], SpecError, "reserved"),
    (["--instance", "ml.p3.2xlarge", "--framework-version", "2.10.0"], SpecError, "CUDA 13"),
    (["--instance", "ml.g5.xlarge", "--role", ""], SpecError, "execution role"),
    (["--instance", "ml.g5.xlarge", "--bucket", ""], SpecError, "bucket"),
    (["--instance", "ml.g5.xlarge", "--bucket", "no-such-bucket"], AwsError, "does not exist"),
    (["--instance", "ml.g5.xlarge", "--hp", "note=it's"], SpecError, "single quote"),
    ([], SpecError, "instance type"),
])
def test_validation_errors_create_nothing(cli_env, s3, captured, tmp_path, extra, error, match):
    src = make_source(tmp_path)
    data = make_channel(tmp_path, "train")
    argv = base_args(src, "--data", f"validation={data}", *extra)
    with pytest.raises(error, match=match) as err:
        train(cli_env, *argv)
    if match in ("execution role", "bucket") or error is AwsError:
        assert "launch infra deploy" in (err.value.remedy or "")
    assert s3_objects(s3) == {} and moto_jobs() == {} and captured == []


def test_missing_credentials_is_a_message(cli_env, s3, captured, tmp_path, monkeypatch):
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(AwsError, match="no AWS credentials") as err:
        train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge"))
    assert "aws configure" in (err.value.remedy or "")
    assert moto_jobs() == {} and captured == []


def test_wait_streams_logs_then_prints_the_summary(cli_env, s3, captured, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps long URIs at 80 columns when not on a terminal
    src = make_source(tmp_path)
    args = base_args(src, "--instance", "ml.g5.xlarge", "--name", "waited-job", "--wait",
                     "--output", str(tmp_path / "artifacts"))
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.pt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    s3.put_object(Bucket=BUCKET, Key="launcher/output/waited-job/output/model.tar.gz", Body=blob.getvalue())
    logs = boto3.client("logs", region_name=REGION)
    put_log_lines(logs, "waited-job/algo-1-1700000000", ["epoch=1 loss=0.5", "epoch=2 loss=0.25"])
    assert train(cli_env, *args) == 0
    out = cli_env.stdout.getvalue()
    assert "submitted waited-job" in out
    summary = out.index("Completed")
    assert out.index("submitted") < out.index("epoch=1 loss=0.5") < out.index("epoch=2 loss=0.25") < summary
    assert "spot savings" not in out  # moto reports no training or billable time
    assert "s3://launcher-test-bucket/launcher/output/waited-job/output/model.tar.gz" in out
    assert (tmp_path / "artifacts" / "model" / "model.pt").read_bytes() == b"abc"  # --output DIR
    assert "downloaded" in out


def test_existing_name_is_refused_with_a_remedy(cli_env, s3, captured, tmp_path, monkeypatch):
    from botocore.exceptions import ClientError

    import launcher.backends.sagemaker.backend as backend_mod

    real = backend_mod.SageMakerBackend.schedule

    def submit_twice(self, dryrun):
        real(self, dryrun)
        err = {"Error": {"Code": "ResourceInUse", "Message": "Training job names must be unique"}}

        def refuse(**_):
            raise ClientError(err, "CreateTrainingJob")

        self.sm.create_training_job = refuse
        return real(self, dryrun)

    monkeypatch.setattr(backend_mod.SageMakerBackend, "schedule", submit_twice)
    with pytest.raises(AwsError, match="already exists"):
        train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--name", "dup"))


def test_cli_wiring_through_launch_train(cli_env, s3, captured, tmp_path):
    from launcher.cli.main import main

    src = make_source(tmp_path)
    rc = main(["train", *base_args(src, "--instance", "ml.g5.xlarge", "--dry-run")], cli_env)
    assert rc == 0, cli_env.err
    assert json.loads(cli_env.out)["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert s3_objects(s3) == {}
    bad = main(["train", *base_args(src, "--instance", "ml.g5.xlarge", "--bucket", "")], cli_env)
    assert bad == ExitStatus.INVALID and "launch infra deploy" in cli_env.err
    assert "Traceback" not in cli_env.err


def test_the_sdks_role_check_fails_before_any_upload(cli_env, s3, captured, tmp_path, monkeypatch):
    """With SAGEMAKER_VALIDATE_ROLE on, the SDK simulates the role's policy (moto cannot)."""
    monkeypatch.delenv("SAGEMAKER_VALIDATE_ROLE")
    with pytest.raises(AwsError, match="check of role") as err:
        train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge"))
    assert "SAGEMAKER_VALIDATE_ROLE=false" in (err.value.remedy or "")
    assert s3_objects(s3) == {} and moto_jobs() == {} and captured == []


def test_wait_on_a_failed_job_prints_the_summary_and_fails(cli_env, s3, captured, tmp_path, monkeypatch):
    import launcher.backends.sagemaker.backend as backend_mod
    from launcher.errors import JobFailedError
    from tests.sagemaker_helpers import set_job_state

    monkeypatch.setenv("COLUMNS", "250")
    real = backend_mod.SageMakerBackend.schedule

    def submit_then_fail(self, dryrun):
        submission = real(self, dryrun)
        set_job_state(dryrun.job.name, "Failed", "Failed", transitions=["Starting", "Training", "Failed"],
                      failure_reason="AlgorithmError: … returned non-zero exit status 3.")
        submission.job = self.describe(dryrun.job.name)
        return submission

    monkeypatch.setattr(backend_mod.SageMakerBackend, "schedule", submit_then_fail)
    put_log_lines(boto3.client("logs", region_name=REGION), "bad-job/algo-1-1700000000",
                  ["Traceback (most recent call last):", 'File "train.py", line 1, in <module>',
                   "1 / 0", "ZeroDivisionError: division by zero"])
    with pytest.raises(JobFailedError, match="ended Failed") as err:
        train(cli_env, *base_args(make_source(tmp_path), "--instance", "ml.g5.xlarge", "--name", "bad-job",
                                  "--wait", "--output", str(tmp_path / "artifacts")))
    assert err.value.exit_code == 3
    out = cli_env.stdout.getvalue()
    assert "ZeroDivisionError: division by zero" in out and "exit status 3" in out
    assert not (tmp_path / "artifacts").exists()  # only a completed job's artifacts are fetched
