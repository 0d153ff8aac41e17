"""Capture and restore every random number generator a training step could touch.

The reference loop itself draws no random numbers after initialisation (shuffling uses a
dedicated generator seeded by seed + epoch), but a user who adds dropout or augmentation to a copy
of this script gets exact resume for free because the global streams are checkpointed too. States
are stored as plain lists and tensors so checkpoints load with ``weights_only=True``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

if TYPE_CHECKING:
    from numpy.typing import NDArray


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy's legacy seeding takes 32 bits
    torch.manual_seed(seed)


def capture() -> dict[str, Any]:
    """The current state of the python, numpy, torch and CUDA generators."""
    version, internal, gauss = random.getstate()
    # legacy=True returns the tuple form for the global MT19937 generator (the stubs also allow a dict).
    numpy_state = cast("tuple[str, NDArray[np.uint32], int, int, float]", np.random.get_state(legacy=True))
    kind, keys, pos, has_gauss, cached = numpy_state
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore(state: dict[str, Any]) -> None:
    """Put the generators back into a captured state."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available():
        # A restart may see fewer devices (e.g. CUDA_VISIBLE_DEVICES); restore those present.
        for index in range(min(len(cuda_states), torch.cuda.device_count())):
            torch.cuda.set_rng_state(cuda_states[index], index)
