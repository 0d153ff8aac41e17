"""Local jobs with S3 channels, S3 output and S3 checkpoints, against moto over HTTP."""

from __future__ import annotations

import io
import json
import tarfile

import boto3
import numpy as np

from launcher.cli.main import main
from launcher.runner import submit_spec
from tests.test_local_container import make_source


def _npz_bytes(n: int) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((n, 2), np.float32), y=np.zeros(n, np.int64))
    return buf.getvalue()


def test_s3_channels_download_and_artifacts_upload_at_the_sagemaker_layout(aws, cli_env, tmp_path):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data-bucket")
    s3.put_object(Bucket="data-bucket", Key="sets/train/part-0.npz", Body=_npz_bytes(5))
    s3.put_object(Bucket="data-bucket", Key="sets/train/nested/part-1.npz", Body=_npz_bytes(3))
    s3.put_object(Bucket="data-bucket", Key="sets/train-other/ignored.npz", Body=_npz_bytes(1))
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--data", "train=s3://data-bucket/sets/train/", "--output", "s3://data-bucket/runs",
               "--checkpoint-s3-uri", "s3://data-bucket/ckpt/probe-s3/", "--name", "probe-s3"], cli_env)
    assert rc == 0, cli_env.err
    desc = json.loads(cli_env.out)
    assert desc["artifacts"] == {
        "model": "s3://data-bucket/runs/probe-s3/output/model.tar.gz",
        "output": "s3://data-bucket/runs/probe-s3/output/output.tar.gz",
    }
    body = s3.get_object(Bucket="data-bucket", Key="runs/probe-s3/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        seen = json.loads(tar.extractfile("seen.json").read())  # type: ignore[union-attr]
    # File mode: keys relative to the prefix; a sibling prefix sharing the name is not included.
    assert seen["channels"]["train"] == ["nested", "part-0.npz"]


def test_missing_s3_prefix_fails_clearly(aws, cli_env, tmp_path):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="data-bucket")
    src = make_source(tmp_path)
    rc = main(["train", "--local", "--source-dir", str(src), "--entrypoint", "probe.py",
               "--data", "train=s3://data-bucket/nothing/", "--name", "probe-empty"], cli_env)
    assert rc == 2
    assert "nothing under s3://data-bucket/nothing/" in cli_env.err


def test_s3_channel_download_reports_progress(aws, tmp_path):
    from launcher.backends.local.backend import LocalBackend
    from launcher.backends.local.options import LocalOptions
    from launcher.config.layers import resolve_spec

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data-bucket")
    body = _npz_bytes(50)
    s3.put_object(Bucket="data-bucket", Key="p/train/a.npz", Body=body)
    s3.put_object(Bucket="data-bucket", Key="p/train/b.npz", Body=body)
    calls: list[tuple[str, int, int]] = []
    src = make_source(tmp_path)
    spec = resolve_spec(config_path=tmp_path / "none.toml", environ={}, flags={
        "source_dir": str(src), "entrypoint": "probe.py", "data": {"train": "s3://data-bucket/p/train/"},
        "spot": {"enabled": False}}).spec
    backend = LocalBackend(tmp_path / "jobs", options=LocalOptions(),
                           progress=lambda *a: calls.append(a))
    assert submit_spec(backend, spec, "progress-job").status == "Completed"
    assert calls and calls[-1] == ("train (algo-1)", 2 * len(body), 2 * len(body))
    assert all(done <= total for _, done, total in calls)
