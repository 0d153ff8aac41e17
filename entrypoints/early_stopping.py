"""Early stopping on val_loss: the usual patience algorithm, as a small checkpointable state machine.

After every epoch ``update(epoch, val_loss)``: a loss below ``best - min_delta`` is an
improvement (it becomes the best and resets the count of bad epochs); anything else, NaN
included, adds a bad epoch. With ``patience`` > 0 training stops once ``patience`` consecutive
epochs brought no improvement. The best value is tracked even with ``patience`` 0, for
``metrics.json``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class EarlyStopping:
    """Tracks the best val_loss and the epochs since it improved."""

    patience: int
    min_delta: float = 0.0
    best: float = math.inf
    best_epoch: int = 0  # 1-based epoch of ``best``; 0 before any epoch
    bad_epochs: int = 0

    def update(self, epoch: int, value: float) -> bool:
        """Record epoch ``epoch``'s val_loss; return whether it improved on the best."""
        if not math.isnan(value) and value < self.best - self.min_delta:
            self.best = value
            self.best_epoch = epoch
            self.bad_epochs = 0
            return True
        self.bad_epochs += 1
        return False

    @property
    def enabled(self) -> bool:
        return self.patience > 0

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` epochs in a row brought no improvement (never when disabled)."""
        return self.enabled and self.bad_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self.bad_epochs = int(state["bad_epochs"])
