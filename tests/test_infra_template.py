"""The infra template itself: cfn-lint, and every security property asserted on the parsed YAML.

moto's CloudFormation ignores most of the bucket hardening (public access block, versioning,
lifecycle, ownership controls, the bucket policy), so these template-level assertions are what
guards those properties; test_infra_stack.py reads back what moto does apply.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from launcher.infra.stack import (
    DEFAULT_KEY_PREFIX,
    DEFAULT_RETENTION_DAYS,
    KEY_PREFIX_PATTERN,
    MAX_KEY_PREFIX,
    MAX_RETENTION_DAYS,
    PREFIX_PATTERN,
    TEMPLATE_PATH,
    stack_name_for,
)

REPO = Path(__file__).resolve().parent.parent
DLC_ACCOUNT = "763104351884"
# Actions that have no resource-level permissions, so `Resource: "*"` is the only option.
UNSCOPABLE = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


class CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags (!Sub, !Ref, !GetAtt…) into long form."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE_PATH.read_text(), Loader=CfnLoader)  # CfnLoader is a SafeLoader


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == kind]


def _one(template: dict[str, Any], kind: str) -> dict[str, Any]:
    found = _resources(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def test_template_lives_in_infra() -> None:
    assert TEMPLATE_PATH == REPO / "launcher" / "infra" / "template.yaml"


def test_cfn_lint_passes_including_informational_checks() -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(TEMPLATE_PATH, config=ManualArgs(
        regions=["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"],
        include_checks=["I"]))
    assert not matches, "\n".join(str(m) for m in matches)


def test_parameters_agree_with_the_code(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["NamePrefix"]["AllowedPattern"] == PREFIX_PATTERN.pattern
    assert params["NamePrefix"]["Default"] == "launcher"
    assert int(params["RetentionDays"]["Default"]) == DEFAULT_RETENTION_DAYS
    assert int(params["RetentionDays"]["MinValue"]) == 1
    assert int(params["RetentionDays"]["MaxValue"]) == MAX_RETENTION_DAYS
    assert params["ImageRegistryAccount"]["Default"] == DLC_ACCOUNT
    assert params["KeyPrefix"]["AllowedPattern"] == KEY_PREFIX_PATTERN.pattern
    assert int(params["KeyPrefix"]["MaxLength"]) == MAX_KEY_PREFIX
    assert params["KeyPrefix"]["Default"] == DEFAULT_KEY_PREFIX


def test_key_prefix_default_is_the_launchers() -> None:
    from launcher.config.spec import Aws

    assert Aws.model_fields["prefix"].default == DEFAULT_KEY_PREFIX


def test_longest_prefix_fits_bucket_role_and_stack_name_limits(template: dict[str, Any]) -> None:
    prefix = "a" * 30
    assert PREFIX_PATTERN.match(prefix) and not PREFIX_PATTERN.match(prefix + "a")
    longest_region = "ap-southeast-7"  # 14 characters, as long as region names get
    bucket = _one(template, "AWS::S3::Bucket")["Properties"]["BucketName"]["Fn::Sub"]
    role = _one(template, "AWS::IAM::Role")["Properties"]["RoleName"]["Fn::Sub"]
    names = {k: v.replace("${NamePrefix}", prefix).replace("${AWS::AccountId}", "1" * 12)
             .replace("${AWS::Region}", longest_region) for k, v in (("b", bucket), ("r", role))}
    assert len(names["b"]) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", names["b"])
    assert len(names["r"]) <= 64
    assert re.fullmatch(r"[a-zA-Z][-a-zA-Z0-9]{0,127}", stack_name_for(prefix))


@pytest.mark.parametrize("bad", ["", "a", "Launcher", "1abc", "ab_c", "abc-", "a" * 31, "ab.c"])
def test_prefix_pattern_rejects(bad: str) -> None:
    assert not PREFIX_PATTERN.match(bad)


def test_bucket_is_encrypted_private_owner_enforced(template: dict[str, Any]) -> None:
    props = _one(template, "AWS::S3::Bucket")["Properties"]
    rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rules and all(r["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
                         for r in rules)
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True,
        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "AccessControl" not in props  # no canned ACLs (and none possible with owner-enforced)


def test_bucket_versioning_and_lifecycle(template: dict[str, Any]) -> None:
    bucket = _one(template, "AWS::S3::Bucket")
    props = bucket["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = props["LifecycleConfiguration"]["Rules"]
    assert all(r["Status"] == "Enabled" for r in rules)
    assert template["Conditions"]["HasKeyPrefix"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "KeyPrefix"}, ""]}]}
    expiring = {_rule_prefixes(r["Prefix"]): r for r in rules if "Prefix" in r}
    for folder in ("checkpoints/", "code/", "staging/"):
        rule = expiring[(f"${{KeyPrefix}}/{folder}", folder)]
        assert rule["ExpirationInDays"] == {"Ref": "RetentionDays"}
    assert len(expiring) == 3  # data/ and output/ never expire
    # Whole-bucket rules: incomplete multipart uploads, and the versions that versioning keeps.
    whole = [r for r in rules if "Prefix" not in r and "Filter" not in r]
    assert any(r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation") for r in whole)
    noncurrent = [r for r in whole if "NoncurrentVersionExpiration" in r]
    assert noncurrent and noncurrent[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == {
        "Ref": "NoncurrentVersionDays"}
    assert noncurrent[0].get("ExpiredObjectDeleteMarker") is True
    # A stack deletion never silently drops data (CloudFormation cannot delete a non-empty bucket,
    # and destroy refuses without --force); a replacement keeps the old bucket.
    assert bucket["DeletionPolicy"] == "Delete"
    assert bucket["UpdateReplacePolicy"] == "Retain"


def _rule_prefixes(prefix: Any) -> tuple[str, str]:
    """(with a key prefix, without one) of a rule's `!If [HasKeyPrefix, !Sub …, …]` prefix."""
    condition, with_prefix, without = prefix["Fn::If"]
    assert condition == "HasKeyPrefix"
    return with_prefix["Fn::Sub"], without


def test_lifecycle_prefixes_follow_the_staging_layout(template: dict[str, Any]) -> None:
    from launcher.backends.sagemaker import staging

    rules = _one(template, "AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"]
    prefixes = [_rule_prefixes(r["Prefix"]) for r in rules if "Prefix" in r]
    for key_prefix in ("launcher", "team/a", ""):
        keys = [staging.checkpoint_uri("b", key_prefix, "job").removeprefix("s3://b/"),
                staging.code_uri("b", key_prefix, "abc").removeprefix("s3://b/"),
                staging.staging_key_prefix(key_prefix, "job") + "/"]
        rendered = [w.replace("${KeyPrefix}", key_prefix) if key_prefix else wo
                    for w, wo in prefixes]
        for key in keys:
            assert any(key.startswith(p) for p in rendered), (key, rendered)


def test_bucket_policy_denies_insecure_transport(template: dict[str, Any]) -> None:
    policy = _one(template, "AWS::S3::BucketPolicy")["Properties"]
    assert policy["Bucket"] == {"Ref": "Bucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}]


def test_role_trusts_only_sagemaker(template: dict[str, Any]) -> None:
    role = _one(template, "AWS::IAM::Role")["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert statement == {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                         "Action": "sts:AssumeRole"}
    assert "ManagedPolicyArns" not in role  # no broad AWS managed policies
    assert "PermissionsBoundary" not in role


def test_role_policy_has_no_wildcards_that_could_be_scoped(template: dict[str, Any]) -> None:
    statements = _statements(_one(template, "AWS::IAM::Role"))
    assert statements and all(s["Effect"] == "Allow" for s in statements)
    for s in statements:
        actions = _as_list(s["Action"])
        assert all(re.fullmatch(r"[a-z0-9]+:[A-Za-z]+", a) for a in actions), actions  # no '*'
        if s["Resource"] == "*":
            assert set(actions) <= UNSCOPABLE, f"{actions} could be scoped to resources"
        else:
            assert all(r != "*" for r in _as_list(s["Resource"]))


def _by_action(statements: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [s for s in statements if action in _as_list(s["Action"])]


def test_role_s3_access_is_scoped_to_this_bucket(template: dict[str, Any]) -> None:
    statements = _statements(_one(template, "AWS::IAM::Role"))
    (listing,) = _by_action(statements, "s3:ListBucket")
    assert listing["Resource"] == {"Fn::GetAtt": ["Bucket", "Arn"]}
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        (objects,) = _by_action(statements, action)
        assert objects["Resource"] == {"Fn::Sub": "${Bucket.Arn}/*"}
    s3_actions = {a for s in statements for a in _as_list(s["Action"]) if a.startswith("s3:")}
    assert not any(a.startswith(("s3:PutBucket", "s3:DeleteBucket", "s3:PutObjectAcl"))
                   for a in s3_actions)


def test_role_logs_metrics_and_ecr(template: dict[str, Any]) -> None:
    statements = _statements(_one(template, "AWS::IAM::Role"))
    region_account = "${AWS::Region}:${AWS::AccountId}"
    for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"):
        for s in _by_action(statements, action):
            resource = s["Resource"]["Fn::Sub"]
            assert f"logs:{region_account}:log-group:/aws/sagemaker/TrainingJobs" in resource
    (metrics,) = _by_action(statements, "cloudwatch:PutMetricData")
    assert metrics["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}}
    (login,) = _by_action(statements, "ecr:GetAuthorizationToken")
    assert _as_list(login["Action"]) == ["ecr:GetAuthorizationToken"]
    for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
        (pull,) = _by_action(statements, action)
        assert pull["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:"
                                               "${ImageRegistryAccount}:repository/*"}


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["BucketName"]["Value"] == {"Ref": "Bucket"}
    assert outputs["RoleArn"]["Value"] == {"Fn::GetAtt": ["ExecutionRole", "Arn"]}
    assert outputs["Region"]["Value"] == {"Ref": "AWS::Region"}
