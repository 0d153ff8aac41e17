"""Checkpoint sync as SageMaker does it (model-checkpoints docs, container-contract.md §6):
the remote location is copied into the container's checkpoint path before the script starts (on
every start and restart), then new or changed files are mirrored back while it runs, deletions too.

The remote is a local directory standing in for S3, or a real `s3://` URI (moto in tests). Remote
names become local paths through `s3_transfer.plan_key_paths`, all checked before the checkpoint
directory is touched: a key with `..`, an absolute remainder (`prefix//etc/passwd`) or an empty
component is refused, never written outside the checkpoint directory.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path
from typing import Any

from launcher.backends.s3_transfer import plan_key_paths
from launcher.config.spec import is_s3_uri, parse_s3_uri

log = logging.getLogger(__name__)

Signature = tuple[int, int]  # (size, mtime_ns)


class CheckpointMirror:
    def __init__(self, local: Path, remote: str, s3: Any = None, interval: float = 0.5) -> None:
        self.local = local
        self.remote = remote
        self.s3 = s3
        self.interval = interval
        self._synced: dict[str, Signature] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if is_s3_uri(remote):
            if s3 is None:
                raise ValueError("an S3 client is needed for an s3:// checkpoint location")
            self._bucket, prefix = parse_s3_uri(remote)
            self._prefix = prefix if prefix.endswith("/") or not prefix else prefix + "/"

    # -- remote primitives -------------------------------------------------------------------

    def _remote_files(self) -> list[str]:
        if not is_s3_uri(self.remote):
            root = Path(self.remote)
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) \
                if root.is_dir() else []
        names = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket,
                                                                       Prefix=self._prefix):
            names += [o["Key"][len(self._prefix):] for o in page.get("Contents", [])]
        # The prefix's own "directory marker" ("") and other markers ("sub/") hold no file.
        return sorted(n for n in names if n and not n.endswith("/"))

    def _download(self, rel: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if is_s3_uri(self.remote):
            self.s3.download_file(self._bucket, self._prefix + rel, str(dest))
        else:
            shutil.copy2(Path(self.remote) / rel, dest)

    def _upload(self, src: Path, rel: str) -> None:
        if is_s3_uri(self.remote):
            self.s3.upload_file(str(src), self._bucket, self._prefix + rel)
        else:
            dest = Path(self.remote) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".sync-tmp")
            shutil.copy2(src, tmp)
            tmp.replace(dest)

    def _delete(self, rel: str) -> None:
        if is_s3_uri(self.remote):
            self.s3.delete_object(Bucket=self._bucket, Key=self._prefix + rel)
        else:
            (Path(self.remote) / rel).unlink(missing_ok=True)

    # -- sync -----------------------------------------------------------------------------------

    def restore(self) -> int:
        """Remote → local before the script starts; returns the number of files restored.

        A restarted container starts with an empty checkpoint dir: only what reached the remote
        comes back, so local leftovers of the killed attempt are removed first. Every remote name
        is checked first (UnsafeKeyError, with the checkpoint dir untouched)."""
        files = self._remote_files()
        targets = plan_key_paths(self.local, files, where=self.remote)
        if self.local.exists():
            shutil.rmtree(self.local)
        self.local.mkdir(parents=True)
        self._synced.clear()
        for rel in files:
            dest = targets[rel]
            self._download(rel, dest)
            st = dest.stat()
            self._synced[rel] = (st.st_size, st.st_mtime_ns)
        if files:
            log.info("restored %d checkpoint files from %s", len(files), self.remote)
        return len(files)

    def _local_files(self) -> dict[str, Signature]:
        found: dict[str, Signature] = {}
        for p in self.local.rglob("*"):
            try:
                if p.is_file():
                    st = p.stat()
                    found[p.relative_to(self.local).as_posix()] = (st.st_size, st.st_mtime_ns)
            except FileNotFoundError:  # renamed or deleted while we looked
                continue
        return found

    def sync_once(self) -> tuple[int, int]:
        """Mirror changes local → remote; returns (uploaded, deleted)."""
        with self._lock:
            current = self._local_files()
            uploaded = deleted = 0
            for rel, sig in sorted(current.items()):
                if self._synced.get(rel) != sig:
                    try:
                        self._upload(self.local / rel, rel)
                    except FileNotFoundError:
                        continue  # replaced between listing and copying; next pass sees the new one
                    self._synced[rel] = sig
                    uploaded += 1
            for rel in sorted(set(self._synced) - set(current)):
                self._delete(rel)
                del self._synced[rel]
                deleted += 1
            return uploaded, deleted

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="checkpoint-sync")
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync_once()
            except Exception:  # keep mirroring; the final pass reports persistent errors
                log.warning("checkpoint sync pass failed", exc_info=True)

    def stop(self) -> None:
        """Stop the background mirror and make one last pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.sync_once()
