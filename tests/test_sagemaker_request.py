"""The pure side of the SageMaker backend: plan, request, validation, image choice (no AWS)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.backends.sagemaker.images import resolve_image
from launcher.backends.sagemaker.request import validate_request
from launcher.config.spec import build_spec
from launcher.errors import SpecError
from tests.conftest import REPO
from tests.sagemaker_helpers import BUCKET, METRICS, REGION, ROLE, dry_run_request, make_channel, make_source


def spec_for(src: Path, **over):
    values = {
        "entrypoint": "train.py",
        "source_dir": str(src),
        "compute": {"instance_type": "ml.p3.2xlarge"},
        "aws": {"role": ROLE, "bucket": BUCKET, "region": REGION},
        "data": {"train": "s3://data-bucket/digits/train/", "validation": "s3://data-bucket/digits/val/"},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return build_spec(values)


def channel(request, name):
    return next(c for c in request["InputDataConfig"] if c["ChannelName"] == name)


def tags(request):
    return {t["Key"]: t["Value"] for t in request["Tags"]}


def test_spot_gpu_request_with_two_channels(tmp_path):
    src = make_source(tmp_path)
    spec = spec_for(src, extra_hyperparameters={"epochs": 3, "lr": 0.1, "amp": True, "layers": [64, 128],
                                                "arch": "resnet 50"},
                    tags={"team": "vision"}, environment={"MY_FLAG": "1"})
    req = dry_run_request(spec, "train-20260101-000000-abcd", cwd=tmp_path)

    assert req["TrainingJobName"] == "train-20260101-000000-abcd"
    assert req["EnableManagedSpotTraining"] is True
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert req["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/launcher/checkpoints/train-20260101-000000-abcd/",
        "LocalPath": "/opt/ml/checkpoints"}
    assert [c["ChannelName"] for c in req["InputDataConfig"]] == ["train", "validation", "code", "sm_drivers"]
    assert channel(req, "train")["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data-bucket/digits/train/"
    assert "InputMode" not in channel(req, "train")  # inherits the job's mode
    code = channel(req, "code")["DataSource"]["S3DataSource"]["S3Uri"]
    assert code.startswith(f"s3://{BUCKET}/launcher/code/") and code.endswith("/sourcedir.tar.gz")
    assert req["HyperParameters"] == {"epochs": "3", "lr": "0.1", "amp": "true", "layers": "[64, 128]",
                                      "arch": "resnet 50"}
    assert req["AlgorithmSpecification"]["MetricDefinitions"] == METRICS
    assert req["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert req["AlgorithmSpecification"]["TrainingImage"] == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.8.0-gpu-py312")
    assert req["ResourceConfig"] == {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1,
                                     "VolumeSizeInGB": 30}
    assert req["RoleArn"] == ROLE
    assert req["Environment"] == {"MY_FLAG": "1"}
    t = tags(req)
    assert t["team"] == "vision" and t["launcher:version"]
    assert t["launcher:code-hash"] in code
    assert "launcher:distribution" not in t  # one host, one GPU
    validate_request(req)


def test_request_is_deterministic_and_content_addressed(tmp_path):
    src = make_source(tmp_path)
    a = dry_run_request(spec_for(src), "job-a", cwd=tmp_path)
    b = dry_run_request(spec_for(src), "job-a", cwd=tmp_path)
    assert channel(a, "code") == channel(b, "code")
    (src / "train.py").write_text("print('loss=0.25')\n")
    c = dry_run_request(spec_for(src), "job-a", cwd=tmp_path)
    assert channel(c, "code") != channel(a, "code")


def test_no_spot_has_no_wait_and_no_checkpoint(tmp_path):
    req = dry_run_request(spec_for(make_source(tmp_path), spot={"enabled": False}), "j", cwd=tmp_path)
    assert req["EnableManagedSpotTraining"] is False
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert "CheckpointConfig" not in req


@pytest.mark.parametrize(("compute", "expected"), [
    ({"instance_type": "ml.g5.xlarge", "instance_count": 2}, "torchrun"),
    ({"instance_type": "ml.p3.8xlarge"}, "torchrun"),  # 4 × V100 on one host
    ({"instance_type": "ml.g5.12xlarge", "processes_per_host": 2}, "torchrun nproc_per_node=2"),
    ({"instance_type": "ml.g5.xlarge"}, None),
])
def test_torchrun_distribution_in_the_request(tmp_path, compute, expected):
    req = dry_run_request(spec_for(make_source(tmp_path), compute=compute), "j", cwd=tmp_path)
    assert tags(req).get("launcher:distribution") == expected
    assert req["ResourceConfig"]["InstanceCount"] == compute.get("instance_count", 1)


def test_local_channels_get_content_addressed_uris(tmp_path):
    src = make_source(tmp_path)
    data = make_channel(tmp_path, "train")
    spec = spec_for(src, data={"train": str(data)})
    req = dry_run_request(spec, "j", cwd=tmp_path)
    uri = channel(req, "train")["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri.startswith(f"s3://{BUCKET}/launcher/data/") and uri.endswith("/")
    assert dry_run_request(spec, "k", cwd=tmp_path)["InputDataConfig"][0] == req["InputDataConfig"][0]


def test_fastfile_needs_prefix_uris(tmp_path):
    src = make_source(tmp_path)
    req = dry_run_request(spec_for(src, compute={"input_mode": "FastFile"}), "j", cwd=tmp_path)
    assert req["AlgorithmSpecification"]["TrainingInputMode"] == "FastFile"
    assert all("InputMode" not in c for c in req["InputDataConfig"][:2])
    assert channel(req, "code")["InputMode"] == "File"
    with pytest.raises(SpecError, match="end it with '/'"):
        dry_run_request(spec_for(src, compute={"input_mode": "FastFile"},
                                 data={"train": "s3://data-bucket/train"}), "j", cwd=tmp_path)


def test_reference_entrypoint_metric_definitions(tmp_path):
    spec = build_spec({"compute": {"instance_type": "ml.g5.xlarge"},
                       "aws": {"role": ROLE, "bucket": BUCKET, "region": REGION},
                       "data": {"train": "s3://data-bucket/train/"}})
    req = dry_run_request(spec, "j", cwd=tmp_path)
    shipped = json.loads((REPO / "entrypoints" / "metric_definitions.json").read_text())
    assert req["AlgorithmSpecification"]["MetricDefinitions"] == shipped


# -- validation before any call ----------------------------------------------------------------------


@pytest.mark.parametrize(("over", "match", "remedy"), [
    ({"compute": {"instance_type": None}}, "instance type", "--instance"),
    ({"aws": {"role": None}}, "execution role", "launch infra deploy"),
    ({"aws": {"bucket": None}}, "bucket", "launch infra deploy"),
    ({"aws": {"role": "my-role"}}, "not an IAM role ARN", "full ARN"),
    ({"compute": {"framework_version": "2.9.0"}}, "CUDA 13", "2.8.0"),
    ({"compute": {"image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/"
                               "pytorch-training:2.10.0-gpu-py313"}}, "CUDA 13", "2.8.0"),
    ({"compute": {"framework_version": "2.8.0", "py_version": "py311"}}, "py312", "--py-version"),
    ({"compute": {"framework_version": "1.5"}}, "not in the launcher's table", "--image-uri"),
    ({"compute": {"instance_type": "ml.trn1.2xlarge"}}, "Neuron", "--image-uri"),
    ({"tags": {f"k{i}": "v" for i in range(49)}}, "tags", "at most 47"),
])
def test_plan_validation_errors(tmp_path, over, match, remedy):
    with pytest.raises(SpecError, match=match) as err:
        dry_run_request(spec_for(make_source(tmp_path), **over), "j", cwd=tmp_path)
    assert remedy in str(err.value)  # message or remedy


@pytest.mark.parametrize(("values", "match"), [
    ({"compute": {"instance_type": "ml.p3.2xlarg"}}, "did you mean"),
    ({"compute": {"instance_count": 0}}, "instance_count"),
    ({"spot": {"max_run": 28 * 24 * 3600 + 1}}, "max_run"),
    ({"spot": {"max_run": 3600, "max_wait": 1800}}, "max_wait"),
    ({"spot": {"checkpoint_s3_uri": "s3://ckpt-bucket/ckpt"}}, "end with '/'"),
    ({"data": {"code": "s3://data-bucket/x/"}}, "reserved"),
    ({"data": {"sm_drivers": "s3://data-bucket/x/"}}, "reserved"),
    ({"data": {"train": "s3://B_ad/x"}}, "malformed S3 URI"),
])
def test_spec_validation_errors(values, match):
    base = {"compute": {"instance_type": "ml.g5.xlarge"}, "aws": {"role": ROLE, "bucket": BUCKET}}
    with pytest.raises(SpecError, match=match):
        build_spec({**base, **values, "compute": {**base["compute"], **values.get("compute", {})}})


def _valid(tmp_path) -> dict:
    return dry_run_request(spec_for(make_source(tmp_path)), "job-1", cwd=tmp_path)


@pytest.mark.parametrize(("mutate", "match"), [
    (lambda r: r["StoppingCondition"].pop("MaxWaitTimeInSeconds"), "needs MaxWaitTimeInSeconds"),
    (lambda r: r["StoppingCondition"].update(MaxWaitTimeInSeconds=10), "must be ≥"),
    (lambda r: r.update(EnableManagedSpotTraining=False), "only to managed spot"),
    (lambda r: r["CheckpointConfig"].update(S3Uri="s3://ckpt-bucket/ckpt"), "end with '/'"),
    (lambda r: r.update(TrainingJobName="bad_name"), "job name"),
    (lambda r: r.update(TrainingJobName="x" * 64), "job name"),
    (lambda r: r["InputDataConfig"].insert(0, dict(r["InputDataConfig"][2])),
     "reserved by the SageMaker SDK"),
    (lambda r: r.update(InputDataConfig=[dict(r["InputDataConfig"][0], ChannelName=f"c{i}")
                                         for i in range(19)] + r["InputDataConfig"][2:]), "at most 20"),
    (lambda r: r["ResourceConfig"].update(InstanceCount=0), "InstanceCount"),
    (lambda r: r["StoppingCondition"].update(MaxRuntimeInSeconds=28 * 24 * 3600 + 1), "28 days"),
    (lambda r: r["HyperParameters"].update(note="it's"), "single quote"),
    (lambda r: r["HyperParameters"].update({f"k{i}": "1" for i in range(101)}), "at most 100"),
    (lambda r: r["Tags"].append({"Key": "aws:x", "Value": "y"}), "reserved"),
    (lambda r: r["AlgorithmSpecification"].update(MetricDefinitions=[{"Name": "m", "Regex": "(x)"}] * 41),
     "at most 40"),
])
def test_validate_request_rejects_what_sagemaker_rejects(tmp_path, mutate, match):
    req = _valid(tmp_path)
    mutate(req)
    with pytest.raises(SpecError, match=match):
        validate_request(req)


# -- images -------------------------------------------------------------------------------------------


def test_image_defaults():
    p3 = resolve_image(region="us-east-1", instance_type="ml.p3.2xlarge")
    assert p3.uri.endswith("pytorch-training:2.8.0-gpu-py312") and p3.cuda_major == 12
    g5 = resolve_image(region="eu-west-1", instance_type="ml.g5.xlarge")
    assert g5.uri == "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.10.0-gpu-py313"
    cpu = resolve_image(region="cn-north-1", instance_type="ml.m5.xlarge", framework_version="2.8")
    assert cpu.uri == "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/pytorch-training:2.8-cpu-py312"
    own = resolve_image(region="us-east-1", instance_type="ml.p3.2xlarge", image_uri="my/image:1")
    assert own.uri == "my/image:1"


# -- purity ---------------------------------------------------------------------------------------------


def test_dry_run_is_pure_and_does_not_import_the_sdk(tmp_path):
    """No SDK import, no AWS credentials needed, nothing written outside a temporary directory."""
    src = make_source(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code = f"""
import sys, json, socket
from pathlib import Path
def no_network(*a, **k):
    raise AssertionError("network")
socket.socket.connect = no_network
from launcher.config.spec import build_spec
from launcher.backends.sagemaker.request import dry_run_plan
from launcher.job.resolve import Target, resolve_job
spec = build_spec({{"entrypoint": "train.py", "source_dir": {str(src)!r},
    "compute": {{"instance_type": "ml.p3.2xlarge"}},
    "aws": {{"role": {ROLE!r}, "bucket": {BUCKET!r}, "region": "us-east-1"}},
    "data": {{"train": "s3://data-bucket/train/"}}}})
job = resolve_job(spec, target=Target.SAGEMAKER, cwd=Path({str(tmp_path)!r}), name="j")
req = dry_run_plan(job)[1]
assert req["TrainingJobName"] == "j"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("sagemaker", "boto3", "torch", "pandas"))
print(json.dumps(heavy))
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_help_does_not_import_the_sdk():
    code = ("import sys\nfrom launcher.cli.main import main\n"
            "import io\nfrom launcher.context import Environment\n"
            "try:\n    main(['train', '--help'], Environment(stdout=io.StringIO()))\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sagemaker'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
