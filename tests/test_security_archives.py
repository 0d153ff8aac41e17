"""Archive extraction cannot write outside its target (issue #14, item 1).

The CVE-2025-4517 technique (a chain of symlinks longer than PATH_MAX, then a hard link through it)
defeats `tarfile`'s `filter="data"` on Python 3.11.7; `launcher.job.archives` never creates links
or resolves paths on disk, checks every header before writing, extracts beside the target and moves
into place only when everything succeeded. Every archive the launcher reads goes through it: code
packages, `launch download --extract` (local and cloud), the drill's model archives.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

import boto3
import pytest

from launcher.backends.base import JobDescription, JobStatus
from launcher.backends.local.store import JobStore
from launcher.cli.main import main
from launcher.errors import PackagingError
from launcher.job.archives import ArchiveError, ArchiveLimits, check_archive, extract_archive
from launcher.job.packaging import safe_extract

VICTIM_TEXT = "original\n"


def _file(name: str, data: bytes = b"x", **attrs: object) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


def _dir(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o777
    return info, b""


def write_archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def cve_2025_4517_members(victim_name: str = "victim.txt") -> list[tuple[tarfile.TarInfo, bytes]]:
    """The published technique: 16 levels of 247-character directories, each reached through a
    one-letter symlink, so `a/b/…/p/lll…` is longer than PATH_MAX and realpath stops resolving; a
    symlink there points back up; `escape` goes two levels above the target through it; a hard link
    to escape/<victim> is then overwritten as a regular file."""
    comp = "d" * 247
    steps = "abcdefghijklmnop"
    members: list[tuple[tarfile.TarInfo, bytes]] = []
    path = ""
    for step in steps:
        members.append(_dir(os.path.join(path, comp)))
        members.append(_link(os.path.join(path, step), comp))
        path = os.path.join(path, comp)
    linkpath = os.path.join(*steps, "l" * 254)
    members.append(_link(linkpath, os.path.join(*[".."] * len(steps))))
    members.append(_link("escape", linkpath + "/../.."))
    members.append(_link("flaglink", f"escape/{victim_name}", tarfile.LNKTYPE))
    members.append(_file("flaglink", b"overwritten\n"))
    return members


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    """(target, victim): the victim file lies two levels above the extraction target."""
    target = tmp_path / "a" / "b" / "dest"
    target.parent.mkdir(parents=True)
    victim = tmp_path / "a" / "victim.txt"
    victim.write_text(VICTIM_TEXT)
    return target, victim


def _untouched(target: Path, victim: Path) -> None:
    assert victim.read_text() == VICTIM_TEXT
    assert not target.exists()
    leftovers = [p.name for p in target.parent.iterdir()]
    assert leftovers == [], leftovers  # no temporary extraction directory left behind


def test_the_crafted_archive_defeats_the_stdlib_data_filter_of_this_python(tmp_path, layout):
    """Not a test of the launcher: it shows the archive is a real attack where the stdlib is unpatched."""
    target, victim = layout
    archive = write_archive(tmp_path / "evil.tar", cve_2025_4517_members(), mode="w")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")
    except tarfile.TarError:
        pytest.skip("this Python's tarfile has the CVE-2025-4517 fix")
    if victim.read_text() == VICTIM_TEXT:
        pytest.skip("this Python's tarfile has the CVE-2025-4517 fix")
    assert victim.read_text() == "overwritten\n"


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_cve_2025_4517_archive_is_refused_and_nothing_is_written(tmp_path, layout, mode):
    target, victim = layout
    archive = write_archive(tmp_path / "evil.tar", cve_2025_4517_members(), mode=mode)
    with pytest.raises(ArchiveError, match="refused archive evil.tar") as err:
        extract_archive(archive, target)
    assert "\n" not in str(err.value)
    _untouched(target, victim)


CRAFTED = {
    "absolute path": [_file("/tmp/launcher-absolute-evil")],
    "parent traversal": [_file("../victim.txt", b"overwritten\n")],
    "traversal inside a path": [_file("ok/../../victim.txt", b"overwritten\n")],
    "symlink out, then a write through it": [_link("out", "../.."), _file("out/victim.txt")],
    "absolute symlink": [_link("passwd", "/etc/passwd")],
    "hard link out": [_link("h", "../../victim.txt", tarfile.LNKTYPE), _file("h", b"overwritten\n")],
    "symlink to a directory": [_dir("real"), _link("alias", "real"), _file("alias/f")],
    "character device": [(tarfile.TarInfo("dev"), b"")],
    "fifo": [(tarfile.TarInfo("fifo"), b"")],
    "the same name twice": [_file("model.pt", b"a"), _file("model.pt", b"b")],
    "a file under a file": [_file("model.pt"), _file("model.pt/x")],
    "a link to nothing": [_link("dangling", "missing.pt")],
}
CRAFTED["character device"][0][0].type = tarfile.CHRTYPE
CRAFTED["fifo"][0][0].type = tarfile.FIFOTYPE


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_archives_are_refused_before_anything_is_written(tmp_path, layout, case):
    target, victim = layout
    # Valid members first: a partial extraction would leave them behind.
    members = [_file("weights.bin", b"w" * 100), *CRAFTED[case]]
    archive = write_archive(tmp_path / "crafted.tar.gz", members)
    with pytest.raises(ArchiveError) as err:
        extract_archive(archive, target)
    assert str(err.value).startswith("refused archive crafted.tar.gz: ")
    _untouched(target, victim)
    assert not Path("/tmp/launcher-absolute-evil").exists()


def test_limits_on_members_and_bytes_are_checked_from_the_headers(tmp_path, layout):
    target, victim = layout
    many = write_archive(tmp_path / "many.tar.gz", [_file(f"f{i}") for i in range(11)])
    with pytest.raises(ArchiveError, match="more than 10 members"):
        extract_archive(many, target, ArchiveLimits(max_members=10))
    # A compression bomb: 8 MB of zeros compress to a few kB; refused before a byte is written.
    bomb = write_archive(tmp_path / "bomb.tar.gz", [_file("zeros", bytes(8_000_000))])
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="exceed 1,000,000 bytes"):
        extract_archive(bomb, target, ArchiveLimits(max_total_bytes=1_000_000))
    _untouched(target, victim)


def test_unreadable_archive_is_one_line(tmp_path, layout):
    target, victim = layout
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ArchiveError, match="cannot read archive junk.tar.gz"):
        extract_archive(junk, target)
    _untouched(target, victim)


def test_links_inside_the_archive_become_copies(tmp_path):
    archive = write_archive(tmp_path / "ok.tar.gz", [
        _dir("sub"), _file("sub/model.pt", b"weights", mode=0o755),
        _link("alias.pt", "sub/model.pt"), _link("sub/again.pt", "model.pt"),
        _link("hard.pt", "sub/model.pt", tarfile.LNKTYPE), _link("chain.pt", "alias.pt"),
    ])
    names = extract_archive(archive, tmp_path / "out")
    assert names == ["sub", "sub/model.pt", "alias.pt", "sub/again.pt", "hard.pt", "chain.pt"]
    for rel in ("alias.pt", "sub/again.pt", "hard.pt", "chain.pt"):
        path = tmp_path / "out" / rel
        assert not path.is_symlink() and path.read_bytes() == b"weights"
        assert path.stat().st_ino != (tmp_path / "out" / "sub" / "model.pt").stat().st_ino
    assert os.access(tmp_path / "out" / "sub" / "model.pt", os.X_OK)


def test_existing_target_keeps_its_files_and_a_link_in_it_is_not_followed(tmp_path):
    archive = write_archive(tmp_path / "ok.tar.gz", [_file("sub/new.txt", b"new"), _file("top.txt", b"1")])
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / "keep.txt").write_text("mine")
    (target / "top.txt").write_text("old")
    extract_archive(archive, target)
    assert (target / "keep.txt").read_text() == "mine"
    assert (target / "top.txt").read_text() == "1" and (target / "sub" / "new.txt").read_text() == "new"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(target / "sub")
    (target / "sub").symlink_to(elsewhere)
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract_archive(archive, target)
    assert list(elsewhere.iterdir()) == []
    assert (target / "top.txt").read_text() == "1"  # all or nothing: not even the safe member
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "ok.tar.gz", "out"]


def test_check_archive_reads_headers_only(tmp_path):
    archive = write_archive(tmp_path / "ok.tar.gz", [_file("a"), _file("b/c")])
    assert check_archive(archive) == ["a", "b/c"]
    with pytest.raises(ArchiveError):
        check_archive(write_archive(tmp_path / "bad.tar", cve_2025_4517_members(), mode="w"))


def test_code_package_extraction_refuses_the_cve_archive(tmp_path, layout):
    target, victim = layout
    archive = write_archive(tmp_path / "sourcedir-evil.tar.gz", cve_2025_4517_members())
    with pytest.raises(PackagingError, match="refused archive"):
        safe_extract(archive, target)
    _untouched(target, victim)


def _local_job_with_artifact(home: Path, name: str, archive: Path) -> None:
    job = JobStore(home / "jobs").create(name)
    job.save(JobDescription(name=name, backend="local", status=JobStatus.COMPLETED,
                            artifacts={"model": str(archive)}))


def test_local_download_extract_refuses_in_one_line(cli_env, tmp_path):
    to = tmp_path / "dl" / "x" / "to"
    to.mkdir(parents=True)
    victim = to.parent / "victim.txt"  # two levels above the target, to/model
    victim.write_text(VICTIM_TEXT)
    archive = write_archive(tmp_path / "model.tar.gz", cve_2025_4517_members())
    _local_job_with_artifact(cli_env.home, "evil-job", archive)
    rc = main(["download", "evil-job", "--local", "--extract", "--to", str(to)], cli_env)
    assert rc == 1
    lines = cli_env.err.splitlines()
    assert lines[0].startswith("error: refused archive model.tar.gz: ")
    assert "Traceback" not in cli_env.err and len(lines) <= 2
    assert victim.read_text() == VICTIM_TEXT
    assert sorted(p.name for p in to.iterdir()) == ["model.tar.gz"]  # downloaded, not extracted


def test_cloud_download_extract_refuses(aws, tmp_path):
    from launcher.backends.sagemaker.backend import make_sagemaker_backend
    from launcher.config.spec import Aws
    from tests.sagemaker_helpers import BUCKET, REGION, ROLE
    from tests.test_sagemaker_jobs import create_job

    backend = make_sagemaker_backend(Aws(region=REGION, role=ROLE, bucket=BUCKET))
    create_job("evil")
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    archive = write_archive(tmp_path / "model.tar.gz", cve_2025_4517_members())
    s3.put_object(Bucket=BUCKET, Key="launcher/output/evil/output/model.tar.gz", Body=archive.read_bytes())
    out = tmp_path / "x" / "y" / "out"
    out.parent.mkdir(parents=True)
    victim = out.parent / "victim.txt"  # two levels above the target, out/model
    victim.write_text(VICTIM_TEXT)
    with pytest.raises(ArchiveError, match="refused archive model.tar.gz"):
        backend.download("evil", out, extract=True)
    assert victim.read_text() == VICTIM_TEXT
    assert sorted(p.name for p in out.iterdir()) == ["model.tar.gz"]
