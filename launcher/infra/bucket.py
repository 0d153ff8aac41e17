"""The infra bucket's contents: counted before a destroy, and emptied by `destroy --force`.

Both work on object *versions* (`ListObjectVersions`), so a versioned bucket is emptied completely:
every version and every delete marker. On an unversioned bucket each object is one version ("null").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from launcher.errors import AwsError
from launcher.infra.events import as_aws_error, aws_errors, botocore_errors

log = logging.getLogger(__name__)

_BATCH = 1000  # DeleteObjects takes at most 1,000 keys per request


@dataclass(frozen=True)
class BucketContents:
    bucket: str
    exists: bool
    versions: int  # object versions and delete markers seen (at most `limit`)
    more: bool  # True when there are more than `versions`

    @property
    def empty(self) -> bool:
        return self.versions == 0

    def describe(self) -> str:
        if not self.exists:
            return f"bucket {self.bucket} does not exist"
        if self.empty:
            return f"bucket {self.bucket} is empty"
        count = f"{self.versions}{'+' if self.more else ''}"
        return f"bucket {self.bucket} holds {count} object version(s) and delete marker(s)"


def bucket_contents(s3: Any, bucket: str, *, limit: int = 1000) -> BucketContents:
    """How much the bucket holds (one page: enough to refuse, or to say 'about this much')."""
    import botocore.exceptions

    try:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=limit)
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchBucket", "404"):
            return BucketContents(bucket, exists=False, versions=0, more=False)
        raise as_aws_error(e, f"s3:ListObjectVersions {bucket}") from e
    except botocore_errors() as e:
        raise as_aws_error(e, f"s3:ListObjectVersions {bucket}") from e
    count = len(page.get("Versions") or []) + len(page.get("DeleteMarkers") or [])
    return BucketContents(bucket, exists=True, versions=count, more=bool(page.get("IsTruncated")))


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker; returns how many were deleted."""
    deleted = 0
    batch: list[dict[str, str]] = []
    # Deleting what a page listed does not disturb the key/version markers of the next page.
    with aws_errors(f"s3:ListObjectVersions {bucket}"):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for item in (page.get("Versions") or []) + (page.get("DeleteMarkers") or []):
                batch.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
                if len(batch) == _BATCH:
                    deleted += _delete_batch(s3, bucket, batch)
                    batch = []
    if batch:
        deleted += _delete_batch(s3, bucket, batch)
    log.info("deleted %d object versions from %s", deleted, bucket)
    return deleted


def _delete_batch(s3: Any, bucket: str, batch: list[dict[str, str]]) -> int:
    with aws_errors(f"s3:DeleteObject(s) in {bucket}"):
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    errors = response.get("Errors") or []
    if errors:
        first = errors[0]
        raise AwsError(
            f"could not delete {len(errors)} object version(s) from {bucket}: "
            f"{first.get('Key')}: {first.get('Code')}: {first.get('Message')}",
            "check s3:DeleteObject/s3:DeleteObjectVersion permissions and object locks, then retry")
    return len(batch)
