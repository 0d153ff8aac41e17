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


def housing_csv(root: Path, train_rows: int = 200, test_rows: int = 100) -> dict[str, Path]:
    """One channel `train` holding `train.csv` and `test.csv`: headerless, PRICE first, 8 features.

    The synthetic houses of aws/amazon-sagemaker-examples' `generate_synthetic_housing_data.py`
    (YEAR_BUILT, SQUARE_FEET, NUM_BEDROOMS, NUM_BATHROOMS, LOT_ACRES, GARAGE_SPACES, FRONT_PORCH,
    DECK, and its price formula), standardised as its notebook does, the price in units of 100 000.
    Its notebook uploads both files under one prefix and passes that as the `train` channel; the
    XGBoost script reads `train.csv` only, so `test.csv` is left for judging the saved model.
    """
    rng = np.random.default_rng(SEED)
    channels = _dirs(root, "train")
    splits = {}
    for split, rows in (("train", train_rows), ("test", test_rows)):
        porch = rng.integers(0, 2, rows)
        x = np.column_stack([
            np.minimum(2019, rng.normal(1995, 10, rows).astype(int)),  # YEAR_BUILT
            rng.normal(3000, 750, rows),                                 # SQUARE_FEET
            rng.integers(2, 7, rows),                                    # NUM_BEDROOMS
            rng.integers(2, 7, rows) / 2,                                # NUM_BATHROOMS
            np.round(rng.normal(1.0, 0.25, rows), 2),                    # LOT_ACRES
            rng.integers(0, 4, rows),                                    # GARAGE_SPACES
            porch,                                                       # FRONT_PORCH
            rng.integers(0, 2, rows),                                    # DECK
        ]).astype(float)
        # The published formula (its "garage" term reads FRONT_PORCH too), prices as integers.
        price = (150 * x[:, 1] + 10000 * x[:, 2] + 15000 * x[:, 3] + 15000 * x[:, 4] + 20000 * porch
                 + 15000 * x[:, 5] - 5000 * (2019 - x[:, 0])).astype(int)
        splits[split] = (x, price / 100000)
    mean, std = splits["train"][0].mean(axis=0), splits["train"][0].std(axis=0)
    for split, (x, y) in splits.items():
        np.savetxt(channels["train"] / f"{split}.csv", np.column_stack([y, (x - mean) / std]), delimiter=",")
    return channels
