"""Shared helpers of the benchmark scripts: timing subprocesses, the result table, the JSON record.

Every script compares two things measured in the same run, repeats each measurement and reports
median, min and max; the ratio is median(row) / median(baseline row of the same group). Nothing here
asserts on a figure: the scripts report, the README says how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
ENTRYPOINTS = REPO / "entrypoints"
DIGITS = REPO / "launcher" / "datasets" / "digits"
RESULTS_DIR = BENCH_DIR / "results"

# Exit status of a script that could not run here (a missing optional dependency): run_all records
# it as skipped instead of failed.
EXIT_SKIPPED = 3

# Settings a user's shell may carry that would change what the launcher does (a real AWS profile,
# a default bucket, an instance type...): every launcher subprocess runs without them.
_USER_SETTINGS = re.compile(r"^(AWS_|LAUNCHER_|SAGEMAKER_|SM_|TRAINING_JOB_)")


# --- arguments ------------------------------------------------------------------------------------


def common_arguments(parser: argparse.ArgumentParser, *, repeats: int) -> None:
    parser.add_argument("--repeats", type=int, default=repeats,
                        help=f"measurements per row (default {repeats}); the table shows their "
                        "median, min and max")
    parser.add_argument("--quick", action="store_true",
                        help="the smallest setting that still exercises every code path (smoke test)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")


# --- commands -------------------------------------------------------------------------------------


def python() -> str:
    """The interpreter running the benchmarks (the venv's, via ./dev bench)."""
    return sys.executable


def launch_command() -> list[str]:
    """How a user runs the CLI: the `launch` console script next to this interpreter."""
    script = Path(sys.executable).parent / "launch"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from launcher.cli.main import run; run()"]


def clean_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without AWS/launcher/SageMaker settings, plus `extra`."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not _USER_SETTINGS.match(k)}
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def launcher_env(home: Path, **extra: str) -> dict[str, str]:
    """An isolated launcher: its own job home and an absent user config file."""
    return clean_env(LAUNCHER_HOME=str(home), LAUNCHER_CONFIG=str(home / "config.toml"),
                     AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, **extra)


def timed(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
          timeout: float = 600) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Wall time of one process, from spawn to exit; raises with its output if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(list(argv), env=None if env is None else dict(env), cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    check(proc, argv)
    return seconds, proc


def check(proc: subprocess.CompletedProcess[str], argv: Sequence[str]) -> None:
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv))[:300]} exited {proc.returncode}\n"
                         f"--- stdout (tail)\n{(proc.stdout or '')[-3000:]}\n"
                         f"--- stderr (tail)\n{(proc.stderr or '')[-3000:]}")


class BenchError(RuntimeError):
    """A measured command failed: the figure would be meaningless, so the script stops."""


@dataclass
class StreamedRun:
    """A process whose stdout lines were timestamped (perf_counter) on arrival."""

    seconds: float
    returncode: int
    lines: list[tuple[float, str]]
    stderr: str
    started: float

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def streamed(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 1800, on_line: Callable[[float, str], None] | None = None) -> StreamedRun:
    """Run a process, timestamping each stdout line as it arrives (the child must flush per line;
    PYTHONUNBUFFERED=1 does it for Python). Raises BenchError on a non-zero exit."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=None if env is None else dict(env), cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            bufsize=1)
    lines: list[tuple[float, str]] = []
    err_chunks: list[str] = []
    assert proc.stdout is not None and proc.stderr is not None
    stderr = proc.stderr
    err_thread = threading.Thread(target=lambda: err_chunks.append(stderr.read()), daemon=True)
    err_thread.start()
    watchdog = threading.Timer(timeout, proc.kill)  # a hung child must not hang the benchmark
    watchdog.start()
    try:
        for line in proc.stdout:
            now = time.perf_counter()
            line = line.rstrip("\n")
            lines.append((now, line))
            if on_line is not None:
                on_line(now, line)
        proc.wait()
    finally:
        watchdog.cancel()
    err_thread.join()
    run = StreamedRun(time.perf_counter() - started, proc.returncode, lines, "".join(err_chunks), started)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv))[:300]} exited {proc.returncode}\n"
                         f"--- stdout (tail)\n{run.text()[-3000:]}\n--- stderr (tail)\n{run.stderr[-3000:]}")
    return run


# --- the reference entrypoint's log ---------------------------------------------------------------

EPOCH_LINE = re.compile(r"^epoch=(\d+) .*\bepoch_time_s=")


def metric_pairs(line: str) -> dict[str, str]:
    """`key=value` tokens of a metric line."""
    return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)


def epoch_lines(lines: Sequence[tuple[float, str]]) -> list[tuple[float, dict[str, str]]]:
    """(arrival time, key=value pairs) of each end-of-epoch line (`epoch=N ... epoch_time_s=...`).
    Lines may carry a prefix (`[algo-1] `) and the launcher's own text around them."""
    found = []
    for t, line in lines:
        text = line.split("] ", 1)[1] if line.startswith("[algo-") else line
        if EPOCH_LINE.match(text):
            found.append((t, metric_pairs(text)))
    return found


def wall_throughput(epochs: Sequence[tuple[float, dict[str, str]]], samples_per_epoch: int,
                    first_measured: int = 2) -> float:
    """Samples/s from the arrival times of the epoch lines: epochs `first_measured`..last, i.e.
    (epochs after the warm-up) × samples / (t[last] - t[first_measured - 1]). Everything between
    two epoch lines counts: the loop, its host syncs, evaluation and checkpoint writes."""
    if len(epochs) < first_measured:
        raise BenchError(f"need at least {first_measured} epoch lines, got {len(epochs)}")
    t_start = epochs[first_measured - 2][0]
    t_end = epochs[-1][0]
    n = len(epochs) - (first_measured - 1)
    return n * samples_per_epoch / max(t_end - t_start, 1e-9)


# --- the table ------------------------------------------------------------------------------------


@dataclass
class Row:
    group: str
    label: str
    values: list[float]
    unit: str
    baseline: bool = False
    goal: str = ""
    ratio: float | None = None
    fmt: str = "{:.3f}"

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "label": self.label, "unit": self.unit, "values": self.values,
                "median": self.median, "min": min(self.values, default=None),
                "max": max(self.values, default=None), "n": len(self.values),
                "baseline": self.baseline, "ratio": self.ratio, "goal": self.goal or None}


@dataclass
class Table:
    """Rows grouped by case; each group's ratio column is relative to its baseline row."""

    title: str
    ratio_note: str = "ratio = median / median of the group's baseline row"
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, group: str, label: str, values: Sequence[float], unit: str, *, baseline: bool = False,
            goal: str = "", fmt: str = "{:.3f}") -> Row:
        row = Row(group, label, [float(v) for v in values], unit, baseline, goal, fmt=fmt)
        base = next((r for r in self.rows if r.group == group and r.baseline), None)
        if baseline:
            row.ratio = 1.0
        elif base is not None and base.median and row.values:
            row.ratio = row.median / base.median
        self.rows.append(row)
        return row

    def render(self) -> str:
        head = ["case", "what", "median", "min", "max", "n", "unit", "ratio", "goal"]
        body = []
        last_group = None
        for r in self.rows:
            f = r.fmt.format
            cells = [r.group if r.group != last_group else "", r.label,
                     f(r.median) if r.values else "-", f(min(r.values)) if r.values else "-",
                     f(max(r.values)) if r.values else "-", str(len(r.values)), r.unit,
                     "-" if r.ratio is None else f"{r.ratio:.3f}", r.goal]
            body.append(cells)
            last_group = r.group
        widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
        numeric = {2, 3, 4, 5, 7}

        def line(cells: Sequence[str]) -> str:
            return "  ".join(str(c).rjust(w) if i in numeric else str(c).ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

        out = [f"== {self.title} ==", line(head), line(["-" * w for w in widths])]
        out += [line(c) for c in body]
        out.append(f"({self.ratio_note})")
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)

    def print(self) -> None:
        print(self.render(), flush=True)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "ratio_note": self.ratio_note, "rows": [r.to_dict() for r in self.rows],
                "notes": self.notes}


def goal_text(ok: bool, goal: str) -> str:
    return f"{goal}: {'met' if ok else 'MISSED'}"


# --- results --------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU model and cores (and the GPU when nvidia-smi names one); no torch import."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
                            "python": platform.python_version()}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        gpus = [g.strip() for g in out.stdout.splitlines() if g.strip()] if out.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired):
        gpus = []
    if gpus:
        info["gpu"] = gpus[0] if len(set(gpus)) == 1 else ", ".join(gpus)
        info["gpus"] = len(gpus)
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def result(script: str, doc: str | None, settings: Mapping[str, Any], tables: Sequence[Table],
           **extra: Any) -> dict[str, Any]:
    summary = (doc or "").strip().splitlines()[0] if doc else ""
    return {"script": script, "what": summary, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(), "settings": dict(settings), "tables": [t.to_dict() for t in tables],
            **extra}


def write_json(path: Path | None, data: Mapping[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def skip(reason: str, json_path: Path | None, script: str) -> int:
    """Report that this benchmark cannot run here (exit EXIT_SKIPPED)."""
    print(f"SKIPPED {script}: {reason}", flush=True)
    write_json(json_path, {"script": script, "skipped": reason, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return EXIT_SKIPPED


def say(message: str) -> None:
    """Progress on stderr, so stdout holds the tables."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- data -----------------------------------------------------------------------------------------


def make_image_dataset(directory: Path, samples: int, *, shape: Sequence[int] = (3, 32, 32),
                       classes: int = 10, seed: int = 0) -> Path:
    """the anchor workload: random float32 images and uniform labels, one .npz in `directory/train`
    (the layout of a `train` channel). Returns the channel directory."""
    import numpy as np

    train = directory / "train"
    train.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, *shape), dtype=np.float32)
    y = rng.integers(0, classes, size=samples, dtype=np.int64)
    np.savez(train / "images.npz", x=x, y=y)
    return train


def render_grid(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]],
                notes: Sequence[str] = ()) -> str:
    """A plain table (numbers right-aligned) for figures that are counts, not timings."""
    cells = [[str(x) for x in row] for row in rows]
    widths = [max(len(str(col[i])) for col in [headers, *cells]) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if c.replace(",", "").replace(".", "").isdigit() else c.ljust(w)
                         for c, w in zip(row, widths, strict=True)).rstrip()

    out = [f"== {title} ==", line([str(h) for h in headers]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    out += [f"note: {n}" for n in notes]
    return "\n".join(out)
