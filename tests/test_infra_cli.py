"""`launch infra deploy|status|destroy` end to end: the CLI, moto over HTTP, the user config.

moto's gaps are worked around as in test_infra_stack.py (see its docstring): ExecuteChangeSet is
patched to give the stack its Outputs, and failures are moto backend state set by hand (the moto
server runs in this process, so the backend objects are the ones the HTTP calls reach).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from launcher.cli.main import main
from launcher.config.userconfig import load_user_config, update_user_config
from tests.infra_helpers import moto_execute_like_cloudformation, moto_kms_key_tags_like_cloudformation

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto")

ACCOUNT = "123456789012"  # moto's default account
BUCKET = f"launcher-{ACCOUNT}-us-east-1"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/launcher-sagemaker-us-east-1"


@pytest.fixture
def moto(aws: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """moto over HTTP, with ExecuteChangeSet finishing the way CloudFormation does (Outputs and
    parameters of the executed change set on the stack)."""
    moto_execute_like_cloudformation(monkeypatch)
    return aws


def _s3() -> Any:
    from launcher.aws import client, make_session

    return client(make_session("us-east-1"), "s3")


def _backend_stack(name: str = "launcher-infra") -> Any:
    """The moto server runs in this process: its backend is the one the HTTP calls reach."""
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[ACCOUNT]["us-east-1"]
    return next(s for s in backend.stacks.values() if s.name == name)


def _add_event(stack: Any, logical: str, kind: str, status: str, reason: str | None) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name,
                              logical_resource_id=logical, physical_resource_id=logical,
                              resource_type=kind, resource_status=status,
                              resource_status_reason=reason, resource_properties=None))


def test_deploy_writes_outputs_to_user_config(moto: str, cli_env: Any) -> None:
    update_user_config(cli_env.config_path, "defaults", {"instance": "ml.m5.large"})
    rc = main(["infra", "deploy", "--yes"], cli_env)
    assert rc == 0, cli_env.err
    assert load_user_config(cli_env.config_path)["aws"] == {
        "bucket": BUCKET, "role": ROLE_ARN, "region": "us-east-1", "stack": "launcher-infra"}
    assert load_user_config(cli_env.config_path)["defaults"] == {"instance": "ml.m5.large"}
    out = cli_env.out
    assert "Changes to create stack launcher-infra" in out
    for line in ("Add     Bucket", "Add     BucketPolicy", "Add     ExecutionRole"):
        assert line in out
    assert "Created stack launcher-infra." in out
    assert f"bucket   {BUCKET}" in out and f"role     {ROLE_ARN}" in out
    assert "CREATE_COMPLETE" in cli_env.err  # progress goes to stderr


def test_deploy_twice_is_idempotent(moto: str, cli_env: Any) -> None:
    assert main(["infra", "deploy", "--yes"], cli_env) == 0
    first = cli_env.config_path.read_text()
    cli_env.stdout.seek(0)
    cli_env.stdout.truncate()
    assert main(["infra", "deploy", "--yes"], cli_env) == 0, cli_env.err
    assert "is up to date: no changes" in cli_env.out
    assert "Changes to" not in cli_env.out
    assert cli_env.config_path.read_text() == first


def test_deploy_with_prefix_and_region_flags(moto: str, cli_env: Any) -> None:
    update_user_config(cli_env.config_path, "aws", {"prefix": "projects/x"})
    rc = main(["infra", "deploy", "--yes", "--name", "team-a", "--region", "eu-west-1",
               "--retention-days", "14"], cli_env)
    assert rc == 0, cli_env.err
    aws_cfg = load_user_config(cli_env.config_path)["aws"]
    assert aws_cfg == {"bucket": f"team-a-{ACCOUNT}-eu-west-1",
                       "role": f"arn:aws:iam::{ACCOUNT}:role/team-a-sagemaker-eu-west-1",
                       "region": "eu-west-1", "stack": "team-a-infra", "prefix": "projects/x"}
    assert "KeyPrefix=projects/x, RetentionDays=14" in cli_env.out  # lifecycle follows [aws].prefix
    # An update, status and destroy find the stack through the config (name, region): no flags.
    assert main(["infra", "deploy", "--yes", "--name", "team-a"], cli_env) == 0, cli_env.err
    assert "team-a-infra is up to date" in cli_env.out
    assert main(["infra", "status", "--json"], cli_env) == 0, cli_env.err
    assert main(["infra", "destroy", "--yes"], cli_env) == 0, cli_env.err
    assert load_user_config(cli_env.config_path)["aws"] == {"prefix": "projects/x"}


def test_non_tty_without_yes_is_refused_before_any_call(cli_env: Any) -> None:
    # No `aws` fixture: any AWS call would fail differently (no endpoint, no credentials).
    for argv in (["infra", "deploy"], ["infra", "destroy"]):
        assert main(argv, cli_env) == 2
    assert "not on a terminal" in cli_env.err and "--yes" in cli_env.err


class _TtyInput(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interactive_prompt_declined_then_accepted(moto: str, cli_env: Any) -> None:
    cli_env.stdout_isatty = True
    cli_env.stdin = _TtyInput("n\n")
    assert main(["infra", "deploy"], cli_env) == 1
    assert "Create stack launcher-infra? [y/N]" in cli_env.err
    assert "cancelled: nothing was changed" in cli_env.err
    assert "aws" not in load_user_config(cli_env.config_path)
    cli_env.stdin = _TtyInput("yes\n")
    assert main(["infra", "deploy"], cli_env) == 0, cli_env.err
    assert load_user_config(cli_env.config_path)["aws"]["bucket"] == BUCKET


def test_invalid_flags_exit_2(cli_env: Any) -> None:
    assert main(["infra", "deploy", "--yes", "--name", "Bad_Name"], cli_env) == 2
    assert "invalid --name" in cli_env.err
    assert main(["infra", "deploy", "--yes", "--retention-days", "0"], cli_env) == 2
    assert main(["infra"], cli_env) == 2  # prints the infra help
    assert "deploy" in cli_env.out


def test_status_text_and_json(moto: str, cli_env: Any) -> None:
    assert main(["infra", "status"], cli_env) == 3
    assert "no stack launcher-infra in us-east-1" in cli_env.err
    assert main(["infra", "deploy", "--yes"], cli_env) == 0
    update_user_config(cli_env.config_path, "aws", {"role": "arn:aws:iam::1:role/old"})
    cli_env.stdout.seek(0)
    cli_env.stdout.truncate()
    assert main(["infra", "status"], cli_env) == 0, cli_env.err
    out = cli_env.out
    assert "Stack launcher-infra (us-east-1): CREATE_COMPLETE" in out
    assert f"bucket   {BUCKET}" in out
    assert "config [aws].role" in out and "differs from the stack's" in out
    assert "Latest events:" in out
    cli_env.stdout.seek(0)
    cli_env.stdout.truncate()
    assert main(["infra", "status", "--json"], cli_env) == 0
    data = json.loads(cli_env.out)
    assert data["status"] == "CREATE_COMPLETE" and data["healthy"] is True
    assert data["outputs"]["role"] == ROLE_ARN
    assert {f["check"] for f in data["facts"]} >= {"config [aws].bucket", "template", "bucket"}
    assert data["events"][0]["status"] == "CREATE_COMPLETE"


def test_destroy_refuses_non_empty_bucket_then_force(moto: str, cli_env: Any) -> None:
    assert main(["infra", "deploy", "--yes"], cli_env) == 0
    update_user_config(cli_env.config_path, "aws", {"profile_note": "kept"})
    _s3().put_object(Bucket=BUCKET, Key="checkpoints/j/ckpt.pt", Body=b"weights")

    assert main(["infra", "destroy", "--yes"], cli_env) == 4
    assert "holds 1 object version" in cli_env.err and "--force" in cli_env.err
    assert load_user_config(cli_env.config_path)["aws"]["bucket"] == BUCKET

    assert main(["infra", "destroy", "--yes", "--force"], cli_env) == 0, cli_env.err
    assert "Deleted stack launcher-infra after emptying its bucket (1 versions)." in cli_env.out
    assert load_user_config(cli_env.config_path)["aws"] == {"profile_note": "kept"}
    assert BUCKET not in [b["Name"] for b in _s3().list_buckets()["Buckets"]]
    assert main(["infra", "status"], cli_env) == 3
    assert main(["infra", "destroy", "--yes"], cli_env) == 0  # nothing left: a no-op
    assert "nothing to delete" in cli_env.out


def test_failed_create_reports_resource_and_reason(moto: str, cli_env: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.cloudformation.models as models

    def execute_and_fail(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        # What a create that rolls back leaves behind; moto itself never fails a create.
        stack = self.stacks[self.describe_change_set(change_set_name).stack_id]
        stack._add_stack_event("CREATE_IN_PROGRESS", "User Initiated")
        _add_event(stack, "Bucket", "AWS::S3::Bucket", "CREATE_FAILED",
                   f"{BUCKET} already exists")
        _add_event(stack, "ExecutionRole", "AWS::IAM::Role", "CREATE_FAILED",
                   "Resource creation cancelled")
        stack._add_stack_event("ROLLBACK_IN_PROGRESS", "The following resource(s) failed to "
                               "create: [Bucket, ExecutionRole]. Rollback requested by user.")
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"

    monkeypatch.setattr(models.CloudFormationBackend, "execute_change_set", execute_and_fail)
    assert main(["infra", "deploy", "--yes"], cli_env) == 4
    assert "error: deploying stack launcher-infra failed (ROLLBACK_COMPLETE): Bucket " \
           f"(AWS::S3::Bucket): {BUCKET} already exists" in cli_env.err
    assert "Traceback" not in cli_env.err
    assert "aws" not in load_user_config(cli_env.config_path)
    # Deploying again explains the state and the way out; destroy clears it.
    assert main(["infra", "deploy", "--yes"], cli_env) == 4
    assert "is ROLLBACK_COMPLETE: Bucket (AWS::S3::Bucket)" in cli_env.err
    assert "launch infra destroy --name launcher" in cli_env.err
    assert main(["infra", "destroy", "--yes"], cli_env) == 0, cli_env.err


def test_update_rollback_failed_is_reported(moto: str, cli_env: Any) -> None:
    assert main(["infra", "deploy", "--yes"], cli_env) == 0
    stack = _backend_stack()
    stack._add_stack_event("UPDATE_IN_PROGRESS", "User Initiated")
    _add_event(stack, "ExecutionRole", "AWS::IAM::Role", "UPDATE_FAILED",
               "API: iam:PutRolePolicy User: arn:aws:iam::123456789012:user/dev is not authorized")
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS")
    _add_event(stack, "ExecutionRole", "AWS::IAM::Role", "UPDATE_FAILED",
               "Resource update cancelled")
    stack._add_stack_event("UPDATE_ROLLBACK_FAILED")
    stack.status = "UPDATE_ROLLBACK_FAILED"

    assert main(["infra", "deploy", "--yes"], cli_env) == 4
    err = cli_env.err
    assert "stack launcher-infra is UPDATE_ROLLBACK_FAILED: ExecutionRole (AWS::IAM::Role): " \
           "API: iam:PutRolePolicy" in err
    assert "continue-update-rollback" in err
    assert main(["infra", "status"], cli_env) == 0
    assert "last failure" in cli_env.out and "iam:PutRolePolicy" in cli_env.out


def test_busy_stack_is_refused(moto: str, cli_env: Any) -> None:
    assert main(["infra", "deploy", "--yes"], cli_env) == 0
    _backend_stack().status = "UPDATE_IN_PROGRESS"
    assert main(["infra", "deploy", "--yes"], cli_env) == 4
    assert "busy (UPDATE_IN_PROGRESS)" in cli_env.err
    assert main(["infra", "destroy", "--yes"], cli_env) == 4


def test_deploy_completes_on_plain_moto_from_the_stack_resources(aws: str, cli_env: Any) -> None:
    """Unpatched moto gives change-set stacks no Outputs: the values come from the resources."""
    assert main(["infra", "deploy", "--yes"], cli_env) == 0, cli_env.err
    aws_config = load_user_config(cli_env.config_path)["aws"]
    assert (aws_config["bucket"], aws_config["role"], aws_config["region"]) == (BUCKET, ROLE_ARN, "us-east-1")


def test_deploy_with_a_kms_key_grants_the_role_and_sets_the_sagemaker_defaults(
        aws: str, cli_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    moto_kms_key_tags_like_cloudformation(monkeypatch)
    assert main(["infra", "deploy", "--yes", "--kms-key"], cli_env) == 0, cli_env.err
    config = load_user_config(cli_env.config_path)
    key = config["sagemaker"]["volume_kms_key"]
    assert key == config["sagemaker"]["output_kms_key"] and ":kms:us-east-1:123456789012:key/" in key
    kms = boto3.client("kms", region_name="us-east-1")
    assert key.rsplit("/", 1)[-1] in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    iam = boto3.client("iam", region_name="us-east-1")
    policy = iam.get_role_policy(RoleName=ROLE_ARN.rsplit("/", 1)[-1], PolicyName="launcher-training-kms")
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Resource"] == key and "kms:GenerateDataKey*" in statement["Action"]
