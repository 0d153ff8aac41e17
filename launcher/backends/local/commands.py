"""The read and control side of local jobs (describe, list, logs, stop, download), working from
the job directories alone, so they answer while the job runs in another process or after it ended."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from launcher.backends.base import JobDescription, JobStatus, Transition, now_iso
from launcher.backends.local.isolation import runner_alive
from launcher.backends.local.store import JobDir, JobStore
from launcher.backends.s3_transfer import key_to_path
from launcher.config.spec import is_s3_uri, parse_s3_uri
from launcher.errors import JobNotFoundError

LAUNCHER_EXITED = ("launcher exited: the `launch` process running this job ended before the job did; "
                   "run it again under the same name to resume from its checkpoints")


class LocalJobs:
    """The job verbs over a store of job directories; `s3` gives a client for S3 artifacts."""

    def __init__(self, store: JobStore, s3: Callable[[], Any]) -> None:
        self.store = store
        self.s3 = s3

    def describe(self, job_name: str) -> JobDescription:
        return settle(self.store.get(job_name))

    def list_jobs(self, status: JobStatus | None = None, limit: int = 20) -> list[JobDescription]:
        found = []
        for job in self.store.all():
            desc = settle(job)
            if status is None or desc.status == status:
                found.append(desc)
            if len(found) >= limit:
                break
        return found

    def logs(self, job_name: str, follow: bool = False, poll: float = 0.5) -> Iterator[str]:
        job = self.store.get(job_name)
        hosts = sorted(p.stem for p in job.logs_dir.glob("*.log")) or ["algo-1"]
        multi = len(hosts) > 1
        positions = dict.fromkeys(hosts, 0)
        while True:
            for host in hosts:
                path = job.log_path(host)
                if not path.exists():
                    continue
                with path.open() as f:
                    f.seek(positions[host])
                    while line := f.readline():
                        if not line.endswith("\n"):
                            break  # a line still being written: read it next pass
                        positions[host] = f.tell()
                        yield f"[{host}] {line.rstrip()}" if multi else line.rstrip()
            if not follow or job.load().status.terminal:
                if follow:
                    follow = False  # one more pass picks up the tail written before the end
                    continue
                return
            time.sleep(poll)

    def stop(self, job_name: str) -> JobDescription:
        """Ask the runner to stop and SIGKILL the job's process groups; the runner records Stopped.
        When the runner itself is gone, record the stop here."""
        job = self.store.get(job_name)
        desc = job.load()
        if desc.status.terminal:
            return desc
        job.stop_request.write_text(now_iso())
        for pid in _pids(job.pid_path):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        if not _runner_alive(job):
            desc.status = JobStatus.STOPPED
            desc.ended = now_iso()
            desc.transitions.append(Transition("Stopped", now_iso(), "stopped; its runner had exited"))
            desc.secondary_status = "Stopped"
            job.save(desc)
            return desc
        for _ in range(100):  # up to 10 s for the runner to record the end
            desc = job.load()
            if desc.status.terminal:
                return desc
            time.sleep(0.1)
        desc.status = JobStatus.STOPPING
        return desc

    def download(self, job_name: str, to: Path, extract: bool = False) -> list[Path]:
        desc = self.describe(job_name)
        if not desc.artifacts:
            raise JobNotFoundError(f"job {job_name!r} has no artifacts (status {desc.status})")
        to.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for location in desc.artifacts.values():
            target = key_to_path(to, Path(location).name, where=location)
            if is_s3_uri(location):
                bucket, key = parse_s3_uri(location)
                self.s3().download_file(bucket, key, str(target))
            else:
                shutil.copy2(location, target)
            written.append(target)
            if extract:
                from launcher.job.archives import extract_archive

                dest = to / target.name.removesuffix(".tar.gz")
                extract_archive(target, dest)  # all or nothing, never outside dest
                written.append(dest)
        return written


def _pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in path.read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


def _runner_alive(job: JobDir) -> bool:
    try:
        return runner_alive(job.runner_pid_path.read_text())
    except FileNotFoundError:
        return False


def settle(job: JobDir) -> JobDescription:
    """The job's record; a job in progress whose launcher is gone (killed, even by SIGKILL) is ended
    here: what is left of it is killed and it is recorded Failed, so its name is free again."""
    desc = job.load()
    if desc.status.terminal or _runner_alive(job):
        return desc
    for pid in _pids(job.pid_path):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    job.pid_path.unlink(missing_ok=True)
    desc.status = JobStatus.FAILED
    desc.failure_reason = LAUNCHER_EXITED
    desc.ended = now_iso()
    desc.secondary_status = "Failed"
    desc.transitions.append(Transition("Failed", desc.ended, LAUNCHER_EXITED))
    job.save(desc)
    return desc
