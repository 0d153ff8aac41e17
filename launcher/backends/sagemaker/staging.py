"""S3 staging: where code, data, checkpoints and outputs live, and the content-addressed uploads.

Layout under `s3://<bucket>/<prefix>/`:

    code/<sha12>/sourcedir.tar.gz          the packaged source dir (launcher.job.packaging), once per content
    data/<sha12>/…                          a local data channel, once per content
    data/<sha12>/_launcher_manifest.json    its ChannelInfo (samples, shapes, hash) for `launch plan`
    checkpoints/<job>/                      spot checkpoints (CheckpointConfig.S3Uri)
    output/<job>/output/model.tar.gz        artifacts (OutputDataConfig.S3OutputPath = output/)
    staging/<job>/<sdk-name>/input/sm_drivers/   the SDK's driver files (re-uploaded every submit)

The URI functions are pure; the upload functions take an injected S3 client and HEAD before they
PUT, so an unchanged project or dataset is never uploaded twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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

    def add(self, size: int) -> None:
        self.objects += 1
        self.bytes += size


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

    def callback(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress(label, done, size)

    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, use_threads=False)
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
    for rel in info.files:
        report.add(_put_file(s3, root / rel, bucket, key_prefix + rel, f"{name}/{rel}", progress))
    body = info.to_json().encode()
    try:
        s3.put_object(Bucket=bucket, Key=key_prefix + MANIFEST_NAME, Body=body,
                      ContentType="application/json")
    except Exception as e:
        raise translate_error(e, f"cannot write {manifest}") from e
    report.add(len(body))
    return True


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


