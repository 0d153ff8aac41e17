"""What the container tells the script: directories, channels, checkpoint location, process rank.

Everything is read through the container contract (``SM_*`` variables, the ``/opt/ml`` tree and
torchrun's ``RANK``/``WORLD_SIZE``), with SageMaker's fixed paths as defaults so the script also runs
under the classic toolkit, which sets fewer variables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

OPT_ML = Path("/opt/ml")
FAILURE_MESSAGE_LIMIT = 1024  # SageMaker shows the first 1,024 characters as FailureReason


class ContainerError(RuntimeError):
    """The container tree is not what the contract promises (missing channel, bad config file)."""


@dataclass(frozen=True)
class ContainerPaths:
    """Where inputs come from and outputs go."""

    train_channel: Path
    validation_channel: Path | None
    model_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path | None


@dataclass(frozen=True)
class ProcessInfo:
    """This process's place in a torchrun job (1 process, rank 0 without torchrun)."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        """Global rank 0: the only process that logs, checkpoints and writes artefacts."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def process_info(environ: Mapping[str, str]) -> ProcessInfo:
    """Rank and world size from torchrun's variables (never set outside torchrun, contract 3)."""
    try:
        world_size = int(environ.get("WORLD_SIZE", "1"))
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", "0"))
    except ValueError as exc:
        raise ContainerError(f"malformed torchrun environment: {exc}") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise ContainerError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world_size}")
    return ProcessInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def resolve_paths(environ: Mapping[str, str], opt_ml: Path = OPT_ML) -> ContainerPaths:
    """Locate channels, the model and output directories, and the checkpoint directory."""
    data_dir = Path(environ.get("SM_INPUT_DATA_DIR", str(opt_ml / "input" / "data")))
    train = _channel(environ, data_dir, ("train",))
    if train is None:
        raise ContainerError(
            "no training data: set SM_CHANNEL_TRAIN or provide the 'train' channel "
            f"({data_dir / 'train'} does not exist)"
        )
    return ContainerPaths(
        train_channel=train,
        validation_channel=_channel(environ, data_dir, ("validation", "val")),
        model_dir=Path(environ.get("SM_MODEL_DIR", str(opt_ml / "model"))),
        output_data_dir=Path(environ.get("SM_OUTPUT_DATA_DIR", str(opt_ml / "output" / "data"))),
        checkpoint_dir=checkpoint_dir(environ, opt_ml),
    )


def checkpoint_dir(environ: Mapping[str, str], opt_ml: Path = OPT_ML) -> Path | None:
    """``LocalPath`` of ``checkpointconfig.json`` if present, else ``/opt/ml/checkpoints`` if it
    exists, else ``None`` (checkpointing off).

    The platform writes ``checkpointconfig.json`` only when the job has a CheckpointConfig, and then
    syncs that directory with S3 (restored before start, mirrored while running).
    """
    config_dir = Path(environ.get("SM_INPUT_CONFIG_DIR", str(opt_ml / "input" / "config")))
    config_file = config_dir / "checkpointconfig.json"
    if config_file.is_file():
        try:
            config = json.loads(config_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ContainerError(f"cannot read {config_file}: {exc}") from None
        if not isinstance(config, dict):
            raise ContainerError(f"{config_file} is not a JSON object")
        local_path = config.get("LocalPath") or str(opt_ml / "checkpoints")
        return _per_trial(Path(str(local_path)), environ)
    default = opt_ml / "checkpoints"
    return _per_trial(default, environ) if default.is_dir() else None


def _per_trial(directory: Path, environ: Mapping[str, str]) -> Path:
    """A tuning job's trials share one checkpoint prefix (the launcher sets LAUNCHER_TUNING_JOB in
    each): a trial keeps its checkpoints under its own job name, stable across spot restarts, so it
    never resumes from another trial's."""
    trial = environ.get("TRAINING_JOB_NAME", "")
    if environ.get("LAUNCHER_TUNING_JOB") and trial and "/" not in trial and trial not in (".", ".."):
        return directory / trial
    return directory


def failure_file(environ: Mapping[str, str], opt_ml: Path = OPT_ML) -> Path | None:
    """``SM_OUTPUT_FAILURE``, else ``/opt/ml/output/failure`` when ``/opt/ml/output`` exists."""
    if environ.get("SM_OUTPUT_FAILURE"):
        return Path(environ["SM_OUTPUT_FAILURE"])
    default_dir = opt_ml / "output"
    return default_dir / "failure" if default_dir.is_dir() else None


def write_failure(path: Path | None, message: str, *, overwrite: bool = True) -> None:
    """Write the reason SageMaker shows as FailureReason (the first 1,024 characters).

    The most useful part goes first because only the head is shown. With ``overwrite`` false an
    existing file is kept: in a distributed job the first rank's reason is the informative one.
    """
    if path is None:
        return
    text = message.strip() or "training failed"
    if len(text) > FAILURE_MESSAGE_LIMIT:
        text = text[: FAILURE_MESSAGE_LIMIT - 3] + "..."
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w" if overwrite else "x", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except FileExistsError:
        pass
    except OSError as exc:  # a failure while reporting a failure must not mask the first one
        log.warning("could not write the failure file %s: %s", path, exc)


def _channel(environ: Mapping[str, str], data_dir: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        value = environ.get(f"SM_CHANNEL_{name.upper()}")
        if value:
            if not Path(value).is_dir():
                raise ContainerError(f"channel '{name}' directory {value} does not exist")
            return Path(value)
    for name in names:
        candidate = data_dir / name
        if candidate.is_dir():
            return candidate
    return None


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; name the variable to set when that fails."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ContainerError(
            f"cannot create {path} ({exc.strerror}); set SM_MODEL_DIR / SM_OUTPUT_DATA_DIR to "
            "writable directories when running outside a container"
        ) from None
    return path
