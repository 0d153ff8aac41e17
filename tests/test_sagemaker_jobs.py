"""Cloud job commands on the backend: describe/status/list through lifecycle states, logs, stop,
download, and the terminal summary (moto over HTTP; StopTrainingJob through botocore's Stubber)."""

from __future__ import annotations

import io
import tarfile
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from launcher.aws import client
from launcher.backends.base import JobDescription, JobStatus, spot_savings_percent
from launcher.backends.sagemaker.backend import SageMakerBackend, make_sagemaker_backend
from launcher.backends.sagemaker.logs import last_traceback
from launcher.cli.render.summary import render_summary
from launcher.config.spec import Aws
from launcher.errors import AwsError, JobNotFoundError
from tests.conftest import CapturedEnv
from tests.sagemaker_helpers import BUCKET, REGION, ROLE, iter_limit, put_log_lines, set_job_state

AWS = Aws(region=REGION, role=ROLE, bucket=BUCKET)


@pytest.fixture
def backend(aws, tmp_path) -> SageMakerBackend:
    b = make_sagemaker_backend(AWS)
    b.poll_seconds = 0.0
    return b


def create_job(name: str, *, spot: bool = True, instance: str = "ml.p3.2xlarge", count: int = 1) -> None:
    sm = boto3.client("sagemaker", region_name=REGION)
    stopping = {"MaxRuntimeInSeconds": 3600, **({"MaxWaitTimeInSeconds": 7200} if spot else {})}
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/launcher/output/"},
        ResourceConfig={"InstanceType": instance, "InstanceCount": count, "VolumeSizeInGB": 30},
        StoppingCondition=stopping,
        EnableManagedSpotTraining=spot,
        CheckpointConfig={"S3Uri": f"s3://{BUCKET}/launcher/checkpoints/{name}/"} if spot else {
            "S3Uri": f"s3://{BUCKET}/x/"},
    )


def summary_text(desc: JobDescription, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "250")
    env = CapturedEnv(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=False,
                      config_path=Path("/nonexistent"), home=Path("/nonexistent"))
    render_summary(env, desc)
    return env.out


def test_lifecycle_of_an_interrupted_spot_job(backend, monkeypatch):
    create_job("spot-job")
    set_job_state("spot-job", "InProgress", "Starting", transitions=["Starting"])
    desc = backend.describe("spot-job")
    assert desc.status == JobStatus.IN_PROGRESS and desc.secondary_status == "Starting"
    assert not desc.status.terminal and desc.spot and desc.instance_type == "ml.p3.2xlarge"

    set_job_state("spot-job", "InProgress", "Interrupted",
                  transitions=["Starting", "Downloading", "Training", "Interrupted"])
    assert backend.describe("spot-job").interruptions == 1

    set_job_state("spot-job", "InProgress", "Training",
                  transitions=["Starting", "Downloading", "Training", "Interrupted", "Starting", "Training"])
    assert backend.describe("spot-job").secondary_status == "Training"

    set_job_state("spot-job", "Completed", "Completed",
                  transitions=["Starting", "Downloading", "Training", "Interrupted", "Starting",
                               "Downloading", "Training", "Uploading", "Completed"],
                  training_time_in_seconds=500, billable_time_in_seconds=100,
                  final_metric_data_list=[{"MetricName": "val_accuracy", "Value": 0.97,
                                           "Timestamp": datetime.now(UTC)}])
    desc = backend.describe("spot-job")
    assert desc.status == JobStatus.COMPLETED and desc.interruptions == 1
    assert (desc.training_seconds, desc.billable_seconds, desc.spot_savings_percent) == (500, 100, 80.0)
    assert desc.metrics == {"val_accuracy": 0.97}
    assert desc.artifacts["model"] == f"s3://{BUCKET}/launcher/output/spot-job/output/model.tar.gz"
    assert desc.details["checkpoint_s3_uri"] == f"s3://{BUCKET}/launcher/checkpoints/spot-job/"
    text = summary_text(desc, monkeypatch)
    for expected in ("Completed", "interruptions  1", "500 s (8m20s)", "100 s (1m40s)", "80.0 %",
                     "val_accuracy", "0.97", "model.tar.gz", "Interrupted → Starting"):
        assert expected in text, expected
    assert desc.to_dict()["spot_savings_percent"] == 80.0


def test_failed_job_shows_reason_exit_code_and_the_scripts_traceback(backend, monkeypatch):
    create_job("failed-job")
    reason = ("AlgorithmError: CalledProcessError: Command '['/usr/bin/python3', 'train.py', '--epochs', "
              "'2']' returned non-zero exit status 3.")
    set_job_state("failed-job", "Failed", "Failed", transitions=["Starting", "Training", "Failed"],
                  failure_reason=reason, training_time_in_seconds=60, billable_time_in_seconds=60)
    put_log_lines(boto3.client("logs", region_name=REGION), "failed-job/algo-1-1700000000", [
        "epoch=1 loss=0.5",
        "Traceback (most recent call last):",
        'File "/opt/ml/input/data/code/train.py", line 12, in <module>',
        "main()",
        'File "/opt/ml/input/data/code/train.py", line 9, in main',
        "raise ValueError('bad shape (3, 4)')",
        "ValueError: bad shape (3, 4)",
        "Command failed with exit code 3. Traceback: Traceback (most recent call last):",
        'File "/opt/ml/input/data/sm_drivers/common/utils.py", line 193, in execute_commands',
        "raise subprocess.CalledProcessError(exitcode, commands)",
        "subprocess.CalledProcessError: Command '[...]' returned non-zero exit status 3.",
    ])
    desc = backend.describe("failed-job")
    assert desc.status == JobStatus.FAILED and desc.exit_code == 3
    assert desc.failure_reason == reason
    assert desc.details["last_traceback"].splitlines()[-1] == "ValueError: bad shape (3, 4)"
    assert "artifacts" not in desc.details and "output" not in desc.artifacts
    text = summary_text(desc, monkeypatch)
    assert "exit status 3" in text and "ValueError: bad shape (3, 4)" in text
    assert "launch logs failed-job" in text
    assert "['/usr/bin/python3', 'train.py'" in text  # rich markup escaped, not eaten


def test_stopped_job_summary(backend, monkeypatch):
    create_job("stopped-job", spot=False)
    set_job_state("stopped-job", "Stopped", "MaxWaitTimeExceeded",
                  transitions=["Starting", "Stopping", "MaxWaitTimeExceeded"], training_time_in_seconds=30)
    desc = backend.describe("stopped-job")
    assert desc.status == JobStatus.STOPPED and desc.status.terminal and desc.spot_savings_percent is None
    text = summary_text(desc, monkeypatch)
    assert "Stopped (MaxWaitTimeExceeded)" in text and "spot savings" not in text


def test_list_jobs_filters_and_limits(backend):
    for i in range(5):
        create_job(f"job-{i}")
    set_job_state("job-1", "InProgress", "Training")
    set_job_state("job-3", "Failed", "Failed", failure_reason="boom")
    names = [j.name for j in backend.list_jobs(limit=10)]
    assert sorted(names) == [f"job-{i}" for i in range(5)]
    assert [j.name for j in backend.list_jobs(status=JobStatus.IN_PROGRESS)] == ["job-1"]
    assert [j.name for j in backend.list_jobs(status=JobStatus.FAILED)] == ["job-3"]
    assert len(backend.list_jobs(limit=2)) == 2
    assert all(j.backend == "sagemaker" for j in backend.list_jobs())


def test_unknown_job_is_job_not_found(backend):
    with pytest.raises(JobNotFoundError, match="no SageMaker training job named 'ghost'"):
        backend.describe("ghost")
    with pytest.raises(JobNotFoundError):
        list(backend.logs("ghost"))


def test_logs_of_a_multi_host_job(backend):
    create_job("two-hosts", count=2)
    logs = boto3.client("logs", region_name=REGION)
    t0 = int(time.time() * 1000)
    put_log_lines(logs, "two-hosts/algo-1-1700000000", ["a1"], start_ms=t0)
    put_log_lines(logs, "two-hosts/algo-1-1700000000", ["a2"], start_ms=t0 + 2)
    put_log_lines(logs, "two-hosts/algo-2-1700000000", ["b1"], start_ms=t0 + 1)
    put_log_lines(logs, "other-job/algo-1-1700000000", ["not mine"], start_ms=t0)
    lines = list(backend.logs("two-hosts"))
    assert lines == ["[algo-1] a1", "[algo-2] b1", "[algo-1] a2"]


def test_follow_logs_until_the_job_ends(backend):
    create_job("running")
    set_job_state("running", "InProgress", "Training")
    logs = boto3.client("logs", region_name=REGION)
    stream = "running/algo-1-1700000000"
    put_log_lines(logs, stream, ["epoch=1"])
    polls = []

    def sleep(_seconds):  # each poll, the job writes a line; on the third it ends
        polls.append(1)
        now_ms = int(time.time() * 1000) + len(polls)
        put_log_lines(logs, stream, [f"epoch={len(polls) + 1}"], start_ms=now_ms)
        if len(polls) == 3:
            set_job_state("running", "Completed", "Completed")

    backend.sleep = sleep
    assert list(backend.logs("running", follow=True)) == ["epoch=1", "epoch=2", "epoch=3", "epoch=4"]
    assert len(polls) == 3


def test_follow_is_bounded_and_stoppable(backend):
    create_job("forever")
    set_job_state("forever", "InProgress", "Training")
    put_log_lines(boto3.client("logs", region_name=REGION), "forever/algo-1-1700000000", ["x"])
    now = [0.0]
    backend.clock = lambda: now[0]
    backend.sleep = lambda s: now.__setitem__(0, now[0] + 60)
    assert list(backend.logs("forever", follow=True, timeout=300)) == ["x"]  # 5 polls of 60 s
    assert now[0] == 300
    gen = backend.logs("forever", follow=True)  # default bound: max wait + 1 h
    assert iter_limit(gen, 1) == ["x"]
    gen.close()  # the caller can stop it at any time


def test_logs_before_the_container_starts(backend):
    create_job("queued")
    set_job_state("queued", "InProgress", "Starting")
    assert list(backend.logs("queued")) == []


def _stubbed(tmp_path) -> tuple[SageMakerBackend, Stubber]:
    session = boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    sm = client(session, "sagemaker")
    b = SageMakerBackend(session, aws=AWS, sagemaker_client=sm, s3_client=None,
                         logs_client=None, poll_seconds=0)
    return b, Stubber(sm)


def _described(name: str, status: str, secondary: str) -> dict:
    return {"TrainingJobName": name,
            "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
            "TrainingJobStatus": status, "SecondaryStatus": secondary,
            "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "img:1"},
            "ModelArtifacts": {"S3ModelArtifacts": ""}, "CreationTime": datetime.now(UTC),
            "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "EnableManagedSpotTraining": True}


def test_stop_a_running_job(tmp_path):
    backend, stub = _stubbed(tmp_path)
    job = {"TrainingJobName": "j"}
    stub.add_response("describe_training_job", _described("j", "InProgress", "Training"), job)
    stub.add_response("stop_training_job", {}, job)
    stub.add_response("describe_training_job", _described("j", "Stopping", "Stopping"), job)
    with stub:
        desc = backend.stop("j")
    stub.assert_no_pending_responses()
    assert desc.status == JobStatus.STOPPING


def test_stop_a_finished_job_calls_nothing(tmp_path):
    backend, stub = _stubbed(tmp_path)
    job = {"TrainingJobName": "j"}
    stub.add_response("describe_training_job", _described("j", "Completed", "Completed"), job)
    with stub:
        assert backend.stop("j").status == JobStatus.COMPLETED
    stub.assert_no_pending_responses()


def test_stop_an_unknown_job(tmp_path):
    backend, stub = _stubbed(tmp_path)
    stub.add_client_error("describe_training_job", "ValidationException", "Requested resource not found.",
                          expected_params={"TrainingJobName": "ghost"})
    with stub, pytest.raises(JobNotFoundError):
        backend.stop("ghost")


def test_stop_answers_fast_against_a_server_without_the_api(backend):
    """moto lacks StopTrainingJob: bounded retries turn that into an error within seconds."""
    create_job("running")
    set_job_state("running", "InProgress", "Training")
    assert backend.sm.meta.config.retries["total_max_attempts"] == 3
    start = time.monotonic()
    with pytest.raises(AwsError, match="cannot stop running"):
        backend.stop("running")
    assert time.monotonic() - start < 15


def test_download_and_extract(backend, tmp_path):
    create_job("done")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    blob = io.BytesIO()
    with tarfile.open(fileobj=blob, mode="w:gz") as tar:
        data = b"weights"
        info = tarfile.TarInfo("model.pt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=BUCKET, Key="launcher/output/done/output/model.tar.gz", Body=blob.getvalue())
    paths = backend.download("done", tmp_path / "out", extract=True)
    assert (tmp_path / "out" / "model.tar.gz") in paths  # output.tar.gz absent: skipped
    assert (tmp_path / "out" / "model" / "model.pt").read_bytes() == b"weights"


def test_download_without_artifacts(backend, tmp_path):
    create_job("empty")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    with pytest.raises(Exception, match="no artifacts"):
        backend.download("empty", tmp_path / "out")


def test_spot_savings_arithmetic():
    assert spot_savings_percent(500, 100) == 80.0
    assert spot_savings_percent(3600, 3600) == 0.0
    assert spot_savings_percent(3, 1) == 66.7
    assert spot_savings_percent(None, 100) is None and spot_savings_percent(0, 0) is None
    desc = JobDescription(name="j", backend="sagemaker", status=JobStatus.COMPLETED, spot=False,
                          training_seconds=500, billable_seconds=100)
    assert desc.spot_savings_percent is None  # on-demand: nothing saved


def test_last_traceback_prefers_the_scripts_own():
    lines = ["noise", "[rank0]: Traceback (most recent call last):",
             '[rank0]: File "train.py", line 3, in <module>',
             "[rank0]: x = 1 / 0", "[rank0]: ^^^^^", "[rank0]: ZeroDivisionError: division by zero",
             "Traceback (most recent call last):", 'File "torchrun_driver.py", line 9, in main',
             "run()", "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: train.py FAILED"]
    tb = last_traceback(lines)
    assert tb is not None and tb.splitlines()[0] == "Traceback (most recent call last):"
    assert tb.splitlines()[-1] == "ZeroDivisionError: division by zero"
    assert last_traceback(["all good"]) is None


# torchrun 2.13's output when a worker aborts (its own traceback, then the failure table).
TORCHRUN_ABORT = """Traceback (most recent call last):
File "/venv/lib/python3.11/site-packages/torch/distributed/launcher/api.py", line 383, in launch_agent
raise ChildFailedError(
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
======================================================
train.py FAILED
------------------------------------------------------
Failures:
<NO_OTHER_FAILURES>
------------------------------------------------------
Root Cause (first observed failure):
[0]:
time      : 2026-12-03_22:52:55
host      : localhost
rank      : 1 (local_rank: 1)
exitcode  : -6 (pid: 23044)  (SIGABRT)
error_file: <N/A>
traceback : Signal 6 (SIGABRT) received by PID 23044
======================================================""".splitlines()


def test_a_worker_without_a_traceback_is_named_by_torchruns_root_cause():
    tb = last_traceback(["step=3", *TORCHRUN_ABORT])
    assert tb is not None
    assert tb.splitlines()[-1] == ("Root cause: rank 1 (local_rank: 1); exitcode -6 (pid: 23044) "
                                   "(SIGABRT); Signal 6 (SIGABRT) received by PID 23044")
    assert "ChildFailedError" in tb
    # A table without the exit code is not one: nothing is made up.
    assert "Root cause" not in (last_traceback(TORCHRUN_ABORT[:14]) or "")
