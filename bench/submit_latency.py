"""Submit latency against a local moto server: `launch train --instance ml.g5.xlarge --no-wait` vs a
bare SageMaker SDK v3 script submitting the same job; and what a second identical submit uploads.

Both are cold processes (spawn to exit, this interpreter's environment) against one moto server run
in this process on 127.0.0.1 (fake credentials, AWS_ENDPOINT_URL, SAGEMAKER_VALIDATE_ROLE=false).
The launcher submits its default job (the reference entrypoint on the bundled digits, spot with
checkpoints) with ``--role``/``--bucket``; the bare script (bench/bare_submit.py) builds a
ModelTrainer with the same image, instance, spot and stopping settings, hyperparameters, metric
definitions and data channels (the S3 prefixes the launcher's first submit uploaded), from a clean
copy of the source directory, and calls ``train(wait=False)``. The first submit of each (an empty
bucket: the launcher uploads code and data then) is reported apart and not counted in the
repeats. Goal: launch <= 1.1 x the bare script.

Uploads: this process reads moto's S3 state before and after the *second* identical submit of each
and lists every object written (PutObject, multipart completion, copy), classified by key: code
(the launcher's ``code/<hash>/sourcedir.tar.gz``, the SDK's packaged source), data, the SDK's own
driver files (``.../sm_drivers/...``, uploaded by the SDK on every submit) and anything else.
Goal: 0 code bytes re-uploaded by the launcher.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common as c

ROLE = "arn:aws:iam::123456789012:role/bench-training"
BUCKET = "bench-bucket"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
INSTANCE = "ml.g5.xlarge"
GOAL = 1.10
KINDS = ("code", "data", "sdk drivers", "other")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    c.common_arguments(p, repeats=5)
    return p.parse_args(argv)


def missing_backend() -> str | None:
    """Why the SageMaker path cannot run here, or None."""
    probe = ("import launcher.backends.sagemaker.backend, launcher.backends.sagemaker.trainer, "
             "launcher.cli.train_cmd, launcher.runner, sagemaker.train, moto.server")
    out = subprocess.run([c.python(), "-c", probe], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return (out.stderr.strip().splitlines() or ["import failed"])[-1]
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def snapshot() -> dict[tuple[str, str], Any]:
    """Every object of the in-process moto S3, by (bucket, key) → moto's key object. A re-PUT of the
    same bytes replaces the object, so identity tells written from untouched."""
    from moto.s3.models import s3_backends

    state: dict[tuple[str, str], Any] = {}
    for name, bucket in s3_backends[ACCOUNT]["global"].buckets.items():
        for key, obj in bucket.keys.items():
            state[(name, key)] = obj
    return state


def kind_of(key: str) -> str:
    if "/sm_drivers/" in key or key.endswith("/sm_drivers"):
        return "sdk drivers"
    if "/code/" in key or key.endswith("sourcedir.tar.gz") or key.startswith("code/"):
        return "code"
    if "/data/" in key or key.startswith("data/"):
        return "data"
    return "other"


def written(before: dict[tuple[str, str], Any], after: dict[tuple[str, str], Any]) -> dict[str, list[int]]:
    """kind → [objects, bytes] written between two snapshots."""
    totals = {k: [0, 0] for k in KINDS}
    for (_bucket, key), obj in after.items():
        if before.get((_bucket, key)) is obj:
            continue
        t = totals[kind_of(key)]
        t[0] += 1
        t[1] += int(obj.size)
    return totals


def bare_config(request: dict[str, Any], source_dir: Path) -> dict[str, Any]:
    """The bare script's job, read off the launcher's dry-run request (same job, SDK-chosen name)."""
    algo = request["AlgorithmSpecification"]
    channels = {ch["ChannelName"]: ch["DataSource"]["S3DataSource"]["S3Uri"]
                for ch in request["InputDataConfig"] if ch["ChannelName"] not in ("code", "sm_drivers")}
    stop = request["StoppingCondition"]
    ckpt = request.get("CheckpointConfig")
    return {
        "region": REGION, "bucket": BUCKET, "role": request["RoleArn"], "base_job_name": "bare",
        "image": algo["TrainingImage"], "source_dir": str(source_dir), "entry_script": "train.py",
        "instance_type": request["ResourceConfig"]["InstanceType"],
        "instance_count": request["ResourceConfig"]["InstanceCount"],
        "volume_size_gb": request["ResourceConfig"]["VolumeSizeInGB"],
        "spot": bool(request.get("EnableManagedSpotTraining")),
        "max_run": stop["MaxRuntimeInSeconds"], "max_wait": stop.get("MaxWaitTimeInSeconds"),
        "checkpoint_uri": f"s3://{BUCKET}/bare/checkpoints/" if ckpt else None,
        "output_path": request["OutputDataConfig"]["S3OutputPath"],
        "hyperparameters": request.get("HyperParameters", {}),
        "environment": request.get("Environment", {}),
        "metric_definitions": algo.get("MetricDefinitions", []),
        "channels": channels,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    reason = missing_backend()
    if reason:
        return c.skip(f"the SageMaker backend or SDK is not importable ({reason})", args.json,
                      "submit_latency")

    import boto3
    from moto.server import ThreadedMotoServer

    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-submit-") as tmp:
            tmpdir = Path(tmp)
            env = c.launcher_env(tmpdir / "home", AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing",
                                 AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing",
                                 AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION,
                                 SAGEMAKER_VALIDATE_ROLE="false")
            keys = {"region_name": REGION, "endpoint_url": url, "aws_access_key_id": "testing",
                    "aws_secret_access_key": "testing"}
            boto3.client("s3", **keys).create_bucket(Bucket=BUCKET)
            # The role the launcher's preflight checks (part of what a launcher submit costs).
            trust = ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": '
                     '{"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}')
            boto3.client("iam", **keys).create_role(RoleName=ROLE.rsplit("/", 1)[-1],
                                                    AssumeRolePolicyDocument=trust)
            launch = [*c.launch_command(), "train", "--instance", INSTANCE, "--role", ROLE,
                      "--bucket", BUCKET, "--region", REGION]
            _, dry = c.timed([*launch, "--dry-run"], env=env, cwd=tmpdir)
            request = json.loads(dry.stdout)
            source = tmpdir / "src"
            shutil.copytree(c.ENTRYPOINTS, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            job_file = tmpdir / "bare.json"
            bare_job = bare_config(request, source)
            job_file.write_text(json.dumps(bare_job, indent=2))
            commands = {"launch": [*launch, "--no-wait", "--json"],
                        "bare": [c.python(), str(c.BENCH_DIR / "bare_submit.py"), str(job_file)]}
            times: dict[str, list[float]] = {"launch": [], "bare": []}
            first: dict[str, float] = {}
            uploads: dict[str, dict[str, list[int]]] = {}
            reported: dict[str, Any] = {}
            # First submits: an empty bucket for the launcher (it uploads code and data once). The
            # bare script uploads everything on every submit; --quick skips its first run.
            for name in ("launch",) if args.quick else ("launch", "bare"):
                c.say(f"first submit: {name}")
                first[name], _ = c.timed(commands[name], env=env, cwd=tmpdir)
            for r in range(max(args.repeats, 1)):
                order = ["launch", "bare"] if r % 2 == 0 else ["bare", "launch"]
                for name in order:
                    c.say(f"submit: {name} ({r + 1}/{args.repeats})")
                    before = snapshot() if r == 0 else None
                    seconds, proc = c.timed(commands[name], env=env, cwd=tmpdir)
                    times[name].append(seconds)
                    if before is not None:
                        uploads[name] = written(before, snapshot())
                        if name == "launch":
                            reported = json.loads(proc.stdout).get("submit") or {}
    finally:
        server.stop()

    table = c.Table(f"Submit latency against moto: cold processes, `launch train --instance {INSTANCE} "
                    "--no-wait` vs a bare ModelTrainer(...).train(wait=False) script",
                    "ratio = launch / bare script (median seconds)")
    bare_median = c.Row("", "", times["bare"], "s").median
    launch_median = c.Row("", "", times["launch"], "s").median
    group = "repeat submit"
    table.add(group, "bare SDK script", times["bare"], "s", baseline=True)
    table.add(group, "launch --no-wait", times["launch"], "s",
              goal=c.goal_text(launch_median <= GOAL * bare_median, "<= 1.1x"))
    if "bare" in first:
        table.add("first submit (empty bucket)", "bare SDK script", [first["bare"]], "s", baseline=True)
    table.add("first submit (empty bucket)", "launch --no-wait", [first["launch"]], "s")
    table.notes.append("the bare script reads the data from the S3 prefixes the launcher uploaded; it "
                       "packages and uploads its source directory itself on every submit")
    table.print()
    print()
    rows = []
    for name, label in (("launch", "launch --no-wait"), ("bare", "bare SDK script")):
        for kind in KINDS:
            objects, size = uploads.get(name, {}).get(kind, [0, 0])
            rows.append([label if kind == KINDS[0] else "", kind, f"{objects:,}", f"{size:,}"])
    code_bytes = uploads.get("launch", {}).get("code", [0, 0])[1]
    notes = [f"goal 0 code bytes re-uploaded by launch: {'met' if code_bytes == 0 else 'MISSED'} "
             f"({code_bytes:,} bytes)"]
    if reported:
        notes.append(f"the launcher's own report of that submit: {reported.get('uploaded_objects')} "
                     f"objects, {reported.get('uploaded_bytes')} bytes (+ SDK drivers: "
                     f"{reported.get('sdk_driver_objects')} objects, "
                     f"{reported.get('sdk_driver_bytes')} bytes)")
    print(c.render_grid("S3 objects written by the second identical submit (moto's state, before vs after)",
                        ["submit", "kind", "objects", "bytes"], rows, notes), flush=True)
    settings = {"repeats": args.repeats, "instance": INSTANCE, "launch_argv": commands["launch"],
                "bare_job": bare_job}
    c.write_json(args.json, c.result("submit_latency", __doc__, settings, [table],
                                     second_submit_uploads=uploads, launcher_report=reported,
                                     first_submit_seconds=first))
    return 0


if __name__ == "__main__":
    sys.exit(main())
