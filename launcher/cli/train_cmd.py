"""`launch train`: run a job locally (`--local`) or submit it to SageMaker; parse and present only."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.cli.spec_args import add_spec_arguments
from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.backends.base import DryRun, JobDescription, Submission
    from launcher.backends.local.options import LocalOptions
    from launcher.cli.render.progress import Progress
    from launcher.job.resolve import ResolvedJob
    from launcher.runner import Runner

STARTUP_SECONDS = 2.0  # interpreter, torch import, data load: before the first step


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
    d.add_argument("--relocate-opt-ml", action="store_true",
                   help="no mount namespace: the job's /opt/ml tree stays under the job directory and "
                   "only SM_* variables (and SAGEMAKER_BASE_DIR) point there, as on a machine "
                   "without namespaces")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.live import JobScreen
    from launcher.cli.session import cli_runner
    from launcher.cli.spec_args import resolve_from_args
    from launcher.errors import SpecError
    from launcher.job.resolve import Target

    local_only = [flag for flag, given in (("--hosts", args.hosts is not None),
                                           ("--simulate-interruptions", args.simulate_interruptions),
                                           ("--verify", args.verify),
                                           ("--relocate-opt-ml", args.relocate_opt_ml)) if given]
    if not args.local and local_only:
        raise SpecError(f"{local_only[0]} rehearses locally", "add --local")
    if args.local and args.wait:
        raise SpecError("--wait is for cloud jobs", "local jobs always run in the foreground")
    spec = resolve_from_args(args, env).spec
    # The script's lines: plain, or above a live progress display once a local job runs.
    screen = JobScreen(env, show_lines=not args.json)
    runner, bars = cli_runner(env, echo=screen.echo, notify=screen.notify)
    options = _local_options(args)
    try:
        job = runner.resolve(spec, Target.LOCAL if args.local else Target.SAGEMAKER)
        if not args.local:
            _quiet_sdk(args)
        dryrun = runner.dryrun(job, options)
        for warning in dryrun.warnings:
            from rich.markup import escape

            _notify(env, f"[yellow]warning:[/] {escape(warning)}")
        if args.dry_run:
            return _show_dry_run(env, dryrun)
        if args.simulate_interruptions or args.verify:
            stop_on_sigterm()
            return _drill(args, env, runner, job)
        if job.local:
            stop_on_sigterm()
            _notify(env, f"job {job.name} (local) → {env.jobs_dir / job.name}")
            screen.watch(job_progress(job))
        submission = runner.submit(dryrun, options)
    finally:
        screen.close()
        for bar in bars:
            bar.close()
    if job.local:
        return _report(env, submission.job, as_json=args.json)
    return _cloud_submitted(args, env, runner, job, submission)


def _local_options(args: argparse.Namespace, **given: Any) -> LocalOptions | None:
    """Options of a local run when a flag sets one (None: the runner's defaults)."""
    if args.relocate_opt_ml:
        given["mount_namespace"] = False
    if not given:
        return None
    from launcher.backends.local.options import LocalOptions

    return LocalOptions(**given)


def job_progress(job: ResolvedJob) -> Progress:
    """A progress tracker with the job's step plan and metric definitions."""
    from launcher.cli.render.progress import Progress

    details: dict[str, Any] = {"metric_definitions": [
        {"name": d.name, "regex": d.regex} for d in job.metric_definitions]}
    if job.plan is not None:
        s = job.plan.steps
        details.update(total_steps=s.total_optimizer_steps, steps_per_epoch=s.optimizer_steps_per_epoch,
                       epochs=s.epochs_to_run)
    return Progress.from_details(details)


def _notify(env: Environment, message: str) -> None:
    from launcher.cli.render.console import console

    console(env, stderr=True).print(f"[dim]launch:[/] {message}", markup=True, highlight=False)


def _show_dry_run(env: Environment, dryrun: DryRun) -> int:
    from launcher.cli.render.console import emit_json

    emit_json(env, dryrun.request)
    job = dryrun.job
    nothing = "nothing was staged or run" if job.local else "nothing was uploaded or submitted"
    env.stderr.write(f"dry run: {nothing}. {'Running' if job.local else 'A submit'} would\n")
    for action in dryrun.actions:
        env.stderr.write(f"  {action}\n")
    if job.plan is not None:
        s = job.plan.steps
        env.stderr.write(f"  train {s.total_optimizer_steps} optimizer steps ({s.iterations_per_epoch} "
                         f"iterations per epoch × {s.epochs} epochs, world size {s.world_size})\n")
    elif job.plan_note:
        env.stderr.write(f"  (step plan: {job.plan_note})\n")
    return 0


def stop_on_sigterm() -> None:
    """SIGTERM/SIGHUP (timeout, CI cancel, a closed terminal) stop the job like Ctrl-C: the job's
    own process groups are separate sessions and would otherwise outlive this process."""
    import signal
    import threading

    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, raise_interrupt)


def _report(env: Environment, desc: JobDescription, *, as_json: bool) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.summary import render_summary
    from launcher.runner import exit_status_for

    if as_json:
        emit_json(env, desc.to_dict())
    else:
        render_summary(env, desc)
    return exit_status_for(desc)


# -- the drill ------------------------------------------------------------------------------------


def drill_window(runner: Runner, job: ResolvedJob) -> tuple[float, float] | None:
    """Kill times for a drill without --verify: 20-90 % of the run, estimated from the samples to
    process and the throughput an earlier local run of this entrypoint measured."""
    from launcher.planning.throughput import LOCAL_INSTANCE, recall_throughput, throughput_key

    rate = recall_throughput(runner.home, throughput_key(job.spec), LOCAL_INSTANCE)
    if rate is None or job.plan is None or not job.reference:
        return None
    seconds = STARTUP_SECONDS + job.plan.samples_to_process / rate
    return 0.2 * seconds, 0.9 * seconds


def _drill(args: argparse.Namespace, env: Environment, runner: Runner, job: ResolvedJob) -> int:
    """`--simulate-interruptions K [--verify]`: the preemption drill, then its report."""
    from launcher.backends.local.options import Interrupter
    from launcher.cli.render.console import console, emit_json
    from launcher.cli.render.summary import render_summary
    from launcher.drill.run import run_drill_job
    from launcher.errors import ExitStatus
    from launcher.runner import exit_status_for

    def submit(name: str, interrupter: Interrupter | None, k: int) -> JobDescription:
        attempt = runner.rename(job, name)
        _notify(env, f"job {name} (local{', drill' if k else ', uninterrupted reference'})")
        options = _local_options(args, interrupter=interrupter, max_interruptions=k)
        return runner.submit(runner.dryrun(attempt, options), options).job

    window = None if args.verify else drill_window(runner, job)
    if not args.verify and window is None:
        _notify(env, "no earlier run to time this job by: kill times are drawn from 2-30 s "
                "(add --verify to time them by an uninterrupted run)")
    report = run_drill_job(submit, job.name, args.simulate_interruptions, seed=args.interrupt_seed,
                           verify=args.verify, window=window)
    if args.json:
        emit_json(env, report.to_dict())
    else:
        render_summary(env, report.job)
        out = console(env)
        out.print(f"interruptions: {report.interruptions}; iterations re-done: "
                  f"{sum(report.lost_iterations)} (per interruption: {report.lost_iterations}); "
                  f"restart time: {report.restart_seconds:.1f} s", markup=False)
        for note in report.notes:
            out.print(f"note: {note}", markup=False)
        out.print(report.verdict_line, markup=False)
    if report.verdict in ("MISMATCH", "INCONCLUSIVE"):
        return int(ExitStatus.ERROR)
    return exit_status_for(report.job)


# -- cloud ----------------------------------------------------------------------------------------


def _quiet_sdk(args: argparse.Namespace) -> None:
    if not getattr(args, "debug", False):
        # The SDK logs its own advice (role checks, defaults) at INFO/WARNING; we report errors.
        logging.getLogger("sagemaker").setLevel(logging.ERROR)


def _print_submitted(env: Environment, desc: JobDescription, report: dict[str, Any]) -> None:
    from launcher.cli.render.console import console
    from launcher.planning.cost import format_bytes

    out = console(env)
    req = report.get("request", {})
    stop = req.get("StoppingCondition", {})
    spot = ("spot, max wait " + str(stop.get("MaxWaitTimeInSeconds")) + " s"
            if req.get("EnableManagedSpotTraining") else "on-demand")
    out.print(f"submitted [bold]{desc.name}[/] ({desc.instance_type} × {desc.instance_count}, {spot}, "
              f"max run {stop.get('MaxRuntimeInSeconds')} s)")
    if req:
        code = next(c["DataSource"]["S3DataSource"]["S3Uri"] for c in req["InputDataConfig"]
                    if c["ChannelName"] == "code")
        state = "unchanged, not uploaded" if code in report.get("already_staged", []) else "uploaded"
        out.print(f"  code         {code} ({state})")
        out.print(f"  uploaded     {report.get('uploaded_objects', 0)} objects, "
                  f"{format_bytes(report.get('uploaded_bytes', 0))} (+ the SDK's "
                  f"{report.get('sdk_driver_objects', 0)} driver files, "
                  f"{format_bytes(report.get('sdk_driver_bytes', 0))})")
        if ckpt := req.get("CheckpointConfig", {}).get("S3Uri"):
            out.print(f"  checkpoints  {ckpt}")
    out.print(f"  follow       launch logs {desc.name} --follow   ·   launch status {desc.name}"
              f"   ·   launch stop {desc.name}")
    if url := desc.details.get("console"):
        out.print(f"  console      {url}")


def _submit_dict(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "request"}


def _cloud_submitted(args: argparse.Namespace, env: Environment, runner: Runner, job: ResolvedJob,
                     submission: Submission) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.live import JobScreen
    from launcher.cli.render.summary import render_summary
    from launcher.errors import JobFailedError, LauncherError
    from launcher.runner import exit_status_for

    desc, report = submission.job, submission.report
    if not args.json:
        _print_submitted(env, desc, report)
    if not args.wait:
        if args.json:
            emit_json(env, {**desc.to_dict(), "submit": _submit_dict(report)})
        return 0
    backend = runner.backend(job)
    screen = JobScreen(env, stream=env.stderr if args.json else env.stdout)
    if not args.json:
        screen.watch(job_progress(job))
    try:
        with screen:
            for line in backend.logs(job.name, follow=True):
                screen.echo(line)
    except KeyboardInterrupt:
        env.stderr.write(f"\nstopped following; the job keeps running (launch stop {job.name})\n")
        raise
    desc = backend.wait(job.name)
    output = job.spec.output
    if desc.status == "Completed" and output and not output.startswith("s3://"):
        try:
            paths = backend.download(job.name, Path(output), extract=True)
            desc.details["downloaded"] = [str(p) for p in paths]
        except LauncherError as e:  # the job itself succeeded
            env.stderr.write(f"warning: artifacts not downloaded: {e}\n")
    if args.json:
        emit_json(env, {**desc.to_dict(), "submit": _submit_dict(report)})
    else:
        render_summary(env, desc)
    status = exit_status_for(desc)
    if status:
        raise JobFailedError(f"job {job.name} ended {desc.status}",
                             f"launch logs {job.name} shows the whole log", exit_code=status)
    return 0
