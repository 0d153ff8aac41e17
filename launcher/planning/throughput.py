"""Throughput remembered from earlier jobs, so `launch plan` can give an expected duration and cost.

Stored in ``<launcher home>/throughput.json``::

    {"version": 1,
     "entries": {"<key>": {"<instance type>": {"samples_per_second": 1234.5,
                                               "recorded_at": "2026-11-23T10:00:00+00:00",
                                               "jobs": 3}}}}

**Key.** :func:`throughput_key` names the *entrypoint*, not a hash of the code: the entry script,
qualified by its source directory's name (``reference/train.py`` for the bundled reference entrypoint,
``my-project/train.py`` for ``--source-dir my-project``). Editing the script keeps its measurement
(throughput rarely moves with an edit, and a stale figure is better than none for planning); a
different project with the same script name but another directory name starts fresh.

**Value.** Samples per second **per instance** over the training phase of the last job (all processes
of one host together); the planner multiplies by the instance count. Local jobs record under the
instance type ``"local"``. The newest measurement wins; ``jobs`` counts how many were recorded.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from launcher.config.spec import JobSpec

FILE_NAME = "throughput.json"
LOCAL_INSTANCE = "local"
_VERSION = 1


def throughput_key(spec: JobSpec) -> str:
    """``<source dir name>/<entrypoint>``; ``reference/<entrypoint>`` for the bundled one."""
    if spec.uses_reference_entrypoint:
        return f"reference/{spec.entrypoint}"
    source = Path(spec.source_dir or ".").expanduser()
    name = source.resolve().name if source.name in ("", ".", "..") else source.name
    return f"{name}/{spec.entrypoint}"


def store_path(home: Path) -> Path:
    return home / FILE_NAME


def record_throughput(home: Path, key: str, instance_type: str, samples_per_second: float) -> None:
    """Remember ``samples_per_second`` (per instance) for ``key`` on ``instance_type``.

    Written atomically (temp file + ``os.replace``); an unreadable store is replaced, not fatal.
    """
    if not (isinstance(samples_per_second, int | float) and math.isfinite(samples_per_second)
            and samples_per_second > 0):
        raise ValueError(f"samples_per_second must be a positive number, got {samples_per_second!r}")
    data = _load(home)
    by_type = data["entries"].setdefault(key, {})
    previous = by_type.get(instance_type) or {}
    by_type[instance_type] = {
        "samples_per_second": float(samples_per_second),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": int(previous.get("jobs", 0)) + 1,
    }
    home.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".throughput-", suffix=".json", dir=home)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, store_path(home))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recall_throughput(home: Path, key: str, instance_type: str) -> float | None:
    """The remembered samples/s per instance, or None when no job of ``key`` ran on that type."""
    entry = _load(home)["entries"].get(key, {}).get(instance_type)
    if not isinstance(entry, dict):
        return None
    value = entry.get("samples_per_second")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return None


def _load(home: Path) -> dict[str, Any]:
    try:
        data = json.loads(store_path(home).read_text())
    except (OSError, ValueError):
        return {"version": _VERSION, "entries": {}}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        return {"version": _VERSION, "entries": {}}
    return data
