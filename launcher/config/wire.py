"""Hyperparameters on their way to the script: SDK v3 encoding, the API limits, the driver's decoding.

One function encodes (`encode`) exactly as SageMaker SDK v3 `ModelTrainer` does: a str is sent raw,
anything else as `json.dumps(value)`. The container drivers then `json.loads` each value (raw on
failure) into SM_HPS and turn it back into one argv token (container-contract.md §4). The local runner
uses `decode` and `argv_tokens` so local and cloud scripts see the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from launcher.config import container_names
from launcher.errors import SpecError

MAX_ENTRIES = 100
MAX_KEY_CHARS = 256
MAX_VALUE_CHARS = 2500


def encode_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def encode(values: Mapping[str, Any]) -> dict[str, str]:
    """The `HyperParameters` map of CreateTrainingJob, validated against what SageMaker rejects."""
    encoded = {str(k): encode_value(v) for k, v in values.items()}
    check_limits(encoded)
    return encoded


def check_limits(encoded: Mapping[str, str]) -> None:
    if len(encoded) > MAX_ENTRIES:
        raise SpecError(
            f"{len(encoded)} hyperparameters; SageMaker accepts at most {MAX_ENTRIES}",
            "put large configurations in a data channel and pass its file name",
        )
    for key, value in encoded.items():
        if not key or len(key) > MAX_KEY_CHARS:
            raise SpecError(f"hyperparameter key {key[:40]!r}… must be 1-{MAX_KEY_CHARS} characters")
        if problem := container_names.hyperparameter_problem(key):
            raise SpecError(problem, "rename it in your script and on the command line")
        if len(value) > MAX_VALUE_CHARS:
            raise SpecError(
                f"hyperparameter {key!r} is {len(value)} characters once encoded; "
                f"SageMaker accepts at most {MAX_VALUE_CHARS}",
                "put large values in a data channel and pass its file name",
            )
        # The drivers write `export K='v'` unescaped: a quote makes the container exit 2 before the
        # script runs, with no failure reason (container-contract.md §4.3).
        if "'" in key or "'" in value:
            raise SpecError(
                f"hyperparameter {key!r} contains a single quote ('), which breaks the SageMaker "
                "container's environment file before your script starts",
                "remove the quote or pass the value through a data channel",
            )


def decode_value(token: str) -> Any:
    """What the driver puts in SM_HPS for one sent value: JSON when it parses, else the raw string."""
    try:
        return json.loads(token)
    except ValueError:
        return token


def decode(encoded: Mapping[str, str]) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in encoded.items()}


def argv_token(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def argv_tokens(decoded: Mapping[str, Any]) -> list[str]:
    """argv for the entry script: `--key token` pairs in insertion order, one token per value."""
    argv: list[str] = []
    for key, value in decoded.items():
        argv += [f"--{key}", argv_token(value)]
    return argv


def env_name(key: str) -> str:
    return "SM_HP_" + key.replace("-", "_").upper()


def parse_cli_value(text: str) -> Any:
    """`--hp key=VALUE`: JSON when VALUE is JSON (numbers, true, lists, objects), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text
