"""Run every benchmark of bench/, print their tables and record all results in bench/results/latest.json.

    ./dev bench                      # what the README's performance section quotes
    .venv/bin/python bench/run_all.py [--quick] [--repeats N] [--only NAME ...] [--skip NAME ...]

Each script runs as its own process (so one's imports cannot skew another's timings), in this
order: cli_latency, local_overhead, submit_latency, checkpoint_cost, train_throughput, drill.
train_throughput runs on the GPU when torch sees one (``--device cuda``, the anchor workload)
and otherwise on the CPU with its scaled-down workload. A script that cannot run here (exit status
3, e.g. no SageMaker SDK) is recorded as skipped; a failing one as failed, and the others still run.
The JSON holds the date, the machine (CPU model, cores, GPU name when present, torch version) and
each script's tables and raw figures; a dated copy is kept next to it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c

SCRIPTS = ("cli_latency", "local_overhead", "submit_latency", "checkpoint_cost", "train_throughput", "drill")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="every script's smallest setting (a smoke run)")
    p.add_argument("--repeats", type=int, help="passed to every script (default: each script's own)")
    p.add_argument("--only", nargs="+", choices=SCRIPTS, metavar="NAME",
                   help=f"run only these: {', '.join(SCRIPTS)}")
    p.add_argument("--skip", nargs="+", choices=SCRIPTS, metavar="NAME", default=[], help="leave these out")
    p.add_argument("--drill-interruptions", type=int, help="drill.py --interruptions (default 100)")
    p.add_argument("--out", type=Path, default=c.RESULTS_DIR / "latest.json")
    return p.parse_args(argv)


def torch_probe() -> dict[str, Any]:
    code = ("import json, torch; ok = torch.cuda.is_available(); "
            "print(json.dumps({'torch': torch.__version__, 'cuda': ok, 'cuda_version': torch.version.cuda, "
            "'gpu': torch.cuda.get_device_name(0) if ok else None}))")
    out = subprocess.run([c.python(), "-c", code], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return {"torch": None, "cuda": False, "error": out.stderr.strip()[-300:]}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def summary_lines(name: str, data: dict[str, Any]) -> list[str]:
    lines = []
    for i, table in enumerate(data.get("tables", [])):
        for row in table["rows"]:
            # every goal; other ratios of each script's main (first) table only
            if row.get("goal") or (i == 0 and row.get("ratio") is not None and not row.get("baseline")):
                ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3f}"
                goal = f"  [{row['goal']}]" if row.get("goal") else ""
                lines.append(f"{name:17} {row['group']:>28} | {row['label']:42} median {row['median']:.4g} "
                             f"{row['unit']:9} ratio {ratio}{goal}")
    for note in (n for t in data.get("tables", []) for n in t.get("notes", [])):
        if note.startswith(("EXACT MATCH", "goal 0 code bytes", "mean lost")):
            lines.append(f"{name:17} {note}")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    selected = [s for s in (args.only or SCRIPTS) if s not in args.skip]
    probe = torch_probe()
    info = c.machine()
    if probe.get("gpu"):
        info["gpu"] = probe["gpu"]
    info["torch"] = probe.get("torch")
    info["cuda"] = probe.get("cuda")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    gpu_text = f", GPU {info['gpu']}" if info.get("gpu") else ", no GPU"
    print(f"bench: {started} on {info['cpu']} ({info['cores']} cores{gpu_text}), torch {info['torch']}",
          flush=True)
    results: dict[str, Any] = {}
    durations: dict[str, float] = {}
    failed = []
    with tempfile.TemporaryDirectory(prefix="bench-all-") as tmp:
        for name in selected:
            out = Path(tmp) / f"{name}.json"
            cmd = [c.python(), str(c.BENCH_DIR / f"{name}.py"), "--json", str(out)]
            if args.quick:
                cmd.append("--quick")
            if args.repeats is not None:
                cmd += ["--repeats", str(args.repeats)]
            if name == "train_throughput":
                cmd += ["--device", "cuda" if probe.get("cuda") else "cpu"]
            if name == "drill" and args.drill_interruptions is not None:
                cmd += ["--interruptions", str(args.drill_interruptions)]
            print(f"\n### {name}: {' '.join(Path(x).name if i < 2 else x for i, x in enumerate(cmd))}",
                  flush=True)
            t0 = time.perf_counter()
            rc = subprocess.run(cmd, cwd=c.REPO, stdin=subprocess.DEVNULL).returncode
            durations[name] = round(time.perf_counter() - t0, 1)
            if rc == 0 and out.exists():
                results[name] = json.loads(out.read_text())
            elif rc == c.EXIT_SKIPPED:
                results[name] = json.loads(out.read_text()) if out.exists() else {"skipped": "exit 3"}
            else:
                results[name] = {"failed": f"exit status {rc} (its output is above)"}
                failed.append(name)
    record = {"date": started, "machine": info, "command": [Path(sys.argv[0]).name, *(argv or sys.argv[1:])],
              "quick": args.quick, "durations_s": durations, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    c.write_json(args.out, record)
    dated = args.out.with_name(time.strftime("%Y%m%d-%H%M%S") + ("-quick" if args.quick else "") + ".json")
    c.write_json(dated, record)
    print("\n### summary (ratios and goals; full tables above)")
    for name in selected:
        data = results.get(name, {})
        if "skipped" in data:
            print(f"{name:17} skipped: {data['skipped']}")
        elif "failed" in data:
            print(f"{name:17} FAILED: {data['failed']}")
        else:
            print("\n".join(summary_lines(name, data)))
    print(f"\nresults: {args.out} (and {dated.name}); durations: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in durations.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
