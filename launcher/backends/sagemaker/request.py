"""The CreateTrainingJob request, computed without touching AWS.

`build_plan` turns a resolved job into a `JobPlan`: the cloud half of every decision of a submit
(role, bucket, image, code and data locations, checkpoints, tags), validated before any call.
`to_request` renders a plan as the request the SDK's ModelTrainer builds for it, byte for byte
apart from the SDK's driver-file location (a test compares them). `dry_run_plan` is what the
backend's dry run uses: it packages the code in a temporary directory to get its real hash and
hashes local data channels, and uploads nothing.
`validate_request` (validation.py, re-exported here) checks what real SageMaker would reject.

A classic job (`contract = "classic"`, docs/classic.md) is the request an SDK v2 framework estimator
makes: the same image, no container entrypoint and no SDK channels; the training toolkit in the image
finds the script and the code through the reserved hyperparameters (launcher.job.classic_contract).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from launcher import __version__
from launcher.backends.sagemaker import staging
from launcher.backends.sagemaker.images import ResolvedImage, resolve_image
from launcher.backends.sagemaker.validation import ROLE_ARN_RE, validate_request
from launcher.config.sagemaker_settings import TENSORBOARD_LOCAL_PATH, SageMakerSettings
from launcher.config.spec import JobSpec, is_s3_uri
from launcher.errors import SpecError
from launcher.job import classic_contract
from launcher.job.data_manifest import ChannelInfo, inspect_local_channel
from launcher.job.naming import sanitize_base
from launcher.job.packaging import SourcePackage, package_source
from launcher.job.resolve import ResolvedJob

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
CONTAINER_ENTRYPOINT = ["/bin/bash"]
CONTAINER_ARGUMENTS = [
    "-c",
    "chmod +x /opt/ml/input/data/sm_drivers/sm_train.sh && /opt/ml/input/data/sm_drivers/sm_train.sh",
]
TAG_VERSION = "launcher:version"
TAG_CODE = "launcher:code-hash"
TAG_DISTRIBUTION = "launcher:distribution"
TAG_CONTRACT = "launcher:contract"
# With network isolation the toolkit cannot reach S3: the SDK v2 ships the code as a channel instead.
ISOLATED_CODE_CHANNEL = "code"
ISOLATED_SUBMIT_DIRECTORY = "/opt/ml/input/data/code/sourcedir.tar.gz"


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
    sagemaker: SageMakerSettings
    contract: str = "modeltrainer"   # "classic": the image's training toolkit runs the script

    @property
    def classic(self) -> bool:
        return self.contract == "classic"

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


def _channels(job: ResolvedJob, bucket: str, prefix: str) -> tuple[ChannelPlan, ...]:
    plans = []
    for channel in job.channels:
        if channel.local_path is None:
            plans.append(ChannelPlan(channel.name, channel.location))
            continue
        info = inspect_local_channel(channel.local_path)
        plans.append(ChannelPlan(channel.name, staging.data_uri(bucket, prefix, info.sha256[:12]),
                                 channel.local_path, info))
    return tuple(plans)


def build_plan(job: ResolvedJob, *, workdir: Path, region: str | None = None) -> JobPlan:
    """The cloud half of a resolved job, validated; writes only the code tarball into `workdir`."""
    spec, compute = job.spec, job.spec.compute
    if not job.instance_type:
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
    region = spec.aws.region or region or resolve_region(spec)
    image = resolve_image(region=region, instance_type=job.instance_type,
                          framework_version=compute.framework_version, py_version=compute.py_version,
                          image_uri=compute.image_uri)
    bucket, prefix = spec.aws.bucket, spec.aws.prefix.strip("/")
    package = package_source(job.source_dir, workdir, job.spec.include_files, dependencies=job.dependencies)
    tags = [*spec.tags.items(), (TAG_VERSION, __version__), (TAG_CODE, package.short_hash)]
    if job.torchrun:
        nproc = compute.processes_per_host
        tags.append((TAG_DISTRIBUTION, f"torchrun nproc_per_node={nproc}" if nproc else "torchrun"))
    if job.contract == "classic":
        tags.append((TAG_CONTRACT, "classic"))
    code_uri = staging.code_uri(bucket, prefix, package.short_hash)
    hyperparameters = dict(job.hyperparameters)
    if job.contract == "classic":
        submit = ISOLATED_SUBMIT_DIRECTORY if spec.sagemaker.network_isolation else code_uri
        reserved = classic_contract.framework_hyperparameters(
            program=job.entrypoint, submit_directory=submit, region=region, job_name=job.name,
            torch_distributed=job.torchrun, instance_type=job.instance_type)
        hyperparameters.update(classic_contract.encode({}, reserved))
    output = spec.output if spec.output and is_s3_uri(spec.output) else staging.output_uri(bucket, prefix)
    checkpoint = None
    if job.checkpointing:
        checkpoint = spec.spot.checkpoint_s3_uri or staging.checkpoint_uri(bucket, prefix, job.name)
    return JobPlan(
        job_name=job.name,
        base_name=spec.base_name or sanitize_base(Path(spec.entrypoint).name),
        region=region,
        role=spec.aws.role,
        bucket=bucket,
        prefix=prefix,
        image=image,
        instance_type=job.instance_type,
        instance_count=job.instance_count,
        volume_size_gb=compute.volume_size_gb,
        input_mode=compute.input_mode,
        entrypoint=job.entrypoint,
        source_dir=job.source_dir,
        requirements=job.requirements,
        package=package,
        code_uri=code_uri,
        channels=_channels(job, bucket, prefix),
        hyperparameters=hyperparameters,
        environment=dict(spec.environment),
        tags=tuple(tags),
        metric_definitions=tuple((d.name, d.regex) for d in job.metric_definitions),
        spot=job.spot,
        max_run=spec.spot.max_run,
        max_wait=spec.spot.effective_max_wait() if job.spot else None,
        checkpoint_uri=checkpoint,
        output_path=output,
        torchrun=job.torchrun,
        processes_per_host=compute.processes_per_host,
        sagemaker=spec.sagemaker,
        contract=job.contract,
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
    channels = [_s3_channel(c.name, c.uri) for c in plan.channels]
    if plan.classic:  # the toolkit downloads the code named by sagemaker_submit_directory
        if plan.sagemaker.network_isolation:
            channels.append(_s3_channel(ISOLATED_CODE_CHANNEL, plan.code_uri, "File"))
    else:
        algorithm["ContainerEntrypoint"] = list(CONTAINER_ENTRYPOINT)
        algorithm["ContainerArguments"] = list(CONTAINER_ARGUMENTS)
        channels.append(_s3_channel("code", plan.code_uri, "File"))
        channels.append(_s3_channel("sm_drivers", drivers_uri or plan.sdk_drivers_uri(), "File"))
    stopping: dict[str, int] = {"MaxRuntimeInSeconds": plan.max_run}
    if plan.max_wait is not None:
        stopping["MaxWaitTimeInSeconds"] = plan.max_wait
    sm = plan.sagemaker
    resources: dict[str, Any] = {
        "InstanceType": plan.instance_type,
        "InstanceCount": plan.instance_count,
        "VolumeSizeInGB": plan.volume_size_gb,
    }
    if sm.volume_kms_key:
        resources["VolumeKmsKeyId"] = sm.volume_kms_key
    if sm.keep_alive_seconds is not None:
        resources["KeepAlivePeriodInSeconds"] = sm.keep_alive_seconds
    output: dict[str, Any] = {"S3OutputPath": plan.output_path, "CompressionType": "GZIP"}
    if sm.output_kms_key:
        output["KmsKeyId"] = sm.output_kms_key
    request: dict[str, Any] = {
        "TrainingJobName": plan.job_name,
        "AlgorithmSpecification": algorithm,
        "HyperParameters": dict(plan.hyperparameters),
        "InputDataConfig": channels,
        "ResourceConfig": resources,
        "RoleArn": plan.role,
        "Tags": [{"Key": k, "Value": v} for k, v in plan.tags],
        "StoppingCondition": stopping,
        "OutputDataConfig": output,
    }
    if sm.vpc:
        request["VpcConfig"] = {"SecurityGroupIds": list(sm.security_group_ids), "Subnets": list(sm.subnets)}
    if sm.network_isolation:
        request["EnableNetworkIsolation"] = True
    if sm.inter_container_encryption:
        request["EnableInterContainerTrafficEncryption"] = True
    if sm.tensorboard_s3_uri:
        request["TensorBoardOutputConfig"] = {"LocalPath": TENSORBOARD_LOCAL_PATH,
                                              "S3OutputPath": sm.tensorboard_s3_uri}
    if sm.retry_attempts:
        request["RetryStrategy"] = {"MaximumRetryAttempts": sm.retry_attempts}
    if plan.checkpoint_uri:
        request["CheckpointConfig"] = {"S3Uri": plan.checkpoint_uri, "LocalPath": CHECKPOINT_LOCAL_PATH}
    if plan.environment:
        request["Environment"] = dict(plan.environment)
    request["EnableManagedSpotTraining"] = plan.spot
    if not channels:  # a classic job without data: the SDK leaves the key out
        del request["InputDataConfig"]
    return request


def dry_run_plan(job: ResolvedJob, *, region: str | None = None) -> tuple[JobPlan, dict[str, Any]]:
    """The plan and its validated request; the code tarball lives only in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="launcher-dry-run-") as tmp:
        plan = build_plan(job, workdir=Path(tmp), region=region)
    request = to_request(plan)
    validate_request(request)
    return plan, request


__all__ = ["ChannelPlan", "JobPlan", "build_plan", "dry_run_plan", "to_request", "validate_request"]
