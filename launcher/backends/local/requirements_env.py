"""A job's requirements installed into an environment of their own, cached for later jobs
(docs/requirements.md); the launcher's own environment is never changed.

The environment is a venv of the launcher's interpreter (`--without-pip`) whose site-packages holds
a .pth file that adds the launcher's site-packages after its own: torch and the launcher's packages
are seen, not copied, and what the job installs shadows the launcher's copy for the job alone.
(`--system-site-packages` would not do: from a venv's python it names the base interpreter's
site-packages, not the venv's.) Protected packages (requirements_file.py) are held at the
launcher's versions by constraints, so no installer changes or duplicates them.

Environments live under `<home>/requirements-envs` (LAUNCHER_REQUIREMENTS_CACHE overrides), one per
key: sha256 of the interpreter (path, version), the normalised requirement lines and the protected
versions. `<key16>` is a symlink to the environment's directory `<key16>.<random>`: venvs cannot be
moved (installed scripts name their interpreter by path), so the environment is built where it
stays, under a lock, and the link, renamed into place once the install succeeded and its marker is
written, is what makes it visible. A failed build is deleted; its output stays in the job directory.

The installer is pip, run by the environment's interpreter (the launcher's pip, seen through the
layer): it alone sees the launcher's packages as installed, and so reuses them. uv does not read
.pth-added directories (it would reinstall torch's dependencies); it is used where the launcher's
interpreter has no pip, or when LAUNCHER_REQUIREMENTS_INSTALLER=uv, with the protected packages
excluded from its resolution.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from launcher.backends.base import now_iso
from launcher.backends.local.requirements_file import (
    Installed,
    RequirementsPlan,
    protected_names,
    read_plan,
)
from launcher.errors import SpecError

log = logging.getLogger(__name__)

CACHE_VARIABLE = "LAUNCHER_REQUIREMENTS_CACHE"
INSTALLER_VARIABLE = "LAUNCHER_REQUIREMENTS_INSTALLER"  # pip | uv (default: pip where it can run)
MARKER = "launcher-env.json"
LAYER_PTH = "_launcher_layer.pth"
PROBE_TIMEOUT_S = 60

# What the launcher's interpreter has: its identity, its site-packages and the protected versions.
_PROBE = r"""
import importlib.metadata as m, importlib.util, json, os, site, sys
dirs = list(site.getsitepackages())
user = site.getusersitepackages() if site.ENABLE_USER_SITE else None
if user and user in sys.path:
    dirs.append(user)
found = {}
for name in sys.argv[1:]:
    try:
        d = m.distribution(name)
        found[name] = [d.metadata["Name"] or name, d.version]
    except m.PackageNotFoundError:
        pass
print(json.dumps({"version": sys.version, "site_dirs": [d for d in dirs if os.path.isdir(d)],
                  "installed": found, "pip": importlib.util.find_spec("pip") is not None}))
"""


def cache_root(environ: Mapping[str, str], jobs_root: Path) -> Path:
    """Where environments live: LAUNCHER_REQUIREMENTS_CACHE, else beside the jobs root."""
    if environ.get(CACHE_VARIABLE):
        return Path(environ[CACHE_VARIABLE]).expanduser()
    return jobs_root.parent / "requirements-envs"


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    site_dirs: tuple[str, ...]
    installed: dict[str, Installed]
    has_pip: bool


def probe(python: str, names: list[str]) -> Interpreter:
    try:
        proc = subprocess.run([python, "-c", _PROBE, *names], capture_output=True, text=True,
                              timeout=PROBE_TIMEOUT_S)
        data = json.loads(proc.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:
        raise SpecError(f"cannot inspect the job's interpreter {python}: {e}",
                        "check LocalOptions.python names a working Python") from None
    installed: dict[str, Installed] = {canonicalize_name(k): Installed(v[0], v[1])
                                       for k, v in data["installed"].items()}
    return Interpreter(os.path.abspath(python), data["version"], tuple(data["site_dirs"]),
                       installed, bool(data["pip"]))


@functools.cache
def _launcher_requires() -> tuple[str, ...]:
    try:
        return tuple(importlib.metadata.requires("launcher") or ())
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that is not installed
        log.warning("the launcher is not installed: only torch and its kin are protected")
        return ()


@dataclass
class EnvPlan:
    """What a job's requirements need: read, keyed, and whether the environment exists."""

    plan: RequirementsPlan
    interpreter: Interpreter
    key: str
    entry: Path             # <cache>/<key16>: the symlink naming the environment
    existing: Path | None   # the environment's directory, when built already

    @property
    def needed(self) -> bool:
        return bool(self.plan.requirements)

    def dryrun_lines(self) -> list[str]:
        p = self.plan
        lines = [f"skip (protected) {line}" for line in p.skipped]
        lines += [f"{p.file}: {line}" for line in p.provided]
        if not self.needed:
            return [*lines, f"install nothing from {p.file}: the job runs {self.interpreter.path}"]
        what = ", ".join(p.requirements)
        state = (f"cached: reuse {self.existing}" if self.existing else
                 "not cached: build it, then keep it for later jobs")
        return [*lines, f"install {len(p.requirements)} requirement"
                f"{'s' if len(p.requirements) > 1 else ''} from {p.file} into {self.entry} "
                f"({state}): {what}", *p.notes]

    def details(self, prepared: PreparedEnv | None) -> dict[str, Any]:
        """What the job record keeps (`launch describe`): the interpreter and its environment."""
        p = self.plan
        out: dict[str, Any] = {}
        if prepared is None:
            out.update(requirements=f"{p.file}: nothing to install beyond the launcher's packages",
                       python=self.interpreter.path)
        else:
            how = ("reused from an earlier job" if prepared.reused else
                   f"built by {prepared.marker.get('installer')} for this job, kept for later ones")
            out.update(requirements=f"{p.file}: {', '.join(p.requirements)} in {prepared.entry} ({how})",
                       python=prepared.python, requirements_env=str(prepared.path),
                       requirements_reused=prepared.reused,
                       requirements_installed=prepared.marker.get("installed", []))
            if not prepared.reused:
                out["requirements_log"] = str(prepared.log)
        if p.skipped:
            out["requirements_skipped"] = list(p.skipped)
        return out


@dataclass
class PreparedEnv:
    entry: Path
    path: Path
    python: str
    reused: bool
    marker: dict[str, Any]
    log: Path | None = None  # the installer's output, when built for this job


class RequirementsEnvs:
    """The environments of one cache, for jobs run by one interpreter."""

    def __init__(self, root: Path, python: str, environ: Mapping[str, str]) -> None:
        self.root = root
        self.python = python
        self.environ = environ
        self._interpreter: Interpreter | None = None

    def interpreter(self, protected: Mapping[str, str]) -> Interpreter:
        if self._interpreter is None:
            self._interpreter = probe(self.python, sorted(protected))
        return self._interpreter

    def plan(self, source_dir: Path, name: str) -> EnvPlan:
        protected = protected_names(list(_launcher_requires()))
        interp = self.interpreter(protected)
        plan = read_plan(source_dir, name, protected, interp.installed)
        identity = {"python": interp.path, "version": interp.version,
                    "lines": plan.fingerprint, "protected": plan.protected_pins}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        entry = self.root / key[:16]
        return EnvPlan(plan, interp, key, entry, _existing(entry, key))

    def prepare(self, env: EnvPlan, workdir: Path, cwd: Path,
                notify: Callable[[str], None]) -> PreparedEnv:
        """The environment of `env`, built unless cached. `workdir` (in the job directory) keeps the
        files given to the installer and its output; `cwd` is where it runs (the staged code)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root / f"{env.entry.name}.lock", lambda: notify(
                f"waiting for another job that is preparing {env.entry}")):
            found = _existing(env.entry, env.key)
            if found is not None:
                notify(f"reusing {env.entry} for {env.plan.file}")
                return PreparedEnv(env.entry, found, str(found / "bin" / "python"), True,
                                   json.loads((found / MARKER).read_text()))
            _remove_leftovers(env.entry)
            n = len(env.plan.requirements)
            notify(f"installing {n} requirement{'s' if n > 1 else ''} from {env.plan.file} into "
                   f"{env.entry} (cached for later jobs)")
            build = Path(tempfile.mkdtemp(prefix=f"{env.entry.name}.", dir=self.root))
            try:
                marker = _build(build, env, workdir, cwd, self.environ)
                link = self.root / f".{build.name}.link"
                os.symlink(build.name, link)
                os.replace(link, env.entry)  # the environment appears whole, or not at all
            except BaseException:
                shutil.rmtree(build, ignore_errors=True)
                raise
        return PreparedEnv(env.entry, build, str(build / "bin" / "python"), False, marker,
                           workdir / "install.log")


def _existing(entry: Path, key: str) -> Path | None:
    try:
        target = entry.resolve(strict=True)
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return target if isinstance(marker, dict) and marker.get("key") == key else None


def _remove_leftovers(entry: Path) -> None:
    """Directories of builds that died (killed launchers), and a link to a broken environment."""
    keep = entry.resolve() if entry.exists() else None
    for path in entry.parent.glob(f"{entry.name}.*"):
        if path.is_dir() and not path.is_symlink() and path.resolve() != keep:
            shutil.rmtree(path, ignore_errors=True)
    for link in entry.parent.glob(f".{entry.name}.*.link"):  # renamed into place, or never
        link.unlink(missing_ok=True)
    if entry.is_symlink() and keep is None:
        entry.unlink()


@contextlib.contextmanager
def _locked(path: Path, on_wait: Callable[[], None]) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _installer(interp: Interpreter, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """("pip" | "uv", how to run it)."""
    wanted = environ.get(INSTALLER_VARIABLE, "").strip().lower()
    if wanted not in ("", "pip", "uv"):
        raise SpecError(f"{INSTALLER_VARIABLE}={wanted}: not an installer", "use pip or uv")
    if wanted == "pip" or (wanted == "" and interp.has_pip):
        return "pip", []
    uv = shutil.which("uv", path=environ.get("PATH")) or shutil.which(
        "uv", path=str(Path(interp.path).parent))
    if uv and _uv_excludes(uv):
        return "uv", [uv]
    if wanted == "uv":
        raise SpecError(f"{INSTALLER_VARIABLE}=uv, but no uv with `pip install --excludes` on PATH",
                        "install uv (pip install uv), or unset the variable to use pip")
    return "pip", []


@functools.cache
def _uv_excludes(uv: str) -> bool:
    """Whether this uv can leave packages out of a resolution (uv 0.8 and later)."""
    try:
        out = subprocess.run([uv, "pip", "install", "--help"], capture_output=True, text=True,
                             timeout=PROBE_TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--excludes" in out


def _build(build: Path, env: EnvPlan, workdir: Path, cwd: Path,
           environ: Mapping[str, str]) -> dict[str, Any]:
    interp, plan = env.interpreter, env.plan
    installer, uv = _installer(interp, environ)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "install.log"
    venv = [interp.path, "-m", "venv", *([] if installer == "pip" and not interp.has_pip
                                         else ["--without-pip"]), str(build)]
    with log_path.open("w") as out:
        out.write(f"$ {' '.join(venv)}\n")
        out.flush()
        if subprocess.run(venv, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
            raise SpecError(f"{plan.file}: cannot create an environment with {interp.path} -m venv",
                            f"read {log_path}")
    site = _site_packages(build)
    (site / LAYER_PTH).write_text(
        "# The launcher's packages, after this environment's own (docs/requirements.md).\n"
        + "".join(f"import site; site.addsitedir({d!r})\n" for d in interp.site_dirs
                  if Path(d) != site))
    python = str(build / "bin" / "python")
    (workdir / "requirements.txt").write_text("".join(f"{line}\n" for line in plan.lines))
    if installer == "uv":
        (workdir / "constraints.txt").write_text("".join(f"{c}\n" for c in plan.constraints))
        (workdir / "excludes.txt").write_text("".join(
            f"{pin.split('=', 1)[0]}\n" for pin in plan.protected_pins))
        argv = [*uv, "pip", "install", "--python", python, "-r", str(workdir / "requirements.txt"),
                "-c", str(workdir / "constraints.txt"), "--excludes", str(workdir / "excludes.txt")]
    else:
        (workdir / "constraints.txt").write_text(
            "".join(f"{c}\n" for c in [*plan.protected_pins, *plan.constraints]))
        argv = [python, "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                "-r", str(workdir / "requirements.txt"), "-c", str(workdir / "constraints.txt")]
    run_env = {k: v for k, v in environ.items()  # nothing may send the install elsewhere
               if k not in ("PIP_TARGET", "PIP_PREFIX", "PIP_ROOT", "PIP_USER", "VIRTUAL_ENV",
                            "PYTHONHOME", "UV_SYSTEM_PYTHON", "UV_PYTHON")}
    with log_path.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        code = subprocess.run(argv, cwd=cwd, env=run_env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL).returncode
    output = log_path.read_text(errors="replace")
    if code != 0:
        raise SpecError(f"{plan.file}: {explain_failure(output, plan, env)}",
                        f"the installer's output is in {log_path}")
    installed = _installed(site)
    if problem := _protected_problem(installed, env):
        raise SpecError(f"{plan.file}: {problem}", f"the installer's output is in {log_path}")
    marker = {"key": env.key, "python": interp.path, "python_version": interp.version,
              "installer": installer, "requirements": plan.lines, "constraints": plan.constraints,
              "skipped": plan.skipped, "installed": sorted(f"{n}=={v}" for n, v, _ in installed),
              "created": now_iso()}
    (build / MARKER).write_text(json.dumps(marker, indent=2))
    return marker


def _site_packages(build: Path) -> Path:
    found = sorted(build.glob("lib/python*/site-packages"))
    if len(found) != 1:
        raise SpecError(f"the new environment {build} has {len(found)} site-packages directories",
                        "report this: the launcher expects a POSIX venv")
    return found[0]


def _installed(site: Path) -> list[tuple[str, str, list[str]]]:
    """(name, version, Requires-Dist) of what the install put in the environment."""
    return [(d.metadata["Name"], d.version, list(d.requires or ()))
            for d in importlib.metadata.distributions(path=[str(site)])]


def _protected_problem(installed: list[tuple[str, str, list[str]]], env: EnvPlan) -> str | None:
    """A protected package installed anyway, or one an installed package needs at another version
    (uv does not check those: they are excluded from its resolution)."""
    protected = {canonicalize_name(pin.split("=", 1)[0]) for pin in env.plan.protected_pins}
    have = env.interpreter.installed
    for name, version, requires in installed:
        if canonicalize_name(name) in protected:
            return (f"{name} {version} was to be installed as a dependency; a job never installs it"
                    " (it is the launcher's): install it into the launcher's environment")
        for text in requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            canon = canonicalize_name(req.name)
            if canon not in protected or (req.marker and not req.marker.evaluate({"extra": ""})):
                continue
            mine = have.get(canon)
            if mine is None or mine.version is None:
                return (f"{name} {version} depends on {req.name}, which the launcher's environment "
                        "lacks and a job never installs: install it there")
            if not req.specifier.contains(mine.version, prereleases=True):
                return (f"{name} {version} depends on {req}, but the job uses the launcher's "
                        f"{mine.name} {mine.version}")
    return None


_DEPENDS = re.compile(r"^\s*(\S+) (\S+) depends on (.+?)\s*$")


def explain_failure(output: str, plan: RequirementsPlan, env: EnvPlan) -> str:
    """One line: which requirement failed, and why, from the installer's output."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    protected = {canonicalize_name(pin.split("=", 1)[0]) for pin in plan.protected_pins}
    for line in lines:  # pip's resolver report: "needs-old-torch 1.0 depends on torch<2"
        if (m := _DEPENDS.match(line)) is None:
            continue
        with contextlib.suppress(InvalidRequirement):
            req = Requirement(m.group(3))
            canon = canonicalize_name(req.name)
            if canon in protected:
                mine = env.interpreter.installed.get(canon)
                uses = (f"the job uses the launcher's {mine.name} {mine.version}"
                        if mine and mine.version else "a job never installs it")
                return f"{m.group(1)} {m.group(2)} depends on {req}, but {uses}"
    errors = [line for line in lines if line.lower().startswith(("error:", "cause:", "×"))
              and "dependency resolver does not currently" not in line]
    reason = next((e for e in errors if "no matching distribution" in e.lower()), None) \
        or (errors[-1] if errors else (lines[-1] if lines else "no output"))
    reason = re.sub(r"^(ERROR|error|cause):\s*", "", reason)
    failed = next((r for r in plan.requirements if _names(r, reason)), None)
    return f"installing {failed} failed: {reason}" if failed else f"install failed: {reason}"


def _names(requirement: str, text: str) -> bool:
    try:
        name = canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement in text
    words = {canonicalize_name(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", text)}
    return name in words
