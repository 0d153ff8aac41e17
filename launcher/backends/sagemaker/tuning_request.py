"""The CreateHyperParameterTuningJob request, derived from the classic CreateTrainingJob request of
the same job, and `validate_tuning_request`: what real SageMaker would reject, checked before any call.

The training definition is the training request minus its name: every field the tuning API can carry
is copied as it is (spot and MaxWait, CheckpointConfig, RetryStrategy, MetricDefinitions, VPC,
encryption, network isolation, environment); HyperParameters become StaticHyperParameters without the
tuned names; Tags move to the tuning job (SageMaker adds them to every trial). A field the tuning API
cannot carry (TensorBoardOutputConfig, a ContainerEntrypoint) is refused, never dropped.
Shapes and limits come from botocore's service model, like validation.py; docs/tune-sagemaker.md.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from launcher.backends.sagemaker.validation import (
    ROLE_ARN_RE,
    api_limits,
    check_s3,
    validate_resources,
    validate_stopping,
    validate_tags,
)
from launcher.config.spec import CHANNEL_RE, parse_s3_uri
from launcher.config.tune_spec import (
    MAX_CATEGORICAL_VALUES,
    MAX_RANGES,
    MAX_TRIALS,
    MAX_TUNING_JOB_NAME,
    TUNING_JOB_ENV,
    TUNING_JOB_NAME_RE,
    TuneSpec,
)
from launcher.errors import SpecError
from launcher.job import classic_contract
from launcher.job.naming import sanitize_base

OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"  # SageMaker adds it to every trial
TOOLKIT_PREFIX = "sagemaker_"   # the toolkit keeps these keys (and TOOLKIT_NAMES) from the script
TOOLKIT_NAMES = frozenset({OBJECTIVE_HYPERPARAMETER, "default_user_module_name"})
MAX_HYPERPARAMETERS = 100       # static + tuned + the one SageMaker adds (DG: define ranges)
MAX_TUNING_METRICS = 20         # metric definitions of a tuning job (automatic-model-tuning-limits)
MAX_ENVIRONMENT = 48            # HyperParameterTrainingJobEnvironmentMap
MAX_HYPERBAND_RESOURCE = 20000  # HyperbandStrategyConfig.MaxResource
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")
STRATEGIES = {"bayesian": "Bayesian", "random": "Random", "grid": "Grid", "hyperband": "Hyperband"}
SCALINGS = {"auto": "Auto", "linear": "Linear", "log": "Logarithmic", "reverse_log": "ReverseLogarithmic"}
RANGE_KINDS = {"continuous": "ContinuousParameterRanges", "integer": "IntegerParameterRanges",
               "categorical": "CategoricalParameterRanges"}
_MOVED = frozenset({"TrainingJobName", "HyperParameters", "Tags"})  # not copied into the definition


@functools.cache  # the sagemaker model is large: parse it once per process
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def generate_tuning_name(base: str, now: datetime | None = None, suffix: str | None = None) -> str:
    """`<base>-<YYmmdd-HHMMSS>-<4 hex>`, at most 32 characters (trials add `-NNN-<8 hex>` to it)."""
    import secrets

    now = now or datetime.now(UTC)
    tail = f"-{now:%y%m%d-%H%M%S}-{suffix or secrets.token_hex(2)}"
    head = sanitize_base(base)[: MAX_TUNING_JOB_NAME - len(tail)].rstrip("-") or "tune"
    name = head + tail
    assert TUNING_JOB_NAME_RE.match(name), name
    return name


def _require_classic(request: Mapping[str, Any]) -> dict[str, str]:
    algorithm = request.get("AlgorithmSpecification") or {}
    hyperparameters = dict(request.get("HyperParameters") or {})
    if algorithm.get("ContainerEntrypoint") or algorithm.get("ContainerArguments") or \
            classic_contract.PROGRAM not in hyperparameters:
        raise SpecError("a SageMaker tuning job runs each trial through the framework image's own "
                        "toolkit, so it needs a classic-contract training request (no ContainerEntrypoint, "
                        f"a {classic_contract.PROGRAM} hyperparameter)",
                        "build the training request with contract = \"classic\" (--classic)")
    return hyperparameters


def _number(value: float, integer: bool) -> str:
    return str(int(value)) if integer else repr(float(value))


def _categorical_value(name: str, value: Any) -> str:
    """JSON, as the classic toolkit decodes it: `"adam"` with its quotes, `64`, `true`."""
    try:
        return classic_contract.encode_value(value)
    except (TypeError, ValueError) as e:
        raise SpecError(f"range {name!r}: value {value!r} cannot be sent as JSON",
                        "use strings, numbers or booleans") from e


def parameter_ranges(tune: TuneSpec) -> dict[str, list[dict[str, Any]]]:
    """ParameterRanges: bounds as strings, categorical values JSON-encoded (docs/tune-sagemaker.md)."""
    ranges: dict[str, list[dict[str, Any]]] = {key: [] for key in RANGE_KINDS.values()}
    for name, r in tune.ranges.items():
        if r.type == "categorical":
            ranges[RANGE_KINDS[r.type]].append(
                {"Name": name, "Values": [_categorical_value(name, v) for v in r.values or []]})
            continue
        assert r.min is not None and r.max is not None  # the spec's own validator
        integer = r.type == "integer"
        ranges[RANGE_KINDS[r.type]].append({"Name": name, "MinValue": _number(r.min, integer),
                                            "MaxValue": _number(r.max, integer),
                                            "ScalingType": SCALINGS[r.scaling]})
    return {key: value for key, value in ranges.items() if value}


def tuning_config(tune: TuneSpec) -> dict[str, Any]:
    """HyperParameterTuningJobConfig of the `[tune]` table."""
    limits: dict[str, int] = {"MaxParallelTrainingJobs": tune.max_parallel}
    if tune.strategy != "grid":  # a grid runs every combination: SageMaker counts them itself
        limits = {"MaxNumberOfTrainingJobs": tune.trials, **limits}
    config: dict[str, Any] = {
        "Strategy": STRATEGIES[tune.strategy],
        "HyperParameterTuningJobObjective": {"Type": tune.direction.capitalize(),
                                             "MetricName": tune.objective},
        "ResourceLimits": limits,
        "ParameterRanges": parameter_ranges(tune),
        "TrainingJobEarlyStoppingType": "Off" if tune.strategy == "hyperband"
        else tune.early_stopping.capitalize(),
    }
    if tune.seed is not None:  # 0 included (the SDK v3 tuner drops a seed of 0)
        config["RandomSeed"] = tune.seed
    if tune.strategy == "hyperband":
        hyperband = {"MinResource": tune.min_resource, "MaxResource": tune.max_resource}
        config["StrategyConfig"] = {"HyperbandStrategyConfig": {k: v for k, v in hyperband.items() if v}}
    return config


def _checkpoint(config: Mapping[str, Any], training_name: str, tuning_name: str) -> dict[str, Any]:
    """The launcher's per-job checkpoint prefix (`…/checkpoints/<job>/`) becomes the tuning job's own;
    a prefix the user chose stays as it is."""
    checkpoint = dict(config)
    uri = str(checkpoint.get("S3Uri", ""))
    if training_name and uri.endswith(f"/{training_name}/"):
        checkpoint["S3Uri"] = f"{uri[: -len(training_name) - 1]}{tuning_name}/"
    return checkpoint


def _merged_tags(request_tags: Iterable[Mapping[str, str]],
                 extra: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    merged = {t["Key"]: t["Value"] for t in request_tags}
    merged.update(dict(extra))
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def tuning_request(training_request: Mapping[str, Any], tune: TuneSpec, *, name: str | None = None,
                   tags: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """The validated CreateHyperParameterTuningJob request of a classic CreateTrainingJob request.

    `name`: the tuning job's name; default the `[tune]` name, else generated from the entry script's.
    `tags`: added to (or replacing by key) the training request's Tags.
    """
    hyperparameters = _require_classic(training_request)
    for tuned in tune.ranges:
        _check_tuned_name(tuned)
    if name is None:
        program = classic_contract.decode_value(hyperparameters[classic_contract.PROGRAM])
        name = tune.name or generate_tuning_name(PurePosixPath(str(program)).stem)
    training_name = str(training_request.get("TrainingJobName", ""))
    static = {k: v for k, v in hyperparameters.items() if k not in tune.ranges}
    if classic_contract.JOB_NAME in static:  # no trial name exists yet; every trial's name starts so
        static[classic_contract.JOB_NAME] = classic_contract.encode_value(name)

    shape = _model().shape_for("HyperParameterTrainingJobDefinition")
    algorithm_members = shape.members["AlgorithmSpecification"].members
    for key in training_request:
        if key not in shape.members and key not in _MOVED:
            raise SpecError(f"{key} has no place in a tuning job's training definition",
                            "drop that setting for `launch tune` (the tuning API cannot pass it on)")
    for key in training_request.get("AlgorithmSpecification") or {}:
        if key not in algorithm_members:
            raise SpecError(f"AlgorithmSpecification.{key} has no place in a tuning job's "
                            "training definition")
    definition: dict[str, Any] = {}
    for key in shape.members:  # the API's order; what the training request has, unchanged
        if key == "StaticHyperParameters":
            definition[key] = static
        elif key == "CheckpointConfig" and key in training_request:
            definition[key] = _checkpoint(training_request[key], training_name, name)
        elif key in training_request:
            definition[key] = copy.deepcopy(training_request[key])
    # Trials share the definition's checkpoint prefix: the variable tells the reference entrypoint to
    # keep each trial's checkpoints under the trial's own name (entrypoints/container_env.py).
    definition["Environment"] = {**(definition.get("Environment") or {}), TUNING_JOB_ENV: name}
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": tuning_config(tune),
        "TrainingJobDefinition": definition,
    }
    merged = _merged_tags(training_request.get("Tags") or [], tags)
    if merged:
        request["Tags"] = merged
    validate_tuning_request(request)
    return request


# --- validation --------------------------------------------------------------------------------------


def _validate_objective(config: Mapping[str, Any], definition: Mapping[str, Any]) -> None:
    metrics = (definition.get("AlgorithmSpecification") or {}).get("MetricDefinitions") or []
    if len(metrics) > MAX_TUNING_METRICS:
        raise SpecError(f"{len(metrics)} metric definitions; a tuning job accepts at most "
                        f"{MAX_TUNING_METRICS}")
    for m in metrics:
        if not 1 <= len(m.get("Name", "")) <= 255 or not 1 <= len(m.get("Regex", "")) <= 500:
            raise SpecError(f"metric {m.get('Name')!r}: Name 1-255 and Regex 1-500 characters")
    objective = (config.get("HyperParameterTuningJobObjective") or {}).get("MetricName")
    names = [m.get("Name") for m in metrics]
    if objective not in names:
        raise SpecError(f"objective {objective!r} is not one of the job's metric definitions "
                        f"({', '.join(map(str, names)) or 'none'})",
                        "name a defined metric in [tune] objective, or add a metric definition for it")


def _check_tuned_name(name: str) -> None:
    if name.startswith(TOOLKIT_PREFIX) or name in TOOLKIT_NAMES:
        raise SpecError(f"{name!r} belongs to the training toolkit (it never reaches the script): "
                        "it cannot be tuned", "tune a hyperparameter of your own")


def _validate_range(kind: str, r: Mapping[str, Any]) -> None:
    name = r.get("Name", "")
    if kind == "CategoricalParameterRanges":
        values = list(r.get("Values") or [])
        if not 1 <= len(values) <= MAX_CATEGORICAL_VALUES:
            raise SpecError(f"range {name!r} has {len(values)} values; SageMaker accepts "
                            f"1-{MAX_CATEGORICAL_VALUES}")
        if len(set(values)) != len(values):
            raise SpecError(f"range {name!r} lists a value twice")
        for v in values:
            if len(v) > 256:
                raise SpecError(f"range {name!r}: a value is {len(v)} characters once encoded; at most 256")
        return
    try:
        low, high = float(r["MinValue"]), float(r["MaxValue"])
    except (KeyError, TypeError, ValueError) as e:
        raise SpecError(f"range {name!r}: MinValue and MaxValue must be numbers") from e
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise SpecError(f"range {name!r}: MinValue {r['MinValue']} must be below MaxValue {r['MaxValue']}")
    if kind == "IntegerParameterRanges" and (low != int(low) or high != int(high)):
        raise SpecError(f"range {name!r}: an integer range has whole-number bounds")
    scaling = r.get("ScalingType", "Auto")
    if scaling == "Logarithmic" and low <= 0:
        raise SpecError(f"range {name!r}: logarithmic scaling needs MinValue > 0")
    if scaling == "ReverseLogarithmic" and (kind != "ContinuousParameterRanges" or low < 0 or high >= 1):
        raise SpecError(f"range {name!r}: reverse-logarithmic scaling is for continuous ranges in [0, 1)")


def _validate_ranges(config: Mapping[str, Any], static: Mapping[str, str]) -> dict[str, list[Any]]:
    """Each range, and the names they tune; returns the categorical values by name."""
    ranges = config.get("ParameterRanges") or {}
    seen: set[str] = set()
    categorical: dict[str, list[Any]] = {}
    for kind in RANGE_KINDS.values():
        for r in ranges.get(kind) or []:
            name = str(r.get("Name", ""))
            if not 1 <= len(name) <= 256:
                raise SpecError(f"range name {name[:40]!r}… must be 1-256 characters")
            if name in seen:
                raise SpecError(f"range {name!r} appears twice")
            _check_tuned_name(name)
            if name in static:
                raise SpecError(f"{name!r} is both tuned and static")
            seen.add(name)
            _validate_range(kind, r)
            if kind == "CategoricalParameterRanges":
                categorical[name] = list(r["Values"])
    if not seen:
        raise SpecError("the tuning job has no parameter ranges", "add one: [tune.ranges.NAME]")
    if len(seen) > MAX_RANGES:
        raise SpecError(f"{len(seen)} ranges; SageMaker accepts at most {MAX_RANGES}")
    total = len(static) + len(seen) + 1
    if total > MAX_HYPERPARAMETERS:
        raise SpecError(f"{total} hyperparameters (static, tuned and SageMaker's "
                        f"{OBJECTIVE_HYPERPARAMETER}); a tuning job accepts at most {MAX_HYPERPARAMETERS}",
                        "pass fewer hyperparameters, or move a large configuration into a data channel")
    return categorical


def _validate_strategy(config: Mapping[str, Any], static: Mapping[str, str],
                       categorical: Mapping[str, list[Any]]) -> None:
    strategy = config.get("Strategy")
    if strategy not in STRATEGIES.values():
        raise SpecError(f"Strategy {strategy!r} must be one of {', '.join(STRATEGIES.values())}")
    limits = config.get("ResourceLimits") or {}
    parallel, total = limits.get("MaxParallelTrainingJobs"), limits.get("MaxNumberOfTrainingJobs")
    ranges = config.get("ParameterRanges") or {}
    if strategy == "Grid":
        if ranges.get("ContinuousParameterRanges") or ranges.get("IntegerParameterRanges"):
            raise SpecError("grid search takes categorical ranges only")
        if total is not None:
            raise SpecError("a grid tuning job runs every combination: it takes no MaxNumberOfTrainingJobs")
        total = math.prod(len(v) for v in categorical.values())
        if total > MAX_TRIALS:
            raise SpecError(f"the grid has {total} combinations; SageMaker runs at most {MAX_TRIALS}",
                            "list fewer values, or use the random or bayesian strategy")
    elif not isinstance(total, int) or not 1 <= total <= MAX_TRIALS:
        raise SpecError(f"MaxNumberOfTrainingJobs {total!r} must be 1-{MAX_TRIALS}")
    if not isinstance(parallel, int) or not 1 <= parallel <= min(total, 100):
        raise SpecError(f"MaxParallelTrainingJobs {parallel!r} must be 1-{min(total, 100)} "
                        f"(at most the {total} trials)")
    early = config.get("TrainingJobEarlyStoppingType", "Off")
    hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig")
    if strategy == "Hyperband":
        if early != "Off":
            raise SpecError("Hyperband stops trials early itself: TrainingJobEarlyStoppingType must be Off")
        hyperband = hyperband or {}
        low, high = hyperband.get("MinResource"), hyperband.get("MaxResource")
        if high is None and not any(k in static for k in HYPERBAND_EPOCH_KEYS):
            raise SpecError("Hyperband needs the most epochs a trial may run",
                            "set [tune] max_resource, or pass a static epochs hyperparameter")
        for value in (low, high):
            if value is not None and not 1 <= value <= MAX_HYPERBAND_RESOURCE:
                raise SpecError(f"Hyperband resource {value} must be 1-{MAX_HYPERBAND_RESOURCE}")
        if low and high and low > high:
            raise SpecError(f"Hyperband MinResource ({low}) exceeds MaxResource ({high})")
    elif hyperband:
        raise SpecError("HyperbandStrategyConfig is for the Hyperband strategy")
    if early not in ("Off", "Auto"):
        raise SpecError(f"TrainingJobEarlyStoppingType {early!r} must be Off or Auto")
    seed = config.get("RandomSeed")
    if seed is not None and (not isinstance(seed, int) or seed < 0):
        raise SpecError(f"RandomSeed {seed!r} must be a whole number ≥ 0")


def _check_s3_uri(uri: Any, what: str) -> str:
    check_s3(uri, what)
    return str(uri)


def _validate_channels(definition: Mapping[str, Any]) -> None:
    mode = (definition.get("AlgorithmSpecification") or {}).get("TrainingInputMode")
    channels = definition.get("InputDataConfig") or []
    if len(channels) > 20:
        raise SpecError(f"{len(channels)} input channels; SageMaker accepts at most 20")
    seen: set[str] = set()
    for channel in channels:
        name = channel.get("ChannelName", "")
        if not CHANNEL_RE.match(name) or name in seen:
            raise SpecError(f"channel name {name!r}: 1-64 letters, digits, '.', '-' or '_', once each")
        seen.add(name)
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        uri = _check_s3_uri(source.get("S3Uri"), f"channel {name!r}")
        if not parse_s3_uri(uri)[1]:
            raise SpecError(f"channel {name!r}: {uri} is a whole bucket; expected s3://bucket/prefix")
        if (channel.get("InputMode") or mode) == "FastFile" and not uri.endswith("/"):
            raise SpecError(f"channel {name!r} is FastFile: its URI must be an S3 prefix ending in '/'",
                            f"use {uri.rstrip('/')}/")


def _validate_definition(definition: Mapping[str, Any]) -> dict[str, str]:
    static = dict(definition.get("StaticHyperParameters") or {})
    for key in (classic_contract.PROGRAM, classic_contract.SUBMIT_DIRECTORY):
        if key not in static:
            raise SpecError(f"the training definition lacks the classic {key} hyperparameter",
                            "build the training request with contract = \"classic\" (--classic)")
    for key, value in static.items():
        if not 1 <= len(key) <= 256 or len(value) > 2500:
            raise SpecError(f"hyperparameter {key[:40]!r}: keys 1-256 and values ≤2500 characters")
    if not ROLE_ARN_RE.match(str(definition.get("RoleArn", ""))):
        raise SpecError(f"RoleArn {definition.get('RoleArn')!r} is not an IAM role ARN")
    algorithm = definition.get("AlgorithmSpecification") or {}
    if not algorithm.get("TrainingImage"):
        raise SpecError("the training definition has no training image")
    if algorithm.get("TrainingInputMode") not in ("File", "FastFile", "Pipe"):
        raise SpecError(f"TrainingInputMode {algorithm.get('TrainingInputMode')!r} must be File, "
                        "FastFile or Pipe")
    validate_resources(dict(definition.get("ResourceConfig") or {}))
    validate_stopping(dict(definition))
    _validate_channels(definition)
    check_s3((definition.get("OutputDataConfig") or {}).get("S3OutputPath"), "output path")
    environment = definition.get("Environment") or {}
    if len(environment) > MAX_ENVIRONMENT:
        raise SpecError(f"{len(environment)} environment variables; a tuning job accepts at most "
                        f"{MAX_ENVIRONMENT}")
    return static


def _model_ranges(shape: Any, value: Any, path: str) -> None:
    """What `api_limits` leaves out: integer ranges and enumerations of the API model."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure" and isinstance(value, dict):
        for key, item in value.items():
            if key in shape.members:
                _model_ranges(shape.members[key], item, f"{path}.{key}")
    elif kind == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            _model_ranges(shape.member, item, f"{path}[{i}]")
    elif kind == "integer" and isinstance(value, int) and "max" in meta and value > meta["max"]:
        raise SpecError(f"{path} is {value}; SageMaker accepts at most {meta['max']}")
    elif kind == "string" and isinstance(value, str) and shape.enum and value not in shape.enum \
            and shape.name != "TrainingInstanceType":  # the catalog's; a new type may postdate botocore
        raise SpecError(f"{path} {value!r} must be one of {', '.join(shape.enum[:8])}"
                        f"{'…' if len(shape.enum) > 8 else ''}")


def check_api_model(request: Mapping[str, Any]) -> None:
    """The request against botocore's CreateHyperParameterTuningJob model: required members, types,
    minimums (botocore's validator), maximums and enumerations (ours)."""
    from botocore.validate import ParamValidator

    shape = _model().operation_model("CreateHyperParameterTuningJob").input_shape
    report = ParamValidator().validate(dict(request), shape)
    if report.has_errors():
        first = report.generate_report().splitlines()[1:2] or ["invalid request"]
        raise SpecError(f"the tuning request does not fit the SageMaker API: {first[0].strip()}")
    api_limits(shape, dict(request), "request")
    _model_ranges(shape, dict(request), "request")


def validate_tuning_request(request: Mapping[str, Any]) -> None:
    """Our check of what real SageMaker rejects in a CreateHyperParameterTuningJob request (SpecError)."""
    name = request.get("HyperParameterTuningJobName", "")
    if not isinstance(name, str) or not TUNING_JOB_NAME_RE.match(name):
        raise SpecError(f"tuning job name {name!r}: 1-{MAX_TUNING_JOB_NAME} letters, digits and hyphens, "
                        "starting with a letter or digit",
                        "shorten [tune] name, or drop it to get a generated one")
    definition = request.get("TrainingJobDefinition") or {}
    config = request.get("HyperParameterTuningJobConfig") or {}
    static = _validate_definition(definition)
    _validate_objective(config, definition)
    categorical = _validate_ranges(config, static)
    _validate_strategy(config, static, categorical)
    validate_tags(list(request.get("Tags") or []))
    check_api_model(request)  # the rest of the model, after the checks with a better message
