"""`validate_request`: our check of what real SageMaker rejects in a CreateTrainingJob request.

moto accepts all of it, and ModelTrainer checks little (spot without MaxWait, a user channel named
`code`); the service's limits come from the API model (botocore service-2.json) and the
container contract (§6 checkpoints, §9 FastFile).
"""

from __future__ import annotations

import re
from typing import Any

from launcher.config import wire as hyperparams
from launcher.config.catalog import INSTANCE_TYPES, lookup
from launcher.config.spec import CHANNEL_RE, JOB_NAME_RE, MAX_RUNTIME_SECONDS, is_s3_uri, parse_s3_uri
from launcher.errors import SpecError
from launcher.job import classic_contract

SDK_CHANNELS = ("code", "sm_drivers")  # appended by ModelTrainer, in this order
MAX_INPUT_CHANNELS = 20
MAX_TAGS = 50
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")


def check_s3(uri: Any, what: str) -> str:
    if not isinstance(uri, str) or not is_s3_uri(uri):
        raise SpecError(f"{what} {uri!r} is not an s3:// URI")
    bucket, _key = parse_s3_uri(uri)
    return bucket


def _validate_channels(request: dict[str, Any], job_mode: str) -> None:
    channels = request.get("InputDataConfig") or []
    if len(channels) > MAX_INPUT_CHANNELS:
        raise SpecError(f"{len(channels)} input channels; SageMaker accepts at most {MAX_INPUT_CHANNELS}",
                        f"the SDK adds {len(SDK_CHANNELS)} ({', '.join(SDK_CHANNELS)}): "
                        f"use at most {MAX_INPUT_CHANNELS - len(SDK_CHANNELS)} data channels")
    seen: set[str] = set()
    for channel in channels:
        name = channel.get("ChannelName", "")
        if not CHANNEL_RE.match(name):
            raise SpecError(f"channel name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
        if name in seen:
            hint = " (reserved by the SageMaker SDK: rename yours)" if name in SDK_CHANNELS else ""
            raise SpecError(f"channel {name!r} appears twice{hint}")
        seen.add(name)
        source = channel.get("DataSource", {}).get("S3DataSource", {})
        uri = source.get("S3Uri")
        check_s3(uri, f"channel {name!r}")
        if not parse_s3_uri(uri)[1]:
            raise SpecError(f"channel {name!r}: {uri} is a whole bucket; expected s3://bucket/prefix",
                            f"name the prefix, e.g. {uri.rstrip('/')}/train/")
        mode = channel.get("InputMode") or job_mode
        if mode == "FastFile" and (source.get("S3DataType", "S3Prefix") != "S3Prefix"
                                   or not uri.endswith("/")):
            raise SpecError(f"channel {name!r} is FastFile: its URI must be an S3 prefix ending in '/'",
                            f"use {uri.rstrip('/')}/")
    for reserved in () if classic_contract.is_classic_request(request) else SDK_CHANNELS:
        if reserved not in seen:
            raise SpecError(f"the request lacks the SDK's {reserved!r} channel")


def validate_tags(tags: list[dict[str, str]]) -> None:
    if len(tags) > MAX_TAGS:
        raise SpecError(f"{len(tags)} tags; SageMaker accepts at most {MAX_TAGS}",
                        f"the launcher adds up to 3: use at most {MAX_TAGS - 3} of your own")
    for tag in tags:
        key, value = tag.get("Key", ""), tag.get("Value", "")
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise SpecError(f"tag {key!r}: keys 1-128 and values ≤256 characters")
        if key.lower().startswith("aws:"):
            raise SpecError(f"tag {key!r}: the aws: prefix is reserved")


def validate_resources(resources: dict[str, Any]) -> None:
    """ResourceConfig: a known instance type, at least one instance, a volume SageMaker accepts."""
    if resources.get("InstanceType") not in INSTANCE_TYPES:
        lookup(str(resources.get("InstanceType")))  # raises with a suggestion
    if not isinstance(resources.get("InstanceCount"), int) or resources["InstanceCount"] < 1:
        raise SpecError(f"InstanceCount {resources.get('InstanceCount')!r} must be ≥ 1")
    if not 1 <= int(resources.get("VolumeSizeInGB", 0)) <= 16384:
        raise SpecError(f"VolumeSizeInGB {resources.get('VolumeSizeInGB')!r} must be 1-16384")


def validate_stopping(request: dict[str, Any]) -> None:
    stopping = request.get("StoppingCondition") or {}
    max_run = stopping.get("MaxRuntimeInSeconds")
    if not isinstance(max_run, int) or not 1 <= max_run <= MAX_RUNTIME_SECONDS:
        raise SpecError(f"MaxRuntimeInSeconds {max_run!r} must be 1-{MAX_RUNTIME_SECONDS} (28 days)")
    max_wait = stopping.get("MaxWaitTimeInSeconds")
    if request.get("EnableManagedSpotTraining"):
        if max_wait is None:
            raise SpecError("managed spot training needs MaxWaitTimeInSeconds", "pass --max-wait SECONDS")
        if max_wait < max_run:
            raise SpecError(f"MaxWaitTimeInSeconds ({max_wait}) must be ≥ MaxRuntimeInSeconds ({max_run})",
                            "raise --max-wait or lower --max-run")
    elif max_wait is not None:
        raise SpecError("MaxWaitTimeInSeconds applies only to managed spot training",
                        "drop --max-wait or use --spot")
    checkpoint = request.get("CheckpointConfig")
    if checkpoint:
        uri = checkpoint.get("S3Uri")
        check_s3(uri, "checkpoint URI")
        if not uri.endswith("/"):
            raise SpecError(f"checkpoint URI {uri!r} must end with '/'",
                            f"SageMaker syncs the bare prefix, so it would also match {uri}0…")


def api_limits(shape: Any, value: Any, path: str) -> None:
    """Lengths and counts of the API model's shape (botocore's own validator checks only minimums)."""
    kind = shape.type_name
    limits = shape.metadata
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                api_limits(shape.members[key], item, f"{path}.{key}")
    elif kind == "list" and isinstance(value, list):
        if "max" in limits and len(value) > limits["max"]:
            raise SpecError(f"{path} has {len(value)} entries; SageMaker accepts at most {limits['max']}")
        for i, item in enumerate(value):
            api_limits(shape.member, item, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, dict):
        if "max" in limits and len(value) > limits["max"]:
            raise SpecError(f"{path} has {len(value)} entries; SageMaker accepts at most {limits['max']}")
        for key, item in value.items():
            api_limits(shape.key, key, f"{path} key {key!r}")
            api_limits(shape.value, item, f"{path}[{key!r}]")
    elif kind == "string" and isinstance(value, str) and (
            len(value) > limits.get("max", len(value)) or len(value) < limits.get("min", 0)):
        raise SpecError(f"{path} is {len(value)} characters; SageMaker accepts "
                        f"{limits.get('min', 0)}-{limits.get('max')} ({value[:40]!r}…)")


def check_api_model(request: dict[str, Any]) -> None:
    """The request against the installed botocore's CreateTrainingJob model (lengths and counts)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    api_limits(model.operation_model("CreateTrainingJob").input_shape, request, "request")


def validate_request(request: dict[str, Any]) -> None:
    """Our check of what real SageMaker rejects in a CreateTrainingJob request (SpecError)."""
    name = request.get("TrainingJobName", "")
    if not isinstance(name, str) or not JOB_NAME_RE.match(name):
        raise SpecError(f"job name {name!r}: 1-63 letters, digits and hyphens, "
                        "starting with a letter or digit")
    if not ROLE_ARN_RE.match(str(request.get("RoleArn", ""))):
        raise SpecError(f"RoleArn {request.get('RoleArn')!r} is not an IAM role ARN")
    algorithm = request.get("AlgorithmSpecification") or {}
    if not algorithm.get("TrainingImage"):
        raise SpecError("the request has no training image")
    mode = algorithm.get("TrainingInputMode")
    if mode not in ("File", "FastFile", "Pipe"):
        raise SpecError(f"TrainingInputMode {mode!r} must be File, FastFile or Pipe")
    metrics = algorithm.get("MetricDefinitions") or []
    if len(metrics) > 40:
        raise SpecError(f"{len(metrics)} metric definitions; SageMaker accepts at most 40")
    for m in metrics:
        if not 1 <= len(m.get("Name", "")) <= 255 or not 1 <= len(m.get("Regex", "")) <= 500:
            raise SpecError(f"metric {m.get('Name')!r}: Name 1-255 and Regex 1-500 characters")
    validate_resources(request.get("ResourceConfig") or {})
    validate_stopping(request)
    if classic_contract.is_classic_request(request):  # the toolkit exports them itself: no shell rules
        classic_contract.check_limits(request.get("HyperParameters") or {})
    else:
        hyperparams.check_limits(request.get("HyperParameters") or {})
    environment = request.get("Environment") or {}
    if len(environment) > 100:
        raise SpecError(f"{len(environment)} environment variables; SageMaker accepts at most 100")
    _validate_channels(request, mode)
    check_s3((request.get("OutputDataConfig") or {}).get("S3OutputPath"), "output path")
    validate_tags(request.get("Tags") or [])
    check_api_model(request)  # the rest of the model's limits, after the checks with a better message
