"""`launch plan`: steps, the LR of every step, the cost bound and the exact request, before launch.

Takes the same job flags as `launch train`. Imports at module level only the standard library and
the light launcher modules; pydantic comes with the spec, rich when printing, boto3 only for
`--preflight`, matplotlib only for `--plot`, and neither torch nor the SageMaker SDK ever.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.cli.spec_args import add_spec_arguments
from launcher.cli.tune_args import add_tune_arguments, resolve_tune_from_args
from launcher.context import Environment
from launcher.errors import ExitStatus, SpecError

if TYPE_CHECKING:
    from launcher.backends.sagemaker.preflight import Check
    from launcher.config.spec import JobSpec
    from launcher.job.resolve import ResolvedJob
    from launcher.planning.training_plan import Plan
    from launcher.planning.tune_plan import TunePlan


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plan", help="show steps, LR schedule, cost bound and request without launching",
        description="Plan a job without launching it: iterations and optimizer steps, the LR of every "
        "step (chart), the cost upper bound from max_run, warnings, and optionally the exact "
        "CreateTrainingJob request (--request) and read-only AWS checks (--preflight).",
    )
    add_spec_arguments(p)
    add_tune_arguments(p)
    g = p.add_argument_group("plan")
    g.add_argument("--samples", type=_positive_int, metavar="N",
                   help="training examples in the train channel (default: counted from the data)")
    g.add_argument("--throughput", type=_positive_float, metavar="SAMPLES_PER_S",
                   help="samples/s per instance, for the expected duration and cost "
                        "(default: remembered from an earlier job of this entrypoint on this type)")
    g.add_argument("--price-per-hour", type=_non_negative_float, metavar="USD",
                   help="on-demand USD per instance-hour (default: the bundled catalogue)")
    g.add_argument("--spot-savings", type=_fraction, metavar="FRACTION", default=None,
                   help="assumed spot savings for the expected spot cost (default 0.70)")
    g.add_argument("--local", action="store_true",
                   help="plan a local run: no cost, no spot, instance type optional")
    g.add_argument("--plot", type=Path, metavar="FILE.png", help="also write the LR schedule figure")
    g.add_argument("--request", action="store_true",
                   help="print the exact CreateTrainingJob request (as `launch train --dry-run`)")
    g.add_argument("--preflight", action="store_true",
                   help="read-only AWS checks: bucket and region, role trust, S3 inputs non-empty")
    g.add_argument("--json", action="store_true", help="print everything as JSON")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.session import cli_runner
    from launcher.job.resolve import Target
    from launcher.planning.cost import DEFAULT_SPOT_SAVINGS
    from launcher.planning.throughput import LOCAL_INSTANCE, recall_throughput, throughput_key
    from launcher.planning.training_plan import PlanOptions

    spec = resolve_tune_from_args(args, env).spec
    if args.local and (args.request or args.preflight):
        raise SpecError("--request and --preflight describe a SageMaker job", "drop --local")

    checks: list[Check] | None = None
    samples, samples_source = args.samples, "--samples"
    if args.preflight:
        from launcher.backends.sagemaker.preflight import make_clients, run_preflight

        s3, iam, region = make_clients(spec)
        checks = run_preflight(spec, s3=s3, iam=iam, region=region)
        if samples is None:
            samples, samples_source = manifest_samples(spec, s3)

    throughput, throughput_source = args.throughput, "--throughput"
    if throughput is None:
        assert env.home is not None
        where = LOCAL_INSTANCE if args.local else spec.compute.instance_type
        key = throughput_key(spec)
        throughput = recall_throughput(env.home, key, where) if where else None
        throughput_source = f"measured by an earlier {key} job on {where}"
    options = PlanOptions(
        price_per_hour=args.price_per_hour, throughput=throughput, throughput_source=throughput_source,
        spot_savings=DEFAULT_SPOT_SAVINGS if args.spot_savings is None else args.spot_savings)
    runner, _ = cli_runner(env)
    job = runner.resolve(spec, Target.LOCAL if args.local else Target.SAGEMAKER, samples=samples,
                         samples_source=samples_source, plan_options=options)
    request = runner.dryrun(job).request if args.request else None
    tune = _tune_plan(args, job)
    first: dict[str, Any] = {}
    if tune is not None and job.reference:
        # The plan of one trial is drawn at each range's first value, never at a default the
        # search would not try (a tuned lr planned at the entrypoint's 0.01).
        from launcher.planning.tune_plan import corner_values, trial_spec

        assert spec.tune is not None
        first = {name: corner_values(r)[0] for name, r in spec.tune.ranges.items()}
        job = runner.resolve(trial_spec(spec, first), Target.LOCAL if args.local else Target.SAGEMAKER,
                             samples=samples, samples_source=samples_source, plan_options=options)
    plan = job.plan
    if plan is None:
        if job.reference:
            remedy = ("pass --samples N, or --preflight to read the manifest the launcher writes next "
                      "to data it uploads" if any(c.on_s3 for c in job.channels) else "pass --samples N")
            raise SpecError(job.plan_note or "no step plan", remedy)
        return _no_step_plan(args, env, job, checks, request)

    plot_path = None
    if args.plot is not None:
        from launcher.cli.render.plot import plot_lr_schedule

        plot_path = args.plot if args.plot.is_absolute() else env.cwd / args.plot
        plot_lr_schedule(plan.lr_per_step, plan.steps.optimizer_steps_per_epoch, plan.warmup_steps,
                         plot_path)

    if args.json:
        data = plan.to_dict()
        data["samples_source"] = job.samples_source
        data["image"] = _image(job)
        data["warnings"] += [{"code": "instance-type", "message": w} for w in job.warnings]
        data["plot"] = None if plot_path is None else str(plot_path)
        if tune is not None:
            data["tune"] = {**tune.to_dict(), "trial_planned_at": first}
        _emit(env, data, checks, request)
    else:
        render(env, plan, job.samples_source or "", checks, request, plot_path, _image(job),
               list(job.warnings))
        _render_tune(env, tune, first)
    return _checks_status(checks)


# --- the [tune] table ----------------------------------------------------------------------------


def _tune_plan(args: argparse.Namespace, job: ResolvedJob) -> TunePlan | None:
    """The tuning plan when the spec has a [tune] table: checked against the job first."""
    if job.spec.tune is None:
        return None
    from launcher.planning.tune_plan import plan_tuning
    from launcher.tune.space import check_space

    check_space(job.spec, job)
    return plan_tuning(job.spec, samples=job.train_samples, processes_per_host=job.processes_per_host,
                       gpus_per_host=job.gpus_per_host, local=job.local, price_per_hour=args.price_per_hour)


def _render_tune(env: Environment, tune: TunePlan | None, first: dict[str, Any]) -> None:
    if tune is None:
        return
    from rich.text import Text

    from launcher.cli.render.console import console
    from launcher.cli.tune_cmd import plan_lines

    con = console(env)
    con.print()
    at = (" and each range's first value (" + ", ".join(f"{k}={v}" for k, v in first.items()) + ")"
          if first else "")
    con.print(Text(f"Tuning ([tune]): the plan above is one trial at the fixed hyperparameters{at}",
                   style="bold"))
    for name, text in tune.ranges.items():
        con.print(Text(f"  {name:<20} {text}"))
    for line in plan_lines(tune):
        con.print(Text(f"  {line}"))


def _emit(env: Environment, data: dict[str, Any], checks: list[Check] | None,
          request: dict[str, Any] | None) -> None:
    """`--json`: the data, with the preflight checks and the request when they were asked for."""
    from launcher.cli.render.console import emit_json

    if checks is not None:
        data["preflight"] = [c.to_dict() for c in checks]
    if request is not None:
        data["request"] = request
    emit_json(env, data)


def _checks_status(checks: list[Check] | None) -> int:
    return int(ExitStatus.AWS) if checks and not all(c.ok for c in checks) else 0


def _no_step_plan(args: argparse.Namespace, env: Environment, job: ResolvedJob,
                  checks: list[Check] | None, request: dict[str, Any] | None) -> int:
    """A user script whose epochs, batch size or examples are unknown: say why, show the rest."""
    if args.json:
        _emit(env, {"entrypoint": job.entrypoint, "reference_entrypoint": False, "step_plan": None,
                    "why": job.plan_note, "hyperparameters": job.hyperparameters}, checks, request)
    else:
        import json

        from rich.text import Text

        from launcher.cli.render.console import console

        con = console(env)
        con.print(Text(f"Plan: {job.entrypoint} ({job.source_dir}); world size {job.world_size}",
                       style="bold"))
        con.print(Text(f"No step plan: {job.plan_note}"))
        con.print(Text("Hyperparameters as your script receives them: "
                       + " ".join(f"--{k} {v}" for k, v in job.hyperparameters.items())))
        _print_checks(con, checks)
        if request is not None:
            con.print(Text(json.dumps(request, indent=2, default=str)))
    return _checks_status(checks)


def manifest_samples(spec: JobSpec, s3: Any) -> tuple[int | None, str]:
    """Examples of an S3 train channel, from the manifest the launcher writes next to uploaded data."""
    from launcher.backends.sagemaker.preflight import read_channel_manifest
    from launcher.config.spec import is_s3_uri
    from launcher.job.data_manifest import MANIFEST_NAME
    from launcher.planning.training_plan import TRAIN_CHANNEL

    location = spec.data.get(TRAIN_CHANNEL) or (next(iter(spec.data.values())) if len(spec.data) == 1
                                                else None)
    if location is None or not is_s3_uri(location):
        return None, "--samples"
    info = read_channel_manifest(s3, location)
    if info is None or info.samples is None:
        raise SpecError(f"no launcher manifest with a sample count next to {location}",
                        "pass --samples N")
    return info.samples, f"manifest {location.rstrip('/')}/{MANIFEST_NAME}"


# --- human output -------------------------------------------------------------------------------


def _image(job: ResolvedJob) -> dict[str, Any] | None:
    """The training image a submit would use, and why; None for local plans or without a region."""
    compute = job.spec.compute
    if job.local or not compute.instance_type:
        return None
    from launcher.backends.sagemaker.images import resolve_image
    from launcher.backends.sagemaker.request import resolve_region

    try:
        image = resolve_image(region=resolve_region(job.spec), instance_type=compute.instance_type,
                              framework_version=compute.framework_version,
                              py_version=compute.py_version, image_uri=compute.image_uri)
    except SpecError as e:
        return {"uri": None, "reason": str(e), "warnings": []}
    return {"uri": image.uri, "reason": image.reason, "warnings": list(image.warnings)}


def render(env: Environment, plan: Plan, samples_source: str, checks: list[Check] | None,
           request: dict[str, Any] | None, plot_path: Path | None, image: dict[str, Any] | None = None,
           job_warnings: list[str] | None = None) -> None:
    import json

    from rich.table import Table
    from rich.text import Text

    from launcher.cli.render.console import console
    from launcher.cli.render.lrchart import render_lr_chart

    con = console(env)
    s, c = plan.steps, plan.config
    con.print(Text(_title(plan), style="bold"))
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(style="dim")
    held = (f"{plan.channel_samples} in the train channel, {plan.holdout} held out for validation "
            f"(val_fraction {c.val_fraction:g})" if plan.holdout else samples_source)
    per_proc = f"{s.per_process_samples} per process; " if s.world_size > 1 else ""
    rounding = "floor" if s.drop_last else "ceil"
    rows = [
        ("Training examples", f"{s.samples:,}", held),
        ("Batch size", f"{s.batch_size}", "per device (per process)"),
        ("Global batch size", f"{s.global_batch_size}",
         f"{s.batch_size} × {s.grad_accum_steps} accumulation × {s.world_size} process"
         f"{'es' if s.world_size != 1 else ''}"),
        ("Iterations per epoch", f"{s.iterations_per_epoch:,}",
         f"{per_proc}{rounding}({s.per_process_samples} / {s.batch_size})"
         + (", drop_last" if s.drop_last else "")),
        ("Total iterations", f"{s.total_iterations:,}", f"{s.iterations_per_epoch} × {s.epochs} epochs"),
        ("Optimizer steps per epoch", f"{s.optimizer_steps_per_epoch:,}",
         f"ceil({s.iterations_per_epoch} / {s.grad_accum_steps} accumulation)"
         if s.grad_accum_steps > 1 else "one per iteration"),
        ("Total optimizer steps", f"{s.total_optimizer_steps:,}",
         f"capped by max_steps {s.max_steps}; stops in epoch {s.epochs_to_run}"
         if s.total_optimizer_steps < s.uncapped_optimizer_steps
         else f"{s.optimizer_steps_per_epoch} × {s.epochs} epochs"),
        ("Warmup steps", f"{plan.warmup_steps:,}", _warmup_note(plan)),
        ("Peak LR", f"{plan.effective_lr:g}", plan.scaling_rule()),
        ("LR schedule", c.lr_schedule, _schedule_note(plan)),
    ]
    for label, value, note in rows:
        table.add_row(label, value, Text(note))
    con.print(table)

    encoding = (getattr(env.stdout, "encoding", None) or "utf-8").lower()
    chart = render_lr_chart(plan.lr_per_step, s.optimizer_steps_per_epoch, plan.warmup_steps,
                            ascii_only=not encoding.startswith("utf"))
    con.print()
    con.print(Text("\n".join(chart)))
    if plot_path is not None:
        con.print(Text(f"LR figure written to {plot_path}", style="dim"))

    con.print()
    for line in _cost_lines(plan):
        con.print(Text(line))
    if image is not None:
        con.print(Text(f"Image: {image['uri'] or '(none)'} ({image['reason']})"))
        for warning in image["warnings"]:
            con.print(Text(f"warning: {warning}", style="yellow"))
    for warning in job_warnings or []:
        con.print(Text(f"warning: {warning}", style="yellow"))
    for w in plan.warnings:
        con.print(Text(f"warning: {w.message}", style="yellow"))
    _print_checks(con, checks)
    if request is not None:
        con.print()
        con.print(Text("CreateTrainingJob request (as `launch train --dry-run`)", style="bold"))
        con.print(Text(json.dumps(request, indent=2, default=str)))


def _print_checks(con: Any, checks: list[Check] | None) -> None:
    from rich.text import Text

    if checks is None:
        return
    con.print()
    con.print(Text("Preflight (read-only AWS checks)", style="bold"))
    for chk in checks:
        con.print(Text(f"  {'ok  ' if chk.ok else 'FAIL'} {chk.name}: {chk.detail}",
                       style="green" if chk.ok else "red"))


def _title(plan: Plan) -> str:
    who = "reference entrypoint" if plan.spec.uses_reference_entrypoint else plan.spec.source_dir
    where = "local run" if plan.local else (
        f"{plan.instance_count} × {plan.instance_type or '(no instance type)'}")
    gpus = f", {plan.gpus_per_host} GPU{'s' if plan.gpus_per_host != 1 else ''} per host" \
        if plan.gpus_per_host else ""
    return (f"Plan: {plan.spec.entrypoint} ({who}) on {where}{gpus}; "
            f"{plan.processes_per_host} process{'es' if plan.processes_per_host != 1 else ''} per host, "
            f"world size {plan.world_size}")


def _warmup_note(plan: Plan) -> str:
    c = plan.config
    if not plan.warmup_steps:
        return "none"
    given = (f"warmup_epochs {c.warmup_epochs:g} × {plan.steps.optimizer_steps_per_epoch} steps, "
             "rounded half-up" if c.warmup_epochs > 0 else "warmup_steps")
    return (f"{given}; linear from {c.warmup_start_factor:g} × {plan.effective_lr:g} = "
            f"{c.warmup_start_factor * plan.effective_lr:g}")


def _schedule_note(plan: Plan) -> str:
    c, sch = plan.config, plan.schedule
    tail = f"; first {plan.lr_at(0):.4g}, last {plan.lr_at(plan.steps.total_optimizer_steps - 1):.4g}"
    if c.lr_schedule == "step":
        return f"× {c.gamma:g} every {c.step_size} epochs ({c.step_size * sch.steps_per_epoch} steps){tail}"
    if c.lr_schedule in ("cosine", "linear"):
        return f"to min_lr {c.min_lr:g} over {sch.main_steps} steps after warmup{tail}"
    return f"constant after warmup{tail}" if plan.warmup_steps else "constant"


def _cost_lines(plan: Plan) -> list[str]:
    from launcher.planning.cost import format_duration, format_usd

    lines: list[str] = []
    if plan.expected_seconds is not None:
        lines.append(f"Expected training time: {format_duration(plan.expected_seconds)} for "
                     f"{plan.samples_to_process:,} samples at {plan.throughput:,.0f} samples/s per "
                     f"instance ({plan.throughput_source}); excludes start-up, download, validation")
    cost = plan.cost
    if cost is None:
        return [*lines, "Cost: local run, no AWS charges."]
    lines.append(f"Cost (USD, on-demand prices: {cost.price_source})")
    if cost.price_per_hour is None:
        return [*lines, "  no price known; pass --price-per-hour USD for a cost bound"]
    max_run = format_duration(cost.max_run_seconds)
    lines.append(f"  rate         {format_usd(cost.price_per_hour)}/h × {cost.instance_count} instance"
                 f"{'s' if cost.instance_count != 1 else ''} = {format_usd(cost.hourly)}/h")
    lines.append(f"  upper bound  {format_usd(cost.upper_bound)}  (max_run {max_run}: billable time "
                 "cannot exceed it" + (", spot included)" if cost.spot else ")"))
    if cost.spot:
        lines.append(f"  spot         ≈ {format_usd(cost.spot_expected_at_max_run)} if it ran all of "
                     f"max_run, assuming {cost.spot_savings:.0%} spot savings (they vary)")
    if cost.expected is not None:
        kind = f"spot, {cost.spot_savings:.0%} savings assumed" if cost.spot else "on-demand"
        lines.append(f"  expected     {format_usd(cost.expected)}  ({kind}; "
                     f"{format_usd(cost.expected_on_demand)} on-demand)")
    else:
        lines.append("  expected     unknown: pass --throughput SAMPLES_PER_S (or run once; "
                     "the launcher remembers)")
    return lines


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value
