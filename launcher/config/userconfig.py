"""The per-user config file (TOML): a partial job spec whose values are the user's defaults.

`launch infra deploy` writes the `[aws]` section (bucket, role, region); any other section has the
shape of a job file and provides defaults below the job file, env vars and flags. A top-level
`format_version` says which launcher wrote the file; files without one (written before it existed)
read the same, and a newer version is read with a warning.
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

FORMAT_VERSION = 1


def load_user_config(path: Path) -> dict[str, Any]:
    """The parsed config file (its settings only, without `format_version`), or {} when absent."""
    try:
        with path.open("rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"cannot parse user config {path}: {e}", "fix or delete the file") from e
    version = config.pop("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        log.warning("%s has format_version %r, newer than this launcher's %d: reading what it knows",
                    path, version, FORMAT_VERSION)
    return config


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
    config = {"format_version": FORMAT_VERSION, **config}
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
