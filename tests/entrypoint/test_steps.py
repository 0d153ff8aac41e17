"""Step arithmetic against worked examples and the edge cases the planner warns about."""

from __future__ import annotations

import pytest

from launcher.entrypoints.steps import StepPlan, resolve_warmup_steps, split_sizes


def test_seed_example_1000_samples_batch_50_10_epochs() -> None:
    plan = StepPlan(samples=1000, batch_size=50, epochs=10)
    assert plan.iterations_per_epoch == 20
    assert plan.total_iterations == 200
    assert plan.optimizer_steps_per_epoch == 20
    assert plan.total_optimizer_steps == 200


def test_seed_example_60000_batch_128_header() -> None:
    plan = StepPlan(samples=60000, batch_size=128, epochs=10)
    assert plan.iterations_per_epoch == 469  # ceil(468.75)
    assert plan.header_lines() == [
        "Training examples: 60000 | Batch size: 128 | Iterations per epoch: 469 | Total iterations: 4690"
    ]


def test_seed_example_drop_last_floors() -> None:
    assert StepPlan(samples=1000, batch_size=64, epochs=1, drop_last=True).iterations_per_epoch == 15
    assert StepPlan(samples=1000, batch_size=64, epochs=1).iterations_per_epoch == 16


def test_accumulation_partial_final_group_still_steps() -> None:
    plan = StepPlan(samples=60000, batch_size=128, epochs=10, grad_accum_steps=4)
    assert plan.iterations_per_epoch == 469
    assert plan.optimizer_steps_per_epoch == 118  # 117 full groups + 1 group of a single batch
    assert plan.total_optimizer_steps == 1180
    assert plan.global_batch_size == 512
    assert plan.header_lines()[1] == (
        "Gradient accumulation steps: 4 | Optimizer steps per epoch: 118 | Total optimizer steps: 1180"
    )


def test_world_size_pads_like_distributed_sampler() -> None:
    plan = StepPlan(samples=1001, batch_size=50, epochs=2, world_size=2)
    assert plan.per_process_samples == 501  # one sample repeated to make 1002
    assert plan.iterations_per_epoch == 11
    assert plan.total_iterations == 22
    assert plan.global_batch_size == 100
    lines = plan.header_lines()
    assert lines[0].startswith("Training examples: 1001 | Batch size: 50 | Iterations per epoch: 11")
    assert "World size: 2 | Samples per process: 501" in lines
    assert any(line.startswith("Global batch size: 100") for line in lines)


def test_world_size_and_accumulation_global_batch() -> None:
    plan = StepPlan(samples=60000, batch_size=128, epochs=1, grad_accum_steps=2, world_size=4)
    assert plan.per_process_samples == 15000
    assert plan.iterations_per_epoch == 118
    assert plan.optimizer_steps_per_epoch == 59
    assert plan.global_batch_size == 1024


def test_samples_smaller_than_batch() -> None:
    plan = StepPlan(samples=10, batch_size=64, epochs=3)
    assert plan.iterations_per_epoch == 1
    assert plan.total_iterations == 3
    with pytest.raises(ValueError, match="drop_last.*0 iterations"):
        StepPlan(samples=10, batch_size=64, epochs=3, drop_last=True)


def test_max_steps_caps_optimizer_steps_not_iterations() -> None:
    plan = StepPlan(samples=1000, batch_size=50, epochs=10, max_steps=45)
    assert plan.total_iterations == 200
    assert plan.total_optimizer_steps == 45
    assert plan.epochs_to_run == 3
    assert plan.header_lines()[-1].startswith("Max steps: 45 | Total optimizer steps: 45")
    assert StepPlan(samples=1000, batch_size=50, epochs=1, max_steps=500).total_optimizer_steps == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"samples": 0, "batch_size": 1, "epochs": 1}, "samples must be >= 1"),
        ({"samples": 10, "batch_size": 0, "epochs": 1}, "batch_size must be >= 1"),
        ({"samples": 10, "batch_size": 1, "epochs": 0}, "epochs must be >= 1"),
        ({"samples": 10, "batch_size": 1, "epochs": 1, "grad_accum_steps": 0}, "grad_accum_steps"),
        ({"samples": 10, "batch_size": 1, "epochs": 1, "max_steps": 0}, "max_steps"),
        ({"samples": 10, "batch_size": True, "epochs": 1}, "batch_size must be an integer"),
    ],
)
def test_validation(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StepPlan(**kwargs)


def test_resolve_warmup_steps() -> None:
    assert resolve_warmup_steps(0, 0.0, 20) == 0
    assert resolve_warmup_steps(7, 0.0, 20) == 7
    assert resolve_warmup_steps(0, 1.5, 20) == 30
    assert resolve_warmup_steps(0, 0.25, 10) == 3  # 2.5 rounds half up
    assert resolve_warmup_steps(0, 0.15, 10) == 2  # 1.5 exactly, despite binary 0.15
    assert resolve_warmup_steps(0, 0.001, 20) == 1  # asking for warmup never yields none
    with pytest.raises(ValueError, match="not both"):
        resolve_warmup_steps(5, 1.0, 20)


def test_split_sizes() -> None:
    assert split_sizes(1437, 0.0) == (1437, 0)
    assert split_sizes(1000, 0.1) == (900, 100)
    assert split_sizes(1437, 0.1) == (1293, 144)  # 143.7 -> 144
    assert split_sizes(5, 0.05) == (4, 1)  # never an empty validation side
    with pytest.raises(ValueError):
        split_sizes(1, 0.5)
