"""`launch infra status`: the stack's state, outputs and latest events, plus facts that reveal drift.

Drift here means what a user trips over: the user config no longer matching the stack outputs, a
deployed template older than the launcher's, a bucket deleted behind CloudFormation's back, lifecycle
rules for another key prefix than the one the launcher stages under, and the result of
CloudFormation's own drift detection when someone ran it. A fact that cannot be checked
(no permission) says so instead of failing the whole command.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from launcher.errors import AwsError
from launcher.infra.bucket import bucket_contents
from launcher.infra.events import (
    StackEvent,
    aws_errors,
    describe_stack,
    failure_cause,
    last_operation,
    recent_events,
)
from launcher.infra.stack import (
    CONFIG_SECTION,
    DEFAULT_KEY_PREFIX,
    StackOutputs,
    read_outputs,
    stack_parameters,
)


@dataclass(frozen=True)
class StackStatus:
    stack: str
    exists: bool
    status: str | None = None
    reason: str | None = None
    stack_id: str | None = None
    updated: datetime | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    outputs: StackOutputs | None = None
    events: tuple[StackEvent, ...] = ()
    facts: tuple[tuple[str, str], ...] = ()  # (what, finding), drift-relevant
    healthy: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"stack": self.stack, "exists": self.exists, "status": self.status,
                "reason": self.reason, "stack_id": self.stack_id,
                "updated": self.updated.isoformat() if self.updated else None,
                "healthy": self.healthy, "parameters": dict(self.parameters),
                "outputs": self.outputs.to_config() if self.outputs else None,
                "facts": [{"check": k, "finding": v} for k, v in self.facts],
                "events": [e.to_dict() for e in self.events]}


def status(cfn: Any, *, stack_name: str, s3: Any = None, config: Mapping[str, Any] | None = None,
           template_body: str | None = None, event_limit: int = 10) -> StackStatus:
    """The stack's status, outputs, latest events and facts that reveal drift."""
    stack = describe_stack(cfn, stack_name)
    if stack is None:
        return StackStatus(stack_name, exists=False)
    state = str(stack.get("StackStatus"))
    events = recent_events(cfn, str(stack["StackId"]), max_pages=1)
    try:
        outputs: StackOutputs | None = read_outputs(stack, cfn)
    except AwsError:
        outputs = None
    facts: list[tuple[str, str]] = []
    healthy = state in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    if not healthy and not state.endswith("_IN_PROGRESS"):
        facts.append(("last failure", failure_cause(last_operation(events))
                      or "no failed resource in the latest events"))
    facts.extend(_config_facts(stack_name, outputs, config or {}))
    if "KeyPrefix" in stack_parameters(stack):
        facts.append(_key_prefix_fact(stack_parameters(stack)["KeyPrefix"], config or {}))
    if template_body is not None:
        facts.append(_checked("template", lambda: _template_fact(cfn, stack_name, template_body)))
    if s3 is not None and outputs is not None:
        facts.append(_checked("bucket", lambda: _bucket_fact(s3, outputs.bucket)))
    drift = (stack.get("DriftInformation") or {}).get("StackDriftStatus")
    if drift and drift != "NOT_CHECKED":
        facts.append(("CloudFormation drift detection", drift))
    return StackStatus(stack_name, True, state, stack.get("StackStatusReason"), stack["StackId"],
                       stack.get("LastUpdatedTime") or stack.get("CreationTime"),
                       stack_parameters(stack), outputs, tuple(events[:event_limit]), tuple(facts),
                       healthy)


def _config_facts(stack_name: str, outputs: StackOutputs | None,
                  config: Mapping[str, Any]) -> list[tuple[str, str]]:
    aws = config.get(CONFIG_SECTION) or {}
    if outputs is None:
        return []
    facts = []
    for key, value in outputs.to_config().items():
        have = aws.get(key)
        if have == value:
            finding = "matches the stack"
        elif have is None:
            finding = "not set (`launch infra deploy` writes it)"
        else:
            finding = f"{have!r} differs from the stack's {value!r}"
        facts.append((f"config [{CONFIG_SECTION}].{key}", finding))
    return facts


def _key_prefix_fact(deployed: str, config: Mapping[str, Any]) -> tuple[str, str]:
    """Whether the lifecycle rules cover where the launcher stages (its [aws].prefix)."""
    staged = str((config.get(CONFIG_SECTION) or {}).get("prefix", DEFAULT_KEY_PREFIX)).strip("/")
    if staged == deployed:
        return "lifecycle rules", f"follow the key prefix {deployed!r} the launcher stages under"
    return "lifecycle rules", (f"follow the key prefix {deployed!r}, but [{CONFIG_SECTION}].prefix is "
                               f"{staged!r} (`launch infra deploy` moves them)")


def _checked(check: str, finding: Callable[[], str]) -> tuple[str, str]:
    """A fact whose look-up may fail (e.g. no permission): the failure becomes the finding."""
    try:
        return check, finding()
    except AwsError as e:
        return check, f"cannot check: {e.message}"


def _template_fact(cfn: Any, stack_name: str, body: str) -> str:
    with aws_errors(f"cloudformation:GetTemplate {stack_name}"):
        deployed = cfn.get_template(StackName=stack_name).get("TemplateBody")
    if isinstance(deployed, str) and deployed.strip() == body.strip():
        return "the deployed template is the launcher's current one"
    return "the deployed template differs from the launcher's (`launch infra deploy` updates it)"


def _bucket_fact(s3: Any, bucket: str) -> str:
    contents = bucket_contents(s3, bucket)
    if not contents.exists:
        return f"{bucket} is missing (deleted outside CloudFormation?)"
    return contents.describe()
