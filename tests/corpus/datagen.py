"""Small data, written by this project, in the exact format each corpus script reads.

Each function writes one job's channels under `root` and returns them as {channel: directory}, ready
for `--data NAME=DIR`. The sizes keep every script to a few seconds on 2 CPU cores; the seeds make
the files identical from run to run. The formats are the scripts' own: file names, array keys,
column order and dtypes are those the published code opens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20261203


def _dirs(root: Path, *names: str) -> dict[str, Path]:
    out = {}
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
        out[name] = root / name
    return out


def _regression(rng: np.random.Generator, rows: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth target of `features` inputs with a little noise (California-housing-like shape)."""
    x = rng.normal(size=(rows, features))
    w = np.linspace(1.0, -1.0, features)
    y = np.tanh(x @ w) + 0.05 * rng.normal(size=rows)
    return x, y


def npy_regression(root: Path, train_rows: int = 256, test_rows: int = 64) -> dict[str, Path]:
    """`train/x_train.npy`, `train/y_train.npy`, `test/x_test.npy`, `test/y_test.npy`: 8 features.

    What the SDK's `pytorch_model_def.NeuralNet` (nn.Linear(8, …)) scripts load with np.load.
    """
    rng = np.random.default_rng(SEED)
    channels = _dirs(root, "train", "test")
    for split, rows in (("train", train_rows), ("test", test_rows)):
        x, y = _regression(rng, rows, 8)
        np.save(channels[split] / f"x_{split}.npy", x.astype(np.float32))
        np.save(channels[split] / f"y_{split}.npy", y.astype(np.float32))
    return channels


def csv_label_first(root: Path, splits: tuple[str, ...], rows: int = 200, features: int = 8,
                    file_suffix: str = ".csv") -> dict[str, Path]:
    """One headerless CSV per channel, the label in the first column (the scripts' `iloc[:, 0]`)."""
    rng = np.random.default_rng(SEED)
    channels = _dirs(root, *splits)
    for split in splits:
        x, y = _regression(rng, rows, features)
        np.savetxt(channels[split] / f"{split}{file_suffix}", np.column_stack([y, x]), delimiter=",")
    return channels


def mnist_npz(root: Path, train_rows: int = 300, test_rows: int = 100,
              classes: int = 3) -> dict[str, Path]:
    """`train/train.npz` and `test/test.npz` with keys `x` (rows × 784 pixel values 0–255) and `y`.

    The SDK's sklearn_mnist script reshapes `x` to 784 columns, scales it by 1/255 and fits an SVC:
    each class is a distinct blob of bright pixels on a noisy background, so the classes separate.
    """
    rng = np.random.default_rng(SEED)
    prototypes = np.zeros((classes, 784))
    for c in range(classes):
        prototypes[c, c * 200:(c * 200) + 150] = 200.0
    channels = _dirs(root, "train", "test")
    for split, rows in (("train", train_rows), ("test", test_rows)):
        y = np.arange(rows) % classes
        x = np.clip(prototypes[y] + rng.normal(0.0, 30.0, size=(rows, 784)), 0, 255)
        np.savez(channels[split] / f"{split}.npz", x=x.astype(np.uint8), y=y.astype(np.int64))
    return channels
