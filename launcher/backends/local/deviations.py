"""What a local run cannot make identical to the real training container (container-contract.md §13)."""

from __future__ import annotations

from launcher.backends.base import Deviation
from launcher.backends.local.container import ContainerConfig, HostLayout


def deviations(cfg: ContainerConfig, layout: HostLayout) -> list[Deviation]:
    """What this local container cannot make identical to the real one (contract §13)."""
    found = [
        Deviation("/opt/ml paths", "/opt/ml/…", f"{layout.root}/… (SM_* variables point there)"),
        Deviation("hostname", "EC2 name; algo-N in resourceconfig", "this machine's name"),
        Deviation("image", "PyTorch DLC (python3 of the image)", "this machine's Python and packages"),
        Deviation("sm_drivers channel", "24 SDK driver files", "an empty directory"),
        Deviation("local channels", "downloaded copies",
                  "hard links (copies across filesystems) in read-only directories"),
        Deviation("instance type", cfg.instance_type, "nominal; CPU/GPU counts are this machine's"),
        Deviation("stop", "SIGTERM to PID 1 (ignored), SIGKILL after 120 s",
                  "SIGKILL of the process group at once"),
    ]
    if cfg.input_mode != "File":
        found.append(Deviation("input mode", cfg.input_mode, "File (channels fully staged first)"))
    if cfg.distributed:
        found.append(Deviation("NCCL/EFA", "NCCL_SOCKET_IFNAME=eth0, EFA on large types",
                               "loopback rendezvous on 127.0.0.1, no EFA"))
    return found
