"""Each host's process tree owned by the job: its own PID namespace, tied to the launcher's life.

A host's command runs as `setpriv --pdeathsig KILL -- unshare --pid --fork --kill-child=KILL -- …`:
the script is the first process of a new PID namespace, so when it ends, or when `unshare` is
killed (`launch stop`, `--max-run`, Ctrl-C, a drill's reclaim), the kernel ends every process of the
namespace, a child that called `setsid` included, as a container's end would. `--pdeathsig` kills
`unshare` when the launcher itself dies (even by SIGKILL), so nothing outlives it. As root this needs
nothing more; otherwise an unprivileged user namespace is added. Where neither is allowed (another
OS, a locked-down kernel), the host runs in a session of its own as before, and the run says so.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10


def _wrapper(user_namespace: bool) -> list[str]:
    user = ["--user", "--map-current-user"] if user_namespace else []
    return ["setpriv", "--pdeathsig", "KILL", "--", "unshare", *user, "--pid", "--fork",
            "--kill-child=KILL", "--"]


@functools.cache
def namespace_wrapper() -> tuple[str, ...] | None:
    """The wrapper that works on this machine (tried once), or None where none does."""
    if not (shutil.which("setpriv") and shutil.which("unshare")):
        return None
    for user_namespace in ((False, True) if os.geteuid() == 0 else (True,)):
        argv = [*_wrapper(user_namespace), "true"]
        try:
            ok = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_S).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        if ok:
            return tuple(_wrapper(user_namespace))
    log.info("no PID namespace available: hosts run in sessions of their own")
    return None


def owned(argv: list[str], enabled: bool | None) -> tuple[list[str], bool]:
    """`argv` in a PID namespace of its own when available and not switched off; and whether it is."""
    wrapper = namespace_wrapper() if enabled is not False else None
    if wrapper is None:
        return argv, False
    return [*wrapper, *argv], True


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (clock ticks since boot), which tells a reused PID apart."""
    try:
        stat = open(f"/proc/{pid}/stat").read()  # noqa: SIM115 (one short read)
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22; the name before ')' may hold spaces


def runner_token() -> str:
    """What a job records of the process that runs it: its PID and start time."""
    pid = os.getpid()
    started = process_start_time(pid)
    return f"{pid} {started}" if started else str(pid)


def runner_alive(token: str) -> bool:
    """Whether the process a job recorded as its runner still runs (the same process, not a reuse)."""
    parts = token.split()
    if not parts or not parts[0].isdigit():
        return False
    pid = int(parts[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if len(parts) > 1:
        return process_start_time(pid) == parts[1]
    return True
