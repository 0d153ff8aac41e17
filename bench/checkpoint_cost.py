"""Checkpoint cost: training throughput with the default checkpoint interval vs checkpointing off,
and the time from process start to the first step, fresh and after a restart from a checkpoint.

Throughput: the same `launch train --local` job twice per repeat, alternating: with the defaults
(spot on, so the job has a checkpoint location: the reference entrypoint saves every
``checkpoint_every_steps`` = 500 optimizer steps and at every epoch end, and the launcher mirrors the
checkpoint directory to the job's checkpoint location while it runs) and with ``--no-spot`` (no
checkpoint configuration: no saves, no mirror). Samples/s over epochs 2..E are taken from the arrival
times of the entrypoint's end-of-epoch lines on the launcher's stdout, so epoch-end saves, the
fsyncs and the mirror thread all count. Goal: <= 1 % throughput loss (ratio >= 0.99).

Workload: the anchor random 3x32x32 images and CNN at batch 128 (50,000 images, 64-128-256-512 on
CUDA; 4,096 images, 16-32-64-128 on CPU), SGD, constant LR, no validation (``val_fraction=0``):
the fraction of time spent checkpointing, not a property of the data, is what is measured.

Restart: the same job through the launcher's Python API (LocalBackend with an interrupter, as the
drill does) is SIGKILLed right after its first "Checkpoint saved" line and restarted under the same
name; with ``log_every_steps=1`` every step is visible, so the time from the new process's spawn to
its first step line (after "Resumed from ...") is measured, next to the same figure for the fresh
start. The gap between the kill and the new spawn (the launcher restoring the checkpoint location
into the container) is shown too.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

from launcher.drill.run import LineInterrupter
from launcher.runner import submit_spec

GPU_DEFAULTS = {"samples": 50_000, "channels": "64,128,256,512", "epochs": 4}
CPU_DEFAULTS = {"samples": 4_096, "channels": "16,32,64,128", "epochs": 4}
QUICK = {"samples": 512, "channels": "8,16,32,64", "epochs": 2}
GOAL = 0.99
SAVED = re.compile(r"Checkpoint saved")
RESUMED = re.compile(r"[Rr]esumed from .*optimizer step (\d+)")
STEP = re.compile(r"\bstep=(\d+)")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("auto", "cpu"), default="auto",
                   help="auto: the entrypoint's choice (CUDA when torch sees a GPU); cpu hides GPUs")
    p.add_argument("--samples", type=int)
    p.add_argument("--channels")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--restarts", type=int, help="restart measurements (default: --repeats)")
    p.add_argument("--threads", type=int,
                   help="OMP_NUM_THREADS for the training processes (default: torch's choice); on a busy "
                   "CPU machine --threads 1 gives steadier ratios")
    c.common_arguments(p, repeats=3)
    return p.parse_args(argv)


def has_cuda(env: dict[str, str]) -> bool:
    import subprocess

    out = subprocess.run([c.python(), "-c", "import torch; print(torch.cuda.is_available())"], env=env,
                         capture_output=True, text=True, timeout=300)
    return out.stdout.strip().endswith("True")


def hyperparameters(epochs: int, batch: int, channels: str, **extra: Any) -> dict[str, Any]:
    return {"epochs": epochs, "batch_size": batch, "lr": 0.01, "momentum": 0.9, "optimizer": "sgd",
            "lr_schedule": "constant", "warmup_epochs": 0, "model": "cnn",
            "conv_channels": [int(x) for x in channels.split(",")], "val_fraction": 0.0, **extra}


def throughput_runs(args: argparse.Namespace, env: dict[str, str], tmp: Path, train_dir: Path,
                    hps: dict[str, Any], samples: int) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    import json

    base = [*c.launch_command(), "train", "--local", "--data", f"train={train_dir}"]
    for key, value in hps.items():
        base += ["--hp", f"{key}={json.dumps(value)}"]
    commands = {"off": [*base, "--no-spot"], "default": base}
    figures: dict[str, list[float]] = {"off": [], "default": []}
    saves: dict[str, list[int]] = {"off": [], "default": []}
    for r in range(args.repeats):
        order = ["off", "default"] if r % 2 == 0 else ["default", "off"]
        for name in order:
            c.say(f"throughput, checkpointing {name} ({r + 1}/{args.repeats})")
            run = c.streamed(commands[name], env=env, cwd=tmp)
            figures[name].append(c.wall_throughput(c.epoch_lines(run.lines), samples))
            saves[name].append(sum(1 for _, line in run.lines if SAVED.search(line)))
    return figures, saves


class Stopwatch(LineInterrupter):
    """Kills attempt 0 right after its first "Checkpoint saved" line; times every attempt from the
    spawn of its process (arm() is called just before) to its resume line and first step line."""

    def __init__(self) -> None:
        super().__init__([(SAVED.pattern, 1)])
        self.spawned: list[float] = []
        self.first_step: list[float | None] = []
        self.resumed_line: list[float | None] = []
        self.kill_time: float | None = None

    def arm(self, attempt: int) -> None:
        super().arm(attempt)
        self.spawned.append(time.perf_counter())
        self.first_step.append(None)
        self.resumed_line.append(None)

    def observe(self, line: str) -> None:
        super().observe(line)
        now = time.perf_counter()
        if RESUMED.search(line):
            if self.resumed_line[-1] is None:
                self.resumed_line[-1] = now
        elif STEP.search(line) and self.first_step[-1] is None:
            self.first_step[-1] = now

    def killed(self) -> None:
        super().killed()
        self.kill_time = time.perf_counter()


def restart_runs(count: int, env: dict[str, str], tmp: Path, train_dir: Path,
                 hps: dict[str, Any]) -> tuple[dict[str, list[float]], list[str]]:
    """`count` jobs killed once each; returns the timings and notes on runs that could not be used."""
    from launcher.backends.base import JobStatus
    from launcher.backends.local.backend import LocalBackend
    from launcher.backends.local.options import LocalOptions
    from launcher.config.layers import resolve_spec

    # Enough epochs that the job is still running when the kill after its first checkpoint lands.
    job = {**hps, "epochs": max(int(hps["epochs"]), 4), "log_every_steps": 1}
    spec = resolve_spec(config_path=tmp / "absent.toml", environ={},
                        flags={"hyperparameters": job, "data": {"train": str(train_dir)}}).spec
    out: dict[str, list[float]] = {"fresh": [], "resumed": [], "restart gap": [], "resume line": []}
    notes: list[str] = []
    attempts = 0
    while len(out["fresh"]) < count and attempts < count + 3:
        attempts += 1
        c.say(f"restart timing ({len(out['fresh']) + 1}/{count})")
        watch = Stopwatch()
        backend = LocalBackend(tmp / "jobs", environ=env,
                               options=LocalOptions(interrupter=watch, max_interruptions=1))
        name = f"bench-restart-{attempts}-{int(time.time())}"
        desc = submit_spec(backend, spec.model_copy(update={"job_name": name}), name)
        if desc.status is not JobStatus.COMPLETED:
            raise c.BenchError(f"restart run {name} ended {desc.status}: {desc.failure_reason}")
        first0 = watch.first_step[0] if watch.first_step else None
        first1 = watch.first_step[1] if len(watch.first_step) > 1 else None
        resumed = watch.resumed_line[1] if len(watch.resumed_line) > 1 else None
        if (desc.interruptions != 1 or first0 is None or first1 is None or resumed is None
                or watch.kill_time is None):
            # e.g. the job finished before the kill landed: not a restart, try again
            notes.append(f"{name}: no usable restart ({desc.interruptions} interruption(s)); rerun")
            continue
        out["fresh"].append(first0 - watch.spawned[0])
        out["resumed"].append(first1 - watch.spawned[1])
        out["resume line"].append(resumed - watch.spawned[1])
        out["restart gap"].append(watch.spawned[1] - watch.kill_time)
    return out, notes


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    env = c.clean_env(PYTHONUNBUFFERED="1")
    if args.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    cuda = args.device == "auto" and has_cuda(env)
    defaults = QUICK if args.quick else (GPU_DEFAULTS if cuda else CPU_DEFAULTS)
    samples = args.samples or defaults["samples"]
    channels = args.channels or defaults["channels"]
    epochs = args.epochs or defaults["epochs"]
    if epochs < 2:
        print("--epochs must be >= 2 (the first epoch is warm-up)", file=sys.stderr)
        return 2
    hps = hyperparameters(epochs, args.batch_size, channels)
    restarts = args.restarts if args.restarts is not None else args.repeats
    with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as tmp:
        tmpdir = Path(tmp)
        env.update(c.launcher_env(tmpdir / "home", AWS_REGION="us-east-1"))
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        c.say(f"generating {samples:,} random images")
        train_dir = c.make_image_dataset(tmpdir / "data", samples)
        figures, saves = throughput_runs(args, env, tmpdir, train_dir, hps, samples)
        timing, restart_notes = (restart_runs(restarts, env, tmpdir, train_dir, hps) if restarts > 0
                                 else ({}, []))
    steps_per_epoch = -(-samples // args.batch_size)
    table = c.Table(f"Checkpoint cost: {'cuda' if cuda else 'cpu'}, {samples:,} images 3x32x32, CNN "
                    f"{channels.replace(',', '-')}, batch {args.batch_size}, {steps_per_epoch} steps/epoch, "
                    f"epochs 2..{epochs} measured", "ratio = median / median of the group's baseline row")
    group = "throughput"
    ratio = statistics.median(figures["default"]) / statistics.median(figures["off"])
    table.add(group, "checkpointing off (--no-spot)", figures["off"], "samples/s", baseline=True,
              fmt="{:.1f}")
    table.add(group, "default interval (500 steps + epoch ends)", figures["default"], "samples/s",
              goal=c.goal_text(ratio >= GOAL, ">= 0.99 (<= 1 % loss)"), fmt="{:.1f}")
    if timing.get("fresh"):
        group = "process spawn -> first step"
        table.add(group, "fresh start", timing["fresh"], "s", baseline=True)
        table.add(group, "restart, resumed from checkpoint", timing["resumed"], "s")
        table.add(group, "  of which: spawn -> 'Resumed from' line", timing["resume line"], "s")
        table.add("launcher restart", "kill -> new process spawned", timing["restart gap"], "s")
    table.notes.append("checkpoints saved per run with the default interval: "
                       f"{sorted(set(saves['default']))}; with --no-spot: {sorted(set(saves['off']))}")
    table.notes += restart_notes
    if timing.get("fresh"):
        table.notes.append("restart timing: the same job with at least 4 epochs and log_every_steps=1 "
                           "(an operational key) so that the first step after the resume is logged")
    table.print()
    settings = {"cuda": cuda, "samples": samples, "channels": channels, "epochs": epochs,
                "batch_size": args.batch_size, "repeats": args.repeats, "restarts": restarts,
                "hyperparameters": hps, "quick": args.quick, "omp_num_threads": env.get("OMP_NUM_THREADS")}
    c.write_json(args.json, c.result("checkpoint_cost", __doc__, settings, [table], checkpoints_saved=saves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
