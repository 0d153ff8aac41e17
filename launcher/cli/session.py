"""The runner of one CLI command, wired to the command's Environment and its output streams."""

from __future__ import annotations

from collections.abc import Callable

from launcher.cli.render.console import TransferProgress, console
from launcher.context import Environment
from launcher.runner import Runner, make_runner


def cli_runner(env: Environment, *, echo: Callable[[str], None] | None = None,
               quiet: bool = False, notify: Callable[[str], None] | None = None
               ) -> tuple[Runner, list[TransferProgress]]:
    """The runner, and the progress bars to close when the command ends. `notify` replaces the
    default notes on stderr (a live progress display prints them above itself)."""
    err = console(env, stderr=True)

    def note(message: str) -> None:
        if quiet:
            return
        if notify is not None:
            notify(message)
        else:
            err.print(f"[dim]launch:[/] {message}", markup=True, highlight=False)

    downloads, uploads = TransferProgress(env, "download"), TransferProgress(env, "upload")
    assert env.home is not None
    runner = make_runner(home=env.home, jobs_dir=env.jobs_dir, environ=env.environ, cwd=env.cwd,
                         echo=echo, notify=note, download_progress=downloads,
                         upload_progress=uploads)
    return runner, [downloads, uploads]

