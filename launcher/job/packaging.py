"""Code packaging shared by both backends: a deterministic, content-addressed source tarball.

Same input, same bytes: entries sorted, mtimes/owners fixed, gzip header without a timestamp. So the
SHA-256 names the content, and an unchanged project is never uploaded twice. Secrets-looking files,
VCS and virtualenv directories are left out; symlinks inside the tree are stored as the files they
point to, symlinks that escape it are refused.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import logging
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from launcher.errors import PackagingError

log = logging.getLogger(__name__)

EXCLUDED_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".tox", ".nox", ".mypy_cache",
    ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".aws", ".ssh", ".idea", ".vscode",
    "node_modules",
})
EXCLUDED_FILES = (
    "*.pyc", "*.pyo", ".DS_Store", ".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa*",
    "id_ed25519*", "id_ecdsa*", "id_dsa*", ".netrc", ".pypirc", "credentials", "*.tfstate",
)
FIXED_MTIME = 1_577_836_800  # 2020-01-01T00:00:00Z


@dataclass(frozen=True)
class SourcePackage:
    path: Path           # <dest>/sourcedir-<sha12>.tar.gz
    sha256: str
    files: tuple[str, ...]
    size: int

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def _excluded(rel: Path, is_dir: bool) -> bool:
    if is_dir:
        return rel.name in EXCLUDED_DIRS
    return any(fnmatch.fnmatch(rel.name, pat) for pat in EXCLUDED_FILES)


def collect_files(source_dir: Path) -> list[tuple[str, Path]]:
    """(archive name, real path) of every file to package, sorted; refuses escaping symlinks."""
    root = source_dir.resolve()
    if not root.is_dir():
        raise PackagingError(f"source dir {source_dir} is not a directory")
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            rel = (here / d).relative_to(root)
            if _excluded(rel, True) or (here / d / "pyvenv.cfg").exists():
                log.debug("excluded directory %s", rel)
                continue
            if (here / d).is_symlink():
                filenames.append(d)  # handled (and checked) as a link below
                continue
            kept.append(d)
        dirnames[:] = kept
        for f in filenames:
            path = here / f
            rel = path.relative_to(root)
            if _excluded(rel, False):
                log.debug("excluded file %s", rel)
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise PackagingError(
                        f"symlink {rel} points outside the source dir ({target})",
                        "copy the file into the source dir or remove the link",
                    )
                if target.is_dir():
                    raise PackagingError(f"symlink {rel} points to a directory", "replace it by the files")
                path = target
            if path.is_file():
                found.append((rel.as_posix(), path))
    return sorted(found)


def build_tarball(files: list[tuple[str, Path]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = FIXED_MTIME
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def package_source(source_dir: Path, dest_dir: Path) -> SourcePackage:
    """Write `sourcedir-<sha12>.tar.gz` into dest_dir (reused when it already exists)."""
    files = collect_files(source_dir)
    if not files:
        raise PackagingError(f"source dir {source_dir} has no files to package")
    blob = build_tarball(files)
    digest = hashlib.sha256(blob).hexdigest()
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"sourcedir-{digest[:12]}.tar.gz"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
    log.info("packaged %d files from %s into %s (%d bytes)", len(files), source_dir, path, len(blob))
    return SourcePackage(path, digest, tuple(n for n, _ in files), len(blob))


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Extract a source tarball, refusing absolute paths, `..`, links and special files."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    names: list[str] = []
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            target = (root / m.name).resolve()
            if Path(m.name).is_absolute() or ".." in Path(m.name).parts or not target.is_relative_to(root):
                raise PackagingError(f"archive {archive.name} has an unsafe path {m.name!r}")
            if not (m.isfile() or m.isdir()):
                raise PackagingError(f"archive {archive.name} has a link or special file {m.name!r}")
            names.append(m.name)
        tar.extractall(root, members=members, filter="data")
    return names
