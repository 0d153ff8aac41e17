"""Read ``.npz`` channels into arrays and make the seeded validation split.

A channel holds one or more ``.npz`` files (searched recursively, concatenated in sorted path order
so sharded data loads deterministically), each with ``x`` (``N x D`` features, ``N x H x W`` or
``N x C x H x W`` images) and ``y`` (``N`` integer labels).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from errors import DataError
from steps import split_sizes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataBundle:
    """Training and validation arrays, ready to become tensors."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None
    num_classes: int
    validation_source: str  # "channel", "split" or "none"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example (``(D,)`` or ``(C, H, W)``)."""
        return tuple(int(d) for d in self.train_x.shape[1:])

    @property
    def train_samples(self) -> int:
        return int(self.train_x.shape[0])

    @property
    def val_samples(self) -> int:
        return 0 if self.val_x is None else int(self.val_x.shape[0])


def load_channel(directory: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate every ``.npz`` under ``directory``; ``x`` as float32, ``y`` as int64."""
    files = sorted(p for p in directory.rglob("*.npz") if p.is_file())
    if not files:
        raise DataError(f"channel '{name}' ({directory}) holds no .npz files")
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for path in files:
        x, y = _read_npz(path)
        if xs and x.shape[1:] != xs[0].shape[1:]:
            raise DataError(
                f"{path}: x has example shape {x.shape[1:]}, but {files[0].name} has "
                f"{xs[0].shape[1:]}; all files of a channel must agree"
            )
        xs.append(x)
        ys.append(y)
    x_all = np.concatenate(xs) if len(xs) > 1 else xs[0]
    y_all = np.concatenate(ys) if len(ys) > 1 else ys[0]
    log.info(
        "Channel %s: %d file(s), %d examples of shape %s",
        name,
        len(files),
        len(y_all),
        tuple(x_all.shape[1:]),
    )
    return x_all, y_all


def prepare_data(train_dir: Path, validation_dir: Path | None, val_fraction: float, seed: int) -> DataBundle:
    """Load train (and validation, or split it off train with a seeded permutation)."""
    train_x, train_y = load_channel(train_dir, "train")
    val_x: np.ndarray | None = None
    val_y: np.ndarray | None = None
    source = "none"
    if validation_dir is not None:
        val_x, val_y = load_channel(validation_dir, "validation")
        if val_x.shape[1:] != train_x.shape[1:]:
            raise DataError(
                f"validation examples have shape {val_x.shape[1:]}, train examples {train_x.shape[1:]}"
            )
        source = "channel"
    elif val_fraction > 0:
        n_train, n_val = split_sizes(len(train_y), val_fraction)
        # numpy's PCG64 permutation is stable across platforms and releases for a given seed.
        order = np.random.default_rng(seed).permutation(len(train_y))
        val_x, val_y = train_x[order[n_train:]], train_y[order[n_train:]]
        train_x, train_y = train_x[order[:n_train]], train_y[order[:n_train]]
        source = "split"
        log.info("Validation: %d examples held out of train (val_fraction=%s)", n_val, val_fraction)
    labels_max = int(train_y.max())
    if val_y is not None and len(val_y):
        labels_max = max(labels_max, int(val_y.max()))
    return DataBundle(
        train_x=np.ascontiguousarray(train_x),
        train_y=np.ascontiguousarray(train_y),
        val_x=None if val_x is None else np.ascontiguousarray(val_x),
        val_y=None if val_y is None else np.ascontiguousarray(val_y),
        num_classes=labels_max + 1,
        validation_source=source,
    )


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"x", "y"} - set(archive.files)
            if missing:
                raise DataError(f"{path}: missing array(s) {sorted(missing)}; found {sorted(archive.files)}")
            x = archive["x"]
            y = archive["y"]
    except DataError:
        raise
    except (OSError, ValueError) as exc:  # truncated zip, pickled object arrays, not an npz
        raise DataError(f"{path}: cannot read ({exc})") from None
    if x.ndim == 3:  # N x H x W grayscale images
        x = x[:, None, :, :]
    if x.ndim not in (2, 4):
        raise DataError(f"{path}: x must be N x D or N x C x H x W, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(f"{path}: y must be 1-D with one label per row of x, got shape {y.shape}")
    if len(y) == 0:
        raise DataError(f"{path}: no examples")
    integral_floats = np.issubdtype(y.dtype, np.floating) and bool(np.all(np.mod(y, 1) == 0))
    if not (np.issubdtype(y.dtype, np.integer) or integral_floats):
        raise DataError(f"{path}: y must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DataError(f"{path}: labels must be >= 0, found {int(y.min())}")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0  # 8-bit images: scale to [0, 1]
    elif not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(f"{path}: x must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: x contains NaN or infinite values")
    return x, y
