"""Run ``train.py`` as SageMaker would: a subprocess in the source directory, an /opt/ml-style tree
given through SM_* variables, hyperparameters both in SM_HPS and on argv (contract section 4.1)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINTS = REPO / "entrypoints"
DIGITS = REPO / "launcher" / "datasets" / "digits"
DIGITS_TRAIN = DIGITS / "train"
DIGITS_VALIDATION = DIGITS / "validation"
TIMEOUT_S = 180

# The shared digits job. 1437 examples at batch 64: 23 iterations per epoch; accumulating 2 gives
# 12 optimizer steps per epoch (the last group is a single batch) and 36 in total. Warmup covers
# steps 0-5; checkpoints every 3 steps and at each epoch end; early stopping is on (patience 5 never
# triggers in 3 epochs) so best weights travel through checkpoints too.
DIGITS_HPS: dict[str, object] = {
    "epochs": 3,
    "batch_size": 64,
    "grad_accum_steps": 2,
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "weight_decay": 0.0001,
    "lr_schedule": "cosine",
    "warmup_steps": 6,
    "seed": 7,
    "checkpoint_every_steps": 3,
    "keep_checkpoints": 2,
    "log_every_steps": 1,
    "log_lr_every_step": True,
    "early_stopping_patience": 5,
}

# Variables the outer environment must not leak into a job (a test run under torchrun, say).
_SCRUB = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "SM_HPS")


@dataclass(frozen=True)
class JobTree:
    """A temporary stand-in for /opt/ml."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output" / "data"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def env(
        self,
        train: Path = DIGITS_TRAIN,
        validation: Path | None = DIGITS_VALIDATION,
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "TORCHELASTIC"))}
        for key in _SCRUB:
            env.pop(key, None)
        env.update(
            {
                "TRAINING_JOB_NAME": "entrypoint-test",
                "OMP_NUM_THREADS": "1",
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "SM_MODEL_DIR": str(self.model),
                "SM_OUTPUT_DATA_DIR": str(self.output),
                "SM_OUTPUT_DIR": str(self.root / "output"),
                "SM_OUTPUT_FAILURE": str(self.failure),
                "SM_INPUT_DIR": str(self.root / "input"),
                "SM_INPUT_CONFIG_DIR": str(self.config),
                "SM_INPUT_DATA_DIR": str(self.root / "input" / "data"),
                "SM_CHANNEL_TRAIN": str(train),
            }
        )
        if validation is not None:
            env["SM_CHANNEL_VALIDATION"] = str(validation)
        return env


def make_tree(root: Path, checkpoints: bool = True) -> JobTree:
    tree = JobTree(root)
    for path in (tree.model, tree.output, tree.config, tree.root / "input" / "data"):
        path.mkdir(parents=True, exist_ok=True)
    if checkpoints:
        tree.checkpoints.mkdir(parents=True, exist_ok=True)
        (tree.config / "checkpointconfig.json").write_text(json.dumps({"LocalPath": str(tree.checkpoints)}))
    return tree


def hp_args(hps: Mapping[str, object]) -> tuple[list[str], str]:
    """argv tokens and SM_HPS exactly as ModelTrainer's driver builds them."""
    argv: list[str] = []
    for key, value in hps.items():
        argv += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    return argv, json.dumps(dict(hps))


def command(hps: Mapping[str, object], nproc: int = 1) -> list[str]:
    argv, _ = hp_args(hps)
    if nproc == 1:
        return [sys.executable, "train.py", *argv]
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        "train.py",
        *argv,
    ]


def run_train(
    tree: JobTree,
    hps: Mapping[str, object],
    *,
    env: dict[str, str] | None = None,
    nproc: int = 1,
    kill_when: Callable[[str], bool] | None = None,
) -> tuple[int, list[str]]:
    """Run one attempt; with ``kill_when``, SIGKILL the process as soon as a line satisfies it.

    Returns the exit status (negative for a signal) and the output lines.
    """
    env = dict(env if env is not None else tree.env())
    env["SM_HPS"] = hp_args(hps)[1]
    proc = subprocess.Popen(
        command(hps, nproc),
        cwd=ENTRYPOINTS,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so a kill takes torchrun's workers too
    )
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if kill_when is not None and kill_when(lines[-1]):
                os.killpg(proc.pid, signal.SIGKILL)
                break
        proc.stdout.close()
        status = proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return status, lines


def step_line(n: int) -> Callable[[str], bool]:
    """Matches the metric line of optimizer step ``n`` (``epoch=.. step=n ...``)."""
    return lambda line: line.startswith("epoch=") and f" step={n} " in line + " "


def checkpoint_line(step: int) -> Callable[[str], bool]:
    return lambda line: line.startswith(f"Checkpoint saved: ckpt-{step:09d}.pt")


@dataclass(frozen=True)
class Finished:
    """A completed job: its tree and its output."""

    tree: JobTree
    lines: list[str]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_model_state(tree: JobTree) -> dict[str, torch.Tensor]:
    return torch.load(tree.model / "model.pt", map_location="cpu", weights_only=True)


def assert_bitwise_equal(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert torch.equal(a[key], b[key]), f"tensor {key} differs"


def read_metrics(tree: JobTree) -> dict[str, object]:
    return json.loads((tree.output / "metrics.json").read_text())


def write_blobs(directory: Path, seed: int = 0, n: int = 400, dims: int = 6, files: int = 2) -> Path:
    """A separable 3-class problem with N x D features, sharded over several .npz files."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, size=(3, dims))
    y = rng.integers(0, 3, size=n)
    x = (centers[y] + rng.normal(0, 1, size=(n, dims))).astype(np.float32)
    directory.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(n), files)):
        np.savez(directory / f"part-{i:02d}.npz", x=x[part], y=y[part])
    return directory
