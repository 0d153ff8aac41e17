"""`launch`: the entry point. A function of (argv, Environment) returning an exit status."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from launcher import __version__
from launcher.cli import (
    config_cmd,
    infra_cmd,
    jobs_cmd,
    metrics_cmd,
    plan_cmd,
    prune_cmd,
    train_cmd,
    tune_cmd,
)
from launcher.context import Environment
from launcher.errors import ExitStatus, LauncherError

# Each module adds its sub-commands; every parser sets `handler(args, env) -> int`.
COMMAND_MODULES = (train_cmd, tune_cmd, plan_cmd, jobs_cmd, metrics_cmd, prune_cmd, config_cmd, infra_cmd)


SUPPORTED = ("supported platforms: Linux and macOS, Python >= 3.11\n"
             "(the local runner needs a POSIX system: process groups, signals, hard links)")


def version_text() -> str:
    import platform

    return (f"launcher {__version__} (Python {platform.python_version()}, {platform.system()} "
            f"{platform.machine()})\n{SUPPORTED}")


class VersionAction(argparse.Action):
    """argparse's own version action re-wraps the text into one paragraph; this keeps the lines."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        sys.stdout.write(version_text() + "\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="launch",
        description="Launch Script Mode training jobs on SageMaker (managed spot, S3 data) or locally "
        "in a faithful Docker-free emulation of the SageMaker training container.",
    )
    parser.add_argument("--version", action=VersionAction, nargs=0,
                        help="show the version and the supported platforms, then exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> int:
    env = env or Environment()
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if not getattr(args, "handler", None):
        parser.print_help(env.stdout)
        return int(ExitStatus.INVALID)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=env.stderr,
    )
    try:
        return int(args.handler(args, env) or 0)
    except KeyboardInterrupt:
        env.stderr.write("interrupted\n")
        return int(ExitStatus.INTERRUPTED)
    except LauncherError as e:
        if args.debug:
            raise
        env.stderr.write(f"error: {e.message}\n")
        if e.remedy:
            env.stderr.write(f"  → {e.remedy}\n")
        return e.exit_code


def run() -> None:  # console script
    sys.exit(main())
