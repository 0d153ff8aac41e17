"""`/opt/ml` as each host's own tree: a private mount namespace set up by a small `sh` script.

Inside a host's mount namespace (private propagation: nothing reaches the machine's mounts) the
script below runs before the entry script, then `exec`s it:

- if `/opt/ml` exists on the machine, the host's tree is bind-mounted over it;
- otherwise the real `/opt` is bind-mounted (recursively) onto a stash directory inside the job
  directory, a tmpfs goes over `/opt`, every original entry comes back (directories and files
  bind-mounted from the stash, symlinks recreated with their target), `/opt/ml` is made in the
  tmpfs and the host's tree bound there, and the stash is detached. Nothing is created on the
  machine outside the job directory and no other entry of `/opt` is hidden.

As root the script mounts directly and the entry script runs as root, as in a real container.
Unprivileged, the namespace's user namespace maps the caller to root for the setup only: the entry
script then runs in a nested user namespace as the caller's own uid/gid, without capabilities, so
the read-only channel directories stay read-only. Paths travel as positional arguments, never
inside the script's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OPT_ML = Path("/opt/ml")
SCRIPT_NAME = "launcher-opt-ml"  # $0 of the setup shell: what `ps` shows for the instant it runs

# $1 tree, $2 stash, $3 working directory, $4/$5 uid/gid to drop to ("" as root), $6 a hosts file
# ("" for none), then the argv.
SETUP = r"""set -e
tree=$1 stash=$2 dir=$3 uid=$4 gid=$5 hosts=$6
shift 6
if [ -n "$hosts" ] && [ -f /etc/hosts ]; then
  mount --bind -- "$hosts" /etc/hosts
fi
if [ -d /opt/ml ]; then
  mount --bind -- "$tree" /opt/ml
else
  mount --rbind -- /opt "$stash"
  mount -t tmpfs -o "mode=$(stat -c %a -- "$stash")" tmpfs /opt
  for e in "$stash"/* "$stash"/.[!.]* "$stash"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    [ "$n" = ml ] && continue
    if [ -L "$e" ]; then ln -s -- "$(readlink -- "$e")" "/opt/$n"
    elif [ -d "$e" ]; then mkdir -- "/opt/$n"; mount --rbind -- "$e" "/opt/$n"
    else : > "/opt/$n"; mount --bind -- "$e" "/opt/$n"
    fi
  done
  mkdir /opt/ml
  mount --bind -- "$tree" /opt/ml
  umount -l -- "$stash"
fi
cd -- "$dir"
unset OLDPWD
if [ -n "$uid" ]; then
  exec unshare --user --map-user="$uid" --map-group="$gid" -- "$@"
fi
exec "$@"
"""

# What the probe runs in a candidate namespace: a mount over /opt (undone with the namespace) and,
# unprivileged, the drop to the caller's ids. Nothing is written anywhere.
PROBE = r"""set -e
mount -t tmpfs tmpfs /opt
if [ -n "$1" ]; then exec unshare --user --map-user="$1" --map-group="$2" -- true; fi
"""


@dataclass(frozen=True)
class OptMlMount:
    """One host's /opt/ml: its tree on disk, and an empty directory of the job's to stash /opt on."""

    tree: Path
    stash: Path
    hosts: tuple[str, ...] = ()  # the job's host names: they resolve to loopback in the namespace

    @property
    def hosts_file(self) -> Path:
        return self.stash.parent / "etc-hosts"

    def prepare(self) -> None:
        self.stash.mkdir(parents=True, exist_ok=True)
        if self.hosts:
            self.hosts_file.write_text(hosts_file_text(self.hosts))


def hosts_file_text(hosts: Sequence[str], machine: Path = Path("/etc/hosts")) -> str:
    """The machine's /etc/hosts plus the job's host names on loopback: a real cluster's /etc/hosts
    names algo-1…algo-N, and scripts (or the toolkit's MASTER_ADDR=algo-1) connect by those names."""
    try:
        base = machine.read_text()
    except OSError:
        base = "127.0.0.1\tlocalhost\n"
    if base and not base.endswith("\n"):
        base += "\n"
    return f"{base}# launcher: the job's hosts\n127.0.0.1\t{' '.join(hosts)}\n"


def drop_to(uid: int | None, gid: int | None) -> list[str]:
    return ["" if uid is None else str(uid), "" if gid is None else str(gid)]


def setup_argv(mount: OptMlMount, cwd: Path, argv: Sequence[str], uid: int | None,
               gid: int | None) -> list[str]:
    """`argv` run in `cwd` once `/opt/ml` is the host's tree (to follow a namespace wrapper)."""
    hosts = str(mount.hosts_file) if mount.hosts else ""
    return ["/bin/sh", "-c", SETUP, SCRIPT_NAME, str(mount.tree), str(mount.stash), str(cwd),
            *drop_to(uid, gid), hosts, *argv]


def probe_argv(uid: int | None, gid: int | None) -> list[str]:
    return ["/bin/sh", "-c", PROBE, SCRIPT_NAME, *drop_to(uid, gid)]
