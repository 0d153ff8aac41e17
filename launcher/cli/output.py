"""Presentation helpers shared by the commands: JSON output and a lazily built rich console."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from launcher.context import Environment

if TYPE_CHECKING:
    from rich.console import Console


def emit_json(env: Environment, obj: Any) -> None:
    env.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def console(env: Environment, *, stderr: bool = False) -> Console:
    from rich.console import Console

    stream = env.stderr if stderr else env.stdout
    return Console(file=stream, force_terminal=bool(env.stdout_isatty), highlight=False,
                   soft_wrap=True)
