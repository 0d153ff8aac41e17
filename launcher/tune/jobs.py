"""The job verbs on tuning jobs: `status`, `describe`, `list` and `stop`, local and cloud, each
answering with a `TuningDescription`.

A local tuning job is a directory of the jobs dir holding `tuning.json`; it is read without Optuna
(the tuner keeps the record). A cloud one is a SageMaker hyperparameter tuning job, read and
stopped through `backends.sagemaker.tuning` with the SageMaker client given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.backends.base import now_iso
from launcher.job.tuning import TuningDescription
from launcher.tune.record import TERMINAL, TuningStore

STOP_WAIT_S = 60.0   # for the tuner to stop its trials (each worker has 30 s) and record the end
STOP_POLL_S = 0.2


def is_local_tuning(jobs_dir: Path, name: str) -> bool:
    return TuningStore(jobs_dir).exists(name)


def describe_local(jobs_dir: Path, name: str) -> TuningDescription:
    return TuningStore(jobs_dir).get(name).settle()


def list_local(jobs_dir: Path, status: str | None = None, limit: int = 20) -> list[TuningDescription]:
    found = []
    for tdir in TuningStore(jobs_dir).all():
        try:
            desc = tdir.settle()
        except (ValueError, KeyError, TypeError):  # a record we cannot read: leave it out
            continue
        if status is None or desc.status == status:
            found.append(desc)
        if len(found) >= limit:
            break
    return found


def stop_local(jobs_dir: Path, name: str, *, wait_s: float = STOP_WAIT_S,
               sleep: Callable[[float], None] = time.sleep) -> TuningDescription:
    """Ask the tuner to stop every running trial and record the end; wait for it a while. A tuning
    job whose tuner is gone is settled (recorded Stopped) at once."""
    tdir = TuningStore(jobs_dir).get(name)
    desc = tdir.settle()
    if desc.status in TERMINAL:
        return desc
    tdir.stop_request.write_text(now_iso())
    waited = 0.0
    while waited < wait_s:
        desc = tdir.settle()
        if desc.status in TERMINAL:
            return desc
        sleep(STOP_POLL_S)
        waited += STOP_POLL_S
    desc.status = "Stopping"
    return desc


def describe_cloud(sm: Any, name: str, region: str | None = None) -> TuningDescription:
    from launcher.backends.sagemaker.tuning import describe_tuning

    return describe_tuning(sm, name, region=region)


def list_cloud(sm: Any, status: str | None = None, limit: int = 20,
               region: str | None = None) -> list[TuningDescription]:
    from launcher.backends.sagemaker.tuning import list_tuning_jobs

    return list_tuning_jobs(sm, status, limit, region=region)


def stop_cloud(sm: Any, name: str) -> TuningDescription:
    from launcher.backends.sagemaker.tuning import stop_tuning

    return stop_tuning(sm, name)
