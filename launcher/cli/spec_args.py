"""The job flags shared by `launch train`, `launch plan` and `launch config`, and their mapping onto
the spec's keys (the highest-precedence settings layer)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.context import Environment

if TYPE_CHECKING:
    from launcher.config.layers import ResolvedSpec

# First-class hyperparameter flags of the reference entrypoint: (flag, key, type).
HYPERPARAMETER_FLAGS: tuple[tuple[str, str, type], ...] = (
    ("--epochs", "epochs", int),
    ("--batch-size", "batch_size", int),
    ("--lr", "lr", float),
    ("--lr-schedule", "lr_schedule", str),
    ("--warmup-steps", "warmup_steps", int),
    ("--warmup-epochs", "warmup_epochs", float),
    ("--min-lr", "min_lr", float),
    ("--optimizer", "optimizer", str),
    ("--momentum", "momentum", float),
    ("--weight-decay", "weight_decay", float),
    ("--grad-accum-steps", "grad_accum_steps", int),
    ("--amp", "amp", str),
    ("--seed", "seed", int),
    ("--max-steps", "max_steps", int),
)


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def add_spec_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("job")
    g.add_argument("-c", "--job-file", type=Path, help="job file (TOML or YAML) with the spec's keys")
    g.add_argument("--entrypoint", help="entry script (.py or .sh), relative to the source dir")
    g.add_argument("--source-dir", help="Script Mode source dir (default: the reference entrypoint)")
    g.add_argument("--requirements", help="requirements file in the source dir to pip install first")
    g.add_argument("--no-requirements", dest="install_requirements", action="store_false",
                   default=None, help="do not install the requirements file (local runs)")
    g.add_argument("--classic", dest="contract", action="store_const", const="classic", default=None,
                   help="run the script as an SDK v2 framework image's training toolkit would "
                   "(sagemaker_program; its SM_* variables and argv), locally and in the cloud")
    g.add_argument("--dependency", dest="dependencies", action="append", default=[], metavar="DIR",
                   help="extra directory shipped beside the source dir (repeatable; SDK v2's dependencies)")
    g.add_argument("--name", dest="job_name", help="exact job name (default: generated, unique)")
    g.add_argument("--base-name", help="base of the generated job name (default: the entry script)")
    g.add_argument("--data", action="append", type=_pair, default=[], metavar="NAME=PATH_OR_S3",
                   help="data channel (repeatable): a local path or an s3:// URI")
    g.add_argument("--output", help="where model.tar.gz/output.tar.gz go: a directory or s3:// URI")
    g.add_argument("--tag", action="append", type=_pair, default=[], metavar="KEY=VALUE")
    g.add_argument("--env", action="append", type=_pair, default=[], metavar="KEY=VALUE",
                   help="environment variable for the script (repeatable)")
    g.add_argument("--metric", action="append", type=_pair, default=[], metavar="NAME=REGEX",
                   help="metric definition (repeatable; default: the source dir's metric_definitions.json)")
    g.add_argument("--include-file", dest="include_files", action="append", default=[], metavar="PATH",
                   help="package this file on purpose although its name or content looks like a secret "
                   "or .launcherignore names it (relative to the source dir; repeatable)")
    g.add_argument("--allow-secret", dest="allow_secrets", action="append", default=[], metavar="KEY",
                   help="send this hyperparameter or environment variable although it looks like a "
                   "secret (repeatable; better: a secret manager the script reads)")

    h = parser.add_argument_group(
        "hyperparameters", "typed and validated for the reference entrypoint; for your own script "
        "they are plain hyperparameters named as below with '_' (--batch-size 64 → --batch_size 64), "
        "unvalidated, and --hp KEY=VALUE arrives with KEY unchanged")
    for flag, key, kind in HYPERPARAMETER_FLAGS:
        h.add_argument(flag, dest=f"hp_{key}", type=kind, metavar=kind.__name__.upper())
    h.add_argument("--hp", action="append", type=_pair, default=[], metavar="KEY=VALUE",
                   help="hyperparameter (repeatable); VALUE is parsed as JSON when it is JSON")

    c = parser.add_argument_group("compute")
    c.add_argument("--instance", "--instance-type", dest="instance_type", metavar="TYPE",
                   help="SageMaker training instance type, e.g. ml.p3.2xlarge")
    c.add_argument("--instance-count", type=int, help="number of instances (hosts)")
    c.add_argument("--volume-size", type=int, dest="volume_size_gb", metavar="GB")
    c.add_argument("--processes-per-host", type=int, metavar="N",
                   help="torchrun processes per host (default: GPUs per host, or 1)")
    c.add_argument("--input-mode", choices=("File", "FastFile", "Pipe"))
    c.add_argument("--framework-version", help="PyTorch DLC version, e.g. 2.8.0")
    c.add_argument("--py-version", help="Python version of the DLC, e.g. py312")
    c.add_argument("--image-uri", help="training image (overrides the PyTorch DLC)")

    s = parser.add_argument_group("spot and limits")
    s.add_argument("--spot", dest="spot", action="store_true", default=None,
                   help="managed spot training (default for cloud jobs)")
    s.add_argument("--no-spot", dest="spot", action="store_false")
    s.add_argument("--max-run", type=int, metavar="SECONDS", help="MaxRuntimeInSeconds (default 3600)")
    s.add_argument("--max-wait", type=int, metavar="SECONDS", help="spot MaxWaitTimeInSeconds (≥ max-run)")
    s.add_argument("--checkpoint-s3-uri", help="spot checkpoint location, ending in '/'")

    e = parser.add_argument_group("sagemaker (cloud jobs: network, encryption, retries, warm pool)")
    e.add_argument("--subnet", dest="subnets", action="append", metavar="SUBNET_ID",
                   help="VPC subnet (repeatable; needs --security-group)")
    e.add_argument("--security-group", dest="security_group_ids", action="append", metavar="SG_ID",
                   help="VPC security group (repeatable; needs --subnet)")
    e.add_argument("--network-isolation", action="store_true", default=None,
                   help="no network access from the training container")
    e.add_argument("--inter-container-encryption", action="store_true", default=None,
                   help="encrypt traffic between the job's instances")
    e.add_argument("--volume-kms-key", metavar="KEY", help="KMS key for the training volume")
    e.add_argument("--output-kms-key", metavar="KEY", help="KMS key for the model and output in S3")
    e.add_argument("--retry-attempts", type=int, metavar="N",
                   help="retry the job up to N times on an internal SageMaker error (1-30)")
    e.add_argument("--keep-alive", dest="keep_alive_seconds", type=int, metavar="SECONDS",
                   help="keep the instances in a warm pool this long after the job (not with spot)")
    e.add_argument("--tensorboard-s3-uri", metavar="S3_URI",
                   help="sync /opt/ml/output/tensorboard to this prefix")
    e.add_argument("--no-sdk-config", dest="sdk_config", action="store_false", default=None,
                   help="ignore the SageMaker SDK's config files (intelligent defaults)")

    a = parser.add_argument_group("aws")
    a.add_argument("--region")
    a.add_argument("--profile")
    a.add_argument("--role", help="SageMaker execution role ARN (default: from `launch infra deploy`)")
    a.add_argument("--bucket", help="S3 bucket for code, data and artifacts")
    a.add_argument("--prefix", help="key prefix in the bucket (default: launcher)")
    a.add_argument("--local-credentials", choices=("caller", "none", "role"),
                   help="--local: what the script gets of AWS credentials: yours (default), none, or "
                   "temporary credentials of the execution role (--role), as on SageMaker")
    a.add_argument("--no-preflight", dest="preflight", action="store_false", default=None,
                   help="cloud: skip the read-only checks of buckets, inputs, job name and role "
                   "that run before anything is uploaded")


def flags_to_layer(args: argparse.Namespace) -> dict[str, Any]:
    """Only the flags the user gave, as a partial spec."""
    from launcher.config.wire import parse_cli_value

    layer: dict[str, Any] = {}

    def put(section: str | None, key: str, value: Any) -> None:
        if value is None:
            return
        (layer.setdefault(section, {}) if section else layer)[key] = value

    for key in ("entrypoint", "source_dir", "requirements", "job_name", "base_name", "output",
                "install_requirements", "contract"):
        put(None, key, getattr(args, key, None))
    for key, text in args.hp:
        # Keys arrive as typed; the reference entrypoint's schema (applied by the spec) normalises
        # them for its own script only. Set directly: `--hp key=null` is a real value (None).
        layer.setdefault("extra_hyperparameters", {})[key] = parse_cli_value(text)
    for _flag, key, _kind in HYPERPARAMETER_FLAGS:
        put("hyperparameters", key, getattr(args, f"hp_{key}"))
    for name, location in args.data:
        put("data", name, location)
    for key, value in args.tag:
        put("tags", key, value)
    for key, value in args.env:
        put("environment", key, value)
    if args.metric:
        layer["metric_definitions"] = [{"name": n, "regex": r} for n, r in args.metric]
    for key in ("include_files", "allow_secrets", "dependencies"):
        if getattr(args, key, None):
            layer[key] = list(getattr(args, key))
    if getattr(args, "hosts", None) is not None:  # `train --local --hosts M`: M emulated hosts
        put("compute", "instance_count", args.hosts)
    for key in ("instance_type", "instance_count", "volume_size_gb", "processes_per_host",
                "input_mode", "framework_version", "py_version", "image_uri"):
        put("compute", key, getattr(args, key))
    put("spot", "enabled", args.spot)
    put("spot", "max_run", args.max_run)
    put("spot", "max_wait", args.max_wait)
    put("spot", "checkpoint_s3_uri", args.checkpoint_s3_uri)
    for key in ("region", "profile", "role", "bucket", "prefix", "preflight", "local_credentials"):
        put("aws", key, getattr(args, key))
    for key in ("subnets", "security_group_ids", "network_isolation", "inter_container_encryption",
                "volume_kms_key", "output_kms_key", "retry_attempts", "keep_alive_seconds",
                "tensorboard_s3_uri"):
        put("sagemaker", key, getattr(args, key))
    put(None, "sdk_config", args.sdk_config)
    return layer


def resolve_from_args(args: argparse.Namespace, env: Environment,
                      extra_flags: dict[str, Any] | None = None) -> ResolvedSpec:
    """`extra_flags`: more of the flag layer from a command's own flags (`launch tune`'s [tune])."""
    from launcher.config.layers import resolve_spec

    assert env.config_path is not None
    job_file = args.job_file
    if job_file is not None and not job_file.is_absolute():
        job_file = env.cwd / job_file
    flags = {**flags_to_layer(args), **(extra_flags or {})}
    # Relative paths on the command line are relative to where the command runs.
    from launcher.config.spec import is_s3_uri

    for key in ("source_dir", "output"):
        if isinstance(flags.get(key), str) and not is_s3_uri(flags[key]):
            flags[key] = str((env.cwd / Path(flags[key]).expanduser()).resolve())
    if flags.get("dependencies"):
        flags["dependencies"] = [str((env.cwd / Path(d).expanduser()).resolve())
                                 for d in flags["dependencies"]]
    for name, loc in flags.get("data", {}).items():
        if not is_s3_uri(loc):
            flags["data"][name] = str((env.cwd / Path(loc).expanduser()).resolve())
    return resolve_spec(config_path=env.config_path, environ=env.environ, job_file=job_file, flags=flags)
