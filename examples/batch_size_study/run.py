#!/usr/bin/env python3
"""The batch-size study on the bundled digits: run it with `launch tune --local`, then summarise it.

    .venv/bin/python examples/batch_size_study/run.py

runs the two grid studies (fixed_lr.toml, scaled_lr.toml: batch_size {32 … 512} × seed {0, 1, 2},
16 epochs each), reads every trial back through `launch describe … --json` and `launch metrics …
--json`, prints a Markdown table per variant and batch size and draws
docs/figures/batch-size-study.png.

Running it again resumes the tuning jobs of the same names: a completed one runs nothing more, so a
second run only re-reads and redraws. `--prefix P` names the tuning jobs P-fixed-lr and P-scaled-lr
instead, for a fresh study next to an old one.

Spread is the sample standard deviation over the seeds (n - 1 in the denominator), with the min and
max beside it. "train s" is the trial job's Training phase (from its status transitions: the
script's process, interpreter and torch import included); "loop s" is the sum of the epoch_time_s
values the script logs (its training loop only).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
# (variant label, job file): the order of the table and of the figure's legend.
STUDIES: tuple[tuple[str, str], ...] = (("fixed lr", "fixed_lr.toml"), ("scaled lr", "scaled_lr.toml"))
DEFAULT_FIGURE = REPO / "docs" / "figures" / "batch-size-study.png"


@dataclass(frozen=True)
class TrialResult:
    """One trial of one study, as read back from its tuning job and its training job."""

    variant: str
    name: str
    batch_size: int
    seed: int
    status: str                     # the trial's status in the tuning job
    val_accuracy: float | None      # the objective: the last val_accuracy the log shows
    val_loss: float | None
    peak_lr: float                  # after the linear scaling rule, when the study applies it
    steps: int | None               # optimizer steps the job planned
    train_seconds: float | None     # the job's Training phase
    loop_seconds: float | None      # sum of the logged epoch_time_s


@dataclass(frozen=True)
class Row:
    """One variant at one batch size, over its seeds."""

    variant: str
    batch_size: int
    peak_lr: float
    steps: int | None
    trials: int
    completed: int                  # trials with a finite val_accuracy
    acc_mean: float | None
    acc_std: float | None           # sample standard deviation over the seeds (n - 1)
    acc_min: float | None
    acc_max: float | None
    loss_mean: float | None
    loss_std: float | None
    train_seconds: float | None     # mean over the seeds
    loop_seconds: float | None      # mean over the seeds


# -- running `launch` -----------------------------------------------------------------------------


def launch_command() -> list[str]:
    """The `launch` installed with this interpreter (a venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "launch"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("launch")
    if found:
        return [found]
    raise SystemExit("run.py: no `launch` next to this Python or on PATH; "
                     "run it with the project's venv: .venv/bin/python examples/batch_size_study/run.py")


def launch_json(launch: Sequence[str], *argv: str) -> Any:
    done = subprocess.run([*launch, *argv, "--json"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run.py: `launch {' '.join(argv)} --json` failed ({done.returncode}): "
                         f"{done.stderr.strip()}")
    return json.loads(done.stdout)


def tuning_name(job_file: Path, prefix: str | None) -> str:
    if prefix:
        return f"{prefix}-{job_file.stem.replace('_', '-')}"
    with job_file.open("rb") as f:
        return str(tomllib.load(f)["tune"]["name"])


def run_study(launch: Sequence[str], job_file: Path, name: str) -> None:
    """`launch tune --local` for one job file; its progress goes straight to this terminal."""
    argv = [*launch, "tune", "--local", "-c", str(job_file), "--tune-name", name]
    print(f"$ {' '.join(argv)}", flush=True)
    status = subprocess.run(argv, check=False).returncode
    if status == 130:
        raise SystemExit(130)
    if status != 0:  # a failed trial still leaves the others to read; the table shows the count
        print(f"run.py: launch tune exited {status} for {name}; reading what it recorded", flush=True)


# -- reading the results --------------------------------------------------------------------------


def phase_seconds(transitions: Sequence[dict[str, Any]], phase: str) -> float | None:
    """How long the job spent in one status, from the start of that status to the next one's."""
    for here, after in zip(transitions, transitions[1:], strict=False):
        if here.get("status") == phase and here.get("start") and after.get("start"):
            started = datetime.fromisoformat(here["start"])
            return (datetime.fromisoformat(after["start"]) - started).total_seconds()
    return None


def finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def peak_lr(hyperparameters: dict[str, Any], batch_size: int) -> float:
    """The LR the script peaks at: lr, times batch / base_batch_size under scale_lr (one process,
    no gradient accumulation, as in these job files)."""
    lr = float(hyperparameters.get("lr", 0.01))
    if hyperparameters.get("scale_lr"):
        lr *= batch_size / float(hyperparameters.get("base_batch_size", 256))
    return lr


def read_study(launch: Sequence[str], variant: str, job_file: Path, name: str) -> list[TrialResult]:
    with job_file.open("rb") as f:
        fixed = dict(tomllib.load(f).get("hyperparameters", {}))
    tuning = launch_json(launch, "describe", name, "--local")
    trials = [t for t in tuning["trials"] if t["status"] != "Stopped"]  # a stopped one was re-run
    loops: dict[str, float] = {}
    if trials:
        series = launch_json(launch, "metrics", *[t["name"] for t in trials], "--local",
                             "--metric", "epoch_time_s")
        for job in series["jobs"]:
            points = job.get("metrics", {}).get("epoch_time_s", [])
            if points:
                loops[job["name"]] = round(sum(float(p["value"]) for p in points), 3)
    results = []
    for t in trials:
        job = launch_json(launch, "describe", t["name"], "--local")
        batch = int(t["hyperparameters"]["batch_size"])
        total_steps = (job.get("details") or {}).get("total_steps")
        results.append(TrialResult(
            variant=variant, name=t["name"], batch_size=batch, seed=int(t["hyperparameters"]["seed"]),
            status=t["status"],
            val_accuracy=finite(t["objective"]) if t["status"] == "Completed" else None,
            val_loss=finite((job.get("metrics") or {}).get("val_loss")),
            peak_lr=peak_lr(fixed, batch), steps=int(total_steps) if total_steps else None,
            train_seconds=phase_seconds(job.get("transitions") or [], "Training"),
            loop_seconds=loops.get(t["name"])))
    return results


# -- summarising ----------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _std(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def summarize(results: Sequence[TrialResult]) -> list[Row]:
    """One row per (variant, batch size), in study order then batch size."""
    order = {label: i for i, (label, _) in enumerate(STUDIES)}
    groups: dict[tuple[str, int], list[TrialResult]] = {}
    for r in results:
        groups.setdefault((r.variant, r.batch_size), []).append(r)
    rows = []
    for (variant, batch), group in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        acc = [r.val_accuracy for r in group if r.val_accuracy is not None]
        loss = [r.val_loss for r in group if r.val_loss is not None and r.val_accuracy is not None]
        train = [r.train_seconds for r in group if r.train_seconds is not None]
        loop = [r.loop_seconds for r in group if r.loop_seconds is not None]
        rows.append(Row(
            variant=variant, batch_size=batch, peak_lr=group[0].peak_lr, steps=group[0].steps,
            trials=len(group), completed=len(acc), acc_mean=_mean(acc), acc_std=_std(acc),
            acc_min=min(acc, default=None), acc_max=max(acc, default=None),
            loss_mean=_mean(loss), loss_std=_std(loss),
            train_seconds=_mean(train), loop_seconds=_mean(loop)))
    return rows


def _num(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (it reads in a terminal and pastes into a README)."""
    lines = ["| variant | batch | peak lr | steps | seeds ok | val acc mean ± std | min – max "
             "| val loss mean ± std | train s | loop s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        acc = f"{_num(r.acc_mean, '.4f')} ± {_num(r.acc_std, '.4f')}"
        span = f"{_num(r.acc_min, '.4f')} – {_num(r.acc_max, '.4f')}"
        loss = f"{_num(r.loss_mean, '.4f')} ± {_num(r.loss_std, '.4f')}"
        lines.append(f"| {r.variant} | {r.batch_size} | {r.peak_lr:g} | {r.steps or '–'} | "
                     f"{r.completed}/{r.trials} | {acc} | {span} | {loss} | "
                     f"{_num(r.train_seconds, '.1f')} | {_num(r.loop_seconds, '.1f')} |")
    return "\n".join(lines)


# -- the figure -----------------------------------------------------------------------------------


def zoom_floor(rows: Sequence[Row], width: float = 0.05) -> float:
    """The lower edge of the zoomed accuracy panel: the rows within `width` of the best mean, with
    their seeds' spread, and a margin; a row far below (a collapse) is left off and marked."""
    means = [r.acc_mean for r in rows if r.acc_mean is not None]
    if not means:
        return 0.0
    near = [r.acc_min for r in rows if r.acc_min is not None and r.acc_mean is not None
            and r.acc_mean >= max(means) - width]
    return math.floor((min(near) - 0.004) * 100) / 100


def draw(results: Sequence[TrialResult], rows: Sequence[Row], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, grid = plt.subplots(2, 2, figsize=(12, 8.5))
    (ax_acc, ax_zoom), (ax_loss, ax_time) = grid
    colors = {label: f"C{i}" for i, (label, _) in enumerate(STUDIES)}
    # The variants sit a little apart on the x axis so that equal points do not hide each other.
    shift = {label: 1.0 + 0.05 * (i - (len(STUDIES) - 1) / 2) for i, (label, _) in enumerate(STUDIES)}
    floor = zoom_floor(rows)
    for variant, color in colors.items():
        mine = [r for r in rows if r.variant == variant and r.acc_mean is not None]
        seeds = [t for t in results if t.variant == variant and t.val_accuracy is not None]
        for ax in (ax_acc, ax_zoom):
            ax.errorbar([r.batch_size * shift[variant] for r in mine], [r.acc_mean for r in mine],
                        yerr=[r.acc_std or 0.0 for r in mine], color=color, marker="o", capsize=4,
                        label=f"{variant}: mean ± std")
            ax.scatter([t.batch_size * shift[variant] for t in seeds], [t.val_accuracy for t in seeds],
                       color=color, alpha=0.35, s=14)
        for r in mine:
            if r.acc_mean is not None and r.acc_mean < floor:
                ax_zoom.annotate(f"{variant}: {r.acc_mean:.3f} ↓", (r.batch_size * shift[variant], floor),
                                 xytext=(0, 12), textcoords="offset points", ha="right", color=color,
                                 fontsize=8, annotation_clip=False)
        lossy = [r for r in mine if r.loss_mean is not None]
        ax_loss.errorbar([r.batch_size * shift[variant] for r in lossy], [r.loss_mean for r in lossy],
                         yerr=[r.loss_std or 0.0 for r in lossy], color=color, marker="o", capsize=4,
                         label=f"{variant}: mean ± std")
        timed = [r for r in rows if r.variant == variant and r.train_seconds is not None]
        ax_time.plot([r.batch_size for r in timed], [r.train_seconds for r in timed], color=color,
                     marker="o", label=f"{variant}: Training phase")
        looped = [r for r in rows if r.variant == variant and r.loop_seconds is not None]
        ax_time.plot([r.batch_size for r in looped], [r.loop_seconds for r in looped], color=color,
                     marker="s", linestyle="--", label=f"{variant}: summed epoch_time_s")
    batches = sorted({r.batch_size for r in rows})
    for ax in (ax_acc, ax_zoom, ax_loss, ax_time):
        ax.set_xscale("log", base=2)
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.minorticks_off()
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_acc.set_ylabel("final val_accuracy (dots: seeds)")
    ax_acc.set_title("validation accuracy")
    ax_zoom.set_ylim(floor, 1.0)
    ax_zoom.set_ylabel("final val_accuracy (dots: seeds)")
    ax_zoom.set_title(f"validation accuracy, from {floor:.2f}")
    ax_loss.set_ylabel("final val_loss")
    ax_loss.set_yscale("log")
    ax_loss.set_title("validation loss (log scale)")
    ax_time.set_ylabel("seconds per trial (mean over seeds)")
    ax_time.set_ylim(bottom=0)
    ax_time.set_title("time (2 trials at once on a shared 2-core machine)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def figure_title(results: Sequence[TrialResult], job_files: Sequence[Path]) -> str:
    """What the studies held fixed, read from their job files."""
    hps = []
    for job_file in job_files:
        with job_file.open("rb") as f:
            hps.append(tomllib.load(f).get("hyperparameters", {}))
    seeds = ", ".join(str(s) for s in sorted({r.seed for r in results}))
    lrs = " vs ".join(f"lr {h.get('lr')}" + (f" × batch/{h.get('base_batch_size')}" if h.get("scale_lr")
                                              else " fixed") for h in hps)
    first = hps[0] if hps else {}
    return (f"Batch size on the bundled digits: {first.get('optimizer', 'sgd')}, "
            f"{first.get('lr_schedule', 'constant')}, {first.get('epochs')} epochs, "
            f"warmup {first.get('warmup_epochs', 0)} epochs, seeds {seeds}; {lrs}")


# -- main -----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--prefix", help="name the tuning jobs PREFIX-fixed-lr and PREFIX-scaled-lr "
                        "(default: the names in the job files)")
    parser.add_argument("--no-run", action="store_true",
                        help="only read tuning jobs that already ran, and summarise them")
    parser.add_argument("--figure", type=Path, default=DEFAULT_FIGURE, help="where to draw the figure")
    parser.add_argument("--results", type=Path, help="also write every trial and row as JSON here")
    args = parser.parse_args(argv)

    launch = launch_command()
    studies = [(variant, HERE / file, tuning_name(HERE / file, args.prefix)) for variant, file in STUDIES]
    if not args.no_run:
        for _, job_file, name in studies:
            run_study(launch, job_file, name)
    results = [r for variant, job_file, name in studies for r in read_study(launch, variant, job_file, name)]
    rows = summarize(results)
    print()
    print(table(rows))
    print("\nval acc: the last val_accuracy of each trial; ± is the sample std over the seeds. "
          "train s: the Training phase; loop s: the summed epoch_time_s (both means over the seeds).")
    draw(results, rows, args.figure, figure_title(results, [job_file for _, job_file, _ in studies]))
    print(f"figure: {args.figure}")
    if args.results:
        args.results.write_text(json.dumps({"trials": [asdict(r) for r in results],
                                            "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
        print(f"results: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
