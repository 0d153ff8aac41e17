"""Small S3 helpers on top of boto3's transfer manager (concurrent multipart transfers)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from launcher.config.spec import parse_s3_uri

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (label, bytes done, bytes total)


def list_objects(s3: Any, uri: str) -> list[dict[str, Any]]:
    bucket, prefix = parse_s3_uri(uri)
    objects: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend(page.get("Contents", []))
    return objects


def download_prefix(s3: Any, uri: str, dest: Path, progress: Progress | None = None,
                    label: str = "", max_workers: int = 8) -> tuple[int, int]:
    """File-mode semantics: every object under the prefix, keys relative to it; (files, bytes)."""
    bucket, prefix = parse_s3_uri(uri)
    objects = [o for o in list_objects(s3, uri) if not o["Key"].endswith("/")]
    total = sum(int(o.get("Size", 0)) for o in objects)
    done = 0
    lock = threading.Lock()

    def advance(n: int) -> None:
        nonlocal done
        with lock:
            done += n
            if progress is not None:
                progress(label or uri, done, total)

    def fetch(obj: dict[str, Any]) -> int:
        # Keys relative to the prefix, as File mode lays them out; a URI naming one object keeps
        # its base name.
        rel = obj["Key"][len(prefix):].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, obj["Key"], str(target), Callback=advance)
        return int(obj.get("Size", 0))

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        sizes = list(pool.map(fetch, objects))
    return len(sizes), sum(sizes)


def upload_file(s3: Any, path: Path, uri: str) -> None:
    bucket, key = parse_s3_uri(uri)
    s3.upload_file(str(path), bucket, key)
    log.info("uploaded %s to %s", path, uri)
