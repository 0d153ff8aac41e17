"""Local job records: one directory per job, readable by `launch status/logs/list` and by people.

    <home>/jobs/<job-name>/
        job.json            the JobDescription (status, transitions, metrics, artifacts, deviations)
        spec.json           the validated spec
        logs/algo-N.log     each host's output, one line per line as the drivers log it
        hosts/algo-N/opt/ml the emulated container tree of each host
        checkpoints-s3/     stands in for the checkpoint S3 prefix when none is given
        output/             model.tar.gz and output.tar.gz when --output is not given

job.json carries `format_version` (RECORD_FORMAT_VERSION). Records without it were written before
versioning (format 0) and read unchanged: every field added since has a default. A record from a
newer launcher is read as far as this one understands it, with a warning.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.backends.base import JobDescription
from launcher.backends.local.container import HostLayout
from launcher.errors import JobNotFoundError, SpecError

if TYPE_CHECKING:
    from launcher.job.resolve import ResolvedJob

log = logging.getLogger(__name__)

# 1: `format_version` itself, and the resolved job in `details` (see `record_details`).
RECORD_FORMAT_VERSION = 1


def record_details(job: ResolvedJob, jobdir: JobDir, python: str) -> dict[str, Any]:
    """What a local job record keeps of its resolved job, so `describe`, `status`, `logs -f` and
    `metrics` answer from the record alone: where everything came from and went, and the step plan
    (progress and ETA need the total number of optimizer steps)."""
    spec = job.spec
    details: dict[str, Any] = {
        "entrypoint": job.entrypoint,
        "image": f"this machine's Python: {python}",
        "channels": {c.name: c.location for c in job.channels},
        "output_path": spec.output or str(jobdir.path.parent),
        "metric_definitions": [{"name": d.name, "regex": d.regex} for d in job.metric_definitions],
    }
    if job.checkpointing:
        details["checkpoint_s3_uri"] = (spec.spot.checkpoint_s3_uri
                                        or str(jobdir.default_checkpoint_remote))
    if job.plan is not None:
        steps = job.plan.steps
        details.update({"total_steps": steps.total_optimizer_steps,
                        "steps_per_epoch": steps.optimizer_steps_per_epoch,
                        "epochs": steps.epochs_to_run,
                        "global_batch_size": steps.global_batch_size})
    return details


class JobDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def record_path(self) -> Path:
        return self.path / "job.json"

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.json"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def pid_path(self) -> Path:
        return self.path / "pids"

    @property
    def runner_pid_path(self) -> Path:
        return self.path / "runner.pid"

    @property
    def stop_request(self) -> Path:
        return self.path / "stop-requested"

    @property
    def default_checkpoint_remote(self) -> Path:
        return self.path / "checkpoints-s3"

    def log_path(self, host: str) -> Path:
        return self.logs_dir / f"{host}.log"

    def host_layout(self, host: str) -> HostLayout:
        return HostLayout(self.path / "hosts" / host / "opt" / "ml", host)

    def load(self) -> JobDescription:
        try:
            data = json.loads(self.record_path.read_text())
        except FileNotFoundError:
            raise JobNotFoundError(f"local job {self.name!r} has no record") from None
        version = data.get("format_version", 0)
        if isinstance(version, int) and version > RECORD_FORMAT_VERSION:
            log.warning("%s was written by a newer launcher (record format %d, this one reads %d): "
                        "fields it does not know are ignored", self.record_path, version,
                        RECORD_FORMAT_VERSION)
        return JobDescription.from_dict(data)

    def save(self, desc: JobDescription) -> None:
        """Atomic write, so a reader (`launch status`) never sees half a record."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".job-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"format_version": RECORD_FORMAT_VERSION, **desc.to_dict()}, f, indent=2)
        os.replace(tmp, self.record_path)

    def size_bytes(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):  # removed meanwhile
                    total += os.lstat(os.path.join(root, name)).st_size
        return total

    def remove(self) -> None:
        """Delete the job directory. Staged data channels are read-only directories of hard links
        to the user's files: only directories are made writable (a file's mode is shared with the
        original through its inode), and links are removed, never followed."""
        for root, dirs, _files in os.walk(self.path):
            for name in dirs:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
        shutil.rmtree(self.path)


class JobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, name: str) -> JobDir:
        path = self.root / name
        try:
            path.mkdir(parents=True, mode=0o700)  # a job's records and data are the user's alone
        except FileExistsError:
            raise SpecError(f"a local job named {name!r} already exists",
                            "choose another --name or omit it to generate one") from None
        (path / "logs").mkdir()
        return JobDir(path)

    def reclaim(self, name: str) -> JobDir:
        """The folder of a job whose launcher died, emptied for a re-run under the same name but its
        checkpoints: the re-run resumes from them, as a restarted SageMaker job would."""
        job = JobDir(self.root / name)
        keep = job.default_checkpoint_remote
        for entry in job.path.iterdir():
            if entry == keep:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        (job.path / "logs").mkdir()
        return job

    def get(self, name: str) -> JobDir:
        job = JobDir(self.root / name)
        if not job.record_path.exists():
            raise JobNotFoundError(f"no local job named {name!r}", "see `launch list`")
        return job

    def exists(self, name: str) -> bool:
        return (self.root / name / "job.json").exists()

    def all(self) -> list[JobDir]:
        if not self.root.is_dir():
            return []
        jobs = [JobDir(p) for p in self.root.iterdir() if (p / "job.json").exists()]
        return sorted(jobs, key=lambda j: j.record_path.stat().st_mtime, reverse=True)

    def older_than(self, seconds: float, now: datetime | None = None
                   ) -> list[tuple[JobDir, JobDescription, float]]:
        """Ended jobs whose end (else creation) lies more than `seconds` ago, oldest first, with
        their age in seconds. A job still in progress is never included, however old."""
        now = now or datetime.now(UTC)
        found = []
        for job in self.all():
            try:
                desc = job.load()
            except (ValueError, KeyError, TypeError) as e:  # a record we cannot read: leave it
                log.warning("skipping %s: unreadable record (%s)", job.path, e)
                continue
            if not desc.status.terminal:
                continue
            age = (now - _timestamp(desc.ended or desc.created, job)).total_seconds()
            if age > seconds:
                found.append((job, desc, age))
        return sorted(found, key=lambda item: -item[2])


def _timestamp(iso: str | None, job: JobDir) -> datetime:
    if iso:
        try:
            t = datetime.fromisoformat(iso)
            return t if t.tzinfo else t.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.fromtimestamp(job.record_path.stat().st_mtime, UTC)
