"""Small S3 helpers on top of boto3's transfer manager (concurrent multipart transfers), and the one
function that turns S3 keys into local paths (:func:`key_to_path`, :func:`plan_key_paths`): channel
downloads, checkpoint restores and artifact downloads all go through it, so a key can never name a
file outside the directory it is downloaded into."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

from launcher.config.spec import parse_s3_uri
from launcher.errors import ExitStatus, LauncherError

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]  # (label, bytes done, bytes total)


class UnsafeKeyError(LauncherError):
    """An S3 key would be written outside the directory it is downloaded into; nothing was written."""

    exit_status = ExitStatus.ERROR


def relative_key(key: str, prefix: str) -> str:
    """The part of `key` below `prefix`, as File mode lays it out (the one '/' that separates a prefix
    without a trailing slash from the rest is not part of it); the base name for a key equal to it."""
    rel = key[len(prefix):]
    if prefix and not prefix.endswith("/") and rel.startswith("/"):
        rel = rel[1:]
    return rel or key.rsplit("/", 1)[-1]


def key_to_path(root: Path, rel: str, *, where: str = "") -> Path:
    """The local path of the key remainder `rel` under `root`; UnsafeKeyError when it could leave it.

    Refused: an absolute remainder (`prefix//etc/passwd`), `..` or `.` components, empty components
    (`a//b`), NUL bytes and an empty name. Never resolves anything on disk.
    """
    source = f" (under {where})" if where else ""
    problem = None
    if not rel:
        problem = "it has no name below the prefix"
    elif "\x00" in rel:
        problem = "it holds a NUL byte"
    elif rel.startswith("/"):
        problem = "the rest of the key is an absolute path"
    else:
        parts = rel.split("/")
        if any(p in ("..", ".") for p in parts):
            problem = "it has a '..' or '.' path component"
        elif any(p == "" for p in parts[:-1]):
            problem = "it has an empty path component ('//')"
    if problem is None:
        path = root.joinpath(*PurePosixPath(rel).parts)
        if path.parent.is_relative_to(root) and path != root:
            return path
        problem = "it resolves outside the target directory"
    raise UnsafeKeyError(
        f"refused S3 key {rel[:200]!r}{source}: {problem}; it would be written outside {root}",
        "rename or delete that object; nothing was downloaded")


def plan_key_paths(root: Path, rels: Iterable[str], *, where: str = "") -> dict[str, Path]:
    """rel → local path for every key remainder, checked all together before anything is written:
    each one with :func:`key_to_path`, and no key may be both a file and a directory of another."""
    paths: dict[str, Path] = {}
    for rel in rels:
        if rel.endswith("/"):  # a "directory marker" object: nothing to write
            continue
        paths[rel] = key_to_path(root, rel, where=where)
    files = set(paths)
    for rel in sorted(files):
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise UnsafeKeyError(
                    f"refused S3 keys under {where or root}: {'/'.join(parts[:i])!r} is both a file "
                    f"and the directory of {rel!r}",
                    "rename or delete one of those objects; nothing was downloaded")
    return paths


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
    # Every key is checked before the first byte is written (File mode: keys relative to the prefix;
    # a URI naming one object keeps its base name).
    targets = plan_key_paths(dest, [relative_key(o["Key"], prefix) for o in objects], where=uri)
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
        target = targets[relative_key(obj["Key"], prefix)]
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
