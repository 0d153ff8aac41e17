"""Where a job's settings come from, lowest to highest precedence:

built-in defaults < the SageMaker SDK's config files < user config file < job file (TOML or YAML)
< environment variables < CLI flags.

Each layer is a partial spec (nested dict). Maps (hyperparameters, data, tags, environment) merge
key by key, so `--epochs 3` overrides one hyperparameter of the job file and keeps the others.
Every leaf remembers the layer it came from, which `launch config` shows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from launcher.config.sdk_defaults import sdk_layers
from launcher.config.spec import BUNDLED_DATA_DIR, JobSpec, build_spec, is_s3_uri
from launcher.config.userconfig import load_user_config
from launcher.errors import ConfigError

# The demo (`launch train --local` and nothing else): the reference entrypoint on the bundled digits
# with warmup + cosine. Applied only when no layer names data or any hyperparameter; any other job of
# the reference entrypoint starts from its own documented defaults (docs/entrypoint.md).
DEMO_HYPERPARAMETERS: dict[str, Any] = {
    "epochs": 12,
    "batch_size": 64,
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "lr_schedule": "cosine",
    "warmup_epochs": 1,
}
DEMO_DATA = {
    "train": str(BUNDLED_DATA_DIR / "train"),
    "validation": str(BUNDLED_DATA_DIR / "validation"),
}

# Environment variables → spec keys (AWS_* follow boto3's own conventions).
ENV_KEYS: dict[str, str] = {
    "AWS_DEFAULT_REGION": "aws.region",
    "AWS_REGION": "aws.region",
    "LAUNCHER_REGION": "aws.region",
    "AWS_PROFILE": "aws.profile",
    "LAUNCHER_ROLE": "aws.role",
    "LAUNCHER_BUCKET": "aws.bucket",
    "LAUNCHER_PREFIX": "aws.prefix",
    "LAUNCHER_INSTANCE_TYPE": "compute.instance_type",
    "LAUNCHER_OUTPUT": "output",
}
PATH_KEYS = ("source_dir", "output")  # requirements is relative to the source dir


@dataclass
class ResolvedSpec:
    spec: JobSpec
    sources: dict[str, str]  # dotted key → "default" | "user config" | "job file" | "env X" | "flag"


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def merge(layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Deep-merge layers in order; returns (merged, provenance of every leaf)."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}

    def walk(dst: dict[str, Any], src: Mapping[str, Any], prefix: str, label: str) -> None:
        for key, value in src.items():
            dotted = f"{prefix}{key}"
            # Sections (compute, spot, aws) and maps (hyperparameters, data, …) merge per key; below
            # the top level every value is a leaf, so a dict-valued hyperparameter is replaced whole.
            if not prefix and isinstance(value, Mapping):
                child = dst.get(key)
                if not isinstance(child, dict):
                    child = dst[key] = {}
                walk(child, value, dotted + ".", label)
            else:
                dst[key] = value
                sources[dotted] = label

    for label, layer in layers:
        walk(merged, layer, "", label)
    return merged, sources


def load_job_file(path: Path) -> dict[str, Any]:
    """A TOML or YAML job file; relative paths in it are relative to the file's directory."""
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text()) or {}
        else:
            with path.open("rb") as f:
                data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"job file {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"job file {path} is a directory") from None
    except OSError as e:
        raise ConfigError(f"cannot read job file {path}: {e.strerror}") from None
    except Exception as e:  # TOML and YAML parse errors
        raise ConfigError(f"cannot parse job file {path}: {e}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"job file {path} must hold a table of settings")
    base = path.parent.resolve()
    for key in PATH_KEYS:
        value = data.get(key)
        if isinstance(value, str) and not is_s3_uri(value):
            data[key] = str(base / Path(value).expanduser())
    if isinstance(data.get("data"), dict):
        data["data"] = {
            name: (loc if not isinstance(loc, str) or is_s3_uri(loc)
                   else str(base / Path(loc).expanduser()))  # an absolute path replaces base
            for name, loc in data["data"].items()
        }
    if isinstance(data.get("dependencies"), list):
        data["dependencies"] = [str(base / Path(d).expanduser()) if isinstance(d, str) else d
                                for d in data["dependencies"]]
    return data


def env_layer(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    layers = []
    for var, dotted in ENV_KEYS.items():  # later entries win (LAUNCHER_REGION over AWS_REGION)
        if environ.get(var):
            layer: dict[str, Any] = {}
            _set(layer, dotted, environ[var])
            layers.append((f"env {var}", layer))
    return layers


def resolve_spec(
    *,
    config_path: Path,
    environ: Mapping[str, str],
    job_file: Path | None = None,
    flags: Mapping[str, Any] | None = None,
) -> ResolvedSpec:
    """Merge every layer and validate; raises SpecError/ConfigError with one clear line."""
    layers: list[tuple[str, Mapping[str, Any]]] = [("user config", load_user_config(config_path))]
    if job_file is not None:
        layers.append((f"job file {job_file.name}", load_job_file(job_file)))
    layers += env_layer(environ)
    layers.append(("flag", flags or {}))
    merged, sources = merge(layers)
    if merged.get("sdk_config", True) is not False:
        # The SageMaker SDK's config files sit just above the built-in defaults.
        layers = [*sdk_layers(environ), *layers]
        merged, sources = merge(layers)
    if merged.get("source_dir") is None and not merged.get("data"):
        # The reference entrypoint reads the bundled digits unless told otherwise; with no
        # hyperparameter from any layer either, this is the demo and gets the demo's settings.
        defaults: dict[str, Any] = {"data": DEMO_DATA}
        label = "default (bundled digits)"
        if not merged.get("hyperparameters") and not merged.get("extra_hyperparameters"):
            defaults["hyperparameters"] = DEMO_HYPERPARAMETERS
            label = "demo"
        merged, sources = merge([(label, defaults), *layers])
    return ResolvedSpec(build_spec(merged), sources)
