"""The flags of `launch tune` (and `launch plan`) that fill the spec's [tune] table, and resolving a
spec with them (the flag layer, above the job file's [tune] table)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.config.layers import ResolvedSpec


def _range(text: str) -> tuple[str, str]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=SPEC (e.g. lr=log:0.001:0.1), got {text!r}")
    return name.strip(), spec.strip()


def add_tune_arguments(parser: argparse.ArgumentParser) -> None:
    t = parser.add_argument_group(
        "tuning (the [tune] table)", "a range SPEC is log:MIN:MAX, float:MIN:MAX[:SCALING], "
        "int:MIN:MAX[:log] or cat:A,B,… (values JSON when they parse)")
    t.add_argument("--objective", metavar="METRIC", help="the metric definition to optimise")
    t.add_argument("--direction", choices=("maximize", "minimize"))
    t.add_argument("--strategy", choices=("bayesian", "random", "grid", "hyperband"))
    t.add_argument("--max-trials", type=int, metavar="N", help="trials at most (grid: every point)")
    t.add_argument("--max-parallel", type=int, metavar="N", help="trials at once")
    t.add_argument("--early-stopping", choices=("off", "auto"),
                   help="auto: stop trials whose objective trails the median (Optuna MedianPruner "
                   "locally, SageMaker's automatic early stopping in the cloud)")
    t.add_argument("--range", dest="ranges", action="append", type=_range, default=[],
                   metavar="NAME=SPEC", help="a tuned hyperparameter (repeatable; adds to or replaces "
                   "the job file's range of that name)")
    t.add_argument("--tune-name", metavar="NAME",
                   help="exact tuning job name (≤32 characters); the same name resumes a local one")
    t.add_argument("--tune-seed", type=int, metavar="N", help="the search's seed (Optuna; RandomSeed)")


def tune_layer(args: argparse.Namespace) -> dict[str, Any]:
    """The [tune] keys the flags give (ranges parsed from the compact SPEC)."""
    from launcher.tune.space import parse_range

    layer: dict[str, Any] = {}
    for key in ("objective", "direction", "strategy", "max_trials", "max_parallel", "early_stopping"):
        if getattr(args, key, None) is not None:
            layer[key] = getattr(args, key)
    if getattr(args, "tune_name", None) is not None:
        layer["name"] = args.tune_name
    if getattr(args, "tune_seed", None) is not None:
        layer["seed"] = args.tune_seed
    if getattr(args, "ranges", None):
        layer["ranges"] = {name: parse_range(spec) for name, spec in args.ranges}
    return layer


def _file_ranges(args: argparse.Namespace, env: Environment) -> dict[str, Any]:
    """The job file's own [tune.ranges], so a --range adds to them instead of replacing them all
    (the settings layers merge one level deep)."""
    from launcher.config.layers import load_job_file

    if args.job_file is None:
        return {}
    path = args.job_file if args.job_file.is_absolute() else env.cwd / args.job_file
    tune = load_job_file(Path(path)).get("tune")
    ranges = tune.get("ranges") if isinstance(tune, dict) else None
    return dict(ranges) if isinstance(ranges, dict) else {}


def resolve_tune_from_args(args: argparse.Namespace, env: Environment) -> ResolvedSpec:
    """The spec with the [tune] flags on top. Demo hyperparameters (the bare command's settings)
    that are tuned give way to the range; a tuned name fixed by the user is refused later."""
    from launcher.cli.spec_args import resolve_from_args
    from launcher.config.layers import ResolvedSpec
    from launcher.config.spec import build_spec

    layer = tune_layer(args)
    if "ranges" in layer:
        layer["ranges"] = {**_file_ranges(args, env), **layer["ranges"]}
    resolved = resolve_from_args(args, env, {"tune": layer} if layer else None)
    spec = resolved.spec
    if spec.tune is None:
        return resolved
    demo = [k for k in spec.tune.ranges if resolved.sources.get(f"hyperparameters.{k}") == "demo"]
    if not demo:
        return resolved
    data = spec.model_dump()
    for key in demo:
        del data["hyperparameters"][key]
    sources = {k: v for k, v in resolved.sources.items() if k not in {f"hyperparameters.{d}" for d in demo}}
    return ResolvedSpec(build_spec(data), sources)
