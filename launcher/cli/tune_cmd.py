"""`launch tune`: hyperparameter tuning, locally (`--local`: Optuna, each trial a real local job) or
as a SageMaker hyperparameter tuning job; parse and present only."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from launcher.cli.spec_args import add_spec_arguments
from launcher.cli.tune_args import add_tune_arguments
from launcher.context import Environment
from launcher.errors import ExitStatus, SpecError

if TYPE_CHECKING:
    from launcher.config.spec import JobSpec
    from launcher.job.tuning import TuningDescription
    from launcher.planning.tune_plan import TunePlan
    from launcher.runner import Runner
    from launcher.tune.local import TuneEvent


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "tune", help="tune hyperparameters locally (Optuna) or on SageMaker",
        description="Search hyperparameters over the [tune] table (or --objective and --range): "
        "`--local` runs every trial as a local job here with Optuna; otherwise a SageMaker "
        "hyperparameter tuning job runs them (classic contract, managed spot).",
    )
    add_spec_arguments(p)
    add_tune_arguments(p)
    m = p.add_argument_group("mode")
    m.add_argument("--local", action="store_true", help="run the trials here, without Docker")
    m.add_argument("--dry-run", action="store_true",
                   help="print what would run and exit (cloud: the CreateHyperParameterTuningJob "
                   "request; --local: the space, the plan and the first trial's argv)")
    m.add_argument("--wait", dest="wait", action="store_true", default=True,
                   help="cloud: follow the tuning job until it ends (default)")
    m.add_argument("--no-wait", dest="wait", action="store_false", help="cloud: return after create")
    m.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.tune_args import resolve_tune_from_args

    if args.job_name:
        raise SpecError("--name names one training job; a tuning job is named with --tune-name",
                        "its trials are named <tuning-name>-NNN")
    spec = resolve_tune_from_args(args, env).spec
    if spec.tune is None:
        raise SpecError("nothing to tune: no [tune] table and no tuning flags",
                        "pass --objective METRIC and --range NAME=SPEC, or a job file with [tune]")
    if args.local:
        return _local(args, env, spec)
    return _cloud(args, env, spec)


def _say(env: Environment, text: str, *, json_mode: bool) -> None:
    stream = env.stderr if json_mode else env.stdout
    stream.write(text + "\n")
    stream.flush()


def plan_lines(plan: TunePlan) -> list[str]:
    from launcher.planning.cost import format_duration, format_usd

    lines = [f"trials: {plan.trials} ({plan.trials_source}), up to {plan.max_parallel} at once "
             f"({plan.rounds} round{'s' if plan.rounds != 1 else ''})"]
    if plan.steps is not None:
        s = plan.steps
        lines.append(f"optimizer steps per trial: {s.least:,}" if s.least == s.most else
                     f"optimizer steps per trial: {s.least:,} to {s.most:,}")
    elif plan.steps_note:
        lines.append(f"optimizer steps per trial: unknown ({plan.steps_note})")
    lines.append(f"wall-time bound: {format_duration(plan.wall_bound_seconds)} "
                 f"({plan.rounds} × max_run {format_duration(plan.max_run_seconds)})")
    if plan.local:
        lines.append("cost: local run, no AWS charges")
    elif plan.cost_bound is not None:
        lines.append(f"cost bound: {format_usd(plan.cost_bound)} ({plan.trials} trials × max_run × "
                     f"{format_usd(plan.price_per_hour or 0)}/h × {plan.instance_count} instance"
                     f"{'s' if plan.instance_count != 1 else ''}; {plan.price_source})")
    else:
        lines.append(f"cost bound: unknown ({plan.price_source})")
    return lines


# -- local ----------------------------------------------------------------------------------------


def _local(args: argparse.Namespace, env: Environment, spec: JobSpec) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.cli.render.tuning import render_tuning
    from launcher.cli.session import cli_runner
    from launcher.cli.train_cmd import stop_on_sigterm
    from launcher.job.resolve import Target
    from launcher.planning.tune_plan import plan_tuning
    from launcher.tune.local import LocalTuner
    from launcher.tune.space import check_space, default_tuning_name, describe_space

    runner, _ = cli_runner(env, quiet=True)
    job = runner.resolve(spec, Target.LOCAL)
    tune = check_space(spec, job)
    plan = plan_tuning(spec, samples=job.train_samples, processes_per_host=job.processes_per_host,
                       gpus_per_host=job.gpus_per_host, local=True)
    name = tune.name or default_tuning_name()
    if args.dry_run:
        return _local_dry_run(args, env, runner, spec, name, plan)
    from launcher.tune.engine import import_optuna

    import_optuna()  # a missing Optuna is said before anything is created
    stop_on_sigterm()
    assert env.home is not None
    json_mode = bool(args.json)

    def on_event(event: TuneEvent) -> None:
        from launcher.cli.render.tuning import trial_line

        if event.kind == "note":
            _say(env, f"launch: {event.message}", json_mode=json_mode)
        elif event.trial is not None:
            _say(env, trial_line(event.kind, event.trial, tune.objective, event.best, event.message),
                 json_mode=json_mode)

    tuner = LocalTuner(spec=spec, job=job, name=name, home=env.home, jobs_dir=env.jobs_dir, cwd=env.cwd,
                       environ=env.environ, gpus=runner.local_gpus(), cores=os.cpu_count() or 1,
                       on_event=on_event)
    _say(env, f"tuning job {name} (local, {tune.strategy}, {tune.direction} {tune.objective}) → "
         f"{env.jobs_dir / name}", json_mode=json_mode)
    for line in [*describe_space(tune)[:-1], *plan_lines(plan)]:
        _say(env, f"  {line}", json_mode=json_mode)
    desc = tuner.run()
    if args.json:
        emit_json(env, desc.to_dict())
    else:
        render_tuning(env, desc)
    return 0 if desc.status == "Completed" else int(ExitStatus.ERROR)


def _local_dry_run(args: argparse.Namespace, env: Environment, runner: Runner, spec: JobSpec, name: str,
                   plan: TunePlan) -> int:
    from launcher.cli.render.console import emit_json
    from launcher.job.resolve import Target
    from launcher.planning.tune_plan import trial_spec
    from launcher.tune.engine import engine_name, first_values
    from launcher.tune.local import trial_name
    from launcher.tune.space import describe_space

    tune = spec.tune
    assert tune is not None
    values = first_values(tune)
    first = trial_name(name, 0)
    trial = runner.resolve(trial_spec(spec, values, name=first), Target.LOCAL)
    dryrun = runner.dryrun(trial)
    emit_json(env, {"tuning_job": name, "backend": "local", "engine": engine_name(tune),
                    "space": {k: r.model_dump(exclude_none=True) for k, r in tune.ranges.items()},
                    "plan": plan.to_dict(),
                    "first_trial": {"name": first, "hyperparameters": values, "request": dryrun.request}})
    seeded = "" if tune.seed is not None else " (drawn anew by the run: pass --tune-seed N to fix it)"
    err = env.stderr
    err.write(f"dry run: nothing was run. `launch tune --local` would run tuning job {name}:\n")
    for line in [*describe_space(tune), *plan_lines(plan)]:
        err.write(f"  {line}\n")
    err.write(f"  each trial a local job {name}-NNN under {env.jobs_dir}; the first{seeded}:\n")
    err.write(f"    {' '.join(f'{k}={v}' for k, v in values.items())}\n")
    return 0


# -- cloud ----------------------------------------------------------------------------------------


def _cloud(args: argparse.Namespace, env: Environment, spec: JobSpec) -> int:
    import json

    from launcher.cli.render.console import emit_json
    from launcher.cli.session import cli_runner
    from launcher.cli.train_cmd import _quiet_sdk
    from launcher.job.resolve import Target
    from launcher.planning.tune_plan import plan_tuning
    from launcher.tune.cloud import classic, stage_and_create, tuning_dry_run
    from launcher.tune.space import check_space

    _quiet_sdk(args)
    runner, bars = cli_runner(env)
    try:
        job = runner.resolve(classic(spec), Target.SAGEMAKER)
        check_space(job.spec, job)
        plan = plan_tuning(job.spec, samples=job.train_samples, processes_per_host=job.processes_per_host,
                           gpus_per_host=job.gpus_per_host, local=False)
        backend = runner.backend(job)
        tuning = tuning_dry_run(backend, job)
        if args.dry_run:
            emit_json(env, tuning.request)
            env.stderr.write(f"dry run: nothing was uploaded or created. A submit would create tuning "
                             f"job {tuning.name}:\n")
            for line in plan_lines(plan):
                env.stderr.write(f"  {line}\n")
            return 0
        desc, report = stage_and_create(backend, tuning)
    finally:
        for bar in bars:
            bar.close()
    json_mode = bool(args.json)
    if not json_mode:
        _say(env, f"created tuning job {desc.name} ({job.instance_type} × {job.instance_count}, "
             f"{'spot' if job.spot else 'on-demand'}, {plan.trials} trials, {plan.max_parallel} at once)",
             json_mode=False)
        for line in plan_lines(plan):
            _say(env, f"  {line}", json_mode=False)
        _say(env, f"  follow   launch status {desc.name}   ·   launch describe {desc.name}   ·   "
             f"launch stop {desc.name}", json_mode=False)
    if not args.wait:
        if json_mode:
            emit_json(env, {**desc.to_dict(), "submit": report})
        return 0
    desc = _follow_cloud(env, backend, desc.name, json_mode=json_mode)
    if json_mode:
        emit_json(env, json.loads(json.dumps({**desc.to_dict(), "submit": report}, default=str)))
    else:
        from launcher.cli.render.tuning import render_tuning

        render_tuning(env, desc)
    return 0 if desc.status == "Completed" else int(ExitStatus.ERROR)


def _follow_cloud(env: Environment, backend: Any, name: str, *, json_mode: bool) -> TuningDescription:
    """Poll until the tuning job ends, one line per trial that starts or ends."""
    from launcher.backends.sagemaker.tuning import wait_tuning
    from launcher.cli.render.tuning import trial_line

    seen: dict[str, str] = {}

    def on_update(desc: TuningDescription) -> None:
        for trial in desc.trials:
            if seen.get(trial.name) == trial.status:
                continue
            kind = "start" if trial.status == "InProgress" else "end"
            seen[trial.name] = trial.status
            _say(env, trial_line(kind, trial, desc.objective, desc.best()), json_mode=json_mode)

    try:
        return wait_tuning(backend.sm, name, region=backend.region, on_update=on_update)
    except KeyboardInterrupt:
        env.stderr.write(f"\nstopped following; the tuning job keeps running (launch stop {name})\n")
        raise
