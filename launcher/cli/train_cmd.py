"""`launch train`: run a job locally (`--local`) or submit it to SageMaker."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.cli.spec_args import add_spec_arguments
from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.spec import JobSpec


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="run a training job locally or on SageMaker",
        description="Run a Script Mode entrypoint: `--local` here in an emulated SageMaker container "
        "(with no other argument: the demo), otherwise on SageMaker with managed spot.",
    )
    add_spec_arguments(p)
    m = p.add_argument_group("mode")
    m.add_argument("--local", action="store_true", help="run here, without Docker")
    m.add_argument("--dry-run", action="store_true",
                   help="print what would run and exit, with no side effects (cloud: the "
                   "CreateTrainingJob request; --local: each host's argv and SM_* environment)")
    m.add_argument("--wait", dest="wait", action="store_true", default=False,
                   help="cloud: stream logs until the job ends, then summarise")
    m.add_argument("--no-wait", dest="wait", action="store_false", help="cloud: return after submit")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    d = p.add_argument_group("local rehearsal (with --local)")
    d.add_argument("--hosts", type=int, metavar="M", help="emulated hosts algo-1…algo-M (torchrun)")
    d.add_argument("--simulate-interruptions", type=int, default=0, metavar="K",
                   help="SIGKILL the job K times at random points and restart it, as spot reclaims do")
    d.add_argument("--interrupt-seed", type=int, default=0, metavar="S")
    d.add_argument("--verify", action="store_true",
                   help="also run uninterrupted and compare the final models bit for bit")
    p.set_defaults(handler=handle)


def job_name_for(spec: JobSpec) -> str:
    from launcher.naming import generate_job_name

    return spec.job_name or generate_job_name(spec.base_name or Path(spec.entrypoint).stem)


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.errors import SpecError

    local_only = [flag for flag, given in (("--hosts", args.hosts is not None),
                                           ("--simulate-interruptions", args.simulate_interruptions),
                                           ("--verify", args.verify)) if given]
    if not args.local:
        if local_only:
            raise SpecError(f"{local_only[0]} rehearses locally", "add --local")
        from launcher.cli.cloud_cmd import run_cloud_train

        return run_cloud_train(args, env)
    if args.wait:
        raise SpecError("--wait is for cloud jobs", "local jobs always run in the foreground")
    if args.hosts is not None:
        args.instance_count = args.hosts
    from launcher.cli.local_run import run_local_train

    return run_local_train(args, env)
