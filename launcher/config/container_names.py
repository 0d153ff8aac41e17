"""Names the SageMaker container can carry into the script's environment.

SDK v3's driver (`sm_drivers/scripts/environment.py`) writes one `export NAME='value'` line per
variable into a file that the container's shell then sources: a channel becomes
`SM_CHANNEL_<name.upper()>` and a hyperparameter `SM_HP_<key with - as _, upper()>`. Any name that
does not make a shell identifier (`extra-v2`, `train.v2`, `model.depth`, a space, `;`, `$`) stops
the job before the script starts, although the API accepts it (docs/container-contract.md §4.2). The
rule is tested against the installed SDK's own driver: tests/test_container_names.py lets it write
its file for each name and sources that file in bash.
"""

from __future__ import annotations

import re

SHELL_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def channel_variable(name: str) -> str:
    return f"SM_CHANNEL_{name.upper()}"


def hyperparameter_variable(key: str) -> str:
    return "SM_HP_" + key.replace("-", "_").upper()


def carries(variable: str) -> bool:
    """True when bash accepts `export VARIABLE=…` (an ASCII shell identifier)."""
    return variable.isascii() and SHELL_IDENTIFIER.match(variable) is not None


def suggestion(name: str, *, keep_hyphens: bool) -> str:
    """The closest name the container carries: other characters become `_`."""
    allowed = r"[^A-Za-z0-9_\-]" if keep_hyphens else r"[^A-Za-z0-9_]"
    return re.sub(allowed, "_", name) or "_"


def channel_problem(name: str) -> str | None:
    """Why a channel name would kill the container, or None."""
    variable = channel_variable(name)
    if carries(variable):
        return None
    return (f"channel name {name!r} would become the variable {variable}, which the SageMaker "
            f"container's shell cannot export: the job would die before your script starts; "
            f"use {suggestion(name, keep_hyphens=False)!r}")


def hyperparameter_problem(key: str) -> str | None:
    """Why a hyperparameter key would kill the container, or None."""
    variable = hyperparameter_variable(key)
    if carries(variable):
        return None
    return (f"hyperparameter {key!r} would become the variable {variable}, which the SageMaker "
            f"container's shell cannot export: the job would die before your script starts; "
            f"use {suggestion(key, keep_hyphens=True)!r}")
