"""Local job records: one directory per job, readable by `launch status/logs/list` and by people.

    <home>/jobs/<job-name>/
        job.json            the JobDescription (status, transitions, metrics, artifacts, deviations)
        spec.json           the validated spec
        logs/algo-N.log     each host's output, one line per line as the drivers log it
        hosts/algo-N/opt/ml the emulated container tree of each host
        checkpoints-s3/     stands in for the checkpoint S3 prefix when none is given
        output/             model.tar.gz and output.tar.gz when --output is not given
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from launcher.backends.base import JobDescription
from launcher.backends.local.container import HostLayout
from launcher.errors import JobNotFoundError, SpecError


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
            return JobDescription.from_dict(json.loads(self.record_path.read_text()))
        except FileNotFoundError:
            raise JobNotFoundError(f"local job {self.name!r} has no record") from None

    def save(self, desc: JobDescription) -> None:
        """Atomic write, so a reader (`launch status`) never sees half a record."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".job-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(desc.to_dict(), f, indent=2)
        os.replace(tmp, self.record_path)


class JobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, name: str) -> JobDir:
        path = self.root / name
        try:
            path.mkdir(parents=True)
        except FileExistsError:
            raise SpecError(f"a local job named {name!r} already exists",
                            "choose another --name or omit it to generate one") from None
        (path / "logs").mkdir()
        return JobDir(path)

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
