"""S3 keys never name a local path outside the directory they are downloaded into (issue #14, item 2).

One function (`s3_transfer.key_to_path`, checked all together by `plan_key_paths`) turns keys into
paths for checkpoint restores, channel downloads and artifact downloads. Keys with `..`, an absolute
remainder (`prefix//abs/path`), `.` or empty components are refused before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from launcher.backends.local.checkpoint_sync import CheckpointMirror
from launcher.backends.s3_transfer import (
    UnsafeKeyError,
    download_prefix,
    key_to_path,
    plan_key_paths,
    relative_key,
)


@pytest.mark.parametrize("rel", ["../escape.pt", "a/../../escape.pt", "/etc/passwd", "a//b", "./x",
                                 "a/./b", "..", "", "a\x00b"])
def test_unsafe_remainders_are_refused(tmp_path, rel):
    with pytest.raises(UnsafeKeyError, match="refused S3 key"):
        key_to_path(tmp_path, rel)


def test_safe_remainders_stay_inside(tmp_path):
    assert key_to_path(tmp_path, "a/b/ckpt-1.pt") == tmp_path / "a" / "b" / "ckpt-1.pt"
    assert key_to_path(tmp_path, "..hidden/x..y") == tmp_path / "..hidden" / "x..y"
    assert relative_key("data/x.npz", "data") == "x.npz"  # the separator of a bare prefix
    assert relative_key("data//x.npz", "data/") == "/x.npz"  # an absolute remainder: refused later
    assert relative_key("data/one.npz", "data/one.npz") == "one.npz"
    with pytest.raises(UnsafeKeyError, match="both a file and the directory"):
        plan_key_paths(tmp_path, ["a", "a/b"])


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="ckpt")
    return client


def _evil_keys(prefix: str, outside: Path) -> list[str]:
    # `prefix/../x` and `prefix//<absolute path>`: both were written outside the checkpoint dir.
    return [f"{prefix}../escape.pt", f"{prefix}/{outside}"]


@pytest.mark.parametrize("which", [0, 1])
def test_checkpoint_restore_refuses_traversal_and_absolute_keys(tmp_path, s3, which):
    outside = tmp_path / "outside" / "abs.pt"
    outside.parent.mkdir()
    local = tmp_path / "job" / "checkpoints"
    local.mkdir(parents=True)
    (local / "leftover.pt").write_bytes(b"from the killed attempt")
    s3.put_object(Bucket="ckpt", Key="run-1/ckpt-000010.pt", Body=b"good")
    key = _evil_keys("run-1/", outside)[which]
    s3.put_object(Bucket="ckpt", Key=key, Body=b"evil")
    assert key in [o["Key"] for o in s3.list_objects_v2(Bucket="ckpt")["Contents"]]  # stored verbatim
    mirror = CheckpointMirror(local, "s3://ckpt/run-1/", s3)
    with pytest.raises(UnsafeKeyError, match="refused S3 key"):
        mirror.restore()
    assert not outside.exists()
    assert not (tmp_path / "job" / "escape.pt").exists()
    assert sorted(p.name for p in local.iterdir()) == ["leftover.pt"]  # checked before it is touched


def test_checkpoint_restore_of_safe_keys_still_works(tmp_path, s3):
    s3.put_object(Bucket="ckpt", Key="run-1/ckpt-000010.pt", Body=b"good")
    s3.put_object(Bucket="ckpt", Key="run-1/sub/state.json", Body=b"{}")
    s3.put_object(Bucket="ckpt", Key="run-1/", Body=b"")  # a console "folder" marker
    local = tmp_path / "ckpt"
    assert CheckpointMirror(local, "s3://ckpt/run-1/", s3).restore() == 2
    assert (local / "sub" / "state.json").read_bytes() == b"{}"


@pytest.mark.parametrize("which", [0, 1])
def test_channel_download_refuses_traversal_and_absolute_keys(tmp_path, s3, which):
    outside = tmp_path / "outside" / "abs.npz"
    outside.parent.mkdir()
    s3.put_object(Bucket="ckpt", Key="data/train/part-0.npz", Body=b"good")
    s3.put_object(Bucket="ckpt", Key=_evil_keys("data/train/", outside)[which], Body=b"evil")
    dest = tmp_path / "channel"
    with pytest.raises(UnsafeKeyError, match="under s3://ckpt/data/train/"):
        download_prefix(s3, "s3://ckpt/data/train/", dest)
    assert not outside.exists() and not (tmp_path / "escape.pt").exists()
    assert not dest.exists()  # every key is checked before the first download
