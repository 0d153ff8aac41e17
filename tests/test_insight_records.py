"""Records that answer questions and last: the record format version (today's records still read),
`describe`, `list` at 80 columns, the summary's paths, `launch prune`, `launch --version`."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from launcher.backends.base import JobDescription, JobStatus
from launcher.backends.local.store import RECORD_FORMAT_VERSION, JobDir, JobStore
from launcher.cli.main import main
from launcher.cli.render.summary import render_summary
from tests.conftest import CapturedEnv
from tests.test_insight_metrics import make_curves_source, run_job
from tests.test_insight_progress import write_local_job

# job.json exactly as the launcher wrote it before records had a format version (trimmed of
# transitions and deviations only).
TODAYS_RECORD = {
    "name": "demo-a", "backend": "local", "status": "Completed", "secondary_status": "Completed",
    "created": "2026-12-03T17:33:30.802+00:00", "started": "2026-12-03T17:33:30.848+00:00",
    "ended": "2026-12-03T17:33:58.705+00:00",
    "transitions": [{"status": "Training", "start": "2026-12-03T17:33:30.850+00:00", "message": ""},
                    {"status": "Completed", "start": "2026-12-03T17:33:58.705+00:00", "message": ""}],
    "failure_reason": None, "exit_code": 0,
    "metrics": {"train_loss": 0.042135, "val_loss": 0.0611207, "val_accuracy": 0.983333, "lr": 0.01,
                "epoch": 3.0, "step": 69.0, "samples_per_sec": 1094.6, "epoch_time_s": 1.313},
    "artifacts": {"model": "/tmp/ins/home/jobs/demo-a/output/model.tar.gz",
                  "output": "/tmp/ins/home/jobs/demo-a/output/output.tar.gz"},
    "instance_type": "ml.m5.xlarge", "instance_count": 1, "spot": False, "training_seconds": 28,
    "billable_seconds": None,
    "deviations": [{"aspect": "hostname", "real": "EC2 name; algo-N in resourceconfig",
                    "local": "this machine's name"}],
    "details": {"job_dir": "/tmp/ins/home/jobs/demo-a", "processes_per_host": 1,
                "source_dir": "/work/main/entrypoints", "checkpointing": True,
                "hyperparameters": {"epochs": "3"}, "code_sha256": "3517676ae913f122e59017776f1d"},
    "interruptions": 0, "spot_savings_percent": None,
}


def _fresh(env: CapturedEnv) -> None:
    env.stdout.seek(0)
    env.stdout.truncate()


# -- the record format ----------------------------------------------------------------------------


def test_a_record_in_todays_format_reads_and_is_rewritten_with_a_version(cli_env, tmp_path):
    job = tmp_path / "home" / "jobs" / "demo-a"
    job.mkdir(parents=True)
    (job / "job.json").write_text(json.dumps(TODAYS_RECORD))
    desc = JobDir(job).load()
    assert desc.status is JobStatus.COMPLETED and desc.metrics["val_accuracy"] == 0.983333
    for argv in (["status", "demo-a"], ["describe", "demo-a"], ["list", "--local"],
                 ["metrics", "demo-a"]):
        _fresh(cli_env)
        assert main(argv, cli_env) == 0, argv
    assert "--epochs" in _describe(cli_env, "demo-a")
    JobDir(job).save(desc)
    saved = json.loads((job / "job.json").read_text())
    assert saved["format_version"] == RECORD_FORMAT_VERSION == 1
    assert {k: v for k, v in saved.items() if k != "format_version"} == TODAYS_RECORD


def test_a_record_from_a_newer_launcher_reads_with_a_warning(tmp_path, caplog):
    job = tmp_path / "job"
    job.mkdir()
    (job / "job.json").write_text(json.dumps({**TODAYS_RECORD, "format_version": 99,
                                              "a_future_field": {"x": 1}}))
    with caplog.at_level(logging.WARNING):
        desc = JobDir(job).load()
    assert desc.name == "demo-a" and "newer launcher" in caplog.text


# -- describe -------------------------------------------------------------------------------------


def _describe(env: CapturedEnv, name: str) -> str:
    _fresh(env)
    assert main(["describe", name], env) == 0
    return env.out


def test_describe_shows_what_ran_with_what_and_where(cli_env, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    src = make_curves_source(tmp_path)
    desc = run_job(cli_env, src, "described", 64, spot=True)  # a rehearsal of spot checkpoints
    details = desc["details"]
    assert (details["total_steps"], details["steps_per_epoch"], details["epochs"]) == (12, 4, 3)
    record = Path(details["job_dir"]) / "job.json"
    data = json.loads(record.read_text())
    # A cloud job's cost record, as the SageMaker backend computes it (shown when present).
    data["details"]["cost"] = {"usd": 0.42, "billable_seconds": 1074, "price_per_hour": 1.408,
                               "instance_count": 1, "price_source": "catalogue"}
    record.write_text(json.dumps(data))
    out = _describe(cli_env, "described")
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines)
    text = re.sub(r"\s+", " ", out)
    assert "entrypoint curves.py" in text
    assert f"source {src}" in text.replace("/ ", "/")  # a folded path, joined back
    assert "image this machine's Python:" in text
    assert "plan 12 optimizer steps (4 per epoch × 3 epochs), global batch 64" in text
    assert "--epochs 3" in text and "--batch_size 64" in text
    assert f"train {tmp_path / 'curves-data'}" in text.replace("/ ", "/")
    assert "output " + str(tmp_path / "home" / "jobs") in text.replace("/ ", "/")
    assert "checkpoints " + details["job_dir"] + "/checkpoints-s3" in text.replace("/ ", "/")
    assert "cost $0.42 (1,074 billable s × $1.408/h × 1); prices: catalogue" in text


# -- list and the summary at 80 columns -----------------------------------------------------------


LONG = ["mnist-cnn-resnet-sweep-lr-0p05-warmup-5-20261123-101112-ab12",
        "mnist-cnn-resnet-sweep-lr-0p10-warmup-5-20261123-101113-cd34"]


def _name_cells(out: str) -> list[str]:
    """The job column, each wrapped name joined back from its lines."""
    names: list[str] = []
    for line in out.splitlines()[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 1:
            names.append(cells[0])
        elif cells[0]:
            names[-1] += cells[0]
    return names


def test_list_fits_80_columns_without_cutting_names_and_wide_shows_everything(cli_env, tmp_path,
                                                                              monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for name in LONG:
        write_local_job(tmp_path / "home", name, status="Completed")
    assert main(["list", "--local"], cli_env) == 0
    out = cli_env.out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert sorted(_name_cells(out)) == sorted(LONG)
    for line in out.splitlines()[2:]:
        first = re.split(r"\s{2,}", line.strip())[0]
        assert first.endswith("-") or first in LONG or any(n.endswith(first) for n in LONG)
    _fresh(cli_env)
    assert main(["list", "--local", "--wide"], cli_env) == 0
    rows = [line for line in cli_env.out.splitlines() if "Completed" in line]
    assert all(any(name in row for name in LONG) for row in rows) and len(rows) == 2
    assert "train_loss=0.94" in cli_env.out


def test_the_summary_breaks_paths_only_after_a_slash(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    path = ("/home/someone/projects/vision/experiments/2026-11/launcher-home/jobs/"
            "mnist-cnn-resnet-sweep-lr-0p05-20261123-101112-ab12/output/model.tar.gz")
    uri = "s3://my-bucket/launcher/checkpoints/mnist-cnn-resnet-sweep-lr-0p05-20261123-101112-ab12/"
    desc = JobDescription(name="j", backend="local", status=JobStatus.COMPLETED,
                          artifacts={"model": path}, details={"checkpoint_s3_uri": uri})
    env = CapturedEnv(stdout=io.StringIO(), stderr=io.StringIO(), stdout_isatty=False,
                      config_path=Path("/nonexistent"), home=Path("/nonexistent"))
    render_summary(env, desc)
    lines = env.out.splitlines()
    assert max(len(line) for line in lines) <= 80
    for label, whole in (("model", path), ("checkpoints", uri)):
        start = next(i for i, line in enumerate(lines) if line.startswith(label))
        width = len(re.match(r"\S+\s+", lines[start]).group(0))
        pieces = [lines[start][width:].rstrip()]
        for line in lines[start + 1:]:
            if line[:width].strip():
                break
            pieces.append(line[width:].rstrip())
        assert len(pieces) > 1 and "".join(pieces) == whole
        assert all(piece.endswith("/") for piece in pieces[:-1])


# -- prune ----------------------------------------------------------------------------------------


def _age_record(job: Path, days: float) -> None:
    record = json.loads((job / "job.json").read_text())
    record["ended"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    (job / "job.json").write_text(json.dumps(record))


def test_prune_removes_old_ended_jobs_only_and_dry_run_removes_nothing(cli_env, tmp_path):
    home = tmp_path / "home"
    old = write_local_job(home, "old-done", status="Completed")
    _age_record(old, 10)
    recent = write_local_job(home, "recent-done", status="Failed")
    _age_record(recent, 2)
    running = write_local_job(home, "old-running", started_ago=30 * 86400)
    # A staged channel: a read-only directory holding a hard link to the user's own file.
    original = tmp_path / "data.npz"
    original.write_bytes(b"user data")
    original.chmod(0o444)
    channel = old / "hosts" / "algo-1" / "opt" / "ml" / "input" / "data" / "train"
    channel.mkdir(parents=True)
    os.link(original, channel / "data.npz")
    channel.chmod(0o555)

    assert main(["prune", "--older-than", "7d", "--dry-run"], cli_env) == 0
    assert "would remove  old-done  Completed, ended 10d ago" in cli_env.out
    assert "would remove 1 job folder" in cli_env.out
    assert old.exists() and recent.exists() and running.exists()
    _fresh(cli_env)
    assert main(["prune", "--older-than", "7d", "--json"], cli_env) == 0
    data = json.loads(cli_env.out)
    assert [e["name"] for e in data["removed"]] == ["old-done"] and data["removed"][0]["bytes"] > 0
    assert not old.exists() and recent.exists() and running.exists()
    assert original.read_bytes() == b"user data"  # the user's file: untouched, mode included
    assert stat.S_IMODE(original.stat().st_mode) == 0o444
    assert [j.name for j in JobStore(home / "jobs").all()] != []


def test_prune_age_is_validated(cli_env, capsys):
    with pytest.raises(SystemExit) as e:
        main(["prune", "--older-than", "seven days"], cli_env)
    assert e.value.code == 2 and "is not an age" in capsys.readouterr().err


def test_version_names_the_supported_platforms(cli_env, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"], cli_env)
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert out.startswith("launcher ") and "Linux and macOS" in out and "Python >= 3.11" in out
    assert "POSIX" in out


def test_text_wraps_at_spaces_and_a_long_path_only_after_its_slashes():
    from launcher.cli.render.paths import fold_text

    text = ("real /opt/ml/…; here /tmp/home/jobs/a-long-job-name/hosts/algo-1/opt/ml/… "
            "(SM_* variables point there)")
    assert fold_text(text, 30).splitlines() == [
        "real /opt/ml/…; here", "/tmp/home/jobs/", "a-long-job-name/hosts/algo-1/",
        "opt/ml/… (SM_* variables point", "there)"]
    assert fold_text("short", 30) == "short"
