"""Local-run overhead: `launch train --local` vs the same entrypoint run directly, same env and data.

A tiny job (the reference entrypoint on the bundled digits, 1 epoch, ``--no-spot``; the reference
entrypoint checkpoints into the job's tree all the same, in both runs). "Directly" means what the
launcher's container driver itself runs, without the launcher: ``python train.py --key value ...``
in the code directory of a finished local job's emulated /opt/ml tree (code, config files and data
channels already staged), with the environment built by the launcher's own container module
(``launcher.backends.local.container``: SM_* variables, SM_TRAINING_ENV, argv) for that job, and,
where the job ran with /opt/ml as its own tree, in the same PID + mount namespaces. Both are timed
as whole processes, spawn to exit, alternating; the extra time is launch - direct per pair (median
over repeats). Goal: <= 0.5 s extra.

Each host of a local run starts in PID and mount namespaces where /opt/ml is its own tree (or, where
the machine allows none, with relocated paths: the table's note says which). What that start costs
is measured on its own: `true` run bare, in a PID namespace, and in PID + mount namespaces with the
/opt/ml setup on the finished job's tree (the launcher's own wrapper, isolation.py).

Where the launcher's time goes is read off each job's status transitions (job.json):
staging (Starting -> Training: job dir, packaging, channel hard-links, config files), the training
process (Training -> Uploading) and artifacts (Uploading -> Completed: model.tar.gz,
output.tar.gz); the rest is the CLI's own start and end (interpreter, imports, spec, summary).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import _common as c

GOAL_S = 0.5


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1)
    c.common_arguments(p, repeats=5)
    return p.parse_args(argv)


def direct_command(job_dir: Path, base_env: dict[str, str]
                   ) -> tuple[list[str], dict[str, str], Path, str]:
    """argv, env and cwd of the entry script of a finished local job, as the local backend builds
    them (LocalBackend._commands for one host, one process), and how to show it. Where the job ran
    with /opt/ml as its tree, the direct run does too (the tree's config files name /opt/ml paths:
    run bare, the script would write to this machine's /opt/ml); its start is timed on its own."""
    from launcher.backends.local import container as ct
    from launcher.backends.local.backend import DEFAULT_REGION
    from launcher.backends.local.isolation import in_opt_ml_namespace
    from launcher.backends.local.opt_ml import OPT_ML, OptMlMount
    from launcher.backends.local.options import count_gpus
    from launcher.backends.local.store import JobDir
    from launcher.config.spec import JobSpec

    job = JobDir(job_dir)
    spec = JobSpec.model_validate_json(job.spec_path.read_text())
    desc = job.load()
    host = "algo-1"
    layout = job.host_layout(host)
    cfg = ct.ContainerConfig(
        job_name=job.name, region=spec.aws.region or base_env.get("AWS_REGION") or DEFAULT_REGION,
        instance_type=desc.instance_type or "", hosts=[host], current_host=host, channels=list(spec.data),
        hyperparameters=spec.encoded_hyperparameters(), entry_script=spec.entrypoint,
        environment=spec.environment, checkpointing=False, num_gpus=count_gpus(),
        distributed=False, processes_per_host=None, input_mode=spec.compute.input_mode,
    )
    argv = ct.entry_command(sys.executable, cfg)
    shown = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv))
    if not str(desc.details.get("opt_ml", "")).startswith("each host"):
        return argv, ct.container_environment(layout, cfg, base_env), layout.code_dir, \
            f"{shown} (cwd {layout.code_dir.name}/)"
    view = ct.HostLayout(OPT_ML, host)
    mount = OptMlMount(layout.root, job_dir / "hosts" / host / "opt-stash")
    return (in_opt_ml_namespace(argv, mount, view.code_dir), ct.container_environment(view, cfg, base_env),
            layout.root, f"{shown} (cwd {view.code_dir}, in the job's mount namespace)")


def wrapper_commands(job_dir: Path) -> dict[str, list[str]]:
    """`true` as a host's command starts: bare, in a PID namespace, in PID + mount namespaces."""
    from launcher.backends.local.isolation import in_opt_ml_namespace, mount_wrapper, namespace_wrapper
    from launcher.backends.local.opt_ml import OPT_ML, OptMlMount
    from launcher.backends.local.store import JobDir

    found = {"bare (no namespace)": ["true"]}
    if (pid := namespace_wrapper()) is not None:
        found["PID namespace"] = [*pid, "true"]
    if mount_wrapper() is not None:
        tree = JobDir(job_dir).host_layout("algo-1").root
        mount = OptMlMount(tree, job_dir / "hosts" / "algo-1" / "opt-stash")
        found["PID + mount namespace, /opt/ml set up"] = in_opt_ml_namespace(["true"], mount, OPT_ML)
    return found


def phases(record: dict[str, Any]) -> dict[str, float]:
    """Seconds per phase from the job's transitions (first occurrence of each status)."""
    at: dict[str, datetime] = {}
    for t in record.get("transitions", []):
        at.setdefault(t["status"], datetime.fromisoformat(t["start"]))
    out = {}
    for name, a, b in (("staging", "Starting", "Training"), ("training process", "Training", "Uploading"),
                       ("artifacts", "Uploading", "Completed")):
        if a in at and b in at:
            out[name] = (at[b] - at[a]).total_seconds()
    if "Starting" in at and "Completed" in at:
        out["job"] = (at["Completed"] - at["Starting"]).total_seconds()
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    job_args = ["train", "--local", "--epochs", str(args.epochs), "--warmup-epochs", "0", "--no-spot",
                "--json"]
    if args.quick:
        job_args += ["--hp", "model=mlp"]
    launch = [*c.launch_command(), *job_args]
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        home = Path(tmp) / "home"
        env = c.launcher_env(home, AWS_REGION="us-east-1")
        c.say("warm-up: launch train --local (its job tree is reused for the direct runs)")
        _, first = c.timed(launch, env=env, cwd=Path(tmp))
        record = json.loads(first.stdout)
        job_dir = home / "jobs" / record["name"]
        direct_argv, direct_env, code_dir, shown = direct_command(job_dir, {**env, "PWD": os.getcwd()})
        mode = record["details"].get("opt_ml", "?")
        starts: dict[str, list[float]] = {}
        for _ in range(max(3, args.repeats * 4)):
            for name, argv in wrapper_commands(job_dir).items():
                starts.setdefault(name, []).append(c.timed(argv, env=env, cwd=Path(tmp))[0])
        if not args.quick:
            c.timed(direct_argv, env=direct_env, cwd=code_dir)  # warm-up of the direct path
        times: dict[str, list[float]] = {"launch": [], "direct": []}
        extra: list[float] = []
        own: list[float] = []  # launch minus its own training process: the launcher's time alone
        split: dict[str, list[float]] = {}
        for r in range(args.repeats):
            order = ["launch", "direct"] if r % 2 == 0 else ["direct", "launch"]
            got: dict[str, float] = {}
            for name in order:
                c.say(f"{name} ({r + 1}/{args.repeats})")
                if name == "launch":
                    got[name], proc = c.timed(launch, env=env, cwd=Path(tmp))
                    for k, v in phases(json.loads(proc.stdout)).items():
                        split.setdefault(k, []).append(v)
                else:
                    got[name], _ = c.timed(direct_argv, env=direct_env, cwd=code_dir)
                times[name].append(got[name])
            extra.append(got["launch"] - got["direct"])
            if "job" in split and "training process" in split:
                split.setdefault("CLI start and end", []).append(got["launch"] - split["job"][-1])
                own.append(got["launch"] - split["training process"][-1])
    table = c.Table(f"Local-run overhead: tiny job (reference entrypoint, bundled digits, {args.epochs} "
                    "epoch, --no-spot), whole processes", "ratio = median / median of the direct run")
    group = "tiny job"
    direct_median = c.Row("", "", times["direct"], "s").median
    table.add(group, "entrypoint run directly", times["direct"], "s", baseline=True)
    table.add(group, "launch train --local", times["launch"], "s")
    extra_median = c.Row("", "", extra, "s").median
    table.add(group, "extra (launch - direct, paired)", extra, "s",
              goal=c.goal_text(extra_median <= GOAL_S, f"<= {GOAL_S} s"))
    table.rows[-1].ratio = extra_median / direct_median if direct_median else None
    if own:
        table.add(group, "launcher's own time (launch - its training process)", own, "s")
        table.rows[-1].ratio = table.rows[-1].median / direct_median if direct_median else None
    for name in ("CLI start and end", "staging", "training process", "artifacts"):
        if name in split:
            table.add("launch, by phase", name, split[name], "s")
    for i, (name, values) in enumerate(starts.items()):
        table.add("a host's start (`true`)", name, values, "s", baseline=i == 0)
    table.notes.append(f"direct run: {shown}")
    table.notes.append(f"/opt/ml of the launched runs: {mode}")
    table.notes.append("phases come from job.json transitions (millisecond timestamps); when the paired "
                       "extra is well above the launcher's own time, the training process itself ran "
                       "slower under launch (machine noise, or the launcher's process competing for cores)")
    table.print()
    settings = {"repeats": args.repeats, "launch_argv": launch, "epochs": args.epochs, "quick": args.quick}
    c.write_json(args.json, c.result("local_overhead", __doc__, settings, [table], paired_extra_s=extra))
    return 0


if __name__ == "__main__":
    sys.exit(main())
