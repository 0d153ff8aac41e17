"""AWS sessions and clients, built in one place and passed down (never built deep inside).

boto3 is imported lazily so `launch --help` and `launch plan` stay fast. Retries use botocore's
standard retry mode (throttling and transient errors), never hand-written loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher.errors import AwsError

if TYPE_CHECKING:
    import boto3


def make_session(region: str | None = None, profile: str | None = None) -> boto3.Session:
    """A boto3 session from the usual sources (flags, env, AWS config); fails with a remedy."""
    import os

    import boto3
    import botocore.exceptions

    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION is what most tools (and SageMaker) set.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(region_name=region, profile_name=profile or None)
    except botocore.exceptions.ProfileNotFound as e:
        raise AwsError(str(e), "check --profile / AWS_PROFILE against ~/.aws/config") from e
    if not session.region_name:
        raise AwsError("no AWS region configured",
                       "pass --region, set AWS_REGION, or run `launch infra deploy --region …`")
    return session


def require_credentials(session: boto3.Session) -> None:
    if session.get_credentials() is None:
        raise AwsError("no AWS credentials found",
                       "run `aws configure` or `aws sso login`, or set AWS_PROFILE / AWS_ACCESS_KEY_ID")


def client(session: boto3.Session, service: str, *, max_attempts: int = 5, **kwargs: Any) -> Any:
    """A client with botocore's standard retry mode; AWS_ENDPOINT_URL (e.g. moto) is honoured."""
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": max_attempts},
                    user_agent_extra="launcher")
    return session.client(service, config=config, **kwargs)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response: Mapping[str, Any] | None = getattr(exc, "response", None)
    if not response:
        return None
    return str(response.get("Error", {}).get("Code") or "") or None
