"""`launch metrics`: every metric of finished jobs (local log files, CloudWatch), as a table, JSON
and a figure whose plotted series are checked against what each job logged."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from launcher.cli.main import main
from launcher.cli.render import curve_plot
from launcher.cli.render.curves import collect
from launcher.cli.render.progress import key_value_metrics
from tests.conftest import CapturedEnv
from tests.test_insight_progress import LINES, write_local_job

# A Script Mode script that logs like the reference entrypoint, in well under a second: the header,
# a train_loss line every 2 steps, and one line per epoch with the validation metrics.
SCRIPT = """\
import json, os
hps = json.loads(os.environ["SM_HPS"])
epochs, batch = int(hps["epochs"]), int(hps["batch_size"])
n = 256
per_epoch = -(-n // batch)
print(f"Training examples: {n} | Batch size: {batch} | Iterations per epoch: {per_epoch} | "
      f"Total iterations: {per_epoch * epochs}", flush=True)
step = 0
for epoch in range(1, epochs + 1):
    for _ in range(per_epoch):
        step += 1
        if step % 2 == 0:
            print(f"epoch={epoch} step={step} train_loss={2 / (step + 1):.6g} lr=0.01", flush=True)
    print(f"epoch={epoch} step={step} train_loss={1 / (step + 1):.6g} "
          f"val_loss={1 / (epoch * batch / 64 + 1):.6g} "
          f"val_accuracy={1 - 0.5 / (epoch + batch / 64):.6g} lr=0.01", flush=True)
"""


def make_curves_source(root: Path) -> Path:
    src = root / "curves-src"
    src.mkdir()
    (src / "curves.py").write_text(SCRIPT)
    shutil.copy(Path(__file__).parent.parent / "entrypoints" / "metric_definitions.json", src)
    data = root / "curves-data"
    data.mkdir()
    np.savez(data / "train.npz", x=np.zeros((256, 3), np.float32), y=np.zeros(256, np.int64))
    return src


def run_job(cli_env: CapturedEnv, src: Path, name: str, batch: int, epochs: int = 3,
            spot: bool = False) -> dict:
    cli_env.stdout.seek(0)
    cli_env.stdout.truncate()
    rc = main(["train", "--local", "--json", "--source-dir", str(src), "--entrypoint", "curves.py",
               "--data", f"train={src.parent / 'curves-data'}", "--epochs", str(epochs),
               "--batch-size", str(batch), "--spot" if spot else "--no-spot", "--name", name], cli_env)
    assert rc == 0
    desc = json.loads(cli_env.out)
    cli_env.stdout.seek(0)
    cli_env.stdout.truncate()
    return desc


def logged(job_dir: Path, metric: str) -> list[tuple[int, float]]:
    """(epoch, value) of every line of the job's log that carries `metric`: what the plot must show."""
    found = []
    for line in (job_dir / "logs" / "algo-1.log").read_text().splitlines():
        m = re.search(rf"\b{metric}=(\S+)", line)
        if m:
            found.append((int(re.search(r"\bepoch=(\d+)", line).group(1)), float(m.group(1))))
    return found


@pytest.fixture
def two_jobs(cli_env, tmp_path) -> dict[str, dict]:
    src = make_curves_source(tmp_path)
    return {"small-batch": run_job(cli_env, src, "small-batch", 64),
            "large-batch": run_job(cli_env, src, "large-batch", 128)}


def test_plot_of_two_jobs_draws_each_jobs_validation_accuracy_and_loss(cli_env, tmp_path, two_jobs,
                                                                       monkeypatch):
    figures = []
    real = curve_plot.build_figure

    def keep(*args, **kwargs):
        figures.append(real(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(curve_plot, "build_figure", keep)
    png = tmp_path / "out.png"
    assert main(["metrics", "small-batch", "large-batch", "--plot", str(png)], cli_env) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    assert list(panels)[:4] == ["validation accuracy", "validation loss", "training loss",
                                "learning rate"]
    assert all(ax.get_xlabel() == "epoch" for ax in panels.values())  # two jobs: epochs line them up
    for title, metric in (("validation accuracy", "val_accuracy"), ("validation loss", "val_loss")):
        lines = {line.get_label().split(" ")[0]: line for line in panels[title].get_lines()}
        assert set(lines) == {"small-batch", "large-batch"}
        for name, desc in two_jobs.items():
            expected = logged(Path(desc["details"]["job_dir"]), metric)
            assert [float(x) for x in lines[name].get_xdata()] == [e for e, _ in expected]
            assert [float(y) for y in lines[name].get_ydata()] == [v for _, v in expected]
            assert lines[name].get_ydata()[-1] == desc["metrics"][metric]  # the record agrees
    labels = [line.get_label() for line in panels["validation loss"].get_lines()]
    assert labels == ["small-batch (batch_size=64)", "large-batch (batch_size=128)"]


def test_json_and_table_list_every_metric(cli_env, two_jobs):
    assert main(["metrics", "small-batch", "--json"], cli_env) == 0
    data = json.loads(cli_env.out)
    assert data["x"] == "step" and data["plot"] is None  # one job: against its steps
    (job,) = data["jobs"]
    assert job["steps_per_epoch"] == 4 and set(job["metrics"]) == {
        "train_loss", "lr", "val_loss", "val_accuracy"}
    train = job["metrics"]["train_loss"]
    assert [p["step"] for p in train] == [2, 4, 4, 6, 8, 8, 10, 12, 12]
    assert train[2]["epoch"] == 1.0 and train[3]["epoch"] == 1.5
    cli_env.stdout.seek(0)
    cli_env.stdout.truncate()
    assert main(["metrics", "small-batch", "large-batch"], cli_env) == 0
    # small-batch: 1 - 0.5 / (epoch + 1) over epochs 1-3: last 0.875, min 0.75, max 0.875
    assert re.search(r"val_accuracy\s+3\s+0\.875\s+0\.75\s+0\.875\n", cli_env.out)


def test_a_record_of_an_earlier_version_still_gives_its_curves(cli_env, tmp_path):
    # Today's format: no format_version, no metric definitions or step plan in the details.
    write_local_job(tmp_path / "home", "old-job", status="Completed", details={}, version=None)
    assert main(["metrics", "old-job", "--json"], cli_env) == 0
    job = json.loads(cli_env.out)["jobs"][0]
    assert [p["value"] for p in job["metrics"]["val_accuracy"]] == [0.76, 0.97]
    assert job["steps_per_epoch"] == 23  # from the header line of its log
    assert job["hyperparameters"] == {"batch_size": 64, "epochs": 3, "lr": 0.01}


def test_cloud_job_metrics_come_from_its_log_stream(cli_env, aws):
    import boto3

    from tests.sagemaker_helpers import REGION, put_log_lines
    from tests.test_sagemaker_jobs import create_job

    create_job("cloud-done")
    put_log_lines(boto3.client("logs", region_name=REGION), "cloud-done/algo-1-1700000000", LINES)
    assert main(["metrics", "cloud-done", "--cloud", "--region", REGION, "--json"], cli_env) == 0
    job = json.loads(cli_env.out)["jobs"][0]
    assert job["backend"] == "sagemaker"
    assert [(p["step"], p["value"]) for p in job["metrics"]["val_loss"]] == [(23, 1.09), (46, 0.11)]


def test_series_parsing_rules():
    lines = ["[algo-1] Training examples: 8 | Batch size: 4 | Iterations per epoch: 2 | "
             "Total iterations: 6", "noise a=b", "step=1 lr=0.1", "epoch=1 step=2 loss=0.5",
             "step=1 lr=0.2", "loss=0.25"]
    curves = collect("j", "local", lines, parse=key_value_metrics)
    assert curves.steps_per_epoch == 2
    assert curves.xy("lr", "step") == ([1.0], [0.2])  # a step seen again (restart): the latest wins
    assert curves.xy("loss", "index") == ([1.0, 3.0], [0.5, 0.25])
    assert curves.xy("loss", "epoch") == ([1.0], [0.5])  # the last line has no step: no epoch


def test_unknown_metric_and_axis_are_refused(cli_env, two_jobs, tmp_path):
    from launcher.errors import SpecError

    with pytest.raises(SpecError, match="no job logged accuracy"):
        main(["--debug", "metrics", "small-batch", "--plot", str(tmp_path / "x.png"),
              "--metric", "accuracy"], cli_env)
    assert main(["metrics", "small-batch", "--plot", str(tmp_path / "y.png"),
                 "--metric", "val_loss", "--x", "step"], cli_env) == 0
