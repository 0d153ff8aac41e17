"""Shared by the infra tests: moto's CloudFormation made to finish change sets as AWS does."""

from __future__ import annotations

from typing import Any

import pytest


def moto_execute_like_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a change set runs, give the stack its Outputs and the change set's parameters (moto
    builds the output map before the change set runs and keeps the old parameters)."""
    import moto.cloudformation.models as models

    original = models.CloudFormationBackend.execute_change_set

    def execute(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        stack.parameters = change_set.parameters
        stack._parse_template()
        stack.output_map = stack._create_output_map()

    monkeypatch.setattr(models.CloudFormationBackend, "execute_change_set", execute)


def moto_kms_key_tags_like_cloudformation(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's AWS::KMS::Key handler passes CloudFormation's Key/Value tags to an API that expects
    TagKey/TagValue (and fails); translate them as CloudFormation does."""
    import moto.kms.models as models

    original = models.KmsBackend.create_key

    def create_key(self: Any, policy: Any, key_usage: str, key_spec: str, description: str,
                   tags: list[dict[str, str]] | None, *args: Any, **kwargs: Any) -> Any:
        tags = [{"TagKey": t.get("Key", t.get("TagKey")), "TagValue": t.get("Value", t.get("TagValue"))}
                for t in tags or []]
        return original(self, policy, key_usage, key_spec, description, tags, *args, **kwargs)

    monkeypatch.setattr(models.KmsBackend, "create_key", create_key)
