"""`launch prune [--older-than 7d] [--dry-run] [--json] [--cloud]`: remove old local job folders,
and with `--cloud` the SDK driver files the launcher's submits staged in S3.

Only jobs that ended (Completed, Failed, Stopped) are candidates, aged from their end (else their
creation); a job still in progress is never removed, however old. A job's folder holds its record,
logs, emulated container tree and, unless `--output` sent them elsewhere, its model.tar.gz and
output.tar.gz: those go with it. `--cloud` also deletes the objects under `<prefix>/staging/` of the
configured bucket older than the age (a job reads them only as it starts; the deployed stack's
lifecycle rule expires them too). Staged code and data, checkpoints and artifacts are not touched.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from launcher.context import Environment

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DEFAULT_AGE = "30d"


def parse_age(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` → seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: a number and a unit, s m h d or w (7d, 12h, 2w)")
    return float(m.group(1)) * UNITS[m.group(2)]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "prune", help="remove the folders of local jobs that ended long ago",
        description="Remove the folders of local jobs that ended more than --older-than ago "
        "(record, logs, container tree, and the artifacts stored in the folder). Jobs in progress "
        "are never removed. With --cloud, also the SDK driver files staged under <prefix>/staging/ "
        "in the configured bucket; staged code and data, checkpoints and artifacts stay.")
    p.add_argument("--older-than", type=parse_age, default=parse_age(DEFAULT_AGE), metavar="AGE",
                   help=f"age since the job ended: 90s, 30m, 12h, 7d, 2w (default {DEFAULT_AGE})")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    c = p.add_argument_group("cloud")
    c.add_argument("--cloud", action="store_true",
                   help="also delete the SDK driver files under <prefix>/staging/ older than the age")
    for flag in ("--region", "--profile", "--bucket", "--prefix"):
        c.add_argument(flag)
    p.set_defaults(handler=handle)


def _age(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        size = UNITS[unit]
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _cloud_staging(args: argparse.Namespace, env: Environment) -> dict[str, Any]:
    """The stale staging objects of the configured bucket (deleted unless --dry-run)."""
    import time

    from launcher import aws
    from launcher.backends.sagemaker.staging import delete_keys, stale_staging
    from launcher.config.layers import resolve_spec
    from launcher.errors import SpecError

    assert env.config_path is not None
    flags = {"aws": {k: getattr(args, k) for k in ("region", "profile", "bucket", "prefix")
                     if getattr(args, k)}}
    settings = resolve_spec(config_path=env.config_path, environ=env.environ, flags=flags).spec.aws
    if not settings.bucket:
        raise SpecError("no bucket configured to prune", "pass --bucket, or run `launch infra deploy`")
    s3 = aws.client(aws.make_session(settings.region, settings.profile), "s3")
    stale = stale_staging(s3, settings.bucket, settings.prefix, args.older_than, time.time())
    if stale and not args.dry_run:
        delete_keys(s3, settings.bucket, [key for key, _ in stale])
    return {"bucket": settings.bucket, "prefix": f"{settings.prefix.strip('/')}/staging/",
            "objects": len(stale), "bytes": sum(size for _, size in stale)}


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.backends.local.store import JobStore
    from launcher.cli.render.console import console, emit_json
    from launcher.planning.cost import format_bytes

    store = JobStore(env.jobs_dir)
    found = store.older_than(args.older_than)
    entries: list[dict[str, Any]] = []
    for job, desc, age in found:
        size = job.size_bytes()
        if not args.dry_run:
            job.remove()
        entries.append({"name": desc.name, "status": str(desc.status), "age_seconds": round(age),
                        "bytes": size, "path": str(job.path)})
    cloud = _cloud_staging(args, env) if args.cloud else None
    if args.json:
        emit_json(env, {"dry_run": args.dry_run, "removed": [] if args.dry_run else entries,
                        "would_remove": entries if args.dry_run else [], "cloud_staging": cloud})
        return 0
    out = console(env)
    verb = "would remove" if args.dry_run else "removed"
    for e in entries:
        out.print(f"{verb}  {e['name']}  {e['status']}, ended {_age(e['age_seconds'])} ago, "
                  f"{format_bytes(e['bytes'])}", markup=False, highlight=False)
    total = sum(e["bytes"] for e in entries)
    out.print(f"{verb} {len(entries)} job folder{'s' if len(entries) != 1 else ''} "
              f"({format_bytes(total)}) older than {_age(args.older_than)} from {env.jobs_dir}",
              markup=False, highlight=False)
    if cloud is not None:
        out.print(f"{verb} {cloud['objects']} staged SDK driver file{'s' if cloud['objects'] != 1 else ''} "
                  f"({format_bytes(cloud['bytes'])}) older than {_age(args.older_than)} from "
                  f"s3://{cloud['bucket']}/{cloud['prefix']}", markup=False, highlight=False)
    return 0
