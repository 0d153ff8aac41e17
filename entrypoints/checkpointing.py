"""Atomic, self-verifying checkpoint files and resume from the newest valid one.

Layout: ``<dir>/ckpt-<global step, 9+ digits>.pt``. Each file is a ``torch.save`` archive followed
by a 42-byte trailer (``MAGIC`` + SHA-256 of the archive), so a truncated or corrupted file is
recognised for certain rather than by whatever ``torch.load`` happens to notice; ``torch.load``
still reads the file directly because zip readers ignore trailing bytes.

Writes go to a temporary file in the same directory, are fsync'ed, then ``os.replace``-d into
place and the directory is fsync'ed: a kill at any moment leaves either the old set of files or
the new one, plus at most a stray temporary file, which the next start removes. SageMaker mirrors
the directory to S3 (local deletions included), so pruning to ``keep`` files also bounds S3.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

MAGIC = b"CKPTSHA256"
_TRAILER = len(MAGIC) + 32
_NAME = re.compile(r"^ckpt-(\d{9,})\.pt$")
_TMP_PREFIX = ".tmp-ckpt-"


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable (truncated, corrupted or not ours)."""


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"ckpt-{step:09d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of every checkpoint file, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(directory: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` as the checkpoint of ``step`` atomically, then keep the newest ``keep``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getbuffer()
    digest = hashlib.sha256(payload).digest()
    directory.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(directory, step)
    tmp = directory / f"{_TMP_PREFIX}{step:09d}-{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(payload)
            handle.write(MAGIC + digest)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(directory)
    prune(directory, keep, step)
    return final


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read and verify one checkpoint; raise :class:`CheckpointError` if it is not intact."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path.name}: cannot read ({exc.strerror})") from None
    if len(data) < _TRAILER or data[-_TRAILER:-32] != MAGIC:
        raise CheckpointError(f"{path.name}: no integrity trailer (truncated or not a checkpoint)")
    payload, digest = memoryview(data)[:-_TRAILER], data[-32:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError(f"{path.name}: checksum mismatch (corrupted or torn write)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad archive
        raise CheckpointError(f"{path.name}: cannot unpickle ({exc})") from None
    if not isinstance(state, dict) or "global_step" not in state:
        raise CheckpointError(f"{path.name}: not a training checkpoint")
    return state


def load_latest(directory: Path, at_most: int | None = None) -> tuple[int, dict[str, Any]] | None:
    """The newest intact checkpoint (optionally of step <= ``at_most``), falling back past
    broken ones with a warning each; ``None`` when there is none."""
    for step, path in reversed(list_checkpoints(directory)):
        if at_most is not None and step > at_most:
            continue
        try:
            return step, load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("Skipping unusable checkpoint %s; falling back to an older one", exc)
    return None


def prune(directory: Path, keep: int, current_step: int) -> None:
    """Keep the ``keep`` newest checkpoints up to ``current_step``; delete the rest.

    Files of later steps can only be leftovers that failed to load at resume (or of a run that was
    replaced); once a newer intact checkpoint exists they are deleted too.
    """
    entries = list_checkpoints(directory)
    current = [(s, p) for s, p in entries if s <= current_step]
    stale = [p for s, p in entries if s > current_step]
    doomed = [p for _, p in current[:-keep]] + stale
    for path in doomed:
        try:
            path.unlink()
        except OSError as exc:
            log.warning("could not delete old checkpoint %s: %s", path.name, exc)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete temporary files a killed writer left behind."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name.startswith(_TMP_PREFIX):
            path.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported everywhere (e.g. some network filesystems).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
