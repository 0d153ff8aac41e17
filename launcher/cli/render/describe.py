"""`launch describe`: the summary, then what the job ran and where its inputs and outputs are.

Local records carry these in `details` since record format 1 (`store.record_details`); a record of
an earlier version shows what it has. Cloud jobs: from DescribeTrainingJob (the entrypoint lives in
the code package, so a cloud job shows its code channel as the source instead).
"""

from __future__ import annotations

from typing import Any

from launcher.backends.base import JobDescription
from launcher.cli.render.kv import Rows
from launcher.cli.render.summary import format_cost, summary_rows
from launcher.context import Environment

# Details shown by the summary or below under their own labels, or not meant for people.
_SHOWN = {"entrypoint", "source_dir", "code_sha256", "image", "hyperparameters", "channels",
          "output_path", "checkpoint_s3_uri", "cost", "last_traceback", "metric_definitions",
          "downloaded", "console", "total_steps", "steps_per_epoch", "epochs", "global_batch_size",
          "warnings", "environment_left_out"}
_LABELS = {"job_dir": "job dir", "processes_per_host": "processes/host", "input_mode": "input mode",
           "max_runtime_seconds": "max run (s)", "max_wait_seconds": "max wait (s)",
           "log_group": "log group", "log_stream_prefix": "log streams", "opt_ml": "/opt/ml"}


def describe_rows(desc: JobDescription) -> Rows:
    rows = summary_rows(desc)
    d = desc.details
    for warning in d.get("warnings") or []:  # a local run's (backends/local/checks.py)
        rows.add("warning", str(warning))
    channels = dict(d.get("channels") or {})
    code = channels.pop("code", None)
    channels.pop("sm_drivers", None)  # the SDK's driver files, the same for every job
    if entry := d.get("entrypoint"):
        rows.add("entrypoint", str(entry))
    if source := d.get("source_dir") or code:
        sha = d.get("code_sha256")
        rows.add("source", f"{source}" + (f" (sha256 {str(sha)[:12]})" if sha else ""))
    if image := d.get("image"):
        rows.add("image", str(image))
    if "total_steps" in d:
        rows.add("plan", _plan(d))
    hps = d.get("hyperparameters") or {}
    rows.add("hyperparameters", "(none: the script's defaults)" if not hps else
             f"{len(hps)} sent, as the script receives them:")
    for key, value in hps.items():
        rows.add(f"  --{key}", str(value))
    if "channels" not in d:
        rows.add("channels", "(not in this record: written by an earlier version)")
    else:
        rows.add("channels", "(none)" if not channels else f"{len(channels)}:")
    for name, location in channels.items():
        rows.add(f"  {name}", str(location))
    if output := d.get("output_path"):
        rows.add("output", f"{str(output).rstrip('/')}/{desc.name}/output/")
    if "cost" in d:
        rows.add("cost", format_cost(d["cost"]))
    for key, value in d.items():
        if key not in _SHOWN and value not in (None, "", {}, []):
            text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
            rows.add(_LABELS.get(key, key.replace("_", " ")), text)
    if left_out := d.get("environment_left_out"):
        names = [str(n) for n in left_out]
        rows.add("env left out", f"{len(names)} of the caller's variables (names only; pass one "
                 f"with --env): {', '.join(names)}")
    if desc.deviations:
        rows.add("deviations", f"{len(desc.deviations)} from a real SageMaker container:")
        for dev in desc.deviations:
            rows.add(f"  {dev.aspect}", f"real {dev.real}; here {dev.local}")
    return rows


def _plan(d: dict[str, Any]) -> str:
    text = f"{d['total_steps']} optimizer steps"
    if d.get("epochs") and d.get("steps_per_epoch"):
        text += f" ({d['steps_per_epoch']} per epoch × {d['epochs']} epochs)"
    if d.get("global_batch_size"):
        text += f", global batch {d['global_batch_size']}"
    return text


def render_description(env: Environment, desc: JobDescription) -> None:
    describe_rows(desc).print(env)
