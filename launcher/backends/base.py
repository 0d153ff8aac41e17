"""The one protocol both backends implement, and the job record they both return.

Statuses and secondary statuses use SageMaker's vocabulary so that `launch status` reads the same for
a local job and a cloud job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from launcher.job.resolve import ResolvedJob



def now_iso() -> str:
    """Timestamps in job records: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


@dataclass
class Transition:
    """One secondary-status step (Starting, Downloading, Training, Interrupted, Uploading, …)."""

    status: str
    start: str  # ISO 8601, UTC
    message: str = ""


@dataclass
class Deviation:
    """Where the local emulation differs from a real container (container-contract.md §13)."""

    aspect: str
    real: str
    local: str


@dataclass
class JobDescription:
    name: str
    backend: str  # "local" | "sagemaker"
    status: JobStatus
    secondary_status: str | None = None
    created: str | None = None
    started: str | None = None
    ended: str | None = None
    transitions: list[Transition] = field(default_factory=list)
    failure_reason: str | None = None
    exit_code: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # last value of each metric
    artifacts: dict[str, str] = field(default_factory=dict)  # "model" / "output" → path or URI
    instance_type: str | None = None
    instance_count: int = 1
    spot: bool = False
    training_seconds: int | None = None
    billable_seconds: int | None = None
    deviations: list[Deviation] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # backend-specific extras

    @property
    def interruptions(self) -> int:
        return sum(1 for t in self.transitions if t.status == "Interrupted")

    @property
    def spot_savings_percent(self) -> float | None:
        """(1 - billable / training) × 100, SageMaker's own definition; None when not applicable."""
        return spot_savings_percent(self.training_seconds, self.billable_seconds) if self.spot else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        data["interruptions"] = self.interruptions
        data["spot_savings_percent"] = self.spot_savings_percent
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobDescription:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["status"] = JobStatus(data["status"])
        data["transitions"] = [Transition(**t) for t in data.get("transitions", [])]
        data["deviations"] = [Deviation(**d) for d in data.get("deviations", [])]
        return cls(**data)


def spot_savings_percent(training_seconds: int | None, billable_seconds: int | None) -> float | None:
    if not training_seconds or billable_seconds is None:
        return None
    return round((1 - billable_seconds / training_seconds) * 100, 1)


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, with the same keys for every backend."""

    foreground: bool                 # schedule() runs the job to its end before it returns
    input_modes: tuple[str, ...]     # input modes it runs as SageMaker would
    managed_spot: bool               # spot capacity with interruptions handled by the platform
    interruption_drill: bool         # can rehearse spot interruptions (--simulate-interruptions)
    follow_logs: bool                # logs(follow=True) streams until the job ends


@dataclass
class DryRun:
    """What a backend would do for a job: printable, and computed without any side effect."""

    job: ResolvedJob
    backend: str
    request: dict[str, Any]          # cloud: the CreateTrainingJob request; local: each host's run
    actions: list[str] = field(default_factory=list)  # what schedule() would do, one line each
    payload: Any = None              # the backend's own plan, for its schedule()
    warnings: list[str] = field(default_factory=list)  # the job's and the backend's, not refusals

    def to_dict(self) -> dict[str, Any]:
        return {"job_name": self.job.name, "backend": self.backend, "request": self.request,
                "actions": list(self.actions), "warnings": list(self.warnings)}


@dataclass
class Submission:
    """What schedule() did: the job as it stands afterwards, and what it changed on the way."""

    job: JobDescription
    report: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """What every backend offers: a pure dry run, the act, and the same read side for every job."""

    name: str
    capabilities: Capabilities

    def dryrun(self, job: ResolvedJob) -> DryRun: ...

    def schedule(self, dryrun: DryRun) -> Submission: ...

    def wait(self, job_name: str) -> JobDescription: ...

    def describe(self, job_name: str) -> JobDescription: ...

    def list_jobs(self, status: JobStatus | None = None, limit: int = 20) -> list[JobDescription]: ...

    def logs(self, job_name: str, follow: bool = False) -> Iterator[str]: ...

    def stop(self, job_name: str) -> JobDescription: ...

    def download(self, job_name: str, to: Path, extract: bool = False) -> list[Path]: ...
