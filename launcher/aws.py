"""AWS sessions and clients, built in one place and passed down (never built deep inside).

boto3 is imported lazily so `launch --help` and `launch plan` stay fast. Retries use botocore's
standard retry mode (throttling and transient errors), never hand-written loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from launcher.errors import AwsError, JobNotFoundError, LauncherError

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


_CREDENTIAL_ERRORS = frozenset({"NoCredentialsError", "PartialCredentialsError", "UnauthorizedSSOTokenError",
                                "SSOTokenLoadError", "TokenRetrievalError"})
_CONNECTION_ERRORS = frozenset({"EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError",
                                "ReadTimeoutError"})
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Forbidden", "403"})
_REJECTED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                       "UnrecognizedClientException", "SignatureDoesNotMatch"})
_MISSING_BUCKET = frozenset({"NoSuchBucket"})
_NOT_FOUND_WORDS = ("not found", "could not find", "does not exist")
DEFAULT_DENIED_HINT = "check the IAM permissions of your credentials (and --profile)"


def error_message(exc: BaseException) -> str:
    response: Mapping[str, Any] | None = getattr(exc, "response", None)
    message = str((response or {}).get("Error", {}).get("Message") or "")
    return message or str(exc)


def translate_error(exc: BaseException, action: str, *, job_name: str | None = None,
                    region: str | None = None, denied_hint: str = DEFAULT_DENIED_HINT) -> LauncherError:
    """The one botocore → domain-error translation: a one-line message naming `action`, and a remedy.

    Works on the exception's class name and error code so that callers need not import botocore.
    `job_name` turns SageMaker's "not found" answers into JobNotFoundError.
    """
    name = type(exc).__name__
    if name in _CREDENTIAL_ERRORS:
        return AwsError(f"{action}: no AWS credentials found",
                        "run `aws configure` or `aws sso login`, or set AWS_PROFILE")
    if name in _CONNECTION_ERRORS:
        return AwsError(f"{action}: cannot connect ({exc})",
                        "check the network, the region, and AWS_ENDPOINT_URL if you set it")
    code = error_code(exc)
    message = error_message(exc)
    if job_name and code in ("ValidationException", "ResourceNotFound") and any(
            w in message.lower() for w in _NOT_FOUND_WORDS):
        where = f" in {region}" if region else ""
        return JobNotFoundError(f"no SageMaker training job named {job_name!r}{where}",
                                "`launch list` shows recent jobs; check --region / --profile")
    if code in _DENIED:
        return AwsError(f"permission denied: {action}: {message}", denied_hint)
    if code in _REJECTED:
        return AwsError(f"{action}: the AWS credentials were rejected or expired ({code})",
                        "refresh them (`aws sso login`, a new session token) or check AWS_PROFILE")
    if code in _MISSING_BUCKET:
        return AwsError(f"{action}: the bucket does not exist", "run `launch infra deploy` or pass --bucket")
    if code is None:
        detail = str(exc) if len(str(exc)) <= 300 else str(exc)[:300] + "…"
        return AwsError(f"{action} failed: {detail}",
                        "check the network, the region and AWS_ENDPOINT_URL if set")
    return AwsError(f"{action} failed: {code}: {message}")
