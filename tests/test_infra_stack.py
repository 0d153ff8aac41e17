"""Deploy / status / destroy logic against moto over HTTP, and failure paths with botocore's Stubber.

What moto (5.2.5) does not do, and how these tests work around it:
- Stacks created from a change set get no Outputs (moto builds the output map before the change set
  runs), and an executed update change set does not become the stack's parameters for moto's
  "no changes" check. `moto_execute_like_cloudformation` fixes both after ExecuteChangeSet.
- The bucket's public access block, versioning, lifecycle, ownership controls and the
  AWS::S3::BucketPolicy resource are ignored: test_infra_template.py asserts them on the template.
  Versioning is switched on by hand where a test needs versions.
- Deleting a stack whose bucket holds objects "succeeds" and leaves the bucket behind (real
  CloudFormation fails with DELETE_FAILED); destroy refuses before that point anyway.
- Nothing ever fails or stays in progress on its own: failures are moto backend state set by hand
  (test_infra_cli.py) or Stubber responses (here).
- Inline role policies read back as Python reprs, not JSON.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from launcher.errors import AwsError, ConfigError
from launcher.infra.destroy import config_after_destroy, destroy
from launcher.infra.events import Polling, StackEvent, failure_cause, last_operation
from launcher.infra.stack import DEFAULT_RETENTION_DAYS, deploy, load_template
from launcher.infra.status import status
from tests.infra_helpers import moto_execute_like_cloudformation

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto")

ACCOUNT = "123456789012"  # moto's default account
BUCKET = f"launcher-{ACCOUNT}-us-east-1"
ROLE = "launcher-sagemaker-us-east-1"
FAST = Polling(interval=0.01, timeout=5)


@pytest.fixture
def session(aws: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from launcher.aws import make_session

    moto_execute_like_cloudformation(monkeypatch)
    return make_session("us-east-1")


@pytest.fixture
def cfn(session: Any) -> Any:
    from launcher.aws import client

    return client(session, "cloudformation")


@pytest.fixture
def s3(session: Any) -> Any:
    from launcher.aws import client

    return client(session, "s3")


def _policy(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return document
    try:
        return json.loads(document)
    except ValueError:
        return ast.literal_eval(document)  # moto returns the stored dict's repr


# --- against moto -------------------------------------------------------------------------------


def test_deploy_creates_bucket_and_role(cfn: Any, s3: Any, session: Any) -> None:
    plans: list[Any] = []
    events: list[StackEvent] = []
    result = deploy(cfn, review=lambda p: plans.append(p) or True, on_event=events.append,
                    polling=FAST)
    assert result.action == "created"
    assert result.outputs is not None
    assert result.outputs.to_config() == {
        "bucket": BUCKET, "role": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}", "region": "us-east-1",
        "stack": "launcher-infra"}
    (plan,) = plans
    assert plan.kind == "CREATE"
    # moto lists the conditional KMS resources in the change set whatever the condition
    # (CloudFormation leaves them out); it does not create them (checked below).
    assert {(c.action, c.logical_id) for c in plan.changes} - {("Add", "TrainingKey"),
                                                               ("Add", "TrainingKeyUse")} == {
        ("Add", "Bucket"), ("Add", "BucketPolicy"), ("Add", "ExecutionRole")}
    assert plan.parameters == {"NamePrefix": "launcher", "KeyPrefix": "launcher",
                               "RetentionDays": str(DEFAULT_RETENTION_DAYS), "CreateKmsKey": "false"}
    assert session.client("kms").list_keys()["Keys"] == [] and result.outputs.kms_key is None
    assert events and events[-1].status == "CREATE_COMPLETE"

    encryption = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]}[
        "managed-by"] == "launcher"

    iam = session.client("iam")
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole"}]
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    (name,) = iam.list_role_policies(RoleName=ROLE)["PolicyNames"]
    policy = _policy(iam.get_role_policy(RoleName=ROLE, PolicyName=name)["PolicyDocument"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ListTheBucket"]["Resource"] == f"arn:aws:s3:::{BUCKET}"
    assert by_sid["ReadWriteObjects"]["Resource"] == f"arn:aws:s3:::{BUCKET}/*"
    assert by_sid["TrainingJobLogStreams"]["Resource"] == (
        f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*")
    assert by_sid["PullTrainingImages"]["Resource"] == (
        "arn:aws:ecr:us-east-1:763104351884:repository/*")
    wildcard = [s["Sid"] for s in policy["Statement"] if s["Resource"] == "*"]
    assert sorted(wildcard) == ["EcrLogin", "TrainingJobMetrics"]


def test_deploy_twice_is_idempotent(cfn: Any) -> None:
    first = deploy(cfn, polling=FAST)
    events_before = len(cfn.describe_stack_events(StackName="launcher-infra")["StackEvents"])
    reviewed: list[Any] = []
    second = deploy(cfn, review=lambda p: reviewed.append(p) or True, polling=FAST)
    assert second.action == "unchanged"
    assert second.outputs == first.outputs
    assert reviewed == []  # nothing to review, nothing executed
    assert len(cfn.describe_stack_events(StackName="launcher-infra")["StackEvents"]) == events_before
    assert cfn.describe_stacks(StackName="launcher-infra")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE")


def test_update_keeps_retention_unless_given(cfn: Any) -> None:
    deploy(cfn, polling=FAST)
    updated = deploy(cfn, retention_days=60, polling=FAST)
    assert updated.action == "updated"
    params = {p["ParameterKey"]: p["ParameterValue"]
              for p in cfn.describe_stacks(StackName="launcher-infra")["Stacks"][0]["Parameters"]}
    assert params["RetentionDays"] == "60"
    assert deploy(cfn, polling=FAST).action == "unchanged"  # no flag: keeps 60, not the default
    assert deploy(cfn, key_prefix="/team/a/", polling=FAST).action == "updated"
    assert deploy(cfn, polling=FAST).action == "unchanged"
    params = {p["ParameterKey"]: p["ParameterValue"]
              for p in cfn.describe_stacks(StackName="launcher-infra")["Stacks"][0]["Parameters"]}
    assert params["KeyPrefix"] == "team/a" and params["RetentionDays"] == "60"
    assert deploy(cfn, key_prefix="", polling=FAST).action == "updated"  # the bucket root
    assert deploy(cfn, polling=FAST).action == "unchanged"


def test_declined_review_leaves_nothing_behind(cfn: Any) -> None:
    result = deploy(cfn, review=lambda plan: False, polling=FAST)
    assert result.action == "cancelled"
    live = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert live == []


def test_ctrl_c_at_the_review_leaves_nothing_behind(cfn: Any) -> None:
    def interrupt(plan: Any) -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        deploy(cfn, review=interrupt, polling=FAST)
    live = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackStatus"] != "DELETE_COMPLETE"]
    assert live == []


def test_invalid_inputs_fail_before_any_call() -> None:
    with pytest.raises(ConfigError, match="--name"):
        deploy(object(), prefix="Bad_Name")
    with pytest.raises(ConfigError, match="--retention-days"):
        deploy(object(), retention_days=0)
    with pytest.raises(ConfigError, match="key prefix"):
        deploy(object(), key_prefix="a b")


def test_status_reports_outputs_events_and_drift(cfn: Any, s3: Any) -> None:
    deployed = deploy(cfn, polling=FAST)
    assert deployed.outputs is not None
    config = {"aws": {**deployed.outputs.to_config(), "bucket": "someone-elses-bucket"}}
    st = status(cfn, stack_name="launcher-infra", s3=s3, config=config,
                template_body=load_template())
    assert st.exists and st.healthy and st.status == "CREATE_COMPLETE"
    assert st.outputs == deployed.outputs
    assert st.events and st.events[0].status == "CREATE_COMPLETE"
    facts = dict(st.facts)
    assert "differs" in facts["config [aws].bucket"]
    assert facts["config [aws].role"] == "matches the stack"
    assert "current one" in facts["template"]
    assert facts["bucket"] == f"bucket {BUCKET} is empty"
    assert facts["lifecycle rules"].startswith("follow the key prefix 'launcher' the launcher")
    moved = status(cfn, stack_name="launcher-infra", config={"aws": {"prefix": "elsewhere/"}})
    assert "but [aws].prefix is 'elsewhere'" in dict(moved.facts)["lifecycle rules"]
    stale = status(cfn, stack_name="launcher-infra", template_body=load_template() + "\n# edited\n")
    assert "differs" in dict(stale.facts)["template"]
    assert status(cfn, stack_name="other-infra").exists is False


def test_destroy_refuses_non_empty_bucket_then_force_empties_all_versions(cfn: Any, s3: Any) -> None:
    deploy(cfn, polling=FAST)
    # moto ignores the template's VersioningConfiguration: turn it on to exercise versions.
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket=BUCKET, Key="checkpoints/job/ckpt.pt", Body=body)
    s3.put_object(Bucket=BUCKET, Key="code/job/sourcedir.tar.gz", Body=b"x")
    s3.delete_object(Bucket=BUCKET, Key="code/job/sourcedir.tar.gz")  # leaves a delete marker

    with pytest.raises(AwsError, match="holds 4 object version") as info:
        destroy(cfn, s3, stack_name="launcher-infra", polling=FAST)
    assert "--force" in (info.value.remedy or "")
    assert cfn.describe_stacks(StackName="launcher-infra")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE")

    result = destroy(cfn, s3, stack_name="launcher-infra", force=True, polling=FAST)
    assert result.action == "deleted" and result.emptied == 4
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert status(cfn, stack_name="launcher-infra").exists is False
    assert destroy(cfn, s3, stack_name="launcher-infra", polling=FAST).action == "absent"


def test_config_after_destroy_clears_only_what_deploy_wrote(cfn: Any, s3: Any) -> None:
    outputs = deploy(cfn, polling=FAST).outputs
    assert outputs is not None
    config = {"aws": {**outputs.to_config(), "role": "arn:aws:iam::1:role/mine", "profile": "dev"}}
    result = destroy(cfn, s3, stack_name="launcher-infra", polling=FAST)
    assert config_after_destroy(config, "launcher-infra", result.outputs) == {
        "bucket": None, "region": None, "stack": None}


def test_foreign_stack_is_left_alone(cfn: Any, s3: Any) -> None:
    cfn.create_stack(StackName="launcher-infra", TemplateBody=json.dumps({"Resources": {
        "Topic": {"Type": "AWS::SNS::Topic"}}}))
    with pytest.raises(AwsError, match="not created by the launcher"):
        deploy(cfn, polling=FAST)
    with pytest.raises(AwsError, match="not created by the launcher"):
        destroy(cfn, s3, stack_name="launcher-infra", force=True, polling=FAST)


# --- failure paths with a stubbed client --------------------------------------------------------

STACK_ID = f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/launcher-infra/1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _stack(status: str, **extra: Any) -> dict[str, Any]:
    return {"Stacks": [{"StackName": "launcher-infra", "StackId": STACK_ID, "StackStatus": status,
                        "CreationTime": T0, "Tags": [{"Key": "managed-by", "Value": "launcher"}],
                        **extra}]}


def _event(n: int, logical: str, status: str, reason: str | None = None,
           kind: str = "AWS::S3::Bucket") -> dict[str, Any]:
    event = {"StackId": STACK_ID, "EventId": f"e{n}", "StackName": "launcher-infra",
             "LogicalResourceId": logical, "ResourceType": kind, "Timestamp": T0,
             "ResourceStatus": status}
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def _stack_event(n: int, status: str, reason: str | None = None) -> dict[str, Any]:
    return _event(n, "launcher-infra", status, reason, "AWS::CloudFormation::Stack")


ROLE_DENIED = ("API: iam:CreateRole User: arn:aws:iam::123456789012:user/dev is not authorized to "
               "perform: iam:CreateRole")
FAILED_CREATE = [  # newest first, as DescribeStackEvents returns them
    _stack_event(8, "ROLLBACK_COMPLETE"),
    _event(7, "Bucket", "DELETE_COMPLETE"),
    _stack_event(6, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: "
                 "[Bucket, ExecutionRole]. Rollback requested by user."),
    _event(5, "Bucket", "CREATE_FAILED", "Resource creation cancelled"),
    _event(4, "ExecutionRole", "CREATE_FAILED", ROLE_DENIED, "AWS::IAM::Role"),
    _event(3, "Bucket", "CREATE_IN_PROGRESS"),
    _stack_event(2, "CREATE_IN_PROGRESS", "User Initiated"),
    _stack_event(1, "REVIEW_IN_PROGRESS", "User Initiated"),
]


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _missing(stubber: Stubber) -> None:
    stubber.add_client_error("describe_stacks", "ValidationError",
                             "Stack with id launcher-infra does not exist", 400)


def test_failure_cause_skips_cancellations() -> None:
    events = [StackEvent.from_api(e) for e in FAILED_CREATE]
    assert failure_cause(last_operation(events)) == f"ExecutionRole (AWS::IAM::Role): {ROLE_DENIED}"


def test_create_that_rolls_back_names_resource_and_reason(stubbed: Any) -> None:
    client, stubber = stubbed
    _missing(stubber)
    stubber.add_response("create_change_set", {"Id": "cs-arn", "StackId": STACK_ID})
    stubber.add_response("describe_change_set", {"Status": "CREATE_PENDING"})
    stubber.add_response("describe_change_set", {
        "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE", "Changes": [
            {"Type": "Resource", "ResourceChange": {
                "Action": "Add", "LogicalResourceId": "Bucket", "ResourceType": "AWS::S3::Bucket"}}]})
    stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE[-1:]})
    stubber.add_response("execute_change_set", {})
    # First poll: still creating; second: rolled back.
    stubber.add_response("describe_stacks", _stack("CREATE_IN_PROGRESS"))
    stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE[-3:]})
    stubber.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE})
    sleeps: list[float] = []
    seen: list[str] = []
    with pytest.raises(AwsError) as info:
        deploy(client, on_event=lambda e: seen.append(f"{e.logical_id}:{e.status}"),
               polling=Polling(interval=7, timeout=60, sleep=sleeps.append))
    assert "ROLLBACK_COMPLETE" in info.value.message
    assert "ExecutionRole (AWS::IAM::Role)" in info.value.message
    assert "not authorized to perform: iam:CreateRole" in info.value.message
    assert "launch infra destroy" in (info.value.remedy or "")
    assert sleeps == [7, 7]  # one for the change set, one for the stack
    assert seen[0] == "launcher-infra:CREATE_IN_PROGRESS" and seen[-1] == (
        "launcher-infra:ROLLBACK_COMPLETE")
    assert len(seen) == len(set(seen)) == 7  # every new event once, the marker excluded


def test_stack_left_in_rollback_complete_is_reported(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE})
    with pytest.raises(AwsError, match=r"ROLLBACK_COMPLETE: ExecutionRole \(AWS::IAM::Role\)") as info:
        deploy(client, polling=FAST)
    assert "launch infra destroy --name launcher" in (info.value.remedy or "")


@pytest.mark.parametrize("state", ["UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS",
                                   "UPDATE_ROLLBACK_IN_PROGRESS"])
def test_busy_stack_is_refused(stubbed: Any, state: str) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stack(state))
    with pytest.raises(AwsError, match=f"busy \\({state}\\)"):
        deploy(client, polling=FAST)


def test_permission_denied_is_an_aws_error_with_a_remedy(stubbed: Any) -> None:
    client, stubber = stubbed
    _missing(stubber)
    stubber.add_client_error("create_change_set", "AccessDenied",
                             "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: "
                             "cloudformation:CreateChangeSet", 403)
    with pytest.raises(AwsError, match="permission denied: cloudformation:CreateChangeSet") as info:
        deploy(client, polling=FAST)
    assert "docs/infra.md" in (info.value.remedy or "")


def test_rejected_change_set_is_discarded_and_reported(stubbed: Any) -> None:
    client, stubber = stubbed
    _missing(stubber)
    stubber.add_response("create_change_set", {"Id": "cs-arn", "StackId": STACK_ID})
    stubber.add_response("describe_change_set", {
        "Status": "FAILED", "StatusReason": "Requires capabilities : [CAPABILITY_IAM]"})
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": "cs-arn"})
    stubber.add_response("describe_stacks", _stack("REVIEW_IN_PROGRESS"))
    stubber.add_response("delete_stack", {}, {"StackName": STACK_ID})
    with pytest.raises(AwsError, match="rejected the change set.*CAPABILITY_IAM"):
        deploy(client, polling=FAST)


def test_wait_times_out_with_a_clear_message(stubbed: Any) -> None:
    client, stubber = stubbed
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    for _ in range(3):
        stubber.add_response("describe_stacks", _stack("UPDATE_IN_PROGRESS"))
        stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE[-2:]})
    from launcher.infra.events import wait_for_stack

    with pytest.raises(AwsError, match="timed out after 20s.*still UPDATE_IN_PROGRESS"):
        wait_for_stack(client, STACK_ID, after_event=None,
                       polling=Polling(interval=10, timeout=20, sleep=sleep, clock=lambda: now[0]))


def test_status_degrades_when_a_check_is_denied(stubbed: Any) -> None:
    client, stubber = stubbed
    outputs = [{"OutputKey": "BucketName", "OutputValue": BUCKET},
               {"OutputKey": "RoleArn", "OutputValue": f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"},
               {"OutputKey": "Region", "OutputValue": "us-east-1"}]
    stubber.add_response("describe_stacks", _stack("UPDATE_ROLLBACK_COMPLETE", Outputs=outputs))
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _stack_event(13, "UPDATE_ROLLBACK_COMPLETE"),
        _event(12, "Bucket", "UPDATE_FAILED", "Access Denied"),
        _stack_event(11, "UPDATE_IN_PROGRESS", "User Initiated"), *FAILED_CREATE]})
    stubber.add_client_error("get_template", "AccessDenied", "not authorized: GetTemplate", 403)
    st = status(client, stack_name="launcher-infra", template_body="x")
    assert not st.healthy
    facts = dict(st.facts)
    assert facts["last failure"] == "Bucket (AWS::S3::Bucket): Access Denied"
    assert facts["template"].startswith("cannot check: permission denied")
    assert "config [aws].bucket" in facts


def test_unparsable_response_is_an_aws_error() -> None:
    from botocore.parsers import ResponseParserError

    from launcher.infra.events import aws_errors

    with pytest.raises(AwsError, match="cloudformation:X failed: Unable to parse") as info, \
            aws_errors("cloudformation:X"):
        raise ResponseParserError("Unable to parse response " + "x" * 1000)
    assert len(info.value.message) < 400


def test_cli_module_imports_no_heavy_dependencies() -> None:
    code = ("import sys, launcher.cli.infra_cmd; "
            "heavy = [m for m in ('boto3', 'botocore', 'yaml', 'rich') if m in sys.modules]; "
            "sys.exit(str(heavy) if heavy else 0)")
    repo = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=repo)
    assert done.returncode == 0, done.stderr


def test_destroy_never_touches_a_bucket_the_stack_failed_to_create(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"))
    stubber.add_response("describe_stack_resources", {"StackResources": [{
        "LogicalResourceId": "Bucket", "PhysicalResourceId": "someone-elses-bucket",
        "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "CREATE_FAILED", "Timestamp": T0}]})
    stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE})
    stubber.add_response("delete_stack", {}, {"StackName": STACK_ID})
    stubber.add_response("describe_stacks", _stack("DELETE_COMPLETE"))
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _stack_event(10, "DELETE_COMPLETE"), _stack_event(9, "DELETE_IN_PROGRESS", "User Initiated"),
        *FAILED_CREATE]})
    plans: list[Any] = []
    result = destroy(client, s3=None, stack_name="launcher-infra", force=True,
                     review=lambda p: plans.append(p) or True, polling=FAST)  # s3=None: never used
    assert result.action == "deleted" and result.emptied == 0
    assert plans[0].bucket is None


def test_destroy_reports_delete_failed(stubbed: Any) -> None:
    client, stubber = stubbed
    stubber.add_response("describe_stacks", _stack("CREATE_COMPLETE"))
    stubber.add_response("describe_stack_resources", {"StackResources": []})
    stubber.add_response("describe_stack_events", {"StackEvents": FAILED_CREATE[:1]})
    stubber.add_response("delete_stack", {}, {"StackName": STACK_ID})
    stubber.add_response("describe_stacks", _stack("DELETE_FAILED"))
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _stack_event(11, "DELETE_FAILED", "The following resource(s) failed to delete: [Bucket]."),
        _event(10, "Bucket", "DELETE_FAILED", "The bucket you tried to delete is not empty"),
        _stack_event(9, "DELETE_IN_PROGRESS", "User Initiated"), *FAILED_CREATE[:1]]})
    with pytest.raises(AwsError, match=r"DELETE_FAILED.*Bucket \(AWS::S3::Bucket\): The bucket you"):
        destroy(client, s3=None, stack_name="launcher-infra", polling=FAST)
