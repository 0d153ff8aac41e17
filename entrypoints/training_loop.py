"""The training loop: epochs, micro-batches, optimizer steps, evaluation, logging, checkpoints.

Hot-path rules (the tuned loop of bench/README.md): the running loss stays on the device (one in-place add
per micro-batch) and is read back only at log points and epoch ends; the LR is a python float
from ``schedules.lr_at``; gradients are dropped with ``set_to_none``; DDP skips the gradient
all-reduce on all but the last micro-batch of an accumulation group.

Exact resume: everything that evolves lives in :class:`Progress`, the model, the optimizer, the
grad scaler, the early-stopping state and the per-rank loss accumulators and RNG states, and all
of it goes into checkpoints (see :meth:`Trainer.checkpoint_state`). The shuffling order is
regenerated from (seed, epoch), and a resumed epoch skips exactly the micro-batches consumed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import rng_state
from batching import BatchSource, epoch_order
from checkpoint_writer import CheckpointWriter, snapshot
from container_env import ProcessInfo
from early_stopping import EarlyStopping
from errors import ResumeMismatch, TrainingDiverged
from hyperparameters import TrainConfig
from reporting import metric_line
from runtime import Precision, all_gather_objects, all_reduce_sum_
from schedules import ScheduleSpec, lr_at
from steps import StepPlan

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


@dataclass
class Progress:
    """Where the run stands; checkpointed as a plain dict."""

    epoch: int = 0  # 0-based epoch in progress
    batch_in_epoch: int = 0  # micro-batches of ``epoch`` already consumed
    global_step: int = 0  # optimizer steps taken
    done: bool = False
    stopped_early: bool = False
    epoch_loss_sum: float = 0.0  # over all ranks, folded in at log points
    epoch_samples: int = 0
    window_samples: int = 0  # per rank, since the last fold (equal on every rank)
    history: list[dict[str, Any]] = field(default_factory=list)
    lr_history: list[float] = field(default_factory=list)
    resumed_from: list[int] = field(default_factory=list)


@dataclass
class Parts:
    """What the loop drives; built by ``train.py``."""

    model: nn.Module  # the plain module: state_dict, evaluation, artefacts
    train_model: nn.Module  # what the forward pass calls: maybe DDP- and/or compile-wrapped
    ddp: nn.parallel.DistributedDataParallel | None
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    precision: Precision
    train_source: BatchSource
    val_source: BatchSource | None


class Trainer:
    """Runs a :class:`StepPlan` to completion, resumable at any optimizer step."""

    def __init__(
        self,
        config: TrainConfig,
        plan: StepPlan,
        spec: ScheduleSpec,
        parts: Parts,
        proc: ProcessInfo,
        device: torch.device,
        checkpoint_dir: Path | None,
        fingerprint: dict[str, Any],
    ) -> None:
        self.config, self.plan, self.spec, self.parts = config, plan, spec, parts
        self.proc, self.device, self.checkpoint_dir = proc, device, checkpoint_dir
        self.fingerprint = fingerprint
        self.progress = Progress()
        self.early_stopping = EarlyStopping(config.early_stopping_patience, config.early_stopping_min_delta)
        self.keep_best = self.early_stopping.enabled and config.restore_best and parts.val_source is not None
        self.best_state: dict[str, torch.Tensor] | None = None
        self._writer: CheckpointWriter | None = None
        self.last_lr = lr_at(spec, 0)
        self._window_sum = torch.zeros((), dtype=torch.float64, device=device)
        self._window_t0 = time.perf_counter()
        self.eval_batch_size = max(config.batch_size, 512)

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        """Train until the plan, max_steps or early stopping ends the run."""
        while not self.progress.done:
            self._train_epoch()

    def _train_epoch(self) -> None:
        p, plan, parts = self.progress, self.plan, self.parts
        n_batches, accum = plan.iterations_per_epoch, plan.grad_accum_steps
        order = epoch_order(
            plan.samples,
            p.epoch,
            self.config.seed,
            self.config.shuffle,
            self.proc.rank,
            self.proc.world_size,
            device=parts.train_source.index_device,
        )
        epoch_t0 = self._window_t0 = time.perf_counter()
        processed = 0  # by this process in this call (a resumed epoch counts only its remainder)
        parts.train_model.train()
        batches = parts.train_source.batches(order, plan.batch_size, p.batch_in_epoch, n_batches)
        for i, (xb, yb) in enumerate(batches, start=p.batch_in_epoch):
            group_start = i - i % accum
            group_len = min(accum, n_batches - group_start)
            steps_now = i == group_start + group_len - 1
            # Gradients of a group's earlier micro-batches stay local; the last one all-reduces.
            no_sync = parts.ddp is not None and not steps_now
            with parts.ddp.no_sync() if no_sync else contextlib.nullcontext():  # type: ignore[union-attr]
                with parts.precision.autocast(self.device):
                    loss = F.cross_entropy(parts.train_model(xb), yb)
                scaled = loss / group_len if group_len > 1 else loss
                (parts.scaler.scale(scaled) if parts.scaler else scaled).backward()  # type: ignore[no-untyped-call]
            n = int(yb.shape[0])  # shape metadata: no device sync
            self._window_sum.add_(loss.detach(), alpha=n)
            p.window_samples += n
            processed += n
            p.batch_in_epoch = i + 1
            if not steps_now:
                continue
            self._optimizer_step()
            if p.batch_in_epoch == n_batches or p.global_step >= plan.total_optimizer_steps:
                break
            if self.config.log_every_steps and p.global_step % self.config.log_every_steps == 0:
                self._log_point()
            if self.config.checkpoint_every_steps and p.global_step % self.config.checkpoint_every_steps == 0:
                self.save_checkpoint()
        self._end_epoch(epoch_t0, processed * self.proc.world_size)

    def _optimizer_step(self) -> None:
        p, parts = self.progress, self.parts
        lr = lr_at(self.spec, p.global_step)
        for group in parts.optimizer.param_groups:
            group["lr"] = lr
        if parts.scaler is not None:
            parts.scaler.step(parts.optimizer)
            parts.scaler.update()
        else:
            parts.optimizer.step()
        parts.optimizer.zero_grad(set_to_none=True)
        p.global_step += 1
        self.last_lr = lr
        if self.config.log_lr_every_step:
            p.lr_history.append(lr)
            # repr() round-trips the float exactly, so a test can compare with lr_per_step.
            log.info("step=%d lr=%r", p.global_step, lr)

    def _fold_window(self) -> tuple[float, int]:
        """Global mean train loss since the last fold and its sample count; resets the window."""
        p = self.progress
        totals = torch.stack(
            [self._window_sum, torch.tensor(float(p.window_samples), dtype=torch.float64, device=self.device)]
        )
        loss_sum, samples = all_reduce_sum_(totals).tolist()  # the only host sync of a log point
        self._window_sum.zero_()
        p.window_samples = 0
        p.epoch_loss_sum += loss_sum
        p.epoch_samples += int(samples)
        if not samples:
            return math.nan, 0
        mean = loss_sum / samples
        if not math.isfinite(mean):
            raise TrainingDiverged(
                f"train_loss={mean} at epoch {p.epoch + 1}, step {p.global_step}: "
                "lower lr, enable warmup or check the data"
            )
        return mean, int(samples)

    def _log_point(self) -> None:
        mean, samples = self._fold_window()
        now = time.perf_counter()  # after the fold's sync, so queued GPU work is counted
        throughput = samples / max(now - self._window_t0, 1e-9)
        self._window_t0 = now
        p = self.progress
        log.info(
            metric_line(
                [
                    ("epoch", p.epoch + 1),
                    ("step", p.global_step),
                    ("train_loss", mean),
                    ("lr", self.last_lr),
                    ("samples_per_sec", round(throughput, 1)),
                ]
            )
        )

    def _end_epoch(self, epoch_t0: float, samples: int) -> None:
        p = self.progress
        self._fold_window()
        elapsed = time.perf_counter() - epoch_t0  # after the fold's sync, like the log points
        train_loss = p.epoch_loss_sum / p.epoch_samples
        val_loss, val_accuracy = self.evaluate()
        epoch = p.epoch + 1
        if val_loss is not None:
            improved = self.early_stopping.update(epoch, val_loss)
            if improved and self.keep_best:
                weights = self.parts.model.state_dict()
                # A device copy: no host sync; replaced (not mutated) on the next improvement.
                self.best_state = {k: v.detach().clone() for k, v in weights.items()}
        row = {
            "epoch": epoch,
            "step": p.global_step,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": self.last_lr,
            "epoch_time_s": round(elapsed, 3),
            "samples_per_sec": round(samples / max(elapsed, 1e-9), 1),
        }
        p.history.append(row)
        log.info(metric_line(list(row.items())))
        p.epoch, p.batch_in_epoch = epoch, 0
        p.epoch_loss_sum, p.epoch_samples = 0.0, 0
        if self.early_stopping.should_stop:
            p.stopped_early = True
            log.info(
                "Early stopping: val_loss has not improved for %d epochs (best %.6g at epoch %d); "
                "stopping after epoch %d",
                self.early_stopping.bad_epochs,
                self.early_stopping.best,
                self.early_stopping.best_epoch,
                epoch,
            )
        if p.stopped_early or p.epoch >= self.plan.epochs or p.global_step >= self.plan.total_optimizer_steps:
            p.done = True
        self.save_checkpoint()

    def evaluate(self) -> tuple[float | None, float | None]:
        """Validation loss and accuracy over all ranks (each rank takes every world_size-th example)."""
        source = self.parts.val_source
        if source is None:
            return None, None
        model = self.parts.model  # unwrapped: DDP's buffer broadcast would deadlock on uneven shards
        was_training = model.training
        model.eval()
        order = torch.arange(self.proc.rank, len(source), self.proc.world_size, device=source.index_device)
        n_batches = math.ceil(len(order) / self.eval_batch_size)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        correct = torch.zeros((), dtype=torch.float64, device=self.device)
        with torch.inference_mode(), self.parts.precision.autocast(self.device):
            for xb, yb in source.batches(order, self.eval_batch_size, 0, n_batches):
                logits = model(xb).float()
                loss_sum += F.cross_entropy(logits, yb, reduction="sum")
                correct += (logits.argmax(dim=1) == yb).sum()
        count = torch.tensor(float(len(order)), dtype=torch.float64, device=self.device)
        total_loss, total_correct, total = all_reduce_sum_(torch.stack([loss_sum, correct, count])).tolist()
        model.train(was_training)
        return total_loss / total, total_correct / total

    # --- end of run -----------------------------------------------------------------------------

    def finalize_weights(self) -> int | None:
        """With restore_best, load the best epoch's weights; return that epoch (None if unchanged)."""
        es, p = self.early_stopping, self.progress
        if not self.keep_best or self.best_state is None or not p.history:
            return None
        if es.best_epoch == p.history[-1]["epoch"]:
            return None
        self.parts.model.load_state_dict(self.best_state)
        log.info(
            "Restored the best weights: epoch %d (val_loss %.6g) instead of the last epoch %d",
            es.best_epoch,
            es.best,
            p.history[-1]["epoch"],
        )
        return es.best_epoch

    # --- checkpoints ----------------------------------------------------------------------------

    def checkpoint_state(self) -> dict[str, Any] | None:
        """Everything needed to continue as if nothing happened, as a snapshot that later steps
        cannot change. Collective: every rank contributes its loss accumulator and RNG states;
        rank 0 gets the state, the others ``None``."""
        if self.proc.distributed:
            mine = {"window_sum": self._window_sum.cpu(), "rng": rng_state.capture()}
            per_rank = all_gather_objects(mine)
        else:
            per_rank = [{"window_sum": self._window_sum, "rng": rng_state.capture()}]  # no host sync
        if not self.proc.is_main:
            return None
        parts = self.parts
        state: dict[str, Any] = snapshot(
            {
                "format": CHECKPOINT_FORMAT,
                "global_step": self.progress.global_step,
                "progress": asdict(self.progress),
                "fingerprint": self.fingerprint,
                "model": parts.model.state_dict(),
                "optimizer": parts.optimizer.state_dict(),
                # The schedule is a pure function of the step; the spec is kept to detect changes.
                "scheduler": {"spec": asdict(self.spec), "step": self.progress.global_step},
                "scaler": parts.scaler.state_dict() if parts.scaler is not None else None,
                "early_stopping": self.early_stopping.state_dict(),
                # The order is regenerated from these (batching.epoch_order), so it is not stored.
                "shuffle": {"seed": self.config.seed, "epoch": self.progress.epoch},
                "per_rank": per_rank,
            }
        )
        state["best_state"] = self.best_state  # replaced, never modified in place: no copy needed
        return state

    def save_checkpoint(self) -> None:
        """Snapshot now; rank 0's background writer saves it (all hosts share one S3 prefix, so
        only global rank 0 writes)."""
        if self.checkpoint_dir is None:
            return
        state = self.checkpoint_state()
        if state is None:
            return
        p = self.progress
        where = f"end of epoch {p.epoch}"
        if p.batch_in_epoch:
            where = f"epoch {p.epoch + 1}, batch {p.batch_in_epoch}"
        if self._writer is None:
            self._writer = CheckpointWriter(self.checkpoint_dir, self.config.keep_checkpoints)
        self._writer.submit(p.global_step, state, where)

    def close(self, raise_errors: bool = True) -> None:
        """Wait for the last checkpoint write (call once training ended, successfully or not)."""
        if self._writer is not None:
            self._writer.close(raise_errors)
            self._writer = None

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`checkpoint_state`."""
        _check_fingerprint(state.get("fingerprint"), self.fingerprint)
        parts = self.parts
        parts.model.load_state_dict(state["model"])
        parts.optimizer.load_state_dict(state["optimizer"])
        if parts.scaler is not None and state.get("scaler") is not None:
            parts.scaler.load_state_dict(state["scaler"])
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.best_state = state.get("best_state")
        self.progress = Progress(**state["progress"])
        self.progress.resumed_from.append(self.progress.global_step)
        if self.progress.global_step > 0:
            self.last_lr = lr_at(self.spec, self.progress.global_step - 1)
        mine = state["per_rank"][self.proc.rank]
        self._window_sum = mine["window_sum"].to(self.device)
        rng_state.restore(mine["rng"])


def _check_fingerprint(saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    if saved == current:
        return
    saved = saved or {}
    diffs = []
    for section in sorted(set(saved) | set(current)):
        old, new = saved.get(section), current.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if old.get(key) != new.get(key):
                    diffs.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
        elif old != new:
            diffs.append(f"{section}: {old!r} -> {new!r}")
    raise ResumeMismatch(
        "the checkpoint directory holds a run with a different configuration or dataset ("
        + "; ".join(diffs[:8])
        + "); use a fresh checkpoint location or restore the original settings"
    )
