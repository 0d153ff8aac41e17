"""The MetricDefinitions the launcher hands to SageMaker parse our log lines, and only those."""

from __future__ import annotations

import json
import re

import pytest
from ep_harness import ENTRYPOINTS

DEFINITIONS = json.loads((ENTRYPOINTS / "metric_definitions.json").read_text())


def parse(line: str) -> dict[str, float]:
    """What SageMaker (and the launcher) do: re.search per definition, group 1 as a float."""
    found = {}
    for d in DEFINITIONS:
        m = re.search(d["Regex"], line)
        if m:
            found[d["Name"]] = float(m.group(1))
    return found


def test_shape_and_limits() -> None:
    assert 1 <= len(DEFINITIONS) <= 40
    names = [d["Name"] for d in DEFINITIONS]
    assert len(set(names)) == len(names)
    for d in DEFINITIONS:
        assert set(d) == {"Name", "Regex"}
        assert 1 <= len(d["Name"]) <= 255 and 1 <= len(d["Regex"]) <= 500
        assert re.compile(d["Regex"]).groups >= 1


def test_epoch_line() -> None:
    line = "epoch=3 step=1407 train_loss=0.1345 val_loss=0.1201 val_accuracy=0.9712 lr=0.000873"
    expected = {"epoch": 3, "step": 1407, "train_loss": 0.1345, "val_loss": 0.1201, "val_accuracy": 0.9712}
    assert parse(line) == {**expected, "lr": 0.000873}


@pytest.mark.parametrize(
    ("text", "value"), [("-0.3", -0.3), ("1e-05", 1e-5), ("2.5E+3", 2500.0), (".5", 0.5), ("7", 7.0)]
)
def test_negatives_and_exponents(text: str, value: float) -> None:
    assert parse(f"epoch=1 step=2 train_loss={text} lr={text}")["train_loss"] == value
    assert parse(f"step=2 lr={text}")["lr"] == value


def test_nan_and_inf() -> None:
    import math

    found = parse("epoch=1 step=5 train_loss=nan val_loss=inf")
    assert math.isnan(found["train_loss"]) and math.isinf(found["val_loss"])


def test_keys_do_not_bleed_into_each_other() -> None:
    assert parse("val_loss=0.5") == {"val_loss": 0.5}
    assert parse("train_loss=0.25") == {"train_loss": 0.25}
    assert parse("base_lr=0.1 warmup_step=3 max_epoch=9 best_val_loss=0.1") == {}
    # Lines that share the log with ours: the driver's env dump and human-readable notices.
    assert parse('SM_HPS={"epochs": 10, "lr": 0.1}') == {}
    assert parse("SM_HP_LR=0.1") == {}
    assert parse("Learning rate: 0.1 | Schedule: cosine") == {}
    assert parse("Checkpoint saved: ckpt-000000045.pt (end of epoch 1)") == {}
