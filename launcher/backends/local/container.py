"""The emulated SageMaker training container of one host, on this machine: the /opt/ml tree is
written (config files, channels) and the entry script's argv made, under the job's contract.

What the script sees (layout, config content, SM_* environment) is decided in launcher.job:
`container_env` (SDK v3 ModelTrainer's drivers, container-contract.md) and `classic_env` (the
framework image's training toolkit, docs/classic.md); the names are re-exported here.

The tree lives under the job directory; in a mount namespace the script sees it at /opt/ml, else
the SM_* variables point into the job directory (a recorded deviation).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping
from pathlib import Path

from launcher.config import wire as hyperparams
from launcher.job import classic_contract
from launcher.job.classic_env import toolkit_environment
from launcher.job.container_env import (
    HIDDEN_NAMES,
    HIDDEN_PREFIXES,
    MASTER_PORT,
    SDK_CHANNELS,
    ContainerConfig,
    HostLayout,
    code_dir,
    input_data_config,
    modeltrainer_environment,
    resource_config,
    sorted_hosts,
)
from launcher.job.container_env import dumps as _dumps

__all__ = ["HIDDEN_NAMES", "HIDDEN_PREFIXES", "MASTER_PORT", "SDK_CHANNELS", "ContainerConfig",
           "HostLayout", "code_dir", "container_environment", "entry_command", "input_data_config",
           "resource_config", "sorted_hosts", "stage_local_channel", "write_config_files"]


def write_config_files(layout: HostLayout, cfg: ContainerConfig, view: HostLayout | None = None) -> None:
    """The config files, written into `layout`; paths in them as the script sees them (`view`:
    /opt/ml in a mount namespace; default: `layout` itself)."""
    c = layout.config_dir
    (c / "hyperparameters.json").write_text(_dumps(dict(cfg.hyperparameters)))
    (c / "resourceconfig.json").write_text(_dumps(resource_config(cfg)))
    (c / "inputdataconfig.json").write_text(_dumps(input_data_config(cfg)))
    if cfg.checkpointing:
        local_path = (view or layout).checkpoint_dir
        (c / "checkpointconfig.json").write_text(_dumps({"LocalPath": str(local_path)}))
        layout.checkpoint_dir.mkdir(parents=True, exist_ok=True)


def container_environment(layout: HostLayout, cfg: ContainerConfig,
                          base_env: Mapping[str, str]) -> dict[str, str]:
    """The variables the entry script sees, under the config's contract."""
    if cfg.classic:
        return toolkit_environment(layout, cfg, base_env)
    return modeltrainer_environment(layout, cfg, base_env)


def entry_command(python: str, cfg: ContainerConfig) -> list[str]:
    """How the driver runs the script: python for .py, /bin/sh for .sh (contract §5.2).

    Classic: as the toolkit's ProcessRunner (5.1.4) does, argv rendered by `to_cmd_args` (sorted,
    `-k`, `True`); any other script run by `/bin/sh -c "./script 'arg' …"` (staging made it
    executable, as the toolkit's install step does). The toolkit puts `--` before a .py script's
    name; the script's sys.argv is the same without it.
    """
    if cfg.classic:
        argv = classic_contract.to_cmd_args(classic_contract.user_hyperparameters(cfg.hyperparameters))
        if not cfg.entry_script.endswith(".py"):
            quoted = " ".join(shlex.quote(a) for a in argv)
            script = shlex.quote(cfg.entry_script)
            return ["/bin/sh", "-c", f"./{script} {quoted}"]
        return [python, cfg.entry_script, *argv]
    argv = hyperparams.argv_tokens(hyperparams.decode(cfg.hyperparameters))
    if cfg.entry_script.endswith(".sh"):
        quoted = " ".join(shlex.quote(a) for a in argv)
        return ["/bin/sh", "-c", f"chmod +x {cfg.entry_script} && ./{cfg.entry_script} {quoted}"]
    return [python, cfg.entry_script, *argv]


def stage_local_channel(source: Path, dest: Path) -> int:
    """Hard-link (or copy) a file or directory into the channel dir, read-only; returns bytes."""
    dest.mkdir(parents=True, exist_ok=True)
    files = [(source, dest / source.name)] if source.is_file() else [
        (p, dest / p.relative_to(source)) for p in sorted(source.rglob("*")) if p.is_file()]
    total = 0
    for src, dst in files:
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
            dst.chmod(0o444)
        total += dst.stat().st_size
    # Read-only directories: the script cannot add, rename or delete channel files (File mode data
    # is input). Root ignores modes, and a hard link still shares its inode with the original.
    for d in sorted((p for p in dest.rglob("*") if p.is_dir()), reverse=True):
        d.chmod(0o555)
    dest.chmod(0o555)
    return total
