"""The Optuna side of the local engine: the study in a journal file, the sampler and pruner of each
strategy, and a trial's values drawn from the [tune] ranges.

Optuna is an optional dependency (`pip install 'launcher[tune]'`), imported only here and only by
`launch tune --local`. Strategies:

    bayesian  → TPESampler (Optuna's Tree-structured Parzen Estimator: not SageMaker's Bayesian
                search, which is a Gaussian-process model; both are model-based, they differ in detail)
    random    → RandomSampler
    grid      → GridSampler over the categorical values (every combination once)
    hyperband → TPESampler + HyperbandPruner (the resource is the epoch)
    early_stopping = "auto" → MedianPruner (a trial is stopped when its objective at an epoch is
                worse than the median of the finished trials at that epoch; from its second report
                on, once two trials have finished), as SageMaker's automatic early stopping does
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.config.tune_spec import ParameterRange, TuneSpec
from launcher.errors import MissingDependencyError

if TYPE_CHECKING:
    import optuna

INSTALL_HINT = "pip install 'launcher[tune]' (or: pip install 'optuna>=4')"
SCALAR = (str, int, float, bool, type(None))
MEDIAN_STARTUP_TRIALS = 2
MEDIAN_WARMUP_STEPS = 1


def import_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError("`launch tune --local` runs its trials with Optuna, which is not "
                                     "installed", INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the tuner reports trials itself
    return optuna


def engine_name(tune: TuneSpec) -> str:
    sampler = {"bayesian": "TPESampler", "random": "RandomSampler", "grid": "GridSampler",
               "hyperband": "TPESampler"}[tune.strategy]
    pruner = ("HyperbandPruner" if tune.strategy == "hyperband" else
              "MedianPruner" if tune.early_stopping == "auto" else "no pruning")
    return f"Optuna {sampler}, {pruner}"


def encoded_choices(r: ParameterRange) -> list[Any]:
    """A categorical range's values as Optuna stores them: scalars as they are, anything else
    (lists, objects) as JSON text, decoded again by `decode_choice`."""
    values = list(r.values or [])
    if all(isinstance(v, SCALAR) for v in values):
        return values
    return [json.dumps(v) for v in values]


def decode_choice(r: ParameterRange, value: Any) -> Any:
    if all(isinstance(v, SCALAR) for v in r.values or []):
        return value
    return json.loads(value)


def _one_minus(name: str) -> str:
    return f"{name}__one_minus"  # reverse_log: 1 - value is drawn on a log scale


def grid_space(tune: TuneSpec) -> dict[str, list[Any]]:
    return {name: encoded_choices(r) for name, r in tune.ranges.items()}


def make_sampler(tune: TuneSpec) -> Any:
    opt = import_optuna()
    if tune.strategy == "random":
        return opt.samplers.RandomSampler(seed=tune.seed)
    if tune.strategy == "grid":
        grid_sampler: Any = opt.samplers.GridSampler

        class Grid(grid_sampler):  # type: ignore[misc]
            """GridSampler without its `study.stop()` after the last point: that call is only
            allowed inside `study.optimize`, and the tuner (ask and tell) counts its trials itself."""

            def after_trial(self, *args: Any, **kwargs: Any) -> None:
                return None

        return Grid(grid_space(tune), seed=tune.seed)
    return opt.samplers.TPESampler(seed=tune.seed)


def make_pruner(tune: TuneSpec) -> Any:
    opt = import_optuna()
    if tune.strategy == "hyperband":
        return opt.pruners.HyperbandPruner(min_resource=tune.min_resource or 1,
                                              max_resource=tune.max_resource or "auto")
    if tune.early_stopping == "auto":
        return opt.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP_TRIALS,
                                           n_warmup_steps=MEDIAN_WARMUP_STEPS)
    return opt.pruners.NopPruner()


def open_study(tune: TuneSpec, journal: Path, name: str) -> optuna.Study:
    """The study kept in `journal` (created, or loaded to resume)."""
    opt = import_optuna()
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(journal)))
    study: optuna.Study = opt.create_study(
        study_name=name, storage=storage, direction=tune.direction, sampler=make_sampler(tune),
        pruner=make_pruner(tune), load_if_exists=True)
    return study


def suggest(trial: optuna.Trial, tune: TuneSpec) -> dict[str, Any]:
    """The trial's value of every range, decoded (what the script receives)."""
    values: dict[str, Any] = {}
    for name, r in tune.ranges.items():
        if r.type == "categorical":
            values[name] = decode_choice(r, trial.suggest_categorical(name, encoded_choices(r)))
            continue
        assert r.min is not None and r.max is not None
        if r.type == "integer":
            values[name] = trial.suggest_int(name, int(r.min), int(r.max), log=r.scaling == "log")
        elif r.scaling == "reverse_log":
            drawn = trial.suggest_float(_one_minus(name), 1 - r.max, 1 - r.min, log=True)
            values[name] = 1 - drawn
        else:
            values[name] = trial.suggest_float(name, r.min, r.max, log=r.scaling == "log")
    return values


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def first_values(tune: TuneSpec) -> dict[str, Any]:
    """The values a fresh study would try first (the same with a seed; one draw without)."""
    opt = import_optuna()
    study = opt.create_study(direction=tune.direction, sampler=make_sampler(tune))
    return suggest(study.ask(), tune)
