"""SageMaker hyperparameter tuning jobs whose trials keep spot, checkpoints and retries.

Usage (the SageMaker client is always passed in: `launcher.aws.client(session, "sagemaker")`):

    from launcher.backends.sagemaker import tuning
    request = tuning.tuning_request(training_request, spec.tune, name=None, tags=())
        # training_request: the classic CreateTrainingJob request of the job (request.to_request of a
        # plan with contract "classic"); validated; SpecError for anything SageMaker would refuse.
        # `--dry-run` prints this and stops.
    arn = tuning.create_tuning(sm, request)                         # -> the tuning job's ARN
    desc = tuning.describe_tuning(sm, name, region=None)            # -> TuningDescription with trials
    desc = tuning.wait_tuning(sm, name, on_update=callback)         # polls until Completed/Failed/Stopped
    jobs = tuning.list_tuning_jobs(sm, status=None, limit=20)       # -> [TuningDescription], no trials
    desc = tuning.stop_tuning(sm, name)                             # stops it (and its running trials)

Errors: SpecError (invalid, nothing created), JobNotFoundError (no such tuning job), AwsError.
The request half lives in tuning_request.py; docs/tune-sagemaker.md says what a trial's script sees.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from launcher.aws import error_code, error_message, translate_error
from launcher.backends.sagemaker.tuning_request import (
    TOOLKIT_NAMES,
    TOOLKIT_PREFIX,
    check_api_model,
    generate_tuning_name,
    parameter_ranges,
    tuning_config,
    tuning_request,
    validate_tuning_request,
)
from launcher.errors import AwsError, JobNotFoundError, LauncherError, SpecError
from launcher.job import classic_contract
from launcher.job.tuning import Trial, TuningDescription

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
LIST_STATUSES = ("Completed", "InProgress", "Failed", "Stopped", "Stopping", "Deleting", "DeleteFailed")
_NOT_FOUND_WORDS = ("not found", "could not find", "can't find", "cannot find", "does not exist")

__all__ = ["TERMINAL", "check_api_model", "create_tuning", "describe_tuning", "generate_tuning_name",
           "list_tuning_jobs", "model_artifact", "parameter_ranges", "stop_tuning", "tuning_config",
           "tuning_request", "validate_tuning_request", "wait_tuning"]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _not_found(exc: BaseException) -> bool:
    return error_code(exc) in ("ResourceNotFound", "ValidationException") and any(
        w in error_message(exc).lower() for w in _NOT_FOUND_WORDS)


def _error(exc: BaseException, action: str, name: str) -> LauncherError:
    if _not_found(exc):
        return JobNotFoundError(f"no SageMaker tuning job named {name!r}",
                                "`launch list` shows recent ones; check --region / --profile")
    return translate_error(exc, action)


def console_url(region: str, name: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
            f"#/hyper-tuning-jobs/{name}")


def model_artifact(output_path: str, trial_name: str) -> str:
    """Where a trial's model.tar.gz lands: `<S3OutputPath>/<trial>/output/model.tar.gz`."""
    return f"{output_path.rstrip('/')}/{trial_name}/output/model.tar.gz"


def create_tuning(client: Any, request: Mapping[str, Any]) -> str:
    """Validate, then CreateHyperParameterTuningJob; returns the tuning job's ARN."""
    validate_tuning_request(request)
    name = str(request["HyperParameterTuningJobName"])
    try:
        response = client.create_hyper_parameter_tuning_job(**request)
    except Exception as e:
        if error_code(e) == "ResourceInUse":
            raise AwsError(f"a tuning job named {name!r} already exists",
                           "set another [tune] name, or drop it to get a generated one") from e
        raise translate_error(e, f"cannot create tuning job {name}") from e
    log.info("created tuning job %s", name)
    return str(response["HyperParameterTuningJobArn"])


def _max_trials(config: Mapping[str, Any]) -> int:
    limits = config.get("ResourceLimits") or {}
    if limits.get("MaxNumberOfTrainingJobs"):
        return int(limits["MaxNumberOfTrainingJobs"])
    categorical = (config.get("ParameterRanges") or {}).get("CategoricalParameterRanges") or []
    return math.prod(len(r.get("Values") or []) for r in categorical) if categorical else 0


def _details(resp: Mapping[str, Any], region: str | None) -> dict[str, Any]:
    definition = resp.get("TrainingJobDefinition") or {}
    config = resp.get("HyperParameterTuningJobConfig") or {}
    resources = definition.get("ResourceConfig") or {}
    stopping = definition.get("StoppingCondition") or {}
    static = definition.get("StaticHyperParameters") or {}
    details: dict[str, Any] = {
        "arn": resp.get("HyperParameterTuningJobArn"),
        "best_training_job": (resp.get("BestTrainingJob") or {}).get("TrainingJobName"),
        "training_job_counts": resp.get("TrainingJobStatusCounters"),
        "objective_counts": resp.get("ObjectiveStatusCounters"),
        "early_stopping": config.get("TrainingJobEarlyStoppingType"),
        "random_seed": config.get("RandomSeed"),
        "image": (definition.get("AlgorithmSpecification") or {}).get("TrainingImage"),
        "instance_type": resources.get("InstanceType"),
        "instance_count": resources.get("InstanceCount"),
        "spot": bool(definition.get("EnableManagedSpotTraining")),
        "max_runtime_seconds": stopping.get("MaxRuntimeInSeconds"),
        "max_wait_seconds": stopping.get("MaxWaitTimeInSeconds"),
        "retry_attempts": (definition.get("RetryStrategy") or {}).get("MaximumRetryAttempts"),
        "checkpoint_s3_uri": (definition.get("CheckpointConfig") or {}).get("S3Uri"),
        "output_path": (definition.get("OutputDataConfig") or {}).get("S3OutputPath"),
        "static_hyperparameters": {k: classic_contract.decode_value(v) for k, v in static.items()
                                   if not k.startswith(TOOLKIT_PREFIX) and k not in TOOLKIT_NAMES},
    }
    if region:
        details["console"] = console_url(region, str(resp["HyperParameterTuningJobName"]))
    return {k: v for k, v in details.items() if v not in (None, {}, "")}


def _trial(summary: Mapping[str, Any], number: int, output_path: str | None) -> Trial:
    objective = summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    value = objective.get("Value")
    start, end = summary.get("TrainingStartTime"), summary.get("TrainingEndTime")
    name, status = str(summary["TrainingJobName"]), str(summary["TrainingJobStatus"])
    return Trial(
        name=name,
        number=number,
        status=status,
        hyperparameters={k: classic_contract.decode_value(v)
                         for k, v in (summary.get("TunedHyperParameters") or {}).items()},
        objective=float(value) if value is not None else None,
        metrics={str(objective["MetricName"]): float(value)} if value is not None and
        objective.get("MetricName") else {},
        seconds=(end - start).total_seconds() if isinstance(start, datetime) and isinstance(end, datetime)
        else None,
        artifacts=[model_artifact(output_path, name)] if output_path and status == "Completed" else [],
        failure_reason=summary.get("FailureReason") or None,
    )


def _trials(client: Any, name: str, output_path: str | None) -> list[Trial]:
    summaries: list[dict[str, Any]] = []
    try:
        pages = client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job").paginate(
            HyperParameterTuningJobName=name, SortBy="CreationTime", SortOrder="Ascending",
            PaginationConfig={"PageSize": 100})
        for page in pages:
            summaries.extend(page.get("TrainingJobSummaries") or [])
    except Exception as e:
        raise _error(e, f"cannot list the trials of {name}", name) from e
    # Creation order, whatever order the pages came in; the name breaks ties.
    summaries.sort(key=lambda s: (_iso(s.get("CreationTime")) or "", str(s["TrainingJobName"])))
    return [_trial(s, i, output_path) for i, s in enumerate(summaries)]


def _best_artifact(client: Any, trial: Trial) -> None:
    """The best trial's model artifact as DescribeTrainingJob reports it (the derived path otherwise)."""
    try:
        described = client.describe_training_job(TrainingJobName=trial.name)
    except Exception as e:
        if _not_found(e):
            log.debug("best training job %s not found: %s", trial.name, e)
            return
        raise translate_error(e, f"cannot describe {trial.name}") from e
    uri = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if uri:
        trial.artifacts = [uri]


def _description(resp: Mapping[str, Any], region: str | None) -> TuningDescription:
    config = resp.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    return TuningDescription(
        name=str(resp["HyperParameterTuningJobName"]),
        backend="sagemaker",
        status=str(resp["HyperParameterTuningJobStatus"]),
        objective=str(objective.get("MetricName", "")),
        direction=str(objective.get("Type", "Maximize")).lower(),
        strategy=str(config.get("Strategy", "")).lower(),
        max_trials=_max_trials(config),
        max_parallel=int((config.get("ResourceLimits") or {}).get("MaxParallelTrainingJobs") or 1),
        created=_iso(resp.get("CreationTime")),
        ended=_iso(resp.get("HyperParameterTuningEndTime")),
        failure_reason=resp.get("FailureReason") or None,
        details=_details(resp, region),
    )


def describe_tuning(client: Any, name: str, *, region: str | None = None, trials: bool = True
                    ) -> TuningDescription:
    """The tuning job, with every trial (paginated) and the best trial's model artifact."""
    try:
        resp = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    except Exception as e:
        raise _error(e, f"cannot describe tuning job {name}", name) from e
    desc = _description(resp, region)
    if not trials:
        return desc
    desc.trials = _trials(client, name, desc.details.get("output_path"))
    best = desc.details.get("best_training_job")
    for trial in desc.trials:
        if trial.name == best:
            _best_artifact(client, trial)
    return desc


def list_tuning_jobs(client: Any, status: str | None = None, limit: int = 20, *,
                     region: str | None = None) -> list[TuningDescription]:
    """The newest tuning jobs first, without trials (one DescribeHyperParameterTuningJob each: the
    listing lacks the objective)."""
    if status is not None and status not in LIST_STATUSES:
        raise SpecError(f"status {status!r} must be one of {', '.join(LIST_STATUSES)}")
    if limit < 1:
        raise SpecError(f"limit {limit} must be at least 1")
    kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                              "PaginationConfig": {"MaxItems": limit, "PageSize": min(limit, 100)}}
    if status:
        kwargs["StatusEquals"] = status
    names: list[str] = []
    try:
        for page in client.get_paginator("list_hyper_parameter_tuning_jobs").paginate(**kwargs):
            names.extend(s["HyperParameterTuningJobName"]
                         for s in page.get("HyperParameterTuningJobSummaries") or [])
    except Exception as e:
        raise translate_error(e, "cannot list tuning jobs") from e
    return [describe_tuning(client, n, region=region, trials=False) for n in names[:limit]]


def stop_tuning(client: Any, name: str) -> TuningDescription:
    """StopHyperParameterTuningJob (SageMaker stops its running trials too); the job after the call.
    A job that already ended is returned as it is."""
    desc = describe_tuning(client, name, trials=False)
    if desc.status in TERMINAL or desc.status == "Stopping":
        return desc
    try:
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    except Exception as e:
        if error_code(e) != "ValidationException" or _not_found(e):  # else: it ended between the calls
            raise _error(e, f"cannot stop tuning job {name}", name) from e
    log.info("stopping tuning job %s", name)
    return describe_tuning(client, name, trials=False)


def wait_tuning(client: Any, name: str, *, region: str | None = None, poll_seconds: float = 30.0,
                timeout: float | None = None, on_update: Callable[[TuningDescription], None] | None = None,
                sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
                ) -> TuningDescription:
    """Describe (with trials) every `poll_seconds` until the job ends or `timeout` passes; the last
    description either way (its status says which). `on_update` sees each one."""
    deadline = None if timeout is None else clock() + timeout
    while True:
        desc = describe_tuning(client, name, region=region)
        if on_update:
            on_update(desc)
        if desc.status in TERMINAL or (deadline is not None and clock() >= deadline):
            return desc
        sleep(poll_seconds)
