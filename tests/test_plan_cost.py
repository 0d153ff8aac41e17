"""Cost arithmetic, remembered throughput and the terminal LR chart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.cli.render.lrchart import render_lr_chart
from launcher.config.spec import build_spec
from launcher.planning.cost import CostEstimate, expected_seconds, format_duration, format_usd
from launcher.planning.throughput import recall_throughput, record_throughput, store_path, throughput_key
from launcher.planning.training_plan import make_plan

DATA = {"train": "/data/train", "validation": "/data/validation"}


def cost(**kw: object) -> CostEstimate:
    base: dict[str, object] = {"instance_type": "ml.p3.2xlarge", "instance_count": 1,
                               "price_per_hour": 3.825, "price_source": "test",
                               "max_run_seconds": 3600, "spot": False}
    base.update(kw)
    return CostEstimate(**base)  # type: ignore[arg-type]


# --- cost -------------------------------------------------------------------------------------------


def test_on_demand_upper_bound_is_rate_times_max_run() -> None:
    c = cost(max_run_seconds=7200)
    assert c.hourly == 3.825
    assert c.upper_bound == pytest.approx(7.65)
    assert c.expected is None and c.spot_expected_at_max_run is None


def test_instance_count_multiplies_rate_and_bound() -> None:
    c = cost(instance_count=4, max_run_seconds=1800)
    assert c.hourly == pytest.approx(15.3)
    assert c.upper_bound == pytest.approx(7.65)


def test_spot_has_the_same_bound_and_an_expected_figure_under_the_assumption() -> None:
    c = cost(spot=True, spot_savings=0.7)
    assert c.upper_bound == pytest.approx(3.825)
    assert c.spot_expected_at_max_run == pytest.approx(3.825 * 0.3)
    c = cost(spot=True, spot_savings=0.6, expected_seconds=900)
    assert c.expected_on_demand == pytest.approx(3.825 / 4)
    assert c.expected == pytest.approx(3.825 / 4 * 0.4)


def test_expected_cost_is_capped_at_max_run_and_flags_it() -> None:
    c = cost(expected_seconds=10_000, max_run_seconds=3600)
    assert c.exceeds_max_run
    assert c.expected == pytest.approx(c.upper_bound)


def test_unknown_price_gives_no_figures() -> None:
    c = cost(price_per_hour=None, expected_seconds=100)
    assert c.upper_bound is None and c.expected is None and c.hourly is None


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        cost(price_per_hour=-1.0)
    with pytest.raises(ValueError):
        cost(spot_savings=1.0)
    with pytest.raises(ValueError):
        expected_seconds(100, 0.0)


def test_expected_seconds_scales_linearly_with_instances() -> None:
    assert expected_seconds(60_000, 1000.0) == 60.0
    assert expected_seconds(60_000, 1000.0, instance_count=2) == 30.0


def test_plan_cost_uses_catalogue_price_override_and_count() -> None:
    spec = build_spec({"data": DATA, "compute": {"instance_type": "ml.p3.2xlarge", "instance_count": 2},
                       "spot": {"enabled": False, "max_run": 5400}})
    p = make_plan(spec, samples=1000)
    assert p.cost is not None
    assert p.cost.price_per_hour == 3.825
    assert p.cost.upper_bound == pytest.approx(3.825 * 2 * 1.5)
    assert "2026" in p.cost.price_source
    p = make_plan(spec, samples=1000, price_per_hour=1.0)
    assert p.cost is not None and p.cost.upper_bound == pytest.approx(3.0)
    assert "--price-per-hour" in p.cost.price_source


def test_plan_expected_duration_from_samples_processed() -> None:
    # 1000 samples × 12 epochs (demo-free spec: epochs 10 by default) at 500 samples/s.
    spec = build_spec({"hyperparameters": {"epochs": 10, "batch_size": 50}, "data": DATA,
                       "compute": {"instance_type": "ml.g4dn.xlarge"}})
    p = make_plan(spec, samples=1000, throughput=500.0)
    assert p.samples_to_process == 10_000
    assert p.expected_seconds == pytest.approx(20.0)
    assert p.cost is not None and p.cost.expected == pytest.approx(0.736 * 20 / 3600 * 0.3)


def test_samples_to_process_counts_drop_last_padding_and_cap() -> None:
    spec = build_spec({"hyperparameters": {"epochs": 4, "batch_size": 64, "drop_last": True,
                                           "max_steps": 30}, "data": DATA})
    p = make_plan(spec, samples=1000, local=True)  # 15 batches of 64 per epoch; 30 of 60 steps
    assert p.samples_to_process == 15 * 64 * 2


def test_formatting() -> None:
    assert format_duration(5400) == "1 h 30 min"
    assert format_duration(95) == "1 min 35 s"
    assert format_duration(7.25) == "7.2 s"
    assert format_usd(12.345) == "$12.35"
    assert format_usd(0.2208) == "$0.221"
    assert format_usd(None) == "unknown"


# --- throughput memory --------------------------------------------------------------------------------


def test_record_and_recall_throughput(tmp_path: Path) -> None:
    assert recall_throughput(tmp_path, "reference/train.py", "ml.g5.xlarge") is None
    record_throughput(tmp_path, "reference/train.py", "ml.g5.xlarge", 1234.5)
    record_throughput(tmp_path, "reference/train.py", "ml.g5.xlarge", 1500.0)
    record_throughput(tmp_path, "reference/train.py", "local", 99.0)
    assert recall_throughput(tmp_path, "reference/train.py", "ml.g5.xlarge") == 1500.0
    assert recall_throughput(tmp_path, "reference/train.py", "local") == 99.0
    assert recall_throughput(tmp_path, "other/train.py", "ml.g5.xlarge") is None
    data = json.loads(store_path(tmp_path).read_text())
    assert data["entries"]["reference/train.py"]["ml.g5.xlarge"]["jobs"] == 2


def test_corrupt_store_is_ignored_and_replaced(tmp_path: Path) -> None:
    store_path(tmp_path).write_text("{not json")
    assert recall_throughput(tmp_path, "k", "t") is None
    record_throughput(tmp_path, "k", "t", 5.0)
    assert recall_throughput(tmp_path, "k", "t") == 5.0
    with pytest.raises(ValueError):
        record_throughput(tmp_path, "k", "t", 0.0)


def test_throughput_key_names_the_entrypoint(tmp_path: Path) -> None:
    assert throughput_key(build_spec({})) == "reference/train.py"
    project = tmp_path / "my-project"
    project.mkdir()
    spec = build_spec({"source_dir": str(project), "entrypoint": "fit.py"})
    assert throughput_key(spec) == "my-project/fit.py"


# --- terminal chart ---------------------------------------------------------------------------------------


def test_chart_marks_warmup_and_epoch_boundaries() -> None:
    lrs = [0.1 * (i + 1) / 4 for i in range(4)] + [0.1] * 16  # 20 steps, 4 warmup, 5 per epoch
    lines = render_lr_chart(lrs, steps_per_epoch=5, warmup_steps=4, width=20, height=4)
    assert len(lines) == 6
    axis = lines[4]
    assert axis.endswith("════─┴────┴────┴────")
    assert lines[0].startswith("0.1 ┤")
    assert "warmup (4 steps)" in lines[5] and "epoch boundary" in lines[5]
    assert lines[0].count("█") == 17  # full height from the last warmup step (at the peak) on


def test_chart_downsamples_long_runs_and_thins_epoch_marks() -> None:
    lrs = [0.01] * 10_000
    lines = render_lr_chart(lrs, steps_per_epoch=10, width=60, height=3)
    assert all(len(line) <= 70 for line in lines[:-1])
    assert "every" in lines[-1]
    assert lines[-2].count("┴") <= 20


def test_chart_ascii_fallback() -> None:
    lines = render_lr_chart([0.1, 0.05, 0.01], steps_per_epoch=1, warmup_steps=1, ascii_only=True)
    assert all(line.isascii() for line in lines)
