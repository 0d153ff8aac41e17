"""Test setup for the reference entrypoint.

The pure modules are imported as the launcher imports them (``entrypoints.steps``); the torch
modules flat, as the container does (``import checkpointing``), which needs the source directory on
``sys.path``. It is appended, not prepended, so it never shadows an installed package.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from ep_harness import DIGITS_HPS, Finished, make_tree, run_train

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINTS = REPO / "entrypoints"

for entry in (str(REPO), str(ENTRYPOINTS)):
    if entry not in sys.path:
        sys.path.append(entry)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "integration: runs train.py as a subprocess")


@pytest.fixture(scope="session")
def digits_baseline(tmp_path_factory: pytest.TempPathFactory) -> Finished:
    """One uninterrupted run of the shared digits job, reused by every test that compares with it."""
    tree = make_tree(tmp_path_factory.mktemp("digits-baseline"))
    status, lines = run_train(tree, DIGITS_HPS)
    assert status == 0, "\n".join(lines[-40:])
    return Finished(tree, lines)
