"""Code packaging shared by both backends: a deterministic, content-addressed source tarball.

Same input, same bytes: entries sorted, mtimes/owners fixed, gzip header without a timestamp. So the
SHA-256 names the content, and an unchanged project is never uploaded twice.

What is left out, and said so (`SourcePackage.excluded`, each with its reason):

- secrets: the maintained list of credential file and directory names of `launcher.config.secrets`
  (.env*, keys, .npmrc, .git-credentials, .docker/, .kube/, service-account*.json, Terraform state …),
  files of any name holding a private key, and hard links to such a file;
- what the source dir's `.launcherignore` names (gitignore syntax);
- tooling: VCS, virtualenv, cache and editor directories, compiled Python files.

Refused (PackagingError): symlinks that leave the source dir or point to a directory, and hard links
whose other names are not all inside the source dir (one may be ~/.aws/credentials). A file named in
`include` (the spec's `include_files`, `--include-file PATH`) is packaged on purpose despite its name,
its content, `.launcherignore` or its hard links.

Dependency directories (SDK v2's `dependencies`) are packaged beside the source dir's files, each at
the top level under its own name, as the SDK v2's `tar_and_upload_dir` adds them (`arcname` = the
directory's base name), with the same rules applied to their files.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import logging
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from launcher.config.secrets import private_key_in, secret_dir_reason, secret_file_reason
from launcher.errors import PackagingError
from launcher.job.archives import ArchiveError, extract_archive

log = logging.getLogger(__name__)

IGNORE_FILE = ".launcherignore"
TOOLING_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".idea", ".vscode", "node_modules",
})
TOOLING_FILES = ("*.pyc", "*.pyo", ".DS_Store")
EXCLUDED_DIRS = TOOLING_DIRS  # kept for callers of the old name
FIXED_MTIME = 1_577_836_800  # 2020-01-01T00:00:00Z


@dataclass(frozen=True)
class Excluded:
    """A file or directory (ending in '/') left out of the package, and why."""

    path: str
    kind: str    # "secret" | "ignored" (.launcherignore) | "tooling"
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class SourcePackage:
    path: Path           # <dest>/sourcedir-<sha12>.tar.gz
    sha256: str
    files: tuple[str, ...]
    size: int
    excluded: tuple[Excluded, ...] = ()     # what was left out, sorted by path
    included: tuple[str, ...] = ()          # files packaged on purpose despite a rule (include_files)

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    @property
    def secrets_excluded(self) -> tuple[Excluded, ...]:
        return tuple(e for e in self.excluded if e.kind == "secret")

    def exclusions_line(self) -> str | None:
        """One line for a person: the secrets left out (by name) and how many other files."""
        secrets = [e.path for e in self.secrets_excluded]
        others = sum(1 for e in self.excluded if e.kind == "ignored")  # caches and VCS go unsaid
        if not secrets and not others:
            return None
        parts = [f"secret-looking file{'s' if len(secrets) > 1 else ''} {', '.join(secrets[:5])}"
                 + (f" (+{len(secrets) - 5} more)" if len(secrets) > 5 else "")] if secrets else []
        if others:
            parts.append(f"{others} file{'s' if others > 1 else ''} named in .launcherignore")
        return (f"left out of the code package: {'; '.join(parts)} "
                "(--include-file PATH ships one on purpose)")

    def exclusions_summary(self) -> dict[str, Any]:
        """For a dry run or a summary: what was left out and what was included on purpose."""
        return {"excluded": [e.to_dict() for e in self.excluded], "included_on_purpose": list(self.included)}


@dataclass
class SourceScan:
    files: list[tuple[str, Path]] = field(default_factory=list)   # (archive name, real path), sorted
    excluded: list[Excluded] = field(default_factory=list)
    included: list[str] = field(default_factory=list)


def _normalise_includes(include: Iterable[str]) -> set[str]:
    out = set()
    for item in include:
        rel = PurePosixPath(item.replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise PackagingError(f"include file {item!r} must be a path relative to the source dir",
                                 "name it as it lies in the source dir, e.g. --include-file config/key.json")
        out.add(rel.as_posix())
    return out


def _ignore_spec(root: Path) -> Any:
    path = root / IGNORE_FILE
    if not path.is_file():
        return None
    import pathspec

    try:
        return pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8").splitlines())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PackagingError(f"cannot read {path}: {e}", f"fix {IGNORE_FILE} (gitignore syntax)") from None


def _dir_exclusion(rel: Path, path: Path, ignore: Any) -> Excluded | None:
    name, posix = rel.name, rel.as_posix()
    if name in TOOLING_DIRS or (path / "pyvenv.cfg").exists():
        return Excluded(posix + "/", "tooling", "VCS, virtualenv, cache or editor directory")
    if (reason := secret_dir_reason(name)) is not None or posix.endswith(".config/gcloud"):
        return Excluded(posix + "/", "secret", reason or "Google Cloud credentials directory")
    if ignore is not None and ignore.match_file(posix + "/"):
        return Excluded(posix + "/", "ignored", f"matched by {IGNORE_FILE}")
    return None


def _file_exclusion(rel: str, ignore: Any) -> Excluded | None:
    name = PurePosixPath(rel).name
    if any(fnmatch.fnmatchcase(name, pat) for pat in TOOLING_FILES):
        return Excluded(rel, "tooling", "compiled or system file")
    if (reason := secret_file_reason(name)) is not None:
        return Excluded(rel, "secret", reason)
    if ignore is not None and ignore.match_file(rel):
        return Excluded(rel, "ignored", f"matched by {IGNORE_FILE}")
    return None


def _path_exclusion(rel: str, root: Path, ignore: Any) -> Excluded | None:
    """The rule that leaves out `rel` (a file) or one of its directories, if any."""
    parts = PurePosixPath(rel).parts
    for i in range(1, len(parts)):
        if (hit := _dir_exclusion(Path(*parts[:i]), root.joinpath(*parts[:i]), ignore)) is not None:
            return hit
    return _file_exclusion(rel, ignore)


def scan_source(source_dir: Path, include: Iterable[str] = ()) -> SourceScan:
    """Every file to package (sorted), what is left out and why; refuses escaping links."""
    root = source_dir.resolve()
    if not root.is_dir():
        raise PackagingError(f"source dir {source_dir} is not a directory")
    wanted = _normalise_includes(include)
    ignore = _ignore_spec(root)
    scan = SourceScan()
    kept: dict[str, Path] = {}
    inodes: dict[tuple[int, int], list[str]] = {}   # every regular file walked, kept or excluded
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept_dirs = []
        for d in sorted(dirnames):
            if (here / d).is_symlink():
                filenames.append(d)  # handled (and checked) as a link below
                continue
            if (hit := _dir_exclusion((here / d).relative_to(root), here / d, ignore)) is not None:
                scan.excluded.append(hit)
                continue
            kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for f in sorted(filenames):
            path = here / f
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            hit = _file_exclusion(rel, ignore)
            if hit is not None and rel not in wanted:
                scan.excluded.append(hit)
                continue
            if stat.S_ISLNK(st.st_mode):
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise PackagingError(
                        f"symlink {rel} points outside the source dir ({target})",
                        "copy the file into the source dir or remove the link",
                    )
                if target.is_dir():
                    raise PackagingError(f"symlink {rel} points to a directory", "replace it by the files")
                inner = target.relative_to(root).as_posix()
                if rel not in wanted and (why := _path_exclusion(inner, root, ignore)) is not None:
                    scan.excluded.append(Excluded(rel, why.kind, f"link to {inner}: {why.reason}"))
                    continue
                path = target
            if path.is_file():
                kept[rel] = path
    _check_hard_links(kept, inodes, wanted, scan)
    for name in sorted(wanted - set(kept)):
        kept[name] = _included_outside_walk(root, name)
    scan.included = sorted(rel for rel in wanted if rel in kept)
    scan.files = sorted(kept.items())
    return scan


def _check_hard_links(kept: dict[str, Path], inodes: dict[tuple[int, int], list[str]],
                      wanted: set[str], scan: SourceScan) -> None:
    """A file with more names than the source dir shows may be another name of ~/.aws/credentials."""
    secret = {e.path for e in scan.excluded if e.kind == "secret"}
    for rel in sorted(kept):
        st = kept[rel].stat()
        if st.st_nlink <= 1 or rel in wanted:
            continue
        twins = inodes.get((st.st_dev, st.st_ino), [])
        if st.st_nlink > len(twins):
            raise PackagingError(
                f"{rel} is a hard link with {st.st_nlink} names, {len(twins)} of them in the source dir: "
                "another may be a file outside it (such as ~/.aws/credentials)",
                f"replace it by a copy (cp {rel} {rel}.copy && mv {rel}.copy {rel}), or package it on "
                f"purpose with --include-file {rel}",
            )
        if (leaked := next((t for t in twins if t in secret), None)) is not None:
            del kept[rel]
            scan.excluded.append(Excluded(rel, "secret", f"hard link to {leaked}, which is left out"))


def _included_outside_walk(root: Path, rel: str) -> Path:
    """A file named with --include-file that lies in a directory the walk leaves out."""
    path = root / rel
    if not path.exists():
        raise PackagingError(f"include file {rel} is not in the source dir {root}",
                             "name it relative to the source dir")
    target = path.resolve()
    if not target.is_relative_to(root):
        raise PackagingError(f"include file {rel} points outside the source dir ({target})",
                             "copy the file into the source dir")
    if not target.is_file():
        raise PackagingError(f"include file {rel} is not a regular file", "name files, not directories")
    return target


def scan_with_dependencies(source_dir: Path, include: Iterable[str] = (),
                           dependencies: Iterable[Path] = ()) -> SourceScan:
    """`scan_source` of the source dir, plus each dependency directory's files under `<name>/`."""
    scan = scan_source(source_dir, include)
    top = {PurePosixPath(name).parts[0] for name, _ in scan.files}
    for dep in dependencies:
        if dep.name in top:
            raise PackagingError(f"dependency {dep} would land on {dep.name!r} of the source dir",
                                 "rename the directory or that entry of the source dir")
        top.add(dep.name)
        extra = scan_source(dep)
        scan.files += [(f"{dep.name}/{name}", path) for name, path in extra.files]
        scan.excluded += [Excluded(f"{dep.name}/{e.path}", e.kind, e.reason) for e in extra.excluded]
    scan.files.sort()
    return scan


def preview_source(source_dir: Path, include: Iterable[str] = (),
                   dependencies: Iterable[Path] = ()) -> SourceScan:
    """What `package_source` would package and leave out, content checks included; writes nothing
    (for a dry run or a summary: `scan.excluded` with reasons, `scan.included`)."""
    scan = scan_with_dependencies(source_dir, include, dependencies)
    wanted = set(scan.included)
    kept = []
    for name, path in scan.files:
        if name not in wanted and (kind := private_key_in(path.read_bytes())) is not None:
            scan.excluded.append(Excluded(name, "secret", f"holds a private key ({kind})"))
        else:
            kept.append((name, path))
    scan.files = kept
    scan.excluded.sort(key=lambda e: e.path)
    return scan


def collect_files(source_dir: Path, include: Iterable[str] = ()) -> list[tuple[str, Path]]:
    """(archive name, real path) of every file to package, sorted; refuses escaping links."""
    return scan_source(source_dir, include).files


def build_tarball(files: list[tuple[str, Path]]) -> bytes:
    """The deterministic .tar.gz of (archive name, path) pairs."""
    return _tarball([(name, path.read_bytes(), os.access(path, os.X_OK)) for name, path in files])


def _tarball(items: list[tuple[str, bytes, bool]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, executable in items:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o755 if executable else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def package_source(source_dir: Path, dest_dir: Path, include: Iterable[str] = (),
                   dependencies: Iterable[Path] = ()) -> SourcePackage:
    """Write `sourcedir-<sha12>.tar.gz` into dest_dir (reused when it already exists).

    `include`: paths relative to the source dir packaged on purpose (the spec's `include_files`);
    `dependencies`: directories packaged at the top level under their own names.
    """
    scan = scan_with_dependencies(source_dir, include, dependencies)
    wanted = set(scan.included)
    items: list[tuple[str, bytes, bool]] = []
    for name, path in scan.files:
        data = path.read_bytes()
        if name not in wanted and (kind := private_key_in(data)) is not None:
            scan.excluded.append(Excluded(name, "secret", f"holds a private key ({kind})"))
            continue
        items.append((name, data, os.access(path, os.X_OK)))
    excluded = tuple(sorted(scan.excluded, key=lambda e: e.path))
    for e in excluded:
        if e.kind == "secret":
            log.warning("left out of the code package: %s (%s)", e.path, e.reason)
    for name in scan.included:
        log.warning("packaged on purpose (include_files): %s", name)
    if not items:
        raise PackagingError(f"source dir {source_dir} has no files to package")
    blob = _tarball(items)
    digest = hashlib.sha256(blob).hexdigest()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"sourcedir-{digest[:12]}.tar.gz"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    log.info("packaged %d files from %s into %s (%d bytes; %d left out)", len(items), source_dir, path,
             len(blob), len(excluded))
    return SourcePackage(path, digest, tuple(n for n, _, _ in items), len(blob), excluded,
                         tuple(scan.included))


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Extract a code package into `dest`, all or nothing (launcher.job.archives): unsafe paths, links
    out of the archive and special files are refused before anything is written."""
    try:
        return extract_archive(archive, dest)
    except ArchiveError as e:
        raise PackagingError(e.message, e.remedy) from None
