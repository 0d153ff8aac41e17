"""`launch infra deploy|status|destroy`: the bucket + execution role stack (launcher/infra/template.yaml).

Parsing and presentation only; the logic lives in launcher.infra.stack / launcher.infra.destroy.
boto3, rich and the logic modules are imported inside the handlers so `launch --help` stays fast.
Results go to stdout, progress and prompts to stderr.
"""

from __future__ import annotations

import argparse
from typing import Any

from launcher.context import Environment
from launcher.errors import AwsError, ExitStatus, LauncherError

DEFAULT_PREFIX = "launcher"
DEFAULT_TIMEOUT_MINUTES = 30.0


class ConfirmationRequired(LauncherError):
    """A destructive or billable change was asked for without --yes and without a terminal."""

    exit_status = ExitStatus.INVALID


def register(sub: Any) -> None:
    infra = sub.add_parser(
        "infra", help="deploy, inspect or delete the bucket + SageMaker role stack",
        description="Manage the CloudFormation stack holding the launcher's S3 bucket and SageMaker "
        "execution role. `deploy` writes its outputs to the user config ([aws] bucket, role, "
        "region, stack) so `launch train` needs no --bucket or --role.")
    infra.set_defaults(handler=lambda args, env: _usage(infra, env))
    actions = infra.add_subparsers(dest="infra_command", metavar="ACTION")

    def common(p: argparse.ArgumentParser, name_default: str | None) -> None:
        p.add_argument("--name", metavar="PREFIX", default=name_default,
                       help="name prefix of the bucket, role and stack (<PREFIX>-infra); default "
                       + ("launcher" if name_default else "the deployed stack in the user config, "
                          "else launcher"))
        p.add_argument("--region", help="AWS region (default: the region of this stack as recorded "
                       "in the user config, else AWS_DEFAULT_REGION / the profile's)")
        p.add_argument("--profile", help="AWS named profile")

    deploy = actions.add_parser(
        "deploy", help="create or update the stack (shows the change set first)",
        description="Create or update the stack through a change set: shows each resource change "
        "(action, replacement), asks for confirmation, waits with progress, prints the outputs and "
        "writes them to the user config. Running it again with nothing changed is a no-op.")
    common(deploy, DEFAULT_PREFIX)
    deploy.add_argument("--retention-days", type=int, metavar="N",
                        help="days before staged code, SDK driver files and checkpoints expire "
                        "(default 30 on create; an update keeps the current value)")
    deploy.add_argument("--key-prefix", metavar="P",
                        help="key prefix the launcher stages under, which the lifecycle rules "
                        "follow (default: [aws].prefix from the user config, else the stack's "
                        "current value, else launcher)")
    deploy.add_argument("--kms-key", dest="kms_key", action="store_true", default=None,
                        help="also create a KMS key for training volumes and outputs, usable by the "
                        "role, and make it the default of [sagemaker] volume_kms_key/output_kms_key")
    deploy.add_argument("--no-kms-key", dest="kms_key", action="store_false",
                        help="remove the stack's KMS key from the stack (the key itself is retained)")
    deploy.add_argument("--yes", "-y", action="store_true",
                        help="apply without asking (required when not on a terminal)")
    deploy.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_MINUTES, metavar="MIN",
                        help="minutes to wait for the stack (default %(default)g)")
    deploy.set_defaults(handler=_deploy)

    status = actions.add_parser(
        "status", help="stack status, outputs, latest events and drift checks",
        description="Show the stack status, its outputs, the latest events, and checks that reveal "
        "drift: the user config vs the outputs, the deployed vs the current template, the bucket.")
    common(status, None)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    destroy = actions.add_parser(
        "destroy", help="delete the stack (refuses while the bucket holds objects)",
        description="Delete the stack after confirmation. While the bucket holds any object "
        "(version) it refuses, unless --force, which first deletes every object version and "
        "delete marker. Clears the [aws] keys deploy wrote from the user config.")
    common(destroy, None)
    destroy.add_argument("--yes", "-y", action="store_true",
                         help="delete without asking (required when not on a terminal)")
    destroy.add_argument("--force", action="store_true",
                         help="empty the bucket first (irreversible: all versions are deleted)")
    destroy.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_MINUTES, metavar="MIN",
                         help="minutes to wait for the deletion (default %(default)g)")
    destroy.set_defaults(handler=_destroy)


def _usage(parser: argparse.ArgumentParser, env: Environment) -> int:
    parser.print_help(env.stdout)
    return int(ExitStatus.INVALID)


# --- shared helpers -----------------------------------------------------------------------------


def _interactive(env: Environment) -> bool:
    isatty = getattr(env.stdin, "isatty", None)
    return bool(env.stdout_isatty) and bool(isatty and isatty())


def _require_confirmable(args: argparse.Namespace, env: Environment, what: str) -> None:
    if not args.yes and not _interactive(env):
        raise ConfirmationRequired(f"refusing to {what} without confirmation: not on a terminal",
                                   f"re-run with --yes to {what} non-interactively")


def _ask(env: Environment, question: str) -> bool:
    env.stderr.write(f"{question} [y/N] ")
    env.stderr.flush()
    return env.stdin.readline().strip().lower() in ("y", "yes")


def _session(args: argparse.Namespace, config_region: str | None, prefer_config: bool) -> Any:
    """A session for --region, else the config's region if preferred, else the AWS default (with
    the config's region as the last resort)."""
    from launcher.aws import make_session, require_credentials
    from launcher.errors import AwsError

    region = args.region or (config_region if prefer_config else None)
    try:
        session = make_session(region, args.profile)
    except AwsError:
        if region or not config_region:
            raise
        session = make_session(config_region, args.profile)  # no AWS default: use the config's
    require_credentials(session)
    return session


def _polling(args: argparse.Namespace) -> Any:
    from launcher.infra.events import Polling

    if args.timeout <= 0:
        from launcher.errors import ConfigError

        raise ConfigError(f"invalid --timeout {args.timeout:g}", "give a positive number of minutes")
    return Polling(timeout=args.timeout * 60)


def _text(value: object, style: str = "") -> Any:
    from rich.text import Text

    return Text(str(value), style=style)  # never markup: reasons contain brackets


def _event_printer(env: Environment) -> Any:
    from launcher.cli.render.console import console

    err = console(env, stderr=True)

    def on_event(e: Any) -> None:
        style = "red" if e.failed else "green" if e.status.endswith("_COMPLETE") else ""
        when = e.timestamp.strftime("%H:%M:%S") if e.timestamp else "--:--:--"
        line = _text(f"  {when}  ")
        line.append(f"{e.status:<28}", style=style)
        line.append(f" {e.logical_id} ({e.resource_type})")
        if e.reason:
            line.append(f"  {e.reason}")
        err.print(line)

    return on_event


def _interrupted(env: Environment, stack: str) -> None:
    env.stderr.write(f"\nstopped waiting; an operation CloudFormation had started on stack {stack} "
                     "carries on: `launch infra status` shows where it is\n")


def _print_outputs(out: Any, outputs: Any) -> None:
    out.print(_text("Outputs:", "bold"))
    for key, value in outputs.to_config().items():
        out.print(_text(f"  {key:<8} {value}"))
    if outputs.kms_key:
        out.print(_text(f"  {'kms key':<8} {outputs.kms_key}"))


# --- deploy -------------------------------------------------------------------------------------


def _deploy(args: argparse.Namespace, env: Environment) -> int:
    from launcher import aws
    from launcher.cli.render.console import console
    from launcher.config.userconfig import load_user_config, update_user_config
    from launcher.infra.stack import (
        CONFIG_SECTION,
        deploy,
        normalize_key_prefix,
        stack_name_for,
        validate_prefix,
        validate_retention,
    )

    assert env.config_path is not None
    prefix = validate_prefix(args.name)
    validate_retention(args.retention_days)
    polling = _polling(args)
    aws_cfg = load_user_config(env.config_path).get(CONFIG_SECTION) or {}
    key_prefix = normalize_key_prefix(
        args.key_prefix if args.key_prefix is not None else aws_cfg.get("prefix"))
    _require_confirmable(args, env, "deploy")
    name = stack_name_for(prefix)
    # Updating the recorded stack goes to its region; a new one to --region or the AWS default.
    session = _session(args, aws_cfg.get("region"), prefer_config=aws_cfg.get("stack") == name)
    cfn, out = aws.client(session, "cloudformation"), console(env)
    env.stderr.write(f"stack {name} in {session.region_name}: preparing a change set…\n")

    def review(plan: Any) -> bool:
        verb = "create" if plan.kind == "CREATE" else "update"
        out.print(_text(f"Changes to {verb} stack {plan.stack} "
                        f"({', '.join(f'{k}={v}' for k, v in plan.parameters.items())}):", "bold"))
        for c in plan.changes:
            replace = {"True": "REPLACES the resource", "Conditional": "may replace the resource"
                       }.get(str(c.replacement), "")
            out.print(_text(f"  {c.action:<7} {c.logical_id:<16} {c.resource_type:<24} {replace}"
                            .rstrip(), "red" if replace else ""))
        if not plan.changes:
            out.print(_text("  (parameters, tags or outputs only)"))
        approved[0] = args.yes or _ask(env, f"{verb.capitalize()} stack {plan.stack}?")
        return approved[0]

    approved = [False]
    try:
        result = deploy(cfn, prefix=prefix, retention_days=args.retention_days,
                        key_prefix=key_prefix, kms_key=args.kms_key, review=review,
                        on_event=_event_printer(env),
                        polling=polling)
    except KeyboardInterrupt:
        if approved[0]:  # at the prompt, deploy() discarded the change set: nothing runs
            _interrupted(env, name)
        raise
    if result.action == "cancelled":
        env.stderr.write("cancelled: nothing was changed\n")
        return int(ExitStatus.ERROR)
    out.print(_text({"created": f"Created stack {name}.", "updated": f"Updated stack {name}.",
                     "unchanged": f"Stack {name} is up to date: no changes."}[result.action],
                    "green"))
    _print_outputs(out, result.outputs)
    if result.outputs is None:
        raise AwsError(f"stack {name} has no outputs to remember", "run `launch infra status`")
    update_user_config(env.config_path, CONFIG_SECTION, result.outputs.to_config())
    sections = f"[{CONFIG_SECTION}]"
    if result.outputs.kms_key or args.kms_key is False:
        update_user_config(env.config_path, "sagemaker", result.outputs.sagemaker_config())
        sections += " and [sagemaker] (KMS keys)"
    out.print(_text(f"Saved as defaults in {env.config_path} {sections}.", "dim"))
    return 0


# --- status -------------------------------------------------------------------------------------


def _target(args: argparse.Namespace, config: dict[str, Any]) -> tuple[str, str | None]:
    """The stack name (from --name, else the config's deployed stack) and the config region for it."""
    from launcher.infra.stack import CONFIG_SECTION, stack_name_for, validate_prefix

    aws_cfg = config.get(CONFIG_SECTION) or {}
    if args.name:
        name = stack_name_for(validate_prefix(args.name))
    else:
        name = str(aws_cfg.get("stack") or stack_name_for(DEFAULT_PREFIX))
    region = aws_cfg.get("region") if aws_cfg.get("stack") == name else None
    return name, region


def _status(args: argparse.Namespace, env: Environment) -> int:
    from launcher import aws
    from launcher.cli.render.console import console, emit_json
    from launcher.config.userconfig import load_user_config
    from launcher.infra.stack import load_template
    from launcher.infra.status import status

    assert env.config_path is not None
    config = load_user_config(env.config_path)
    name, config_region = _target(args, config)
    session = _session(args, config_region, prefer_config=True)
    region = session.region_name
    st = status(aws.client(session, "cloudformation"), stack_name=name,
                s3=aws.client(session, "s3"), config=config, template_body=load_template())
    if args.json:
        emit_json(env, {"region": region, **st.to_dict()})
        return int(ExitStatus.SUCCESS if st.exists else ExitStatus.NOT_FOUND)
    if not st.exists:
        env.stderr.write(f"no stack {name} in {region}: `launch infra deploy` creates it\n")
        return int(ExitStatus.NOT_FOUND)
    out = console(env)
    headline = _text(f"Stack {name} ({region}): ", "bold")
    busy = str(st.status).endswith("_IN_PROGRESS")
    headline.append(str(st.status), style="green" if st.healthy else "yellow" if busy else "red")
    out.print(headline)
    if st.reason:
        out.print(_text(f"  reason   {st.reason}"))
    if st.updated:
        out.print(_text(f"  updated  {st.updated:%Y-%m-%d %H:%M:%S %Z}".rstrip()))
    out.print(_text("  " + "  ".join(f"{k}={v}" for k, v in st.parameters.items())))
    if st.outputs:
        _print_outputs(out, st.outputs)
    if st.facts:
        out.print(_text("Checks:", "bold"))
        for check, finding in st.facts:
            bad = any(w in finding for w in ("differs", "missing", "not set", "DRIFTED", "but [",
                                              "cannot check")) or check == "last failure"
            out.print(_text(f"  {check:<22} {finding}", "yellow" if bad else ""))
    if st.events:
        out.print(_text("Latest events:", "bold"))
        for e in st.events:
            when = f"{e.timestamp:%Y-%m-%d %H:%M:%S}" if e.timestamp else "-"
            reason = f"  {e.reason}" if e.reason else ""
            out.print(_text(f"  {when}  {e.status:<28} {e.logical_id}{reason}",
                            "red" if e.failed else ""))
    return 0


# --- destroy ------------------------------------------------------------------------------------


def _destroy(args: argparse.Namespace, env: Environment) -> int:
    from launcher import aws
    from launcher.cli.render.console import console
    from launcher.config.userconfig import load_user_config, update_user_config
    from launcher.infra.destroy import config_after_destroy, destroy
    from launcher.infra.stack import CONFIG_SECTION

    assert env.config_path is not None
    config = load_user_config(env.config_path)
    name, config_region = _target(args, config)
    polling = _polling(args)
    _require_confirmable(args, env, "destroy")
    session = _session(args, config_region, prefer_config=True)
    region, out = session.region_name, console(env)

    def review(plan: Any) -> bool:
        out.print(_text(f"Deleting stack {plan.stack} ({region}) deletes:", "bold"))
        if plan.bucket:
            what = plan.contents.describe() if plan.contents else f"bucket {plan.bucket}"
            if plan.force and plan.contents and not plan.contents.empty:
                what += ", ALL of them deleted first (irreversible)"
            out.print(_text(f"  {what}", "red" if plan.force else ""))
        if plan.role:
            out.print(_text(f"  role {plan.role} (running jobs that use it will fail)"))
        approved[0] = args.yes or _ask(env, f"Delete stack {plan.stack}?")
        return approved[0]

    approved = [False]
    try:
        result = destroy(aws.client(session, "cloudformation"), aws.client(session, "s3"),
                         stack_name=name, force=args.force, review=review,
                         on_event=_event_printer(env), polling=polling)
    except KeyboardInterrupt:
        if approved[0]:
            _interrupted(env, name)
        raise
    if result.action == "cancelled":
        env.stderr.write("cancelled: nothing was deleted\n")
        return int(ExitStatus.ERROR)
    if result.action == "absent":
        out.print(_text(f"No stack {name} in {region}: nothing to delete."))
        if config_region != region:  # the config's stack (if any) lives elsewhere: leave it
            return 0
    else:
        emptied = f" after emptying its bucket ({result.emptied} versions)" if result.emptied else ""
        out.print(_text(f"Deleted stack {name}{emptied}.", "green"))
    cleared = config_after_destroy(config, name, result.outputs)
    if cleared:
        update_user_config(env.config_path, CONFIG_SECTION, cleared)
        out.print(_text(f"Removed [{CONFIG_SECTION}] {', '.join(cleared)} from {env.config_path}.",
                        "dim"))
    return 0
