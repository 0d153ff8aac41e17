"""The SageMaker backend: submit with SDK v3 ModelTrainer, follow and manage jobs with boto3.

Capabilities:
- submit: Script Mode source dir (content-addressed `.tar.gz` on S3, uploaded once), `s3://` and
  local data channels (local ones uploaded once per content, with a manifest), File / FastFile /
  Pipe input, managed spot with checkpointing (default on), torchrun when a job has several hosts
  or GPUs, metric definitions, tags, environment. Everything is validated before the first call.
- wait / describe / list_jobs / logs (CloudWatch, followed with a bounded loop) / stop (plain
  boto3, bounded retries) / download (model.tar.gz, output.tar.gz).
- Not supported: heterogeneous clusters, VPC settings, Neuron (trn/inf) images without
  --image-uri, warm pools, SMP/MPI distribution.

The boto3 session and clients are injected (`make_sagemaker_backend` builds them from the usual
AWS sources); the SDK is imported only by `submit`.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from launcher.aws import client, error_code, make_session, require_credentials, translate_error
from launcher.backends.base import Capabilities, DryRun, JobDescription, JobStatus, Submission
from launcher.backends.s3_transfer import key_to_path
from launcher.backends.sagemaker import describe as describe_mod
from launcher.backends.sagemaker import logs as logs_mod
from launcher.backends.sagemaker import staging
from launcher.backends.sagemaker.request import (
    JobPlan,
    build_plan,
    dry_run_plan,
    to_request,
    validate_request,
)
from launcher.backends.sagemaker.submit_checks import enforce, run_submit_checks
from launcher.config.spec import Aws, parse_s3_uri
from launcher.errors import AwsError, JobNotFoundError, LauncherError, SpecError
from launcher.job.packaging import package_source
from launcher.job.resolve import ResolvedJob
from launcher.planning.cost import format_bytes

log = logging.getLogger(__name__)

# botocore counts `max_attempts` as retries: 2 → 3 calls in all, a few seconds at most (the SDK: ~21 s).
SAGEMAKER_RETRIES = 2
LOG_FOLLOW_MARGIN_SECONDS = 3600


@dataclass
class SubmitReport:
    """What a submit did: the request sent and what it put into S3."""

    request: dict[str, Any] = field(default_factory=dict)
    uploads: staging.UploadReport = field(default_factory=staging.UploadReport)
    sdk_objects: int = 0      # the SDK's driver files, re-uploaded on every submit
    sdk_bytes: int = 0
    drivers_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "uploaded_objects": self.uploads.objects,
            "uploaded_bytes": self.uploads.bytes,
            "copied_in_s3_objects": self.uploads.copied_objects,
            "copied_in_s3_bytes": self.uploads.copied_bytes,
            "already_staged": self.uploads.skipped,
            "sdk_driver_objects": self.sdk_objects,
            "sdk_driver_bytes": self.sdk_bytes,
            "sdk_drivers_uri": self.drivers_uri,
        }


CAPABILITIES = Capabilities(foreground=False, input_modes=("File", "FastFile", "Pipe"), managed_spot=True,
                            interruption_drill=False, follow_logs=True)


class SageMakerBackend:
    name = "sagemaker"
    capabilities = CAPABILITIES

    def __init__(
        self,
        session: Any,
        *,
        aws: Aws,
        sagemaker_client: Any,
        s3_client: Any,
        logs_client: Any,
        iam_client: Any = None,
        progress: staging.Progress | None = None,
        poll_seconds: float = logs_mod.DEFAULT_POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.aws = aws
        self.sm = sagemaker_client
        self.s3 = s3_client
        self.logs_client = logs_client
        self.iam = iam_client
        self.progress = progress
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self.clock = clock
        self._sdk_session: Any = None

    @property
    def region(self) -> str | None:
        return getattr(self.session, "region_name", None) or self.aws.region

    def _describe_raw(self, job_name: str) -> dict[str, Any]:
        try:
            return dict(self.sm.describe_training_job(TrainingJobName=job_name))
        except Exception as e:
            raise translate_error(e, f"cannot describe {job_name}", job_name=job_name,
                                  region=self.region) from e

    # -- submit -----------------------------------------------------------------------------------

    def _sdk(self, bucket: str) -> Any:
        from launcher.backends.sagemaker.trainer import make_sdk_session

        if self._sdk_session is None or self._sdk_session._default_bucket != bucket:
            self._sdk_session = make_sdk_session(self.session, self.sm, bucket)
        return self._sdk_session

    def dryrun(self, job: ResolvedJob) -> DryRun:
        """The exact CreateTrainingJob request and what a submit would upload; no AWS call.

        Only the SDK's driver-file location differs from the real request (its folder name holds the
        submit's timestamp). Raises SpecError for anything SageMaker would reject.
        """
        plan, request = dry_run_plan(job, region=self.region)
        actions = [f"upload the code ({len(plan.package.files)} files, {format_bytes(plan.package.size)}) to "
                   f"{plan.code_uri} unless it is there already"]
        actions += [f"upload channel {c.name!r} ({len(c.info.files)} files, {format_bytes(c.info.bytes)}) to "
                    f"{c.uri} unless it is there already"
                    for c in plan.channels if c.local is not None and c.info is not None]
        if plan.classic:
            actions.append(f"let the image's training toolkit run {plan.entrypoint} (classic contract: "
                           "sagemaker_program, sagemaker_submit_directory; no SDK driver files)")
        else:
            actions.append("let the SageMaker SDK upload its driver files under "
                           f"s3://{plan.bucket}/{plan.staging_prefix}/ (every submit)")
        actions.insert(0, f"run image {plan.image.uri} ({plan.image.reason})")
        if line := plan.package.exclusions_line():
            actions.insert(1, line)
        actions.append(f"create training job {job.name} in {plan.region}")
        return DryRun(job=job, backend=self.name, request=request, actions=actions, payload=plan,
                      warnings=[*job.warnings, *plan.image.warnings])

    def schedule(self, dryrun: DryRun) -> Submission:
        """Stage code and data (once per content), then CreateTrainingJob; returns at once."""
        job, planned = dryrun.job, dryrun.payload
        report = SubmitReport()
        with tempfile.TemporaryDirectory(prefix="launcher-submit-") as tmp:
            if isinstance(planned, JobPlan):
                # The dry run's decisions stand (data channels are not hashed twice); only the code
                # tarball, written to a temporary directory, is made again for the upload.
                package = package_source(job.source_dir, Path(tmp), job.spec.include_files,
                                         dependencies=job.dependencies)
                if package.sha256 != planned.package.sha256:
                    raise SpecError(f"the source dir {job.source_dir} changed since the dry run",
                                    "submit again")
                plan = replace(planned, package=package)
            else:
                plan = build_plan(job, workdir=Path(tmp), region=self.region)
            validate_request(to_request(plan))  # everything SageMaker would reject, before any call
            require_credentials(self.session)
            staging.check_bucket(self.s3, plan.bucket)
            warnings: list[str] = []
            if job.spec.aws.preflight:  # read-only, before the first byte is uploaded
                outcome = run_submit_checks(plan, s3=self.s3, iam=self.iam, sm=self.sm)
                enforce(outcome)
                warnings = outcome.warnings
            from launcher.backends.sagemaker.trainer import build_trainer, sdk_request

            trainer = build_trainer(self._sdk(plan.bucket), plan)  # the SDK's own checks, no upload yet
            staging.upload_code(self.s3, plan.package.path, plan.code_uri, report.uploads, self.progress)
            for channel in plan.channels:
                if channel.local is not None and channel.info is not None:
                    staging.upload_channel(self.s3, channel.name, channel.local, channel.info, channel.uri,
                                           report.uploads, self.progress)
            request = sdk_request(trainer, plan)
        validate_request(request)
        drivers = next((c["DataSource"]["S3DataSource"]["S3Uri"] for c in request["InputDataConfig"]
                        if c["ChannelName"] == "sm_drivers"), None)
        report.request, report.drivers_uri = request, drivers
        if drivers:
            report.sdk_objects, report.sdk_bytes = self._measure(drivers)
        if request != to_request(plan, drivers_uri=drivers):  # the dry run would have lied
            log.warning("the SDK's request differs from the dry run's; sending the SDK's")
        try:
            self.sm.create_training_job(**request)
        except Exception as e:
            if error_code(e) == "ResourceInUse":
                raise AwsError(f"a training job named {job.name!r} already exists",
                               "leave --name out for a generated unique name") from e
            raise translate_error(e, "CreateTrainingJob failed") from e
        return Submission(self.describe(job.name), {**report.to_dict(), "preflight_warnings": warnings})

    def _measure(self, prefix_uri: str) -> tuple[int, int]:
        bucket, key = parse_s3_uri(prefix_uri)
        count = size = 0
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/"):
                for obj in page.get("Contents", []):
                    count += 1
                    size += obj["Size"]
        except Exception as e:  # a measurement only
            log.debug("cannot list %s: %s", prefix_uri, e)
        return count, size

    # -- read -------------------------------------------------------------------------------------

    def describe(self, job_name: str) -> JobDescription:
        """The job record; for a failed job also the last traceback of its logs."""
        desc = describe_mod.from_describe(self._describe_raw(job_name), self.region)
        if desc.status == JobStatus.FAILED:
            try:
                tb = logs_mod.last_traceback(logs_mod.tail_lines(self.logs_client, job_name))
            except Exception as e:  # the summary is still useful without it
                log.debug("cannot read logs of %s: %s", job_name, e)
                tb = None
            if tb:
                desc.details["last_traceback"] = tb
        return desc

    def wait(self, job_name: str, timeout: float | None = None) -> JobDescription:
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            raw = self._describe_raw(job_name)
            if JobStatus(raw["TrainingJobStatus"]).terminal or (
                    deadline is not None and self.clock() >= deadline):
                return self.describe(job_name)
            self.sleep(self.poll_seconds)

    def list_jobs(self, status: JobStatus | None = None, limit: int = 20) -> list[JobDescription]:
        kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending",
                                  "MaxResults": min(max(limit, 1), 100)}
        if status is not None:
            kwargs["StatusEquals"] = str(status)
        jobs: list[JobDescription] = []
        try:
            while len(jobs) < limit:
                page = self.sm.list_training_jobs(**kwargs)
                jobs += [describe_mod.from_summary(s) for s in page.get("TrainingJobSummaries", [])]
                if not page.get("NextToken"):
                    break
                kwargs["NextToken"] = page["NextToken"]
        except Exception as e:
            raise translate_error(e, "cannot list training jobs") from e
        if status is not None:
            jobs = [j for j in jobs if j.status == status]
        jobs.sort(key=lambda j: j.created or "", reverse=True)
        return jobs[:limit]

    def logs(self, job_name: str, follow: bool = False, *, timeout: float | None = None) -> Iterator[str]:
        """Log lines; with `follow`, until the job ends (or max wait + max run + 1 h)."""
        raw = self._describe_raw(job_name)  # JobNotFoundError before any output
        if follow and timeout is None:
            stop = raw.get("StoppingCondition") or {}
            timeout = float(stop.get("MaxWaitTimeInSeconds") or stop.get("MaxRuntimeInSeconds") or 0)
            timeout = timeout + LOG_FOLLOW_MARGIN_SECONDS if timeout else None

        def done() -> bool:
            return JobStatus(self._describe_raw(job_name)["TrainingJobStatus"]).terminal

        try:
            yield from logs_mod.follow(self.logs_client, job_name, follow=follow, is_done=done,
                                       poll=self.poll_seconds, timeout=timeout, sleep=self.sleep,
                                       clock=self.clock)
        except LauncherError:
            raise
        except Exception as e:
            raise translate_error(e, f"cannot read the logs of {job_name}", job_name=job_name,
                                  region=self.region) from e

    # -- act --------------------------------------------------------------------------------------

    def stop(self, job_name: str) -> JobDescription:
        """StopTrainingJob through the plain client (bounded retries), then the new state."""
        desc = describe_mod.from_describe(self._describe_raw(job_name), self.region)
        if desc.status.terminal or desc.status == JobStatus.STOPPING:
            return desc
        try:
            self.sm.stop_training_job(TrainingJobName=job_name)
        except Exception as e:
            if error_code(e) == "ValidationException":  # it ended between the two calls
                return self.describe(job_name)
            raise translate_error(e, f"cannot stop {job_name}", job_name=job_name,
                                  region=self.region) from e
        return self.describe(job_name)

    def download(self, job_name: str, to: Path, extract: bool = False) -> list[Path]:
        """model.tar.gz and output.tar.gz into `to` (and their contents into to/model, to/output)."""
        raw = self._describe_raw(job_name)
        desc = describe_mod.from_describe(raw, self.region)
        wanted = {"model": desc.artifacts.get("model"), "output": describe_mod.output_archive(raw)}
        present = {kind: uri for kind, uri in wanted.items() if uri and staging.object_exists(self.s3, uri)}
        if not present:  # before any folder is made: nothing to show for an empty one
            raise JobNotFoundError(f"job {job_name} ({desc.status}) has no artifacts in S3 yet",
                                   "artifacts appear when a job completes; see `launch status`")
        created = not to.exists()
        to.mkdir(parents=True, exist_ok=True)
        paths: list[Path] = []
        for kind, uri in present.items():
            bucket, key = parse_s3_uri(uri)
            dest = key_to_path(to, Path(key).name, where=uri)
            try:
                self.s3.download_file(bucket, key, str(dest))
            except Exception as e:
                if error_code(e) in ("404", "NoSuchKey", "NotFound"):
                    continue
                raise translate_error(e, f"cannot download {uri}") from e
            paths.append(dest)
            if extract:
                from launcher.job.archives import extract_archive

                extract_archive(dest, to / kind)  # all or nothing, never outside to/kind
                paths.append(to / kind)
        if not paths:
            if created:
                to.rmdir()
            raise JobNotFoundError(f"job {job_name} ({desc.status}) has no artifacts in S3 yet",
                                   "artifacts appear when a job completes; see `launch status`")
        return paths


def make_sagemaker_backend(aws: Aws, *, progress: staging.Progress | None = None
                           ) -> SageMakerBackend:
    """A backend on a boto3 session from the usual sources (flags, env, AWS config)."""
    session = make_session(aws.region, aws.profile)
    return SageMakerBackend(
        session,
        aws=aws,
        sagemaker_client=client(session, "sagemaker", max_attempts=SAGEMAKER_RETRIES),
        s3_client=client(session, "s3"),
        logs_client=client(session, "logs"),
        iam_client=client(session, "iam"),
        progress=progress,
    )
