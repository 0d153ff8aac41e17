"""Job commands, alike for local and cloud jobs: status, logs, stop, list, describe, download.

A name that has a local job record is a local job; any other name is looked up on SageMaker.
`--local` / `--cloud` force one side.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.backends.base import Backend
    from launcher.config.spec import Aws


def _common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", dest="where", action="store_const", const="local")
    where.add_argument("--cloud", dest="where", action="store_const", const="cloud")
    p.add_argument("--region")
    p.add_argument("--profile")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="a job's status, secondary status and latest metrics")
    p.add_argument("job")
    _common(p)
    p.set_defaults(handler=status)

    p = sub.add_parser("describe", help="everything known about a job")
    p.add_argument("job")
    _common(p)
    p.set_defaults(handler=describe)

    p = sub.add_parser("logs", help="a job's log (CloudWatch for cloud jobs)")
    p.add_argument("job")
    p.add_argument("-f", "--follow", action="store_true", help="keep following until the job ends")
    _common(p, json_flag=False)
    p.set_defaults(handler=logs)

    p = sub.add_parser("stop", help="stop a running job")
    p.add_argument("job")
    _common(p)
    p.set_defaults(handler=stop)

    p = sub.add_parser("list", help="recent jobs, local and cloud")
    p.add_argument("--status", choices=("InProgress", "Completed", "Failed", "Stopping", "Stopped"))
    p.add_argument("--limit", type=int, default=20)
    _common(p)
    p.set_defaults(handler=list_jobs)

    p = sub.add_parser("download", help="fetch a job's model.tar.gz and output.tar.gz")
    p.add_argument("job")
    p.add_argument("--to", type=Path, default=None, help="directory (default: ./<job>)")
    p.add_argument("--extract", action="store_true", help="also unpack the archives")
    _common(p)
    p.set_defaults(handler=download)


def _aws(args: argparse.Namespace, env: Environment) -> Aws:
    """The AWS settings of the user config and environment, with --region/--profile on top."""
    from launcher.config.layers import resolve_spec

    assert env.config_path is not None
    flags = {"aws": {k: v for k, v in (("region", args.region), ("profile", args.profile)) if v}}
    return resolve_spec(config_path=env.config_path, environ=env.environ, flags=flags).spec.aws


def backend_for(args: argparse.Namespace, env: Environment, job: str | None = None,
                where: str | None = None) -> Backend:
    from launcher.cli.session import cli_runner

    runner, _ = cli_runner(env)
    return runner.backend_for(job, where or args.where, _aws(args, env))


def status(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import console, emit_json

    desc = backend_for(args, env, args.job).describe(args.job)
    if args.json:
        emit_json(env, {"name": desc.name, "backend": desc.backend, "status": str(desc.status),
                        "secondary_status": desc.secondary_status, "metrics": desc.metrics,
                        "failure_reason": desc.failure_reason})
        return 0
    line = f"{desc.name}  {desc.status}"
    if desc.secondary_status:
        line += f" ({desc.secondary_status})"
    metrics = "  ".join(f"{k}={v:.6g}" for k, v in desc.metrics.items())
    console(env).print(line + (f"\n{metrics}" if metrics else ""), markup=False)
    if desc.failure_reason:
        console(env).print(f"failure: {desc.failure_reason}", markup=False)
    return 0


def describe(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import console, emit_json
    from launcher.cli.render.summary import render_summary

    desc = backend_for(args, env, args.job).describe(args.job)
    if args.json:
        emit_json(env, desc.to_dict())
        return 0
    render_summary(env, desc)
    out = console(env)
    for key, value in desc.details.items():
        if key != "last_traceback":
            out.print(f"{key}: {value}", markup=False)
    if desc.deviations:
        out.print("deviations from a real SageMaker container:", markup=False)
        for d in desc.deviations:
            out.print(f"  - {d.aspect}: real {d.real}; here {d.local}", markup=False)
    return 0


def logs(args: argparse.Namespace, env: Environment) -> int:
    for line in backend_for(args, env, args.job).logs(args.job, follow=args.follow):
        env.stdout.write(line + "\n")
        env.stdout.flush()
    return 0


def stop(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import emit_json

    desc = backend_for(args, env, args.job).stop(args.job)
    if args.json:
        emit_json(env, {"name": desc.name, "status": str(desc.status)})
    else:
        env.stdout.write(f"{desc.name}: {desc.status}\n")
    return 0


def list_jobs(args: argparse.Namespace, env: Environment) -> int:
    from launcher.backends.base import JobStatus
    from launcher.cli.render.console import console, emit_json
    from launcher.errors import LauncherError

    wanted = JobStatus(args.status) if args.status else None
    jobs = []
    notes = []
    from launcher.cli.session import cli_runner

    runner, _ = cli_runner(env)
    if args.where in (None, "local"):
        jobs += runner.backend_for(None, "local", _aws(args, env)).list_jobs(wanted, args.limit)
    if args.where in (None, "cloud"):
        try:
            jobs += runner.backend_for(None, "cloud", _aws(args, env)).list_jobs(wanted, args.limit)
        except LauncherError as e:
            if args.where == "cloud":
                raise
            notes.append(f"cloud jobs not listed: {e.message}")
    jobs.sort(key=lambda d: d.created or "", reverse=True)
    jobs = jobs[: args.limit]
    if args.json:
        emit_json(env, [d.to_dict() for d in jobs])
        return 0
    from rich.table import Table

    table = Table()
    table.add_column("job", no_wrap=True)  # names must stay copy-pasteable
    for header in ("backend", "status", "created", "metrics"):
        table.add_column(header)
    for d in jobs:
        metrics = " ".join(f"{k}={v:.4g}" for k, v in list(d.metrics.items())[:3])
        table.add_row(d.name, d.backend, str(d.status), (d.created or "")[:19], metrics)
    out = console(env)
    out.print(table)
    for note in notes:
        console(env, stderr=True).print(note, markup=False)
    return 0


def download(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import emit_json

    to = args.to or env.cwd / args.job
    paths = backend_for(args, env, args.job).download(args.job, to, extract=args.extract)
    if args.json:
        emit_json(env, [str(p) for p in paths])
    else:
        for p in paths:
            env.stdout.write(f"{p}\n")
    return 0
