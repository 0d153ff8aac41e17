"""The classic Script Mode contract: how an SDK v2 framework estimator (and any tuning job) hands a
script to the framework image's own training toolkit, as constants and small pure functions.

The toolkit reads the script's name and its packaged code from reserved hyperparameters, and every
hyperparameter value travels JSON-encoded (`"adam"` with its quotes, `0.1`, `true`): the SDK v2
`EstimatorBase._json_encode_hyperparameters` writes them so, and the toolkit `json.loads` each one
back (keeping the raw string when that fails). docs/classic.md describes what the script then sees.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

PROGRAM = "sagemaker_program"                     # the entry script, relative to the code dir
SUBMIT_DIRECTORY = "sagemaker_submit_directory"   # s3://…/sourcedir.tar.gz (or a file:// path)
CONTAINER_LOG_LEVEL = "sagemaker_container_log_level"
JOB_NAME = "sagemaker_job_name"
REGION = "sagemaker_region"
TORCH_DISTRIBUTED = "sagemaker_torch_distributed_enabled"  # torchrun on every host
RESERVED = frozenset({PROGRAM, SUBMIT_DIRECTORY, CONTAINER_LOG_LEVEL, JOB_NAME, REGION,
                      TORCH_DISTRIBUTED})
LOG_LEVEL = logging.INFO  # the SDK's default container_log_level


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
                              torch_distributed: bool = False) -> dict[str, Any]:
    """The reserved hyperparameters the toolkit needs, decoded."""
    hps: dict[str, Any] = {PROGRAM: program, SUBMIT_DIRECTORY: submit_directory,
                           CONTAINER_LOG_LEVEL: LOG_LEVEL, JOB_NAME: job_name, REGION: region}
    if torch_distributed:
        hps[TORCH_DISTRIBUTED] = True
    return hps


def encode(user: Mapping[str, Any], framework: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The job's HyperParameters: the user's, then the reserved ones, every value JSON-encoded."""
    clash = sorted(set(user) & RESERVED)
    if clash:
        raise ValueError(f"hyperparameter {clash[0]!r} is reserved by the classic contract")
    return {str(k): encode_value(v) for k, v in {**user, **(framework or {})}.items()}


def user_hyperparameters(encoded: Mapping[str, str]) -> dict[str, Any]:
    """What the script's `SM_HPS` holds: the decoded hyperparameters without the reserved ones."""
    return {k: decode_value(v) for k, v in encoded.items() if k not in RESERVED}
