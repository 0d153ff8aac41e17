"""Secrets stay out of code packages, hyperparameters and environment variables (issue #14, items 3-4).

Packaging: a maintained list of credential file names (launcher.config.secrets), private-key
content in files of any name, hard links refused like symlinks that leave the source dir,
`.launcherignore` (gitignore syntax) for the rest; the package says what it left out and why, and
`include_files` / `--include-file` packages a file on purpose. Values: secret-looking names and
credential formats are refused with a pointer to a secret manager, unless `--allow-secret KEY`.
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
from pathlib import Path

import pytest

from launcher.cli.main import main
from launcher.cli.spec_args import add_spec_arguments, flags_to_layer
from launcher.config.secrets import find_secret
from launcher.config.spec import build_spec
from launcher.errors import PackagingError, SpecError
from launcher.job.packaging import package_source

# Built at run time so that this file holds no key a scanner would flag.
FAKE_KEY = ("-----BEGIN " + "RSA PRIVATE KEY-----\n" + "MIIEowIBAAKCAQEA" + "q" * 120 + "\n"
            + "-----END " + "RSA PRIVATE KEY-----\n")
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"
GH_TOKEN = "ghp_" + "a1B2" * 9

SECRET_FILES = {
    "credentials.json": '{"client_secret": "x"}',
    ".git-credentials": "https://user:pw@github.com\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=abc\n",
    ".docker/config.json": '{"auths": {}}',
    ".kube/config": "apiVersion: v1\n",
    "service-account.json": '{"type": "service_account"}',
    "terraform.tfstate.backup": "{}",
    "deploy/gcp-credentials.json": "{}",
    ".env.production": "A=1\n",
    "keys/server.pem": "x",
    ".pypirc": "[pypi]\n",
    "secrets.toml": "a = 1\n",
}


def make_source(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('hi')\n")
    (root / "pkg" / "mod.py").write_text("HEADER = '-----BEGIN RSA PRIVATE KEY-----'  # no key material\n")
    return root


def tar_names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return sorted(tar.getnames())


@pytest.mark.parametrize("rel", sorted(SECRET_FILES))
def test_each_secret_file_kind_is_left_out_and_reported(tmp_path, rel):
    src = make_source(tmp_path / "src")
    (src / rel).parent.mkdir(parents=True, exist_ok=True)
    (src / rel).write_text(SECRET_FILES[rel])
    pkg = package_source(src, tmp_path / "out")
    assert tar_names(pkg.path) == ["pkg/mod.py", "train.py"]
    secret = pkg.secrets_excluded
    assert len(secret) == 1 and rel.startswith(secret[0].path.rstrip("/")), secret
    assert secret[0].reason


def test_a_private_key_without_extension_is_found_by_its_content(tmp_path):
    src = make_source(tmp_path / "src")
    (src / "deploy_key").write_text(FAKE_KEY)
    (src / "notes.txt").write_text("see deploy_key\n")
    pkg = package_source(src, tmp_path / "out")
    assert tar_names(pkg.path) == ["notes.txt", "pkg/mod.py", "train.py"]  # a bare header is no key
    [excluded] = pkg.excluded
    assert excluded.path == "deploy_key" and excluded.kind == "secret"
    assert "RSA PRIVATE KEY" in excluded.reason


def test_a_hard_link_to_a_file_outside_is_refused(tmp_path):
    home = tmp_path / "home" / ".aws"
    home.mkdir(parents=True)
    (home / "credentials").write_text("[default]\naws_secret_access_key = x\n")
    src = make_source(tmp_path / "src")
    os.link(home / "credentials", src / "notes.txt")
    with pytest.raises(PackagingError, match="notes.txt is a hard link with 2 names, 1 of them"):
        package_source(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    pkg = package_source(src, tmp_path / "out", include=["notes.txt"])  # on purpose
    assert "notes.txt" in pkg.files and pkg.included == ("notes.txt",)


def test_hard_links_inside_the_tree_are_fine_unless_one_is_a_secret(tmp_path):
    src = make_source(tmp_path / "src")
    os.link(src / "train.py", src / "train_copy.py")
    (src / ".env").write_text("TOKEN=1\n")
    os.link(src / ".env", src / "config.txt")
    (src / "alias.txt").symlink_to(src / ".env")
    pkg = package_source(src, tmp_path / "out")
    assert tar_names(pkg.path) == ["pkg/mod.py", "train.py", "train_copy.py"]
    reasons = {e.path: e.reason for e in pkg.secrets_excluded}
    assert set(reasons) == {".env", "config.txt", "alias.txt"}
    assert "hard link to .env" in reasons["config.txt"] and "link to .env" in reasons["alias.txt"]


def test_launcherignore_and_explicit_includes(tmp_path):
    src = make_source(tmp_path / "src")
    (src / "data").mkdir()
    (src / "data" / "big.npz").write_bytes(b"x" * 10)
    (src / "run.ckpt").write_text("c")
    (src / "keep.ckpt").write_text("k")
    (src / ".launcherignore").write_text("# local only\ndata/\n*.ckpt\n!keep.ckpt\n")
    (src / ".env").write_text("A=1\n")
    pkg = package_source(src, tmp_path / "out")
    assert tar_names(pkg.path) == [".launcherignore", "keep.ckpt", "pkg/mod.py", "train.py"]
    kinds = {e.path: e.kind for e in pkg.excluded}
    assert kinds == {"data/": "ignored", "run.ckpt": "ignored", ".env": "secret"}
    summary = pkg.exclusions_summary()
    assert summary["excluded"][0] == {"path": ".env", "kind": "secret",
                                      "reason": "environment file (name matches .env)"}
    pkg2 = package_source(src, tmp_path / "out", include=[".env", "data/big.npz"])
    assert {".env", "data/big.npz"} <= set(tar_names(pkg2.path))
    assert pkg2.included == (".env", "data/big.npz")
    with pytest.raises(PackagingError, match="not in the source dir"):
        package_source(src, tmp_path / "out", include=["missing.json"])


def test_tooling_directories_are_reported_apart(tmp_path):
    src = make_source(tmp_path / "src")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("[core]\n")
    (src / "__pycache__").mkdir()
    pkg = package_source(src, tmp_path / "out")
    assert {(e.path, e.kind) for e in pkg.excluded} == {(".git/", "tooling"), ("__pycache__/", "tooling")}
    assert pkg.secrets_excluded == ()


# -- secret-looking values ------------------------------------------------------------------------

SECRET_VALUES = {
    "an AWS access key id": AWS_KEY_ID,
    "an AWS session key id": "ASIA" + "Y34FZKBOKMUTVV7A",
    "a private key": FAKE_KEY,
    "a GitHub token": GH_TOKEN,
    "a Hugging Face token": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456",
    "a Slack token": "xoxb-" + "1234567890-abcdefghij",
    "an inline password": "user=admin password=hunter2",
    "a password in a URL": "postgres://admin:hunter2@db.internal/prod",
}


@pytest.mark.parametrize("what", sorted(SECRET_VALUES))
@pytest.mark.parametrize("where", ["extra_hyperparameters", "environment"])
def test_secret_looking_values_are_refused_without_echoing_them(where, what):
    value = SECRET_VALUES[what]
    with pytest.raises(SpecError, match="looks like a secret") as err:
        build_spec({where: {"SETTING": value}})
    text = str(err.value)
    assert value not in text and "hunter2" not in text
    assert "Secrets Manager" in text and "--allow-secret SETTING" in text
    spec = build_spec({where: {"SETTING": value}, "allow_secrets": ["SETTING"]})
    assert getattr(spec, where)["SETTING"] == value


@pytest.mark.parametrize("key", ["password", "db_password", "apiKey", "api_key", "secret", "client_secret",
                                 "token", "HF_TOKEN", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY",
                                 "WANDB_API_KEY", "access_token", "AWS_SESSION_TOKEN"])
def test_secret_names_are_refused(key):
    assert find_secret(key, "x") == "its name"
    with pytest.raises(SpecError, match=f"'{key}' looks like a secret \\(its name\\)"):
        build_spec({"environment": {key: "x"}} if key.isupper() else {"extra_hyperparameters": {key: "x"}})


@pytest.mark.parametrize(("key", "value"), [
    ("max_tokens", 512), ("pad_token_id", 0), ("bos_token", "<s>"), ("tokenizer", "bert-base"),
    ("num_tokens", 10), ("db_password_secret_id", "prod/db"), ("hf_token_path", "/run/secrets/hf"),
    ("secret_name", "prod/db"), ("AWS_ACCESS_KEY_ID_NAME", "x"), ("data", "s3://bucket/key/"),
    ("repo", "git@github.com:org/repo.git"), ("layers", [64, 128]), ("lr", 0.1),
])
def test_ordinary_values_pass(key, value):
    assert find_secret(key, value) is None


def test_nested_secrets_and_unknown_allowances():
    with pytest.raises(SpecError, match="it holds a key named 'password'"):
        build_spec({"extra_hyperparameters": {"db": {"host": "h", "password": "x"}}})
    with pytest.raises(SpecError, match="allow_secrets names 'pasword'"):
        build_spec({"extra_hyperparameters": {"password": "x"}, "allow_secrets": ["pasword"]})
    with pytest.raises(SpecError, match="include_files entry '../x'"):
        build_spec({"include_files": ["../x"]})


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_spec_arguments(parser)
    return parser.parse_args(argv)


def test_flags_map_onto_the_spec_fields():
    layer = flags_to_layer(_parse(["--include-file", "conf/key.json", "--include-file", ".env",
                                   "--allow-secret", "HF_TOKEN"]))
    assert layer["include_files"] == ["conf/key.json", ".env"] and layer["allow_secrets"] == ["HF_TOKEN"]
    assert "include_files" not in flags_to_layer(_parse([]))


def test_cli_refuses_a_secret_hyperparameter_in_one_line(cli_env):
    rc = main(["train", "--local", "--dry-run", "--epochs", "1", "--hp", f"key_id={AWS_KEY_ID}"], cli_env)
    assert rc == 2
    lines = cli_env.err.splitlines()
    assert lines[0] == ("error: hyperparameter 'key_id' looks like a secret (its value looks like an AWS "
                        "access key id): hyperparameters and environment variables are sent in the "
                        "CreateTrainingJob request, shown by DescribeTrainingJob and the console, and "
                        "stored in the local job record")
    assert AWS_KEY_ID not in cli_env.err and "Traceback" not in cli_env.err
    rc = main(["train", "--local", "--dry-run", "--epochs", "1", "--hp", f"key_id={AWS_KEY_ID}",
               "--allow-secret", "key_id"], cli_env)
    assert rc == 0, cli_env.err


def test_local_job_records_are_private(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("print('ok')\n")
    rc = main(["train", "--local", "--source-dir", str(src), "--name", "private-job"], cli_env)
    assert rc == 0, cli_env.err
    job = cli_env.home / "jobs" / "private-job"
    assert job.stat().st_mode & 0o777 == 0o700
    for record in ("spec.json", "job.json"):
        assert (job / record).stat().st_mode & 0o777 == 0o600


def test_package_tarball_really_lacks_the_secret_bytes(tmp_path):
    src = make_source(tmp_path / "src")
    (src / "credentials.json").write_text(GH_TOKEN)
    (src / "deploy_key").write_text(FAKE_KEY)
    blob = package_source(src, tmp_path / "out").path.read_bytes()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        contents = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
    assert GH_TOKEN.encode() not in contents and b"q" * 120 not in contents


def test_preview_reports_the_same_as_packaging_and_writes_nothing(tmp_path):
    from launcher.job.packaging import preview_source

    src = make_source(tmp_path / "src")
    (src / "deploy_key").write_text(FAKE_KEY)
    (src / ".npmrc").write_text("x")
    before = sorted(p.name for p in tmp_path.iterdir())
    scan = preview_source(src)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    pkg = package_source(src, tmp_path / "out")
    assert [n for n, _ in scan.files] == list(pkg.files)
    assert tuple(scan.excluded) == pkg.excluded
