"""Resolve a job once: a validated spec plus the facts of the machine → the job every path consumes.

`launch plan`, both dry runs, `train --local`, `train` (cloud) and the drill all start from the
`ResolvedJob` that `resolve_job` returns, so the name, the world size, the channels, the encoded
hyperparameters and the step plan are decided in this one place and cannot disagree.

Pure apart from reading the disk: it checks the source dir, the entrypoint and local channels (once)
and counts the train channel's examples (npz headers), and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from launcher.config.catalog import lookup, warnings_for
from launcher.config.spec import JobSpec, MetricDefinition, check_local_paths, is_s3_uri
from launcher.errors import SpecError
from launcher.job import classic_contract
from launcher.job.metrics import effective_definitions
from launcher.job.naming import generate_job_name
from launcher.job.script_scan import contract_warnings
from launcher.planning.training_plan import (
    TRAIN_CHANNEL,
    Plan,
    PlanOptions,
    plan_training,
    processes_per_host,
)


class Target(StrEnum):
    LOCAL = "local"
    SAGEMAKER = "sagemaker"


@dataclass(frozen=True)
class ResolvedChannel:
    name: str
    location: str            # an s3:// URI as given, or an absolute local path
    local_path: Path | None  # set for local channels, which exist and hold files

    @property
    def on_s3(self) -> bool:
        return self.local_path is None


@dataclass(frozen=True)
class ResolvedJob:
    """Everything decided about one job before any backend acts on it."""

    spec: JobSpec
    name: str
    target: Target
    source_dir: Path
    entrypoint: str
    reference: bool                      # the bundled reference entrypoint
    instance_type: str | None            # local jobs: as given (nominal), else None
    instance_count: int                  # hosts (algo-1 … algo-N)
    gpus_per_host: int                   # local: this machine's GPUs split between hosts
    processes_per_host: int
    spot: bool
    checkpointing: bool
    channels: tuple[ResolvedChannel, ...]
    train_samples: int | None            # examples in the train channel, when they can be counted
    samples_source: str | None           # where that number came from
    requirements: str | None             # relative to the source dir; None: none, or opted out
    contract: str                        # "modeltrainer" (SDK v3 drivers) or "classic" (v2 toolkit)
    dependencies: tuple[Path, ...]       # extra directories shipped beside the source dir
    metric_definitions: tuple[MetricDefinition, ...]
    hyperparameters: dict[str, str]      # encoded: exactly what the script receives
    plan: Plan | None                    # the step plan, validated; None when it cannot be known
    plan_note: str | None                # why there is no step plan
    warnings: tuple[str, ...] = ()       # what the user should know before launch (not refusals)

    @property
    def local(self) -> bool:
        return self.target is Target.LOCAL

    @property
    def world_size(self) -> int:
        return self.instance_count * self.processes_per_host

    @property
    def hosts(self) -> tuple[str, ...]:
        return tuple(f"algo-{i + 1}" for i in range(self.instance_count))

    @property
    def torchrun(self) -> bool:
        """Several processes or hosts run under torchrun; one process runs the script directly.

        Under the classic contract torchrun (the toolkit's torch_distributed) needs several processes
        per host: hosts of one process each run the script plainly, each on its own, as an SDK v2 job
        without a `distribution` does, and the script joins its process group itself."""
        if self.contract == "classic":
            return self.processes_per_host > 1
        return self.world_size > 1

    def channel(self, name: str) -> ResolvedChannel | None:
        return next((c for c in self.channels if c.name == name), None)


def job_name(spec: JobSpec) -> str:
    """The exact name, or a unique one generated from the base name (default: the entry script)."""
    return spec.job_name or generate_job_name(spec.base_name or Path(spec.entrypoint).stem)


def checkpointing_enabled(spec: JobSpec) -> bool:
    """A CheckpointConfig goes with spot, with any explicit checkpoint URI, and with the reference
    entrypoint (it checkpoints on-demand jobs too, so a retried or stopped job resumes). A local job
    has what its cloud twin would have, so a rehearsal checkpoints (and resumes) as the cloud job."""
    return (spec.spot_enabled(cloud=True) or spec.spot.checkpoint_s3_uri is not None
            or spec.uses_reference_entrypoint)


def _channels(spec: JobSpec, cwd: Path) -> tuple[ResolvedChannel, ...]:
    channels = []
    for name, location in spec.data.items():
        if is_s3_uri(location):
            channels.append(ResolvedChannel(name, location, None))
            continue
        path = Path(location).expanduser()
        path = (path if path.is_absolute() else cwd / path).resolve()
        channels.append(ResolvedChannel(name, str(path), path))
    return tuple(channels)


def _requirements(spec: JobSpec, source: Path) -> str | None:
    if spec.requirements is not None:
        if not (source / spec.requirements).is_file():
            raise SpecError(f"requirements file {spec.requirements} not found in {source}",
                            "name a file inside the source dir")
        return spec.requirements
    return "requirements.txt" if (source / "requirements.txt").is_file() else None


def _dependencies(spec: JobSpec, cwd: Path, source: Path) -> tuple[Path, ...]:
    found: list[Path] = []
    for entry in spec.dependencies:
        path = Path(entry).expanduser()
        path = (path if path.is_absolute() else cwd / path).resolve()
        if not path.is_dir():
            raise SpecError(f"dependency {entry}: {path} is not a directory",
                            "name a directory to ship beside the source dir")
        if path == source or source in path.parents:
            raise SpecError(f"dependency {entry} is inside the source dir, which is shipped already",
                            "drop it from dependencies")
        if any(p.name == path.name for p in found) or path.name == source.name:
            raise SpecError(f"two shipped directories are named {path.name!r}",
                            "rename one: each lands in the code directory under its own name")
        found.append(path)
    return tuple(found)


def _count_train_samples(channels: tuple[ResolvedChannel, ...]) -> tuple[int, str] | None:
    """(examples, where the number came from) of a local train channel's .npz files."""
    from launcher.job.data_manifest import count_local_samples

    train = next((c for c in channels if c.name == TRAIN_CHANNEL), None)
    if train is None and len(channels) == 1:
        train = channels[0]
    if train is None or train.local_path is None:
        return None
    counted = count_local_samples(train.local_path)
    if counted is None:
        return None
    n, files = counted
    return n, f"channel {train.name}: {files} .npz file{'s' if files != 1 else ''} (headers only)"


def resolve_job(
    spec: JobSpec,
    *,
    target: Target,
    cwd: Path,
    local_gpus: int = 0,
    name: str | None = None,
    samples: int | None = None,
    samples_source: str = "--samples",
    plan_options: PlanOptions | None = None,
) -> ResolvedJob:
    """The resolved job, or SpecError for anything that would fail later (nothing staged yet).

    `local_gpus` is this machine's GPU count (local jobs); a cloud job's comes from the instance
    catalogue. `samples` overrides the count of the train channel (e.g. `launch plan --samples`).
    """
    compute = spec.compute
    check_local_paths(spec, cwd)
    source = spec.source_path(cwd).resolve()
    if target is Target.LOCAL:
        gpus = local_gpus // compute.instance_count  # emulated hosts split this machine's GPUs
    else:  # without an instance type only a plan can be made; the dry run refuses to submit
        gpus = lookup(compute.instance_type).gpus if compute.instance_type else 0
    warnings = warnings_for(lookup(compute.instance_type)) if compute.instance_type else []
    per_host = processes_per_host(spec, gpus)
    if compute.instance_count * per_host > 1 and not spec.entrypoint.endswith(".py"):
        raise SpecError(f"{spec.entrypoint}: torchrun (several hosts or processes) runs a Python "
                        "entry script", "use a .py entrypoint, or one process on one host")
    channels = _channels(spec, cwd)
    counted = (samples, samples_source) if samples is not None else _count_train_samples(channels)
    n, counted_from = counted if counted else (None, None)
    plan, note = plan_training(spec, samples=n, processes_per_host=per_host, gpus_per_host=gpus,
                               local=target is Target.LOCAL, options=plan_options)
    return ResolvedJob(
        spec=spec,
        name=name or job_name(spec),
        target=target,
        source_dir=source,
        entrypoint=spec.entrypoint,
        reference=spec.uses_reference_entrypoint,
        instance_type=compute.instance_type,
        instance_count=compute.instance_count,
        gpus_per_host=gpus,
        processes_per_host=per_host,
        spot=spec.spot_enabled(cloud=target is Target.SAGEMAKER),
        checkpointing=checkpointing_enabled(spec),
        channels=channels,
        train_samples=n,
        samples_source=counted_from,
        requirements=_requirements(spec, source) if spec.install_requirements else None,
        contract=spec.contract,
        dependencies=_dependencies(spec, cwd, source),
        metric_definitions=tuple(effective_definitions(spec, source)),
        hyperparameters=(classic_contract.encode_user(spec.all_hyperparameters())
                         if spec.contract == "classic" else spec.encoded_hyperparameters()),
        plan=plan,
        plan_note=note,
        warnings=(*warnings, *contract_warnings(spec, source)),
    )
