"""Domain exceptions: one-line message plus a remedy; the CLI maps them to exit codes."""

from __future__ import annotations


class LauncherError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_code = 1

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return self.message if not self.remedy else f"{self.message} ({self.remedy})"


class SpecError(LauncherError):
    """The job spec is invalid: nothing was staged, uploaded or submitted."""

    exit_code = 2


class ConfigError(LauncherError):
    """A config or job file cannot be read."""

    exit_code = 2


class PackagingError(LauncherError):
    """The source directory cannot be packaged safely."""

    exit_code = 2


class JobNotFoundError(LauncherError):
    exit_code = 3


class AwsError(LauncherError):
    """An AWS call failed (credentials, permissions, missing resources)."""

    exit_code = 4


class MissingDependencyError(LauncherError):
    """An optional heavy dependency (SageMaker SDK, torch, matplotlib) is not installed."""

    exit_code = 5


class JobFailedError(LauncherError):
    """A job ran and ended in Failed or Stopped; the CLI exits with the job's exit code when known."""

    def __init__(self, message: str, remedy: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message, remedy)
        self.exit_code = exit_code
