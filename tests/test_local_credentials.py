"""What a local script receives of the caller's credentials: the policy, never tokens unrelated to AWS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from launcher.backends.local.backend import LocalBackend
from launcher.backends.local.options import LocalOptions
from launcher.config.spec import build_spec
from launcher.errors import AwsError
from launcher.runner import submit_spec

ROLE = "arn:aws:iam::123456789012:role/launcher-sagemaker-us-east-1"
CALLER = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "AWS_ACCESS_KEY_ID": "AKIDCALLER",
          "AWS_SECRET_ACCESS_KEY": "caller-secret", "AWS_PROFILE": "work", "AWS_REGION": "us-east-1",
          "GITHUB_TOKEN": "gho-not-for-scripts", "HF_TOKEN": "not-for-scripts",
          "OPENAI_API_KEY": "not-for-scripts", "DB_PASSWORD": "not-for-scripts", "LANG": "C.UTF-8"}
PROBE = ("import json, os\n"
         "print('ENV=' + json.dumps({k: v for k, v in os.environ.items() if k.startswith(('AWS_', 'GITHUB', "
         "'HF_', 'OPENAI', 'DB_', 'MY_'))}))\n")


def _run(tmp_path: Path, policy: str, sts: Any = None, **spec: Any) -> tuple[Any, dict[str, str]]:
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "probe.py").write_text(PROBE)
    lines: list[str] = []
    backend = LocalBackend(tmp_path / "jobs", environ=dict(CALLER), echo=lines.append,
                           sts_factory=(lambda: sts) if sts is not None else None,
                           options=LocalOptions())
    job = build_spec({"source_dir": str(src), "entrypoint": "probe.py", "spot": {"enabled": False},
                      "aws": {"local_credentials": policy, "role": ROLE}, **spec})
    desc = submit_spec(backend, job, f"creds-{policy}")
    seen = json.loads(next(line for line in lines if line.startswith("ENV=")).removeprefix("ENV="))
    return desc, seen


def test_caller_policy_passes_aws_credentials_but_no_other_token(tmp_path: Path) -> None:
    desc, seen = _run(tmp_path, "caller", environment={"MY_API_KEY": "on-purpose"},
                      allow_secrets=["MY_API_KEY"])
    assert seen["AWS_ACCESS_KEY_ID"] == "AKIDCALLER" and seen["AWS_PROFILE"] == "work"
    assert seen["MY_API_KEY"] == "on-purpose"  # the job's own --env is kept
    assert not {"GITHUB_TOKEN", "HF_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD"} & set(seen)
    assert desc.details["environment_left_out"] == ["DB_PASSWORD", "GITHUB_TOKEN", "HF_TOKEN",
                                                    "OPENAI_API_KEY"]
    assert "caller's AWS credentials" in desc.details["credentials"]


def test_none_policy_leaves_no_way_to_aws_credentials(tmp_path: Path) -> None:
    desc, seen = _run(tmp_path, "none")
    assert "AWS_ACCESS_KEY_ID" not in seen and "AWS_PROFILE" not in seen
    assert seen["AWS_SHARED_CREDENTIALS_FILE"] == seen["AWS_CONFIG_FILE"] == "/dev/null"
    assert seen["AWS_EC2_METADATA_DISABLED"] == "true" and seen["AWS_REGION"] == "us-east-1"
    assert "AWS_ACCESS_KEY_ID" in desc.details["environment_left_out"]


def _sts(error: str | None = None) -> Any:
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sts)
    expected = {"RoleArn": ROLE, "RoleSessionName": "launcher-creds-role", "DurationSeconds": 3600}
    if error:
        stub.add_client_error("assume_role", service_error_code=error, service_message="not trusted",
                              expected_params=expected)
    else:
        stub.add_response("assume_role", {"Credentials": {
            "AccessKeyId": "ASIAROLEKEYEXAMPLE", "SecretAccessKey": "role-secret",
            "SessionToken": "role-session", "Expiration": "2030-01-01T00:00:00Z"}}, expected)
    stub.activate()
    return sts


def test_role_policy_gives_the_execution_roles_temporary_credentials(tmp_path: Path) -> None:
    desc, seen = _run(tmp_path, "role", sts=_sts())
    assert (seen["AWS_ACCESS_KEY_ID"], seen["AWS_SESSION_TOKEN"]) == ("ASIAROLEKEYEXAMPLE", "role-session")
    assert "AWS_PROFILE" not in seen and seen["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"
    assert ROLE in desc.details["credentials"]


def test_role_policy_refused_by_the_trust_policy_runs_nothing(tmp_path: Path) -> None:
    with pytest.raises(AwsError, match="cannot assume .* not trusted") as err:
        _run(tmp_path, "role", sts=_sts(error="AccessDenied"))
    assert "trust policy must allow your principal" in (err.value.remedy or "")
    assert not (tmp_path / "jobs" / "creds-role").exists()
