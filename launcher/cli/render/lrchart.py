"""A compact terminal chart of the LR per optimizer step: block characters, epochs and warmup marked.

Pure text (no rich, no numpy) so it prints anywhere and tests compare it line by line::

    0.05 ┤      ▂▅███████▇▇▆▅▅▄▃▂▂▁
         ┤   ▂▅█████████████████████▇▅▃
         ┤ ▃██████████████████████████▇▄▁
    0    ┤▅█████████████████████████████▇▃
         └══┴────┴────┴────┴────┴────┴────┘
          ═ warmup (3 steps)  ┴ epoch boundary  x: 0 … 35 optimizer steps (12 per epoch)

Each column covers an equal slice of the steps and shows the slice's mean LR (over at most
SAMPLES_PER_COLUMN evenly spread steps, so the work is bounded for any run length: `lrs` may be a
lazy sequence of a billion steps); the y axis runs from 0 to the peak LR, so a schedule that never
decays reads as a flat bar.
"""

from __future__ import annotations

from collections.abc import Sequence

SAMPLES_PER_COLUMN = 64
BLOCKS = " ▁▂▃▄▅▆▇█"
ASCII_BLOCKS = " ..::ooO#"


def render_lr_chart(
    lrs: Sequence[float],
    steps_per_epoch: int,
    warmup_steps: int = 0,
    *,
    width: int = 60,
    height: int = 6,
    ascii_only: bool = False,
) -> list[str]:
    """The chart as lines (no trailing newlines). ``lrs[i]`` is the LR of optimizer step ``i``."""
    if not lrs:
        return ["(no optimizer steps)"]
    if width < 8 or height < 2:
        raise ValueError("the chart needs width >= 8 and height >= 2")
    n = len(lrs)
    cols = min(width, n)
    means = _column_means(lrs, cols)
    peak = max(means + [lrs[warmup_steps]] if 0 < warmup_steps < n else means)
    if n <= cols * SAMPLES_PER_COLUMN:
        peak = max(peak, max(lrs))
    levels = [_level(v, peak, height) for v in means]

    blocks = ASCII_BLOCKS if ascii_only else BLOCKS
    top_label, bottom_label = _fmt(peak), "0"
    pad = max(len(top_label), len(bottom_label))
    tick = "|" if ascii_only else "┤"
    rows = []
    for r in range(height - 1, -1, -1):
        cells = "".join(blocks[max(0, min(8, lv - 8 * r))] for lv in levels)
        label = top_label if r == height - 1 else bottom_label if r == 0 else ""
        rows.append(f"{label:>{pad}} {tick}{cells}".rstrip())

    axis, marked_epochs, every = _axis(n, cols, steps_per_epoch, warmup_steps, ascii_only)
    corner = "+" if ascii_only else "└"
    rows.append(f"{'':>{pad}} {corner}{axis}")
    rows.append(f"{'':>{pad}}  " + _legend(n, steps_per_epoch, warmup_steps, marked_epochs, every,
                                           ascii_only))
    return rows


def _column_means(lrs: Sequence[float], cols: int) -> list[float]:
    n = len(lrs)
    out = []
    for c in range(cols):
        lo, hi = c * n // cols, max((c + 1) * n // cols, c * n // cols + 1)
        if hi - lo <= SAMPLES_PER_COLUMN:
            chunk = [lrs[i] for i in range(lo, hi)]
        else:  # evenly spread steps of the slice: the mean of a smooth schedule, in bounded time
            last = SAMPLES_PER_COLUMN - 1
            chunk = [lrs[lo + (hi - 1 - lo) * k // last] for k in range(SAMPLES_PER_COLUMN)]
        out.append(sum(chunk) / len(chunk))
    return out


def _level(value: float, peak: float, height: int) -> int:
    """Eighths of a row filled, 0 … 8 × height; any positive LR shows at least one eighth."""
    if peak <= 0 or value <= 0:
        return 0
    return max(1, min(8 * height, round(value / peak * 8 * height)))


def _column_of(step: int, n: int, cols: int) -> int:
    """The column whose slice contains ``step``."""
    return min(cols - 1, step * cols // n)


def _axis(
    n: int, cols: int, steps_per_epoch: int, warmup_steps: int, ascii_only: bool
) -> tuple[str, int, int]:
    line, warm, bound = ("-", "=", "|") if ascii_only else ("─", "═", "┴")
    axis = [line] * cols
    if warmup_steps > 0:
        for c in range(_column_of(warmup_steps - 1, n, cols) + 1):
            axis[c] = warm
    boundaries = list(range(steps_per_epoch, n, steps_per_epoch))  # first step of epochs 2, 3, …
    # Too many boundaries for the width: mark every `every`-th epoch so marks stay apart.
    every = 1
    while boundaries and len(boundaries) // every > cols // 3:
        every += 1
    marked = 0
    for i, step in enumerate(boundaries, start=1):
        if i % every == 0:
            axis[_column_of(step, n, cols)] = bound
            marked += 1
    return "".join(axis), marked, every


def _legend(
    n: int, steps_per_epoch: int, warmup_steps: int, marked: int, every: int, ascii_only: bool
) -> str:
    warm, bound = ("=", "|") if ascii_only else ("═", "┴")
    parts = []
    if warmup_steps > 0:
        parts.append(f"{warm} warmup ({warmup_steps} step{'s' if warmup_steps != 1 else ''})")
    if marked:
        label = "epoch boundary" if every == 1 else f"every {every} epochs"
        parts.append(f"{bound} {label}")
    ellipsis = "..." if ascii_only else "…"
    parts.append(f"x: steps 0 {ellipsis} {n - 1} ({steps_per_epoch} per epoch)")
    return "  ".join(parts)


def _fmt(value: float) -> str:
    return f"{value:.3g}"
