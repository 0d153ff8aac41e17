"""The environment the training toolkit of a PyTorch DLC gives a classic Script Mode script.

sagemaker-training 5.1.4 builds `Environment()` from the config files and the reserved
hyperparameters and exports `Environment.to_env_vars()` (every name `SM_<KEY.upper()>`, values:
strings as they are, None empty, the rest compact JSON with sorted keys), after setting
SAGEMAKER_JOB_NAME, CURRENT_HOST and SAGEMAKER_REGION itself; the PyTorch toolkit adds NCCL_*,
MASTER_ADDR/MASTER_PORT and SM_DLC_TORCH_VERSION; `entry_point.run` sets PYTHONPATH with the code
dir first. Paths point into the layout given (the job's tree, or /opt/ml as the script sees it).
tests/test_classic_contract.py compares this with a record of the real toolkit.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from launcher.job import classic_contract as cc
from launcher.job.container_env import (
    ContainerConfig,
    HostLayout,
    hidden,
    input_data_config,
    platform_environment,
    resource_config,
)


def _torch_version() -> str | None:
    """The PyTorch toolkit's SM_DLC_TORCH_VERSION: the image's torch; here this Python's, if any."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def training_env(layout: HostLayout, cfg: ContainerConfig) -> dict[str, Any]:
    """`dict(Environment())`: the toolkit's SM_TRAINING_ENV, before encoding."""
    rc = resource_config(cfg)
    idc = input_data_config(cfg)
    sagemaker = {k: v for k, v in cc.decode(cfg.hyperparameters).items() if k.startswith(cc.PREFIX)}
    framework = cc.framework_parameters(cfg.hyperparameters)
    group = rc["current_group_name"]
    groups = {g["instance_group_name"]: g for g in rc["instance_groups"]}
    group_hosts = list(groups[group]["hosts"])
    distribution_groups = list(framework.get("sagemaker_distribution_instance_groups") or
                               ([group] if any(framework.get(k) for k in cc.DISTRIBUTION_FLAGS) else []))
    distribution_hosts = [h for g in rc["instance_groups"] if g["instance_group_name"] in distribution_groups
                          for h in g["hosts"]]
    master = distribution_hosts[0] if distribution_hosts else rc["hosts"][0]
    program = sagemaker.get(cc.PROGRAM)
    module_name = program[:-3] if isinstance(program, str) and program.endswith(".py") else program
    mp = cfg.environment.get("SM_HP_MP_PARAMETERS")  # the toolkit reads it from its environment
    return {
        "additional_framework_parameters": framework,
        "channel_input_dirs": {name: str(layout.channel_dir(name)) for name in idc},
        "current_host": cfg.current_host,
        "current_instance_group": group,
        "current_instance_group_hosts": group_hosts,
        "current_instance_type": cfg.instance_type,
        "distribution_hosts": distribution_hosts,
        "distribution_instance_groups": distribution_groups,
        "framework_module": cc.FRAMEWORK_MODULE,
        "hosts": list(rc["hosts"]),
        "hyperparameters": cc.user_hyperparameters(cfg.hyperparameters),
        "input_config_dir": str(layout.config_dir),
        "input_data_config": idc,
        "input_dir": str(layout.input_dir),
        "instance_groups": list(groups),
        "instance_groups_dict": groups,
        "is_hetero": len(groups) > 1,
        "is_master": cfg.current_host == master,
        "is_modelparallel_enabled": mp and mp != "{}",  # None unless the job's Environment sets it
        "is_smddpmprun_installed": shutil.which("smddpmprun") is not None,
        "is_smddprun_installed": shutil.which("smddprun") is not None,
        "job_name": cfg.job_name,
        "log_level": sagemaker.get(cc.CONTAINER_LOG_LEVEL, cc.LOG_LEVEL),
        "master_hostname": master,
        "model_dir": str(layout.model_dir),
        "module_dir": str(sagemaker.get(cc.SUBMIT_DIRECTORY, layout.toolkit_code_dir)),
        "module_name": module_name,
        "network_interface_name": rc["network_interface_name"],
        "num_cpus": os.cpu_count() or 1,
        "num_gpus": cfg.num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "output_intermediate_dir": str(layout.intermediate_dir),
        "resource_config": rc,
        "topology": rc.get("topology", []),
        "user_entry_point": program,
    }


def sm_variables(layout: HostLayout, cfg: ContainerConfig) -> dict[str, str]:
    """`Environment.to_env_vars()`, in its order."""
    t = training_env(layout, cfg)
    hps = t["hyperparameters"]
    keys = {
        "hosts": t["hosts"], "network_interface_name": t["network_interface_name"], "hps": hps,
        "user_entry_point": t["user_entry_point"], "framework_params": t["additional_framework_parameters"],
        "resource_config": t["resource_config"], "input_data_config": t["input_data_config"],
        "output_data_dir": t["output_data_dir"], "channels": sorted(t["channel_input_dirs"]),
        "current_host": t["current_host"], "current_instance_type": t["current_instance_type"],
        "current_instance_group": t["current_instance_group"],
        "current_instance_group_hosts": t["current_instance_group_hosts"],
        "instance_groups": t["instance_groups"], "instance_groups_dict": t["instance_groups_dict"],
        "distribution_instance_groups": t["distribution_instance_groups"], "is_hetero": t["is_hetero"],
        "module_name": t["module_name"], "log_level": t["log_level"],
        "framework_module": t["framework_module"], "input_dir": t["input_dir"],
        "input_config_dir": t["input_config_dir"], "output_dir": t["output_dir"],
        "num_cpus": t["num_cpus"], "num_gpus": t["num_gpus"], "num_neurons": t["num_neurons"],
        "model_dir": t["model_dir"], "module_dir": t["module_dir"], "training_env": t,
        "user_args": cc.to_cmd_args(hps), "output_intermediate_dir": t["output_intermediate_dir"],
    }
    if t["topology"]:
        keys["topology"] = t["topology"]
    keys.update({f"channel_{name}": path for name, path in t["channel_input_dirs"].items()})
    keys.update({f"hp_{key}": value for key, value in hps.items()})
    return {f"SM_{key.upper()}": cc.env_value(value) for key, value in keys.items()}


def toolkit_environment(layout: HostLayout, cfg: ContainerConfig,
                        base_env: Mapping[str, str]) -> dict[str, str]:
    """The variables the entry script sees under the classic contract: the host's own (minus
    stale SageMaker ones), the job's Environment, then the image's, the toolkits' and the platform's."""
    env = {k: v for k, v in base_env.items() if not hidden(k)}
    env.update(cfg.environment)
    env["SAGEMAKER_TRAINING_MODULE"] = cc.FRAMEWORK_MODULE  # an ENV line of the DLC
    decoded = cc.decode(cfg.hyperparameters)
    rc = resource_config(cfg)
    t = training_env(layout, cfg)
    env.update({  # Environment() sets these in its own process, which the script inherits
        "SAGEMAKER_JOB_NAME": str(decoded.get(cc.JOB_NAME, "")),
        "CURRENT_HOST": cfg.current_host,
        "SAGEMAKER_REGION": str(decoded.get(cc.REGION) or ""),
    })
    env.update({"NCCL_SOCKET_IFNAME": rc["network_interface_name"], **cc.NCCL_SETTINGS,
                "MASTER_ADDR": t["master_hostname"], "MASTER_PORT": str(cc.MASTER_PORT)})
    if (torch := _torch_version()) is not None:
        env["SM_DLC_TORCH_VERSION"] = torch
    env.update(sm_variables(layout, cfg))
    # The toolkit's sys.path, the code dir first; the image's site-packages are this Python's own.
    env["PYTHONPATH"] = str(layout.toolkit_code_dir)
    env.update(platform_environment(layout, cfg))
    return env
