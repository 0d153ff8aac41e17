"""Loading .npz channels: sharded files, image shapes, the seeded split and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ep_harness import DIGITS_TRAIN, DIGITS_VALIDATION, write_blobs

from channels import DataError, load_channel, prepare_data


def test_digits_channels() -> None:
    data = prepare_data(DIGITS_TRAIN, DIGITS_VALIDATION, 0.1, seed=0)
    assert (data.train_samples, data.val_samples, data.input_shape) == (1437, 360, (1, 8, 8))
    assert data.num_classes == 10 and data.validation_source == "channel"
    assert data.train_x.dtype == np.float32 and data.train_y.dtype == np.int64


def test_sharded_files_concatenate_in_name_order(tmp_path: Path) -> None:
    directory = write_blobs(tmp_path / "train", n=30, files=3)
    x, y = load_channel(directory, "train")
    parts = [np.load(p) for p in sorted(directory.glob("*.npz"))]
    assert np.array_equal(y, np.concatenate([p["y"] for p in parts]))
    assert x.shape == (30, 6)


def test_seeded_split_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    directory = write_blobs(tmp_path / "train", n=100)
    a = prepare_data(directory, None, 0.2, seed=5)
    b = prepare_data(directory, None, 0.2, seed=5)
    assert (a.train_samples, a.val_samples, a.validation_source) == (80, 20, "split")
    assert np.array_equal(a.val_x, b.val_x)
    rows = {tuple(r) for r in a.train_x} & {tuple(r) for r in a.val_x}  # type: ignore[union-attr]
    assert not rows
    assert prepare_data(directory, None, 0.0, seed=5).val_x is None


def test_images_without_channel_axis_and_uint8(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    np.savez(tmp_path / "c" / "a.npz", x=np.full((4, 5, 5), 255, dtype=np.uint8), y=np.arange(4))
    x, _ = load_channel(tmp_path / "c", "train")
    assert x.shape == (4, 1, 5, 5) and float(x.max()) == 1.0


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": np.zeros((3, 2))}, "missing array"),
        ({"x": np.zeros((3, 2)), "y": np.zeros(2, dtype=int)}, "one label per row"),
        ({"x": np.zeros((3, 2)), "y": np.array([0.5, 1, 2])}, "integer class labels"),
        ({"x": np.zeros((3, 2)), "y": np.array([0, -1, 2])}, "labels must be >= 0"),
        ({"x": np.full((3, 2), np.nan), "y": np.arange(3)}, "NaN"),
        ({"x": np.zeros((3, 2, 2, 2, 2)), "y": np.arange(3)}, "N x D or N x C x H x W"),
    ],
)
def test_malformed_files(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    (tmp_path / "c").mkdir()
    np.savez(tmp_path / "c" / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_channel(tmp_path / "c", "train")


def test_empty_channel(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="holds no .npz files"):
        load_channel(tmp_path, "train")
