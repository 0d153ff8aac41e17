"""Reading the container contract: checkpoint location, failure file, channels, torchrun variables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from container_env import (
    FAILURE_MESSAGE_LIMIT,
    ContainerError,
    checkpoint_dir,
    failure_file,
    process_info,
    resolve_paths,
    write_failure,
)


def test_checkpoint_dir_from_checkpointconfig(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "checkpointconfig.json").write_text(json.dumps({"LocalPath": "/state"}))
    assert checkpoint_dir({"SM_INPUT_CONFIG_DIR": str(config)}, opt_ml=tmp_path) == Path("/state")


def test_checkpoint_dir_default_when_it_exists_else_off(tmp_path: Path) -> None:
    env = {"SM_INPUT_CONFIG_DIR": str(tmp_path / "no-config")}
    assert checkpoint_dir(env, opt_ml=tmp_path) is None
    (tmp_path / "checkpoints").mkdir()
    assert checkpoint_dir(env, opt_ml=tmp_path) == tmp_path / "checkpoints"


def test_tuning_trials_keep_checkpoints_under_their_own_name(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "checkpointconfig.json").write_text(json.dumps({"LocalPath": "/state"}))
    env = {"SM_INPUT_CONFIG_DIR": str(config), "TRAINING_JOB_NAME": "tune-a-003-9f2c1d0e"}
    assert checkpoint_dir(env, opt_ml=tmp_path) == Path("/state")  # a plain job: the directory itself
    trial = {**env, "LAUNCHER_TUNING_JOB": "tune-a"}
    assert checkpoint_dir(trial, opt_ml=tmp_path) == Path("/state/tune-a-003-9f2c1d0e")
    assert checkpoint_dir({**trial, "TRAINING_JOB_NAME": "../x"}, opt_ml=tmp_path) == Path("/state")


def test_malformed_checkpointconfig(tmp_path: Path) -> None:
    (tmp_path / "checkpointconfig.json").write_text("{")
    with pytest.raises(ContainerError, match="checkpointconfig.json"):
        checkpoint_dir({"SM_INPUT_CONFIG_DIR": str(tmp_path)}, opt_ml=tmp_path)


def test_failure_file_location(tmp_path: Path) -> None:
    assert failure_file({"SM_OUTPUT_FAILURE": str(tmp_path / "f")}, opt_ml=tmp_path) == tmp_path / "f"
    assert failure_file({}, opt_ml=tmp_path) is None  # no /opt/ml/output: nowhere to write
    (tmp_path / "output").mkdir()
    assert failure_file({}, opt_ml=tmp_path) == tmp_path / "output" / "failure"


def test_failure_message_is_capped_and_first_rank_wins(tmp_path: Path) -> None:
    path = tmp_path / "failure"
    write_failure(path, "Invalid hyperparameters: " + "x" * 5000)
    text = path.read_text().strip()
    assert len(text) == FAILURE_MESSAGE_LIMIT and text.startswith("Invalid hyperparameters: ")
    write_failure(path, "later, less useful", overwrite=False)
    assert path.read_text().startswith("Invalid hyperparameters")


def test_channels(tmp_path: Path) -> None:
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "val").mkdir()
    paths = resolve_paths({"SM_INPUT_DATA_DIR": str(tmp_path / "data")}, opt_ml=tmp_path)
    assert paths.train_channel == tmp_path / "data" / "train"
    assert paths.validation_channel == tmp_path / "data" / "val"
    assert paths.model_dir == tmp_path / "model"
    with pytest.raises(ContainerError, match="no training data"):
        resolve_paths({"SM_INPUT_DATA_DIR": str(tmp_path / "nothing")}, opt_ml=tmp_path)
    with pytest.raises(ContainerError, match="does not exist"):
        resolve_paths({"SM_CHANNEL_TRAIN": str(tmp_path / "missing")}, opt_ml=tmp_path)


def test_process_info() -> None:
    assert process_info({}).world_size == 1
    info = process_info({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (info.rank, info.local_rank, info.distributed, info.is_main) == (3, 1, True, False)
    with pytest.raises(ContainerError):
        process_info({"WORLD_SIZE": "2", "RANK": "2"})
