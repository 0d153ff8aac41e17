"""What a finished local run warns about instead of reporting a silent success.

- An empty model directory on every host: `model.tar.gz` holds nothing, which on SageMaker is as
  much a success as here, and almost always a script that saved its model somewhere else.
- With relocated paths, a script that wrote to this machine's own `/opt/ml` (absolute paths) put
  its files outside the job: a bounded snapshot of that directory (existence, entries, sizes,
  mtimes) taken before the run and after it tells. In a mount namespace the script cannot reach it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from launcher.backends.local.opt_ml import OPT_ML

SNAPSHOT_LIMIT = 2000  # entries: a large host /opt/ml is compared by its first ones only
SHOWN_NAMES = 3


@dataclass(frozen=True)
class Snapshot:
    exists: bool
    entries: frozenset[tuple[str, int, int]]  # (path relative to the root, size, mtime in ns)


def snapshot(root: Path = OPT_ML, limit: int = SNAPSHOT_LIMIT) -> Snapshot:
    """What `root` holds now, as far as `limit` entries (lstat: links are not followed)."""
    try:
        top = os.lstat(root)
    except OSError:
        return Snapshot(False, frozenset())
    found = {(".", top.st_size, top.st_mtime_ns)}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            found.add((os.path.relpath(path, root), st.st_size, st.st_mtime_ns))
            if len(found) >= limit:
                return Snapshot(True, frozenset(found))
    return Snapshot(True, frozenset(found))


def host_opt_ml_warning(before: Snapshot, after: Snapshot, root: Path = OPT_ML) -> str | None:
    """A warning when the run changed this machine's /opt/ml, else None."""
    if before == after:
        return None
    if not before.exists:
        what = "created it"
    elif not after.exists:
        what = "removed it"
    else:
        names = sorted({e[0] for e in before.entries ^ after.entries} - {"."})
        shown = ", ".join(names[:SHOWN_NAMES]) + (", …" if len(names) > SHOWN_NAMES else "")
        what = (f"changed {len(names)} entr{'y' if len(names) == 1 else 'ies'}: {shown}" if names
                else "changed it")
    return (f"the script wrote to this machine's {root} ({what}), not to the job's tree: with "
            f"relocated paths only the SM_* directories (SM_MODEL_DIR, …) are the job's")


def empty_model_warning(model_dirs: list[Path]) -> str | None:
    """A warning when every host's model directory is empty (model.tar.gz holds nothing)."""
    for d in model_dirs:
        try:
            if any(d.iterdir()):
                return None
        except OSError:
            continue
    where = "every host's" if len(model_dirs) > 1 else "the"
    return (f"{where} model directory was empty at the end: model.tar.gz holds nothing (save the "
            "model under SM_MODEL_DIR, /opt/ml/model in the container)")
