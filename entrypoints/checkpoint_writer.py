"""Write checkpoints on a background thread, so training does not wait for disk.

Serialising, hashing, writing and fsync-ing a checkpoint takes tenths of a second for a model of a
few million parameters: on a GPU that is a sizeable share of a short epoch. The training thread
therefore only takes a *snapshot* at the step boundary (tensors cloned where they live: on the GPU
a device-to-device copy queued without a host sync) and hands it to one writer thread. At most one
write is in flight; the next checkpoint waits for it (back-pressure bounds memory to one extra
copy of the state). A write error surfaces at the next checkpoint or at :meth:`close`.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from checkpointing import save_checkpoint

log = logging.getLogger(__name__)


def snapshot(obj: Any) -> Any:
    """A copy of ``obj`` that later training steps cannot change: tensors cloned, containers rebuilt."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {key: snapshot(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [snapshot(value) for value in obj]
    if isinstance(obj, tuple):
        return tuple(snapshot(value) for value in obj)
    return obj  # numbers, strings, None: immutable


class CheckpointWriter:
    """One background thread that saves snapshots in submission order."""

    def __init__(self, directory: Path, keep: int) -> None:
        self.directory = directory
        self.keep = keep
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint-writer")
        self._pending: Future[Path] | None = None

    def submit(self, step: int, state: dict[str, Any], where: str) -> None:
        """Queue ``state`` (already a snapshot) as the checkpoint of ``step``."""
        self.flush()
        self._pending = self._pool.submit(self._write, step, state, where)

    def flush(self) -> None:
        """Wait for the write in flight; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self, raise_errors: bool = True) -> None:
        """Finish the last write and stop the thread (errors swallowed when already failing)."""
        try:
            self.flush()
        except Exception:
            if raise_errors:
                raise
            log.warning("the last checkpoint could not be written", exc_info=True)
        finally:
            self._pool.shutdown(wait=True)

    def _write(self, step: int, state: dict[str, Any], where: str) -> Path:
        path = save_checkpoint(self.directory, step, state, keep=self.keep)
        log.info("Checkpoint saved: %s (%s)", path.name, where)
        return path
