"""SageMaker SDK v3 (`ModelTrainer`) behind one function, imported lazily: only submit needs it.

The SDK builds the request and stages its driver files; the launcher sends the request itself.
The SDK's traps (container-contract.md §10) and how this module absorbs them:

- Job names: `ModelTrainer` names jobs `<base>-<%Y%m%d%H%M%S>` (1-second resolution, no suffix) and
  has no `training_job_name=`. We take the request from `_create_training_job_args(boto3=True)` and
  put our own unique name in it, then call CreateTrainingJob with the launcher's boto3 client.
- Config files: the SDK reads `~/.config/sagemaker/config.yaml` and an admin file that may inject
  environment, VPC or tags the dry run cannot see. The Session gets an explicit config holding only
  `TelemetryOptOut: true`, so neither file applies and no telemetry is sent.
- Default bucket: the SDK calls STS and s3:ListBuckets to find or create one. The Session is given
  our bucket, already checked with HeadBucket, so neither call happens.
- FastFile: plain-URI channels are forced to File; ours are explicit S3DataSource channels.
- `iam:SimulatePrincipalPolicy`: called once per submit to pick a staging bucket; its failure is
  tolerated by the SDK. Role validation (`SAGEMAKER_VALIDATE_ROLE`) is left to the user's environment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from launcher.backends.sagemaker.request import CHECKPOINT_LOCAL_PATH, ISOLATED_CODE_CHANNEL, JobPlan
from launcher.config.sagemaker_settings import TENSORBOARD_LOCAL_PATH
from launcher.errors import AwsError, MissingDependencyError, SpecError

if TYPE_CHECKING:
    import boto3

log = logging.getLogger(__name__)

SDK_CONFIG: dict[str, Any] = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
INSTALL_HINT = "pip install 'launcher[sagemaker]' (the SageMaker Python SDK v3, sagemaker-train)"


def _import_sdk() -> Any:
    import warnings

    try:
        with warnings.catch_warnings():  # the SDK's own deprecated-module shims warn on import
            warnings.simplefilter("ignore", DeprecationWarning)
            import sagemaker.train as sdk
            import sagemaker.train.model_trainer  # noqa: F401
    except ImportError as e:
        raise MissingDependencyError(f"the SageMaker Python SDK is not installed ({e.name})",
                                     INSTALL_HINT) from e
    return sdk


def _config_manager() -> Any:
    """The SDK re-validates its config against a large JSON schema on every lookup (0.3 s each,
    six per request); ours is fixed and validated once, when the Session is built."""
    from sagemaker.core.config.config_manager import SageMakerConfig

    class ValidatedOnce(SageMakerConfig):  # type: ignore[misc]  # the SDK is untyped
        def validate_sagemaker_config(self, sagemaker_config: dict[str, Any] | None = None) -> None:
            if sagemaker_config != SDK_CONFIG:
                super().validate_sagemaker_config(sagemaker_config)

    return ValidatedOnce()


def make_sdk_session(boto_session: boto3.Session, sagemaker_client: Any, bucket: str) -> Any:
    """One SDK Session per backend: our boto3 session and client, our bucket, no config files."""
    _import_sdk()
    from sagemaker.core.helper.session_helper import Session

    session = Session(boto_session=boto_session, sagemaker_client=sagemaker_client,
                      default_bucket=bucket, sagemaker_config=SDK_CONFIG)
    # default_bucket() would ListBuckets (and create the bucket if missing); ours was checked.
    session._default_bucket = bucket
    return session


def build_trainer(sdk_session: Any, plan: JobPlan) -> Any:
    """The ModelTrainer for a plan (no AWS call yet, apart from optional role validation)."""
    _import_sdk()
    from sagemaker.core.helper.iam_role_resolver import RoleValidationError
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        MetricDefinition,
        Networking,
        OutputDataConfig,
        RetryStrategy,
        SourceCode,
        StoppingCondition,
        Tag,
        TensorBoardOutputConfig,
    )
    from sagemaker.train import ModelTrainer
    from sagemaker.train.distributed import Torchrun

    sm = plan.sagemaker
    checkpoint = (CheckpointConfig(s3_uri=plan.checkpoint_uri, local_path=CHECKPOINT_LOCAL_PATH)
                  if plan.checkpoint_uri else None)
    try:
        trainer = ModelTrainer(
            sagemaker_session=sdk_session,
            config_mgr=_config_manager(),
            role=plan.role,
            base_job_name=plan.base_name,
            input_s3_key_prefix=plan.staging_prefix,
            # Classic: no source code, so no drivers and no container entrypoint; the image's toolkit
            # reads the reserved hyperparameters (docs/classic.md).
            source_code=None if plan.classic else SourceCode(
                source_dir=plan.code_uri, entry_script=plan.entrypoint, requirements=plan.requirements),
            distributed=(Torchrun(process_count_per_node=plan.processes_per_host)
                         if plan.torchrun and not plan.classic else None),
            compute=Compute(instance_type=plan.instance_type, instance_count=plan.instance_count,
                            volume_size_in_gb=plan.volume_size_gb,
                            volume_kms_key_id=sm.volume_kms_key,
                            keep_alive_period_in_seconds=sm.keep_alive_seconds,
                            enable_managed_spot_training=plan.spot),
            networking=Networking(
                subnets=list(sm.subnets) or None, security_group_ids=list(sm.security_group_ids) or None,
                enable_network_isolation=sm.network_isolation or None,
                enable_inter_container_traffic_encryption=sm.inter_container_encryption or None,
            ) if (sm.vpc or sm.network_isolation or sm.inter_container_encryption) else None,
            stopping_condition=StoppingCondition(max_runtime_in_seconds=plan.max_run,
                                                 max_wait_time_in_seconds=plan.max_wait),
            training_image=plan.image.uri,
            output_data_config=OutputDataConfig(s3_output_path=plan.output_path,
                                                kms_key_id=sm.output_kms_key),
            checkpoint_config=checkpoint,
            training_input_mode=plan.input_mode,
            environment=dict(plan.environment),
            hyperparameters=dict(plan.hyperparameters),  # already encoded: strings pass through raw
            tags=[Tag(key=k, value=v) for k, v in plan.tags],
        )
    except RoleValidationError as e:
        raise AwsError(f"role {plan.role} cannot run training jobs: {str(e).splitlines()[0]}",
                       "grant it the SageMaker training permissions (`launch infra deploy` creates one)"
                       ) from e
    except ValueError as e:  # pydantic ValidationError and the SDK's own checks
        raise SpecError(f"the SageMaker SDK refused the job: {str(e).splitlines()[0]}") from e
    except Exception as e:  # botocore errors of the SDK's role check (iam:SimulatePrincipalPolicy)
        raise AwsError(f"the SageMaker SDK's check of role {plan.role} failed: {str(e).splitlines()[0]}",
                       "set SAGEMAKER_VALIDATE_ROLE=false to skip it (needed against moto), or allow "
                       "iam:SimulatePrincipalPolicy and iam:GetRole") from e
    if sm.retry_attempts:
        trainer = trainer.with_retry_strategy(RetryStrategy(maximum_retry_attempts=sm.retry_attempts))
    if sm.tensorboard_s3_uri:
        trainer = trainer.with_tensorboard_output_config(TensorBoardOutputConfig(
            s3_output_path=sm.tensorboard_s3_uri, local_path=TENSORBOARD_LOCAL_PATH))
    if plan.metric_definitions:
        trainer = trainer.with_metric_definitions(
            [MetricDefinition(name=n, regex=r) for n, r in plan.metric_definitions])
    return trainer


def _channels(plan: JobPlan) -> list[Any]:
    from sagemaker.core.training.configs import Channel, DataSource, S3DataSource

    # An explicit S3DataSource, not a URI string: the SDK would force InputMode "File" (§9).
    channels = [
        Channel(channel_name=c.name, data_source=DataSource(s3_data_source=S3DataSource(
            s3_data_type="S3Prefix", s3_uri=c.uri, s3_data_distribution_type="FullyReplicated")))
        for c in plan.channels
    ]
    if plan.classic and plan.sagemaker.network_isolation:  # the toolkit cannot reach S3 itself
        channels.append(Channel(channel_name=ISOLATED_CODE_CHANNEL, input_mode="File",
                                data_source=DataSource(s3_data_source=S3DataSource(
                                    s3_data_type="S3Prefix", s3_uri=plan.code_uri,
                                    s3_data_distribution_type="FullyReplicated"))))
    return channels


def sdk_request(trainer: Any, plan: JobPlan) -> dict[str, Any]:
    """The CreateTrainingJob request as the SDK builds it, with our job name; uploads the drivers."""
    try:
        request = trainer._create_training_job_args(input_data_config=_channels(plan), boto3=True)
    except ValueError as e:
        raise SpecError(f"the SageMaker SDK refused the job: {str(e).splitlines()[0]}") from e
    except Exception as e:  # botocore errors while staging the drivers
        from launcher.aws import translate_error

        raise translate_error(e, "staging the SDK's driver files failed") from e
    finally:
        temp = getattr(trainer, "_temp_code_dir", None)
        if temp is not None:
            temp.cleanup()
    if not isinstance(request, dict) or "AlgorithmSpecification" not in request:
        raise AwsError("the SageMaker SDK returned no request", INSTALL_HINT)
    sdk_name = request.get("TrainingJobName")
    request["TrainingJobName"] = plan.job_name
    log.debug("SDK job name %s replaced by %s", sdk_name, plan.job_name)
    return dict(request)
