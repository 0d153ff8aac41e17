"""The cloud side of `launch tune`: the classic training request of the job (the sagemaker
backend's own dry run), the CreateHyperParameterTuningJob request derived from it
(`backends.sagemaker.tuning`), and staging the code and data the trials read before the tuning job
is created. The trials run under the classic contract: the tuning API has no container entrypoint.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.backends.base import Backend, DryRun
from launcher.config.spec import JobSpec, build_spec
from launcher.errors import SpecError
from launcher.job.resolve import ResolvedJob
from launcher.job.tuning import TuningDescription


def classic(spec: JobSpec) -> JobSpec:
    """The job as its trials run it: the classic contract (the spec's [tune] table kept)."""
    return build_spec({**spec.model_dump(), "contract": "classic"})


@dataclass
class CloudTuning:
    job: ResolvedJob            # the training definition's job (classic contract)
    dryrun: DryRun              # its CreateTrainingJob dry run
    request: dict[str, Any]     # the CreateHyperParameterTuningJob request

    @property
    def name(self) -> str:
        return str(self.request["HyperParameterTuningJobName"])


def tuning_dry_run(backend: Backend, job: ResolvedJob) -> CloudTuning:
    """The exact CreateHyperParameterTuningJob request; no AWS call, nothing uploaded."""
    from launcher.backends.sagemaker.tuning import tuning_request
    from launcher.runner import dryrun_on

    tune = job.spec.tune
    if tune is None:
        raise SpecError("nothing to tune: no [tune] table", "pass --objective and --range")
    dryrun = dryrun_on(backend, job)
    request = tuning_request(dryrun.request, tune, name=tune.name)
    return CloudTuning(job, dryrun, request)


def stage_and_create(backend: Any, tuning: CloudTuning) -> tuple[TuningDescription, dict[str, Any]]:
    """Upload the code and the local data channels (each once per content, as `launch train` does),
    then CreateHyperParameterTuningJob; returns the tuning job and what was uploaded."""
    from launcher.aws import require_credentials
    from launcher.backends.sagemaker import staging
    from launcher.backends.sagemaker.request import JobPlan
    from launcher.backends.sagemaker.tuning import create_tuning, describe_tuning, validate_tuning_request
    from launcher.job.packaging import package_source

    plan = tuning.dryrun.payload
    if not isinstance(plan, JobPlan):
        raise SpecError("the training dry run has no plan to stage", "run `launch tune` again")
    validate_tuning_request(tuning.request)  # before any upload
    require_credentials(backend.session)
    staging.check_bucket(backend.s3, plan.bucket)
    report = staging.UploadReport()
    with tempfile.TemporaryDirectory(prefix="launcher-tune-") as tmp:
        package = package_source(tuning.job.source_dir, Path(tmp), tuning.job.spec.include_files)
        if package.sha256 != plan.package.sha256:
            raise SpecError(f"the source dir {tuning.job.source_dir} changed since the dry run", "run again")
        staging.upload_code(backend.s3, package.path, plan.code_uri, report, backend.progress)
    for channel in plan.channels:
        if channel.local is not None and channel.info is not None:
            staging.upload_channel(backend.s3, channel.name, channel.local, channel.info, channel.uri,
                                   report, backend.progress)
    create_tuning(backend.sm, tuning.request)
    desc = describe_tuning(backend.sm, tuning.name, region=backend.region, trials=False)  # none yet
    return desc, {"uploaded_objects": report.objects, "uploaded_bytes": report.bytes,
                  "already_staged": list(report.skipped)}
