"""A local tuning job's directory, beside the training jobs it ran:

    <home>/jobs/<tuning-name>/
        tuning.json         the TuningDescription (status, trials, best); what the job verbs read
        study.journal       the Optuna study (JournalStorage, append-only file): what resume reads
        spec.json           the spec the tuning job was started with ([tune] table included)
        trials/<trial>.json what each trial's worker process was asked to run
        trials/<trial>.log  that worker's own messages (the script's log is in the trial's job dir)
        tuner.pid           the `launch tune` process running it (PID and start time)
        stop-requested      written by `launch stop`
    <home>/jobs/<tuning-name>-NNN/   each trial: an ordinary local training job

`tuning.json` (not `job.json`) marks the directory as a tuning job, so the training-job store never
mistakes it for one. Reading it needs neither Optuna nor the tuner: a record left InProgress by a
tuner that died is settled here (Stopped, with how to resume).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from launcher.backends.base import now_iso
from launcher.backends.local.isolation import runner_alive
from launcher.errors import JobNotFoundError
from launcher.job.tuning import TuningDescription

RECORD = "tuning.json"
RECORD_FORMAT_VERSION = 1
TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


def tuner_exited(name: str) -> str:
    return (f"the `launch tune` process running this tuning job ended before it did; run "
            f"`launch tune --local --tune-name {name}` with the same settings to resume")


class TuningDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def record_path(self) -> Path:
        return self.path / RECORD

    @property
    def journal_path(self) -> Path:
        return self.path / "study.journal"

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.json"

    @property
    def trials_dir(self) -> Path:
        return self.path / "trials"

    @property
    def tuner_pid_path(self) -> Path:
        return self.path / "tuner.pid"

    @property
    def stop_request(self) -> Path:
        return self.path / "stop-requested"

    def exists(self) -> bool:
        return self.record_path.is_file()

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.trials_dir.mkdir(exist_ok=True)

    def load(self) -> TuningDescription:
        try:
            data = json.loads(self.record_path.read_text())
        except FileNotFoundError:
            raise JobNotFoundError(f"no local tuning job named {self.name!r}", "see `launch list`") from None
        data.pop("format_version", None)
        return TuningDescription.from_dict(data)

    def save(self, desc: TuningDescription) -> None:
        """Atomic, so a reader never sees half a record."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tuning-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"format_version": RECORD_FORMAT_VERSION, **desc.to_dict()}, f, indent=2, default=str)
        os.replace(tmp, self.record_path)

    def tuner_alive(self) -> bool:
        try:
            return runner_alive(self.tuner_pid_path.read_text())
        except FileNotFoundError:
            return False

    def settle(self) -> TuningDescription:
        """The record; one left in progress by a tuner that is gone is recorded Stopped, and its
        running trials take their training jobs' own final status."""
        desc = self.load()
        if desc.status in TERMINAL or self.tuner_alive():
            return desc
        from launcher.backends.local.commands import settle
        from launcher.backends.local.store import JobStore

        store = JobStore(self.path.parent)
        for trial in desc.trials:
            if trial.status == "InProgress" and store.exists(trial.name):
                job = settle(store.get(trial.name))
                trial.status = "Stopped" if job.status.terminal else str(job.status)
                trial.failure_reason = "interrupted with its tuner; re-run once when the tuning job resumes"
        desc.status = "Stopped"
        desc.failure_reason = tuner_exited(self.name)
        desc.ended = desc.ended or now_iso()
        self.save(desc)
        return desc


class TuningStore:
    """Local tuning jobs under the jobs directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def dir(self, name: str) -> TuningDir:
        return TuningDir(self.root / name)

    def exists(self, name: str) -> bool:
        return bool(name) and "/" not in name and self.dir(name).exists()

    def get(self, name: str) -> TuningDir:
        found = self.dir(name)
        if not found.exists():
            raise JobNotFoundError(f"no local tuning job named {name!r}", "see `launch list`")
        return found

    def all(self) -> list[TuningDir]:
        if not self.root.is_dir():
            return []
        found = [TuningDir(p) for p in self.root.iterdir() if (p / RECORD).is_file()]
        return sorted(found, key=lambda t: t.record_path.stat().st_mtime, reverse=True)
