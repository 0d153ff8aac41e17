"""What a script sees in a SageMaker training container: the /opt/ml layout, the config files' content
and the environment, under either contract (pure: paths and values, nothing written or run).

- "modeltrainer": SDK v3 ModelTrainer's drivers (docs/container-contract.md), below;
- "classic": the framework image's training toolkit (launcher.job.classic_env, docs/classic.md).

The local backend stages and runs these (launcher.backends.local.container); the script scan
(launcher.job.script_scan) compares the two contracts' variables to suggest `--classic`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.config import wire as hyperparams

MASTER_PORT = 7777
SDK_CHANNELS = ("code", "sm_drivers")
CLASSIC = "classic"


@dataclass
class HostLayout:
    """Paths of one emulated host's /opt/ml tree."""

    root: Path  # stands for /opt/ml
    host: str   # algo-1, algo-2, …

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def data_dir(self) -> Path:
        return self.input_dir / "data"

    @property
    def code_dir(self) -> Path:
        """ModelTrainer's code channel, its scripts' working directory."""
        return self.data_dir / "code"

    @property
    def toolkit_code_dir(self) -> Path:
        """/opt/ml/code: where the training toolkit unpacks sourcedir.tar.gz (classic contract)."""
        return self.root / "code"

    @property
    def drivers_dir(self) -> Path:
        return self.data_dir / "sm_drivers"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def intermediate_dir(self) -> Path:
        return self.output_dir / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    def channel_dir(self, name: str) -> Path:
        return self.data_dir / name

    def create(self, *, classic: bool = False) -> None:
        """The directories a container starts with (the classic one has no SDK channels)."""
        dirs = ((self.config_dir, self.data_dir, self.toolkit_code_dir, self.model_dir,
                 self.output_data_dir, self.intermediate_dir) if classic else
                (self.config_dir, self.code_dir, self.drivers_dir, self.model_dir, self.output_data_dir))
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)


@dataclass
class ContainerConfig:
    """Everything that decides what one host's container looks like."""

    job_name: str
    region: str
    instance_type: str
    hosts: list[str]
    current_host: str
    channels: list[str]                     # user channels, in request order
    hyperparameters: Mapping[str, str]      # encoded, as sent in CreateTrainingJob (classic: with
                                            # the reserved sagemaker_* ones)
    entry_script: str
    environment: Mapping[str, str] = field(default_factory=dict)
    checkpointing: bool = False
    num_gpus: int = 0
    distributed: bool = False               # torchrun driver (SM_DISTRIBUTED_* present)
    processes_per_host: int | None = None
    input_mode: str = "File"
    contract: str = "modeltrainer"          # or "classic": the framework image's training toolkit

    @property
    def classic(self) -> bool:
        return self.contract == CLASSIC


# Host variables a real container does not have (contract §3 "Not set"): stale SageMaker ones, and
# torch.distributed ones that would make a single-process script try to join a process group.
# (NCCL_* settings pass: the host environment is an allowlist already, launcher.backends.local.host_env.)
HIDDEN_PREFIXES = ("SM_", "TRAINING_JOB_", "SAGEMAKER_", "TORCHELASTIC_")
HIDDEN_NAMES = frozenset({"PYTHONPATH", "PYTHONHOME", "CURRENT_HOST", "MASTER_ADDR", "MASTER_PORT",
                          "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK"})


def hidden(name: str) -> bool:
    return name.startswith(HIDDEN_PREFIXES) or name in HIDDEN_NAMES


def dumps(value: Any) -> str:
    # The drivers use json.dumps defaults: ", " and ": " separators, keys unsorted.
    return json.dumps(value)


def sorted_hosts(hosts: list[str]) -> list[str]:
    """Lexical order, as the drivers sort SM_HOSTS (algo-1, algo-10, algo-2)."""
    return sorted(hosts)


def code_dir(layout: HostLayout, cfg: ContainerConfig) -> Path:
    """The code directory, the script's working directory: /opt/ml/input/data/code (ModelTrainer's
    code channel) or /opt/ml/code (the toolkit's)."""
    return layout.toolkit_code_dir if cfg.classic else layout.code_dir


def resource_config(cfg: ContainerConfig) -> dict[str, Any]:
    return {
        "current_host": cfg.current_host,
        "current_instance_type": cfg.instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": list(cfg.hosts),
        "instance_groups": [{
            "instance_group_name": "homogeneousCluster",
            "instance_type": cfg.instance_type,
            "hosts": list(cfg.hosts),
        }],
        "network_interface_name": "eth0",
    }


def input_data_config(cfg: ContainerConfig) -> dict[str, Any]:
    """inputdataconfig.json: the user's channels, then (ModelTrainer only) the SDK's two."""
    entry = {"TrainingInputMode": cfg.input_mode, "S3DistributionType": "FullyReplicated",
             "RecordWrapperType": "None"}
    code_entry = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
                  "RecordWrapperType": "None"}
    config = {name: dict(entry) for name in cfg.channels}
    for name in () if cfg.classic else SDK_CHANNELS:
        config[name] = dict(code_entry)
    return config


def modeltrainer_environment(layout: HostLayout, cfg: ContainerConfig,
                             base_env: Mapping[str, str]) -> dict[str, str]:
    """The variables the entry script sees: the host's own (minus stale SM_*), then the drivers'."""
    env = {k: v for k, v in base_env.items() if not hidden(k)}
    env.update(cfg.environment)  # the job's Environment entries; the drivers' variables win
    decoded = hyperparams.decode(cfg.hyperparameters)
    hosts = sorted_hosts(cfg.hosts)
    channels = [*cfg.channels, *SDK_CHANNELS]
    channel_dirs = {name: str(layout.channel_dir(name)) for name in channels}
    rc = resource_config(cfg)
    idc = input_data_config(cfg)
    num_cpus = os.cpu_count() or 1
    training_env = {
        "channel_input_dirs": channel_dirs,
        "current_host": cfg.current_host,
        "current_instance_type": cfg.instance_type,
        "hosts": hosts,
        "master_addr": hosts[0],
        "master_port": MASTER_PORT,
        "hyperparameters": decoded,
        "input_data_config": idc,
        "input_config_dir": str(layout.config_dir),
        "input_data_dir": str(layout.data_dir),
        "input_dir": str(layout.input_dir),
        "job_name": cfg.job_name,
        "log_level": 20,
        "model_dir": str(layout.model_dir),
        "network_interface_name": "eth0",
        "num_cpus": num_cpus,
        "num_gpus": cfg.num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(layout.output_data_dir),
        "resource_config": rc,
    }
    sm = {
        "SM_MODEL_DIR": str(layout.model_dir),
        "SM_INPUT_DIR": str(layout.input_dir),
        "SM_INPUT_DATA_DIR": str(layout.data_dir),
        "SM_INPUT_CONFIG_DIR": str(layout.config_dir),
        "SM_OUTPUT_DIR": str(layout.output_dir),
        "SM_OUTPUT_DATA_DIR": str(layout.output_data_dir),
        "SM_OUTPUT_FAILURE": str(layout.failure_file),
        "SM_LOG_LEVEL": "20",
        "SM_MASTER_ADDR": hosts[0],
        "SM_MASTER_PORT": str(MASTER_PORT),
        "SM_SOURCE_DIR": str(layout.code_dir),
        "SM_ENTRY_SCRIPT": cfg.entry_script,
        "SM_CHANNELS": dumps(channels),
    }
    if cfg.distributed:
        sm["SM_DISTRIBUTED_DRIVER_DIR"] = str(layout.drivers_dir / "distributed_drivers")
        sm["SM_DISTRIBUTED_CONFIG"] = dumps(
            {"process_count_per_node": cfg.processes_per_host, "smp": None})
    for name in channels:
        sm[f"SM_CHANNEL_{name.upper()}"] = channel_dirs[name]
    sm["SM_HPS"] = dumps(decoded)
    for key, value in decoded.items():
        sm[hyperparams.env_name(key)] = hyperparams.argv_token(value)
    sm.update({
        "SM_CURRENT_HOST": cfg.current_host,
        "SM_CURRENT_INSTANCE_TYPE": cfg.instance_type,
        "SM_HOSTS": dumps(hosts),
        "SM_HOST_COUNT": str(len(hosts)),
        "SM_CURRENT_HOST_RANK": str(hosts.index(cfg.current_host)),
        "SM_NETWORK_INTERFACE_NAME": "eth0",
        "SM_NUM_CPUS": str(num_cpus),
        "SM_NUM_GPUS": str(cfg.num_gpus),
        "SM_NUM_NEURONS": "0",
        "SM_RESOURCE_CONFIG": dumps(rc),
        "SM_INPUT_DATA_CONFIG": dumps(idc),
        "SM_TRAINING_ENV": dumps(training_env),
    })
    env.update(sm)
    env.update(platform_environment(layout, cfg))
    return env


def platform_environment(layout: HostLayout, cfg: ContainerConfig) -> dict[str, str]:
    """What the platform and the image set under both contracts (the image's PYTHONUNBUFFERED)."""
    return {
        "TRAINING_JOB_NAME": cfg.job_name,
        "TRAINING_JOB_ARN": f"arn:aws:sagemaker:{cfg.region}:000000000000:training-job/{cfg.job_name}",
        "AWS_REGION": cfg.region,
        "PYTHONUNBUFFERED": "1",
        "PWD": str(code_dir(layout, cfg)),
    }
