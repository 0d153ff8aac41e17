"""A local job's requirements step: what its dry run says and what staging installs, in the job's
own cached environment (requirements_env.py), never in the launcher's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from launcher.backends.base import JobDescription
from launcher.backends.local.requirements_env import EnvPlan, RequirementsEnvs, cache_root
from launcher.backends.local.store import JobDir
from launcher.job.resolve import ResolvedJob


class JobRequirements:
    """The requirements of the jobs one backend runs, and the interpreter each job runs."""

    def __init__(self, environ: Mapping[str, str], jobs_root: Path, python: str,
                 notify: Callable[[str], None]) -> None:
        self.envs = RequirementsEnvs(cache_root(environ, jobs_root), python, environ)
        self.python = python
        self.notify = notify
        self._job_python: dict[str, str] = {}  # job name → its requirements' environment's python

    def interpreter(self, job_name: str) -> str:
        return self._job_python.get(job_name, self.python)

    def plan(self, job: ResolvedJob) -> EnvPlan | None:
        """What staging would install; a cached environment's interpreter is the job's already."""
        if not job.requirements:
            return None
        plan = self.envs.plan(job.source_dir, job.requirements)
        if plan.existing is not None:
            self._job_python[job.name] = str(plan.existing / "bin" / "python")
        return plan

    def dryrun_lines(self, job: ResolvedJob) -> list[str]:
        plan = self.plan(job)
        if plan is not None:
            return plan.dryrun_lines()
        spec = job.spec
        named = spec.requirements or "requirements.txt"
        if not spec.install_requirements and (job.source_dir / named).is_file():
            return [f"install nothing from {named} (--no-requirements): the job runs {self.python}"]
        return []

    def install(self, resolved: ResolvedJob, job: JobDir, code_dir: Path, desc: JobDescription) -> str:
        """Install the job's requirements into their cached environment; returns the job's
        interpreter (the launcher's when nothing needs installing)."""
        assert resolved.requirements
        plan = self.envs.plan(code_dir, resolved.requirements)
        for line in plan.plan.skipped:
            self.notify(f"warning: {line}")
        for line in plan.plan.notes:
            self.notify(line)
        if not plan.needed:
            self.notify(f"{resolved.requirements}: nothing to install beyond the launcher's packages")
            desc.details.update(plan.details(None))
            return self.python
        if plan.plan.skipped:  # recorded even if the install fails
            desc.details["requirements_skipped"] = list(plan.plan.skipped)
        prepared = self.envs.prepare(plan, job.path / "requirements", code_dir, self.notify)
        desc.details.pop("requirements_skipped", None)
        desc.details.update(plan.details(prepared),
                            image=f"this machine's Python with {resolved.requirements}: {prepared.python}")
        for d in desc.deviations:  # the image deviation names the interpreter the job really runs
            if d.aspect == "image":
                d.local = (f"this machine's Python and packages, with {resolved.requirements} "
                           f"({prepared.python})")
        self._job_python[resolved.name] = prepared.python
        job.save(desc)
        return prepared.python
