"""DescribeTrainingJob / ListTrainingJobs responses → the backend-neutral JobDescription."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from launcher.backends.base import JobDescription, JobStatus, Transition

_EXIT_STATUS = re.compile(r"(?:non-zero )?exit (?:status|code) (-?\d+)")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def exit_code_from_reason(reason: str | None) -> int | None:
    """The script's exit code when the FailureReason names it (`… exit status 3.`)."""
    if not reason:
        return None
    found = _EXIT_STATUS.findall(reason)
    return int(found[-1]) if found else None


def console_url(region: str, job_name: str) -> str:
    return (f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}"
            f"#/jobs/{job_name}")


def output_archive(resp: dict[str, Any]) -> str | None:
    path = (resp.get("OutputDataConfig") or {}).get("S3OutputPath")
    if not path:
        return None
    return f"{path.rstrip('/')}/{resp['TrainingJobName']}/output/output.tar.gz"


def job_cost(instance_type: str | None, instance_count: int, billable_seconds: int | None,
             training_seconds: int | None, spot: bool) -> dict[str, Any] | None:
    """What a job cost: billable seconds × the catalogue's on-demand price × instances, and what
    spot saved against the training time at that price. None until SageMaker reports the seconds."""
    from launcher.config.catalog import PRICE_DATE, PRICE_SOURCE, lookup
    from launcher.errors import SpecError

    if not instance_type or billable_seconds is None:
        return None
    try:
        price = lookup(instance_type).price_per_hour
    except SpecError:
        price = None
    if price is None:
        return None
    usd = round(billable_seconds / 3600 * price * instance_count, 4)
    cost: dict[str, Any] = {"usd": usd,
            "billable_seconds": billable_seconds, "price_per_hour": price,
            "instance_count": instance_count, "price_source": f"{PRICE_SOURCE}, {PRICE_DATE}"}
    if spot and training_seconds:
        on_demand = training_seconds / 3600 * price * instance_count
        cost["on_demand_usd"] = round(on_demand, 4)
        cost["spot_saved_usd"] = round(on_demand - usd, 4)
    return cost


def from_describe(resp: dict[str, Any], region: str | None = None) -> JobDescription:
    name = resp["TrainingJobName"]
    resources = resp.get("ResourceConfig") or {}
    artifacts: dict[str, str] = {}
    model = (resp.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    status = JobStatus(resp["TrainingJobStatus"])
    if model:
        artifacts["model"] = model
    if status == JobStatus.COMPLETED and (out := output_archive(resp)):
        artifacts["output"] = out
    details: dict[str, Any] = {
        "arn": resp.get("TrainingJobArn"),
        "image": (resp.get("AlgorithmSpecification") or {}).get("TrainingImage"),
        "input_mode": (resp.get("AlgorithmSpecification") or {}).get("TrainingInputMode"),
        "role": resp.get("RoleArn"),
        "max_runtime_seconds": (resp.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
        "max_wait_seconds": (resp.get("StoppingCondition") or {}).get("MaxWaitTimeInSeconds"),
        "checkpoint_s3_uri": (resp.get("CheckpointConfig") or {}).get("S3Uri"),
        "output_path": (resp.get("OutputDataConfig") or {}).get("S3OutputPath"),
        "channels": {c["ChannelName"]: (c.get("DataSource", {}).get("S3DataSource") or {}).get("S3Uri")
                     for c in resp.get("InputDataConfig") or []},
        "hyperparameters": resp.get("HyperParameters") or {},
        "log_group": "/aws/sagemaker/TrainingJobs",
        "log_stream_prefix": f"{name}/",
    }
    if region:
        details["console"] = console_url(region, name)
    details["cost"] = job_cost(resources.get("InstanceType"), int(resources.get("InstanceCount") or 1),
                               resp.get("BillableTimeInSeconds"), resp.get("TrainingTimeInSeconds"),
                               bool(resp.get("EnableManagedSpotTraining")))
    details = {k: v for k, v in details.items() if v not in (None, {}, "")}
    return JobDescription(
        name=name,
        backend="sagemaker",
        status=status,
        secondary_status=resp.get("SecondaryStatus"),
        created=_iso(resp.get("CreationTime")),
        started=_iso(resp.get("TrainingStartTime")),
        ended=_iso(resp.get("TrainingEndTime")),
        transitions=[Transition(status=t["Status"], start=_iso(t.get("StartTime")) or "",
                                message=t.get("StatusMessage", ""))
                     for t in resp.get("SecondaryStatusTransitions") or []],
        failure_reason=resp.get("FailureReason") or None,
        exit_code=exit_code_from_reason(resp.get("FailureReason")) if status == JobStatus.FAILED else None,
        metrics={m["MetricName"]: float(m["Value"]) for m in resp.get("FinalMetricDataList") or []
                 if "MetricName" in m and "Value" in m},
        artifacts=artifacts,
        instance_type=resources.get("InstanceType"),
        instance_count=int(resources.get("InstanceCount") or 1),
        spot=bool(resp.get("EnableManagedSpotTraining")),
        training_seconds=resp.get("TrainingTimeInSeconds"),
        billable_seconds=resp.get("BillableTimeInSeconds"),
        details=details,
    )


def from_summary(summary: dict[str, Any]) -> JobDescription:
    """A ListTrainingJobs entry (no describe call per job)."""
    return JobDescription(
        name=summary["TrainingJobName"],
        backend="sagemaker",
        status=JobStatus(summary["TrainingJobStatus"]),
        secondary_status=summary.get("SecondaryStatus"),
        created=_iso(summary.get("CreationTime")),
        ended=_iso(summary.get("TrainingEndTime")),
        details={"arn": summary.get("TrainingJobArn")},
    )
