"""Presentation helpers shared by the commands: JSON output and a lazily built rich console."""

from __future__ import annotations

import json
import threading
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


class TransferProgress:
    """`progress(label, bytes_done, bytes_total)` as a rich bar per item on a terminal; silent
    otherwise. The bar goes away once every item is done, before the job's own output streams.
    Transfers run in threads (several files, several parts): calls are serialised."""

    def __init__(self, env: Environment, verb: str) -> None:
        self.env = env
        self.verb = verb
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}
        self.left: dict[str, bool] = {}
        self._lock = threading.RLock()

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.env.stdout_isatty:
            return
        with self._lock:
            self._update(label, done, total)

    def _update(self, label: str, done: int, total: int) -> None:
        if self.bar is None:
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

            self.bar = Progress(TextColumn(f"{self.verb} {{task.description}}"), BarColumn(),
                                DownloadColumn(), console=console(self.env, stderr=True), transient=True)
            self.bar.start()
        if label not in self.tasks:
            self.tasks[label] = self.bar.add_task(label, total=total or 1)
        self.bar.update(self.tasks[label], completed=done if total else 1)
        self.left[label] = bool(total) and done < total
        if not any(self.left.values()):
            self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
            self.tasks.clear()
            self.left.clear()
