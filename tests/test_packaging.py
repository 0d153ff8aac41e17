"""The code package: deterministic, content-addressed, without secrets, safe to extract."""

from __future__ import annotations

import io
import os
import tarfile
import time

import pytest

from launcher.errors import PackagingError
from launcher.job.packaging import package_source, safe_extract


def make_tree(root):
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('hi')\n")
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    for secret in (".env", "id_rsa", "server.pem", "creds.key"):
        (root / secret).write_text("secret")
    for d in (".git", ".aws", "__pycache__", ".venv", "myenv"):
        (root / d).mkdir()
        (root / d / "x").write_text("x")
    (root / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")
    return root


def test_same_content_same_bytes_and_name(tmp_path):
    src = make_tree(tmp_path / "src")
    a = package_source(src, tmp_path / "out1")
    time.sleep(0.01)
    os.utime(src / "train.py")  # mtimes do not matter
    b = package_source(src, tmp_path / "out2")
    assert a.sha256 == b.sha256 and a.path.name == b.path.name == f"sourcedir-{a.sha256[:12]}.tar.gz"
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.files == ("pkg/mod.py", "train.py")
    (src / "train.py").write_text("print('changed')\n")
    assert package_source(src, tmp_path / "out3").sha256 != a.sha256


def test_symlink_inside_is_stored_as_its_file_and_escaping_link_is_refused(tmp_path):
    src = make_tree(tmp_path / "src")
    (src / "alias.py").symlink_to(src / "train.py")
    pkg = package_source(src, tmp_path / "out")
    assert "alias.py" in pkg.files
    outside = tmp_path / "outside.txt"
    outside.write_text("nope")
    (src / "leak.txt").symlink_to(outside)
    with pytest.raises(PackagingError, match="outside the source dir"):
        package_source(src, tmp_path / "out2")


@pytest.mark.parametrize("name", ["../evil.py", "/abs/evil.py", "a/../../evil.py"])
def test_extraction_refuses_path_escapes(tmp_path, name):
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PackagingError, match="unsafe path"):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "evil.py").exists()


def test_extraction_refuses_links(tmp_path):
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(PackagingError, match="link"):
        safe_extract(archive, tmp_path / "dest")


def test_round_trip(tmp_path):
    src = make_tree(tmp_path / "src")
    pkg = package_source(src, tmp_path / "out")
    names = safe_extract(pkg.path, tmp_path / "code")
    assert sorted(names) == ["pkg/mod.py", "train.py"]
    assert (tmp_path / "code" / "pkg" / "mod.py").read_text() == "X = 1\n"
