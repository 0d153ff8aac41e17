"""Deploy the launcher's infra stack (launcher/infra/template.yaml), and what status/destroy share.

`launch infra status` lives in infra_status, `destroy` in infra_destroy. The stack holds the bucket
and the SageMaker execution role; its outputs (bucket, role ARN, region) become the launcher's
defaults in the user config's `[aws]` section. Every function takes the CloudFormation (and S3)
client as an argument, so tests pass clients pointed at moto or stubbed ones, and takes callbacks for
what the CLI shows: `review(plan) -> bool` before anything changes and `on_event(event)` while
waiting. Nothing here prints.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.errors import AwsError, ConfigError
from launcher.infra.events import (
    UPDATABLE,
    Polling,
    StackEvent,
    aws_errors,
    describe_stack,
    failure_cause,
    newest_event_id,
    stack_failure,
    wait_for_stack,
)

log = logging.getLogger(__name__)

TEMPLATE_PATH = Path(__file__).resolve().parent / "template.yaml"  # package data
DEFAULT_PREFIX = "launcher"
DEFAULT_RETENTION_DAYS = 30  # the template's RetentionDays default (a test keeps them equal)
MAX_RETENTION_DAYS = 3650
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$")  # the template's AllowedPattern
# The key prefix inside the bucket (the launcher's [aws].prefix); the lifecycle rules follow it.
DEFAULT_KEY_PREFIX = "launcher"  # launcher.config.spec.Aws.prefix's default (a test keeps them equal)
KEY_PREFIX_PATTERN = re.compile(r"^([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)?$")
MAX_KEY_PREFIX = 200
OWNER_TAG = {"Key": "managed-by", "Value": "launcher"}
CAPABILITIES = ["CAPABILITY_NAMED_IAM"]  # the role has a fixed name
CONFIG_SECTION = "aws"
CONFIG_KEYS = ("bucket", "role", "region", "stack")
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")

Review = Callable[[Any], bool]
OnEvent = Callable[[StackEvent], None]


def stack_name_for(prefix: str) -> str:
    return f"{prefix}-infra"


def validate_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.match(prefix):
        raise ConfigError(f"invalid --name {prefix!r}",
                          "use 2-30 lower-case letters, digits and hyphens, starting with a letter "
                          "(it becomes part of the bucket name)")
    return prefix


def normalize_key_prefix(key_prefix: str | None) -> str | None:
    """The prefix without surrounding slashes (as staging uses it); ConfigError when unusable."""
    if key_prefix is None:
        return None
    key_prefix = key_prefix.strip("/")
    if len(key_prefix) > MAX_KEY_PREFIX or not KEY_PREFIX_PATTERN.match(key_prefix):
        raise ConfigError(f"invalid key prefix {key_prefix!r} for the lifecycle rules",
                          "use letters, digits, '_', '.', '-' and '/' between segments "
                          f"(at most {MAX_KEY_PREFIX} characters), e.g. `--key-prefix launcher`")
    return key_prefix


def validate_retention(days: int | None) -> int | None:
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise ConfigError(f"invalid --retention-days {days}",
                          f"use a number of days between 1 and {MAX_RETENTION_DAYS}")
    return days


def load_template(path: Path | None = None) -> str:
    path = path or TEMPLATE_PATH
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the infra template {path}: {e.strerror}",
                          "reinstall the launcher, or run it from a checkout that has infra/") from e


@dataclass(frozen=True)
class StackOutputs:
    stack: str
    bucket: str
    role_arn: str
    region: str
    kms_key: str | None = None  # the stack's KMS key, when deployed with one

    def to_config(self) -> dict[str, str]:
        """The `[aws]` values the rest of the launcher reads as defaults."""
        return {"bucket": self.bucket, "role": self.role_arn, "region": self.region,
                "stack": self.stack}

    def sagemaker_config(self) -> dict[str, str | None]:
        """The `[sagemaker]` KMS keys: the stack's key for volumes and outputs (None clears them)."""
        return {"volume_kms_key": self.kms_key, "output_kms_key": self.kms_key}


def read_outputs(stack: Mapping[str, Any], cfn: Any = None) -> StackOutputs:
    """The stack's outputs; where they are missing (moto gives change-set stacks none), and a client
    is given, the same values from the stack's resources."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    missing = [k for k in ("BucketName", "RoleArn", "Region") if not outputs.get(k)]
    name = str(stack.get("StackName"))
    if missing and cfn is not None and stack.get("StackId"):
        outputs = {**outputs_from_resources(cfn, str(stack["StackId"])), **outputs}
        missing = [k for k in ("BucketName", "RoleArn", "Region") if not outputs.get(k)]
    if missing:
        raise AwsError(f"stack {name} has no output(s) {', '.join(missing)}",
                       "is it a launcher stack? `launch infra deploy` brings it up to date")
    return StackOutputs(stack=name, bucket=outputs["BucketName"], role_arn=outputs["RoleArn"],
                        region=outputs["Region"], kms_key=outputs.get("KmsKeyArn") or None)


def outputs_from_resources(cfn: Any, stack_id: str) -> dict[str, str]:
    """BucketName, RoleArn and Region as the template's Outputs define them, from the resources."""
    # arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>
    parts = stack_id.split(":")
    if len(parts) < 6:
        return {}
    partition, region, account = parts[1], parts[3], parts[4]
    with aws_errors(f"cloudformation:DescribeStackResources {stack_id}"):
        resources = cfn.describe_stack_resources(StackName=stack_id).get("StackResources", [])
    physical = {r.get("LogicalResourceId"): r.get("PhysicalResourceId") for r in resources}
    found = {"Region": region}
    if physical.get("Bucket"):
        found["BucketName"] = str(physical["Bucket"])
    if physical.get("ExecutionRole"):
        found["RoleArn"] = f"arn:{partition}:iam::{account}:role/{physical['ExecutionRole']}"
    if physical.get("TrainingKey"):
        found["KmsKeyArn"] = f"arn:{partition}:kms:{region}:{account}:key/{physical['TrainingKey']}"
    log.info("stack %s has no outputs; read them from its resources", stack_id)
    return found


def stack_parameters(stack: Mapping[str, Any] | None) -> dict[str, str]:
    return {p["ParameterKey"]: p.get("ParameterValue", "")
            for p in (stack or {}).get("Parameters") or []}


def require_owned(stack: Mapping[str, Any]) -> None:
    tags = {t.get("Key"): t.get("Value") for t in stack.get("Tags") or []}
    if tags.get(OWNER_TAG["Key"]) != OWNER_TAG["Value"]:
        raise AwsError(f"stack {stack.get('StackName')} exists but was not created by the launcher "
                       f"(no tag {OWNER_TAG['Key']}={OWNER_TAG['Value']})",
                       "pick another --name; the launcher leaves stacks it does not own alone")


def busy_error(name: str, status: str) -> AwsError:
    return AwsError(f"stack {name} is busy ({status})",
                    "wait until it finishes (`launch infra status` shows progress), then retry")


def _check_deployable(cfn: Any, stack: Mapping[str, Any], prefix: str) -> None:
    """Raise with the failing resource and a way out when the stack cannot take an update."""
    name, status = str(stack["StackName"]), str(stack.get("StackStatus", ""))
    if status in UPDATABLE or status == "REVIEW_IN_PROGRESS":
        return
    if status.endswith("_IN_PROGRESS"):
        raise busy_error(name, status)
    cause = stack_failure(cfn, str(stack.get("StackId") or name))
    raise AwsError(f"stack {name} is {status}: {cause}", _remedy(status, name, prefix))


def _remedy(status: str, name: str, prefix: str) -> str:
    """What to do about a stack that ended in `status`."""
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED"):
        return (f"nothing usable was created: `launch infra destroy --name {prefix}` deletes the "
                "failed stack; fix the cause, then deploy again")
    if status == "UPDATE_ROLLBACK_FAILED":
        return ("fix the cause, then `aws cloudformation continue-update-rollback --stack-name "
                f"{name}`, or `launch infra destroy --name {prefix}`")
    if status == "UPDATE_ROLLBACK_COMPLETE":
        return "the stack is back in its previous state; fix the cause and deploy again"
    if status == "DELETE_FAILED":
        return f"`launch infra destroy --name {prefix} --force` retries the deletion"
    return f"`aws cloudformation rollback-stack --stack-name {name}`, or destroy and redeploy"


# --- deploy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    action: str  # Add | Modify | Remove | Import | Dynamic
    logical_id: str
    resource_type: str
    replacement: str | None  # "True" | "False" | "Conditional" for Modify

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "resource": self.logical_id, "type": self.resource_type,
                "replacement": self.replacement}


@dataclass(frozen=True)
class ChangePlan:
    stack: str
    change_set: str
    kind: str  # CREATE | UPDATE
    changes: tuple[Change, ...]
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class DeployResult:
    stack: str
    action: str  # created | updated | unchanged | cancelled
    outputs: StackOutputs | None
    plan: ChangePlan | None = None
    events: tuple[StackEvent, ...] = field(default=())


def deploy(cfn: Any, *, prefix: str = DEFAULT_PREFIX, retention_days: int | None = None,
           key_prefix: str | None = None, kms_key: bool | None = None,
           template_body: str | None = None,
           review: Review | None = None, on_event: OnEvent | None = None,
           polling: Polling | None = None) -> DeployResult:
    """Create or update the stack through a change set; 'no changes' is success.

    `retention_days` and `key_prefix` left None keep the stack's current values (the defaults on
    create).
    """
    polling = polling or Polling()
    name = stack_name_for(validate_prefix(prefix))
    validate_retention(retention_days)
    key_prefix = normalize_key_prefix(key_prefix)
    body = template_body if template_body is not None else load_template()
    stack = describe_stack(cfn, name)
    if stack is not None:
        require_owned(stack)
        _check_deployable(cfn, stack, prefix)
    kind = "CREATE" if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
    # Always pass every parameter we manage: an update without --retention-days keeps the current
    # value instead of falling back to the template default.
    current = stack_parameters(stack)
    retention = retention_days or int(current.get("RetentionDays") or DEFAULT_RETENTION_DAYS)
    if key_prefix is None:
        key_prefix = current.get("KeyPrefix", DEFAULT_KEY_PREFIX)
    create_key = current.get("CreateKmsKey", "false") if kms_key is None else str(kms_key).lower()
    parameters = {"NamePrefix": prefix, "KeyPrefix": key_prefix, "RetentionDays": str(retention),
                  "CreateKmsKey": create_key}
    change_set = "launcher-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
    with aws_errors(f"cloudformation:CreateChangeSet {name}"):
        created = cfn.create_change_set(
            StackName=name, ChangeSetName=change_set, ChangeSetType=kind, TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=CAPABILITIES, Tags=[OWNER_TAG],
            Description="launch infra deploy")
    change_set_id, stack_id = created["Id"], created["StackId"]
    described = _wait_change_set(cfn, change_set_id, name, polling)
    if described.get("Status") == "FAILED":
        reason = str(described.get("StatusReason") or "no reason given")
        _discard(cfn, change_set_id, stack_id if kind == "CREATE" else None)
        if any(marker in reason for marker in _NO_CHANGES):
            log.info("stack %s is up to date", name)
            described_now = describe_stack(cfn, name)
            return DeployResult(name, "unchanged", read_outputs(described_now or {}, cfn))
        raise AwsError(f"CloudFormation rejected the change set for {name}: {reason}",
                       "fix the template or parameters (run `launch --debug infra deploy` for details)")
    plan = ChangePlan(name, change_set, kind, _changes(cfn, change_set_id, described), parameters)
    try:
        approved = review is None or review(plan)
    except KeyboardInterrupt:  # Ctrl-C at the prompt: leave no change set (or empty stack) behind
        _discard(cfn, change_set_id, stack_id if kind == "CREATE" else None)
        raise
    if not approved:
        _discard(cfn, change_set_id, stack_id if kind == "CREATE" else None)
        return DeployResult(name, "cancelled", None, plan)
    marker = newest_event_id(cfn, stack_id)
    with aws_errors(f"cloudformation:ExecuteChangeSet {name}"):
        cfn.execute_change_set(ChangeSetName=change_set_id, StackName=stack_id)
    final, events = wait_for_stack(cfn, stack_id, after_event=marker, polling=polling,
                                   on_event=on_event)
    status = str(final.get("StackStatus"))
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        cause = failure_cause(events) or stack_failure(cfn, stack_id)
        raise AwsError(f"deploying stack {name} failed ({status}): {cause}",
                       _remedy(status, name, prefix))
    return DeployResult(name, "created" if kind == "CREATE" else "updated", read_outputs(final, cfn),
                        plan, tuple(events))


def _wait_change_set(cfn: Any, change_set_id: str, name: str, polling: Polling) -> dict[str, Any]:
    deadline = polling.clock() + min(polling.timeout, 600.0)
    while True:
        with aws_errors(f"cloudformation:DescribeChangeSet {name}"):
            described = cfn.describe_change_set(ChangeSetName=change_set_id)
        if described.get("Status") in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE",
                                       "DELETE_FAILED"):
            return dict(described)
        if polling.clock() >= deadline:
            raise AwsError(f"timed out waiting for the change set of {name} "
                           f"({described.get('Status')})", "retry `launch infra deploy`")
        polling.sleep(polling.interval)


def _changes(cfn: Any, change_set_id: str, first: Mapping[str, Any]) -> tuple[Change, ...]:
    changes: list[Change] = []
    page: Mapping[str, Any] = first
    for _ in range(50):  # 100 changes a page; the template has a handful of resources
        for item in page.get("Changes") or []:
            rc = item.get("ResourceChange") or {}
            changes.append(Change(action=str(rc.get("Action", "")),
                                  logical_id=str(rc.get("LogicalResourceId", "")),
                                  resource_type=str(rc.get("ResourceType", "")),
                                  replacement=rc.get("Replacement")))
        if not page.get("NextToken"):
            break
        with aws_errors("cloudformation:DescribeChangeSet"):
            page = cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=page["NextToken"])
    return tuple(changes)


def _discard(cfn: Any, change_set_id: str, review_stack_id: str | None) -> None:
    """Delete an unused change set, and the empty REVIEW_IN_PROGRESS stack a CREATE one made."""
    with aws_errors("cloudformation:DeleteChangeSet"):
        cfn.delete_change_set(ChangeSetName=change_set_id)
    if review_stack_id is not None:
        stack = describe_stack(cfn, review_stack_id)
        if stack is not None and stack.get("StackStatus") == "REVIEW_IN_PROGRESS":
            with aws_errors("cloudformation:DeleteStack"):
                cfn.delete_stack(StackName=review_stack_id)
