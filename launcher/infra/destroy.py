"""`launch infra destroy`: delete the stack, guarding the bucket's data, and tidy the user config.

CloudFormation cannot delete a bucket that holds objects, and a half-deleted stack (DELETE_FAILED)
helps nobody, so the bucket is checked first: while it holds anything (any object version or delete
marker) the stack is left alone unless `force`, which empties it completely before the deletion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from launcher.errors import AwsError
from launcher.infra.bucket import BucketContents, bucket_contents, empty_bucket
from launcher.infra.events import (
    Polling,
    StackEvent,
    aws_errors,
    describe_stack,
    failure_cause,
    newest_event_id,
    stack_failure,
    wait_for_stack,
)
from launcher.infra.stack import (
    CONFIG_KEYS,
    CONFIG_SECTION,
    OnEvent,
    Review,
    StackOutputs,
    busy_error,
    read_outputs,
    require_owned,
)


@dataclass(frozen=True)
class DestroyPlan:
    stack: str
    bucket: str | None
    role: str | None
    contents: BucketContents | None
    force: bool


@dataclass(frozen=True)
class DestroyResult:
    stack: str
    action: str  # deleted | absent | cancelled
    outputs: StackOutputs | None = None
    emptied: int = 0
    events: tuple[StackEvent, ...] = ()


def destroy(cfn: Any, s3: Any, *, stack_name: str, force: bool = False,
            review: Review | None = None, on_event: OnEvent | None = None,
            polling: Polling | None = None) -> DestroyResult:
    """Delete the stack; refuse while the bucket holds objects unless `force` (then empty it)."""
    polling = polling or Polling()
    stack = describe_stack(cfn, stack_name)
    if stack is None:
        return DestroyResult(stack_name, "absent")
    require_owned(stack)
    state, stack_id = str(stack.get("StackStatus")), str(stack["StackId"])
    if state.endswith("_IN_PROGRESS") and state not in ("DELETE_IN_PROGRESS", "REVIEW_IN_PROGRESS"):
        raise busy_error(stack_name, state)
    resources = _physical_ids(cfn, stack_id)
    bucket, role = resources.get("Bucket"), resources.get("ExecutionRole")
    contents = bucket_contents(s3, bucket) if bucket else None
    if contents is not None and contents.exists and not contents.empty and not force:
        raise AwsError(f"not deleting stack {stack_name}: {contents.describe()}",
                       "copy what you want to keep, then `launch infra destroy --force` deletes "
                       "every object version in it (irreversible)")
    try:
        outputs: StackOutputs | None = read_outputs(stack, cfn)
    except AwsError:
        outputs = None
    if review is not None and not review(DestroyPlan(stack_name, bucket, role, contents, force)):
        return DestroyResult(stack_name, "cancelled", outputs)
    emptied = 0
    if bucket and contents is not None and contents.exists and not contents.empty:
        emptied = empty_bucket(s3, bucket)
    marker = newest_event_id(cfn, stack_id)
    if state != "DELETE_IN_PROGRESS":
        with aws_errors(f"cloudformation:DeleteStack {stack_name}"):
            cfn.delete_stack(StackName=stack_id)
    final, events = wait_for_stack(cfn, stack_id, after_event=marker, polling=polling,
                                   on_event=on_event)
    if final.get("StackStatus") != "DELETE_COMPLETE":
        cause = failure_cause(events) or stack_failure(cfn, stack_id)
        raise AwsError(f"deleting stack {stack_name} failed ({final.get('StackStatus')}): {cause}",
                       "fix the cause (e.g. objects written meanwhile), then "
                       "`launch infra destroy --force` again")
    return DestroyResult(stack_name, "deleted", outputs, emptied, tuple(events))


# A resource in one of these states was never created by this stack (or is gone): a failed create
# of "Bucket" may name a bucket that already existed, and that one must not be emptied.
_NOT_OURS = frozenset({"CREATE_IN_PROGRESS", "CREATE_FAILED", "DELETE_COMPLETE", "DELETE_SKIPPED"})


def _physical_ids(cfn: Any, stack_id: str) -> dict[str, str]:
    """Logical id -> physical id of the resources this stack created and still has."""
    with aws_errors("cloudformation:DescribeStackResources"):
        resources = cfn.describe_stack_resources(StackName=stack_id).get("StackResources") or []
    return {str(r["LogicalResourceId"]): str(r["PhysicalResourceId"]) for r in resources
            if r.get("LogicalResourceId") and r.get("PhysicalResourceId")
            and r.get("ResourceStatus") not in _NOT_OURS}


# --- the user config ----------------------------------------------------------------------------


def config_after_destroy(config: Mapping[str, Any], stack_name: str,
                         outputs: StackOutputs | None) -> dict[str, None]:
    """The `[aws]` keys to delete: those still holding what this stack's deploy wrote."""
    aws = config.get(CONFIG_SECTION) or {}
    if outputs is not None:
        written = outputs.to_config()
        return {k: None for k in CONFIG_KEYS if k in aws and aws[k] == written[k]}
    if aws.get("stack") == stack_name:  # stack already gone: its outputs are unknown
        return {k: None for k in CONFIG_KEYS if k in aws}
    return {}
