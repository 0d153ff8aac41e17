"""The end-of-job summary, the same for every terminal state and both backends.

Status and secondary transitions (spot interruptions counted), training vs billable time with the
spot savings (1 − billable / training) × 100, final metrics, artifacts, and on failure the
FailureReason plus the last traceback found in the logs (`desc.details["last_traceback"]`).
Paths and URIs break only after a '/' when the terminal is narrower than they are.
"""

from __future__ import annotations

from typing import Any

from launcher.backends.base import JobDescription, JobStatus
from launcher.cli.render.kv import Rows
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


def format_cost(cost: Any) -> str:
    """A job's cost record (backends/sagemaker/describe.py `job_cost`) as one readable line."""
    if not isinstance(cost, dict) or "usd" not in cost:
        return str(cost)
    text = (f"${cost['usd']:,.2f} ({cost['billable_seconds']:,} billable s × "
            f"${cost['price_per_hour']:g}/h × {cost['instance_count']})")
    if "spot_saved_usd" in cost:
        text += f"; spot saved ${cost['spot_saved_usd']:,.2f} of ${cost['on_demand_usd']:,.2f} on-demand"
    return f"{text}; prices: {cost['price_source']}"


def summary_rows(desc: JobDescription) -> Rows:
    from rich.text import Text

    style = {JobStatus.COMPLETED: "green", JobStatus.FAILED: "red"}.get(desc.status, "yellow")
    rows = Rows()
    rows.add("job", desc.name)
    status = Text(str(desc.status), style=style)
    if desc.secondary_status:
        status.append(f" ({desc.secondary_status})")
    rows.add("status", status)
    if (instances := _instances(desc)) is not None:
        rows.add("instances", instances)
    if desc.transitions:
        rows.add("transitions", " → ".join(t.status for t in desc.transitions))
    if desc.interruptions or desc.spot:
        rows.add("interruptions", str(desc.interruptions))
    if desc.training_seconds is not None:
        rows.add("training time", _seconds(desc.training_seconds))
    if desc.billable_seconds is not None:
        rows.add("billable time", _seconds(desc.billable_seconds))
    if desc.spot_savings_percent is not None:
        rows.add("spot savings", f"{desc.spot_savings_percent:.1f} %")
    if cost := desc.details.get("cost"):
        rows.add("cost", format_cost(cost))
    for name, value in desc.metrics.items():
        rows.add(name, f"{value:.6g}")
    for name, where in desc.artifacts.items():
        rows.add(name, where)
    if checkpoint := desc.details.get("checkpoint_s3_uri"):
        rows.add("checkpoints", str(checkpoint))
    for path in desc.details.get("downloaded", []):
        rows.add("downloaded", str(path))
    if desc.exit_code not in (None, 0):
        rows.add("exit code", str(desc.exit_code))
    if desc.failure_reason:
        rows.add("failure", desc.failure_reason.strip())
    if tb := desc.details.get("last_traceback"):
        rows.add("traceback", str(tb))
    if desc.status != JobStatus.COMPLETED and desc.backend == "sagemaker":
        rows.add("logs", f"launch logs {desc.name}")
    if url := desc.details.get("console"):
        rows.add("console", str(url))
    return rows


def render_summary(env: Environment, desc: JobDescription) -> None:
    summary_rows(desc).print(env)
