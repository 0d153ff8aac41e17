"""Checkpoint sync as SageMaker does it: restore before start, mirror changes and deletions."""

from __future__ import annotations

import boto3
import pytest

from launcher.backends.local.checkpoint_sync import CheckpointMirror


def _remote_names(remote, s3):
    if isinstance(remote, str):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ckpt", Prefix="run-1/").get("Contents", [])]
        return sorted(k.removeprefix("run-1/") for k in keys)
    return sorted(p.relative_to(remote).as_posix() for p in remote.rglob("*") if p.is_file())


@pytest.fixture(params=["dir", "s3"])
def remote(request, tmp_path):
    if request.param == "dir":
        return tmp_path / "remote", None
    request.getfixturevalue("aws")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="ckpt")
    s3.put_object(Bucket="ckpt", Key="run-10/other.pt", Body=b"not ours")  # sibling prefix
    return "s3://ckpt/run-1/", s3


def test_mirror_uploads_changes_and_deletions_then_restores(tmp_path, remote):
    where, s3 = remote
    local = tmp_path / "local"
    mirror = CheckpointMirror(local, where if isinstance(where, str) else str(where), s3)
    assert mirror.restore() == 0
    (local / "ckpt-1.pt").write_bytes(b"one")
    (local / "sub").mkdir()
    (local / "sub" / "ckpt-2.pt").write_bytes(b"two")
    assert mirror.sync_once() == (2, 0)
    assert mirror.sync_once() == (0, 0)  # nothing changed, nothing sent
    (local / "ckpt-1.pt").write_bytes(b"one, rewritten")
    (local / "sub" / "ckpt-2.pt").unlink()
    assert mirror.sync_once() == (1, 1)
    assert _remote_names(where, s3) == ["ckpt-1.pt"]

    fresh = tmp_path / "restarted"
    again = CheckpointMirror(fresh, where if isinstance(where, str) else str(where), s3)
    assert again.restore() == 1
    assert (fresh / "ckpt-1.pt").read_bytes() == b"one, rewritten"


def test_background_mirror_final_pass(tmp_path):
    local, remote = tmp_path / "l", tmp_path / "r"
    mirror = CheckpointMirror(local, str(remote), interval=0.05)
    mirror.restore()
    mirror.start()
    (local / "a.pt").write_bytes(b"a")
    mirror.stop()  # the last pass catches what the loop had not yet seen
    assert (remote / "a.pt").read_bytes() == b"a"
