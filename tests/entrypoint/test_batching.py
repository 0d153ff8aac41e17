"""The per-epoch order is DistributedSampler's, and a resumed epoch skips exactly what was consumed."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DistributedSampler

from batching import BatchSource, epoch_order


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("samples", [10, 11, 2])
def test_matches_distributed_sampler(world_size: int, shuffle: bool, samples: int) -> None:
    dataset = list(range(samples))
    for epoch in (0, 1, 5):
        for rank in range(world_size):
            sampler = DistributedSampler(
                dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=42, drop_last=False
            )
            sampler.set_epoch(epoch)
            ours = epoch_order(samples, epoch, 42, shuffle, rank, world_size)
            assert ours.tolist() == list(sampler)


def test_orders_differ_between_epochs_and_seeds() -> None:
    assert not torch.equal(epoch_order(100, 0, 1, True), epoch_order(100, 1, 1, True))
    assert not torch.equal(epoch_order(100, 0, 1, True), epoch_order(100, 0, 2, True))
    assert torch.equal(epoch_order(100, 3, 1, True), epoch_order(100, 3, 1, True))


def test_batches_resume_mid_epoch() -> None:
    x = torch.arange(20, dtype=torch.float32).reshape(10, 2)
    y = torch.arange(10)
    source = BatchSource(x, y, torch.device("cpu"))
    order = epoch_order(10, 0, 7, True)
    full = [yb.tolist() for _, yb in source.batches(order, 3, 0, 4)]
    resumed = [yb.tolist() for _, yb in source.batches(order, 3, 2, 4)]
    assert resumed == full[2:]
    assert sorted(sum(full, [])) == list(range(10))
    assert [len(b) for b in full] == [3, 3, 3, 1]
