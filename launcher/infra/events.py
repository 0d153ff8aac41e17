"""CloudFormation plumbing for the infra stack: error mapping, stack look-ups, events and waiting.

Every call goes through `aws_errors`, so a botocore exception never reaches the user: it becomes an
`AwsError` that names the action and says what to do. Waiting is a bounded poll loop over
`describe_stacks` + `describe_stack_events` with an injectable interval, clock and sleep (tests and
moto finish on the first poll; real stacks take a minute or two).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from launcher.errors import AwsError, LauncherError

log = logging.getLogger(__name__)

STACK_TYPE = "AWS::CloudFormation::Stack"
# Statuses from which a change set may update the stack.
UPDATABLE = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
                       "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"})
# Stack-level events that start an operation; the failure of "the last operation" is looked for after one.
_OPERATION_STARTS = frozenset({"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS",
                               "IMPORT_IN_PROGRESS"})
_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")
PERMISSIONS_HINT = ("the caller needs CloudFormation, IAM (roles) and S3 (buckets) permissions; "
                    "see docs/infra.md, section Permissions")


def as_aws_error(exc: BaseException, action: str) -> LauncherError:
    """The shared translation, with the infra stack's permissions as the remedy for a denial."""
    from launcher.aws import translate_error

    return translate_error(exc, action, denied_hint=PERMISSIONS_HINT)


def botocore_errors() -> tuple[type[Exception], ...]:
    """What a botocore call raises: API errors, client-side errors, unparsable responses."""
    import botocore.exceptions
    import botocore.parsers

    return (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError,
            botocore.parsers.ResponseParserError)


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore errors raised inside the block into an AwsError naming `action`."""
    try:
        yield
    except botocore_errors() as e:
        raise as_aws_error(e, action) from e


def describe_stack(cfn: Any, name_or_id: str) -> dict[str, Any] | None:
    """The stack description, or None when no such stack exists (deleted stacks by name included)."""
    import botocore.exceptions

    try:
        stacks = cfn.describe_stacks(StackName=name_or_id)["Stacks"]
    except botocore.exceptions.ClientError as e:
        if "does not exist" in (e.response.get("Error", {}).get("Message") or ""):
            return None
        raise as_aws_error(e, f"cloudformation:DescribeStacks {name_or_id}") from e
    except botocore_errors() as e:
        raise as_aws_error(e, f"cloudformation:DescribeStacks {name_or_id}") from e
    return stacks[0] if stacks else None


@dataclass(frozen=True)
class StackEvent:
    event_id: str
    timestamp: datetime | None
    logical_id: str
    resource_type: str
    status: str
    reason: str | None

    @classmethod
    def from_api(cls, e: Mapping[str, Any]) -> StackEvent:
        return cls(event_id=str(e.get("EventId", "")), timestamp=e.get("Timestamp"),
                   logical_id=str(e.get("LogicalResourceId", "")),
                   resource_type=str(e.get("ResourceType", "")),
                   status=str(e.get("ResourceStatus", "")),
                   reason=e.get("ResourceStatusReason") or None)

    @property
    def is_stack(self) -> bool:
        return self.resource_type == STACK_TYPE

    @property
    def failed(self) -> bool:
        return self.status.endswith("_FAILED")

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.timestamp.isoformat() if self.timestamp else None,
                "resource": self.logical_id, "type": self.resource_type,
                "status": self.status, "reason": self.reason}


def recent_events(cfn: Any, stack: str, *, stop_at: str | None = None,
                  max_pages: int = 20) -> list[StackEvent]:
    """Events newest first, up to (excluding) the event `stop_at`, at most `max_pages` pages."""
    events: list[StackEvent] = []
    kwargs: dict[str, Any] = {"StackName": stack}
    for _ in range(max_pages):
        with aws_errors(f"cloudformation:DescribeStackEvents {stack}"):
            page = cfn.describe_stack_events(**kwargs)
        for raw in page.get("StackEvents", []):
            event = StackEvent.from_api(raw)
            if stop_at is not None and event.event_id == stop_at:
                return events
            events.append(event)
        if stop_at is None or not page.get("NextToken"):
            return events
        kwargs["NextToken"] = page["NextToken"]
    return events


def last_operation(events_newest_first: list[StackEvent]) -> list[StackEvent]:
    """The events of the latest user-initiated operation, oldest first."""
    picked: list[StackEvent] = []
    for event in events_newest_first:
        picked.append(event)
        if event.is_stack and event.status in _OPERATION_STARTS and event.reason == "User Initiated":
            break
    return picked[::-1]


def failure_cause(events_oldest_first: list[StackEvent]) -> str | None:
    """'Resource (Type): reason' of the first failed resource (the root cause, not the cascade)."""
    failed = [e for e in events_oldest_first if e.failed and e.reason]
    resources = [e for e in failed if not e.is_stack]
    # Once one resource fails, CloudFormation cancels the others ("Resource creation cancelled"):
    # the first failure that is not a cancellation is the cause.
    causes = [e for e in resources if not str(e.reason).startswith(_CANCELLED)] or resources
    if causes:
        return f"{causes[0].logical_id} ({causes[0].resource_type}): {causes[0].reason}"
    if failed:
        return f"{failed[0].logical_id}: {failed[0].reason}"
    # No failed event at all (e.g. UPDATE_ROLLBACK_COMPLETE after a cancelled update): the latest
    # stack-level reason is the best there is.
    stack_level = [e for e in events_oldest_first
                   if e.is_stack and e.reason and e.reason != "User Initiated"]
    if stack_level:
        return f"{stack_level[-1].logical_id}: {stack_level[-1].reason}"
    return None


def stack_failure(cfn: Any, stack: str) -> str:
    """The failing resource and reason of the stack's last operation, from its events."""
    cause = failure_cause(last_operation(recent_events(cfn, stack)))
    return cause or "no failed resource in the stack events"


@dataclass
class Polling:
    """How long and how often to wait: injectable so tests never sleep."""

    interval: float = 5.0
    timeout: float = 1800.0
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Callable[[], float] = field(default=time.monotonic)


def newest_event_id(cfn: Any, stack: str) -> str | None:
    """The id of the newest event, a marker so that only later events count as this operation's."""
    with aws_errors(f"cloudformation:DescribeStackEvents {stack}"):
        page = cfn.describe_stack_events(StackName=stack)
    events = page.get("StackEvents") or []
    return str(events[0]["EventId"]) if events else None


def wait_for_stack(cfn: Any, stack_id: str, *, after_event: str | None, polling: Polling,
                   on_event: Callable[[StackEvent], None] | None = None,
                   ) -> tuple[dict[str, Any], list[StackEvent]]:
    """Poll until the stack leaves *_IN_PROGRESS; returns its description and the new events."""
    deadline = polling.clock() + polling.timeout
    seen: set[str] = set()
    new_events: list[StackEvent] = []
    while True:
        stack = describe_stack(cfn, stack_id)
        if stack is None:  # only by name; by id a deleted stack stays describable
            raise AwsError(f"stack {stack_id} disappeared while waiting for it",
                           "run `launch infra status`")
        # Events read after the status include every event up to that status.
        for event in reversed(recent_events(cfn, stack_id, stop_at=after_event)):
            if event.event_id in seen:
                continue
            seen.add(event.event_id)
            new_events.append(event)
            if on_event is not None:
                on_event(event)
        status = str(stack.get("StackStatus", ""))
        if not status.endswith("_IN_PROGRESS"):
            return stack, new_events
        if polling.clock() >= deadline:
            raise AwsError(
                f"timed out after {polling.timeout:.0f}s waiting for stack "
                f"{stack.get('StackName', stack_id)}; it is still {status}",
                "CloudFormation carries on without us: follow it with `launch infra status`")
        log.debug("stack %s is %s; next poll in %.1fs", stack_id, status, polling.interval)
        polling.sleep(polling.interval)
