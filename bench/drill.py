"""Preemption drill at scale: N random spot interruptions of a tiny local job, each drill's final model
compared bit for bit with one uninterrupted reference run; how many drills ended in an exact match
and the mean lost iterations per interruption (goal: every drill matches).

Design: one uninterrupted reference job, then ceil(N / K) drills of K interruptions each (default
N=100, K=5: 20 drills). Several interruptions per drill cost fewer process starts and model
comparisons than 100 one-interruption drills (the default run: about 6 minutes on 2 cores), and
they exercise resumes of resumed runs; ``--per-drill 1`` gives the one-interruption-per-drill
variant. Each drill is a local job run through the launcher's Python API exactly as
``launch train --local --simulate-interruptions K`` runs it (LocalBackend, SIGKILL of the whole
process tree, restart under the same name with the checkpoint location restored first); its
``model.tar.gz`` is compared with the reference's by ``launcher.drill.run.compare_models``.

When the kills happen (``--kill-window``):
- ``training`` (default): each attempt is killed at a uniformly random moment of the training it has
  left, measured from its first step line (or resume line) and scaled by the reference run's
  training time and the steps still to do, so every interruption hits training: warmup, mid-epoch,
  checkpoint writes, evaluation; kills during interpreter start would redo nothing.
- ``wall``: the CLI's rule, a uniformly random time in 20-90 % of the reference job's duration after
  the attempt's process starts (many kills then land before the first step).
An interruption that would fall after the attempt finished does not happen; the table says how many.

Lost iterations per interruption: the last ``step=N`` line before the kill minus the optimizer step
the restart resumed from (launcher.drill.run's measure; exact because the job logs every step).

The job: the reference entrypoint on the bundled digits with the MLP, 3 epochs of 23 steps, batch
64, 1 warmup epoch + cosine, a checkpoint every 5 steps, a log line every step, on the CPU
(CUDA_VISIBLE_DEVICES="": the bitwise promise is for CPU).
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

from launcher.drill.run import RandomInterrupter, TrackingInterrupter
from launcher.runner import submit_spec

JOB = {"epochs": 3, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "lr_schedule": "cosine",
       "warmup_epochs": 1, "model": "mlp", "log_every_steps": 1, "checkpoint_every_steps": 5}
QUICK_JOB = {**JOB, "epochs": 2}


class Recorder(TrackingInterrupter):
    """TrackingInterrupter that also notes when each attempt printed its last step line."""

    def __init__(self) -> None:
        super().__init__()
        self.last_step_at: list[float | None] = []

    def arm(self, attempt: int) -> None:
        super().arm(attempt)
        self.last_step_at.append(None)

    def observe(self, line: str) -> None:
        super().observe(line)
        if "step=" in line and self.last_step_at:
            self.last_step_at[-1] = time.monotonic()


class TrainingPhaseInterrupter(Recorder):
    """Kill attempt i at fraction f_i of the training time it has left (see the module docstring)."""

    def __init__(self, fractions: list[float], train_seconds: float, total_steps: int) -> None:
        super().__init__()
        self.fractions = fractions
        self.train_seconds = train_seconds
        self.total_steps = max(total_steps, 1)

    def should_kill(self, elapsed: float, line: str | None) -> bool:
        i = len(self.attempts) - 1
        if not 0 <= i < len(self.fractions):
            return False
        a = self.attempts[i]
        if a.resumed_at is None:
            return False  # not training yet
        left = 1.0 - min((a.resumed_step or 0) / self.total_steps, 1.0)
        return time.monotonic() - a.resumed_at >= self.fractions[i] * self.train_seconds * left


class WallInterrupter(RandomInterrupter, Recorder):
    """Kill attempt i `delays[i]` seconds after its process started (the CLI's rule)."""


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--interruptions", type=int, default=None, help="N, in all (default 100; --quick 2)")
    p.add_argument("--per-drill", type=int, default=None, help="K per drill (default 5; --quick 2)")
    p.add_argument("--kill-window", choices=("training", "wall"), default="training")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", action="store_true", help="keep the job directories (printed at the end)")
    c.common_arguments(p, repeats=1)  # here: runs of the uninterrupted job (1 = the reference alone)
    args = p.parse_args(argv)
    args.interruptions = args.interruptions if args.interruptions is not None else (2 if args.quick else 100)
    args.per_drill = args.per_drill if args.per_drill is not None else (2 if args.quick else 5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from launcher.backends.base import JobStatus
    from launcher.backends.local.backend import LocalBackend
    from launcher.backends.local.options import LocalOptions
    from launcher.config.layers import resolve_spec
    from launcher.drill.run import compare_models

    if args.interruptions < 1 or args.per_drill < 1:
        print("--interruptions and --per-drill must be >= 1", file=sys.stderr)
        return 2
    drills = math.ceil(args.interruptions / args.per_drill)
    plan = [args.per_drill] * (args.interruptions // args.per_drill)
    if args.interruptions % args.per_drill:
        plan.append(args.interruptions % args.per_drill)
    hps = QUICK_JOB if args.quick else JOB
    root = Path(tempfile.mkdtemp(prefix="bench-drill-"))
    jobs = root / "jobs"
    env = c.clean_env(PYTHONUNBUFFERED="1", CUDA_VISIBLE_DEVICES="", LAUNCHER_HOME=str(root),
                      AWS_REGION="us-east-1")
    spec = resolve_spec(config_path=root / "absent.toml", environ={}, flags={"hyperparameters": hps}).spec

    def submit(name: str, interrupter: TrackingInterrupter | None, k: int) -> Any:
        backend = LocalBackend(jobs, environ=env,
                               options=LocalOptions(interrupter=interrupter, max_interruptions=k))
        return submit_spec(backend, spec.model_copy(update={"job_name": name}), name)

    runs: list[dict[str, Any]] = []
    reruns: list[dict[str, Any]] = []
    try:
        c.say("reference run (uninterrupted)")
        recorder = Recorder()
        t0 = time.monotonic()
        reference = submit("drill-reference", recorder, 0)
        reference_seconds = time.monotonic() - t0
        if reference.status is not JobStatus.COMPLETED:
            raise c.BenchError(f"the reference run ended {reference.status}: {reference.failure_reason}")
        first_step = recorder.attempts[0].resumed_at
        last_step = recorder.last_step_at[0]
        total_steps = recorder.attempts[0].last_step
        train_seconds = (last_step - first_step) if first_step and last_step else reference_seconds
        reference_times = [reference_seconds]
        for r in range(1, args.repeats):  # uninterrupted reruns: the baseline of "exact"
            c.say(f"uninterrupted rerun {r}/{args.repeats - 1}")
            t0 = time.monotonic()
            rerun = submit(f"drill-rerun-{r}", None, 0)
            reference_times.append(time.monotonic() - t0)
            same = compare_models(reference, rerun) if rerun.status is JobStatus.COMPLETED else None
            reruns.append({"job": rerun.name, "match": bool(same and same.match),
                           "detail": same.detail if same else f"ended {rerun.status}"})
        rng = random.Random(args.seed)
        for d, k in enumerate(plan):
            c.say(f"drill {d + 1}/{drills}: {k} interruption(s)")
            if args.kill_window == "training":
                interrupter: Recorder = TrainingPhaseInterrupter([rng.uniform(0.0, 0.95) for _ in range(k)],
                                                                 train_seconds, total_steps)
            else:
                interrupter = WallInterrupter([rng.uniform(0.2 * reference_seconds, 0.9 * reference_seconds)
                                               for _ in range(k)])
            t0 = time.monotonic()
            job = submit(f"drill-{d:03d}", interrupter, k)
            seconds = time.monotonic() - t0
            if job.status is JobStatus.COMPLETED:
                comparison = compare_models(reference, job)
                match, detail = comparison.match, comparison.detail
            else:
                match, detail = False, f"the drill job ended {job.status}: {job.failure_reason}"
            runs.append({"job": job.name, "requested": k, "interruptions": job.interruptions,
                         "lost_iterations": interrupter.lost_iterations(),
                         "restart_seconds": interrupter.restart_seconds(), "seconds": seconds,
                         "match": match, "detail": detail})
            if not args.keep:
                shutil.rmtree(jobs / job.name, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    lost = [n for r in runs for n in r["lost_iterations"]]
    happened = sum(r["interruptions"] for r in runs)
    matches = sum(1 for r in runs if r["match"])
    per_restart = [r["restart_seconds"] / r["interruptions"] for r in runs if r["interruptions"]]
    mean_lost = statistics.fmean(lost) if lost else float("nan")
    table = c.Table(f"Preemption drill: {len(runs)} drills x up to {args.per_drill} interruptions "
                    f"({args.interruptions} requested, kill window: {args.kill_window}), tiny job "
                    f"(digits MLP, {hps['epochs']} epochs x 23 steps, checkpoint every "
                    f"{hps['checkpoint_every_steps']} steps), CPU",
                    "ratio = median / median of the group's baseline row")
    table.add("per interruption", "lost iterations (steps re-done)", lost, "steps", fmt="{:.1f}")
    table.add("per interruption", "restart: kill -> resume line", per_restart, "s")
    table.add("job wall time", "reference (uninterrupted)", reference_times, "s", baseline=True)
    table.add("job wall time", "drill job", [r["seconds"] for r in runs], "s")
    table.notes.append(f"EXACT MATCH: {matches} of {len(runs)} drills (goal: all) -> "
                       f"{'met' if matches == len(runs) else 'MISSED'}")
    table.notes.append(f"interruptions that happened: {happened} of {args.interruptions} requested"
                       + ("" if happened == args.interruptions else
                          f" ({args.interruptions - happened} fell after the attempt had finished)"))
    table.notes.append(f"mean lost iterations per interruption: {mean_lost:.2f} steps "
                       f"(checkpoint every {hps['checkpoint_every_steps']} steps)")
    if reruns:
        same = sum(1 for r in reruns if r["match"])
        table.notes.append(f"uninterrupted reruns identical to the reference: {same} of {len(reruns)}")
    for r in runs:
        if not r["match"]:
            table.notes.append(f"MISMATCH {r['job']}: {r['detail']}")
    table.print()
    if args.keep:
        print(f"job directories kept under {jobs}")
    settings = {"interruptions": args.interruptions, "per_drill": args.per_drill, "drills": len(runs),
                "kill_window": args.kill_window, "seed": args.seed, "job": hps}
    c.write_json(args.json, c.result("drill", __doc__, settings, [table], matches=matches, drills=len(runs),
                                     interruptions_happened=happened, mean_lost_iterations=mean_lost,
                                     runs=runs, reruns=reruns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
