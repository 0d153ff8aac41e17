"""A trial while it runs: its worker process, its share of the machine, the metric lines of its log
as they are written, and stopping it as `launch stop` does.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.backends.base import JobDescription, now_iso
from launcher.backends.local.store import JobDir, JobStore
from launcher.config.spec import JobSpec, MetricDefinition
from launcher.job.metrics import MetricParser

WORKER_EXIT_WAIT_S = 30.0  # after a stop, how long a worker may take to record its job's end


@dataclass(frozen=True)
class Share:
    """How the machine is divided between the trials that run at once."""

    parallel: int              # trials at once: max_parallel, bounded by the cores or the GPUs
    threads: int               # OMP_NUM_THREADS of each trial
    gpus_per_trial: int        # 0 on a machine without GPUs
    limited_by: str | None     # why fewer trials run at once than max_parallel asks, if so


def divide(max_parallel: int, cores: int, gpus: int) -> Share:
    """Trials at once and each one's share: one GPU or more per trial where there are GPUs (the
    trials never share a device), else the cores split evenly (at least one thread per trial)."""
    cores = max(1, cores)
    if gpus > 0:
        parallel = min(max_parallel, gpus)
        why = f"{gpus} GPU{'s' if gpus != 1 else ''}" if parallel < max_parallel else None
        return Share(parallel, max(1, cores // parallel), gpus // parallel, why)
    parallel = min(max_parallel, cores)
    why = f"{cores} CPU core{'s' if cores != 1 else ''}" if parallel < max_parallel else None
    return Share(parallel, max(1, cores // parallel), 0, why)


def visible_devices(environ: Mapping[str, str], probed: int) -> list[str]:
    """The GPUs this process may hand out: CUDA_VISIBLE_DEVICES when set, else all it found."""
    given = environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip()]
    return [str(i) for i in range(probed)]


def pdeathsig_prefix() -> list[str]:
    """`setpriv --pdeathsig KILL --` where it exists: the kernel kills the worker with the tuner."""
    return ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


@dataclass
class RunningTrial:
    """One trial's worker and the metric values read so far from its job's log."""

    number: int
    name: str
    hyperparameters: dict[str, Any]
    optuna_trial: Any
    process: subprocess.Popen[bytes]
    job_dir: JobDir
    parser: MetricParser
    objective: str
    gpus: tuple[str, ...] = ()
    started: float = field(default_factory=time.monotonic)
    reports: dict[int, float] = field(default_factory=dict)  # step (epoch) → objective value
    pruned: bool = False
    stop_requested: bool = False
    _position: int = 0
    _partial: str = ""

    @property
    def log_path(self) -> Path:
        return self.job_dir.log_path("algo-1")  # rank 0 reports the metrics

    def new_lines(self) -> list[str]:
        """Whole lines written to the job's log since the last call."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._position)
                chunk = f.read()
        except FileNotFoundError:
            return []
        self._position += len(chunk)
        text = self._partial + chunk.decode("utf-8", errors="replace")
        *lines, self._partial = text.split("\n")
        return lines

    def objective_reports(self) -> list[tuple[int, float]]:
        """(step, value) of each new objective value: the step is the line's epoch when the job
        defines an `epoch` metric, else the count of reports; a step reported twice keeps its first."""
        found: list[tuple[int, float]] = []
        for line in self.new_lines():
            values = self.parser.feed(line)
            value = values.get(self.objective)
            if value is None or not math.isfinite(value):
                continue
            epoch = values.get("epoch")
            step = int(epoch) if epoch is not None else len(self.reports) + 1
            if step not in self.reports:
                self.reports[step] = value
                found.append((step, value))
        return found

    def request_stop(self) -> None:
        """As `launch stop`: the stop request for the runner, and SIGKILL to the job's process
        groups; the worker then records the job Stopped and exits."""
        if self.stop_requested or self.process.poll() is not None:
            return
        self.stop_requested = True
        if self.job_dir.path.is_dir():
            self.job_dir.stop_request.write_text(now_iso())
        with contextlib.suppress(FileNotFoundError, ValueError):
            for pid in (int(p) for p in self.job_dir.pid_path.read_text().split()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

    def wait(self) -> int:
        """The worker's exit status; a worker that does not end after a stop is killed."""
        try:
            return self.process.wait(timeout=WORKER_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def job(self) -> JobDescription | None:
        """The trial's training job record (None if the worker failed before creating it)."""
        store = JobStore(self.job_dir.path.parent)
        if not store.exists(self.name):
            return None
        from launcher.backends.local.commands import settle

        return settle(store.get(self.name))

    def seconds(self) -> float:
        return time.monotonic() - self.started


def start_worker(*, trials_dir: Path, name: str, spec: JobSpec, home: Path, jobs_dir: Path, cwd: Path,
                 environ: Mapping[str, str], share: Share, gpus: tuple[str, ...]) -> subprocess.Popen[bytes]:
    """Start the worker process of one trial; its messages go to trials/<name>.log."""
    request = {"spec": spec.model_dump(mode="json"), "home": str(home), "jobs_dir": str(jobs_dir),
               "cwd": str(cwd), "gpus": len(gpus), "parent": os.getpid()}
    request_path = trials_dir / f"{name}.json"
    fd = os.open(request_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # the spec may hold secrets
    with os.fdopen(fd, "w") as f:
        json.dump(request, f, indent=2)
    env = dict(environ)
    env["OMP_NUM_THREADS"] = str(share.threads)  # the job's own --env OMP_NUM_THREADS still wins
    if share.gpus_per_trial:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    log = (trials_dir / f"{name}.log").open("ab")
    try:
        return subprocess.Popen([*pdeathsig_prefix(), sys.executable, "-m", "launcher.tune.worker",
                                 str(request_path)], env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    finally:
        log.close()


def parser_for(definitions: tuple[MetricDefinition, ...]) -> MetricParser:
    return MetricParser(list(definitions))
