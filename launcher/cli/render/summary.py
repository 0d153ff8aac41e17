"""The end-of-job summary, the same for every terminal state and both backends.

Status and secondary transitions (spot interruptions counted), training vs billable time with the
spot savings (1 − billable / training) × 100, final metrics, artifacts, and on failure the
FailureReason plus the last traceback found in the logs (`desc.details["last_traceback"]`).
"""

from __future__ import annotations

from launcher.backends.base import JobDescription, JobStatus
from launcher.cli.render.console import console
from launcher.context import Environment


def _seconds(value: int) -> str:
    if value < 60:
        return f"{value} s"
    hours, rest = divmod(value, 3600)
    minutes, seconds = divmod(rest, 60)
    human = f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"
    return f"{value} s ({human})"


def _instances(desc: JobDescription) -> str | None:
    if not desc.instance_type:
        return None
    text = f"{desc.instance_type} × {desc.instance_count}"
    return text + (", managed spot" if desc.spot else "")


def render_summary(env: Environment, desc: JobDescription) -> None:
    from rich.markup import escape
    from rich.table import Table

    style = {JobStatus.COMPLETED: "green", JobStatus.FAILED: "red"}.get(desc.status, "yellow")
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("job", escape(desc.name))
    table.add_row("status", f"[{style}]{desc.status}[/]" + (
        f" ({escape(desc.secondary_status)})" if desc.secondary_status else ""))
    if (instances := _instances(desc)) is not None:
        table.add_row("instances", instances)
    if desc.transitions:
        table.add_row("transitions", escape(" → ".join(t.status for t in desc.transitions)))
    if desc.interruptions or desc.spot:
        table.add_row("interruptions", str(desc.interruptions))
    if desc.training_seconds is not None:
        table.add_row("training time", _seconds(desc.training_seconds))
    if desc.billable_seconds is not None:
        table.add_row("billable time", _seconds(desc.billable_seconds))
    if desc.spot_savings_percent is not None:
        table.add_row("spot savings", f"{desc.spot_savings_percent:.1f} %")
    for name, value in desc.metrics.items():
        table.add_row(escape(name), f"{value:.6g}")
    for name, where in desc.artifacts.items():
        table.add_row(escape(name), escape(where))
    if checkpoint := desc.details.get("checkpoint_s3_uri"):
        table.add_row("checkpoints", escape(str(checkpoint)))
    for path in desc.details.get("downloaded", []):
        table.add_row("downloaded", escape(str(path)))
    if desc.exit_code not in (None, 0):
        table.add_row("exit code", str(desc.exit_code))
    if desc.failure_reason:
        table.add_row("failure", escape(desc.failure_reason.strip()))
    if tb := desc.details.get("last_traceback"):
        table.add_row("traceback", escape(str(tb)))
    if desc.status != JobStatus.COMPLETED and desc.backend == "sagemaker":
        table.add_row("logs", f"launch logs {escape(desc.name)}")
    if url := desc.details.get("console"):
        table.add_row("console", escape(str(url)))
    console(env).print(table)
