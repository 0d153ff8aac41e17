"""model.tar.gz and output.tar.gz at `<output>/<job-name>/output/`, as SageMaker uploads them:
each archive holds the *contents* of /opt/ml/model and /opt/ml/output/data; several hosts' trees
merge (on a name clash the first host's copy wins).

Names cannot collide: an archive is packed under a temporary name and renamed (no truncated
model.tar.gz ever sits at its final path), a local `--output` never replaces an archive that is
already there, and an `s3://` `--output` is refused when anything under `<output>/<job>/` was not
written by this local job (SageMaker writes its own jobs' artifacts there, and local and cloud job
names share one space). Objects this job uploads carry its publish id in their metadata
(`x-amz-meta-launcher-publish-id`), kept in `<staging>/publish-id`.
"""

from __future__ import annotations

import logging
import os
import secrets
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.config.spec import is_s3_uri, parse_s3_uri
from launcher.errors import ExitStatus, LauncherError

log = logging.getLogger(__name__)

ARCHIVES = ("model", "output")
PUBLISH_ID_FILE = "publish-id"
PUBLISH_ID_KEY = "launcher-publish-id"   # S3 user metadata (x-amz-meta-launcher-publish-id)
JOB_KEY = "launcher-local-job"


class ArtifactCollisionError(LauncherError):
    """The artifacts' location already holds another job's files; nothing was written there."""

    exit_status = ExitStatus.ERROR


def pack_contents(dirs: list[Path], archive: Path) -> int:
    """Tar the merged contents of `dirs` into a gzip archive; returns the number of files.

    Written to a temporary name beside `archive`, then renamed over it. Links inside a tree are stored
    as the files they point to; links that leave their tree are left out (a model dir is written by
    the script, and a link could carry a file from anywhere on this machine into the artifacts)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(f".{archive.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    seen: set[str] = set()
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            for root in dirs:
                if not root.is_dir():
                    continue
                top = root.resolve()
                for path in sorted(root.rglob("*")):
                    rel = path.relative_to(root).as_posix()
                    if rel in seen or not path.is_file():
                        continue
                    real = path.resolve()
                    if not real.is_relative_to(top):
                        log.warning("left %s out of %s: a link to %s, outside %s", rel, archive.name,
                                    real, root)
                        continue
                    seen.add(rel)
                    tar.add(real, arcname=rel, recursive=False)
        os.replace(tmp, archive)
    finally:
        tmp.unlink(missing_ok=True)
    return len(seen)


def _publish_id(staging: Path) -> str:
    """This local job's publish id (created once, kept in its staging dir)."""
    path = staging / PUBLISH_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        staging.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16)
        path.write_text(token + "\n")
        return token


def _error_code(e: Exception) -> str:
    response = getattr(e, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _check_s3_prefix(s3: Any, output: str, job_name: str, publish_id: str) -> None:
    """ArtifactCollisionError when `<output>/<job>/` holds an object this job did not write."""
    prefix_uri = f"{output.rstrip('/')}/{job_name}/"
    bucket, prefix = parse_s3_uri(prefix_uri)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=10).get("Contents", [])
    for obj in listed:
        key = obj["Key"]
        try:
            meta = s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
        except Exception as e:
            if _error_code(e) in ("404", "NoSuchKey", "NotFound"):
                continue  # deleted between the two calls
            raise
        if meta.get(PUBLISH_ID_KEY) != publish_id:
            owner = meta.get(JOB_KEY)
            whose = f"another local job named {owner!r}" if owner else "another job (a SageMaker job?)"
            raise ArtifactCollisionError(
                f"s3://{bucket}/{key} already exists and was written by {whose}: the artifacts of "
                f"local job {job_name!r} would mix with or replace its files",
                f"run again with another --name, or another --output than {output}")


def publish_artifacts(
    model_dirs: list[Path],
    output_dirs: list[Path],
    output: str,
    job_name: str,
    staging: Path,
    s3_factory: Callable[[], Any],
) -> dict[str, str]:
    """Pack both archives and put them at `<output>/<job>/output/`; returns name → location.

    Every destination is checked before anything is written there (ArtifactCollisionError)."""
    locations: dict[str, str] = {}
    if is_s3_uri(output):
        s3 = s3_factory()
        publish_id = _publish_id(staging)
        _check_s3_prefix(s3, output, job_name, publish_id)
        for name, dirs in (("model", model_dirs), ("output", output_dirs)):
            filename = f"{name}.tar.gz"
            local = staging / filename
            pack_contents(dirs, local)
            uri = f"{output.rstrip('/')}/{job_name}/output/{filename}"
            bucket, key = parse_s3_uri(uri)
            # One PUT (or one completed multipart upload): the object appears whole or not at all.
            s3.upload_file(str(local), bucket, key, ExtraArgs={
                "Metadata": {PUBLISH_ID_KEY: publish_id, JOB_KEY: job_name}})
            log.info("uploaded %s to %s", local, uri)
            locations[name] = uri
        return locations
    targets = {name: Path(output) / job_name / "output" / f"{name}.tar.gz" for name in ARCHIVES}
    for target in targets.values():
        if os.path.lexists(target):
            raise ArtifactCollisionError(
                f"{target} already exists: the artifacts of local job {job_name!r} would replace "
                "another job's", f"run again with another --name, or another --output than {output}")
    dirs_of = {"model": model_dirs, "output": output_dirs}
    for name, target in targets.items():
        packed = staging / f"{name}.tar.gz"
        pack_contents(dirs_of[name], packed)
        _place(packed, target, job_name, output)
        locations[name] = str(target)
    return locations


def _place(packed: Path, target: Path, job_name: str, output: str) -> None:
    """Put a packed archive at `target` without ever replacing a file there (a hard link is atomic
    and fails on an existing name; across file systems: a temporary copy, checked, then renamed)."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        shutil.copyfile(packed, tmp)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise ArtifactCollisionError(
                f"{target} appeared while local job {job_name!r} was writing its artifacts",
                f"run again with another --name, or another --output than {output}") from None
        except OSError:  # no hard links on this file system
            if os.path.lexists(target):
                raise ArtifactCollisionError(
                    f"{target} already exists", "run again with another --name or --output") from None
            os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
