"""A real CPU run of the reference entrypoint logs exactly the LRs `launch plan` predicts.

The script runs as a subprocess in an emulated /opt/ml tree (SM_* variables), on the bundled digits,
with ``log_lr_every_step`` on: it then logs ``step=N lr=X`` (repr, exact) per optimizer step and
stores ``lr_history`` in ``metrics.json`` (docs/entrypoint.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from launcher.config.spec import REFERENCE_SOURCE_DIR, build_spec
from launcher.planning.training_plan import make_plan
from tests.conftest import REPO

DIGITS = REPO / "launcher" / "datasets" / "digits"
STEP_LR = re.compile(r"step=(\d+) lr=(\S+)\s*$")

pytest.importorskip("torch")


def run_reference(tmp_path: Path, hps: dict[str, Any], *, validation: bool) -> tuple[str, dict[str, Any]]:
    opt_ml = tmp_path / "opt_ml"
    for sub in ("input/data", "input/config", "model", "output/data"):
        (opt_ml / sub).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env.update({
        "SM_HPS": json.dumps({**hps, "log_lr_every_step": True}),
        "SM_CHANNEL_TRAIN": str(DIGITS / "train"),
        "SM_INPUT_DATA_DIR": str(opt_ml / "input" / "data"),
        "SM_INPUT_CONFIG_DIR": str(opt_ml / "input" / "config"),
        "SM_MODEL_DIR": str(opt_ml / "model"),
        "SM_OUTPUT_DATA_DIR": str(opt_ml / "output" / "data"),
        "SM_OUTPUT_FAILURE": str(opt_ml / "output" / "failure"),
        "SM_NUM_GPUS": "0",
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": "2",
        "PYTHONUNBUFFERED": "1",
    })
    if validation:
        env["SM_CHANNEL_VALIDATION"] = str(DIGITS / "validation")
    result = subprocess.run([sys.executable, "train.py"], cwd=REFERENCE_SOURCE_DIR, env=env,
                            capture_output=True, text=True, timeout=240)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    metrics = json.loads((opt_ml / "output" / "data" / "metrics.json").read_text())
    return log, metrics


FAST = {"model": "mlp", "hidden_sizes": [32]}
CASES = [
    # One run covering the most: the seeded hold-out split (no validation channel: 1293 of 1437),
    # drop_last (26 batches of 48), a partial final accumulation group (26 = 6 × 4 + 2 → 7 steps per
    # epoch), the linear scaling rule (192 / 96 = ×2), warmup in epochs (0.5 × 7 = 3.5 → 4), cosine.
    pytest.param({"epochs": 3, "batch_size": 48, "drop_last": True, "grad_accum_steps": 4,
                  "lr": 0.05, "scale_lr": True, "base_batch_size": 96, "lr_schedule": "cosine",
                  "warmup_epochs": 0.5, "min_lr": 0.001, **FAST}, False, id="cosine-holdout"),
    # Step decay with warmup and a validation channel; slow-marked (a second torch start-up).
    pytest.param({"epochs": 3, "batch_size": 64, "lr": 0.1, "lr_schedule": "step", "step_size": 1,
                  "gamma": 0.5, "warmup_steps": 4, **FAST}, True, id="step-validation",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("hps", "validation"), CASES)
def test_logged_lr_sequence_equals_plan(tmp_path: Path, hps: dict[str, Any], validation: bool) -> None:
    data = {"train": str(DIGITS / "train")}
    if validation:
        data["validation"] = str(DIGITS / "validation")
    plan = make_plan(build_spec({"hyperparameters": hps, "data": data}), samples=1437, local=True)
    if not validation:
        assert (plan.steps.samples, plan.steps.iterations_per_epoch) == (1293, 26)
        assert (plan.steps.optimizer_steps_per_epoch, plan.warmup_steps) == (7, 4)
        assert plan.effective_lr == pytest.approx(0.1)

    log, metrics = run_reference(tmp_path, hps, validation=validation)

    logged = sorted((int(m[1]), float(m[2])) for line in log.splitlines() if (m := STEP_LR.search(line)))
    assert [lr for _, lr in logged] == plan.lr_per_step  # exact: the same floats
    assert metrics["lr_history"] == plan.lr_per_step
    assert metrics["optimizer_steps"] == plan.steps.total_optimizer_steps
    for line in plan.steps.header_lines():
        assert line in log
    assert metrics["plan"]["warmup_steps"] == plan.warmup_steps
    assert metrics["plan"]["effective_lr"] == plan.effective_lr
