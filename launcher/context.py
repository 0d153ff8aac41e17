"""The environment a command runs in: streams, env vars, config and data locations.

The CLI is a function of (argv, Environment) returning an exit status, so tests replace this object
instead of patching globals.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO


def _default_config_path(environ: Mapping[str, str]) -> Path:
    if environ.get("LAUNCHER_CONFIG"):
        return Path(environ["LAUNCHER_CONFIG"]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "launcher" / "config.toml"


def _default_home(environ: Mapping[str, str]) -> Path:
    if environ.get("LAUNCHER_HOME"):
        return Path(environ["LAUNCHER_HOME"]).expanduser()
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "launcher"


@dataclass
class Environment:
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cwd: Path = field(default_factory=Path.cwd)
    stdout_isatty: bool | None = None
    config_path: Path | None = None
    home: Path | None = None

    def __post_init__(self) -> None:
        if self.stdout_isatty is None:
            self.stdout_isatty = bool(getattr(self.stdout, "isatty", lambda: False)())
        if self.config_path is None:
            self.config_path = _default_config_path(self.environ)
        if self.home is None:
            self.home = _default_home(self.environ)

    @property
    def jobs_dir(self) -> Path:
        """Root of local job directories (one per job)."""
        assert self.home is not None
        return self.home / "jobs"
