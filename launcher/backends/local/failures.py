"""Why a local job failed, as SageMaker reports it: the failure file, and the script's own traceback."""

from __future__ import annotations

from launcher.backends.local import container as ct
from launcher.backends.local.store import JobDir

TRACEBACK_SEARCH_LINES = 400  # the end of each host's log is where the failing traceback is


def last_traceback(job: JobDir, hosts: list[str]) -> str | None:
    """The script's own last traceback in the hosts' logs, for the summary (as the cloud's)."""
    from launcher.backends.sagemaker.logs import last_traceback as find

    for host in hosts:
        path = job.log_path(host)
        if path.exists():
            lines = path.read_text(errors="replace").splitlines()[-TRACEBACK_SEARCH_LINES:]
            if found := find(lines):
                return found
    return None


def failure_reason(job: JobDir, hosts: list[str], configs: dict[str, ct.ContainerConfig], code: int) -> str:
    """The failure file as SageMaker reports it: the script's own text wins; else the driver's."""
    for host in hosts:
        failure = job.host_layout(host).failure_file
        if failure.exists() and failure.read_text().strip():
            return "AlgorithmError: " + failure.read_text()[:1024]
    cfg = configs[hosts[0]]
    if cfg.classic:
        text = toolkit_failure(ct.entry_command("python3", cfg), code, last_traceback(job, hosts))
    else:
        command = ct.entry_command("python3", cfg)
        text = f"CalledProcessError: Command '{command}' returned non-zero exit status {code}."
    job.host_layout(hosts[0]).failure_file.write_text(text)
    return "AlgorithmError: " + text[:1024]


def toolkit_failure(command: list[str], code: int, traceback: str | None) -> str:
    """The failure file the training toolkit (sagemaker-training 5.1.4) writes when the script
    exits non-zero: the exit code, the traceback's last two lines, the command (`python -- script
    args`, joined by spaces)."""
    lines = [x.strip() for x in (traceback or "").splitlines() if x.strip()][-2:]
    message = "\n ".join(lines)
    if command and command[0] != "/bin/sh":
        command = [command[0], "--", *command[1:]]
    joined = " ".join(command)
    return f'ExecuteUserScriptError:\nExitCode {code}\nErrorMessage "{message}"\nCommand "{joined}"'
