"""Smoke test of bench/: every benchmark script runs its smallest setting (`--quick --repeats 1`),
exits 0 and prints its table. No figure is checked: the machines are shared and noisy, and the
benchmarks report ratios for people to read (bench/README.md), they do not pass or fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
EXIT_SKIPPED = 3  # bench/_common.py: the script cannot run here (a missing optional dependency)


def run_script(name: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / name), *args], cwd=BENCH.parent, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_table(proc: subprocess.CompletedProcess[str], title: str) -> None:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert f"== {title}" in proc.stdout, proc.stdout[-2000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("case "))
    assert all(col in header for col in ("median", "min", "max", "ratio")), header


@pytest.mark.parametrize(("script", "title"), [
    ("cli_latency.py", "CLI latency"),
    ("train_throughput.py", "Training throughput"),
    ("local_overhead.py", "Local-run overhead"),
    ("checkpoint_cost.py", "Checkpoint cost"),
    ("drill.py", "Preemption drill"),
])
def test_script_runs_quick(script, title, tmp_path):
    out = tmp_path / "result.json"
    proc = run_script(script, "--quick", "--repeats", "1", "--json", str(out))
    assert_table(proc, title)
    data = json.loads(out.read_text())
    assert data["tables"] and data["machine"]["cores"] >= 1
    assert all(row["n"] >= 1 for table in data["tables"] for row in table["rows"])


def test_submit_latency_runs_quick(tmp_path):
    pytest.importorskip("sagemaker.train", reason="the SageMaker SDK (sagemaker-train) is not installed")
    proc = run_script("submit_latency.py", "--quick", "--repeats", "1", "--json", str(tmp_path / "r.json"))
    if proc.returncode == EXIT_SKIPPED:
        pytest.skip(proc.stdout.strip().splitlines()[-1])
    assert_table(proc, "Submit latency")
    assert "S3 objects written by the second identical submit" in proc.stdout


def test_run_all_records_machine_and_results(tmp_path):
    out = tmp_path / "latest.json"
    proc = run_script("run_all.py", "--quick", "--repeats", "1", "--only", "cli_latency", "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    data = json.loads(out.read_text())
    assert data["date"] and data["machine"]["cpu"] and data["machine"]["cores"] >= 1
    assert "torch" in data["machine"]
    assert data["results"]["cli_latency"]["tables"][0]["rows"]
    assert "summary" in proc.stdout
