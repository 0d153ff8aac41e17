"""Where a job's output goes while someone may be watching it.

Without a terminal (CI, pipes, CloudWatch) the script's lines are written as they come, nothing
else: no cursor movement, no colour. On a terminal, once `watch(progress)` is called, the lines
scroll above a live display of the job's progress (see `progress.py`), redrawn a few times a
second so the ETA and elapsed time move between log lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from launcher.cli.render.console import console
from launcher.cli.render.progress import Progress, metrics_text, progress_text
from launcher.context import Environment

MAX_BAR_WIDTH, MIN_BAR_WIDTH = 30, 10


class JobScreen:
    """`echo(line)` for the script's lines and `notify(message)` for the launcher's notes; the same
    calls whether or not a live display is shown. Close it (or use it as a context manager) before
    printing anything else."""

    def __init__(self, env: Environment, *, show_lines: bool = True, stream: Any = None,
                 clock: Callable[[], float] = time.monotonic, auto_refresh: bool = True) -> None:
        self.env = env
        self.show_lines = show_lines
        self.stream = stream or env.stdout
        self.clock = clock
        self.auto_refresh = auto_refresh
        self.progress: Progress | None = None
        self._live: Any = None
        self._closed = False
        self.pipe_closed = False

    @property
    def live(self) -> bool:
        """Whether lines go through a live display (a terminal, and `watch` was called)."""
        return self.progress is not None and bool(self.env.stdout_isatty) and self.show_lines

    def watch(self, progress: Progress) -> None:
        """Track this job's progress from now on (shown only on a terminal)."""
        self.progress = progress

    def echo(self, line: str) -> None:
        if self.progress is not None:
            self.progress.feed(line, self.clock())
        if not self.show_lines:
            return
        if self.live and not self._closed:
            from rich.text import Text

            self._start().console.print(Text(line), highlight=False)
            if not self.auto_refresh:
                self._live.refresh()
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except BrokenPipeError:  # `| head`: stop echoing (a local job keeps training and logging)
            self.show_lines = False
            self.pipe_closed = True

    def notify(self, message: str) -> None:
        """A backend's note (plain text, never markup); a `warning: ` one stands out."""
        from rich.markup import escape

        text = escape(message)
        if message.startswith("warning: "):
            text = "[yellow]warning:[/] " + escape(message.removeprefix("warning: "))
        if self._live is not None:
            self._live.console.print(f"[dim]launch:[/] {text}", markup=True, highlight=False)
            return
        console(self.env, stderr=True).print(f"[dim]launch:[/] {text}", markup=True, highlight=False)

    def _start(self) -> Any:
        # Started on the first line, not on `watch`: transfer bars of the staging are gone by then.
        if self._live is None:
            from rich.live import Live

            self._live = Live(self, console=console(self.env), auto_refresh=self.auto_refresh,
                              refresh_per_second=4, transient=False, redirect_stdout=False,
                              redirect_stderr=False)
            self._live.start()
        return self._live

    def close(self) -> None:
        """Stop the live display, leaving its last state on screen."""
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        self._closed = True

    def __enter__(self) -> JobScreen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """The progress line, with a bar in front when the width leaves room for one, and the
        latest metrics under it."""
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        p = self.progress
        assert p is not None
        text = progress_text(p, self.clock())
        bar_width = min(MAX_BAR_WIDTH, options.max_width - len(text) - 1)
        if p.fraction is not None and bar_width >= MIN_BAR_WIDTH:
            line = Table.grid(padding=(0, 1))
            line.add_column(width=bar_width)
            line.add_column(no_wrap=True)
            line.add_row(ProgressBar(total=1.0, completed=p.fraction, width=bar_width),
                         Text(text, style="bold"))
            yield line
        else:
            yield Text(text, style="bold")
        if metrics := metrics_text(p):
            yield Text(metrics, style="dim", no_wrap=True, overflow="ellipsis")
