"""`launch list` as a table that fits the terminal.

Names are what people copy, so they are never cut: a name wider than its column wraps after a '-'
(each line a whole part of it). The metrics give way first (cut with '…', then left out), and the
creation time loses its seconds. `--wide` shows everything on one line per job, however wide.
"""

from __future__ import annotations

from launcher.backends.base import JobDescription
from launcher.cli.render.console import console
from launcher.cli.render.paths import pack
from launcher.context import Environment

GAP = 3          # between columns: padding, the (blank) divider, padding
MIN_NAME = 20    # a name column narrower than this wraps names into too many lines
MIN_METRICS = 14  # narrower, the metrics column is left out


def fold_name(name: str, width: int) -> str:
    """`name` on lines of at most `width` characters, broken after a '-' where it can be."""
    if len(name) <= width:
        return name
    parts = [p + "-" for p in name.split("-")]
    parts[-1] = parts[-1][:-1]
    return pack(parts, width)


def _metrics(desc: JobDescription, wide: bool) -> str:
    items = list(desc.metrics.items())
    if not wide:
        items = [(k, v) for k, v in items if k not in ("step", "epoch")][:3]
    return " ".join(f"{k}={v:.4g}" for k, v in items)


def render_job_list(env: Environment, jobs: list[JobDescription], *, wide: bool = False) -> list[str]:
    """Print the table; returns notes on what was left out (for stderr)."""
    from rich import box
    from rich.table import Table

    out = console(env)
    created = [(d.created or "").replace("T", " ")[: 19 if wide else 16] for d in jobs]
    metrics = [_metrics(d, wide) for d in jobs]
    widths = {
        "backend": max([len("backend"), *(len(d.backend) for d in jobs)]),
        "status": max([len("status"), *(len(str(d.status)) for d in jobs)]),
        "created": max([len("created"), *(len(c) for c in created)]),
    }
    longest = max([len("job"), *(len(d.name) for d in jobs)])
    notes: list[str] = []
    if wide:
        name_width, metrics_width = longest, max([len("metrics"), *(len(m) for m in metrics)])
    else:
        room = out.width - sum(widths.values()) - GAP * 4
        name_width = min(longest, max(MIN_NAME, room - MIN_METRICS - GAP))
        metrics_width = room - name_width - GAP
        if metrics_width < MIN_METRICS:
            metrics_width = 0
            name_width = min(longest, max(MIN_NAME, room + GAP))
            if any(metrics):
                notes.append("metrics left out to fit the terminal: launch list --wide")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("job", no_wrap=True, min_width=min(name_width, longest))
    table.add_column("backend", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("created", no_wrap=True)
    if metrics_width:
        table.add_column("metrics", no_wrap=True, overflow="ellipsis", max_width=metrics_width)
    for d, when, m in zip(jobs, created, metrics, strict=True):
        row = [d.name if wide else fold_name(d.name, name_width), d.backend, str(d.status), when]
        table.add_row(*row, *([m] if metrics_width else []))
    if wide:
        out.width = max(out.width, name_width + metrics_width + sum(widths.values()) + GAP * 4 + 2)
    out.print(table)
    return notes
