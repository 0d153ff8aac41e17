"""`launch --help` stays fast: it imports neither the SageMaker SDK nor torch (nor boto3)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from launcher.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in ('torch', 'sagemaker', 'boto3', 'pydantic', 'numpy') if m in sys.modules)
print('HEAVY=' + ','.join(heavy))
"""


def imported_by(argv: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True,
                         text=True, timeout=60)
    line = [x for x in out.stdout.splitlines() if x.startswith("HEAVY=")][-1]
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def test_help_imports_nothing_heavy():
    assert imported_by(["--help"]) == []
    assert imported_by(["train", "--help"]) == []


def test_local_train_never_imports_the_sdk_in_the_launcher():
    # A failing spec still goes through resolution and validation (pydantic) but no SDK/torch.
    heavy = imported_by(["train", "--local", "--epochs", "0"])
    assert "torch" not in heavy and "sagemaker" not in heavy
