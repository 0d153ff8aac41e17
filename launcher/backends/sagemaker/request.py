"""The CreateTrainingJob request, computed without touching AWS.

`build_plan` turns a JobSpec into a `JobPlan`: every decision of a cloud submit (image, code and
data locations, spot, checkpoints, distribution, tags, metric definitions), validated before any
call. `to_request` renders a plan as the request the SDK's ModelTrainer builds for it, byte for
byte apart from the SDK's driver-file location (a test compares them). `dry_run_request` is the
pure entry point `launch plan --request` and `launch train --dry-run` use: it packages the code in
a temporary directory to get its real hash and hashes local data channels, and uploads nothing.
`validate_request` (validation.py, re-exported here) checks what real SageMaker would reject.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from launcher import __version__
from launcher.backends.sagemaker import staging
from launcher.backends.sagemaker.images import ResolvedImage, resolve_image
from launcher.backends.sagemaker.validation import ROLE_ARN_RE, validate_request
from launcher.catalog import lookup
from launcher.data_manifest import ChannelInfo, inspect_local_channel
from launcher.errors import SpecError
from launcher.naming import sanitize_base
from launcher.packaging import SourcePackage, package_source
from launcher.spec import JobSpec, MetricDefinition, check_local_paths, is_s3_uri

METRIC_DEFINITIONS_FILE = "metric_definitions.json"
CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CONTAINER_ENTRYPOINT = ["/bin/bash"]
CONTAINER_ARGUMENTS = [
    "-c",
    "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh && /opt/ml/input/data/sm_drivers/sm_train.sh",
]
TAG_VERSION = "launcher:version"
TAG_CODE = "launcher:code-hash"
TAG_DISTRIBUTION = "launcher:distribution"


@dataclass(frozen=True)
class ChannelPlan:
    name: str
    uri: str                      # what the job reads
    local: Path | None = None     # uploaded to `uri` by submit when set
    info: ChannelInfo | None = None


@dataclass(frozen=True)
class JobPlan:
    job_name: str
    base_name: str
    region: str
    role: str
    bucket: str
    prefix: str
    image: ResolvedImage
    instance_type: str
    instance_count: int
    volume_size_gb: int
    input_mode: str
    entrypoint: str
    source_dir: Path
    requirements: str | None
    package: SourcePackage
    code_uri: str
    channels: tuple[ChannelPlan, ...]
    hyperparameters: dict[str, str]
    environment: dict[str, str]
    tags: tuple[tuple[str, str], ...]
    metric_definitions: tuple[tuple[str, str], ...]
    spot: bool
    max_run: int
    max_wait: int | None
    checkpoint_uri: str | None
    output_path: str
    torchrun: bool
    processes_per_host: int | None

    @property
    def staging_prefix(self) -> str:
        return staging.staging_key_prefix(self.prefix, self.job_name)

    def sdk_drivers_uri(self, now: datetime | None = None) -> str:
        """Where the SDK will put its driver files: it names the folder `<base>-<local %Y%m%d%H%M%S>`."""
        sdk_name = f"{self.base_name.replace('_', '-')}-{(now or datetime.now()):%Y%m%d%H%M%S}"[:63]
        return f"s3://{self.bucket}/{self.staging_prefix}/{sdk_name}/input/sm_drivers"


def resolve_region(spec: JobSpec) -> str:
    """The region from the spec, else the AWS config of the profile (reading files only)."""
    if spec.aws.region:
        return spec.aws.region
    import botocore.session

    try:
        region = botocore.session.Session(profile=spec.aws.profile).get_config_variable("region")
    except Exception:  # ProfileNotFound and friends: reported when the session is built
        region = None
    if not region:
        raise SpecError("no AWS region configured",
                        "pass --region, set AWS_REGION, or run `launch infra deploy --region …`")
    return str(region)


def load_metric_definitions(spec: JobSpec, source_dir: Path) -> tuple[tuple[str, str], ...]:
    """The spec's own, else the source dir's metric_definitions.json (a list of {Name, Regex})."""
    if spec.metric_definitions is not None:
        defs = spec.metric_definitions
    else:
        path = source_dir / METRIC_DEFINITIONS_FILE
        if not path.is_file():
            return ()
        try:
            raw = json.loads(path.read_text())
            if not isinstance(raw, list):
                raise ValueError("expected a list of {\"Name\": …, \"Regex\": …}")
            defs = [MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in raw]
        except (ValueError, KeyError, TypeError) as e:
            raise SpecError(f"{path}: {str(e).splitlines()[0]}",
                            'expected a list of {"Name": …, "Regex": …} with one capture group') from e
    return tuple((d.name, d.regex) for d in defs)


def _requirements(spec: JobSpec, source: Path) -> str | None:
    if spec.requirements is not None:
        if not (source / spec.requirements).is_file():
            raise SpecError(f"requirements file {spec.requirements} not found in {source}")
        return spec.requirements
    return "requirements.txt" if (source / "requirements.txt").is_file() else None


def _channels(spec: JobSpec, cwd: Path, bucket: str, prefix: str) -> tuple[ChannelPlan, ...]:
    plans = []
    for name, location in spec.data.items():
        if is_s3_uri(location):
            plans.append(ChannelPlan(name, location))
            continue
        path = Path(location).expanduser()
        path = path if path.is_absolute() else cwd / path
        info = inspect_local_channel(path)
        plans.append(ChannelPlan(name, staging.data_uri(bucket, prefix, info.sha256[:12]), path, info))
    return tuple(plans)


def build_plan(spec: JobSpec, job_name: str, *, cwd: Path, workdir: Path) -> JobPlan:
    """Every decision of a submit, validated; writes only the code tarball into `workdir`."""
    compute = spec.compute
    if not compute.instance_type:
        raise SpecError("a SageMaker job needs an instance type",
                        "pass --instance (e.g. --instance ml.g5.xlarge), or --local to run here")
    if not spec.aws.role:
        raise SpecError("no SageMaker execution role configured",
                        "run `launch infra deploy` (it creates one and remembers it) or pass --role ARN")
    if not ROLE_ARN_RE.match(spec.aws.role):
        raise SpecError(f"role {spec.aws.role!r} is not an IAM role ARN",
                        "pass the full ARN, arn:aws:iam::<account>:role/<name>")
    if not spec.aws.bucket:
        raise SpecError("no S3 bucket configured for code, data and artifacts",
                        "run `launch infra deploy` (it creates one and remembers it) or pass --bucket")
    region = resolve_region(spec)
    check_local_paths(spec, cwd)
    source = spec.source_path(cwd)
    image = resolve_image(region=region, instance_type=compute.instance_type,
                          framework_version=compute.framework_version, py_version=compute.py_version,
                          image_uri=compute.image_uri)
    bucket, prefix = spec.aws.bucket, spec.aws.prefix.strip("/")
    package = package_source(source, workdir)
    metric_definitions = load_metric_definitions(spec, source)
    info = lookup(compute.instance_type)
    torchrun = compute.instance_count > 1 or info.gpus > 1 or (compute.processes_per_host or 1) > 1
    if torchrun and not spec.entrypoint.endswith(".py"):
        raise SpecError(f"{spec.entrypoint}: torchrun (several hosts, GPUs or processes) runs a Python "
                        "entry script", "use a .py entrypoint, or one process on one host")
    spot = spec.spot_enabled(cloud=True)
    tags = [*spec.tags.items(), (TAG_VERSION, __version__), (TAG_CODE, package.short_hash)]
    if torchrun:
        nproc = compute.processes_per_host
        tags.append((TAG_DISTRIBUTION, f"torchrun nproc_per_node={nproc}" if nproc else "torchrun"))
    output = spec.output if spec.output and is_s3_uri(spec.output) else staging.output_uri(bucket, prefix)
    return JobPlan(
        job_name=job_name,
        base_name=spec.base_name or sanitize_base(Path(spec.entrypoint).name),
        region=region,
        role=spec.aws.role,
        bucket=bucket,
        prefix=prefix,
        image=image,
        instance_type=compute.instance_type,
        instance_count=compute.instance_count,
        volume_size_gb=compute.volume_size_gb,
        input_mode=compute.input_mode,
        entrypoint=spec.entrypoint,
        source_dir=source,
        requirements=_requirements(spec, source),
        package=package,
        code_uri=staging.code_uri(bucket, prefix, package.short_hash),
        channels=_channels(spec, cwd, bucket, prefix),
        hyperparameters=spec.encoded_hyperparameters(),
        environment=dict(spec.environment),
        tags=tuple(tags),
        metric_definitions=metric_definitions,
        spot=spot,
        max_run=spec.spot.max_run,
        max_wait=spec.spot.effective_max_wait() if spot else None,
        checkpoint_uri=spec.spot.checkpoint_s3_uri
        or (staging.checkpoint_uri(bucket, prefix, job_name) if spot else None),
        output_path=output,
        torchrun=torchrun,
        processes_per_host=compute.processes_per_host,
    )


def _s3_channel(name: str, uri: str, input_mode: str | None = None) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated",
        }},
    }
    if input_mode:
        channel["InputMode"] = input_mode
    return channel


def to_request(plan: JobPlan, *, drivers_uri: str | None = None) -> dict[str, Any]:
    """The CreateTrainingJob request, in the key order ModelTrainer serialises it.

    User channels carry no InputMode, so they inherit the job's mode (FastFile included: the SDK
    forces "File" on channels built from plain URIs, contract §9); the SDK's `code` and
    `sm_drivers` channels are File.
    """
    algorithm: dict[str, Any] = {"TrainingInputMode": plan.input_mode, "TrainingImage": plan.image.uri}
    if plan.metric_definitions:
        algorithm["MetricDefinitions"] = [{"Name": n, "Regex": r} for n, r in plan.metric_definitions]
    algorithm["ContainerEntrypoint"] = list(CONTAINER_ENTRYPOINT)
    algorithm["ContainerArguments"] = list(CONTAINER_ARGUMENTS)
    channels = [_s3_channel(c.name, c.uri) for c in plan.channels]
    channels.append(_s3_channel("code", plan.code_uri, "File"))
    channels.append(_s3_channel("sm_drivers", drivers_uri or plan.sdk_drivers_uri(), "File"))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": plan.max_run}
    if plan.max_wait is not None:
        stopping["MaxWaitTimeInSeconds"] = plan.max_wait
    request: dict[str, Any] = {
        "TrainingJobName": plan.job_name,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": dict(plan.hyperparameters),
        "InputDataConfig": channels,
        "ResourceConfig": {
            "InstanceType": plan.instance_type,
            "InstanceCount": plan.instance_count,
            "VolumeSizeInGB": plan.volume_size_gb,
        },
        "RoleArn": plan.role,
        "Tags": [{"Key": k, "Value": v} for k, v in plan.tags],
        "StoppingCondition": stopping,
        "OutputDataConfig": {"S3OutputPath": plan.output_path, "CompressionType": "GZIP"},
    }
    if plan.checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": plan.checkpoint_uri, "LocalPath": CHECKPOINT_LOCAL_PATH}
    if plan.environment:
        request["Environment"] = dict(plan.environment)
    request["EnableManagedSpotTraining"] = plan.spot
    return request


def dry_run_plan(spec: JobSpec, job_name: str, *, cwd: Path) -> tuple[JobPlan, dict[str, Any]]:
    """The plan and its validated request; the code tarball lives only in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="launcher-dry-run-") as tmp:
        plan = build_plan(spec, job_name, cwd=cwd, workdir=Path(tmp))
    request = to_request(plan)
    validate_request(request)
    return plan, request


def dry_run_request(spec: JobSpec, job_name: str, *, cwd: Path) -> dict[str, Any]:
    """The exact CreateTrainingJob request a submit would send: no AWS call, no upload.

    Only the SDK's driver-file location differs from the real request (its folder name holds the
    submit's timestamp). Raises SpecError for anything SageMaker would reject.
    """
    return dry_run_plan(spec, job_name, cwd=cwd)[1]


__all__ = ["ChannelPlan", "JobPlan", "build_plan", "dry_run_plan", "dry_run_request", "to_request",
           "validate_request"]
