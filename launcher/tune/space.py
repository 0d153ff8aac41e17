"""The search space: the compact range syntax of `--range NAME=SPEC`, and the checks of a [tune]
table that need the job (its metric definitions, the reference entrypoint's schema), made before
anything runs or is created.

    log:0.001:0.1         continuous, log scaling
    float:0:1             continuous (add :log, :linear or :reverse_log as a fourth part)
    int:16:128            integer (add :log as a fourth part)
    cat:sgd,adam          categorical; each value is JSON when it parses (cat:32,64 are numbers)
    cat:[[64],[128,64]]   categorical from a JSON array (values that hold commas)
"""

from __future__ import annotations

import json
from typing import Any

from launcher.config.spec import JobSpec, canonical_reference_hyperparameters
from launcher.config.tune_spec import ParameterRange, TuneSpec
from launcher.errors import SpecError
from launcher.job.resolve import ResolvedJob
from launcher.planning.tune_plan import corner_values

RANGE_KINDS = ("log", "float", "int", "cat")
SCALINGS = ("auto", "linear", "log", "reverse_log")
RANGE_HELP = "log:MIN:MAX | float:MIN:MAX[:SCALING] | int:MIN:MAX[:log] | cat:A,B,… | cat:[JSON,…]"


def _number(text: str, what: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SpecError(f"range {spec!r}: {what} {text!r} is not a number",
                        f"expected {RANGE_HELP}") from None


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_range(text: str) -> dict[str, Any]:
    """A compact SPEC as a [tune.ranges.NAME] table (validated later by the spec)."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in RANGE_KINDS:
        raise SpecError(f"range {text!r}: unknown kind {kind!r}", f"expected {RANGE_HELP}")
    if kind == "cat":
        if rest.lstrip().startswith("["):
            try:
                values = json.loads(rest)
            except ValueError as e:
                raise SpecError(f"range {text!r}: not a JSON array ({e})", f"expected {RANGE_HELP}") from None
            if not isinstance(values, list):
                raise SpecError(f"range {text!r}: not a JSON array", f"expected {RANGE_HELP}")
        else:
            values = [_value(v.strip()) for v in rest.split(",") if v.strip()]
        return {"type": "categorical", "values": values}
    parts = rest.split(":")
    if len(parts) not in (2, 3) or (kind == "log" and len(parts) != 2):
        raise SpecError(f"range {text!r}: expected {kind}:MIN:MAX" + ("" if kind == "log" else "[:SCALING]"),
                        f"e.g. {RANGE_HELP}")
    low, high = _number(parts[0], "min", text), _number(parts[1], "max", text)
    scaling = "log" if kind == "log" else (parts[2] if len(parts) == 3 else "auto")
    if scaling not in SCALINGS:
        raise SpecError(f"range {text!r}: unknown scaling {scaling!r}", f"one of {', '.join(SCALINGS)}")
    if kind == "int":
        if low != int(low) or high != int(high):
            raise SpecError(f"range {text!r}: an int range has whole-number bounds")
        return {"type": "integer", "min": int(low), "max": int(high), "scaling": scaling}
    return {"type": "continuous", "min": low, "max": high, "scaling": scaling}


def format_range(r: ParameterRange) -> str:
    """A range back in the compact syntax (what `launch tune` prints)."""
    if r.type == "categorical":
        return "cat:" + json.dumps(r.values)
    kind = "int" if r.type == "integer" else "float"
    scale = "" if r.scaling in ("auto", "linear") else f":{r.scaling}"
    return f"{kind}:{r.min:g}:{r.max:g}{scale}"


def check_space(spec: JobSpec, job: ResolvedJob) -> TuneSpec:
    """The [tune] table against the job it tunes; SpecError for the first problem.

    - the objective is one of the job's metric definitions (what SageMaker would parse from the log);
    - a tuned name is not also fixed among the job's hyperparameters (which would win is unclear);
    - for the reference entrypoint, every bound and value is one its schema accepts;
    - the names the classic contract reserves are not tuned.
    """
    from launcher.job.classic_contract import RESERVED

    tune = spec.tune
    if tune is None:
        raise SpecError("nothing to tune: no [tune] table", "pass --objective NAME and --range NAME=SPEC")
    names = [d.name for d in job.metric_definitions]
    if tune.objective not in names:
        listed = ", ".join(names) if names else "none"
        raise SpecError(f"objective {tune.objective!r} is not one of the job's metric definitions ({listed})",
                        "pick one of them, or define it: --metric NAME=REGEX")
    fixed = spec.all_hyperparameters()
    for name, r in tune.ranges.items():
        if name in RESERVED:
            raise SpecError(f"{name!r} is reserved by the classic contract the trials run under",
                            "tune another hyperparameter")
        key = name if name in fixed else name.replace("-", "_")
        if key in fixed:
            raise SpecError(f"{name!r} is both tuned and fixed (= {fixed[key]!r})",
                            f"drop the fixed value (--{key.replace('_', '-')} / [hyperparameters]) "
                            "or the range")
        if spec.uses_reference_entrypoint:
            for value in corner_values(r):
                try:
                    canonical_reference_hyperparameters({name: value}, {})
                except ValueError as e:
                    raise SpecError(f"range {name} ({r.describe()}): the reference entrypoint refuses "
                                    f"{name}={value!r}: {e}", "narrow the range") from None
    return tune


def describe_space(tune: TuneSpec) -> list[str]:
    """One line per range, and how many trials run (the grid's size stated for grid search)."""
    lines = [f"{name:<20} {r.describe()}" for name, r in tune.ranges.items()]
    if tune.strategy == "grid":
        sizes = " × ".join(str(len(r.values or [])) for r in tune.ranges.values())
        lines.append(f"grid: {sizes} = {tune.grid_size} trials (every combination)")
    else:
        lines.append(f"{tune.strategy} search: {tune.trials} trials, up to {tune.max_parallel} at once")
    return lines


def default_tuning_name(base: str = "tune") -> str:
    """`<base>-<YYmmdd-HHMMSS>-<4 hex>`: unique, at most 32 characters (a tuning job's limit)."""
    import secrets
    from datetime import UTC, datetime

    return f"{base[:10]}-{datetime.now(UTC):%y%m%d-%H%M%S}-{secrets.token_hex(2)}"
