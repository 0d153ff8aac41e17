"""Running the entry script of each emulated host as a process group, streaming its output by lines.

Each host's process starts in a new session and, where the machine allows it, in a PID namespace of
its own (isolation.py) and, when its command says so, a mount namespace where /opt/ml is its own
tree (opt_ml.py), so the whole tree (torchrun, its workers, a child that called `setsid`) is
killed at once, as a spot reclaim or a stop would, and dies with the launcher. Output is merged
stdout+stderr split on newlines and kept as written (indentation included: CloudWatch strips it,
a local log need not).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from launcher.backends.local.isolation import in_opt_ml_namespace, owned
from launcher.backends.local.opt_ml import OptMlMount

log = logging.getLogger(__name__)

LineHandler = Callable[[str, str], None]  # (host, line)


@dataclass
class HostCommand:
    host: str
    argv: list[str]
    cwd: Path
    env: Mapping[str, str]
    log_path: Path
    opt_ml: OptMlMount | None = None  # set: run where /opt/ml is this tree, `cwd` a path in there


@dataclass
class RunningHost:
    command: HostCommand
    proc: subprocess.Popen[bytes]
    reader: threading.Thread
    killed: bool = False


def exit_status(returncode: int) -> int:
    """The container's exit status: the driver exits with the script's code; a signal N gives
    `sys.exit(-N)`, i.e. 256 - N (SIGKILL → 247)."""
    return returncode if returncode >= 0 else (256 + returncode) & 0xFF


@dataclass
class ProcessGroup:
    """The processes of one attempt (one per host)."""

    on_line: LineHandler
    pid_namespace: bool | None = None  # None: a PID namespace per host where the machine allows it
    hosts: list[RunningHost] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, commands: Sequence[HostCommand]) -> None:
        for cmd in commands:
            cmd.log_path.parent.mkdir(parents=True, exist_ok=True)
            if cmd.opt_ml is not None:  # the setup script changes to cmd.cwd once it exists
                argv, cwd = in_opt_ml_namespace(cmd.argv, cmd.opt_ml, cmd.cwd), cmd.opt_ml.tree
            else:
                (argv, _), cwd = owned(cmd.argv, self.pid_namespace), cmd.cwd
            proc = subprocess.Popen(
                argv, cwd=cwd, env=dict(cmd.env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )
            reader = threading.Thread(target=self._pump, args=(cmd, proc), daemon=True,
                                      name=f"output-{cmd.host}")
            self.hosts.append(RunningHost(cmd, proc, reader))
            reader.start()
            log.info("started %s on %s (pid %d): %s", cmd.argv[1:2], cmd.host, proc.pid, cmd.cwd)

    def _pump(self, cmd: HostCommand, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        with cmd.log_path.open("a", encoding="utf-8") as logf:
            failed = False
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                logf.write(line + "\n")
                logf.flush()
                try:
                    self.on_line(cmd.host, line)
                except Exception:  # keep draining: a blocked pipe would hang the script
                    if not failed:
                        log.warning("output handler failed on %s; still logging to %s", cmd.host,
                                    cmd.log_path, exc_info=True)
                    failed = True

    @property
    def pids(self) -> list[int]:
        return [h.proc.pid for h in self.hosts]

    def kill(self) -> None:
        """SIGKILL every host's whole process group: no handler runs, as on a reclaim."""
        with self._lock:
            for h in self.hosts:
                if h.proc.poll() is None:
                    h.killed = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(h.proc.pid, signal.SIGKILL)

    def poll(self) -> bool:
        """True once every host has exited."""
        return all(h.proc.poll() is not None for h in self.hosts)

    def wait(self, timeout: float | None = None) -> list[int]:
        """Exit statuses (container semantics), after the output readers drained."""
        codes = []
        for h in self.hosts:
            h.proc.wait(timeout=timeout)
            h.reader.join()
            codes.append(exit_status(h.proc.returncode))
        return codes

    def any_failed(self) -> bool:
        return any(h.proc.poll() not in (None, 0) for h in self.hosts)
