"""`make_plan`: golden figures of worked examples, edge cases, warnings, JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from launcher.config.spec import build_spec
from launcher.errors import SpecError
from launcher.planning.training_plan import Plan, make_plan

# A validation channel: the reference entrypoint then trains on every example of `train`.
DATA = {"train": "/data/train", "validation": "/data/validation"}


def spec_of(hps: dict[str, Any] | None = None, **sections: Any) -> Any:
    values: dict[str, Any] = {"hyperparameters": hps or {}, "data": dict(DATA)}
    values.update(sections)
    return build_spec(values)


def plan_of(samples: int, hps: dict[str, Any] | None = None, **kw: Any) -> Plan:
    sections = kw.pop("sections", {})
    return make_plan(spec_of(hps, **sections), samples=samples, **kw)


def codes(plan: Plan) -> set[str]:
    return {w.code for w in plan.warnings}


# --- worked examples -------------------------------------------------------------------


def test_seed_1000_samples_batch_50_ten_epochs() -> None:
    p = plan_of(1000, {"batch_size": 50, "epochs": 10}, local=True)
    assert p.steps.iterations_per_epoch == 20
    assert p.steps.total_iterations == 200
    assert p.steps.total_optimizer_steps == 200
    assert len(p.lr_per_step) == 200
    assert p.steps.header_lines()[0] == (
        "Training examples: 1000 | Batch size: 50 | Iterations per epoch: 20 | Total iterations: 200")


def test_seed_60000_samples_batch_128() -> None:
    p = plan_of(60000, {"batch_size": 128, "epochs": 10}, local=True)
    assert p.steps.iterations_per_epoch == 469  # ceil(468.75)
    assert p.steps.total_iterations == 4690


def test_seed_drop_last_floors() -> None:
    p = plan_of(1000, {"batch_size": 64, "drop_last": True}, local=True)
    assert p.steps.iterations_per_epoch == 15  # floor(15.625)
    assert plan_of(1000, {"batch_size": 64}, local=True).steps.iterations_per_epoch == 16


# --- edge cases -----------------------------------------------------------------------------------


def test_fewer_samples_than_batch_is_one_partial_batch_with_a_warning() -> None:
    p = plan_of(10, {"batch_size": 32, "epochs": 3}, local=True)
    assert p.steps.iterations_per_epoch == 1
    assert p.steps.total_optimizer_steps == 3
    assert "batch-larger-than-dataset" in codes(p)


def test_drop_last_with_fewer_samples_than_batch_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="0 iterations per epoch"):
        plan_of(10, {"batch_size": 32, "drop_last": True}, local=True)


def test_grad_accumulation_partial_final_group_still_steps() -> None:
    # 1000 / 64 → 16 iterations; groups of 3 → 5 full + 1 partial = 6 optimizer steps per epoch.
    p = plan_of(1000, {"batch_size": 64, "grad_accum_steps": 3, "epochs": 4}, local=True)
    assert p.steps.iterations_per_epoch == 16
    assert p.steps.optimizer_steps_per_epoch == 6
    assert p.steps.total_optimizer_steps == 24
    assert p.steps.global_batch_size == 192
    assert len(p.lr_per_step) == 24


def test_world_size_from_instance_gpus_and_count() -> None:
    # ml.g5.12xlarge has 4 GPUs: 2 hosts × 4 processes = 8; DistributedSampler pads to ceil(1000/8).
    p = plan_of(1000, {"batch_size": 32}, sections={"compute": {"instance_type": "ml.g5.12xlarge",
                                                                "instance_count": 2}})
    assert p.world_size == 8
    assert p.processes_per_host == 4
    assert p.steps.per_process_samples == 125
    assert p.steps.iterations_per_epoch == 4  # ceil(125 / 32)
    assert p.steps.global_batch_size == 256


def test_world_size_override_and_processes_per_host() -> None:
    p = plan_of(1000, {"batch_size": 50}, world_size=3, local=True)
    assert p.world_size == 3 and p.steps.per_process_samples == 334
    p = plan_of(1000, {"batch_size": 50}, local=True,
                sections={"compute": {"instance_type": "ml.p3.8xlarge", "processes_per_host": 2}})
    assert p.world_size == 2


def test_cpu_instance_and_local_without_type_run_one_process() -> None:
    assert plan_of(100, sections={"compute": {"instance_type": "ml.m5.xlarge"}}).world_size == 1
    assert plan_of(100, local=True).world_size == 1


def test_warmup_given_in_epochs_rounds_half_up_on_optimizer_steps() -> None:
    # 1000 / 50 = 20 steps per epoch; 0.25 epochs = 5 steps; 0.125 epochs = 2.5 → 3 (half-up).
    assert plan_of(1000, {"batch_size": 50, "warmup_epochs": 0.25}, local=True).warmup_steps == 5
    assert plan_of(1000, {"batch_size": 50, "warmup_epochs": 0.125}, local=True).warmup_steps == 3
    # with accumulation the epoch is counted in optimizer steps: ceil(20 / 4) = 5 per epoch.
    p = plan_of(1000, {"batch_size": 50, "warmup_epochs": 1, "grad_accum_steps": 4}, local=True)
    assert p.warmup_steps == 5


def test_warmup_as_long_as_the_run_is_a_clear_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        plan_of(1000, {"batch_size": 50, "epochs": 2, "warmup_epochs": 2}, local=True)
    message = str(info.value)
    assert "warmup (warmup_epochs=2: 40 optimizer steps) is not shorter than the run" in message
    assert "40 optimizer steps: 20 per epoch × 2 epochs" in message
    assert info.value.remedy and "shorten the warmup" in info.value.remedy


def test_warmup_longer_than_a_max_steps_cap_is_refused() -> None:
    with pytest.raises(SpecError, match="capped by max_steps"):
        plan_of(1000, {"batch_size": 50, "warmup_steps": 30, "max_steps": 30}, local=True)


def test_max_steps_caps_the_schedule() -> None:
    p = plan_of(1000, {"batch_size": 50, "epochs": 10, "max_steps": 45}, local=True)
    assert p.steps.total_optimizer_steps == 45 and len(p.lr_per_step) == 45
    assert p.steps.epochs_to_run == 3


def test_holdout_split_without_a_validation_channel() -> None:
    spec = build_spec({"hyperparameters": {"batch_size": 50}, "data": {"train": "/d"}})
    p = make_plan(spec, samples=1000, local=True)  # val_fraction 0.1 → 100 held out
    assert (p.channel_samples, p.holdout, p.steps.samples) == (1000, 100, 900)
    assert p.steps.iterations_per_epoch == 18


def test_custom_entrypoint_has_no_holdout(tmp_path: Any) -> None:
    spec = build_spec({"source_dir": str(tmp_path), "hyperparameters": {"batch_size": 50, "epochs": 3},
                       "data": {"train": "/d"}})
    p = make_plan(spec, samples=1000, local=True)
    assert p.holdout == 0 and p.steps.iterations_per_epoch == 20


# --- effective LR -----------------------------------------------------------------------------------


def test_linear_scaling_rule_is_applied_and_spelled_out() -> None:
    p = plan_of(10000, {"batch_size": 32, "lr": 0.1, "scale_lr": True, "base_batch_size": 32},
                world_size=8, local=True)
    assert p.steps.global_batch_size == 256
    assert p.effective_lr == pytest.approx(0.8)
    assert "×8" in p.scaling_rule() and "= 0.8" in p.scaling_rule()
    assert max(p.lr_per_step) == pytest.approx(0.8)


def test_scaling_rule_off_says_what_it_would_do() -> None:
    p = plan_of(10000, {"batch_size": 32, "lr": 0.1, "base_batch_size": 32}, world_size=8, local=True)
    assert p.effective_lr == 0.1
    assert "scale_lr is off" in p.scaling_rule() and "×8 = 0.8" in p.scaling_rule()


def test_scaled_lr_below_min_lr_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="min_lr"):
        plan_of(1000, {"batch_size": 8, "lr": 0.1, "min_lr": 0.05, "scale_lr": True,
                       "base_batch_size": 256, "lr_schedule": "cosine"}, local=True)


# --- warnings -------------------------------------------------------------------------------------

GPU = {"compute": {"instance_type": "ml.g4dn.xlarge"}}


def test_small_last_batch_warns_and_drop_last_silences_it() -> None:
    p = plan_of(1025, {"batch_size": 64}, local=True)  # 16 full batches + 1 example
    assert "small-last-batch" in codes(p)
    assert "drop_last" in next(w.message for w in p.warnings if w.code == "small-last-batch")
    assert "small-last-batch" not in codes(plan_of(1025, {"batch_size": 64, "drop_last": True},
                                                   local=True))
    assert "small-last-batch" not in codes(plan_of(1040, {"batch_size": 64}, local=True))  # 16 left


def test_long_warmup_warns_above_ten_percent() -> None:
    assert "long-warmup" in codes(plan_of(1000, {"batch_size": 50, "warmup_steps": 21}, local=True))
    assert "long-warmup" not in codes(plan_of(1000, {"batch_size": 50, "warmup_steps": 20},
                                              local=True))


def test_spot_warning_for_own_script_without_checkpoint_uri(tmp_path: Any) -> None:
    HPS = {"hyperparameters": {"epochs": 10, "batch_size": 64}}
    spec = build_spec({"source_dir": str(tmp_path), "data": DATA, **GPU, **HPS})
    assert "spot-without-checkpoints" in codes(make_plan(spec, samples=1000))
    spec = build_spec({"source_dir": str(tmp_path), "data": DATA, **GPU, **HPS,
                       "spot": {"checkpoint_s3_uri": "s3://bkt/ck/"}})
    assert "spot-without-checkpoints" not in codes(make_plan(spec, samples=1000))
    spec = build_spec({"source_dir": str(tmp_path), "data": DATA, **GPU, **HPS, "spot": {"enabled": False}})
    assert "spot-without-checkpoints" not in codes(make_plan(spec, samples=1000))
    # locally, spot does not apply
    assert "spot-without-checkpoints" not in codes(
        make_plan(build_spec({"source_dir": str(tmp_path), "data": DATA, **HPS}), samples=1000, local=True))


def test_spot_warning_for_reference_entrypoint_only_when_nothing_is_saved_before_the_end() -> None:
    assert "spot-without-checkpoints" not in codes(plan_of(1000, {"batch_size": 64}, sections=GPU))
    one_epoch = {"batch_size": 8, "epochs": 1, "checkpoint_every_steps": 0}
    assert "spot-without-checkpoints" in codes(plan_of(1000, one_epoch, sections=GPU))


def test_max_run_shorter_than_expected_duration_warns() -> None:
    p = plan_of(10000, {"batch_size": 64, "epochs": 10}, throughput=10.0,
                sections={**GPU, "spot": {"max_run": 3600}})
    assert p.expected_seconds == pytest.approx(10000.0)
    assert "max-run-too-short" in codes(p)
    assert "max-run-too-short" not in codes(plan_of(10000, {"batch_size": 64, "epochs": 10},
                                                    throughput=100.0, sections=GPU))


def test_batch_not_multiple_of_8_warns_only_on_gpus() -> None:
    assert "batch-not-multiple-of-8" in codes(plan_of(1000, {"batch_size": 50}, sections=GPU))
    assert "batch-not-multiple-of-8" not in codes(plan_of(1000, {"batch_size": 48}, sections=GPU))
    cpu = {"compute": {"instance_type": "ml.m5.xlarge"}}
    assert "batch-not-multiple-of-8" not in codes(plan_of(1000, {"batch_size": 50}, sections=cpu))


# --- JSON -----------------------------------------------------------------------------------------

ISSUE_KEYS = {"samples", "batch_size", "global_batch_size", "epochs", "drop_last", "iterations_per_epoch",
              "total_iterations", "optimizer_steps_per_epoch", "total_optimizer_steps", "warmup_steps",
              "effective_lr", "lr_per_step", "cost", "warnings"}


def test_to_dict_has_the_issue_keys_and_is_json() -> None:
    p = plan_of(1000, {"batch_size": 50, "epochs": 10, "lr_schedule": "cosine", "warmup_steps": 10},
                throughput=100.0, sections=GPU)
    data = json.loads(json.dumps(p.to_dict()))
    assert set(data) >= ISSUE_KEYS
    assert len(data["lr_per_step"]) == data["total_optimizer_steps"] == 200
    assert {"price_per_hour", "upper_bound", "expected"} <= set(data["cost"])
    assert data["cost"]["price_per_hour"] == 0.736
    assert data["cost"]["expected"] is not None
    assert all({"code", "message"} == set(w) for w in data["warnings"])
    assert data["header_lines"][0].startswith("Training examples: 1000 | Batch size: 50")


def test_local_plan_has_no_cost() -> None:
    data = plan_of(1000, local=True).to_dict()
    assert data["cost"]["upper_bound"] is None and data["cost"]["price_per_hour"] is None


def test_make_plan_is_pure_and_deterministic() -> None:
    a = plan_of(1000, {"lr_schedule": "cosine", "warmup_epochs": 1}, sections=GPU).to_dict()
    b = plan_of(1000, {"lr_schedule": "cosine", "warmup_epochs": 1}, sections=GPU).to_dict()
    assert a == b
    assert all(math.isfinite(v) and v > 0 for v in a["lr_per_step"])
