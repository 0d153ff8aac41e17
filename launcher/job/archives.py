"""Archive extraction that cannot write outside its target, on any supported Python.

Every tar archive the launcher reads (the code package, `launch download --extract` of local and
cloud jobs, the drill's model archives) goes through :func:`extract_archive`. It does not rely on
`tarfile`'s extraction filters (Python 3.11.7's `filter="data"` is bypassed by a chain of
symlinks longer than PATH_MAX followed by a hard link through it, CVE-2025-4517): nothing the
archive says is ever created on disk as a link, and no path is resolved on disk.

1. Every member header is read and checked before a byte is written: relative names without
   `..`, regular files and directories only (links are accepted only when they resolve, inside the
   archive's own namespace, to a regular file of the archive, and are then written as a copy of that
   file), no device, FIFO or sparse member, no name used twice or as both a file and a directory,
   at most ``max_members`` members and ``max_total_bytes`` bytes in all (and that much free disk).
2. The contents are written into a fresh private directory beside the target
   (`.<target>.<random>.extracting`), files created exclusively (`O_EXCL | O_NOFOLLOW`).
3. Only when all of it succeeded is it moved into place (a rename; an existing target directory
   receives the new entries by rename, and is refused when one of its entries on the way is a
   symbolic link or of the other kind).

Any refusal is one :class:`ArchiveError` line and leaves the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from launcher.errors import ExitStatus, LauncherError

MAX_MEMBERS = 100_000
MAX_TOTAL_BYTES = 100 * 2**30  # 100 GiB
MAX_NAME_BYTES = 4096           # PATH_MAX on Linux
MAX_COMPONENT_BYTES = 255       # NAME_MAX
MAX_LINK_HOPS = 40              # as the kernel's ELOOP limit
COPY_CHUNK = 1 << 20

REMEDY = "nothing was extracted; the archive is kept as downloaded, inspect it with `tar -tvf`"


class ArchiveError(LauncherError):
    """An archive was refused (unsafe or unreadable); nothing was extracted."""

    exit_status = ExitStatus.ERROR


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = MAX_MEMBERS
    max_total_bytes: int = MAX_TOTAL_BYTES


DEFAULT_LIMITS = ArchiveLimits()


@dataclass(frozen=True)
class _Entry:
    index: int          # position in the archive
    name: str           # normalised: relative, '/'-separated, no '.', '..' or empty component
    kind: str           # "file" | "dir" | "symlink" | "hardlink"
    size: int
    mode: int
    mtime: float
    link: str = ""      # symlink: the normalised target path; hardlink: the normalised member name


def _short(name: str, limit: int = 120) -> str:
    return name if len(name) <= limit else name[: limit // 2] + "…" + name[-limit // 2:]


def _refuse(archive: Path, problem: str) -> ArchiveError:
    return ArchiveError(f"refused archive {archive.name}: {problem}", REMEDY)


def _normalise(archive: Path, raw: str, what: str = "member") -> str:
    """A member name as a relative '/'-separated path; ArchiveError when it could escape."""
    if "\x00" in raw:
        raise _refuse(archive, f"{what} name {_short(raw)!r} holds a NUL byte")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise _refuse(archive, f"{what} {_short(raw)!r} has an unsafe path (absolute)")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(archive, f"{what} {_short(raw)!r} has an unsafe path ('..')")
    name = "/".join(parts)
    if len(name.encode()) > MAX_NAME_BYTES or any(len(p.encode()) > MAX_COMPONENT_BYTES for p in parts):
        raise _refuse(archive, f"{what} {_short(raw)!r} has a path too long for this file system")
    return name


def _link_target(archive: Path, member: tarfile.TarInfo, name: str) -> str:
    """The path a link member points to, inside the archive's namespace, or ArchiveError."""
    raw = member.linkname
    if raw.startswith("/"):
        raise _refuse(archive, f"link {_short(name)!r} points to an absolute path {_short(raw)!r}")
    if member.issym():
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), raw))
    else:  # a hard link names another member, relative to the archive root
        joined = posixpath.normpath(raw)
    if joined == ".." or joined.startswith("../") or joined in (".", ""):
        raise _refuse(archive, f"link {_short(name)!r} → {_short(raw)!r} points outside the archive")
    return _normalise(archive, joined, "link target of")


def _scan(archive: Path, tar: tarfile.TarFile, limits: ArchiveLimits) -> tuple[list[_Entry], int]:
    """Read and check every header (no data is read, nothing is written); (entries, total bytes)."""
    entries: list[_Entry] = []
    kinds: dict[str, str] = {}   # every path the archive creates: explicit members and their parents
    count = 0
    while True:
        member = tar.next()
        if member is None:
            break
        count += 1
        if count > limits.max_members:
            raise _refuse(archive, f"more than {limits.max_members:,} members")
        name = _normalise(archive, member.name)
        if member.isdir():
            kind = "dir"
        elif member.issym():
            kind = "symlink"
        elif member.islnk():
            kind = "hardlink"
        elif member.isreg() and not member.issparse():
            kind = "file"
        else:
            raise _refuse(archive, f"member {_short(name)!r} is a special file (device, FIFO or "
                          "sparse file); only regular files and directories are accepted")
        if not name:
            if kind == "dir":
                continue  # the archive's own root ("./")
            raise _refuse(archive, f"member {member.name!r} has no name")
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if (above := kinds.get(parent, "dir")) != "dir":
                what = "a link" if above in ("symlink", "hardlink") else "a file"
                raise _refuse(archive, f"member {_short(name)!r} lies under {_short(parent)!r}, "
                              f"which is {what}, not a directory")
            kinds[parent] = "dir"
        seen = kinds.get(name)
        if seen is not None and not (seen == "dir" and kind == "dir"):
            raise _refuse(archive, f"member {_short(name)!r} appears more than once")
        kinds[name] = kind
        link = _link_target(archive, member, name) if kind in ("symlink", "hardlink") else ""
        entries.append(_Entry(len(entries), name, kind, member.size if kind == "file" else 0,
                              member.mode, member.mtime, link))
    by_name = {e.name: e for e in entries if e.kind != "dir"}
    total = 0
    for entry in entries:
        if entry.kind == "file":
            total += entry.size
        elif entry.kind in ("symlink", "hardlink"):
            total += _resolve(archive, entry, by_name, kinds).size
        if total > limits.max_total_bytes:
            raise _refuse(archive, f"its contents exceed {limits.max_total_bytes:,} bytes")
    return entries, total


def _resolve(archive: Path, entry: _Entry, by_name: dict[str, _Entry], kinds: dict[str, str]) -> _Entry:
    """The regular file a link member stands for, resolved inside the archive; ArchiveError else."""
    current = entry
    for _ in range(MAX_LINK_HOPS):
        target = current.link
        parts = target.split("/")
        for i in range(1, len(parts)):  # the way to the target must be plain directories
            parent = "/".join(parts[:i])
            if kinds.get(parent) != "dir":
                raise _refuse(archive, f"link {_short(entry.name)!r} points through "
                              f"{_short(parent)!r}, which is not a directory of the archive")
        found = by_name.get(target)
        if found is None:
            what = "a directory" if kinds.get(target) == "dir" else "nothing in the archive"
            raise _refuse(archive, f"link {_short(entry.name)!r} → {_short(target)!r} points to {what}; "
                          "links are accepted only to regular files inside the archive")
        if found.kind == "file":
            return found
        current = found
    raise _refuse(archive, f"link {_short(entry.name)!r} starts a chain of more than {MAX_LINK_HOPS} links")


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        raise ArchiveError(f"cannot read archive {archive.name}: {e}", REMEDY) from None


def _copy_member(data: IO[bytes], path: Path, size: int, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as out:
        remaining = size
        while remaining > 0:
            chunk = data.read(min(COPY_CHUNK, remaining))
            if not chunk:
                raise EOFError("unexpected end of data")
            out.write(chunk)
            remaining -= len(chunk)


def _file_mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644


def _set_mtime(path: Path, mtime: float) -> None:
    if 0 <= mtime < 2**33:
        with contextlib.suppress(OSError):
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def _write(archive: Path, entries: list[_Entry], tmp: Path) -> None:
    """Second pass: write each member's data in archive order, then the links as copies."""
    by_name = {e.name: e for e in entries if e.kind != "dir"}
    kinds = _all_kinds(entries)
    with _open(archive) as tar:
        index = 0
        while True:
            member = tar.next()
            if member is None:
                break
            name = _normalise(archive, member.name)
            if not name and member.isdir():
                continue
            if index >= len(entries) or entries[index].name != name:
                raise _refuse(archive, "it changed while it was being extracted")
            entry = entries[index]
            index += 1
            path = tmp / entry.name
            if entry.kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
            elif entry.kind == "file":
                if member.size != entry.size:
                    raise _refuse(archive, "it changed while it was being extracted")
                path.parent.mkdir(parents=True, exist_ok=True)
                data = tar.extractfile(member)
                if data is None:
                    raise _refuse(archive, f"member {_short(name)!r} has no data")
                _copy_member(data, path, entry.size, _file_mode(entry.mode))
                _set_mtime(path, entry.mtime)
        if index != len(entries):
            raise _refuse(archive, "it changed while it was being extracted")
    for e in entries:
        if e.kind in ("symlink", "hardlink"):
            source = _resolve(archive, e, by_name, kinds)
            path = tmp / e.name
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp / source.name, "rb") as data:
                _copy_member(data, path, source.size, _file_mode(source.mode))
            _set_mtime(path, source.mtime)


def _conflicts(tmp: Path, dest: Path) -> str | None:
    """Why the extracted tree cannot be moved into an existing `dest`, or None."""
    for root, dirs, files in os.walk(tmp):
        rel = Path(root).relative_to(tmp)
        for name in dirs + files:
            there = dest / rel / name
            if not os.path.lexists(there):
                if name in dirs:
                    dirs.remove(name)  # moved whole: nothing below it can clash
                continue
            if there.is_symlink():
                return f"{there} is a symbolic link; extraction does not write through links"
            if name in dirs and not there.is_dir():
                return f"{there} is a file and the archive has a directory there"
            if name in files and there.is_dir():
                return f"{there} is a directory and the archive has a file there"
    return None


def _merge(tmp: Path, dest: Path) -> None:
    for entry in sorted(os.listdir(tmp)):
        src, dst = tmp / entry, dest / entry
        if src.is_dir() and os.path.lexists(dst):
            _merge(src, dst)
        else:
            os.replace(src, dst)


def _move_into_place(archive: Path, tmp: Path, dest: Path) -> None:
    if os.path.lexists(dest) and (dest.is_symlink() or not dest.is_dir()):
        raise _refuse(archive, f"the target {dest} exists and is not a directory")
    os.chmod(tmp, 0o755)
    if not os.path.lexists(dest):
        os.rename(tmp, dest)
        return
    if not any(dest.iterdir()):
        dest.rmdir()
        os.rename(tmp, dest)
        return
    if (problem := _conflicts(tmp, dest)) is not None:
        raise _refuse(archive, problem)
    _merge(tmp, dest)


def check_archive(archive: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[str]:
    """Check every header of `archive` without extracting; the names of its members."""
    with _open(archive) as tar:
        try:
            return [e.name for e in _scan(archive, tar, limits)[0]]
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ArchiveError(f"cannot read archive {archive.name}: {e}", REMEDY) from None


def extract_archive(archive: Path, dest: Path, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[str]:
    """Extract `archive` into the directory `dest` (created if needed), all or nothing.

    Returns the members' names (normalised, in archive order). Raises ArchiveError, with `dest`
    left as it was, when any member is unsafe, the archive is unreadable or too large, or the
    contents cannot be written.
    """
    with _open(archive) as tar:
        try:
            entries, needed = _scan(archive, tar, limits)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ArchiveError(f"cannot read archive {archive.name}: {e}", REMEDY) from None
    if os.path.lexists(dest) and (dest.is_symlink() or not dest.is_dir()):
        raise _refuse(archive, f"the target {dest} exists and is not a directory")
    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(parent).free
    except OSError as e:
        raise ArchiveError(f"cannot extract {archive.name} into {dest}: {e.strerror or e}", REMEDY) from None
    if needed > free:
        raise _refuse(archive, f"its {needed:,} bytes exceed the {free:,} bytes free under {parent}")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".extracting", dir=parent))
    try:
        _write(archive, entries, tmp)
        _move_into_place(archive, tmp, dest)
    except ArchiveError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        detail = getattr(e, "strerror", None) or str(e)
        raise ArchiveError(f"cannot extract {archive.name} into {dest}: {detail}", REMEDY) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [e.name for e in entries]


def _all_kinds(entries: list[_Entry]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for e in entries:
        parts = e.name.split("/")
        for i in range(1, len(parts)):
            kinds["/".join(parts[:i])] = "dir"
        kinds[e.name] = "dir" if e.kind == "dir" else e.kind
    return kinds
