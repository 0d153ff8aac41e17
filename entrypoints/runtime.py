"""Device, process group, precision and optimizer: the hardware-facing setup of a run.

The CUDA choices follow the tuned loop in ``bench/README.md`` (anchor figures): cuDNN autotuning, TF32
matmuls, bf16 autocast where supported, fused optimizer kernels. On CPU everything stays in fp32
with the default kernels, which keeps runs bitwise reproducible for the resume tests.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from container_env import ProcessInfo

log = logging.getLogger(__name__)


def select_device(proc: ProcessInfo) -> torch.device:
    """``cuda:<LOCAL_RANK>`` when a GPU is visible, else the CPU."""
    if torch.cuda.is_available():
        index = proc.local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def configure_backends(device: torch.device) -> None:
    """Speed switches that matter only on a GPU."""
    if device.type == "cuda":
        # Fixed input shapes: let cuDNN benchmark convolution algorithms once and reuse the best.
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")  # TF32 for any op left in fp32


def init_distributed(proc: ProcessInfo, device: torch.device) -> None:
    """Join torchrun's process group: NCCL between GPUs, gloo on CPU (env:// rendezvous)."""
    if not proc.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    log.info("Process group: backend=%s world_size=%d", backend, proc.world_size)


def shutdown_distributed(succeeded: bool) -> None:
    """Leave the process group; after a successful run, all processes together.

    Without the barrier a rank that finished first closes its connections while the last
    collective's messages (or rank 0's output writing) are still under way on the others, and
    gloo can fail or abort the process that is still working (pytorch/gloo#155). After a failure
    the barrier is skipped: the failing rank must not wait for peers that may never arrive; they
    see its connections close and fail in turn."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if succeeded:
        # NCCL's barrier needs the rank's GPU named, or it guesses it and warns.
        nccl = dist.get_backend() == "nccl"
        dist.barrier(device_ids=[torch.cuda.current_device()] if nccl else None)
    dist.destroy_process_group()


def distributed_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum_(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes, in place (no-op with one process)."""
    if distributed_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_min_int(value: int, device: torch.device) -> int:
    """The smallest ``value`` over all processes."""
    if not distributed_active():
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, indexed by rank (``[obj]`` with one process)."""
    if not distributed_active():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


@dataclass(frozen=True)
class Precision:
    """How forward passes run: autocast dtype (None: fp32) and whether a grad scaler is needed."""

    dtype: torch.dtype | None
    use_scaler: bool
    label: str

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.dtype)


def resolve_precision(amp: str, device: torch.device) -> Precision:
    """``auto``: bf16 on GPUs that support it, else fp32. ``fp16`` adds a grad scaler (CUDA only)."""
    cuda = device.type == "cuda"
    bf16_ok = cuda and torch.cuda.is_bf16_supported()
    if amp == "auto":
        return Precision(torch.bfloat16, False, "bf16") if bf16_ok else Precision(None, False, "off")
    if amp == "off":
        return Precision(None, False, "off")
    if amp == "bf16":
        if cuda and not bf16_ok:
            raise ValueError("amp=bf16 but this GPU has no bf16 support: use amp=fp16 or auto")
        return Precision(torch.bfloat16, False, "bf16")
    if amp == "fp16":
        if not cuda:
            # Same job file, CPU machine: run in fp32 rather than fail a local rehearsal.
            log.warning("amp=fp16 needs a CUDA device; training in fp32 on %s", device)
            return Precision(None, False, "off")
        return Precision(torch.float16, True, "fp16")
    raise ValueError(f"unknown amp mode {amp!r}")


def build_optimizer(
    name: str,
    params: Iterable[torch.nn.Parameter],
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    device: torch.device,
) -> torch.optim.Optimizer:
    """SGD (with momentum), Adam or AdamW; fused kernels on CUDA (one launch per step)."""
    # On CPU keep torch's default implementation: the bitwise-resume tests rely on it.
    fused: bool | None = True if device.type == "cuda" else None
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, fused=fused)
    betas = (momentum, 0.999)  # momentum doubles as beta1, so one knob means the same thing
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    raise ValueError(f"unknown optimizer {name!r}")


def make_grad_scaler(precision: Precision, device: torch.device) -> torch.amp.GradScaler | None:
    return torch.amp.GradScaler(device.type) if precision.use_scaler else None
