"""Options of a local run, and the small probes of this machine they need."""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass, field


class Interrupter:
    """Decides when to SIGKILL an attempt, as a spot reclaim would. Subclasses: drills, tests."""

    def arm(self, attempt: int) -> None:
        """Called when attempt `attempt` (0-based) starts."""

    def observe(self, line: str) -> None:
        """Every output line of every attempt (to track progress)."""

    def should_kill(self, elapsed: float, line: str | None) -> bool:
        return False

    def killed(self) -> None:
        """Called when the current attempt was killed on this interrupter's decision."""


@dataclass
class LocalOptions:
    interrupter: Interrupter | None = None
    max_interruptions: int = 0
    python: str = field(default_factory=lambda: sys.executable)
    pid_namespace: bool | None = None  # None: where available; False: sessions only (the fallback)
    # None: /opt/ml is each host's own tree (a mount namespace) where available; False: relocated
    # paths under the job directory (the fallback: --relocate-opt-ml, LAUNCHER_MOUNT_NAMESPACE=0).
    mount_namespace: bool | None = None


def count_gpus() -> int:
    """Like the drivers: the number of `GPU ` lines of `nvidia-smi --list-gpus`."""
    try:
        out = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
