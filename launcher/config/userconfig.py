"""The per-user config file (TOML): a partial job spec whose values are the user's defaults.

`launch infra deploy` writes the `[aws]` section (bucket, role, region); any other section has the
shape of a job file and provides defaults below the job file, env vars and flags.
"""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError

log = logging.getLogger(__name__)


def load_user_config(path: Path) -> dict[str, Any]:
    """The parsed config file, or {} when it does not exist."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot parse user config {path}: {e}", "fix or delete the file") from e


def update_user_config(path: Path, section: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `values` into `[section]` (None deletes a key) and write the file atomically."""
    import tomli_w

    config = load_user_config(path)
    table = dict(config.get(section) or {})
    for key, value in values.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    config[section] = table
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(fd, "wb") as f:
            tomli_w.dump(config, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("wrote [%s] to %s", section, path)
    return config
