"""Shared fixtures: an isolated launcher environment and a moto server over HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import logging
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from launcher.context import Environment

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_sdk_config_files(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's own SageMaker SDK config files never reach a test (tests set them explicitly)."""
    import launcher.config.sdk_defaults as sdk_defaults

    absent = tmp_path_factory.getbasetemp() / "no-sagemaker-config.yaml"
    monkeypatch.setattr(sdk_defaults, "ADMIN_DEFAULT", absent)
    monkeypatch.setattr(sdk_defaults, "USER_DEFAULT", absent)
    for variable in ("SAGEMAKER_ADMIN_CONFIG_OVERRIDE", "SAGEMAKER_USER_CONFIG_OVERRIDE"):
        monkeypatch.delenv(variable, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the session; tests call `aws` to get clean state and env vars."""
    from moto.server import ThreadedMotoServer

    # moto logs every request and its own NotImplemented errors; keep them out of test output.
    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "SAGEMAKER_VALIDATE_ROLE": "false",
}


@pytest.fixture
def aws(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Fresh moto state, fake credentials and AWS_ENDPOINT_URL for this test; returns the URL."""
    req = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    for key in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_server


class CapturedEnv(Environment):
    """An Environment whose streams are StringIO; read `.out` / `.err` after a command."""

    @property
    def out(self) -> str:
        assert isinstance(self.stdout, io.StringIO)
        return self.stdout.getvalue()

    @property
    def err(self) -> str:
        assert isinstance(self.stderr, io.StringIO)
        return self.stderr.getvalue()


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CapturedEnv:
    """An isolated CLI environment: its own config file, job home and cwd under tmp_path."""
    import os

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAUNCHER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAUNCHER_CONFIG", str(tmp_path / "config.toml"))
    return CapturedEnv(
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        environ=os.environ,  # live: fixtures such as `aws` may set variables after this one
        cwd=tmp_path,
        stdout_isatty=False,
        config_path=tmp_path / "config.toml",
        home=tmp_path / "home",
    )
