"""The reference entrypoint's pure modules (step arithmetic, LR schedules, hyperparameters, the run
plan), as the launcher imports them: the very code the training script runs, so plan and log agree.

They are shipped as `launcher.entrypoints` (a package-dir mapping onto the top-level `entrypoints/`
folder, the source dir a job packages), where they import each other flat, as in the container.
mypy checks that folder flat too (`mypy_path = entrypoints`), so for the type checker this module
names them by their flat names; at run time they come from the installed package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hyperparameters
    import planning
    import schedules
    import steps
    from hyperparameters import HyperparameterError, TrainConfig, config_from_mapping, config_to_dict
else:
    from launcher.entrypoints import hyperparameters, planning, schedules, steps
    from launcher.entrypoints.hyperparameters import (
        HyperparameterError,
        TrainConfig,
        config_from_mapping,
        config_to_dict,
    )

__all__ = ["HyperparameterError", "TrainConfig", "config_from_mapping", "config_to_dict", "hyperparameters",
           "planning", "schedules", "steps"]
