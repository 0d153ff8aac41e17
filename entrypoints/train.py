"""Reference Script Mode entry script: ``python train.py --epochs 3 --lr 0.1 ...``.

Runs inside the SageMaker PyTorch container (or the launcher's local emulation of it), with this
directory as the working directory, alone or under torchrun. See ``docs/entrypoint.md`` for the
hyperparameters, the log format, checkpoints and outputs.

This module stays light (standard library only until the configuration is known to be valid):
the torch-heavy job lives in ``job.py``.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

import reporting
from container_env import ContainerError, failure_file, process_info, resolve_paths, write_failure
from errors import DataError, ResumeMismatch, TrainingDiverged
from hyperparameters import HyperparameterError, parse_hyperparameters

log = logging.getLogger("train")

# Failures caused by the job's inputs, labelled for FailureReason; exit status 2 like argparse.
USER_ERRORS: dict[type[BaseException], str] = {
    HyperparameterError: "Invalid hyperparameters",
    DataError: "Invalid input data",
    ContainerError: "Container setup",
    ResumeMismatch: "Cannot resume",
    TrainingDiverged: "Training diverged",
}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Train; on failure write the failure file and return a non-zero exit status."""
    environ = dict(os.environ) if environ is None else environ
    argv = sys.argv[1:] if argv is None else argv
    failure_path = failure_file(environ)
    try:
        proc = process_info(environ)
    except ContainerError as exc:
        reporting.setup_logging(True)
        log.error("Container setup: %s", exc)
        write_failure(failure_path, f"Container setup: {exc}")
        return 2
    reporting.setup_logging(proc.is_main)
    try:
        config, unknown = parse_hyperparameters(environ, argv)
        if unknown and proc.is_main:
            log.warning("Ignoring unknown hyperparameters: %s", ", ".join(unknown))
        paths = resolve_paths(environ)
        import job  # torch loads here, once the configuration and channels are known to be valid

        job.run(config, paths, proc)
    except Exception as exc:
        reason, status = failure_reason(exc)
        if status == 1:
            log.exception("Training failed")
        else:
            log.error("%s", reason)
        # Rank 0's reason wins; other ranks only fill in when rank 0 wrote nothing.
        write_failure(failure_path, reason, overwrite=proc.is_main)
        return status
    return 0


def failure_reason(exc: BaseException) -> tuple[str, int]:
    """A FailureReason whose first words say what went wrong, and the exit status."""
    for kind, label in USER_ERRORS.items():
        if isinstance(exc, kind):
            return f"{label}: {exc}", 2
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" (at {Path(last.filename).name}:{last.lineno} in {last.name})"
    return f"{type(exc).__name__}: {exc}{where}", 1


if __name__ == "__main__":
    sys.exit(main())
