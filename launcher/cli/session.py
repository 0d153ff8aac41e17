"""The runner of one CLI command, wired to the command's Environment and its output streams."""

from __future__ import annotations

from collections.abc import Callable

from launcher.cli.render.console import TransferProgress, console
from launcher.context import Environment
from launcher.runner import Runner, make_runner


def cli_runner(env: Environment, *, echo: Callable[[str], None] | None = None,
               quiet: bool = False) -> tuple[Runner, list[TransferProgress]]:
    """The runner, and the progress bars to close when the command ends."""
    err = console(env, stderr=True)

    def notify(message: str) -> None:
        if not quiet:
            err.print(f"[dim]launch:[/] {message}", markup=True, highlight=False)

    downloads, uploads = TransferProgress(env, "download"), TransferProgress(env, "upload")
    assert env.home is not None
    runner = make_runner(home=env.home, jobs_dir=env.jobs_dir, environ=env.environ, cwd=env.cwd,
                         echo=echo, notify=notify, download_progress=downloads,
                         upload_progress=uploads)
    return runner, [downloads, uploads]


def stdout_echo(env: Environment, *, enabled: bool) -> Callable[[str], None]:
    """The script's output lines on stdout (not with --json); a closed pipe stops the echo only."""

    def echo(line: str) -> None:
        if not enabled:
            return
        try:
            env.stdout.write(line + "\n")
            env.stdout.flush()
        except BrokenPipeError:  # `| head`: stop echoing, keep training and logging
            pass

    return echo
