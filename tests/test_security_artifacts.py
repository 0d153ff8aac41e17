"""Artifact names cannot collide across backends (issue #14, item 8).

A local job publishing to an `s3://` output refuses when `<output>/<job>/` already holds an object
it did not write (a SageMaker job of the same name, another local job); a local output directory
never gets an existing archive replaced; archives are packed under a temporary name and renamed,
so a truncated model.tar.gz never sits at its final path.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import boto3
import pytest

from launcher.backends.local import artifacts
from launcher.backends.local.artifacts import ArtifactCollisionError, pack_contents, publish_artifacts
from launcher.cli.main import main
from tests.test_local_container import make_source

BUCKET = "art-bucket"


def model_dirs(root: Path, content: bytes = b"weights") -> tuple[list[Path], list[Path]]:
    model, out = root / "model", root / "output"
    model.mkdir(parents=True)
    out.mkdir(parents=True)
    (model / "model.pt").write_bytes(content)
    return [model], [out]


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_an_s3_prefix_of_another_job_is_refused_and_left_as_it_was(tmp_path, s3):
    # A SageMaker job named "shared-name" already wrote its model there.
    key = "runs/shared-name/output/model.tar.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"the cloud job's model")
    model, out = model_dirs(tmp_path / "job")
    with pytest.raises(ArtifactCollisionError, match="already exists and was written by another job"):
        publish_artifacts(model, out, f"s3://{BUCKET}/runs", "shared-name", tmp_path / "staging",
                          lambda: s3)
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"the cloud job's model"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [key]  # output.tar.gz was not uploaded either


def test_the_same_local_job_may_publish_again_another_may_not(tmp_path, s3):
    model, out = model_dirs(tmp_path / "a")
    first = publish_artifacts(model, out, f"s3://{BUCKET}/runs", "job-x", tmp_path / "a-staging", lambda: s3)
    assert first["model"] == f"s3://{BUCKET}/runs/job-x/output/model.tar.gz"
    head = s3.head_object(Bucket=BUCKET, Key="runs/job-x/output/model.tar.gz")
    assert head["Metadata"]["launcher-local-job"] == "job-x"
    assert publish_artifacts(model, out, f"s3://{BUCKET}/runs", "job-x", tmp_path / "a-staging",
                             lambda: s3) == first
    other_model, other_out = model_dirs(tmp_path / "b", b"other")
    with pytest.raises(ArtifactCollisionError, match="another local job named 'job-x'"):
        publish_artifacts(other_model, other_out, f"s3://{BUCKET}/runs", "job-x", tmp_path / "b-staging",
                          lambda: s3)


def test_a_local_output_dir_never_gets_an_archive_replaced(tmp_path):
    model, out = model_dirs(tmp_path / "job")
    target = tmp_path / "out" / "job-y" / "output" / "model.tar.gz"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"another job's archive")
    with pytest.raises(ArtifactCollisionError, match="already exists"):
        publish_artifacts(model, out, str(tmp_path / "out"), "job-y", tmp_path / "staging", lambda: None)
    assert target.read_bytes() == b"another job's archive"
    assert not (target.parent / "output.tar.gz").exists()


def test_a_failed_pack_leaves_no_truncated_archive(tmp_path, monkeypatch):
    model, _ = model_dirs(tmp_path / "job")
    (model[0] / "second.pt").write_bytes(b"more")
    archive = tmp_path / "out" / "model.tar.gz"
    calls = []

    def failing_add(self, name, arcname=None, recursive=True, **kw):
        calls.append(arcname)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_add(self, name, arcname=arcname, recursive=recursive)

    real_add = tarfile.TarFile.add
    monkeypatch.setattr(tarfile.TarFile, "add", failing_add)
    with pytest.raises(OSError, match="No space left"):
        pack_contents(model, archive)
    assert list(archive.parent.iterdir()) == []  # neither the archive nor its temporary name


def test_links_out_of_the_model_dir_are_left_out(tmp_path):
    model, _ = model_dirs(tmp_path / "job")
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = x")
    (model[0] / "leak.txt").symlink_to(secret)
    (model[0] / "alias.pt").symlink_to(model[0] / "model.pt")
    archive = tmp_path / "model.tar.gz"
    assert pack_contents(model, archive) == 2
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == ["alias.pt", "model.pt"] and members["alias.pt"].isfile()


def test_a_local_job_refuses_the_s3_output_of_a_cloud_job_of_the_same_name(aws, cli_env, tmp_path, s3):
    s3.put_object(Bucket=BUCKET, Key="runs/same-name/output/model.tar.gz", Body=b"cloud")
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--output", f"s3://{BUCKET}/runs", "--name", "same-name"], cli_env)
    assert rc != 0
    assert "already exists and was written by another job" in cli_env.err
    assert "Traceback" not in cli_env.err
    assert s3.get_object(Bucket=BUCKET, Key="runs/same-name/output/model.tar.gz")["Body"].read() == b"cloud"
    record = json.loads((cli_env.home / "jobs" / "same-name" / "job.json").read_text())
    assert record["status"] == "Failed" and "already exists" in record["failure_reason"]


def test_publish_id_is_kept_in_the_staging_dir(tmp_path):
    staging = tmp_path / "staging"
    first = artifacts._publish_id(staging)
    assert artifacts._publish_id(staging) == first and len(first) == 32
