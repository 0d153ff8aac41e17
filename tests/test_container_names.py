"""The container-name rule, checked against the installed SDK's own driver, and enforced on both
backends before anything runs or is uploaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from launcher.cli.main import main
from launcher.config import container_names
from tests.conftest import CapturedEnv

CHANNELS = ["train", "extra_v2", "Train2", "x", "extra-v2", "train.v2", "2nd", "a b", "ünï"]
KEYS = ["epochs", "batch-size", "lr_rate", "model.depth", "a b", "semi;colon", "dollar$", "2x", "ß"]

def _driver_env_file(tmp_path: Path, channel: str, key: str) -> Path:
    """The SDK driver's `set_env` writes its export file for one channel and one hyperparameter."""
    out = tmp_path / "sm_training.env"
    code = (
        "import importlib.util, json, os, sys\n"
        "from pathlib import Path\n"
        "import sagemaker.train.container_drivers.scripts as scripts\n"
        "path = Path(scripts.__file__).parent / 'environment.py'\n"
        "spec = importlib.util.spec_from_file_location('sm_environment', path)\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "channel, key, out = sys.argv[1:4]\n"
        "os.environ['TRAINING_JOB_NAME'] = 'j'\n"
        "module.set_env(\n"
        "    {'current_host': 'algo-1', 'current_instance_type': 'ml.m5.xlarge', 'hosts': ['algo-1'],\n"
        "     'network_interface_name': 'eth0'},\n"
        "    {channel: {'TrainingInputMode': 'File'}}, {key: '1'}, output_file=out)\n"
    )
    subprocess.run([sys.executable, "-c", code, channel, key, str(out)], check=True, timeout=60,
                   capture_output=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    return out


def _carried(path: Path, variable: str, value: str) -> bool:
    """Sourced as the container does, the file exports `variable` with `value` (and nothing fails)."""
    proc = subprocess.run(["bash", "-c", f"set -e; source {path}; env -0"], capture_output=True,
                          timeout=30)
    return proc.returncode == 0 and f"{variable}={value}".encode() in proc.stdout.split(b"\0")


@pytest.mark.parametrize("channel", CHANNELS)
def test_channel_rule_matches_the_sdk_driver(tmp_path: Path, channel: str) -> None:
    variable = container_names.channel_variable(channel)
    env_file = _driver_env_file(tmp_path, channel, "epochs")
    accepted = _carried(env_file, variable, f"/opt/ml/input/data/{channel}")
    assert accepted == (container_names.channel_problem(channel) is None)


@pytest.mark.parametrize("key", KEYS)
def test_hyperparameter_rule_matches_the_sdk_driver(tmp_path: Path, key: str) -> None:
    variable = container_names.hyperparameter_variable(key)
    accepted = _carried(_driver_env_file(tmp_path, "train", key), variable, "1")
    assert accepted == (container_names.hyperparameter_problem(key) is None)


def test_the_suggested_names_are_carried() -> None:
    for name in CHANNELS:
        suggested = container_names.suggestion(name, keep_hyphens=False)
        assert container_names.channel_problem(suggested) is None
    for key in KEYS:
        suggested = container_names.suggestion(key, keep_hyphens=True)
        assert container_names.hyperparameter_problem(suggested) is None


@pytest.mark.parametrize("argv", [
    ["--data", "extra-v2=s3://bkt/x/"],
    ["--data", "train.v2=s3://bkt/x/"],
    ["--hp", "model.depth=3"],
    ["--hp", "a b=1"],
    ["--hp", "x;y=1"],
    ["--hp", "cost$=1"],
])
@pytest.mark.parametrize("mode", [["--local"], ["--instance", "ml.g5.xlarge"]])
def test_refused_locally_and_for_the_cloud_before_anything_runs(cli_env: CapturedEnv, argv: list[str],
                                                                 mode: list[str], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('never runs')\n")
    rc = main(["train", "--dry-run", *mode, "--source-dir", str(src), *argv], cli_env)
    assert rc == 2
    assert "cannot export: the job would die before your script starts" in cli_env.err
    assert cli_env.home is not None and not (cli_env.home / "jobs").exists()
