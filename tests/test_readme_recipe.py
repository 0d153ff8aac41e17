"""The README's offline recipe, run verbatim: a moto server, `launch infra deploy`, a submit, a list."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _recipe() -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(r"<!-- offline-recipe -->\n```bash\n(.*?)```", text, re.S)
    assert match, "the README lost its offline recipe"
    return match.group(1)


def test_offline_recipe_runs_as_written(tmp_path: Path) -> None:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 5055)) == 0:
            pytest.fail("port 5055 is taken: the recipe's moto server cannot start")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAUNCHER_"))}
    env.update(HOME=str(tmp_path), LAUNCHER_CONFIG=str(tmp_path / "config.toml"),
               LAUNCHER_HOME=str(tmp_path / "home"))
    proc = subprocess.run(["bash", "-e", "-c", _recipe()], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Saved as defaults" in proc.stdout
    assert re.search(r"submitted train-\d{8}-\d{6}-[0-9a-f]{4}", proc.stdout)
    assert "sagemaker   Completed" in proc.stdout
    assert 'bucket = "launcher-123456789012-us-east-1"' in (tmp_path / "config.toml").read_text()
