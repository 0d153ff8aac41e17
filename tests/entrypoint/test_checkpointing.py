"""Atomic checkpoint files, integrity checks and the fallback past a broken newest file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

import checkpointing
from checkpointing import CheckpointError, checkpoint_path, list_checkpoints, load_checkpoint, load_latest


def state(step: int) -> dict[str, object]:
    return {"global_step": step, "model": {"w": torch.full((4,), float(step))}, "note": [step, "x"]}


def write(directory: Path, steps: list[int], keep: int = 10) -> None:
    for step in steps:
        checkpointing.save_checkpoint(directory, step, state(step), keep=keep)


def test_round_trip_and_plain_torch_load(tmp_path: Path) -> None:
    path = checkpointing.save_checkpoint(tmp_path, 7, state(7), keep=3)
    assert path == checkpoint_path(tmp_path, 7) == tmp_path / "ckpt-000000007.pt"
    loaded = load_checkpoint(path)
    assert loaded["global_step"] == 7
    assert torch.equal(loaded["model"]["w"], torch.full((4,), 7.0))
    # The integrity trailer does not stop users from reading a checkpoint with torch.load.
    assert torch.load(path, weights_only=True)["global_step"] == 7


def test_keeps_the_newest(tmp_path: Path) -> None:
    write(tmp_path, [5, 10, 15, 20], keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [15, 20]


def test_truncated_newest_falls_back_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, [10, 20])
    newest = checkpoint_path(tmp_path, 20)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    with caplog.at_level(logging.WARNING):
        found = load_latest(tmp_path)
    assert found is not None and found[0] == 10
    assert "ckpt-000000020.pt" in caplog.text and "falling back" in caplog.text


def test_flipped_byte_is_detected(tmp_path: Path) -> None:
    write(tmp_path, [10, 20])
    newest = checkpoint_path(tmp_path, 20)
    data = bytearray(newest.read_bytes())
    data[len(data) // 3] ^= 0xFF
    newest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(newest)
    found = load_latest(tmp_path)
    assert found is not None and found[0] == 10


def test_empty_and_foreign_files(tmp_path: Path) -> None:
    write(tmp_path, [3])
    checkpoint_path(tmp_path, 4).write_bytes(b"")
    checkpoint_path(tmp_path, 5).write_bytes(b"not a checkpoint at all" * 10)
    (tmp_path / "notes.txt").write_text("ignored")
    found = load_latest(tmp_path)
    assert found is not None and found[0] == 3


def test_nothing_usable(tmp_path: Path) -> None:
    assert load_latest(tmp_path / "missing") is None
    checkpoint_path(tmp_path, 1).write_bytes(b"junk")
    assert load_latest(tmp_path) is None


def test_at_most_and_pruning_of_later_leftovers(tmp_path: Path) -> None:
    write(tmp_path, [10, 20, 30])
    found = load_latest(tmp_path, at_most=25)
    assert found is not None and found[0] == 20
    # Resumed at 20 (30 was unusable): the next save removes the leftover from the "future".
    checkpointing.save_checkpoint(tmp_path, 25, state(25), keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 25]


def test_stale_temporaries_are_removed(tmp_path: Path) -> None:
    write(tmp_path, [1])
    torn = tmp_path / ".tmp-ckpt-000000002-12345"
    torn.write_bytes(b"half a checkpoint")
    assert [s for s, _ in list_checkpoints(tmp_path)] == [1]
    checkpointing.remove_stale_temporaries(tmp_path)
    assert not torn.exists()
    assert checkpoint_path(tmp_path, 1).exists()


def test_snapshot_is_independent_of_later_steps() -> None:
    from checkpoint_writer import snapshot

    weights = torch.ones(3)
    state = {"model": {"w": weights}, "history": [{"loss": 1.0}], "pair": (weights, 2)}
    copy = snapshot(state)
    weights.add_(1.0)
    state["history"].append({"loss": 0.5})
    assert torch.equal(copy["model"]["w"], torch.ones(3)) and torch.equal(copy["pair"][0], torch.ones(3))
    assert copy["history"] == [{"loss": 1.0}]


def test_background_writer_saves_in_order_and_surfaces_errors(tmp_path: Path) -> None:
    from checkpoint_writer import CheckpointWriter

    writer = CheckpointWriter(tmp_path / "ckpt", keep=2)
    for step in (1, 2, 3):
        writer.submit(step, state(step), where=f"step {step}")
    writer.close()
    assert [s for s, _ in list_checkpoints(tmp_path / "ckpt")] == [2, 3]

    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    failing = CheckpointWriter(blocked, keep=2)
    failing.submit(1, state(1), where="step 1")
    with pytest.raises(OSError):
        failing.close()
