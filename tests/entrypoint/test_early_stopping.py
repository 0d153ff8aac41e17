"""The early-stopping algorithm on crafted val_loss sequences."""

from __future__ import annotations

import math

from early_stopping import EarlyStopping


def run(sequence: list[float], patience: int, min_delta: float = 0.0) -> tuple[int | None, EarlyStopping]:
    """Feed epochs 1..n; return the epoch after which training stops (None: ran to the end)."""
    es = EarlyStopping(patience, min_delta)
    for epoch, value in enumerate(sequence, start=1):
        es.update(epoch, value)
        if es.should_stop:
            return epoch, es
    return None, es


def test_stops_after_patience_epochs_without_improvement() -> None:
    stop, es = run([1.0, 0.8, 0.7, 0.72, 0.71, 0.75, 0.5], patience=3)
    assert stop == 6  # epochs 4, 5, 6 brought no improvement over epoch 3
    assert (es.best, es.best_epoch, es.bad_epochs) == (0.7, 3, 3)


def test_improvement_resets_the_count() -> None:
    stop, es = run([1.0, 1.1, 1.2, 0.9, 1.0, 1.0], patience=3)
    assert stop is None
    assert es.best_epoch == 4


def test_min_delta_requires_a_real_improvement() -> None:
    stop, es = run([1.0, 0.995, 0.99, 0.985], patience=2, min_delta=0.02)
    assert stop == 3
    assert es.best_epoch == 1


def test_nan_is_never_an_improvement() -> None:
    stop, es = run([1.0, math.nan, math.nan], patience=2)
    assert stop == 3
    assert es.best == 1.0


def test_disabled_with_zero_patience_but_still_tracks_best() -> None:
    stop, es = run([1.0, 2.0, 3.0, 4.0], patience=0)
    assert stop is None
    assert (es.best, es.best_epoch) == (1.0, 1)


def test_state_round_trip_continues_identically() -> None:
    sequence = [1.0, 0.9, 0.95, 0.97, 0.99]
    first = EarlyStopping(3)
    for epoch, value in enumerate(sequence[:3], start=1):
        first.update(epoch, value)
    second = EarlyStopping(3)
    second.load_state_dict(first.state_dict())
    for epoch, value in enumerate(sequence[3:], start=4):
        first.update(epoch, value)
        second.update(epoch, value)
    assert first == second
    assert second.should_stop
