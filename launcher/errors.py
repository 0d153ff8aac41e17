"""Domain exceptions (one-line message plus a remedy) and the one table of exit statuses.

Every exit status `launch` can return is an `ExitStatus`; each exception names its own, so the CLI
maps errors to exit codes in one place (`cli/main.py`) and finished jobs in another
(`runner.exit_status_for`).
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    SUCCESS = 0
    ERROR = 1               # a generic failure, or a job that failed without an exit code
    INVALID = 2             # invalid spec, config, job file or source dir: nothing was changed
    NOT_FOUND = 3           # no such job
    AWS = 4                 # an AWS call failed (credentials, permissions, missing resources)
    MISSING_DEPENDENCY = 5  # an optional dependency (SageMaker SDK, torch, matplotlib) is missing
    INTERRUPTED = 130       # Ctrl-C, SIGTERM or SIGHUP (128 + SIGINT, as shells report it)


class LauncherError(Exception):
    """Base of every error the CLI reports without a traceback."""

    exit_status: ExitStatus = ExitStatus.ERROR

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    @property
    def exit_code(self) -> int:
        return int(self.exit_status)

    def __str__(self) -> str:
        return self.message if not self.remedy else f"{self.message} ({self.remedy})"


class SpecError(LauncherError):
    """The job spec is invalid: nothing was staged, uploaded or submitted."""

    exit_status = ExitStatus.INVALID


class ConfigError(LauncherError):
    """A config or job file cannot be read."""

    exit_status = ExitStatus.INVALID


class PackagingError(LauncherError):
    """The source directory cannot be packaged safely."""

    exit_status = ExitStatus.INVALID


class JobNotFoundError(LauncherError):
    exit_status = ExitStatus.NOT_FOUND


class AwsError(LauncherError):
    """An AWS call failed (credentials, permissions, missing resources)."""

    exit_status = ExitStatus.AWS


class MissingDependencyError(LauncherError):
    """An optional heavy dependency (SageMaker SDK, torch, matplotlib) is not installed."""

    exit_status = ExitStatus.MISSING_DEPENDENCY


class JobFailedError(LauncherError):
    """A job ran and ended in Failed or Stopped; the CLI exits with the job's own exit code."""

    def __init__(self, message: str, remedy: str | None = None, exit_code: int = 1) -> None:
        super().__init__(message, remedy)
        self.job_exit_code = exit_code

    @property
    def exit_code(self) -> int:
        return self.job_exit_code
