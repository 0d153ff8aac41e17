"""One training job, end to end: data, plan, model, resume, train, artefacts.

Imported by ``train.py`` only after the hyperparameters parsed, so a bad configuration fails in
a fraction of a second instead of after torch's multi-second import.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

import checkpointing
import networks
import reporting
import rng_state
import runtime
from batching import BatchSource
from channels import DataBundle, prepare_data
from container_env import ContainerError, ContainerPaths, ProcessInfo, ensure_dir
from hyperparameters import OPERATIONAL_KEYS, HyperparameterError, TrainConfig, config_to_dict
from planning import RunPlan, plan_run, schedule_lines
from training_loop import Parts, Trainer

log = logging.getLogger("train")


def run(config: TrainConfig, paths: ContainerPaths, proc: ProcessInfo) -> None:
    """The whole job: data, plan, model, resume, train, artefacts."""
    device = runtime.select_device(proc)
    runtime.init_distributed(proc, device)
    try:
        _run(config, paths, proc, device)
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            runtime.shutdown_distributed(succeeded=False)
        raise
    runtime.shutdown_distributed(succeeded=True)


def _run(config: TrainConfig, paths: ContainerPaths, proc: ProcessInfo, device: torch.device) -> None:
    runtime.configure_backends(device)
    rng_state.seed_everything(config.seed)
    log.info("Hyperparameters: %s", json.dumps(config_to_dict(config), sort_keys=True))
    data = prepare_data(paths.train_channel, paths.validation_channel, config.val_fraction, config.seed)
    try:
        plan = plan_run(config, data.train_samples, proc.world_size)
    except ValueError as exc:
        raise HyperparameterError(str(exc)) from None
    for line in plan.steps.header_lines() + schedule_lines(config, plan):
        log.info("%s", line)
    if config.early_stopping_patience and data.val_x is None:
        log.warning("early_stopping_patience needs validation data (a channel or val_fraction > 0): off")
    trainer, description = build_trainer(config, plan, data, proc, device, paths)
    resume(trainer, proc, device)
    try:
        trainer.run()
    except BaseException:
        trainer.close(raise_errors=False)  # keep the first error, not a secondary one
        raise
    trainer.close()
    best_epoch = trainer.finalize_weights()
    if proc.is_main:
        write_outputs(trainer, plan, description, paths, best_epoch)


def build_trainer(
    config: TrainConfig,
    plan: RunPlan,
    data: DataBundle,
    proc: ProcessInfo,
    device: torch.device,
    paths: ContainerPaths,
) -> tuple[Trainer, dict[str, Any]]:
    """Model, optimizer, precision, data placement, DDP and compile, wired into a Trainer; also
    the model description that becomes model.json."""
    try:
        arch = networks.choose_architecture(config.model, data.input_shape)
    except ValueError as exc:
        raise HyperparameterError(str(exc)) from None
    model = build_model(config, arch, data).to(device)
    # channels_last pays on GPUs (tensor cores) and on CPU too (oneDNN convolutions, ~1.45x here).
    channels_last = arch == "cnn"
    if channels_last:
        # Module.to accepts memory_format at runtime; torch's overloads do not declare it.
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    try:
        precision = runtime.resolve_precision(config.amp, device)
    except ValueError as exc:  # e.g. amp=bf16 on a GPU without bf16
        raise HyperparameterError(str(exc)) from None
    optimizer = runtime.build_optimizer(
        config.optimizer,
        model.parameters(),
        lr=plan.effective_lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        device=device,
    )
    ddp = None
    train_model: nn.Module = model
    if proc.distributed:
        device_ids = [device.index] if device.type == "cuda" else None
        ddp = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        train_model = ddp
    if config.compile:
        train_model = torch.compile(train_model)  # type: ignore[assignment]
    train_source = BatchSource(
        torch.from_numpy(data.train_x),
        torch.from_numpy(data.train_y),
        device,
        channels_last=channels_last,
        num_workers=config.num_workers,
    )
    val_source = None
    if data.val_x is not None and data.val_y is not None:
        val_source = BatchSource(
            torch.from_numpy(data.val_x), torch.from_numpy(data.val_y), device, channels_last=channels_last
        )
    parameters = sum(p.numel() for p in model.parameters())
    log.info(
        "Device: %s | Processes: %d | Precision: %s | Optimizer: %s | Model: %s (%d parameters)%s",
        device,
        proc.world_size,
        precision.label,
        config.optimizer,
        arch,
        parameters,
        " | torch.compile" if config.compile else "",
    )
    log.info("Training data: %s", train_source.describe())
    parts = Parts(
        model=model,
        train_model=train_model,
        ddp=ddp,
        optimizer=optimizer,
        scaler=runtime.make_grad_scaler(precision, device),
        precision=precision,
        train_source=train_source,
        val_source=val_source,
    )
    checkpoint_dir = agreed_checkpoint_dir(paths.checkpoint_dir)
    identity = fingerprint(config, data, proc)
    trainer = Trainer(config, plan.steps, plan.schedule, parts, proc, device, checkpoint_dir, identity)
    description = networks.describe(
        arch, data.input_shape, data.num_classes, config.hidden_sizes, config.conv_channels
    )
    return trainer, description


def build_model(config: TrainConfig, arch: str, data: DataBundle) -> nn.Module:
    if arch == "cnn":
        return networks.build_cnn(data.input_shape, data.num_classes, config.conv_channels)
    return networks.build_mlp(data.input_shape, data.num_classes, config.hidden_sizes)


def agreed_checkpoint_dir(directory: Path | None) -> Path | None:
    """Checkpoint saving is collective, so every process must agree on whether it is on."""
    flags = runtime.all_gather_objects(directory is not None)
    if any(flags) and not all(flags):
        raise ContainerError(
            "a checkpoint directory exists for some processes only: give every host the same CheckpointConfig"
        )
    if directory is None:
        log.info("Checkpoints: off (no checkpointconfig.json and no /opt/ml/checkpoints)")
    return directory


def fingerprint(config: TrainConfig, data: DataBundle, proc: ProcessInfo) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the arithmetic-relevant settings and data."""
    settings = {k: v for k, v in config_to_dict(config).items() if k not in OPERATIONAL_KEYS}
    return {
        "config": settings,
        "data": {
            "train_samples": data.train_samples,
            "val_samples": data.val_samples,
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes,
        },
        "world_size": proc.world_size,
    }


def resume(trainer: Trainer, proc: ProcessInfo, device: torch.device) -> None:
    """Continue from the newest intact checkpoint that every process has, if any."""
    directory = trainer.checkpoint_dir
    if directory is None:
        return
    if proc.is_main:
        ensure_dir(directory)
        checkpointing.remove_stale_temporaries(directory)
    found = checkpointing.load_latest(directory)
    mine = found[0] if found else -1
    agreed = runtime.all_reduce_min_int(mine, device)
    if agreed < 0:
        log.info("Checkpoints: %s (none to resume from; starting from scratch)", directory)
        return
    if mine != agreed:
        found = checkpointing.load_latest(directory, at_most=agreed)
        if found is None or found[0] != agreed:
            raise ContainerError(
                f"rank {proc.rank} lacks checkpoint step {agreed} that other ranks resume from"
            )
    assert found is not None
    trainer.load_checkpoint_state(found[1])
    p = trainer.progress
    log.info(
        "Resumed from %s: epoch %d, batch %d of %d, optimizer step %d%s",
        checkpointing.checkpoint_path(directory, found[0]).name,
        p.epoch + 1,
        p.batch_in_epoch,
        trainer.plan.iterations_per_epoch,
        p.global_step,
        " (training had finished)" if p.done else "",
    )


def write_outputs(
    trainer: Trainer,
    plan: RunPlan,
    description: dict[str, Any],
    paths: ContainerPaths,
    best_epoch: int | None,
) -> None:
    """model.pt + model.json in the model dir; metrics.json + history.csv in the output data dir."""
    config, p, es = trainer.config, trainer.progress, trainer.early_stopping
    model_dir, out_dir = ensure_dir(paths.model_dir), ensure_dir(paths.output_data_dir)
    save_state_dict(model_dir / "model.pt", trainer.parts.model.state_dict())
    description = dict(description)
    description.update(
        {
            "format": 1,
            "state_dict": "model.pt",
            "weights_from_epoch": best_epoch or (p.history[-1]["epoch"] if p.history else 0),
            "hyperparameters": config_to_dict(config),
            "torch_version": torch.__version__,
        }
    )
    reporting.write_json(model_dir / "model.json", description)
    last = p.history[-1] if p.history else {}
    best = next((row for row in p.history if row["epoch"] == es.best_epoch), None)
    metrics: dict[str, Any] = {
        "final": last,
        "best": best,
        "epochs_completed": len(p.history),
        "optimizer_steps": p.global_step,
        "stopped_early": p.stopped_early,
        "restored_best_epoch": best_epoch,
        "resumed_from_steps": p.resumed_from,
        "plan": {
            "samples": plan.steps.samples,
            "batch_size": plan.steps.batch_size,
            "global_batch_size": plan.steps.global_batch_size,
            "iterations_per_epoch": plan.steps.iterations_per_epoch,
            "total_iterations": plan.steps.total_iterations,
            "optimizer_steps_per_epoch": plan.steps.optimizer_steps_per_epoch,
            "total_optimizer_steps": plan.steps.total_optimizer_steps,
            "warmup_steps": plan.warmup_steps,
            "effective_lr": plan.effective_lr,
        },
    }
    if config.log_lr_every_step:
        metrics["lr_history"] = p.lr_history
    reporting.write_json(out_dir / "metrics.json", metrics)
    reporting.write_history_csv(out_dir / "history.csv", p.history)
    summary = f"best val_loss {es.best:.6g} at epoch {es.best_epoch}" if best else "no validation"
    log.info(
        "Training complete: %d epoch(s), %d optimizer steps, %s; model saved to %s",
        len(p.history),
        p.global_step,
        summary,
        model_dir,
    )


def save_state_dict(path: Path, state_dict: dict[str, torch.Tensor]) -> None:
    """``torch.save`` a CPU copy of a state_dict atomically (model.pt)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buffer)
    reporting.write_bytes_atomic(path, buffer.getvalue())
