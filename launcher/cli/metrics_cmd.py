"""`launch metrics JOB… [--plot FILE.png] [--json]`: every metric of one or more jobs.

Local jobs: from their log files (`logs/algo-N.log`) with the metric definitions of their record;
cloud jobs: from their CloudWatch log lines. Parse and present only: the series come from
`render/curves.py`, the figure from `render/curve_plot.py`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.backends.base import Backend
    from launcher.cli.render.curves import JobCurves


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from launcher.cli.jobs_cmd import add_job_options

    p = sub.add_parser(
        "metrics", help="every metric of one or more jobs: a table, --json, or curves (--plot)",
        description="Collect every metric a job logged (local: its log files; cloud: CloudWatch) "
        "and show them as a table, as JSON, or as training curves: one panel per metric, one line "
        "per job (`launch metrics A B --plot curves.png` compares two jobs).")
    p.add_argument("jobs", nargs="+", metavar="JOB")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="draw the curves into this file (.png, .svg or .pdf)")
    p.add_argument("--x", dest="axis", choices=("auto", "step", "epoch", "index"), default="auto",
                   help="x axis: optimizer step, epoch, or the metric line's index (auto: epoch "
                   "when comparing jobs, else step)")
    p.add_argument("--metric", dest="only", action="append", metavar="NAME",
                   help="only this metric (repeatable; panels in this order)")
    add_job_options(p)
    p.set_defaults(handler=handle)


def job_curves(backend: Backend, name: str) -> JobCurves:
    from launcher.cli.render.curves import collect
    from launcher.cli.render.progress import definitions_parser

    desc = backend.describe(name)
    details = desc.details
    spe = details.get("steps_per_epoch")
    return collect(desc.name, desc.backend, backend.logs(name, follow=False),
                   parse=definitions_parser(details.get("metric_definitions")),
                   steps_per_epoch=spe if isinstance(spe, int) and spe > 0 else None,
                   hyperparameters=details.get("hyperparameters"))


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.jobs_cmd import backend_for
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.curve_plot import choose_axis, plot_curves

    jobs = [job_curves(backend_for(args, env, name), name) for name in dict.fromkeys(args.jobs)]
    if args.plot is not None:
        plot_curves(jobs, args.plot, metrics=args.only, axis=args.axis)
    if args.json:
        axis = choose_axis(jobs, args.axis) if any(j.series for j in jobs) else "index"
        emit_json(env, {"x": axis, "jobs": [j.to_dict() for j in jobs],
                        "plot": str(args.plot) if args.plot else None})
        return 0
    _print_table(env, jobs, args.only)
    if args.plot is not None:
        from launcher.cli.render.console import console

        console(env, stderr=True).print(f"wrote {args.plot}", markup=False, highlight=False)
    return 0


def _print_table(env: Environment, jobs: list[JobCurves], only: list[str] | None) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from launcher.cli.render.console import console
    from launcher.cli.render.curves import summary_rows

    out = console(env)
    for job in jobs:
        rows = [r for r in summary_rows(job) if not only or r[0] in only]
        out.print(Text.assemble((job.name, "bold"), f"  ({job.backend})"))
        if not rows:
            out.print("  no metric lines in its log", markup=False)
            continue
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("metric", no_wrap=True)
        for header in ("points", "last", "min", "max"):
            table.add_column(header, justify="right", no_wrap=True)
        for metric, points, last, low, high in rows:
            table.add_row(metric, str(points), f"{last:.6g}", f"{low:.6g}", f"{high:.6g}")
        out.print(table)
