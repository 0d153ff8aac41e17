"""A non-editable install works: the wheel holds the template and the reference entrypoint inside
the launcher's package, installs no top-level `entrypoints`, and the installed `launch` deploys the
infra stack against moto from outside the checkout. No network: the wheel is built without build
isolation and installed with --no-index into a fresh venv that borrows the dev venv's packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.infra_helpers import moto_execute_like_cloudformation

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto")]

SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache",
                              ".pytest_cache", ".ruff_cache")


def test_packages_listed_in_pyproject_are_the_tree() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    inits = (REPO / "launcher").rglob("__init__.py")
    tree = {str(p.parent.relative_to(REPO)).replace("/", ".") for p in inits}
    assert listed == tree | {"launcher.entrypoints"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src") / "launcher"
    shutil.copytree(REPO, src, ignore=SKIP)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "-q", "-w", str(out), str(src)], check=True, timeout=300)
    return next(out.glob("launcher-*.whl"))


def test_wheel_ships_template_and_reference_entrypoint_inside_the_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "launcher/infra/template.yaml" in names
    assert "launcher/entrypoints/train.py" in names
    assert "launcher/entrypoints/metric_definitions.json" in names
    assert any(n.startswith("launcher/datasets/digits/") and n.endswith(".npz") for n in names)
    assert not [n for n in names if n.startswith("entrypoints/")]  # that name belongs to another project


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # Borrow the dev venv's packages (not its editable launcher: a path in a .pth file is added to
    # sys.path, but the .pth files inside it, which install the editable finder, are not run).
    purelib = Path(sysconfig.get_paths()["purelib"])
    fresh_lib = next((venv / "lib").glob("python3*/site-packages"))
    (fresh_lib / "borrowed.pth").write_text(f"{purelib}\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    return venv


def _run(venv: Path, cwd: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "launch"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_installed_launch_deploys_the_stack_from_outside_the_checkout(
        installed: Path, aws: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    moto_execute_like_cloudformation(monkeypatch)  # the moto server runs in this process
    env: dict[str, Any] = {**os.environ, "LAUNCHER_CONFIG": str(tmp_path / "config.toml"),
                           "LAUNCHER_HOME": str(tmp_path / "home"), "PYTHONPATH": ""}
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import launcher, launcher.entrypoints as e; print(launcher.__file__); "
                            "print(e.__file__); import importlib.util as u; "
                            "print(u.find_spec('entrypoints'))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    launcher_file, entry_file, top_level = where.stdout.split()
    assert str(installed) in launcher_file and str(installed) in entry_file
    assert top_level == "None"

    proc = _run(installed, tmp_path, "infra", "deploy", "--yes", "--region", "us-east-1", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "launcher-123456789012-us-east-1" in (tmp_path / "config.toml").read_text()

    dry = _run(installed, tmp_path, "train", "--local", "--dry-run", "--epochs", "1", env=env)
    assert dry.returncode == 0, dry.stderr
    # the reference entrypoint comes from the installed package
    assert f"package {installed}/lib/" in dry.stderr and "site-packages/launcher/entrypoints" in dry.stderr
