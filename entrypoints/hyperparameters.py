"""Typed hyperparameters of the reference entrypoint, read the way the container delivers them.

Pure and standard-library only, importing no sibling module: the launcher imports this file as
``entrypoints.hyperparameters`` to validate and plan a job with exactly the rules the script uses.

Sources (container contract, section 4): ``SM_HPS`` (a JSON object whose values ModelTrainer has
already ``json.loads``-ed) is read first; argv ``--key value`` (also ``--key=value``, ``-key value``
and ``--batch-size`` for ``batch_size``) fills in keys ``SM_HPS`` lacks, which matters in
``command=`` mode where only argv carries what the user appends. Every value is coerced by the
field's kind, so ``"False"``, ``"false"``, ``false`` and ``0`` are all False (never ``bool(str)``),
and ``"[64, 128]"`` is a list.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

__all__ = [
    "AMP_MODES",
    "HYPERPARAMETER_DOCS",
    "MODELS",
    "OPERATIONAL_KEYS",
    "OPTIMIZERS",
    "HyperparameterError",
    "TrainConfig",
    "config_from_mapping",
    "config_to_dict",
    "normalize_key",
    "parse_hyperparameters",
    "unknown_keys",
]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "adamw")
AMP_MODES: tuple[str, ...] = ("auto", "off", "bf16", "fp16")
MODELS: tuple[str, ...] = ("auto", "mlp", "cnn")
# Kept in step with schedules.SCHEDULES by a test: this module may not import its siblings.
LR_SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine", "linear")


class HyperparameterError(ValueError):
    """A hyperparameter is missing, malformed or out of range; the message names it."""


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of the reference entrypoint with its default."""

    epochs: int = 10
    batch_size: int = 64
    drop_last: bool = False
    shuffle: bool = True
    seed: int = 42
    max_steps: int | None = None
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    step_size: int = 30
    gamma: float = 0.1
    min_lr: float = 0.0
    warmup_steps: int = 0
    warmup_epochs: float = 0.0
    warmup_start_factor: float = 0.1
    scale_lr: bool = False
    base_batch_size: int = 256
    grad_accum_steps: int = 1
    amp: str = "auto"
    compile: bool = False
    num_workers: int = 0
    early_stopping_patience: int = 0
    early_stopping_min_delta: float = 0.0
    restore_best: bool = True
    checkpoint_every_steps: int = 500
    keep_checkpoints: int = 3
    log_every_steps: int = 50
    log_lr_every_step: bool = False
    model: str = "auto"
    hidden_sizes: tuple[int, ...] = (256, 128)
    conv_channels: tuple[int, ...] = (32, 64, 128)
    val_fraction: float = 0.1

    def __post_init__(self) -> None:
        _validate(self)


HYPERPARAMETER_DOCS: dict[str, str] = {
    "epochs": "Passes over the training set.",
    "batch_size": "Samples per forward pass per process (per device); spelled batch-size too.",
    "drop_last": "Drop each epoch's last partial batch (iterations per epoch = floor, not ceil).",
    "shuffle": "Reshuffle the training set every epoch (seeded by seed + epoch).",
    "seed": "Seed for initialisation, the validation split and the shuffling order.",
    "max_steps": "Optional cap on the total number of optimizer steps (null: no cap).",
    "optimizer": "sgd, adam or adamw (fused kernels on CUDA).",
    "lr": "Peak learning rate before the linear scaling rule.",
    "momentum": "SGD momentum; for adam/adamw it is beta1.",
    "weight_decay": "L2 penalty (sgd, adam) or decoupled weight decay (adamw).",
    "lr_schedule": "constant, step, cosine or linear; stepped once per optimizer step.",
    "step_size": "For lr_schedule=step: multiply the LR by gamma every step_size epochs.",
    "gamma": "For lr_schedule=step: the decay factor.",
    "min_lr": "Floor that cosine and linear decay towards (absolute, not scaled).",
    "warmup_steps": "Linear warmup length in optimizer steps (not with warmup_epochs).",
    "warmup_epochs": "Linear warmup length in epochs, rounded half-up to optimizer steps.",
    "warmup_start_factor": "Warmup starts at warmup_start_factor x lr and rises to lr.",
    "scale_lr": "Apply the linear scaling rule: lr x global batch / base_batch_size.",
    "base_batch_size": "Reference batch size of the linear scaling rule.",
    "grad_accum_steps": "Micro-batches accumulated per optimizer step.",
    "amp": "auto (bf16 on GPUs that support it, else off), off, bf16 or fp16 (with a grad scaler).",
    "compile": "Wrap the model in torch.compile.",
    "num_workers": "DataLoader workers when batches are copied from host memory to a GPU.",
    "early_stopping_patience": "Stop after this many epochs without val_loss improvement (0: off).",
    "early_stopping_min_delta": "Smallest val_loss decrease that counts as an improvement.",
    "restore_best": "With early stopping on, end with the weights of the best val_loss epoch.",
    "checkpoint_every_steps": "Checkpoint every N optimizer steps (0: only at epoch ends).",
    "keep_checkpoints": "How many of the newest checkpoints to keep.",
    "log_every_steps": "Log a train_loss line every N optimizer steps (0: only at epoch ends).",
    "log_lr_every_step": "Print 'step=N lr=X' per optimizer step and store lr_history.",
    "model": "auto (mlp for N x D data, cnn for N x C x H x W), mlp or cnn.",
    "hidden_sizes": "MLP hidden layer widths, e.g. [256, 128] ([] is a linear model).",
    "conv_channels": "CNN block widths; each block is conv3x3-BN-ReLU-maxpool.",
    "val_fraction": "Share of train held out (seeded) when there is no validation channel.",
}

# Keys that change how a run is observed or stored but not its arithmetic: a resumed run may
# change them without being refused as a different configuration.
OPERATIONAL_KEYS: frozenset[str] = frozenset(
    {
        "checkpoint_every_steps",
        "keep_checkpoints",
        "log_every_steps",
        "log_lr_every_step",
        "num_workers",
        "compile",
    }
)

# Platform keys that classic Script Mode and SMP add; they are not ours and not worth a warning.
_IGNORED_PREFIXES: tuple[str, ...] = ("sagemaker_",)
_IGNORED_KEYS: frozenset[str] = frozenset({"mp_parameters"})

_NULLS = frozenset({"", "null", "none"})
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def normalize_key(key: str) -> str:
    """``--batch-size`` / ``-batch_size`` / ``batch-size`` -> ``batch_size``."""
    return key.lstrip("-").replace("-", "_")


def parse_hyperparameters(environ: Mapping[str, str], argv: Sequence[str]) -> tuple[TrainConfig, list[str]]:
    """Build the config from ``SM_HPS`` and argv; return it with the unknown keys (sorted)."""
    values: dict[str, object] = dict(_parse_argv(argv))
    raw_hps = environ.get("SM_HPS", "")
    if raw_hps.strip():
        try:
            hps = json.loads(raw_hps)
        except json.JSONDecodeError as exc:
            raise HyperparameterError(f"SM_HPS is not valid JSON ({exc})") from exc
        if not isinstance(hps, dict):
            raise HyperparameterError(f"SM_HPS must be a JSON object, got {type(hps).__name__}")
        values.update({normalize_key(str(k)): v for k, v in hps.items()})
    return config_from_mapping(values), unknown_keys(values)


def config_from_mapping(values: Mapping[str, object]) -> TrainConfig:
    """Build a validated config from typed (or string) values; unknown keys are ignored.

    Keys may use dashes. Use :func:`unknown_keys` to report keys this entrypoint does not know.
    """
    kwargs: dict[str, object] = {}
    for key, value in values.items():
        name = normalize_key(key)
        if name in _COERCERS:
            kwargs[name] = _coerce(name, value)
    return TrainConfig(**kwargs)  # type: ignore[arg-type]


def unknown_keys(values: Mapping[str, object]) -> list[str]:
    """Keys that are neither hyperparameters of this entrypoint nor platform keys."""
    unknown = set()
    for key in values:
        name = normalize_key(key)
        if name in _COERCERS or name in _IGNORED_KEYS or name.startswith(_IGNORED_PREFIXES):
            continue
        unknown.add(name)
    return sorted(unknown)


def config_to_dict(config: TrainConfig) -> dict[str, object]:
    """JSON-ready dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


# --- argv -------------------------------------------------------------------------------------

_BARE = object()  # a flag given without a value


def _parse_argv(argv: Sequence[str]) -> dict[str, object]:
    values: dict[str, object] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not _is_flag(token):
            raise HyperparameterError(
                f"unexpected argument {token!r}: hyperparameters are passed as --name value"
            )
        name = token.lstrip("-")
        value: object
        if "=" in name:
            name, value = name.split("=", 1)
            i += 1
        elif i + 1 < len(argv) and not _is_flag(argv[i + 1]):
            value = argv[i + 1]  # kept verbatim: an empty token is a value (contract 4.1)
            i += 2
        else:
            value = _BARE
            i += 1
        values[normalize_key(name)] = value
    return values


def _is_flag(token: str) -> bool:
    if not token.startswith("-") or token in ("-", "--"):
        return False
    try:
        float(token)  # "-0.5" is a value, not a flag
    except ValueError:
        return True
    return False


# --- coercion ---------------------------------------------------------------------------------


def _coerce(name: str, value: object) -> object:
    if value is _BARE:
        if _COERCERS[name] is _to_bool:
            return True  # a bare --flag means true, as argparse's store_true would
        raise HyperparameterError(f"--{name} needs a value")
    try:
        return _COERCERS[name](value)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise HyperparameterError(f"hyperparameter {name}={value!r}: {exc}") from None


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    raise ValueError("expected a boolean: true/false/True/False/1/0")


def _to_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            as_float = float(text)  # "1e3" and "10.0" are whole numbers too
            if as_float.is_integer():
                return int(as_float)
    raise ValueError("expected an integer")


def _to_optional_int(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _NULLS):
        return None
    return _to_int(value)


def _to_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip())
    raise ValueError("expected a number")


def _to_int_tuple(value: object) -> tuple[int, ...]:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = ast.literal_eval(text)  # "(64, 128)", "64, 128", "[64,128,]"
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(_to_int(v) for v in value)
    raise ValueError("expected a list of integers such as [256, 128]")


def _choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    def to_choice(value: object) -> str:
        text = str(value).strip().lower()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return text

    return to_choice


_CHOICES: dict[str, tuple[str, ...]] = {
    "optimizer": OPTIMIZERS,
    "lr_schedule": LR_SCHEDULES,
    "amp": AMP_MODES,
    "model": MODELS,
}
# Keyed by the annotation text (this module uses postponed annotations, so field.type is a str).
_BY_ANNOTATION: dict[str, Callable[[object], object]] = {
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "int | None": _to_optional_int,
    "tuple[int, ...]": _to_int_tuple,
}
_COERCERS: dict[str, Callable[[object], object]] = {
    f.name: _choice(_CHOICES[f.name]) if f.name in _CHOICES else _BY_ANNOTATION[str(f.type)]
    for f in fields(TrainConfig)
}


# --- validation -------------------------------------------------------------------------------


def _validate(c: TrainConfig) -> None:
    at_least = {
        "epochs": 1,
        "batch_size": 1,
        "step_size": 1,
        "base_batch_size": 1,
        "grad_accum_steps": 1,
        "keep_checkpoints": 1,
        "warmup_steps": 0,
        "num_workers": 0,
        "early_stopping_patience": 0,
        "checkpoint_every_steps": 0,
        "log_every_steps": 0,
    }
    for name, minimum in at_least.items():
        value = getattr(c, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            _fail(name, value, f"must be an integer >= {minimum}")
    if c.max_steps is not None and (isinstance(c.max_steps, bool) or c.max_steps < 1):
        _fail("max_steps", c.max_steps, "must be >= 1 (omit it or pass null for no cap)")
    if not isinstance(c.seed, int) or isinstance(c.seed, bool) or not 0 <= c.seed < 2**63:
        _fail("seed", c.seed, "must be an integer in [0, 2**63)")
    _check_float(c, "lr", low=0.0, low_open=True)
    _check_float(c, "momentum", low=0.0, high=1.0, high_open=True)
    _check_float(c, "weight_decay", low=0.0)
    _check_float(c, "gamma", low=0.0, low_open=True)
    _check_float(c, "min_lr", low=0.0)
    _check_float(c, "warmup_epochs", low=0.0)
    _check_float(c, "warmup_start_factor", low=0.0, high=1.0, low_open=True)
    _check_float(c, "early_stopping_min_delta", low=0.0)
    _check_float(c, "val_fraction", low=0.0, high=1.0, high_open=True)
    for name, choices in _CHOICES.items():
        if getattr(c, name) not in choices:
            _fail(name, getattr(c, name), f"must be one of {', '.join(choices)}")
    if c.warmup_steps > 0 and c.warmup_epochs > 0:
        raise HyperparameterError(
            f"give warmup_steps ({c.warmup_steps}) or warmup_epochs ({c.warmup_epochs}), not both"
        )
    if c.min_lr > c.lr:
        _fail("min_lr", c.min_lr, f"must not exceed lr ({c.lr})")
    for name in ("hidden_sizes", "conv_channels"):
        sizes = getattr(c, name)
        if not isinstance(sizes, tuple) or any(
            isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes
        ):
            _fail(name, sizes, "must be a list of positive integers")
    if not c.conv_channels:
        _fail("conv_channels", c.conv_channels, "needs at least one block")


def _check_float(
    c: TrainConfig,
    name: str,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    value = getattr(c, name)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left = "(" if low_open else "["
        right = ")" if high_open or high == math.inf else "]"
        _fail(name, value, f"must be a finite number in {left}{low}, {high}{right}")


def _fail(name: str, value: object, rule: str) -> None:
    raise HyperparameterError(f"hyperparameter {name}={value!r} {rule}")
