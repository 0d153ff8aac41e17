"""The job spec: typed, closed (unknown keys rejected with a hint) and validated as SageMaker would.

Everything here is pure: no AWS calls and no disk writes. Checks that need the disk (local channel
paths exist and are non-empty) live in `check_local_paths`, called before anything is staged.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from launcher.config import container_names, secrets
from launcher.config import wire as hyperparams
from launcher.config.sagemaker_settings import SageMakerSettings
from launcher.config.tune_spec import TuneSpec
from launcher.errors import SpecError


def _reference_source_dir() -> Path:
    """The reference entrypoint's folder: `entrypoints/` of a checkout, shipped as `launcher.entrypoints`."""
    found = importlib.util.find_spec("launcher.entrypoints")
    if found is None or not found.submodule_search_locations:
        raise RuntimeError("launcher.entrypoints is missing: reinstall the launcher")
    return Path(next(iter(found.submodule_search_locations))).resolve()


REFERENCE_SOURCE_DIR = _reference_source_dir()
REFERENCE_ENTRYPOINT = "train.py"
BUNDLED_DATA_DIR = Path(__file__).resolve().parent.parent / "datasets" / "digits"

JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
CHANNEL_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
S3_URI_RE = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(?P<key>.*))?$")
TAG_RE = re.compile(r"^[\w\s.:/=+\-@]*$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_CHANNELS = frozenset({"code", "sm_drivers"})  # the SDK's own channels
MAX_CHANNELS = 18  # SageMaker allows 20 and the SDK adds `code` and `sm_drivers`
MAX_USER_TAGS = 47  # SageMaker allows 50 in all; the launcher adds up to 3
MAX_RUNTIME_SECONDS = 28 * 24 * 3600
DEFAULT_MAX_WAIT_FACTOR = 2


def is_s3_uri(value: str) -> bool:
    return value.startswith("s3://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key prefix) of an s3:// URI; SpecError when malformed."""
    m = S3_URI_RE.match(uri)
    if not m:
        raise SpecError(f"malformed S3 URI {uri!r}", "expected s3://bucket/prefix")
    return m["bucket"], m["key"] or ""


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MetricDefinition(_Closed):
    name: str = Field(min_length=1, max_length=255)
    regex: str = Field(min_length=1, max_length=500)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            pattern = re.compile(v)
        except re.error as e:
            raise ValueError(f"invalid regex: {e}") from e
        if pattern.groups < 1:
            raise ValueError("the regex needs a capture group: its first group is the value")
        return v


class Compute(_Closed):
    instance_type: str | None = None
    instance_count: int = Field(1, ge=1, le=100)
    volume_size_gb: int = Field(30, ge=1, le=16384)
    processes_per_host: int | None = Field(None, ge=1, le=64)
    input_mode: Literal["File", "FastFile", "Pipe"] = "File"
    framework_version: str | None = None
    py_version: str | None = None
    image_uri: str | None = None

    @field_validator("instance_type")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from launcher.config.catalog import lookup

        lookup(v)  # raises with a suggestion
        return v


class Spot(_Closed):
    enabled: bool | None = None  # None: on for cloud jobs, not applicable locally
    max_run: int = Field(3600, ge=1, le=MAX_RUNTIME_SECONDS)
    max_wait: int | None = Field(None, ge=1)
    checkpoint_s3_uri: str | None = None

    @field_validator("checkpoint_s3_uri")
    @classmethod
    def _checkpoint_uri(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parse_s3_uri(v)
        if not v.endswith("/"):
            raise ValueError(
                f"{v!r} must end with '/': SageMaker syncs the bare prefix, so {v} would also "
                f"match {v}0, {v}-old, …"
            )
        return v

    @model_validator(mode="after")
    def _wait(self) -> Spot:
        if self.max_wait is not None:
            if self.enabled is False:
                raise ValueError("max_wait applies only to spot training (spot is disabled)")
            if self.max_wait < self.max_run:
                raise ValueError(
                    f"max_wait ({self.max_wait}s) must be ≥ max_run ({self.max_run}s): it bounds the "
                    "time spent waiting for spot capacity plus the training time"
                )
        return self

    def effective_max_wait(self) -> int:
        return self.max_wait if self.max_wait is not None else self.max_run * DEFAULT_MAX_WAIT_FACTOR


class Aws(_Closed):
    region: str | None = None
    profile: str | None = None
    role: str | None = None
    bucket: str | None = None
    prefix: str = "launcher"
    stack: str | None = None  # written by `launch infra deploy`; informational
    preflight: bool = True    # read-only checks of buckets, inputs, name and role before a submit
    # What a local script gets of AWS credentials (backends/local/credentials.py).
    local_credentials: Literal["caller", "none", "role"] = "caller"


class JobSpec(_Closed):
    entrypoint: str = REFERENCE_ENTRYPOINT
    source_dir: str | None = None  # None: the bundled reference entrypoint
    requirements: str | None = None  # None: the source dir's requirements.txt when present
    job_name: str | None = None
    base_name: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    extra_hyperparameters: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, str] = Field(default_factory=dict)
    compute: Compute = Field(default_factory=Compute)
    spot: Spot = Field(default_factory=Spot)
    output: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    environment: dict[str, str] = Field(default_factory=dict)
    metric_definitions: list[MetricDefinition] | None = None  # None: the source dir's own
    aws: Aws = Field(default_factory=Aws)
    sagemaker: SageMakerSettings = Field(default_factory=SageMakerSettings)
    sdk_config: bool = True  # apply the SageMaker SDK's own config files (intelligent defaults)
    # Files packaged on purpose despite the secret-file rules and .launcherignore (relative to the
    # source dir), and hyperparameter or environment keys sent despite looking like secrets.
    include_files: list[str] = Field(default_factory=list)
    allow_secrets: list[str] = Field(default_factory=list)
    # How the script is run: SDK v3 ModelTrainer's drivers ("modeltrainer"), or a v2 framework
    # image's own training toolkit ("classic": sagemaker_program / sagemaker_submit_directory).
    contract: Literal["modeltrainer", "classic"] = "modeltrainer"
    # Extra directories shipped beside the source dir (SDK v2's `dependencies`).
    dependencies: list[str] = Field(default_factory=list)
    install_requirements: bool = True  # False: never install the requirements file (local runs)
    tune: TuneSpec | None = None  # the [tune] table: `launch tune` and `launch plan`

    @field_validator("job_name")
    @classmethod
    def _job_name(cls, v: str | None) -> str | None:
        if v is not None and not JOB_NAME_RE.match(v):
            raise ValueError(
                f"{v!r} is not a valid SageMaker job name: 1-63 letters, digits and hyphens, "
                "starting with a letter or digit"
            )
        return v

    @field_validator("base_name")
    @classmethod
    def _base_name(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9-]*$", v):
            raise ValueError(f"{v!r}: base names use letters, digits and hyphens")
        return v

    @model_validator(mode="before")
    @classmethod
    def _reference_hyperparameters(cls, data: Any) -> Any:
        """For the reference entrypoint only: its schema names, validates and canonicalises values.

        Keys are normalised (`batch-size` → `batch_size`), extras that name a typed hyperparameter
        join the typed ones, and every value becomes the canonical one the script will parse (`32`,
        not `32.0`; `bf16`, not `BF16`). A user's own script gets its hyperparameters untouched.
        """
        if not isinstance(data, dict) or data.get("source_dir") is not None:
            return data
        typed = data.get("hyperparameters") or {}
        extras = data.get("extra_hyperparameters") or {}
        if not isinstance(typed, dict) or not isinstance(extras, dict):
            return data
        data = dict(data)
        data["hyperparameters"], data["extra_hyperparameters"] = canonical_reference_hyperparameters(
            typed, extras)
        return data

    @field_validator("data")
    @classmethod
    def _channels(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > MAX_CHANNELS:
            raise ValueError(f"{len(v)} data channels; at most {MAX_CHANNELS} (SageMaker's 20 less "
                             "the SDK's code and sm_drivers)")
        for name, location in v.items():
            if not CHANNEL_RE.match(name):
                raise ValueError(f"channel name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
            if problem := container_names.channel_problem(name):
                raise ValueError(problem)
            if name in RESERVED_CHANNELS:
                raise ValueError(f"channel name {name!r} is reserved by the SageMaker SDK; rename it")
            if not location:
                raise ValueError(f"channel {name!r} has no location")
            if is_s3_uri(location):
                _bucket, key = parse_s3_uri(location)
                if key and not key.endswith("/"):
                    raise ValueError(
                        f"channel {name!r}: {location} is read as a key prefix, so it would also bring "
                        f"{location}_old/… or {location}2/…; end it with '/': {location}/ (a single file "
                        "goes under a prefix of its own)")
        return v

    @field_validator("output")
    @classmethod
    def _output(cls, v: str | None) -> str | None:
        if v is not None and is_s3_uri(v):
            parse_s3_uri(v)
        return v

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > MAX_USER_TAGS:
            raise ValueError(
                f"{len(v)} tags; at most {MAX_USER_TAGS} (SageMaker's 50 less the launcher's own)")
        for key, value in v.items():
            if not 1 <= len(key) <= 128 or len(value) > 256 or not TAG_RE.match(key + value):
                raise ValueError(
                    f"tag {key!r}: keys 1-128 and values ≤256 characters of letters, digits, "
                    "spaces and _ . : / = + - @"
                )
        return v

    @field_validator("environment")
    @classmethod
    def _environment(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 100:
            raise ValueError(f"{len(v)} environment variables; SageMaker accepts at most 100")
        for key, value in v.items():
            if not ENV_KEY_RE.match(key) or len(key) > 512 or len(value) > 512:
                raise ValueError(
                    f"environment variable {key!r}: name [A-Za-z_][A-Za-z0-9_]*, name and value ≤512"
                )
        return v

    @field_validator("metric_definitions")
    @classmethod
    def _metrics(cls, v: list[MetricDefinition] | None) -> list[MetricDefinition] | None:
        if v is not None and len(v) > 40:
            raise ValueError(f"{len(v)} metric definitions; SageMaker accepts at most 40")
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> JobSpec:
        clash = set(self.hyperparameters) & set(self.extra_hyperparameters)
        if clash:
            raise ValueError(f"hyperparameter {sorted(clash)[0]!r} is given twice ([hyperparameters] and "
                             "[extra_hyperparameters])")
        entry = Path(self.entrypoint)
        if entry.suffix not in (".py", ".sh") or entry.is_absolute() or ".." in entry.parts:
            raise ValueError(
                f"entrypoint {self.entrypoint!r} must be a .py or .sh file relative to the source dir"
            )
        if self.contract != "classic":  # classic: the toolkit's rules, checked when the job is resolved
            hyperparams.encode(self.all_hyperparameters())  # limits and the single-quote hazard
        secrets.check_spec_secrets(self.all_hyperparameters(), self.environment, self.allow_secrets,
                                   self.include_files)
        if self.sagemaker.keep_alive_seconds and self.spot.enabled is not False:
            raise ValueError("a warm pool (keep_alive_seconds) cannot be used with managed spot "
                             "training: add --no-spot, or drop the keep-alive")
        return self

    # -- derived values -------------------------------------------------------------------------

    def all_hyperparameters(self) -> dict[str, Any]:
        """Typed first, then extras: the order the script's argv will have."""
        return {**self.hyperparameters, **self.extra_hyperparameters}

    def encoded_hyperparameters(self) -> dict[str, str]:
        return hyperparams.encode(self.all_hyperparameters())

    @property
    def uses_reference_entrypoint(self) -> bool:
        return self.source_dir is None

    def source_path(self, cwd: Path | None = None) -> Path:
        if self.source_dir is None:
            return REFERENCE_SOURCE_DIR
        path = Path(self.source_dir).expanduser()
        return path if path.is_absolute() else (cwd or Path.cwd()) / path

    def spot_enabled(self, *, cloud: bool) -> bool:
        return bool(cloud and (self.spot.enabled is None or self.spot.enabled))


def canonical_reference_hyperparameters(
    typed: dict[str, Any], extras: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(typed, extras) of the reference entrypoint: typed keys checked, values canonical."""
    from launcher.reference import HyperparameterError, TrainConfig, config_from_mapping, config_to_dict

    names = list(TrainConfig.__dataclass_fields__)
    normalised: dict[str, Any] = {}
    for key, value in typed.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"unknown hyperparameter {key!r}; {hint}free hyperparameters for your own "
                "script go in [extra_hyperparameters] or --hp KEY=VALUE"
            )
        normalised[name] = value
    rest: dict[str, Any] = {}
    for key, value in extras.items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in names:
            rest[key] = value
        elif name in normalised:
            raise ValueError(f"hyperparameter {name!r} is given twice (as {name} and as {key})")
        else:
            normalised[name] = value
    try:
        canonical = config_to_dict(config_from_mapping(normalised))
    except HyperparameterError as e:
        raise ValueError(str(e)) from e
    return {name: canonical[name] for name in normalised}, rest


def format_validation_error(error: ValidationError) -> SpecError:
    """One line for the first problem, naming the field and the closest valid key for typos."""
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        parent: type[BaseModel] = JobSpec
        for part in first["loc"][:-1]:
            field = parent.model_fields.get(str(part))
            annotation = field.annotation if field else None
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                parent = annotation
        key = str(first["loc"][-1])
        close = difflib.get_close_matches(key, list(parent.model_fields), n=1)
        remedy = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(parent.model_fields)}"
        return SpecError(f"unknown setting {loc!r}", remedy)
    message = str(first["msg"]).removeprefix("Value error, ")
    return SpecError(f"{loc}: {message}" if loc else message)


def build_spec(values: dict[str, Any]) -> JobSpec:
    """Validate a merged dict into a JobSpec, turning pydantic's report into one SpecError line."""
    try:
        return JobSpec.model_validate(values)
    except ValidationError as e:
        raise format_validation_error(e) from None


def check_local_paths(spec: JobSpec, cwd: Path | None = None) -> None:
    """Disk checks before staging: source dir and entrypoint exist, local channels are non-empty."""
    source = spec.source_path(cwd)
    if not source.is_dir():
        raise SpecError(f"source dir {source} does not exist", "pass --source-dir DIR")
    if not (source / spec.entrypoint).is_file():
        raise SpecError(f"entrypoint {spec.entrypoint} not found in {source}", "pass --entrypoint FILE")
    for name, location in spec.data.items():
        if is_s3_uri(location):
            continue
        path = Path(location).expanduser()
        path = path if path.is_absolute() else (cwd or Path.cwd()) / path
        if not path.exists():
            raise SpecError(f"data channel {name!r}: {path} does not exist")
        if path.is_dir() and not any(p.is_file() for p in path.rglob("*")):
            raise SpecError(f"data channel {name!r}: {path} is empty")
