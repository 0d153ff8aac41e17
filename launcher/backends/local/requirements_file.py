"""A job's requirements file read as a local run installs it (docs/requirements.md).

The file's lines go to the installer with three changes: a line naming a protected package (torch,
the packages that pin it, the launcher's own dependencies) is not obeyed, since the job shares the
launcher's copies; local paths (`-r`, `-c`, `-e`, a project directory or an archive) must lie in the
source dir, as in the container, and are made absolute; `-e` of a local project installs a copy,
since the environment is shared by later jobs. What identifies the result (`fingerprint`) names
local paths relative to the source dir, with a digest of their content, so the same source dir
staged for another job reuses the same environment.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from launcher.errors import SpecError

TORCH_FAMILY = ("torch", "torchvision", "torchaudio", "triton")
# A constraint no release satisfies: pip then refuses to install the package as a dependency.
NEVER = "never-installed-per-job"

_COMMENT = re.compile(r"(^|\s+)#.*$")
_REQ_OPTIONS = re.compile(r"\s+(?=--?[A-Za-z])")  # `name==1.0 --hash=sha256:…`
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://|^(git|hg|svn|bzr)\+")
_NAMED_URL = re.compile(r"^[A-Za-z0-9._-]+\s*(\[[^\]]*\])?\s*@")  # `name @ url`
_SKIP_DIRS = {"__pycache__", ".git", "build", "dist"}


def protected_names(launcher_requires: list[str] | None) -> dict[str, str]:
    """Canonical name → why a job never installs it. `launcher_requires` is
    `importlib.metadata.requires("launcher")`: its unconditional entries are the launcher's own."""
    names: dict[str, str] = {canonicalize_name(n): "torch and the packages that pin it are the launcher's"
             for n in TORCH_FAMILY}
    for text in launcher_requires or []:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            names.setdefault(canonicalize_name(req.name), "the launcher itself needs it")
    names.setdefault("launcher", "the launcher itself")
    return names


@dataclass(frozen=True)
class Installed:
    """A protected package as the launcher's interpreter has it (None: it has none)."""

    name: str
    version: str | None


@dataclass
class RequirementsPlan:
    file: str                                                  # as named, relative to the source dir
    lines: list[str] = field(default_factory=list)             # for the installer: paths absolute
    requirements: list[str] = field(default_factory=list)      # the requirement lines among them
    constraints: list[str] = field(default_factory=list)       # from the file's own `-c` files
    skipped: list[str] = field(default_factory=list)           # protected lines not obeyed: warnings
    provided: list[str] = field(default_factory=list)          # protected lines the launcher satisfies
    notes: list[str] = field(default_factory=list)             # changes the user should know of
    fingerprint: list[str] = field(default_factory=list)       # the lines, paths relative + digests
    protected_pins: list[str] = field(default_factory=list)    # pip constraints holding what is shared


def read_plan(root: Path, name: str, protected: Mapping[str, str],
              installed: Mapping[str, Installed]) -> RequirementsPlan:
    """Read `name` (relative to the source dir `root`) and the files it includes."""
    plan = RequirementsPlan(file=name)
    _Reader(root.resolve(), protected, installed, plan).read(root / name, constraint=False, seen=())
    for canon in sorted(protected):
        have = installed.get(canon)
        plan.protected_pins.append(f"{have.name}=={have.version}" if have and have.version
                                   else f"{canon}==={NEVER}")
    return plan


class _Reader:
    def __init__(self, root: Path, protected: Mapping[str, str], installed: Mapping[str, Installed],
                 plan: RequirementsPlan) -> None:
        self.root, self.protected, self.installed, self.plan = root, protected, installed, plan

    def rel(self, path: Path) -> str:
        return str(path.resolve().relative_to(self.root))

    def read(self, path: Path, *, constraint: bool, seen: tuple[Path, ...]) -> None:
        real = path.resolve()
        if real in seen:
            raise SpecError(f"{self.rel(path)} includes itself", "remove the -r/-c loop")
        try:
            text = real.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError(f"cannot read requirements file {self.rel(path)}: {e}") from None
        for number, line in _logical_lines(text):
            where = f"{self.rel(path)} line {number}"
            if line.startswith("-"):
                self.option(line, real.parent, where, constraint, (*seen, real))
            else:
                self.requirement(line, real.parent, self.rel(path), where, constraint)

    def inside(self, base: Path, value: str, where: str, what: str) -> Path:
        path = (base / os.path.expanduser(value)).resolve()
        if not path.is_relative_to(self.root):
            raise SpecError(f"{where}: {what} {value} is outside the source dir",
                            "copy it into the source dir: the training container has only that")
        if not path.exists():
            raise SpecError(f"{where}: {what} {value} not found in the source dir")
        return path

    def option(self, line: str, base: Path, where: str, constraint: bool,
               seen: tuple[Path, ...]) -> None:
        match = re.match(r"^(--[A-Za-z][\w-]*)(?:\s*=\s*|\s+)?(.*)$", line) or \
            re.match(r"^(-[A-Za-z])\s*(.*)$", line)
        opt, value = (match.group(1), match.group(2).strip()) if match else (line, "")
        if opt in ("-r", "--requirement", "-c", "--constraint"):
            if _URL.match(value):
                raise SpecError(f"{where}: {opt} {value} is not a file in the source dir",
                                "download it into the source dir and name it there")
            path = self.inside(base, value, where, opt)
            self.read(path, constraint=constraint or opt in ("-c", "--constraint"), seen=seen)
        elif opt in ("-e", "--editable"):
            if _URL.match(value):
                self.add(f"-e {value}", f"-e {value}", value, constraint)
                return
            path = self.inside(base, value, where, opt)
            self.plan.notes.append(f"{where}: -e {value} installs a copy (the environment is "
                                   "shared with later jobs); edits to it need a new run")
            self.add(str(path), f"{self.rel(path)} sha256={tree_digest(path)}", value, constraint)
        elif opt in ("-f", "--find-links") and value and not _URL.match(value):
            path = (base / os.path.expanduser(value)).resolve()
            if not path.exists():  # pip ignores a missing location; say so up front
                raise SpecError(f"{where}: {opt} {value} not found")
            shown = (f"{self.rel(path)} {listing_digest(path)}" if path.is_relative_to(self.root)
                     else str(path))
            self.plan.lines.append(f"{opt} {path}")
            self.plan.fingerprint.append(f"{opt} {shown}")
        else:  # --index-url, --no-index, --pre, --trusted-host, …: the installer's own
            text = f"{opt} {value}".strip()
            self.plan.lines.append(text)
            self.plan.fingerprint.append(text)

    def requirement(self, line: str, base: Path, file: str, where: str, constraint: bool) -> None:
        spec, *extra = _REQ_OPTIONS.split(line, maxsplit=1)
        tail = f" {extra[0]}" if extra else ""
        if _looks_like_path(spec, base):
            path = self.inside(base, spec, where, "path")
            self.add(f"{path}{tail}", f"{self.rel(path)} sha256={tree_digest(path)}{tail}", spec,
                     constraint)
            return
        if _URL.match(spec):  # a VCS or archive URL without a name: the installer reads it
            self.add(line, line, spec, constraint)
            return
        try:
            req = Requirement(spec)
        except InvalidRequirement as e:
            raise SpecError(f"{where}: {spec!r} is not a requirement ({e})",
                            "fix the line; see pip's requirements file format") from None
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            return  # not for this platform or Python: the installer would ignore it too
        canon = canonicalize_name(req.name)
        if canon in self.protected:
            self.protect(req, canon, file)
            return
        self.add(f"{req}{tail}", f"{req}{tail}", str(req), constraint)

    def protect(self, req: Requirement, canon: str, file: str) -> None:
        have = self.installed.get(canon)
        if have is None or have.version is None:
            self.plan.skipped.append(
                f"{file}: {req} not installed: the launcher's environment has no {req.name}, and a "
                f"job never installs it ({self.protected[canon]}); install it there if the job needs it")
        elif req.url:
            self.plan.skipped.append(f"{file}: {req} pinned; the job uses the launcher's "
                                     f"{have.name} {have.version}")
        elif req.specifier.contains(have.version, prereleases=True):
            self.plan.provided.append(f"{req} met by the launcher's {have.name} {have.version}")
        else:
            self.plan.skipped.append(f"{file}: {req} pinned; the job uses the launcher's "
                                     f"{have.name} {have.version}")

    def add(self, line: str, fingerprint: str, shown: str, constraint: bool) -> None:
        if constraint:
            self.plan.constraints.append(line)
            self.plan.fingerprint.append(f"-c {fingerprint}")
        else:
            self.plan.lines.append(line)
            self.plan.requirements.append(shown)
            self.plan.fingerprint.append(fingerprint)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each line that says something: continuations joined, comments
    and blank lines dropped (pip's rules)."""
    out: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line = _COMMENT.sub("", pending + raw).strip()
        pending = ""
        if line:
            out.append((start, " ".join(line.split())))
    if pending and (line := _COMMENT.sub("", pending).strip()):
        out.append((start, " ".join(line.split())))
    return out


def _looks_like_path(spec: str, base: Path) -> bool:
    if _URL.match(spec) or _NAMED_URL.match(spec):
        return False
    if spec.startswith((".", "/", "~")) or spec.endswith(_ARCHIVES):
        return True
    return "/" in spec and (base / spec).exists()


def tree_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files (relative names and bytes), build output aside."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(path.read_bytes())
        return h.hexdigest()[:16]
    for dirpath, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.endswith(".egg-info"))
        for name in sorted(files):
            file = Path(dirpath, name)
            h.update(str(file.relative_to(path)).encode() + b"\0")
            h.update(file.read_bytes())
    return h.hexdigest()[:16]


def listing_digest(path: Path) -> str:
    """sha256 of a find-links directory's names and sizes (a wheel's name carries its version)."""
    entries = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())
    text = "\n".join(f"{p.name} {p.stat().st_size}" for p in entries)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
