"""Each host's process tree owned by the job: its own PID namespace, tied to the launcher's life.

A host's command runs as `setpriv --pdeathsig KILL -- unshare --pid --fork --kill-child=KILL -- …`:
the script is the first process of a new PID namespace, so when it ends, or when `unshare` is
killed (`launch stop`, `--max-run`, Ctrl-C, a drill's reclaim), the kernel ends every process of the
namespace, a child that called `setsid` included, as a container's end would. `--pdeathsig` kills
`unshare` when the launcher itself dies (even by SIGKILL), so nothing outlives it. As root this needs
nothing more; otherwise an unprivileged user namespace is added. Where neither is allowed (another
OS, a locked-down kernel), the host runs in a session of its own as before, and the run says so.

The same `unshare` also gives each host a private mount namespace in which `/opt/ml` is that host's
tree (opt_ml.py), where the machine allows it: as root directly; otherwise the user namespace maps
the caller to root for the mounts only (`--map-root-user`) and the script runs as the caller. Where
it cannot (no /opt, no namespaces, or switched off), paths are relocated and the run says why.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from launcher.backends.local.opt_ml import OptMlMount, probe_argv, setup_argv
from launcher.errors import LauncherError

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 10


def _wrapper(user_namespace: bool, mount: bool = False) -> list[str]:
    # The mount setup must run as (namespace) root: --map-current-user would leave the setup shell
    # without capabilities once it is exec'd. The script itself is dropped back to the caller.
    user = (["--user", "--map-root-user" if mount else "--map-current-user"] if user_namespace
            else [])
    mounts = ["--mount", "--propagation", "private"] if mount else []
    return ["setpriv", "--pdeathsig", "KILL", "--", "unshare", *user, "--pid", "--fork",
            "--kill-child=KILL", *mounts, "--"]


def _works(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_S).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _user_namespace_choices() -> tuple[bool, ...]:
    return (False, True) if os.geteuid() == 0 else (True,)


def _tools() -> bool:
    return bool(shutil.which("setpriv") and shutil.which("unshare"))


@functools.cache
def namespace_wrapper() -> tuple[str, ...] | None:
    """The wrapper that works on this machine (tried once), or None where none does."""
    if not _tools():
        return None
    for user_namespace in _user_namespace_choices():
        if _works([*_wrapper(user_namespace), "true"]):
            return tuple(_wrapper(user_namespace))
    log.info("no PID namespace available: hosts run in sessions of their own")
    return None


@dataclass(frozen=True)
class MountWrapper:
    prefix: tuple[str, ...]
    uid: int | None  # the caller's ids the script drops back to (unprivileged); None as root
    gid: int | None


@functools.cache
def mount_wrapper() -> MountWrapper | None:
    """The PID + mount namespace wrapper that works here (tried once), or None where none does."""
    if not _tools() or not sys.platform.startswith("linux") or not Path("/opt").is_dir():
        return None
    for user_namespace in _user_namespace_choices():
        uid, gid = (os.getuid(), os.getgid()) if user_namespace else (None, None)
        prefix = _wrapper(user_namespace, mount=True)
        if _works([*prefix, *probe_argv(uid, gid)]):
            return MountWrapper(tuple(prefix), uid, gid)
    log.info("no mount namespace available: /opt/ml paths are relocated")
    return None


@dataclass(frozen=True)
class Isolation:
    """How the hosts of one run are kept apart on this machine."""

    pid_namespace: bool      # each host's processes in a PID namespace (else a session)
    opt_ml: bool             # /opt/ml is each host's own tree (a mount namespace)
    as_caller: bool = False  # unprivileged: the script runs as the caller's uid, not as root
    relocated_because: str = ""  # why /opt/ml is not the host's tree, when it is not


def _under_opt(path: Path) -> bool:
    return path.resolve().is_relative_to(Path("/opt").resolve())


def isolation(pid_namespace: bool | None, mount_namespace: bool | None,
              jobs_root: Path | None = None) -> Isolation:
    """What this run gets: None asks for the best the machine allows, False switches a part off.
    `jobs_root`: where the job trees live (a tmpfs over /opt would hide one that lives there)."""
    inside_opt = jobs_root is not None and _under_opt(jobs_root)
    if pid_namespace is not False and mount_namespace is not False and not inside_opt:
        wrapper = mount_wrapper()
        if wrapper is not None:
            return Isolation(True, True, as_caller=wrapper.uid is not None)
    pid = pid_namespace is not False and namespace_wrapper() is not None
    if mount_namespace is False:
        why = "switched off"
    elif pid_namespace is False:
        why = "namespaces switched off"
    elif inside_opt:
        why = "the jobs directory is under /opt"
    elif not sys.platform.startswith("linux") or not _tools():
        why = "no setpriv/unshare on this machine"
    elif not Path("/opt").is_dir():
        why = "this machine has no /opt"
    else:
        why = "no mount namespace allowed here"
    return Isolation(pid, False, relocated_because=why)


def in_opt_ml_namespace(argv: list[str], mount: OptMlMount, cwd: Path) -> list[str]:
    """`argv` in PID and mount namespaces of its own where /opt/ml is `mount.tree`, run in `cwd`
    (a path inside that namespace). Only after `isolation()` said the machine allows it."""
    wrapper = mount_wrapper()
    if wrapper is None:
        raise LauncherError("no mount namespace on this machine", "run again with --relocate-opt-ml")
    mount.prepare()
    return [*wrapper.prefix, *setup_argv(mount, cwd, argv, wrapper.uid, wrapper.gid)]


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
