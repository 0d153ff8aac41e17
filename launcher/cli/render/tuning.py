"""Tuning jobs on the terminal: one line per trial as `launch tune` runs, `status`, `describe` (the
trials ranked by the objective, the best trial's hyperparameters and artifacts) and the figure of
`describe --plot`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from launcher.cli.render.console import console
from launcher.cli.render.kv import Rows
from launcher.context import Environment
from launcher.errors import MissingDependencyError
from launcher.job.tuning import Trial, TuningDescription


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def values_text(hyperparameters: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in hyperparameters.items())


def objective_text(desc_objective: str, trial: Trial | None) -> str:
    if trial is None or trial.objective is None:
        return "-"
    return f"{desc_objective}={trial.objective:.6g}"


def trial_line(event: str, trial: Trial, objective: str, best: Trial | None, message: str = "") -> str:
    """`launch tune`'s progress: a trial started, was pruned, or ended (with the best so far)."""
    if event == "start":
        return f"▶ {trial.name}  {values_text(trial.hyperparameters)}"
    if event == "prune":
        return f"✂ {trial.name}  pruned ({message}): stopping it"
    took = f" in {trial.seconds:.0f} s" if trial.seconds is not None else ""
    line = f"■ {trial.name}  {trial.status}{took}  {objective_text(objective, trial)}"
    if trial.status not in ("Completed", "Pruned") and trial.failure_reason:
        line += f"  ({trial.failure_reason})"
    if best is not None:
        line += f"  · best {best.name} {objective}={best.objective:.6g}"
    return line


def counts_text(desc: TuningDescription) -> str:
    counts = desc.counts()
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none yet"
    # A trial interrupted with the tuner (Stopped) runs again under a new name and does not count.
    counted = len(desc.trials) - counts.get("Stopped", 0) if desc.backend == "local" else len(desc.trials)
    return f"{counted} of {desc.max_trials} ({done})"


def render_status(env: Environment, desc: TuningDescription) -> None:
    out = console(env)
    best = desc.best()
    lines = [f"{desc.name}  {desc.status}  (tuning job, {desc.backend})",
             f"trials: {counts_text(desc)}",
             f"best:   {best.name} {desc.objective}={best.objective:.6g}  {values_text(best.hyperparameters)}"
             if best is not None else f"best:   none yet ({desc.direction} {desc.objective})"]
    running = [t for t in desc.trials if t.status == "InProgress"]
    lines += [f"running: {t.name}  {values_text(t.hyperparameters)}" for t in running]
    if desc.failure_reason:
        lines.append(f"note: {desc.failure_reason}")
    out.print("\n".join(lines), markup=False, soft_wrap=False)


def render_tuning(env: Environment, desc: TuningDescription) -> None:
    """`describe`: the job, the trials best first, and the best trial in full."""
    from rich import box
    from rich.table import Table

    rows = Rows()
    rows.add("tuning job", desc.name)
    rows.add("backend", desc.backend)
    rows.add("status", desc.status)
    rows.add("objective", f"{desc.direction} {desc.objective}")
    engine = desc.details.get("engine")
    rows.add("strategy", desc.strategy + (f" ({engine})" if engine else ""))
    rows.add("trials", counts_text(desc))
    rows.add("parallel", str(desc.max_parallel))
    for name, text in (desc.details.get("ranges") or {}).items():
        rows.add(f"  {name}", str(text))
    for key in ("created", "ended"):
        if getattr(desc, key):
            rows.add(key, str(getattr(desc, key)))
    for key in ("job_dir", "instance_type", "spot", "max_runtime_seconds", "checkpoint_s3_uri", "console"):
        if desc.details.get(key) not in (None, ""):
            rows.add(key.replace("_", " "), str(desc.details[key]))
    if desc.failure_reason:
        rows.add("note", desc.failure_reason)
    rows.print(env)

    ranked = desc.ranked()
    if ranked:
        names = list(dict.fromkeys(k for t in ranked for k in t.hyperparameters))
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in ("#", "trial", "status", desc.objective, *names, "time"):
            table.add_column(column, no_wrap=True)
        for rank, t in enumerate(ranked, 1):
            table.add_row(str(rank), t.name, t.status,
                          "-" if t.objective is None else f"{t.objective:.6g}",
                          *(_value(t.hyperparameters.get(n, "")) for n in names),
                          "-" if t.seconds is None else f"{t.seconds:.0f} s")
        console(env).print(table)
    best = desc.best()
    if best is None:
        console(env).print("no completed trial yet", markup=False)
        return
    rows = Rows()
    rows.add("best trial", f"{best.name} ({desc.objective}={best.objective:.6g})")
    for key, value in best.hyperparameters.items():
        rows.add(f"  {key}", _value(value))
    metrics = {k: v for k, v in best.metrics.items() if k != desc.objective}
    if metrics:  # its last logged values (a metric may share a hyperparameter's name, e.g. lr)
        rows.add("last metrics", " ".join(f"{k}={_value(v)}" for k, v in metrics.items()))
    for path in best.artifacts:
        rows.add("artifact", path)
    rows.print(env)


def plot_tuning(desc: TuningDescription, path: Path) -> Path:
    """The objective per trial (with the best so far), and against each tuned hyperparameter."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingDependencyError("--plot needs matplotlib",
                                     "pip install 'launcher[plot]' (or matplotlib)") from e
    scored = sorted((t for t in desc.trials if t.objective is not None and math.isfinite(t.objective)),
                    key=lambda t: t.number)
    names = list(dict.fromkeys(k for t in desc.trials for k in t.hyperparameters))
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.2 * (1 + len(names)), 3.6), squeeze=False)
    ax = axes[0][0]
    better = max if desc.direction == "maximize" else min
    best_so_far: list[float] = []
    for t in scored:
        assert t.objective is not None
        best_so_far.append(t.objective if not best_so_far else better(best_so_far[-1], t.objective))
    colours = {"Completed": "tab:blue", "Pruned": "tab:orange"}
    ax.scatter([t.number + 1 for t in scored], [t.objective for t in scored],
               c=[colours.get(t.status, "tab:red") for t in scored], s=24, zorder=3)
    ax.step([t.number + 1 for t in scored], best_so_far, where="post", color="tab:green", label="best so far")
    ax.set_xlabel("trial")
    from matplotlib.ticker import MaxNLocator, NullFormatter

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(desc.objective)
    ax.set_title(f"{desc.name}: {desc.objective} per trial", fontsize=9)
    ax.legend(fontsize=8)
    ranges = desc.details.get("ranges") or {}
    for ax, name in zip(axes[0][1:], names, strict=True):
        points = [(t.hyperparameters[name], t.objective) for t in scored if name in t.hyperparameters]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x, _ in points)
        if numeric:
            ax.scatter([x for x, _ in points], [y for _, y in points], s=24)
            if "(log)" in str(ranges.get(name, "")):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            labels = list(dict.fromkeys(str(x) for x, _ in points))
            ax.scatter([labels.index(str(x)) for x, _ in points], [y for _, y in points], s=24)
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)
        ax.set_xlabel(name)
        ax.set_ylabel(desc.objective)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def tuning_as_job_row(desc: TuningDescription) -> Any:
    """A tuning job as a row of `launch list` (a JobDescription: the list's one shape)."""
    from launcher.backends.base import JobDescription, JobStatus

    best = desc.best()
    try:
        status = JobStatus(desc.status)
    except ValueError:
        status = JobStatus.FAILED if desc.status in ("Deleting", "DeleteFailed") else JobStatus.IN_PROGRESS
    return JobDescription(
        name=desc.name, backend=f"{desc.backend} (tuning)", status=status, created=desc.created,
        ended=desc.ended, failure_reason=desc.failure_reason,
        metrics={desc.objective: best.objective} if best is not None and best.objective is not None else {},
        details={"kind": "tuning", "trials": len(desc.trials), "best_trial": best.name if best else None})
