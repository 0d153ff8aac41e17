"""A job's requirements.txt installs into an environment of its own, cached by the file's content and
layered on the launcher's interpreter; the launcher's environment never changes (requirements_env.py).

Wheels are written by hand in each test and installed with --no-index from a local directory:
nothing comes from the network. uv is covered where it is on PATH (with `--excludes`)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
import zipfile
from pathlib import Path

import pytest

from launcher.backends.local.requirements_env import (
    MARKER,
    RequirementsEnvs,
    _uv_excludes,
    explain_failure,
)
from launcher.backends.local.requirements_file import (
    Installed,
    RequirementsPlan,
    protected_names,
    read_plan,
)
from launcher.errors import SpecError
from tests.conftest import CapturedEnv

TORCH = importlib.metadata.version("torch")
UV = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))  # the dev extra
INSTALLERS = ["pip", pytest.param("uv", marks=pytest.mark.skipif(
    not (UV and _uv_excludes(UV)), reason="no uv with `pip install --excludes` on PATH"))]

SCRIPT = """\
import sys
print("python=" + sys.executable)
try:
    import tinypkg
    print("tinypkg=" + tinypkg.VALUE)
except ImportError:
    print("tinypkg=missing")
import torch
print("torch=" + torch.__version__)
"""


def make_wheel(directory: Path, name: str, version: str, requires: tuple[str, ...] = ()) -> Path:
    """A minimal pure-Python wheel: `<name>/__init__.py` with VALUE = version, and its metadata."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    files = {
        f"{module}/__init__.py": f"VALUE = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                      + "".join(f"Requires-Dist: {r}\n" for r in requires),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                   "Tag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(text)},{len(text.encode())}" for path, text in files.items()]
    files[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name_in_zip, text in files.items():
            z.writestr(name_in_zip, text)
    return path


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def launcher_packages() -> list[str]:
    """The launcher's environment: its site-packages listing and its distributions."""
    site = Path(sysconfig.get_paths()["purelib"])
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    return sorted(os.listdir(site)) + dists


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Local wheels, and installers that read no machine-wide config (no index, no find-links)."""
    out = tmp_path / "wheels"
    make_wheel(out, "tinypkg", "1.0")
    make_wheel(out, "tinypkg", "2.0")
    make_wheel(out, "needs-old-torch", "1.0", ("torch<2",))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for variable in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT",
                     "UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_CONSTRAINT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("LAUNCHER_REQUIREMENTS_INSTALLER", getattr(request, "param", "pip"))
    return out


def source(tmp_path: Path, wheels: Path, *lines: str) -> Path:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text(SCRIPT)
    (src / "requirements.txt").write_text(
        "\n".join(["# local wheels only", "--no-index", f"--find-links {wheels}", *lines]) + "\n")
    return src


def train(cli_env: CapturedEnv, src: Path, name: str, *extra: str) -> tuple[int, dict[str, object], str]:
    """Run a local job; (exit status, its description, its log)."""
    from launcher.cli.main import main

    before = len(cli_env.out)
    rc = main(["train", "--local", "--source-dir", str(src), "--no-spot", "--name", name, "--json",
               *extra], cli_env)
    out = cli_env.out[before:]
    desc = json.loads(out) if out.strip() else {}
    log = cli_env.home / "jobs" / name / "logs" / "algo-1.log"  # type: ignore[operator]
    return rc, desc, log.read_text() if log.exists() else ""


def printed(log: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in log.splitlines() if line.startswith(key + "="))


def cache(cli_env: CapturedEnv) -> Path:
    return cli_env.home / "requirements-envs"  # type: ignore[operator]


@pytest.mark.slow
@pytest.mark.parametrize("wheels", INSTALLERS, indirect=True)
def test_a_requirement_installs_for_the_job_only(tmp_path: Path, cli_env: CapturedEnv,
                                                  wheels: Path) -> None:
    src = source(tmp_path, wheels, "tinypkg==1.0")
    before = launcher_packages()
    rc, desc, log = train(cli_env, src, "one")
    assert rc == 0, cli_env.err + log
    assert printed(log, "tinypkg") == "1.0"
    assert printed(log, "torch") == TORCH  # the launcher's torch, seen through the layer
    python = Path(printed(log, "python"))
    assert python.is_relative_to(cache(cli_env)) and python != Path(sys.executable)
    details = desc["details"]
    assert details["python"] == str(python) and details["requirements_reused"] is False  # type: ignore[index]
    assert details["requirements_installed"] == ["tinypkg==1.0"]  # type: ignore[index]
    assert details["requirements_env"] == str(python.parent.parent)  # type: ignore[index]
    assert details["image"] == f"this machine's Python with requirements.txt: {python}"  # type: ignore[index]
    assert "built by pip" in details["requirements"] or "built by uv" in details["requirements"]  # type: ignore[index]
    assert (f"installing 1 requirement from requirements.txt into {cache(cli_env)}/"
            in cli_env.err) and "(cached for later jobs)" in cli_env.err
    marker = json.loads((python.parent.parent / MARKER).read_text())
    assert marker["installed"] == ["tinypkg==1.0"]
    # The launcher's interpreter cannot import it, and its environment is as it was.
    probe = subprocess.run([sys.executable, "-c", "import tinypkg"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'tinypkg'" in probe.stderr
    assert launcher_packages() == before


@pytest.mark.slow
@pytest.mark.parametrize("wheels", INSTALLERS, indirect=True)
def test_a_torch_pin_is_reported_and_not_obeyed(tmp_path: Path, cli_env: CapturedEnv,
                                                 wheels: Path) -> None:
    src = source(tmp_path, wheels, "torch==1.0.0", "tinypkg==1.0", "rich==1.0")
    before = launcher_packages()
    rc, desc, log = train(cli_env, src, "pinned")
    assert rc == 0, cli_env.err + log
    rich = importlib.metadata.version("rich")
    expected = [f"requirements.txt: torch==1.0.0 pinned; the job uses the launcher's torch {TORCH}",
                f"requirements.txt: rich==1.0 pinned; the job uses the launcher's rich {rich}"]
    for line in expected:
        assert f"warning: {line}" in " ".join(cli_env.err.split())  # seen before the run
    assert desc["details"]["requirements_skipped"] == expected  # type: ignore[index]
    assert printed(log, "torch") == TORCH and printed(log, "tinypkg") == "1.0"
    assert launcher_packages() == before


@pytest.mark.slow
def test_the_same_file_reuses_its_environment_and_a_changed_file_builds_another(
        tmp_path: Path, cli_env: CapturedEnv, wheels: Path) -> None:
    src = source(tmp_path, wheels, "tinypkg==1.0  # the first")
    rc, first, _ = train(cli_env, src, "first")
    assert rc == 0, cli_env.err
    mark = len(cli_env.err)
    # The same requirements, written differently (comments, spacing): the same environment.
    source(tmp_path, wheels, "tinypkg == 1.0")
    rc, second, log = train(cli_env, src, "second")
    assert rc == 0, cli_env.err
    env = first["details"]["requirements_env"]  # type: ignore[index]
    assert second["details"]["requirements_reused"] is True  # type: ignore[index]
    assert second["details"]["requirements_env"] == env  # type: ignore[index]
    assert "reused from an earlier job" in second["details"]["requirements"]  # type: ignore[index]
    entry = str(Path(env).with_suffix(""))  # <key16>.<random> is named by the link <key16>
    assert f"reusing {entry} for requirements.txt" in " ".join(cli_env.err[mark:].split())
    assert "installing" not in cli_env.err[mark:]
    assert printed(log, "tinypkg") == "1.0"

    source(tmp_path, wheels, "tinypkg==2.0")
    rc, third, log = train(cli_env, src, "third")
    assert rc == 0, cli_env.err
    assert third["details"]["requirements_env"] != env  # type: ignore[index]
    assert third["details"]["requirements_reused"] is False  # type: ignore[index]
    assert printed(log, "tinypkg") == "2.0"


@pytest.mark.slow
def test_no_requirements_installs_nothing(tmp_path: Path, cli_env: CapturedEnv, wheels: Path) -> None:
    src = source(tmp_path, wheels, "tinypkg==1.0")
    rc, desc, log = train(cli_env, src, "plain", "--no-requirements")
    assert rc == 0, cli_env.err
    assert printed(log, "tinypkg") == "missing"
    assert Path(printed(log, "python")) == Path(sys.executable)
    assert not [key for key in desc["details"] if "requirements" in key]  # type: ignore[attr-defined]
    assert not cache(cli_env).exists()


@pytest.mark.slow
@pytest.mark.parametrize("wheels", INSTALLERS, indirect=True)
def test_a_requirement_that_cannot_install_fails_the_job_and_leaves_no_environment(
        tmp_path: Path, cli_env: CapturedEnv, wheels: Path) -> None:
    src = source(tmp_path, wheels, "tinypkg==1.0", "nosuchpkg==1.0")
    rc, _, _ = train(cli_env, src, "broken")
    assert rc == SpecError.exit_status
    err = " ".join(cli_env.err.split())
    log = cli_env.home / "jobs" / "broken" / "requirements" / "install.log"  # type: ignore[operator]
    assert "requirements.txt: installing nosuchpkg==1.0 failed:" in err
    assert f"the installer's output is in {log}" in err
    assert "nosuchpkg" in log.read_text()
    assert [p.name for p in cache(cli_env).iterdir() if not p.name.endswith(".lock")] == []
    record = json.loads((log.parent.parent / "job.json").read_text())
    assert record["status"] == "Failed" and "nosuchpkg==1.0" in record["failure_reason"]


@pytest.mark.slow
@pytest.mark.parametrize("wheels", INSTALLERS, indirect=True)
def test_a_dependency_that_needs_another_torch_fails_with_the_reason(
        tmp_path: Path, cli_env: CapturedEnv, wheels: Path) -> None:
    src = source(tmp_path, wheels, "needs-old-torch")
    before = launcher_packages()
    rc, _, _ = train(cli_env, src, "old-torch")
    assert rc == SpecError.exit_status
    assert (f"requirements.txt: needs-old-torch 1.0 depends on torch<2, but the job uses the "
            f"launcher's torch {TORCH}") in " ".join(cli_env.err.split())
    assert launcher_packages() == before


@pytest.mark.slow
def test_the_dry_run_says_what_would_be_installed_skipped_and_reused(
        tmp_path: Path, cli_env: CapturedEnv, wheels: Path) -> None:
    from launcher.cli.main import main

    src = source(tmp_path, wheels, "torch==1.0.0", "numpy>=1", "tinypkg==1.0")
    argv = ["train", "--local", "--source-dir", str(src), "--no-spot", "--name", "dry"]

    def dry_run_lines() -> list[str]:
        mark = len(cli_env.err)
        assert main([*argv, "--dry-run"], cli_env) == 0, cli_env.err
        return [line.strip() for line in cli_env.err[mark:].splitlines()]

    lines = dry_run_lines()
    numpy = importlib.metadata.version("numpy")
    assert ("skip (protected) requirements.txt: torch==1.0.0 pinned; the job uses the launcher's "
            f"torch {TORCH}") in lines
    assert f"requirements.txt: numpy>=1 met by the launcher's numpy {numpy}" in lines
    install = next(line for line in lines if line.startswith("install "))
    assert install.startswith(f"install 1 requirement from requirements.txt into {cache(cli_env)}/")
    assert install.endswith("(not cached: build it, then keep it for later jobs): tinypkg==1.0")
    assert not cache(cli_env).exists()  # a dry run writes nothing

    rc, desc, _ = train(cli_env, src, "wet")
    assert rc == 0, cli_env.err
    env = desc["details"]["requirements_env"]  # type: ignore[index]
    lines = dry_run_lines()
    assert any(f"(cached: reuse {env}): tinypkg==1.0" in line for line in lines)
    mark = len(cli_env.err)
    assert main([*argv, "--dry-run", "--no-requirements"], cli_env) == 0
    assert ("install nothing from requirements.txt (--no-requirements): the job runs "
            f"{sys.executable}") in [line.strip() for line in cli_env.err[mark:].splitlines()]


# -- the file and the cache, without a job ----------------------------------------------------------

PROTECTED = protected_names(["pydantic>=2", "rich>=13", 'matplotlib>=3.8; extra == "plot"'])
HAVE = {"torch": Installed("torch", "2.13.0+cpu"), "rich": Installed("rich", "14.0.0"),
        "pydantic": Installed("pydantic", "2.9.0")}


def test_protected_names_are_torch_its_kin_and_the_launchers_own_dependencies() -> None:
    assert set(PROTECTED) == {"torch", "torchvision", "torchaudio", "triton", "pydantic", "rich",
                              "launcher"}


def test_the_file_is_read_as_pip_reads_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "reqs").mkdir(parents=True)
    (src / "wheels").mkdir()
    make_wheel(src / "wheels", "tinypkg", "1.0")
    (src / "mypkg").mkdir()
    (src / "mypkg" / "setup.py").write_text("# a local project\n")
    (src / "reqs" / "base.txt").write_text("alpha>=1 # trailing comment\n")
    (src / "requirements.txt").write_text(
        "# a comment\n-r reqs/base.txt\n--find-links wheels\nbeta==2 \\\n  ; python_version >= '3'\n"
        "gamma==1; python_version < '3'\n-e ./mypkg\nwheels/tinypkg-1.0-py3-none-any.whl\n"
        "torch>=2\ntorchvision==0.1\nrich<10\ndelta==1 --hash=sha256:abc\n")
    plan = read_plan(src, "requirements.txt", PROTECTED, HAVE)
    assert plan.requirements == ["alpha>=1", 'beta==2; python_version >= "3"', "./mypkg",
                                 "wheels/tinypkg-1.0-py3-none-any.whl", "delta==1"]
    assert plan.lines == ["alpha>=1", f"--find-links {src / 'wheels'}", 'beta==2; python_version >= "3"',
                          str(src / "mypkg"), str(src / "wheels" / "tinypkg-1.0-py3-none-any.whl"),
                          "delta==1 --hash=sha256:abc"]
    assert plan.provided == ["torch>=2 met by the launcher's torch 2.13.0+cpu"]
    assert plan.skipped[0].startswith("requirements.txt: torchvision==0.1 not installed:")
    assert plan.skipped[1] == "requirements.txt: rich<10 pinned; the job uses the launcher's rich 14.0.0"
    assert any("-e ./mypkg installs a copy" in note for note in plan.notes)
    assert "torch==2.13.0+cpu" in plan.protected_pins and "torchvision===never-installed-per-job" \
        in plan.protected_pins

    # Staged elsewhere (another job's code dir), the same content has the same fingerprint.
    copy = tmp_path / "elsewhere"
    shutil.copytree(src, copy)
    assert read_plan(copy, "requirements.txt", PROTECTED, HAVE).fingerprint == plan.fingerprint
    (copy / "mypkg" / "setup.py").write_text("# changed\n")
    assert read_plan(copy, "requirements.txt", PROTECTED, HAVE).fingerprint != plan.fingerprint


@pytest.mark.parametrize("line", ["-r ../outside.txt", "-c ../outside.txt", "-e ../outside",
                                  "-r https://example.com/r.txt", "../outside/pkg.whl"])
def test_paths_outside_the_source_dir_are_refused(tmp_path: Path, line: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "pkg.whl").write_text("")
    (tmp_path / "outside.txt").write_text("alpha\n")
    (src / "requirements.txt").write_text(f"{line}\n")
    with pytest.raises(SpecError, match=r"requirements.txt line 1: .* (is outside|is not a file in) "
                                        r"the source dir"):
        read_plan(src, "requirements.txt", PROTECTED, HAVE)


def test_a_file_that_includes_itself_is_refused(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r requirements.txt\n")
    with pytest.raises(SpecError, match="includes itself"):
        read_plan(tmp_path, "requirements.txt", PROTECTED, HAVE)


def test_the_failure_line_names_the_requirement() -> None:
    plan = RequirementsPlan(file="requirements.txt", requirements=["tinypkg==1.0", "nosuchpkg==1.0"])
    pip = ("Looking in links: /w\nERROR: Could not find a version that satisfies the requirement "
           "nosuchpkg==1.0 (from versions: none)\nERROR: No matching distribution found for nosuchpkg==1.0\n")
    env = None  # only a resolver report about a protected package needs the interpreter
    assert explain_failure(pip, plan, env) == (  # type: ignore[arg-type]
        "installing nosuchpkg==1.0 failed: No matching distribution found for nosuchpkg==1.0")
    uv = ("error: Failed to build `mypkg`\n  cause: Build backend failed\n")
    assert explain_failure(uv, plan, env) == "install failed: Build backend failed"  # type: ignore[arg-type]


@pytest.mark.slow
def test_jobs_that_build_the_same_environment_at_once_build_it_once(tmp_path: Path,
                                                                    wheels: Path) -> None:
    src = source(tmp_path, wheels, "tinypkg==1.0")
    envs = RequirementsEnvs(tmp_path / "cache", sys.executable, dict(os.environ))
    plan = envs.plan(src, "requirements.txt")
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []
    notes: list[str] = []
    start = threading.Barrier(3)

    def job(i: int) -> None:
        try:
            start.wait()
            prepared = envs.prepare(plan, tmp_path / f"job{i}", src, notes.append)
            results.append((prepared.python, prepared.reused))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=job, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({python for python, _ in results}) == 1
    assert sorted(reused for _, reused in results) == [False, True, True]
    assert sum(n.startswith("installing") for n in notes) == 1
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.is_dir() and not p.is_symlink()] \
        == [Path(results[0][0]).parent.parent.name]


@pytest.mark.slow
def test_an_interpreter_without_pip_gets_an_environment_with_its_own(tmp_path: Path,
                                                                       wheels: Path) -> None:
    bare = tmp_path / "bare"  # a launcher interpreter without pip (a venv made --without-pip)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=120)
    src = source(tmp_path, wheels, "tinypkg==1.0")
    envs = RequirementsEnvs(tmp_path / "cache", str(bare / "bin" / "python"), dict(os.environ))
    plan = envs.plan(src, "requirements.txt")
    assert not plan.interpreter.has_pip
    prepared = envs.prepare(plan, tmp_path / "job", src, lambda note: None)
    assert prepared.marker["installer"] == "pip"
    run = subprocess.run([prepared.python, "-c", "import pip, tinypkg; print(tinypkg.VALUE)"],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "1.0", run.stderr
    assert not list((bare / "lib").glob("python*/site-packages/tinypkg*"))
