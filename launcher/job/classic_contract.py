"""The classic Script Mode contract: how an SDK v2 framework estimator (and any tuning job) hands a
script to the framework image's own training toolkit, as constants and small pure functions.

The toolkit reads the script's name and its packaged code from reserved hyperparameters, and every
hyperparameter value travels JSON-encoded (`"adam"` with its quotes, `0.1`, `true`): the SDK v2
`Framework.hyperparameters` applies `json.dumps` to each value, and the toolkit `json.loads` each
one back (keeping the raw string when that fails). Every `sagemaker_`-prefixed key is the toolkit's:
it never reaches `SM_HPS` or argv; the ones outside its own list become `SM_FRAMEWORK_PARAMS`.

Checked against sagemaker-training 5.1.4 (`environment.py`, `mapping.py`, `params.py`), the PyTorch
toolkit (`sagemaker_pytorch_container/training.py`) and the SDK v2.257 `PyTorch` estimator;
tests/test_classic_contract.py pins the record. docs/classic.md describes what the script sees.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from launcher.config import wire
from launcher.errors import SpecError

PREFIX = "sagemaker_"                              # every key with it belongs to the toolkit
PROGRAM = "sagemaker_program"                     # the entry script, relative to the code dir
SUBMIT_DIRECTORY = "sagemaker_submit_directory"   # s3://…/sourcedir.tar.gz (or a file:// path)
CONTAINER_LOG_LEVEL = "sagemaker_container_log_level"
JOB_NAME = "sagemaker_job_name"
REGION = "sagemaker_region"
TORCH_DISTRIBUTED = "sagemaker_torch_distributed_enabled"  # torchrun on every host
INSTANCE_TYPE = "sagemaker_instance_type"         # sent with torch_distributed by the SDK v2
RESERVED = frozenset({PROGRAM, SUBMIT_DIRECTORY, CONTAINER_LOG_LEVEL, JOB_NAME, REGION,
                      TORCH_DISTRIBUTED, INSTANCE_TYPE})
LOG_LEVEL = logging.INFO  # the SDK's default container_log_level

# The toolkit's own keys (params.SAGEMAKER_HYPERPARAMETERS): the other `sagemaker_` keys are
# "additional framework parameters" (SM_FRAMEWORK_PARAMS), which select the runner.
TOOLKIT_KEYS = frozenset({PROGRAM, SUBMIT_DIRECTORY, "sagemaker_enable_cloudwatch_metrics", REGION,
                          CONTAINER_LOG_LEVEL, JOB_NAME, "default_user_module_name",
                          "_tuning_objective_metric", "sagemaker_s3_output"})
# Framework parameters that put the current instance group into the distribution groups.
DISTRIBUTION_FLAGS = ("sagemaker_mpi_enabled", "sagemaker_parameter_server_enabled",
                      "sagemaker_distributed_dataparallel_enabled", "sagemaker_pytorch_ddp_enabled",
                      "sagemaker_pytorch_xla_multi_worker_enabled",
                      "sagemaker_multi_worker_mirrored_strategy_enabled", TORCH_DISTRIBUTED)

# The PyTorch DLC: its image sets SAGEMAKER_TRAINING_MODULE; its toolkit sets these before the run.
FRAMEWORK_MODULE = "sagemaker_pytorch_container.training:main"
MASTER_PORT = 7777
NCCL_SETTINGS = {"NCCL_IB_DISABLE": "1", "NCCL_DEBUG": "WARN"}  # + NCCL_SOCKET_IFNAME=<interface>
INSTANCE_GROUP = "homogeneousCluster"


def encode_value(value: Any) -> str:
    """One hyperparameter as the SDK v2 sends it: JSON, so a string keeps its quotes."""
    return json.dumps(value)


def decode_value(text: str) -> Any:
    """As the toolkit reads it back: JSON when it parses, else the raw string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def framework_hyperparameters(*, program: str, submit_directory: str, region: str, job_name: str,
                              torch_distributed: bool = False,
                              instance_type: str | None = None) -> dict[str, Any]:
    """The reserved hyperparameters the toolkit needs, decoded, in the SDK v2's order.

    With torch_distributed the SDK v2 also sends the instance type (`sagemaker_instance_type`).
    """
    hps: dict[str, Any] = {SUBMIT_DIRECTORY: submit_directory, PROGRAM: program,
                           CONTAINER_LOG_LEVEL: LOG_LEVEL, JOB_NAME: job_name, REGION: region}
    if torch_distributed:
        hps[TORCH_DISTRIBUTED] = True
        if instance_type:
            hps[INSTANCE_TYPE] = instance_type
    return hps


def encode(user: Mapping[str, Any], framework: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The job's HyperParameters: the user's, then the reserved ones, every value JSON-encoded."""
    clash = sorted(set(user) & RESERVED)
    if clash:
        raise ValueError(f"hyperparameter {clash[0]!r} is reserved by the classic contract")
    return {str(k): encode_value(v) for k, v in {**user, **(framework or {})}.items()}


def decode(encoded: Mapping[str, str]) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in encoded.items()}


def user_hyperparameters(encoded: Mapping[str, str]) -> dict[str, Any]:
    """What the script's `SM_HPS` holds: the decoded hyperparameters without the toolkit's
    (`sagemaker_`-prefixed) keys."""
    return {k: decode_value(v) for k, v in encoded.items() if not k.startswith(PREFIX)}


def framework_parameters(encoded: Mapping[str, str]) -> dict[str, Any]:
    """`SM_FRAMEWORK_PARAMS`: the `sagemaker_` keys that are not the toolkit's own."""
    return {k: decode_value(v) for k, v in encoded.items()
            if k.startswith(PREFIX) and k not in TOOLKIT_KEYS}


def arg_value(value: Any) -> str:
    """One argv token as the toolkit renders it: `str()` (True, [64, 128], 1e-05), None as an
    empty token, a dict as sorted `k=v` pairs joined with commas."""
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in sorted(value.items()))
    return "" if value is None else str(value)


def to_cmd_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """The script's argv: keys sorted, `-k` for a one-character key, `--key` otherwise."""
    argv: list[str] = []
    for key in sorted(hyperparameters):
        argv += [f"-{key}" if len(key) == 1 else f"--{key}", arg_value(hyperparameters[key])]
    return argv


def env_value(value: Any) -> str:
    """A value in an SM_* variable: strings as they are, None empty, anything else compact JSON
    with sorted keys."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def check_limits(encoded: Mapping[str, str]) -> None:
    """What SageMaker rejects in a classic job's HyperParameters (reserved keys count too). The
    toolkit sets variables itself, so keys need not be shell identifiers and quotes are harmless."""
    if len(encoded) > wire.MAX_ENTRIES:
        raise SpecError(f"{len(encoded)} hyperparameters with the toolkit's own; SageMaker accepts "
                        f"at most {wire.MAX_ENTRIES}",
                        "put large configurations in a data channel and pass its file name")
    for key, value in encoded.items():
        if not key or len(key) > wire.MAX_KEY_CHARS:
            raise SpecError(f"hyperparameter key {key[:40]!r}… must be 1-{wire.MAX_KEY_CHARS} characters")
        if len(value) > wire.MAX_VALUE_CHARS:
            raise SpecError(f"hyperparameter {key!r} is {len(value)} characters once JSON-encoded; "
                            f"SageMaker accepts at most {wire.MAX_VALUE_CHARS}",
                            "put large values in a data channel and pass its file name")


def encode_user(values: Mapping[str, Any]) -> dict[str, str]:
    """A classic job's user hyperparameters, JSON-encoded and checked (SpecError)."""
    try:
        encoded = encode(values)
    except ValueError as e:
        raise SpecError(str(e), "rename it: the training toolkit reads that key itself") from None
    check_limits({**encoded, **dict.fromkeys(RESERVED - {INSTANCE_TYPE, TORCH_DISTRIBUTED}, "")})
    return encoded


def is_classic_request(request: Mapping[str, Any]) -> bool:
    """A CreateTrainingJob request for the toolkit: no container entrypoint, a program to run."""
    algorithm = request.get("AlgorithmSpecification") or {}
    return "ContainerEntrypoint" not in algorithm and PROGRAM in (request.get("HyperParameters") or {})
