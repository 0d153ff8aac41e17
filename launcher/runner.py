"""The runner between the CLI and the backends.

It resolves a job once (`resolve`), asks the job's backend for a dry run and acts on it (`submit`),
routes a job name to the backend that owns it (`backend_for`), follows and waits, remembers measured
throughput, and turns a finished job into an exit status (`exit_status_for`) — in one place, so the
CLI modules only parse and present.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.backends.base import Backend, DryRun, JobDescription, JobStatus, Submission
from launcher.config.spec import Aws, JobSpec
from launcher.errors import ExitStatus, SpecError
from launcher.job.resolve import ResolvedJob, Target, resolve_job
from launcher.planning.training_plan import PlanOptions

if TYPE_CHECKING:
    from launcher.backends.local.backend import LocalBackend
    from launcher.backends.local.options import LocalOptions

log = logging.getLogger(__name__)

LocalFactory = Callable[["LocalOptions | None", Aws], "LocalBackend"]
CloudFactory = Callable[[Aws], Backend]


def exit_status_for(desc: JobDescription) -> int:
    """A finished job's exit status: 0 when Completed, else the job's own exit code (1 if none)."""
    if desc.status is JobStatus.COMPLETED:
        return int(ExitStatus.SUCCESS)
    code = desc.exit_code or 0
    return code if 0 < code < 256 else int(ExitStatus.ERROR)


def dryrun_on(backend: Backend, job: ResolvedJob) -> DryRun:
    """The backend's dry run, after checking the job asks only for what the backend can do."""
    mode = job.spec.compute.input_mode
    if mode not in backend.capabilities.input_modes:
        raise SpecError(f"{mode} input mode is not available on the {backend.name} backend",
                        f"use --input-mode {' or '.join(backend.capabilities.input_modes)}")
    return backend.dryrun(job)


def submit_spec(backend: Backend, spec: JobSpec, name: str | None = None, *, cwd: Path | None = None,
                local_gpus: int = 0) -> JobDescription:
    """Resolve, dry-run and schedule a spec on one backend (tests, benchmarks)."""
    target = Target.LOCAL if backend.name == Target.LOCAL else Target.SAGEMAKER
    job = resolve_job(spec, target=target, cwd=cwd or Path.cwd(), local_gpus=local_gpus, name=name)
    return backend.schedule(dryrun_on(backend, job)).job


@dataclass
class Runner:
    """One command's access to the backends; the backends are built by the injected factories."""

    home: Path
    cwd: Path
    local_factory: LocalFactory
    cloud_factory: CloudFactory
    gpu_probe: Callable[[], int]
    _gpus: int | None = None

    # -- one job ----------------------------------------------------------------------------------

    def local_gpus(self) -> int:
        """This machine's GPUs, probed once per command."""
        if self._gpus is None:
            self._gpus = self.gpu_probe()
        return self._gpus

    def resolve(self, spec: JobSpec, target: Target, *, samples: int | None = None,
                samples_source: str = "--samples", plan_options: PlanOptions | None = None
                ) -> ResolvedJob:
        gpus = self.local_gpus() if target is Target.LOCAL else 0
        return resolve_job(spec, target=target, cwd=self.cwd, local_gpus=gpus, samples=samples,
                           samples_source=samples_source, plan_options=plan_options)

    def backend(self, job: ResolvedJob, options: LocalOptions | None = None) -> Backend:
        if job.target is Target.LOCAL:
            return self.local_factory(options, job.spec.aws)
        return self.cloud_factory(job.spec.aws)

    def dryrun(self, job: ResolvedJob, options: LocalOptions | None = None) -> DryRun:
        return dryrun_on(self.backend(job, options), job)

    def submit(self, dryrun: DryRun, options: LocalOptions | None = None) -> Submission:
        """Act on a dry run; a local job runs to its end, a cloud job returns once created."""
        submission = self.backend(dryrun.job, options).schedule(dryrun)
        self.remember_throughput(dryrun.job, submission.job)
        return submission

    def remember_throughput(self, job: ResolvedJob, desc: JobDescription) -> None:
        """Keep a completed local run's samples/s so a later `launch plan` can estimate time and cost."""
        rate = desc.metrics.get("samples_per_sec") or desc.metrics.get("throughput")
        if not job.local or desc.status is not JobStatus.COMPLETED or not rate:
            return
        from launcher.planning.throughput import LOCAL_INSTANCE, record_throughput, throughput_key

        with contextlib.suppress(OSError, ValueError):
            record_throughput(self.home, throughput_key(job.spec), LOCAL_INSTANCE, float(rate))

    def rename(self, job: ResolvedJob, name: str) -> ResolvedJob:
        """The same job under another name (drill attempts, the uninterrupted reference)."""
        return replace(job, name=name, spec=job.spec.model_copy(update={"job_name": name}))

    # -- job verbs --------------------------------------------------------------------------------

    def local_backend(self, aws: Aws | None = None) -> LocalBackend:
        return self.local_factory(None, aws or Aws())

    def backend_for(self, job_name: str | None, where: str | None, aws: Aws) -> Backend:
        """`--local` / `--cloud` force a side; otherwise a name with a local record is a local job."""
        if where == "local":
            return self.local_backend(aws)
        if where == "cloud":
            return self.cloud_factory(aws)
        local = self.local_backend(aws)
        if job_name is not None and local.store.exists(job_name):
            return local
        return self.cloud_factory(aws)

    def also_in_the_cloud(self, job_name: str, where: str | None, aws: Aws) -> bool:
        """Whether a name that resolved to a local job also names a SageMaker job (a best-effort
        read: without AWS credentials or region there is nothing to say)."""
        if where is not None or not self.local_backend(aws).store.exists(job_name):
            return False
        try:
            self.cloud_factory(aws).describe(job_name)
        except Exception:  # not found, or AWS not reachable from here
            return False
        return True


def count_gpus_default() -> int:
    from launcher.backends.local.options import count_gpus

    return count_gpus()


def make_runner(
    *,
    home: Path,
    jobs_dir: Path,
    environ: Mapping[str, str],
    cwd: Path,
    echo: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
    download_progress: Callable[[str, int, int], None] | None = None,
    upload_progress: Callable[[str, int, int], None] | None = None,
) -> Runner:
    """A runner whose backends honour the job's --profile/--region for every AWS client."""

    def local_factory(options: LocalOptions | None, aws: Aws) -> LocalBackend:
        from launcher.backends.local.backend import DEFAULT_REGION, LocalBackend
        from launcher.backends.local.options import LocalOptions

        def aws_client(service: str) -> object:
            from launcher.aws import client, make_session

            region = aws.region or environ.get("AWS_REGION") or DEFAULT_REGION
            return client(make_session(region, aws.profile), service)

        if options is None:  # LAUNCHER_PID_NAMESPACE=0 forces the fallback (sessions only)
            options = LocalOptions(pid_namespace=False if environ.get("LAUNCHER_PID_NAMESPACE") == "0"
                                   else None)
        return LocalBackend(jobs_dir, environ=dict(environ), echo=echo, notify=notify,
                            s3_factory=lambda: aws_client("s3"), sts_factory=lambda: aws_client("sts"),
                            options=options,
                            progress=download_progress)

    def cloud_factory(aws: Aws) -> Backend:
        from launcher.backends.sagemaker.backend import make_sagemaker_backend

        return make_sagemaker_backend(aws, progress=upload_progress)

    return Runner(home=home, cwd=cwd, local_factory=local_factory, cloud_factory=cloud_factory,
                  gpu_probe=count_gpus_default)
