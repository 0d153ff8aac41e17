"""`launch metrics JOB… --plot FILE.png`: training curves as a figure, in the style of
`launch plan --plot` (`plot.py`): one panel per metric, one line (one colour) per job.

The accuracy and the losses come first, the learning rate (when a job logged `lr`) and the
throughput last. Jobs are told apart in the legend by their names and the hyperparameters that
differ between them. Several jobs are compared against epochs by default: jobs with different
batch sizes take different numbers of steps per epoch, so steps would not line them up.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from launcher.cli.render.curves import JobCurves, differing_hyperparameters
from launcher.errors import MissingDependencyError, SpecError

TITLES = {"val_accuracy": "validation accuracy", "val_loss": "validation loss",
          "train_loss": "training loss", "lr": "learning rate",
          "samples_per_sec": "throughput (samples/s)", "epoch_time_s": "epoch time (s)"}
FIRST = ("val_accuracy", "val_loss", "train_loss")
LAST = ("lr", "samples_per_sec", "epoch_time_s")
AXIS_LABELS = {"step": "optimizer step", "epoch": "epoch", "index": "metric line"}
MARKERS_UP_TO = 40      # points per line; sparser lines (one value per epoch) get markers
LOG_SCALE_RATIO = 30.0  # a loss that falls more than this factor is drawn on a log scale


def panel_metrics(jobs: list[JobCurves], wanted: list[str] | None = None) -> list[str]:
    """The metrics to draw, in panel order; `wanted` (from --metric) keeps the user's order."""
    found = list(dict.fromkeys(m for j in jobs for m in j.series))
    if wanted:
        missing = [m for m in wanted if m not in found]
        if missing:
            raise SpecError(f"no job logged {', '.join(missing)}",
                            f"metrics found: {', '.join(found) or 'none'}")
        return list(wanted)
    return ([m for m in FIRST if m in found] + [m for m in found if m not in FIRST + LAST]
            + [m for m in LAST if m in found])


def choose_axis(jobs: list[JobCurves], requested: str = "auto") -> str:
    if requested != "auto":
        if requested != "index" and not any(j.has(requested) for j in jobs):
            raise SpecError(f"no metric line of these jobs has a {requested}",
                            "use --x index (the order of the lines)")
        return requested
    if len(jobs) > 1 and all(j.has("epoch") for j in jobs):
        return "epoch"
    for axis in ("step", "epoch"):
        if all(j.has(axis) for j in jobs):
            return axis
    return "index"


def job_label(job: JobCurves, differing: list[str]) -> str:
    if not differing:
        return job.name
    values = ", ".join(f"{k}={job.hyperparameters.get(k, '-')}" for k in differing)
    return f"{job.name} ({values})"


def build_figure(jobs: list[JobCurves], metrics: list[str], axis: str) -> Any:
    """The matplotlib figure (the caller saves and closes it)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)  # no display needed, never opens a window
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise MissingDependencyError(
            "--plot needs matplotlib", "pip install 'launcher[plot]' (or matplotlib)") from e
    if not metrics:
        raise SpecError("these jobs logged no metrics to plot",
                        "metric lines look like `epoch=1 step=23 val_loss=0.3`, or give the job "
                        "metric definitions (--metric NAME=REGEX)")
    cols = 1 if len(metrics) == 1 else 2 if len(metrics) in (2, 4) else 3
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.3 * rows + 0.9), dpi=120,
                             squeeze=False)
    differing = differing_hyperparameters(jobs)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, metric in enumerate(metrics):
        ax = axes[i // cols][i % cols]
        values: list[float] = []
        for j, job in enumerate(jobs):
            xs, ys = job.xy(metric, axis)
            if not xs:
                continue
            values += ys
            ax.plot(xs, ys, color=colors[j % len(colors)], linewidth=1.6,
                    marker="o" if len(xs) <= MARKERS_UP_TO else None, markersize=3.5,
                    label=job_label(job, differing))
        ax.set_title(TITLES.get(metric, metric))
        ax.set_xlabel(AXIS_LABELS[axis])
        if axis == "epoch":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if metric == "lr":
            ax.set_ylim(bottom=0)
        finite = [v for v in values if math.isfinite(v)]
        if "loss" in metric and finite and min(finite) > 0 and \
                max(finite) / min(finite) > LOG_SCALE_RATIO:
            ax.set_yscale("log")
    for k in range(len(metrics), rows * cols):
        axes[k // cols][k % cols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax_row in axes:  # a job may be missing from the first panel
        for ax in ax_row:
            for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
                if label not in labels:
                    handles.append(h)
                    labels.append(label)
    fig.suptitle("Training curves" + (f" of {jobs[0].name}" if len(jobs) == 1 else ""))
    if len(jobs) > 1:
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.955),
                   ncols=min(len(labels), 2), frameon=False)
        top = 1 - (0.45 + 0.25 * math.ceil(len(labels) / 2)) / fig.get_figheight()
        fig.tight_layout(rect=(0, 0, 1, top))
    else:
        fig.tight_layout()
    return fig


def plot_curves(jobs: list[JobCurves], path: Path, *, metrics: list[str] | None = None,
                axis: str = "auto") -> Path:
    """Write the figure to `path` (format from its suffix: .png, .svg, .pdf); return `path`."""
    fig = build_figure(jobs, panel_metrics(jobs, metrics), choose_axis(jobs, axis))
    import matplotlib.pyplot as plt

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
