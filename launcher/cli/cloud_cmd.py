"""`launch train` without `--local`: dry run, or submit to SageMaker and optionally follow the job."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.cli.output import TransferProgress, console, emit_json
from launcher.cli.spec_args import resolve_from_args
from launcher.context import Environment
from launcher.errors import JobFailedError, LauncherError

if TYPE_CHECKING:
    from launcher.backends.base import JobDescription
    from launcher.backends.sagemaker.backend import SageMakerBackend, SubmitReport
    from launcher.spec import JobSpec


def _job_name(spec: JobSpec) -> str:
    from launcher.naming import generate_job_name

    return spec.job_name or generate_job_name(spec.base_name or Path(spec.entrypoint).stem)


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _dry_run(spec: JobSpec, job_name: str, env: Environment) -> int:
    from launcher.backends.sagemaker.request import dry_run_plan

    plan, request = dry_run_plan(spec, job_name, cwd=env.cwd)
    emit_json(env, request)
    err = env.stderr
    err.write("dry run: nothing was uploaded or submitted. A submit would\n")
    err.write(f"  upload the code ({len(plan.package.files)} files, {_size(plan.package.size)}) to "
              f"{plan.code_uri} unless it is there already\n")
    for c in plan.channels:
        if c.local is not None and c.info is not None:
            err.write(f"  upload channel {c.name!r} ({len(c.info.files)} files, {_size(c.info.bytes)}) "
                      f"to {c.uri} unless it is there already\n")
    err.write("  let the SageMaker SDK upload its driver files under "
              f"s3://{plan.bucket}/{plan.staging_prefix}/ (every submit)\n")
    return 0


def _print_submitted(env: Environment, desc: JobDescription, report: SubmitReport | None) -> None:
    out = console(env)
    req = report.request if report else {}
    stop = req.get("StoppingCondition", {})
    spot = ("spot, max wait " + str(stop.get("MaxWaitTimeInSeconds")) + " s"
            if req.get("EnableManagedSpotTraining") else "on-demand")
    out.print(f"submitted [bold]{desc.name}[/] ({desc.instance_type} × {desc.instance_count}, {spot}, "
              f"max run {stop.get('MaxRuntimeInSeconds')} s)")
    if report:
        code = next(c["DataSource"]["S3DataSource"]["S3Uri"] for c in req["InputDataConfig"]
                    if c["ChannelName"] == "code")
        state = "unchanged, not uploaded" if code in report.uploads.skipped else "uploaded"
        out.print(f"  code         {code} ({state})")
        out.print(f"  uploaded     {report.uploads.objects} objects, {_size(report.uploads.bytes)} "
                  f"(+ the SDK's {report.sdk_objects} driver files, {_size(report.sdk_bytes)})")
        if ckpt := req.get("CheckpointConfig", {}).get("S3Uri"):
            out.print(f"  checkpoints  {ckpt}")
    out.print(f"  follow       launch logs {desc.name} --follow   ·   launch status {desc.name}"
              f"   ·   launch stop {desc.name}")
    if url := desc.details.get("console"):
        out.print(f"  console      {url}")


def _follow(env: Environment, backend: SageMakerBackend, job_name: str, to_stderr: bool) -> None:
    stream = env.stderr if to_stderr else env.stdout
    try:
        for line in backend.logs(job_name, follow=True):
            stream.write(line + "\n")
            stream.flush()
    except KeyboardInterrupt:
        env.stderr.write(f"\nstopped following; the job keeps running (launch stop {job_name})\n")
        raise


def _quiet_sdk(args: argparse.Namespace) -> None:
    if not getattr(args, "debug", False):
        # The SDK logs its own advice (role checks, defaults) at INFO/WARNING; we report errors.
        logging.getLogger("sagemaker").setLevel(logging.ERROR)


def run_cloud_train(args: argparse.Namespace, env: Environment) -> int:
    """Submit the job to SageMaker (`--dry-run`: print the request only; `--wait`: follow it)."""
    spec = resolve_from_args(args, env).spec
    job_name = _job_name(spec)
    if getattr(args, "dry_run", False):
        return _dry_run(spec, job_name, env)

    from launcher.backends.sagemaker.backend import make_sagemaker_backend
    from launcher.cli.summary import render_summary

    _quiet_sdk(args)
    as_json = bool(getattr(args, "json", False))
    progress = TransferProgress(env, "upload")
    backend = make_sagemaker_backend(spec.aws, cwd=env.cwd, progress=progress)
    try:
        desc = backend.submit(spec, job_name)
    finally:
        progress.close()
    report = backend.last_submit
    if not getattr(args, "wait", False):
        if as_json:
            emit_json(env, {**desc.to_dict(), "submit": _report_dict(report)})
        else:
            _print_submitted(env, desc, report)
        return 0

    if not as_json:
        _print_submitted(env, desc, report)
    _follow(env, backend, job_name, to_stderr=as_json)
    desc = backend.wait(job_name)
    if desc.status == "Completed" and spec.output and not spec.output.startswith("s3://"):
        try:
            paths = backend.download(job_name, Path(spec.output), extract=True)
            desc.details["downloaded"] = [str(p) for p in paths]
        except LauncherError as e:  # the job itself succeeded
            env.stderr.write(f"warning: artifacts not downloaded: {e}\n")
    if as_json:
        emit_json(env, {**desc.to_dict(), "submit": _report_dict(report)})
    else:
        render_summary(env, desc)
    if desc.status != "Completed":
        raise JobFailedError(f"job {job_name} ended {desc.status}",
                             f"launch logs {job_name} shows the whole log",
                             exit_code=desc.exit_code or 1)
    return 0


def _report_dict(report: SubmitReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "uploaded_objects": report.uploads.objects,
        "uploaded_bytes": report.uploads.bytes,
        "already_staged": report.uploads.skipped,
        "sdk_driver_objects": report.sdk_objects,
        "sdk_driver_bytes": report.sdk_bytes,
        "sdk_drivers_uri": report.drivers_uri,
    }
