"""`launch config`: the effective settings of a job and where each came from."""

from __future__ import annotations

import argparse
from typing import Any

from launcher.cli.spec_args import add_spec_arguments
from launcher.context import Environment


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "config",
        help="show the effective job settings and their sources",
        description="Merge built-in defaults < user config < job file < env vars < flags and show "
        "each effective value with the layer it came from.",
    )
    add_spec_arguments(p)
    p.add_argument("--json", action="store_true")
    p.add_argument("--instance-types", action="store_true", help="list the instance catalogue")
    p.set_defaults(handler=handle)


REFERENCE_DEFAULT = "default (reference entrypoint)"


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value and not prefix:
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def handle(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import console, emit_json

    if args.instance_types:
        return _instance_types(args, env)
    from launcher.cli.spec_args import resolve_from_args

    resolved = resolve_from_args(args, env)
    values = _flatten(resolved.spec.model_dump(mode="json"))
    rows = [(k, v, resolved.sources.get(k, "default")) for k, v in values.items()]
    if resolved.spec.uses_reference_entrypoint:
        # Every hyperparameter the script will use, the ones nobody set with the script's default.
        from launcher.reference import TrainConfig, config_to_dict

        given = set(resolved.spec.hyperparameters)
        rows += [(f"hyperparameters.{k}", v, REFERENCE_DEFAULT)
                 for k, v in config_to_dict(TrainConfig()).items() if k not in given]
    if args.json:
        emit_json(env, {"config_file": str(env.config_path),
                        "values": {k: {"value": v, "source": s} for k, v, s in rows}})
        return 0
    from rich.table import Table

    table = Table("setting", "value", "source", title=f"user config: {env.config_path}")
    for key, value, source in rows:
        if value in (None, {}, []):
            continue
        table.add_row(key, str(value), source)
    console(env).print(table)
    return 0


def _instance_types(args: argparse.Namespace, env: Environment) -> int:
    from launcher.cli.render.console import console, emit_json
    from launcher.config.catalog import INSTANCE_TYPES, PRICE_DATE, PRICE_SOURCE, lookup

    entries = [lookup(t) for t in sorted(INSTANCE_TYPES)]
    if args.json:
        emit_json(env, [e.__dict__ for e in entries])
        return 0
    from rich.table import Table

    table = Table("type", "GPUs", "GPU", "GiB/GPU", "USD/h",
                  caption=f"prices: {PRICE_SOURCE} ({PRICE_DATE})")
    for e in entries:
        table.add_row(e.name, str(e.gpus), e.gpu_model or "", str(e.gpu_memory_gib or ""),
                      f"{e.price_per_hour:.3f}" if e.price_per_hour else "")
    console(env).print(table)
    return 0
