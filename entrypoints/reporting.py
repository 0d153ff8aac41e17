"""Log lines and output files.

Log format: one line per event, stdout only (SageMaker merges stderr anyway), no timestamps or
``\\r`` progress bars so that every line is one CloudWatch event. Metric lines are ``key=value``
pairs separated by single spaces; ``metric_definitions.json`` parses them. Human-readable lines
(the header, checkpoint notices) never contain ``<metric>=``, so the regexes cannot misfire.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HISTORY_COLUMNS: tuple[str, ...] = (
    "epoch",
    "step",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "lr",
    "epoch_time_s",
    "samples_per_sec",
)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname}: {message}"
        return message


def setup_logging(is_main: bool) -> None:
    """Root logging to stdout; processes other than rank 0 report only warnings and errors."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter("%(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO if is_main else logging.WARNING)


def format_value(value: Any) -> str:
    """Floats with 6 significant digits (``nan``/``inf`` spelled so), everything else as str."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    return str(value)


def metric_line(fields: Sequence[tuple[str, Any]]) -> str:
    """``epoch=3 step=1407 train_loss=0.1345 ...``; ``None`` values are left out."""
    return " ".join(f"{key}={format_value(value)}" for key, value in fields if value is not None)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Temp file + fsync + rename, so a killed run never leaves a half-written artefact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    # allow_nan keeps a diverged run's NaN visible rather than failing to write the report.
    write_bytes_atomic(path, (json.dumps(obj, indent=2, allow_nan=True) + "\n").encode())


def write_history_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else format_value(row.get(k)) for k in HISTORY_COLUMNS})
    write_bytes_atomic(path, buffer.getvalue().encode())
