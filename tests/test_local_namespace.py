"""`/opt/ml` is each host's own tree in a private mount namespace (as root, and as an unprivileged
user), the relocation fallback says so, the script's environment is built from an allowlist, and a
run that would look like a silent success (an empty model directory, a relocated script writing to
the machine's own /opt/ml) warns instead.

Nothing here creates anything under the machine's /opt: where a test needs a host /opt/ml, it runs
the launcher inside a mount namespace of the test's own, with a tmpfs over /opt.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.backends.local.checks import (
    empty_model_warning,
    host_opt_ml_warning,
    snapshot,
)
from launcher.backends.local.container import ContainerConfig
from launcher.backends.local.deviations import deviations, planned_image
from launcher.backends.local.host_env import host_environment
from launcher.backends.local.isolation import Isolation, isolation, mount_wrapper
from launcher.cli.main import main
from launcher.config.spec import Compute
from tests.conftest import CapturedEnv

# `launch` from any interpreter that can read the venv: the venv's site-packages added by hand, so
# that a system Python (one an unprivileged user may run) imports the same launcher.
PURELIB = sysconfig.get_paths()["purelib"]
LAUNCH_CODE = (f"import site; site.addsitedir({PURELIB!r}); "
               "from launcher.cli.main import run; run()")
UNPRIVILEGED = 4242  # not 65534: the overflow id unmapped files show as must not pass for the user

needs_mount_namespace = pytest.mark.skipif(
    mount_wrapper() is None, reason="this machine allows no mount namespace (the fallback is tested)")
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: to run as another user / to make a test mount namespace")

PROBE = r'''
import json, os
from pathlib import Path

seen = {
    "uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(), "pwd": os.environ.get("PWD"),
    "oldpwd": os.environ.get("OLDPWD"), "sm_model_dir": os.environ["SM_MODEL_DIR"],
    "env_model_dir": json.loads(os.environ["SM_TRAINING_ENV"])["model_dir"],
    "base_dir": os.environ.get("SAGEMAKER_BASE_DIR"),
    "opt": sorted(os.listdir("/opt")) if os.path.isdir("/opt") else None,
    "host_only": os.environ.get("HOST_ONLY_SETTING"),
    "cap_eff": next(x.split()[1] for x in open("/proc/self/status") if x.startswith("CapEff")),
}
if os.environ.get("PROBE_READ") == "1":  # the contract's files by their absolute paths
    seen["resource"] = json.loads(Path("/opt/ml/input/config/resourceconfig.json").read_text())
    data = Path("/opt/ml/input/data/train")
    seen["train"] = {p.name: p.read_text() for p in sorted(data.iterdir())}
    cp = Path("/opt/ml/input/config/checkpointconfig.json")
    seen["checkpoint"] = json.loads(cp.read_text()) if cp.exists() else None
    try:
        (data / "added").write_text("x")
        seen["channel_writable"] = True
    except OSError:
        seen["channel_writable"] = False
if target := os.environ.get("PROBE_WRITE"):
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    Path(target).write_text("weights of " + os.environ["SM_CURRENT_HOST"])
print("SEEN " + json.dumps(seen), flush=True)
'''


def _source(root: Path) -> Path:
    src = root / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "probe.py").write_text(PROBE)
    data = root / "data" / "train"
    data.mkdir(parents=True, exist_ok=True)
    (data / "a.txt").write_text("alpha")
    return src


def _args(root: Path, name: str, *extra: str) -> list[str]:
    return ["train", "--local", "--json", "--source-dir", str(_source(root)), "--entrypoint", "probe.py",
            "--data", f"train={root / 'data' / 'train'}", "--name", name, *extra]


def _seen(job_dir: Path, host: str = "algo-1") -> dict:
    log = (job_dir / "logs" / f"{host}.log").read_text()
    line = next(x for x in log.splitlines() if x.startswith("SEEN "))
    return json.loads(line.removeprefix("SEEN "))


def _model(desc: dict) -> dict[str, str]:
    with tarfile.open(desc["artifacts"]["model"]) as tar:
        return {m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def _describe(cli_env: CapturedEnv, name: str) -> str:
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(["describe", name, "--local"], cli_env) == 0
    return cli_env.out


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "LAUNCHER_HOME": str(home / "home"),
            "LAUNCHER_CONFIG": str(home / "config.toml"), **extra}


def _in_test_namespace(setup: str, argv: list[str], env: dict[str, str], cwd: Path,
                       after: str = "") -> subprocess.CompletedProcess[str]:
    """`argv` in a mount namespace of the test's own (private propagation), over a tmpfs /opt that
    `setup` fills: the machine's /opt is never written. `after` runs there once `argv` ended."""
    script = f'set -e\nmount -t tmpfs tmpfs /opt\n{setup}\nset +e\n"$@"\nrc=$?\n{after}\nexit $rc\n'
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                           *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


# -- as root, in-process --------------------------------------------------------------------------


@needs_mount_namespace
def test_absolute_opt_ml_paths_are_the_jobs_own_tree(cli_env: CapturedEnv, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_ONLY_SETTING", "value-that-must-not-leak")
    before = snapshot()
    rc = main(_args(tmp_path, "ns-root", "--env", "PROBE_READ=1", "--env",
                    "PROBE_WRITE=/opt/ml/model/x", "--spot"), cli_env)
    assert rc == 0, cli_env.err
    desc = json.loads(cli_env.out)
    assert _model(desc) == {"x": "weights of algo-1"}
    assert snapshot() == before, "the machine's /opt/ml changed"
    seen = _seen(Path(desc["details"]["job_dir"]))
    assert seen["cwd"] == seen["pwd"] == "/opt/ml/input/data/code" and seen["oldpwd"] is None
    assert seen["sm_model_dir"] == seen["env_model_dir"] == "/opt/ml/model"
    assert seen["base_dir"] is None  # only the relocated mode needs SAGEMAKER_BASE_DIR
    assert seen["resource"]["current_host"] == "algo-1" and seen["train"] == {"a.txt": "alpha"}
    assert seen["checkpoint"] == {"LocalPath": "/opt/ml/checkpoints"}
    # Every other entry of the machine's /opt stays visible; ml is the job's.
    assert seen["opt"] == sorted({*os.listdir("/opt"), "ml"})
    assert seen["uid"] == os.getuid()  # root, as in a real container
    # One line about the container, none per deviation; the list is in the record.
    assert cli_env.err.count("/opt/ml is the job's tree (mount namespace)") == 1
    assert "deviation" not in cli_env.err and "launch describe ns-root" in cli_env.err
    aspects = [d["aspect"] for d in desc["deviations"]]
    assert "/opt/ml paths" not in aspects and "image" in aspects
    assert "warnings" not in desc["details"]
    # The environment is built: a host variable off the allowlist is absent, and named (only).
    assert seen["host_only"] is None
    assert "HOST_ONLY_SETTING" in desc["details"]["environment_left_out"]
    described = _describe(cli_env, "ns-root")
    assert "HOST_ONLY_SETTING" in described and "value-that-must-not-leak" not in described
    assert "each host's own tree" in described and "hostname" in described


@needs_mount_namespace
def test_an_empty_model_directory_is_a_warning_not_a_silent_success(
        cli_env: CapturedEnv, tmp_path: Path) -> None:
    rc = main(_args(tmp_path, "empty-model", "--no-spot"), cli_env)
    assert rc == 0, cli_env.err
    desc = json.loads(cli_env.out)
    assert desc["status"] == "Completed"
    assert len(desc["details"]["warnings"]) == 1
    assert "model directory was empty" in desc["details"]["warnings"][0]
    assert "warning: the model directory was empty" in cli_env.err
    assert "model directory was empty" in _describe(cli_env, "empty-model")


@needs_mount_namespace
def test_the_dry_run_shows_the_paths_the_script_will_see(cli_env: CapturedEnv, tmp_path: Path) -> None:
    assert main(_args(tmp_path, "dry", "--dry-run"), cli_env) == 0
    request = json.loads(cli_env.out)
    host = request["hosts"]["algo-1"]
    assert host["cwd"] == "/opt/ml/input/data/code"
    assert host["environment"]["SM_MODEL_DIR"] == "/opt/ml/model"
    assert request["opt_ml"].startswith("each host's tree")
    assert "SAGEMAKER_BASE_DIR" not in host["environment"]
    assert not (tmp_path / "home" / "jobs" / "dry").exists()
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(_args(tmp_path, "dry", "--dry-run", "--relocate-opt-ml"), cli_env) == 0
    relocated = json.loads(cli_env.out)["hosts"]["algo-1"]
    tree = tmp_path / "home" / "jobs" / "dry" / "hosts" / "algo-1" / "opt" / "ml"
    assert relocated["environment"]["SAGEMAKER_BASE_DIR"] == str(tree)
    assert relocated["cwd"] == str(tree / "input" / "data" / "code")


@pytest.mark.slow
@needs_mount_namespace
def test_each_host_of_a_multi_host_job_has_its_own_opt_ml(cli_env: CapturedEnv, tmp_path: Path) -> None:
    rc = main(_args(tmp_path, "two-hosts", "--hosts", "2", "--no-spot", "--env",
                    "PROBE_WRITE=/opt/ml/model/weights"), cli_env)
    assert rc == 0, cli_env.err
    job_dir = Path(json.loads(cli_env.out)["details"]["job_dir"])
    for host in ("algo-1", "algo-2"):
        model = job_dir / "hosts" / host / "opt" / "ml" / "model"
        assert {p.name: p.read_text() for p in model.iterdir()} == {"weights": f"weights of {host}"}


# -- the fallback -----------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", ["flag", "environment"])
def test_the_forced_fallback_relocates_paths_and_says_so_once(
        cli_env: CapturedEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, switch: str) -> None:
    extra = ["--relocate-opt-ml"] if switch == "flag" else []
    if switch == "environment":
        monkeypatch.setenv("LAUNCHER_MOUNT_NAMESPACE", "0")
    before = snapshot()
    rc = main(_args(tmp_path, "relocated", "--no-spot", *extra), cli_env)
    assert rc == 0, cli_env.err
    desc = json.loads(cli_env.out)
    tree = Path(desc["details"]["job_dir"]) / "hosts" / "algo-1" / "opt" / "ml"
    seen = _seen(Path(desc["details"]["job_dir"]))
    assert seen["sm_model_dir"] == str(tree / "model") and seen["base_dir"] == str(tree)
    assert seen["cwd"] == str(tree / "input" / "data" / "code")
    assert cli_env.err.count("relocated paths (switched off)") == 1 and "deviation" not in cli_env.err
    assert "/opt/ml paths" in [d["aspect"] for d in desc["deviations"]]
    assert desc["details"]["opt_ml"].startswith("relocated")
    assert snapshot() == before


def test_relocated_paths_reach_the_model_by_sm_model_dir(cli_env: CapturedEnv, tmp_path: Path) -> None:
    # The relocation fallback still produces the model the script saved where SM_MODEL_DIR says.
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("import os\nopen(os.path.join(os.environ['SM_MODEL_DIR'], 'm'),"
                                  " 'w').write('ok')\n")
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--no-spot", "--name", "rel",
               "--relocate-opt-ml"], cli_env)
    assert rc == 0, cli_env.err
    desc = json.loads(cli_env.out)
    assert _model(desc) == {"m": "ok"} and "warnings" not in desc["details"]


# -- a host /opt/ml: made only inside the test's own mount namespace --------------------------------


@needs_root
@needs_mount_namespace
def test_a_host_opt_ml_is_left_untouched_by_absolute_writes(tmp_path: Path) -> None:
    report = tmp_path / "host-opt-ml.txt"
    proc = _in_test_namespace(
        'mkdir -p /opt/ml/model && printf keep > /opt/ml/model/existing',
        [sys.executable, "-c", LAUNCH_CODE, *_args(tmp_path, "over-host", "--no-spot", "--env",
                                                   "PROBE_WRITE=/opt/ml/model/x")],
        _env(tmp_path, REPORT=str(report)), tmp_path,
        after='(ls -A /opt/ml/model; cat /opt/ml/model/existing) > "$REPORT"')
    assert proc.returncode == 0, proc.stderr
    desc = json.loads(proc.stdout)
    assert _model(desc) == {"x": "weights of algo-1"}
    assert report.read_text() == "existing\nkeep"  # the host's /opt/ml as it was
    assert "warnings" not in desc["details"]


@needs_root
@pytest.mark.parametrize("host_opt_ml", [False, True])
def test_a_relocated_script_writing_the_host_opt_ml_is_warned(tmp_path: Path, cli_env: CapturedEnv,
                                                              host_opt_ml: bool) -> None:
    setup = "mkdir -p /opt/ml/model" if host_opt_ml else ":"
    proc = _in_test_namespace(
        setup, [sys.executable, "-c", LAUNCH_CODE, *_args(
            tmp_path, "touched", "--no-spot", "--relocate-opt-ml", "--env", "PROBE_WRITE=/opt/ml/model/x")],
        _env(tmp_path), tmp_path)
    assert proc.returncode == 0, proc.stderr
    desc = json.loads(proc.stdout)
    warnings = desc["details"]["warnings"]
    touched = next(w for w in warnings if "wrote to this machine's /opt/ml" in w)
    assert ("changed 2 entries: model, model/x" if host_opt_ml else "created it") in touched
    assert any("model directory was empty" in w for w in warnings)  # x went to the wrong place
    assert "warning: the script wrote to this machine's /opt/ml" in proc.stderr
    assert "wrote to this machine's /opt/ml" in _describe(cli_env, "touched")


# -- as an unprivileged user ------------------------------------------------------------------------


@pytest.fixture
def unprivileged_dir() -> Iterator[Path]:
    """A directory the unprivileged user owns (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="launcher-ns-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_user(argv: list[str]) -> list[str]:
    # Through `sh`: setpriv itself still holds root's capabilities while it execs, so it can start a
    # program whose path the user could not reach; the exec of a capability-less shell cannot.
    ids = str(UNPRIVILEGED)
    return ["setpriv", "--reuid", ids, "--regid", ids, "--clear-groups", "--", "/bin/sh", "-c",
            'exec "$@"', "sh", *argv]


def _python_for_the_user() -> str | None:
    """An interpreter the unprivileged user can run and that imports the launcher (the venv's may
    sit under root's home)."""
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"  # its compiled packages' ABI
    for python in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")):
        check = f"import site; site.addsitedir({PURELIB!r}); import launcher.cli.main"
        if python and subprocess.run(_as_user([python, "-c", check]), capture_output=True,
                                     timeout=60).returncode == 0:
            return python
    return None


@needs_root
def test_an_unprivileged_user_gets_the_tree_without_becoming_root(unprivileged_dir: Path) -> None:
    python = _python_for_the_user()
    if python is None:
        pytest.skip(f"no Python here that uid {UNPRIVILEGED} can run with the launcher's packages")
    root = unprivileged_dir
    args = _args(root, "unprivileged", "--no-spot", "--env", "PROBE_READ=1", "--env",
                 "PROBE_WRITE=/opt/ml/model/x")
    for path in [root, *root.rglob("*")]:
        os.chown(path, UNPRIVILEGED, UNPRIVILEGED)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "LAUNCHER_HOME": str(root / "home"),
           "LAUNCHER_CONFIG": str(root / "config.toml"), "LANG": "C.UTF-8"}
    before = snapshot()
    proc = subprocess.run(_as_user([python, "-c", LAUNCH_CODE, *args]), env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    desc = json.loads(proc.stdout)
    assert _model(desc) == {"x": "weights of algo-1"}
    seen = _seen(Path(desc["details"]["job_dir"]))
    assert (seen["uid"], seen["gid"]) == (UNPRIVILEGED, UNPRIVILEGED)  # the caller, not root
    assert int(seen["cap_eff"], 16) == 0
    assert seen["channel_writable"] is False  # read-only channels stay read-only
    assert seen["cwd"] == "/opt/ml/input/data/code" and seen["sm_model_dir"] == "/opt/ml/model"
    assert seen["train"] == {"a.txt": "alpha"} and seen["resource"]["hosts"] == ["algo-1"]
    assert seen["opt"] == sorted({*os.listdir("/opt"), "ml"})
    assert "/opt/ml is the job's tree (mount namespace)" in proc.stderr
    assert "user" in [d["aspect"] for d in desc["deviations"]]
    assert snapshot() == before, "the machine's /opt/ml changed"


# -- the pieces -------------------------------------------------------------------------------------


def test_a_snapshot_tells_a_created_a_changed_and_an_untouched_directory(tmp_path: Path) -> None:
    root = tmp_path / "ml"
    absent = snapshot(root)
    root.mkdir()
    (root / "a").write_text("1")
    created = snapshot(root)
    assert "created it" in (host_opt_ml_warning(absent, created, root) or "")
    assert host_opt_ml_warning(created, snapshot(root), root) is None
    (root / "b").write_text("2")
    assert "changed 1 entry: b" in (host_opt_ml_warning(created, snapshot(root), root) or "")
    shutil.rmtree(root)
    assert "removed it" in (host_opt_ml_warning(created, snapshot(root), root) or "")


def test_the_empty_model_warning_needs_every_host_empty(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert "every host's model directory" in (empty_model_warning([a, b]) or "")
    (b / "m").write_text("x")
    assert empty_model_warning([a, b]) is None


def test_the_host_environment_is_an_allowlist() -> None:
    environ = {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "CUDA_VISIBLE_DEVICES": "0",
               "AWS_PROFILE": "p", "https_proxy": "http://p", "GITHUB_TOKEN": "t", "PYTHONPATH": "/x",
               "NCCL_DEBUG": "INFO", "MY_FLAG": "1", "PWD": "/here", "CUSTOM": "job's own"}
    env, left_out = host_environment(environ, ["CUSTOM"])
    assert set(env) == {"PATH", "HOME", "LC_ALL", "CUDA_VISIBLE_DEVICES", "AWS_PROFILE", "https_proxy"}
    assert left_out == ["GITHUB_TOKEN", "MY_FLAG", "NCCL_DEBUG", "PYTHONPATH"]


def _cfg() -> ContainerConfig:
    return ContainerConfig(job_name="j", region="us-east-1", instance_type="ml.m5.xlarge",
                           hosts=["algo-1"], current_host="algo-1", channels=[], hyperparameters={},
                           entry_script="train.py")


def test_the_deviations_follow_the_mode_and_name_the_real_image() -> None:
    tree = Path("/jobs/j/hosts/algo-1/opt/ml")
    namespaced = deviations(_cfg(), Isolation(True, True), tree, image="IMG", python="py")
    relocated = deviations(_cfg(), Isolation(True, False, relocated_because="why"), tree,
                           image="IMG", python="py")
    assert "/opt/ml paths" not in [d.aspect for d in namespaced]
    assert [d for d in relocated if d.aspect == "/opt/ml paths"][0].local.startswith(str(tree))
    assert [d.real for d in namespaced if d.aspect == "image"] == ["IMG"]
    assert planned_image(Compute(image_uri="my/image:1"), "us-east-1", "ml.g5.xlarge") == "my/image:1"
    gpu = planned_image(Compute(framework_version="2.8.0"), "us-east-1", "ml.g5.xlarge")
    assert gpu.endswith("/pytorch-training:2.8.0-gpu-py312")
    assert planned_image(Compute(), "us-east-1", None).startswith("PyTorch DLC ")


def test_a_jobs_directory_under_opt_is_relocated_not_hidden() -> None:
    # A tmpfs over /opt would hide the job's own tree: such a run relocates, and says why.
    iso = isolation(None, None, Path("/opt/launcher-home/jobs"))
    assert not iso.opt_ml and iso.relocated_because == "the jobs directory is under /opt"
    assert isolation(None, False).relocated_because == "switched off"
