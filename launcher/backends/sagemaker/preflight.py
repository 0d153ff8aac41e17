"""`launch plan --preflight`: read-only checks against AWS before a job is submitted.

Every call here reads (HeadBucket, GetBucketLocation, ListObjectsV2, GetObject, iam:GetRole); nothing
is created, changed or uploaded. Clients are passed in, so tests point them at moto.

Checks:

* the S3 bucket exists and lives in the job's region (SageMaker reads and writes it from there);
* the execution role exists and its trust policy lets ``sagemaker.amazonaws.com`` assume it;
* each ``s3://`` input channel's prefix exists and holds at least one object.

It also reads the sample-count manifest the launcher writes next to data it uploads
(``<channel uri>/_launcher_manifest.json``), so `launch plan` can count an S3 channel's examples.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from launcher.config.spec import is_s3_uri, parse_s3_uri
from launcher.errors import AwsError
from launcher.job.data_manifest import MANIFEST_NAME, ChannelInfo

if TYPE_CHECKING:
    from launcher.config.spec import JobSpec

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_preflight(spec: JobSpec, *, s3: Any, iam: Any, region: str) -> list[Check]:
    """All checks, in a stable order. AWS errors become failed checks; missing credentials raise."""
    checks = [check_bucket(s3, spec.aws.bucket, region), check_role(iam, spec.aws.role)]
    for name, location in spec.data.items():
        if is_s3_uri(location):
            checks.append(check_input(s3, name, location))
    return checks


def check_bucket(s3: Any, bucket: str | None, region: str) -> Check:
    name = "bucket"
    if not bucket:
        return Check(name, False, "no bucket configured: pass --bucket or run `launch infra deploy`")
    try:
        s3.head_bucket(Bucket=bucket)
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except Exception as e:  # botocore.exceptions.ClientError, without importing botocore here
        return Check(name, False, f"s3://{bucket}: {_describe(e)}")
    if location == "EU":  # legacy alias
        location = "eu-west-1"
    if location != region:
        return Check(name, False, f"s3://{bucket} is in {location}, the job runs in {region}: "
                                  "SageMaker needs a bucket in the job's region")
    return Check(name, True, f"s3://{bucket} exists in {region}")


def check_role(iam: Any, role_arn: str | None) -> Check:
    name = "role"
    if not role_arn:
        return Check(name, False, "no execution role configured: pass --role ARN or run "
                                  "`launch infra deploy`")
    role_name = role_arn.rsplit("/", 1)[-1]
    try:
        role = iam.get_role(RoleName=role_name)["Role"]
    except Exception as e:
        return Check(name, False, f"{role_arn}: {_describe(e)}")
    if role.get("Arn") and role["Arn"] != role_arn:
        return Check(name, False, f"{role_arn}: a role named {role_name} exists but its ARN is "
                                  f"{role['Arn']}")
    if not trusts_sagemaker(role.get("AssumeRolePolicyDocument")):
        return Check(name, False, f"{role_arn} exists but its trust policy does not let "
                                  f"{SAGEMAKER_PRINCIPAL} assume it")
    return Check(name, True, f"{role_arn} exists and trusts {SAGEMAKER_PRINCIPAL}")


def trusts_sagemaker(document: Any) -> bool:
    """Whether a trust policy allows sts:AssumeRole to the SageMaker service principal."""
    if isinstance(document, str):
        from urllib.parse import unquote

        try:
            document = json.loads(unquote(document))
        except ValueError:
            return False
    if not isinstance(document, dict):
        return False
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    for st in statements:
        if not isinstance(st, dict) or st.get("Effect") != "Allow":
            continue
        actions = _as_list(st.get("Action"))
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions):
            continue
        principal = st.get("Principal")
        services = _as_list(principal.get("Service")) if isinstance(principal, dict) else []
        if SAGEMAKER_PRINCIPAL in services or principal == "*":
            return True
    return False


def check_input(s3: Any, channel: str, uri: str) -> Check:
    name = f"channel {channel}"
    bucket, key = parse_s3_uri(uri)
    try:
        resp = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=2)
    except Exception as e:
        return Check(name, False, f"{uri}: {_describe(e)}")
    keys = [o["Key"] for o in resp.get("Contents", []) if not o["Key"].endswith("/")]
    if not keys:
        return Check(name, False, f"{uri} holds no objects")
    return Check(name, True, f"{uri} exists and is non-empty")


def read_channel_manifest(s3: Any, uri: str) -> ChannelInfo | None:
    """The launcher's manifest of an S3 channel, or None when there is none (or it is unreadable)."""
    from launcher.backends.sagemaker.staging import read_manifest

    return read_manifest(s3, uri)
    # Until the SageMaker backend's reader lands: the same file, read the same way.
    bucket, key = parse_s3_uri(uri)
    manifest_key = f"{key.rstrip('/')}/{MANIFEST_NAME}" if key else MANIFEST_NAME
    try:
        body = s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
        return ChannelInfo.from_json(body.decode())
    except Exception:
        return None


def make_clients(spec: JobSpec) -> tuple[Any, Any, str]:
    """(s3, iam, region) from the spec's region/profile and the usual AWS sources."""
    from launcher import aws

    session = aws.make_session(spec.aws.region, spec.aws.profile)
    aws.require_credentials(session)
    return aws.client(session, "s3"), aws.client(session, "iam"), str(session.region_name)


def _describe(e: Exception) -> str:
    from launcher.aws import error_code

    code = error_code(e)
    if code is None and type(e).__name__ in ("NoCredentialsError", "EndpointConnectionError"):
        raise AwsError(str(e), "check your AWS credentials and network") from e
    if code in ("404", "NoSuchBucket"):
        return "does not exist"
    if code in ("403", "AccessDenied"):
        return "access denied (the bucket may belong to another account)"
    if code == "NoSuchEntity":
        return "does not exist"
    return f"{code or type(e).__name__}: {e}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
