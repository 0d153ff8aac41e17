"""Training throughput: the reference entrypoint vs the tuned loop of bench/README.md, side by side.

Measures samples/s after warm-up (epochs 2..E) of the reference entrypoint (entrypoints/train.py) and
of the tuned loop (bench/tuned_loop.py) on the same workload, the same device and the same launch
method, at each batch size, eager and with torch.compile. Goal: reference >= 0.90 x tuned.

Workload (anchor figures): random 3x32x32 float32 images with 10 uniform classes, the 4-block CNN
64-128-256-512 (conv3x3 - BatchNorm - ReLU - max-pool per block, global average pool, linear head;
the entrypoint's ``build_cnn``, passed to it as ``model=cnn conv_channels=[...]``), SGD momentum 0.9,
constant LR 0.01, every sample once per epoch (the last batch may be partial). Defaults: 50,000
images on CUDA; on CPU a scaled-down 4,096 images with 16-32-64-128 channels (same code paths, a
ratio in minutes instead of hours). No validation (``val_fraction=0``) and no checkpointing (no
``checkpointconfig.json``): checkpoint_cost.py measures that.

Launch method, identical for both: a fresh ``python <script>`` subprocess per run with the same
environment (this interpreter, PYTHONUNBUFFERED=1; CUDA_VISIBLE_DEVICES="" for --device cpu). The
reference runs *directly*, not through ``launch``: cwd = entrypoints/, the SM_* variables it reads
(SM_CHANNEL_TRAIN, SM_MODEL_DIR, SM_OUTPUT_DATA_DIR, SM_OUTPUT_FAILURE, SM_INPUT_CONFIG_DIR,
SM_HPS, ...) and the argv the container driver builds (``--key value`` per hyperparameter).

Clock, identical for both: this process timestamps each end-of-epoch line as it arrives; the
throughput is (E-1) x samples / (t[epoch E line] - t[epoch 1 line]). Both programs print that line
only after a host sync (the loss read-back), so every kernel of the epoch is inside the interval.
The figure each program reports itself (``samples_per_sec`` of its epoch lines, also taken after
that sync) is kept in the JSON and shown in a second table as a cross-check: the two clocks should
agree within the few milliseconds between the programs' clock reads and the line's arrival.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import _common as c

GPU_DEFAULTS = {"samples": 50_000, "channels": "64,128,256,512", "epochs": 4}
CPU_DEFAULTS = {"samples": 4_096, "channels": "16,32,64,128", "epochs": 3}
QUICK = {"samples": 512, "channels": "8,16,32,64", "epochs": 2}
ANCHOR_CHANNELS = "64,128,256,512"
GOAL = 0.90

PARAMS_RE = re.compile(r"Model: (\w+) \((\d+) parameters\)")
PRECISION_RE = re.compile(r"Precision: (\S+)")


def probe_device() -> dict[str, Any]:
    """torch's view of the GPU, asked in a subprocess (this process never imports torch)."""
    code = ("import json, torch; ok = torch.cuda.is_available(); "
            "print(json.dumps({'cuda': ok, 'torch': torch.__version__, "
            "'gpu': torch.cuda.get_device_name(0) if ok else None, "
            "'bf16': bool(ok and torch.cuda.is_bf16_supported())}))")
    out = subprocess.run([c.python(), "-c", code], capture_output=True, text=True, timeout=300)
    c.check(out, ["python", "-c", "<probe torch>"])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: cuda when torch sees a GPU, else cpu")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--compile", choices=("off", "on", "both"), default=None,
                   help="eager, compiled or both (default: both on CUDA, off on CPU and with --quick: "
                   "inductor needs minutes per process on a small CPU)")
    p.add_argument("--samples", type=int, help="training images (default 50,000 on CUDA, 4,096 on CPU)")
    p.add_argument("--channels",
                   help="CNN block widths (default 64,128,256,512 on CUDA, 16,32,64,128 on CPU)")
    p.add_argument("--epochs", type=int, help="epochs per run; the first is warm-up (default 4 CUDA, 3 CPU)")
    p.add_argument("--data", type=Path,
                   help="a train channel (directory of .npz files with x: N x 3 x H x W, y) to use "
                   "instead of generated images")
    p.add_argument("--threads", type=int,
                   help="OMP_NUM_THREADS for both programs (default: torch's choice); on a busy CPU "
                   "machine --threads 1 gives steadier ratios")
    c.common_arguments(p, repeats=3)
    return p.parse_args(argv)


def reference_run(workdir: Path, train_dir: Path, hps: dict[str, Any],
                  env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """argv and environment of the entrypoint run directly, as the container driver would start it."""
    sys.path.insert(0, str(c.REPO))
    from launcher.config import wire as hyperparams

    encoded = hyperparams.encode(hps)
    decoded = hyperparams.decode(encoded)
    model, output, config = workdir / "model", workdir / "output", workdir / "config"
    for d in (model, output / "data", config):
        d.mkdir(parents=True, exist_ok=True)
    env = dict(env)
    env.update({
        "SM_CHANNEL_TRAIN": str(train_dir),
        "SM_CHANNELS": json.dumps(["train"]),
        "SM_INPUT_DATA_DIR": str(train_dir.parent),
        "SM_INPUT_CONFIG_DIR": str(config),  # no checkpointconfig.json: checkpointing off
        "SM_MODEL_DIR": str(model),
        "SM_OUTPUT_DIR": str(output),
        "SM_OUTPUT_DATA_DIR": str(output / "data"),
        "SM_OUTPUT_FAILURE": str(output / "failure"),
        "SM_HPS": json.dumps(decoded),
        "SM_CURRENT_HOST": "algo-1",
        "SM_HOSTS": json.dumps(["algo-1"]),
        "TRAINING_JOB_NAME": "bench-throughput",
    })
    for key, value in decoded.items():
        env[hyperparams.env_name(key)] = hyperparams.argv_token(value)
    argv = [c.python(), str(c.ENTRYPOINTS / "train.py"), *hyperparams.argv_tokens(decoded)]
    return argv, env


def count_samples(directory: Path) -> int:
    """Examples in a directory of .npz files (reads only their `y` arrays)."""
    import numpy as np

    total = 0
    for path in sorted(directory.rglob("*.npz")):
        with np.load(path) as data:
            total += int(data["y"].shape[0])
    if not total:
        raise c.BenchError(f"no examples in {directory}")
    return total


def measure(run: c.StreamedRun, samples: int) -> tuple[float, float, list[str]]:
    """(wall samples/s over epochs 2.., the program's own median samples/s over epochs 2.., lines)."""
    epochs = c.epoch_lines(run.lines)
    wall = c.wall_throughput(epochs, samples)
    own = statistics.median(float(pairs["samples_per_sec"]) for _, pairs in epochs[1:])
    return wall, own, [line for _, line in run.lines]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    probe = probe_device()
    device = args.device
    if device == "auto":
        device = "cuda" if probe["cuda"] else "cpu"
    if device == "cuda" and not probe["cuda"]:
        print(f"--device cuda, but torch {probe['torch']} sees no CUDA GPU", file=sys.stderr)
        return 2
    defaults = QUICK if args.quick else (GPU_DEFAULTS if device == "cuda" else CPU_DEFAULTS)
    samples = count_samples(args.data) if args.data else (args.samples or defaults["samples"])
    channels = args.channels or defaults["channels"]
    epochs = args.epochs or defaults["epochs"]
    if epochs < 2:
        print("--epochs must be >= 2 (the first epoch is warm-up)", file=sys.stderr)
        return 2
    compile_mode = args.compile or ("both" if device == "cuda" and not args.quick else "off")
    compiles = {"off": [False], "on": [True], "both": [False, True]}[compile_mode]
    env = c.clean_env(PYTHONUNBUFFERED="1")
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    scaled = samples != GPU_DEFAULTS["samples"] or channels != ANCHOR_CHANNELS
    where = f"{device}" + (f" ({probe['gpu']})" if device == "cuda" else "")
    title = (f"Training throughput, reference entrypoint vs tuned loop: {where}, {samples:,} images 3x32x32, "
             f"CNN {channels.replace(',', '-')}, epochs 2..{epochs} measured")
    table = c.Table(title, "ratio = reference / tuned (median samples/s); goal >= 0.90")
    own_table = c.Table("Throughput as each program reports it (its own epoch clock; for information)",
                        "ratio = reference / tuned")
    if scaled:
        table.notes.append("scaled-down workload (anchor figures: 50,000 images, channels 64-128-256-512); "
                           "compare the ratio, not the absolute figures")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        tmpdir = Path(tmp)
        if args.data:
            train_dir = args.data
        else:
            c.say(f"generating {samples:,} random images in {tmpdir}")
            train_dir = c.make_image_dataset(tmpdir / "data", samples)
        seen_params: dict[str, set[str]] = {"tuned": set(), "reference": set()}
        seen_precision: dict[str, set[str]] = {"tuned": set(), "reference": set()}
        for batch in args.batch_sizes:
            for compiled in compiles:
                group = f"batch {batch}, {'compile' if compiled else 'eager'}"
                hps: dict[str, Any] = {
                    "epochs": epochs, "batch_size": batch, "lr": 0.01, "momentum": 0.9,
                    "optimizer": "sgd", "lr_schedule": "constant", "model": "cnn",
                    "conv_channels": [int(x) for x in channels.split(",")], "val_fraction": 0.0,
                    "compile": compiled, "amp": "auto",
                }
                tuned_argv = [c.python(), str(c.BENCH_DIR / "tuned_loop.py"), "--data", str(train_dir),
                              "--epochs", str(epochs), "--batch-size", str(batch), "--lr", "0.01",
                              "--momentum", "0.9", "--channels", channels, "--device", device]
                if compiled:
                    tuned_argv.append("--compile")
                figures: dict[str, list[float]] = {"tuned": [], "reference": []}
                own: dict[str, list[float]] = {"tuned": [], "reference": []}
                for r in range(args.repeats):
                    order = ["tuned", "reference"] if r % 2 == 0 else ["reference", "tuned"]
                    for which in order:
                        c.say(f"{group}: {which} (repeat {r + 1}/{args.repeats})")
                        if which == "tuned":
                            run = c.streamed(tuned_argv, env=env, cwd=tmpdir)
                        else:
                            workdir = tmpdir / f"ref-{batch}-{int(compiled)}-{r}"
                            ref_argv, ref_env = reference_run(workdir, train_dir, hps, env)
                            run = c.streamed(ref_argv, env=ref_env, cwd=c.ENTRYPOINTS)
                        wall, self_reported, lines = measure(run, samples)
                        figures[which].append(wall)
                        own[which].append(self_reported)
                        text = "\n".join(lines)
                        if which == "reference":
                            if m := PARAMS_RE.search(text):
                                seen_params["reference"].add(m.group(2))
                            if m := PRECISION_RE.search(text):
                                seen_precision["reference"].add(m.group(1))
                            if "Checkpoints: off" not in text:
                                table.notes.append("the reference run checkpointed (a /opt/ml/checkpoints "
                                                   "directory exists here?): its figure includes that cost")
                        else:
                            header = c.metric_pairs(lines[0]) if lines else {}
                            seen_params["tuned"].add(header.get("parameters", "?"))
                            seen_precision["tuned"].add(header.get("precision", "?"))
                        runs.append({"group": group, "program": which, "repeat": r,
                                     "wall_samples_per_sec": wall,
                                     "self_reported_samples_per_sec": self_reported,
                                     "process_seconds": run.seconds})
                ratio = statistics.median(figures["reference"]) / statistics.median(figures["tuned"])
                table.add(group, "tuned loop", figures["tuned"], "samples/s", baseline=True, fmt="{:.1f}")
                table.add(group, "reference entrypoint", figures["reference"], "samples/s",
                          goal=c.goal_text(ratio >= GOAL, ">= 0.90"), fmt="{:.1f}")
                own_table.add(group, "tuned loop", own["tuned"], "samples/s", baseline=True, fmt="{:.1f}")
                own_table.add(group, "reference entrypoint", own["reference"], "samples/s", fmt="{:.1f}")
        if seen_params["tuned"] != seen_params["reference"]:
            table.notes.append(f"parameter counts differ: tuned {sorted(seen_params['tuned'])}, "
                               f"reference {sorted(seen_params['reference'])} (not the same network)")
        else:
            table.notes.append(f"same network in both: {', '.join(sorted(seen_params['tuned']))} parameters")
        tuned_p = ", ".join(sorted(seen_precision["tuned"]))
        ref_p = ", ".join(sorted(seen_precision["reference"]))
        table.notes.append(f'precision ("off" = fp32): tuned {tuned_p}; reference {ref_p}')
    table.notes = list(dict.fromkeys(table.notes))
    table.print()
    print()
    own_table.print()
    settings = {"device": device, "gpu": probe.get("gpu"), "torch": probe["torch"], "samples": samples,
                "channels": channels, "epochs": epochs, "batch_sizes": args.batch_sizes,
                "compile": compile_mode, "repeats": args.repeats, "quick": args.quick,
                "omp_num_threads": env.get("OMP_NUM_THREADS"),
                "launch_method": "subprocess per run; reference run directly with SM_* variables"}
    c.write_json(args.json, c.result("train_throughput", __doc__, settings, [table, own_table], runs=runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
