"""`launch train --local`: validate, plan, run in the emulated container, summarise."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable
from pathlib import Path

from launcher.backends.base import JobDescription, JobStatus
from launcher.backends.local.options import Interrupter, LocalOptions
from launcher.cli.output import TransferProgress, console, emit_json
from launcher.cli.spec_args import resolve_from_args
from launcher.cli.summary import render_summary
from launcher.context import Environment
from launcher.spec import JobSpec, is_s3_uri


def local_train_samples(spec: JobSpec, cwd: Path) -> int | None:
    """Examples in a local `train` channel (npz headers), or None when unknown."""
    from launcher.data_manifest import count_local_samples

    location = spec.data.get("train")
    if location is None or is_s3_uri(location):
        return None
    path = Path(location).expanduser()
    counted = count_local_samples(path if path.is_absolute() else cwd / path)
    return counted[0] if counted else None


def preflight_plan(spec: JobSpec, cwd: Path, world_size: int) -> None:
    """Refuse what the reference entrypoint would refuse (e.g. warmup ≥ the run) before staging."""
    if not (spec.uses_reference_entrypoint or spec.hyperparameters):
        return
    samples = local_train_samples(spec, cwd)
    if samples is None:
        return
    from launcher.plan import make_plan

    make_plan(spec, samples=samples, world_size=world_size, local=True)


def run_local_train(args: argparse.Namespace, env: Environment) -> int:
    from launcher.backends.local.backend import LocalBackend
    from launcher.backends.local.options import count_gpus
    from launcher.cli.train_cmd import job_name_for
    from launcher.spec import check_local_paths

    resolved = resolve_from_args(args, env)
    spec = resolved.spec
    check_local_paths(spec, env.cwd)
    gpus = count_gpus()
    nproc = spec.compute.processes_per_host or max(gpus, 1)
    preflight_plan(spec, env.cwd, spec.compute.instance_count * nproc)
    job_name = job_name_for(spec)
    err = console(env, stderr=True)
    out_is_json = bool(args.json)

    def echo(line: str) -> None:
        if not out_is_json:
            try:
                env.stdout.write(line + "\n")
                env.stdout.flush()
            except BrokenPipeError:  # `| head`: stop echoing, keep training and logging
                pass

    def notify(message: str) -> None:
        err.print(f"[dim]launch:[/] {message}", markup=True, highlight=False)

    options = LocalOptions(num_gpus=gpus)
    if args.dry_run:
        preview = LocalBackend(env.jobs_dir, environ=dict(env.environ), cwd=env.cwd,
                               options=options).preview(spec, job_name)
        emit_json(env, preview)
        notify("dry run: nothing was staged or run")
        return 0
    if args.simulate_interruptions or args.verify:
        stop_on_sigterm()
        return run_local_drill(args, env, spec, job_name, options, echo, notify)
    backend = LocalBackend(env.jobs_dir, environ=dict(env.environ), cwd=env.cwd, echo=echo,
                           notify=notify, options=options, progress=TransferProgress(env, "download"))
    stop_on_sigterm()
    notify(f"job {job_name} (local) → {env.jobs_dir / job_name}")
    desc = backend.submit(spec, job_name)
    remember_throughput(env, spec, desc)
    return report(env, desc, as_json=out_is_json)


STARTUP_SECONDS = 2.0  # interpreter, torch import, data load: before the first step


def drill_window(env: Environment, spec: JobSpec) -> tuple[float, float] | None:
    """Kill times for a drill without --verify: 20-90 % of the run, estimated from the samples to
    process and the throughput an earlier local run of this entrypoint measured."""
    from launcher.throughput import LOCAL_INSTANCE, recall_throughput, throughput_key

    assert env.home is not None
    rate = recall_throughput(env.home, throughput_key(spec), LOCAL_INSTANCE)
    samples = local_train_samples(spec, env.cwd)
    if rate is None or samples is None or not spec.uses_reference_entrypoint:
        return None
    from launcher.plan import make_plan

    seconds = STARTUP_SECONDS + make_plan(spec, samples=samples, local=True).samples_to_process / rate
    return 0.2 * seconds, 0.9 * seconds


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


def remember_throughput(env: Environment, spec: JobSpec, desc: JobDescription) -> None:
    """Keep the measured samples/s so a later `launch plan` can estimate duration and cost."""
    rate = desc.metrics.get("samples_per_sec") or desc.metrics.get("throughput")
    if desc.status is not JobStatus.COMPLETED or not rate:
        return
    from launcher.throughput import LOCAL_INSTANCE, record_throughput, throughput_key

    assert env.home is not None
    with contextlib.suppress(OSError, ValueError):
        record_throughput(env.home, throughput_key(spec), LOCAL_INSTANCE, float(rate))


def report(env: Environment, desc: JobDescription, *, as_json: bool) -> int:
    if as_json:
        emit_json(env, desc.to_dict())
    else:
        render_summary(env, desc)
    if desc.status is JobStatus.COMPLETED:
        return 0
    code = desc.exit_code or 1
    return code if 0 < code < 256 else 1


def run_local_drill(args: argparse.Namespace, env: Environment, spec: JobSpec, job_name: str,
                    options: LocalOptions, echo: Callable[[str], None],
                    notify: Callable[[str], None]) -> int:
    """`--simulate-interruptions K [--verify]`: the preemption drill, then its report."""
    from dataclasses import replace

    from launcher.backends.local.backend import LocalBackend
    from launcher.drill import run_drill_job

    def submit(name: str, interrupter: Interrupter | None, k: int) -> JobDescription:
        backend = LocalBackend(env.jobs_dir, environ=dict(env.environ), cwd=env.cwd, echo=echo,
                               notify=notify, options=replace(options, interrupter=interrupter,
                                                              max_interruptions=k))
        notify(f"job {name} (local{', drill' if k else ', uninterrupted reference'})")
        return backend.submit(spec.model_copy(update={"job_name": name}), name)

    window = None if args.verify else drill_window(env, spec)
    if not args.verify and window is None:
        notify("no earlier run to time this job by: kill times are drawn from 2-30 s "
               "(add --verify to time them by an uninterrupted run)")
    report = run_drill_job(submit, job_name, args.simulate_interruptions, seed=args.interrupt_seed,
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
        if report.comparison is not None:
            verdict = "MATCH" if report.comparison.match else "MISMATCH"
            out.print(f"{verdict}: {report.comparison.detail} "
                      f"(reference job {report.reference.name if report.reference else '-'})",
                      markup=False)
    if report.comparison is not None and not report.comparison.match:
        return 1
    return 0 if report.job.status is JobStatus.COMPLETED else (report.job.exit_code or 1)
