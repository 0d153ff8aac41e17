"""Per-epoch sample order and batch delivery to the compute device.

The order is a pure function of (seed, epoch, rank, world size), so a checkpoint only needs the
epoch and the number of batches consumed to resume mid-epoch exactly. On a GPU the dataset is kept
on the device when it fits (one ``index_select`` per batch, no host round trip); otherwise batches
are gathered on the host by ``num_workers`` DataLoader workers into pinned memory and copied with
``non_blocking=True``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

log = logging.getLogger(__name__)

# Keep the data on the GPU only while it leaves most memory to the model and activations.
RESIDENT_SHARE_OF_FREE_MEMORY = 0.5


def epoch_order(
    num_samples: int,
    epoch: int,
    seed: int,
    shuffle: bool,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | None = None,
) -> torch.Tensor:
    """This rank's sample indices for ``epoch`` (0-based).

    Identical to ``DistributedSampler(shuffle=shuffle, seed=seed, drop_last=False)`` after
    ``set_epoch(epoch)`` on CPU: ``randperm`` seeded with ``seed + epoch``, padded by repeating the
    head to a multiple of ``world_size``, then every ``world_size``-th index from ``rank``. With one
    process that is a plain seeded permutation. On CUDA the permutation comes from a CUDA
    generator (different numbers, equally deterministic).
    """
    device = device or torch.device("cpu")
    if shuffle:
        generator = torch.Generator(device=device)
        generator.manual_seed(seed + epoch)
        indices = torch.randperm(num_samples, generator=generator, device=device)
    else:
        indices = torch.arange(num_samples, device=device)
    total = math.ceil(num_samples / world_size) * world_size
    padding = total - num_samples
    if padding:
        repeats = math.ceil(padding / num_samples)
        indices = torch.cat([indices, indices.repeat(repeats)[:padding]])
    return indices[rank:total:world_size]


class BatchSource:
    """Delivers ``(x, y)`` batches for an order of indices, on the compute device."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        device: torch.device,
        *,
        channels_last: bool = False,
        num_workers: int = 0,
    ) -> None:
        self.device = device
        self.channels_last = channels_last
        self.num_workers = num_workers
        self.resident = _fits_on_device(x, y, device)
        if self.resident:
            self.x = x.to(device)
            self.y = y.to(device)
        else:
            # Pinned host memory makes the later per-batch copies asynchronous.
            self.x = x.pin_memory()
            self.y = y.pin_memory()
        self.index_device = device if self.resident else torch.device("cpu")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def describe(self) -> str:
        size_mib = (self.x.nbytes + self.y.nbytes) / 2**20
        if self.resident:
            return f"resident on {self.device} ({size_mib:.1f} MiB)"
        return (
            f"pinned host memory ({size_mib:.1f} MiB), copied per batch to {self.device} "
            f"with {self.num_workers} worker(s)"
        )

    def batches(
        self, order: torch.Tensor, batch_size: int, start: int, stop: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``start`` .. ``stop - 1`` of ``order`` (a resumed epoch starts mid-way)."""
        if self.resident:
            for i in range(start, stop):
                idx = order[i * batch_size : (i + 1) * batch_size]
                yield self._finish(self.x.index_select(0, idx)), self.y.index_select(0, idx)
            return
        loader = DataLoader(
            _IndexedBatches(self.x, self.y, order, batch_size, start, stop),
            batch_size=None,
            shuffle=False,
            num_workers=self.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        for xb, yb in loader:
            xb = xb.to(self.device, non_blocking=True)
            yield self._finish(xb), yb.to(self.device, non_blocking=True)

    def _finish(self, xb: torch.Tensor) -> torch.Tensor:
        if self.channels_last and xb.dim() == 4:
            return xb.contiguous(memory_format=torch.channels_last)
        return xb


class _IndexedBatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One item per batch, so DataLoader workers gather whole batches."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        order: torch.Tensor,
        batch_size: int,
        start: int,
        stop: int,
    ) -> None:
        self.x, self.y, self.order = x, y, order.cpu()
        self.batch_size, self.start, self.stop = batch_size, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.start + k
        idx = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        return self.x.index_select(0, idx), self.y.index_select(0, idx)


def _fits_on_device(x: torch.Tensor, y: torch.Tensor, device: torch.device) -> bool:
    if device.type != "cuda":
        return True  # on CPU the tensors already are where the compute happens
    free, _total = torch.cuda.mem_get_info(device)
    return x.nbytes + y.nbytes <= RESIDENT_SHARE_OF_FREE_MEMORY * free
