"""The SageMaker SDK's configuration files ("intelligent defaults") as a settings layer.

Organisations put required settings (VPC, KMS keys, network isolation, the role, tags) into the
SDK's admin and user config files; the SDK applies them to every job. The launcher keeps the SDK
itself from reading them (so the dry run is the request) and applies them here instead, as a layer
just above the built-in defaults, where `launch config` shows each value's file. `--no-sdk-config`
(or `sdk_config = false` in any layer) leaves them out.

Files, as the SDK finds them: `SAGEMAKER_ADMIN_CONFIG_OVERRIDE` or `/etc/xdg/sagemaker/config.yaml`,
then `SAGEMAKER_USER_CONFIG_OVERRIDE` or `~/.config/sagemaker/config.yaml` (the user's wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from launcher.errors import ConfigError

ADMIN_DEFAULT = Path("/etc/xdg/sagemaker/config.yaml")
USER_DEFAULT = Path("~/.config/sagemaker/config.yaml")


def config_files(environ: Mapping[str, str]) -> list[Path]:
    """The SDK's config files that exist, admin first (a directory holds config.yaml)."""
    found = []
    for variable, default in (("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", ADMIN_DEFAULT),
                              ("SAGEMAKER_USER_CONFIG_OVERRIDE", USER_DEFAULT)):
        path = Path(environ.get(variable) or default).expanduser()
        if path.is_dir():
            path = path / "config.yaml"
        if path.is_file():
            found.append(path)
    return found


def _load(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read the SageMaker SDK config {path}: {e}".replace("\n", " "),
                          "fix it, or pass --no-sdk-config") from None
    if not isinstance(data, dict):
        raise ConfigError(f"the SageMaker SDK config {path} is not a mapping",
                          "fix it, or pass --no-sdk-config")
    return data


def _layer(data: Mapping[str, Any]) -> dict[str, Any]:
    """Our spec keys for the TrainingJob and Session settings of one SDK config file."""
    sagemaker = data.get("SageMaker") or {}
    job = sagemaker.get("TrainingJob") or {}
    session = ((sagemaker.get("PythonSDK") or {}).get("Modules") or {}).get("Session") or {}
    layer: dict[str, Any] = {}

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            layer.setdefault(section, {})[key] = value

    vpc = job.get("VpcConfig") or {}
    put("sagemaker", "subnets", vpc.get("Subnets"))
    put("sagemaker", "security_group_ids", vpc.get("SecurityGroupIds"))
    put("sagemaker", "network_isolation", job.get("EnableNetworkIsolation"))
    put("sagemaker", "inter_container_encryption", job.get("EnableInterContainerTrafficEncryption"))
    put("sagemaker", "volume_kms_key", (job.get("ResourceConfig") or {}).get("VolumeKmsKeyId"))
    put("sagemaker", "output_kms_key", (job.get("OutputDataConfig") or {}).get("KmsKeyId"))
    put("aws", "role", job.get("RoleArn"))
    put("aws", "bucket", session.get("DefaultS3Bucket"))
    put("aws", "prefix", session.get("DefaultS3ObjectKeyPrefix"))
    if isinstance(job.get("Environment"), dict):
        layer["environment"] = {str(k): str(v) for k, v in job["Environment"].items()}
    tags = job.get("Tags")
    if isinstance(tags, list):
        layer["tags"] = {str(t["Key"]): str(t["Value"]) for t in tags if isinstance(t, dict) and "Key" in t}
    return layer


def sdk_layers(environ: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(label, partial spec) for each SageMaker SDK config file found, admin first."""
    return [(f"sagemaker config {path}", _layer(_load(path))) for path in config_files(environ)]
