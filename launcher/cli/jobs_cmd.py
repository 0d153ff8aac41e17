"""Job commands, alike for local and cloud jobs: status, logs, stop, list, describe, download.

A name that has a local job record is a local job; any other name is looked up on SageMaker.
`--local` / `--cloud` force one side. Tuning jobs answer `status`, `describe`, `stop` and `list`
too: a local one by its directory's `tuning.json`, a cloud one when no training job has the name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.backends.base import Backend, JobDescription
    from launcher.cli.render.progress import Progress
    from launcher.config.spec import Aws
    from launcher.job.tuning import TuningDescription


def add_job_options(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", dest="where", action="store_const", const="local")
    where.add_argument("--cloud", dest="where", action="store_const", const="cloud")
    p.add_argument("--region")
    p.add_argument("--profile")
    if json_flag:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="a job's status, latest metrics, and a running job's "
                       "progress and ETA")
    p.add_argument("job")
    add_job_options(p)
    p.set_defaults(handler=status)

    p = sub.add_parser("describe", help="everything known about a job")
    p.add_argument("job")
    p.add_argument("--plot", type=Path, metavar="FILE.png",
                   help="tuning jobs: draw the objective per trial and against each tuned hyperparameter")
    add_job_options(p)
    p.set_defaults(handler=describe)

    p = sub.add_parser("logs", help="a job's log (CloudWatch for cloud jobs)")
    p.add_argument("job")
    p.add_argument("-f", "--follow", action="store_true", help="keep following until the job ends")
    add_job_options(p, json_flag=False)
    p.set_defaults(handler=logs)

    p = sub.add_parser("stop", help="stop a running job")
    p.add_argument("job")
    add_job_options(p)
    p.set_defaults(handler=stop)

    p = sub.add_parser("list", help="recent jobs, local and cloud")
    p.add_argument("--status", choices=("InProgress", "Completed", "Failed", "Stopping", "Stopped"))
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--wide", action="store_true",
                   help="every column and metric, however wide (default: fit the terminal)")
    add_job_options(p)
    p.set_defaults(handler=list_jobs)

    p = sub.add_parser("download", help="fetch a job's model.tar.gz and output.tar.gz")
    p.add_argument("job")
    p.add_argument("--to", type=Path, default=None, help="directory (default: ./<job>)")
    p.add_argument("--extract", action="store_true", help="also unpack the archives")
    add_job_options(p)
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


def _say_which(args: argparse.Namespace, env: Environment) -> None:
    """A local and a cloud job share the name: say which one this is and how to see the other."""
    from launcher.cli.session import cli_runner

    runner, _ = cli_runner(env)
    if runner.also_in_the_cloud(args.job, args.where, _aws(args, env)):
        env.stderr.write(f"note: this is the local job {args.job}; a SageMaker training job has the same "
                         f"name (`launch {args.command} {args.job} --cloud` shows it)\n")


# -- tuning jobs ----------------------------------------------------------------------------------


def _sagemaker_client(args: argparse.Namespace, env: Environment) -> tuple[Any, str | None]:
    from launcher.aws import client, make_session

    aws = _aws(args, env)
    session = make_session(aws.region, aws.profile)
    return client(session, "sagemaker"), session.region_name


def local_tuning(args: argparse.Namespace, env: Environment) -> bool:
    from launcher.tune.jobs import is_local_tuning

    return args.where != "cloud" and is_local_tuning(env.jobs_dir, args.job)


def tuning_job(args: argparse.Namespace, env: Environment, action: Callable[[], Any]) -> Any:
    """`action()` on a training job; a tuning job of that name instead when there is one: local
    first, and in the cloud when no training job has the name. Returns a TuningDescription for a
    tuning job, else what `action` returned."""
    from launcher.errors import JobNotFoundError
    from launcher.tune import jobs

    if local_tuning(args, env):
        return jobs.describe_local(env.jobs_dir, args.job)
    try:
        return action()
    except JobNotFoundError:
        if args.where == "local" or is_local_job(args, env):
            raise
        sm, region = _sagemaker_client(args, env)
        try:
            return jobs.describe_cloud(sm, args.job, region)
        except JobNotFoundError:
            pass
        raise


def is_local_job(args: argparse.Namespace, env: Environment) -> bool:
    from launcher.backends.local.store import JobStore

    return args.where != "cloud" and JobStore(env.jobs_dir).exists(args.job)


def _is_tuning(value: Any) -> bool:
    from launcher.job.tuning import TuningDescription

    return isinstance(value, TuningDescription)


def _tuning_status(args: argparse.Namespace, env: Environment, desc: TuningDescription) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.tuning import render_status

    if args.json:
        best = desc.best()
        emit_json(env, {"name": desc.name, "backend": desc.backend, "kind": "tuning", "status": desc.status,
                        "objective": desc.objective, "direction": desc.direction,
                        "trials": desc.counts(), "max_trials": desc.max_trials,
                        "best": None if best is None else best.__dict__,
                        "running": [t.name for t in desc.trials if t.status == "InProgress"],
                        "failure_reason": desc.failure_reason})
    else:
        render_status(env, desc)
    return 0


def _tuning_describe(args: argparse.Namespace, env: Environment, desc: TuningDescription) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.tuning import plot_tuning, render_tuning

    plot = None
    if args.plot is not None:
        plot = plot_tuning(desc, args.plot if args.plot.is_absolute() else env.cwd / args.plot)
    if args.json:
        best = desc.best()
        emit_json(env, {**desc.to_dict(), "kind": "tuning", "best": None if best is None else best.__dict__,
                        "plot": None if plot is None else str(plot)})
        return 0
    render_tuning(env, desc)
    if plot is not None:
        env.stderr.write(f"figure written to {plot}\n")
    return 0


def _list_tuning(args: argparse.Namespace, env: Environment,
                 wanted: str | None) -> tuple[list[Any], list[str]]:
    """Tuning jobs as rows of `launch list`, and notes on what could not be listed."""
    from launcher.cli.render.tuning import tuning_as_job_row
    from launcher.errors import LauncherError
    from launcher.tune import jobs

    rows: list[Any] = []
    notes: list[str] = []
    if args.where in (None, "local"):
        rows += [tuning_as_job_row(d) for d in jobs.list_local(env.jobs_dir, wanted, args.limit)]
    if args.where in (None, "cloud"):
        try:
            sm, region = _sagemaker_client(args, env)
            rows += [tuning_as_job_row(d) for d in jobs.list_cloud(sm, wanted, args.limit, region)]
        except LauncherError as e:
            if args.where == "cloud":
                raise
            notes.append(f"cloud tuning jobs not listed: {e.message}")
    return rows, notes


# -- training jobs --------------------------------------------------------------------------------


def status(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import console, emit_json
    from launcher.cli.render.progress import COUNTERS, progress_text

    found = tuning_job(args, env, lambda: backend_for(args, env, args.job).describe(args.job))
    if _is_tuning(found):
        return _tuning_status(args, env, found)
    backend = backend_for(args, env, args.job)
    desc = found
    progress, now = running_progress(backend, desc)
    _say_which(args, env)
    if args.json:
        emit_json(env, {"name": desc.name, "backend": desc.backend, "status": str(desc.status),
                        "secondary_status": desc.secondary_status, "metrics": desc.metrics,
                        "failure_reason": desc.failure_reason,
                        "progress": progress.to_dict(now) if progress else None})
        return 0
    line = f"{desc.name}  {desc.status}"
    if desc.secondary_status:
        line += f" ({desc.secondary_status})"
    values = dict(desc.metrics)
    if progress is not None:  # the log is newer than the record (saved every few seconds)
        line += f"\n{progress_text(progress, now)}"
        values = {k: v for k, v in {**values, **progress.metrics}.items() if k not in COUNTERS}
    metrics = "  ".join(f"{k}={v:.6g}" for k, v in values.items())
    # Wrapped at the terminal's width (between metrics, never inside one).
    console(env).print(line + (f"\n{metrics}" if metrics else ""), markup=False, soft_wrap=False)
    if desc.failure_reason:
        console(env).print(f"failure: {desc.failure_reason}", markup=False)
    return 0


def running_progress(backend: Backend, desc: JobDescription) -> tuple[Progress | None, float]:
    """A running job's progress from its log (local: logs/algo-N.log; cloud: CloudWatch), the rate
    measured since training first started; (None, now) for a job that is not running."""
    import logging
    import time

    from launcher.backends.base import JobStatus
    from launcher.cli.render.progress import Progress
    from launcher.errors import LauncherError

    now = time.time()
    if desc.status is not JobStatus.IN_PROGRESS:
        return None, now
    progress = Progress.from_details(desc.details)
    try:
        for line in backend.logs(desc.name, follow=False):
            progress.feed(line, now)
    except LauncherError as e:  # the status is still worth showing
        logging.getLogger(__name__).debug("no progress for %s: %s", desc.name, e)
        return None, now
    anchor(progress, desc, now)
    return progress, now


def anchor(progress: Progress, desc: JobDescription, now: float) -> None:
    """Measure the rate (and elapsed time) from when training first started, not from when we
    began reading: a log read at once has no timing of its own. Clock: time.time()."""
    start = training_start(desc)
    if start is not None and start < now:
        progress.started, progress.first = start, (start, 0)


def training_start(desc: JobDescription) -> float | None:
    """When training first started (epoch seconds): the first Training transition, else `started`."""
    from datetime import UTC, datetime

    stamps = [t.start for t in desc.transitions if t.status == "Training"] + [desc.started or ""]
    for stamp in stamps:
        try:
            t = datetime.fromisoformat(stamp)
        except ValueError:
            continue
        return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()
    return None


def describe(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.describe import render_description

    found = tuning_job(args, env, lambda: backend_for(args, env, args.job).describe(args.job))
    if _is_tuning(found):
        return _tuning_describe(args, env, found)
    if args.plot is not None:
        from launcher.errors import SpecError

        raise SpecError("describe --plot draws tuning jobs", f"`launch metrics {args.job} --plot "
                        "FILE.png` draws a training job's curves")
    desc = found
    _say_which(args, env)
    if args.json:
        emit_json(env, desc.to_dict())
        return 0
    render_description(env, desc)
    return 0


def logs(args: argparse.Namespace, env: Environment) -> int:
    """The log; followed on a terminal, with a live progress display under it while the job runs."""
    import time

    from launcher.cli.render.live import JobScreen
    from launcher.cli.render.progress import Progress

    backend = backend_for(args, env, args.job)
    screen = JobScreen(env, clock=time.time)
    if args.follow and env.stdout_isatty:
        desc = backend.describe(args.job)
        if not desc.status.terminal:
            progress = Progress.from_details(desc.details)
            anchor(progress, desc, time.time())
            screen.watch(progress)
    printed = False
    with screen:
        for line in backend.logs(args.job, follow=args.follow):
            printed = True
            screen.echo(line)
            if screen.pipe_closed:
                break
    if not printed:  # an empty stdout would read as "the job logged nothing"
        desc = backend.describe(args.job)
        state = f"{desc.status}, {desc.secondary_status}" if desc.secondary_status else str(desc.status)
        why = "it wrote none" if desc.status.terminal else \
            f"they appear once it starts training; `launch logs {args.job} -f` waits for them"
        env.stderr.write(f"no log lines yet for {args.job} ({state}): {why}\n")
    return 0


def stop(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.tune import jobs

    if local_tuning(args, env):
        desc: Any = jobs.stop_local(env.jobs_dir, args.job)
    else:
        # Stop first: a describe before it would settle a job whose runner died as Failed.
        found = tuning_job(args, env, lambda: backend_for(args, env, args.job).stop(args.job))
        if _is_tuning(found):
            sm, _region = _sagemaker_client(args, env)
            desc = jobs.stop_cloud(sm, args.job)
        else:
            desc = found
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
    tuning_rows, tuning_notes = _list_tuning(args, env, args.status)
    jobs += tuning_rows
    notes += tuning_notes
    jobs.sort(key=lambda d: d.created or "", reverse=True)
    jobs = jobs[: args.limit]
    if args.json:
        emit_json(env, [d.to_dict() for d in jobs])
        return 0
    from launcher.cli.render.joblist import render_job_list

    notes += render_job_list(env, jobs, wide=args.wide)
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
