"""S3 staging: where code, data, checkpoints and outputs live, and the content-addressed uploads.

Layout under `s3://<bucket>/<prefix>/`:

    code/<sha12>/sourcedir.tar.gz          the packaged source dir (launcher.job.packaging), once per content
    data/<sha12>/…                          a local data channel, once per content
    data/<sha12>/_launcher_manifest.json    its ChannelInfo (samples, shapes, hash) for `launch plan`
    checkpoints/<job>/                      spot checkpoints (CheckpointConfig.S3Uri)
    output/<job>/output/model.tar.gz        artifacts (OutputDataConfig.S3OutputPath = output/)
    staging/<job>/<sdk-name>/input/sm_drivers/   the SDK's driver files (re-uploaded every submit)

The URI functions are pure; the upload functions take an injected S3 client and HEAD before they
PUT, so an unchanged project or dataset is never uploaded twice. Each version of a channel is a new,
immutable prefix (what a submitted job reads never changes under it); a file whose content an earlier
version already holds is copied inside S3 instead of uploaded, so adding one file to a channel uploads
one file. Uploads use boto3's managed transfers: several files at once, large files in parallel parts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.aws import error_code, translate_error
from launcher.config.spec import parse_s3_uri
from launcher.errors import AwsError
from launcher.job.data_manifest import MANIFEST_NAME, ChannelInfo

log = logging.getLogger(__name__)

CODE_OBJECT = "sourcedir.tar.gz"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
FILES_AT_ONCE = 8          # files of one channel transferred in parallel
PARTS_AT_ONCE = 8          # parts of one large file transferred in parallel
MAX_EARLIER_VERSIONS = 50  # manifests read to find content already in the bucket

# progress(description, bytes_done, bytes_total): called as an upload advances.
Progress = Callable[[str, int, int], None]


def _root(bucket: str, prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"


def code_uri(bucket: str, prefix: str, short_hash: str) -> str:
    return f"{_root(bucket, prefix)}code/{short_hash}/{CODE_OBJECT}"


def data_uri(bucket: str, prefix: str, short_hash: str) -> str:
    return f"{_root(bucket, prefix)}data/{short_hash}/"


def checkpoint_uri(bucket: str, prefix: str, job_name: str) -> str:
    return f"{_root(bucket, prefix)}checkpoints/{job_name}/"


def output_uri(bucket: str, prefix: str) -> str:
    return f"{_root(bucket, prefix)}output/"


def staging_key_prefix(prefix: str, job_name: str) -> str:
    """The SDK's `input_s3_key_prefix`: its driver files land under it."""
    prefix = prefix.strip("/")
    return f"{prefix}/staging/{job_name}" if prefix else f"staging/{job_name}"


@dataclass
class UploadReport:
    """What one submit put into S3 (the figures docs/sagemaker.md reports)."""

    objects: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)  # URIs already present
    copied_objects: int = 0   # copied inside S3 from an earlier version of a channel
    copied_bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, size: int) -> None:
        with self._lock:
            self.objects += 1
            self.bytes += size

    def add_copy(self, size: int) -> None:
        with self._lock:
            self.copied_objects += 1
            self.copied_bytes += size


def object_exists(s3: Any, uri: str) -> bool:
    bucket, key = parse_s3_uri(uri)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception as e:  # botocore ClientError; imported lazily elsewhere
        if error_code(e) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise translate_error(e, f"cannot read {uri}") from e


def _put_file(s3: Any, path: Path, bucket: str, key: str, label: str, progress: Progress | None) -> int:
    size = path.stat().st_size
    done = 0
    lock = threading.Lock()

    def callback(n: int) -> None:  # called from the transfer's threads
        nonlocal done
        with lock:
            done += n
            if progress:
                progress(label, done, size)

    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                            max_concurrency=PARTS_AT_ONCE, use_threads=True)
    try:
        s3.upload_file(str(path), bucket, key, Callback=callback, Config=config)
    except Exception as e:
        raise translate_error(e, f"cannot upload {path.name} to s3://{bucket}/{key}") from e
    if progress and size == 0:
        progress(label, 0, 0)
    return size


def upload_code(s3: Any, tarball: Path, uri: str, report: UploadReport,
                progress: Progress | None = None) -> bool:
    """Upload the source tarball to its content-addressed URI unless it is there; True if uploaded."""
    if object_exists(s3, uri):
        log.info("code already staged at %s", uri)
        report.skipped.append(uri)
        return False
    bucket, key = parse_s3_uri(uri)
    report.add(_put_file(s3, tarball, bucket, key, "code", progress))
    return True


def upload_channel(s3: Any, name: str, local: Path, info: ChannelInfo, uri: str, report: UploadReport,
                   progress: Progress | None = None) -> bool:
    """Upload a local channel under its content-addressed prefix, manifest last; True if uploaded.

    The manifest is written after the data, so its presence means the upload completed.
    """
    manifest = uri + MANIFEST_NAME
    if object_exists(s3, manifest):
        log.info("channel %s already staged at %s", name, uri)
        report.skipped.append(uri)
        return False
    bucket, key_prefix = parse_s3_uri(uri)
    root = local.parent if local.is_file() else local
    known = content_index(s3, bucket, key_prefix) if info.file_sha256 else {}
    lock = threading.Lock()

    def transfer(rel: str) -> None:
        source = known.get(info.file_sha256.get(rel, ""))
        if source is not None:
            size = (root / rel).stat().st_size
            _copy_object(s3, bucket, source, key_prefix + rel)
            report.add_copy(size)
            return
        size = _put_file(s3, root / rel, bucket, key_prefix + rel, f"{name}/{rel}", progress)
        with lock:
            report.add(size)

    with ThreadPoolExecutor(max_workers=FILES_AT_ONCE) as pool:
        for future in [pool.submit(transfer, rel) for rel in info.files]:
            future.result()  # the first failure propagates; the manifest is not written then
    body = info.to_json().encode()
    try:
        s3.put_object(Bucket=bucket, Key=key_prefix + MANIFEST_NAME, Body=body,
                      ContentType="application/json")
    except Exception as e:
        raise translate_error(e, f"cannot write {manifest}") from e
    report.add(len(body))
    return True


def content_index(s3: Any, bucket: str, version_prefix: str) -> dict[str, str]:
    """sha256 of a file's content → the key of a copy already in the bucket, from the manifests of
    earlier versions of local channels (`data/<hash>/_launcher_manifest.json`, complete uploads)."""
    data_prefix = version_prefix.rstrip("/").rsplit("/", 1)[0] + "/"
    try:
        page = s3.list_objects_v2(Bucket=bucket, Prefix=data_prefix, Delimiter="/")
    except Exception as e:
        log.debug("cannot list %s: %s", data_prefix, e)
        return {}
    versions = [p["Prefix"] for p in page.get("CommonPrefixes", [])][:MAX_EARLIER_VERSIONS]
    index: dict[str, str] = {}
    for version in versions:
        info = read_manifest(s3, f"s3://{bucket}/{version}")
        if info is None:
            continue
        for rel, digest in info.file_sha256.items():
            index.setdefault(digest, version + rel)
    return index


def _copy_object(s3: Any, bucket: str, source_key: str, key: str) -> None:
    """A server-side copy (managed: multipart above 5 GB); no byte passes through this machine."""
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                            max_concurrency=PARTS_AT_ONCE, use_threads=True)
    try:
        s3.copy({"Bucket": bucket, "Key": source_key}, bucket, key, Config=config)
    except Exception as e:
        raise translate_error(e, f"cannot copy s3://{bucket}/{source_key} to {key}") from e


def read_manifest(s3_client: Any, channel_uri: str) -> ChannelInfo | None:
    """The manifest stored next to a channel's data (`<uri>/_launcher_manifest.json`), else None."""
    bucket, key = parse_s3_uri(channel_uri)
    key = (key.rstrip("/") + "/" if key else "") + MANIFEST_NAME
    try:
        body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as e:
        if error_code(e) in ("404", "NoSuchKey", "NotFound", "403", "AccessDenied", "NoSuchBucket"):
            return None
        raise translate_error(e, f"cannot read s3://{bucket}/{key}") from e
    try:
        return ChannelInfo.from_json(body.decode())
    except (ValueError, TypeError):
        log.warning("ignoring a malformed manifest at s3://%s/%s", bucket, key)
        return None


def stale_staging(s3: Any, bucket: str, prefix: str, older_than: float, now: float) -> list[tuple[str, int]]:
    """(key, size) of the SDK driver files under `<prefix>/staging/` last written more than
    `older_than` seconds before `now` (a job reads them only while it starts)."""
    root = staging_key_prefix(prefix, "").rstrip("/") + "/"
    found: list[tuple[str, int]] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
            for obj in page.get("Contents", []):
                if now - obj["LastModified"].timestamp() > older_than:
                    found.append((obj["Key"], int(obj["Size"])))
    except Exception as e:
        raise translate_error(e, f"cannot list s3://{bucket}/{root}") from e
    return found


def delete_keys(s3: Any, bucket: str, keys: list[str]) -> None:
    """Delete keys in batches of 1,000 (DeleteObjects); AwsError naming the first failure."""
    for start in range(0, len(keys), 1000):
        batch = [{"Key": k} for k in keys[start:start + 1000]]
        try:
            errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True}).get("Errors")
        except Exception as e:
            raise translate_error(e, f"cannot delete from s3://{bucket}") from e
        if errors:
            first = errors[0]
            raise AwsError(f"cannot delete s3://{bucket}/{first.get('Key')}: {first.get('Message')}",
                           "check the s3:DeleteObject permission")


def check_bucket(s3: Any, bucket: str) -> None:
    """The bucket exists and is reachable; AwsError with the remedy otherwise."""
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as e:
        code = error_code(e)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise AwsError(f"bucket {bucket!r} does not exist",
                           "run `launch infra deploy` (it creates one) or pass --bucket") from e
        if code in ("403", "AccessDenied", "Forbidden"):
            raise AwsError(f"bucket {bucket!r} is not accessible with these credentials",
                           "check --profile, or pass a bucket you own with --bucket") from e
        raise translate_error(e, f"cannot reach bucket {bucket!r}") from e


