"""Failures caused by a job's inputs rather than by a bug, each labelled for FailureReason.

Standard library only, so ``train.py`` can classify a failure without importing torch.
"""

from __future__ import annotations


class DataError(ValueError):
    """The channel data is missing or malformed; the message names the file."""


class ResumeMismatch(RuntimeError):
    """The newest checkpoint was written by a different configuration or dataset."""


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""
