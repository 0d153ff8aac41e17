"""The real training toolkit as a reference for the classic contract.

`reference_case` is one classic job (two hosts, two channels, hyperparameters of every JSON type);
`prepare_tree` writes its /opt/ml-like tree with the launcher's own config files; `run_toolkit`
runs the real `sagemaker-training` + `sagemaker-pytorch-training` (installed in another Python) on
it: the PyTorch toolkit's `main()` unpacks the code, exports the environment and runs
tests/fixtures/classic_probe.py, which dumps what it sees. `normalise` replaces the tree's path.

    python -m tests.classic_reference /path/to/toolkit/python > tests/fixtures/toolkit_record.json

re-records the pinned record that tests/test_classic_contract.py compares with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from launcher.backends.local import container as ct
from launcher.job import classic_contract as cc
from launcher.job.packaging import package_source

FIXTURES = Path(__file__).parent / "fixtures"
RECORD = FIXTURES / "toolkit_record.json"
USER_HPS: dict[str, Any] = {"epochs": 3, "lr": 0.1, "optimizer": "adam", "a": 1, "layers": [64, 128],
                            "opts": {"z": 1, "b": "x"}, "amp": True, "none": None, "batch-size": 32,
                            "note": "resnet 50", "tiny": 1e-05}
# What the toolkit's own process adds that a real job does not have (the reference run's switches).
RUN_ONLY = frozenset({"SM_STUDIO_LOCAL_MODE", "SAGEMAKER_BASE_DIR"})

# Env only (no run): the torch_distributed case selects torchrun, which needs torch.
ENV_SCRIPT = """
import json, os, sys
from sagemaker_training import environment
env = environment.Environment()
print(json.dumps({"env_vars": env.to_env_vars(), "cmd_args": env.to_cmd_args()}))
"""


def reference_case(root: Path, *, distributed: bool = False) -> ct.ContainerConfig:
    """The classic job's config for host algo-1; its code tarball is <root>/sourcedir.tar.gz."""
    framework = cc.framework_hyperparameters(
        program="classic_probe.py", submit_directory=str(root / "sourcedir.tar.gz"),
        region="us-east-1", job_name="classic-ref", torch_distributed=distributed,
        instance_type="ml.g5.xlarge")
    return ct.ContainerConfig(
        job_name="classic-ref", region="us-east-1", instance_type="ml.g5.xlarge",
        hosts=["algo-1", "algo-2"], current_host="algo-1", channels=["train", "validation"],
        hyperparameters=cc.encode(USER_HPS, framework), entry_script="classic_probe.py",
        checkpointing=True, num_gpus=0, distributed=distributed, contract="classic")


def prepare_tree(root: Path, cfg: ct.ContainerConfig) -> ct.HostLayout:
    """<root>/opt/ml with the launcher's config files, channel dirs and an empty code dir."""
    src = root / "src"
    src.mkdir(parents=True)
    (src / "classic_probe.py").write_text((FIXTURES / "classic_probe.py").read_text())
    package = package_source(src, root / "pkg")
    os.replace(package.path, root / "sourcedir.tar.gz")
    layout = ct.HostLayout(root / "opt" / "ml", cfg.current_host)
    layout.create(classic=True)
    layout.intermediate_dir.rmdir()  # left to the toolkit: it makes one only to sync it itself
    ct.write_config_files(layout, cfg)
    for name in cfg.channels:
        layout.channel_dir(name).mkdir(parents=True)
    return layout


def _toolkit_env(layout: ct.HostLayout) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(layout.root.parent),
            "LANG": "C.UTF-8", "TRAINING_JOB_NAME": "classic-ref", "AWS_REGION": "us-east-1",
            "SAGEMAKER_BASE_DIR": str(layout.root), "SM_STUDIO_LOCAL_MODE": "true",
            "SAGEMAKER_TRAINING_MODULE": cc.FRAMEWORK_MODULE}


def run_toolkit(python: str, layout: ct.HostLayout) -> dict[str, Any]:
    """Run the real toolkits on the tree; what the probe saw, with the launching env's names."""
    env = _toolkit_env(layout)
    proc = subprocess.run([python, "-c", "from sagemaker_training.trainer import train; train()"],
                          env=env, capture_output=True, text=True, timeout=300)
    seen_path = layout.model_dir / "seen.json"
    if not seen_path.exists():
        raise RuntimeError(f"the toolkit did not run the probe (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    seen: dict[str, Any] = json.loads(seen_path.read_text())
    # This machine's own values (PATH, HOME) say nothing about the toolkit: names only.
    seen["env"] = {k: "<launch>" if env.get(k) == v else v for k, v in seen["env"].items()}
    seen["env"]["PYTHONPATH"] = seen["env"]["PYTHONPATH"].split(":")[0]  # then its own sys.path
    seen["launch_env"] = sorted(env)
    seen["success_file"] = (layout.output_dir / "success").exists()
    return seen


def toolkit_env_only(python: str, layout: ct.HostLayout) -> dict[str, Any]:
    proc = subprocess.run([python, "-c", ENV_SCRIPT], env=_toolkit_env(layout), capture_output=True,
                          text=True, timeout=120, check=True)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def normalise(value: Any, root: Path) -> Any:
    """The record with the tree's path as <root> and the CPU count as 0 (this machine's)."""
    text = json.dumps(value).replace(str(root), "<root>")
    cpus = os.cpu_count() or 1
    text = text.replace(f'\\"num_cpus\\":{cpus},', '\\"num_cpus\\":0,')
    out: Any = json.loads(text)
    for env in _envs(out):
        if "SM_NUM_CPUS" in env:
            env["SM_NUM_CPUS"] = "0"
    return out


def _envs(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, dict):
        return []
    found = [value] if "SM_TRAINING_ENV" in value else []
    for child in value.values():
        found += _envs(child)
    return found


def record(python: str, tmp: Path) -> dict[str, Any]:
    version = subprocess.run([python, "-c", "from importlib.metadata import version as v; "
                              "print(v('sagemaker-training'), v('sagemaker-pytorch-training'))"],
                             capture_output=True, text=True, check=True).stdout.split()
    run_root, dist_root = tmp / "run", tmp / "dist"
    run = run_toolkit(python, prepare_tree(run_root, reference_case(run_root)))
    dist = toolkit_env_only(python, prepare_tree(dist_root, reference_case(dist_root, distributed=True)))
    return {"sagemaker_training": version[0], "sagemaker_pytorch_training": version[1],
            "python": sys.version.split()[0], "run": normalise(run, run_root),
            "distributed": normalise(dist, dist_root)}


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(record(sys.argv[1], Path(tmp)), indent=1, sort_keys=True))
