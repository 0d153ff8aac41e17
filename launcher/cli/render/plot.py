"""`launch plan --plot FILE.png`: the LR schedule as a proper figure (matplotlib, imported lazily).

LR against optimizer step on the bottom axis, epochs on a second (top) axis, the warmup shaded and
epoch boundaries drawn as faint vertical lines (every k-th epoch when there are many).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from launcher.errors import MissingDependencyError, SpecError

MAX_EPOCH_LINES = 40
MAX_POINTS = 4096  # above this many steps the curve is drawn through evenly spread steps


def plot_lr_schedule(
    lrs: Sequence[float],
    steps_per_epoch: int,
    warmup_steps: int,
    path: Path,
    *,
    title: str = "Learning rate per optimizer step",
) -> Path:
    """Write the figure to ``path`` (format from its suffix: .png, .svg, .pdf); return ``path``."""
    if not lrs:
        raise SpecError("no optimizer steps to plot")
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)  # no display needed, never opens a window
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise MissingDependencyError(
            "--plot needs matplotlib", "pip install 'launcher[plot]' (or matplotlib)"
        ) from e

    n = len(lrs)
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=120)
    try:
        if n <= MAX_POINTS:
            # Step i uses lrs[i] from x = i to i + 1: a staircase, exact for the step schedule.
            xs = list(range(n + 1))
            ys = [lrs[i] for i in range(n)] + [lrs[n - 1]]
            ax.plot(xs, ys, drawstyle="steps-post", color="tab:blue", linewidth=1.6, label="LR")
        else:  # bounded work for any run length (lrs may be lazy)
            xs = sorted({(n - 1) * k // (MAX_POINTS - 1) for k in range(MAX_POINTS)}
                        | ({warmup_steps} if 0 < warmup_steps < n else set()))
            ys = [lrs[x] for x in xs]
            ax.plot(xs, ys, color="tab:blue", linewidth=1.6, label="LR")
        if warmup_steps > 0:
            ax.axvspan(0, warmup_steps, color="tab:orange", alpha=0.15,
                       label=f"warmup ({warmup_steps} steps)")
        boundaries = list(range(steps_per_epoch, n, steps_per_epoch))
        every = max(1, -(-len(boundaries) // MAX_EPOCH_LINES))
        for i, step in enumerate(boundaries, start=1):
            if i % every == 0:
                ax.axvline(step, color="grey", alpha=0.3, linewidth=0.8)
        ax.set_xlim(0, n)
        ax.set_ylim(bottom=0, top=max(ys) * 1.05 or 1.0)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        fig.suptitle(title)
        ax.grid(True, axis="y", alpha=0.3)
        def to_epochs(step: Any) -> Any:
            return step / steps_per_epoch

        def to_steps(epoch: Any) -> Any:
            return epoch * steps_per_epoch

        top = ax.secondary_xaxis("top", functions=(to_epochs, to_steps))
        top.set_xlabel("epochs completed")
        ax.legend(loc="upper right", frameon=False)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
