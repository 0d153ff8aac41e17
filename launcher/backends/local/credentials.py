"""What a local script receives of the caller's credentials: a policy, not an accident.

On SageMaker a script gets the execution role's credentials and nothing of the submitter's shell. A
local run builds its environment from the caller's, so the launcher decides what passes
(`[aws] local_credentials`, `--local-credentials`):

- `caller` (default): the caller's AWS credentials, as before (a recorded difference);
- `none`: no AWS credentials at all (variables removed, credential and config files hidden);
- `role`: temporary credentials of the SageMaker execution role, from sts:AssumeRole, where the
  role's trust policy allows the caller (as close to SageMaker as a local run gets).

Whatever the policy, tokens unrelated to AWS (`GITHUB_TOKEN`, `HF_TOKEN`, `OPENAI_API_KEY`, …) are
never passed on unless the job's own `--env` names them; `describe` lists what was left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from launcher.aws import error_code, error_message
from launcher.errors import AwsError, SpecError

POLICIES = ("caller", "none", "role")
AWS_CREDENTIAL_VARIABLES = frozenset({
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CREDENTIAL_EXPIRATION", "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
})
# Where no AWS credential can come from once the variables are gone.
NO_CREDENTIAL_SOURCES = {"AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_CONFIG_FILE": "/dev/null",
                         "AWS_EC2_METADATA_DISABLED": "true"}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY|CREDENTIAL", re.IGNORECASE)
MAX_SESSION_SECONDS = 12 * 3600


def describe_policy(policy: str, role: str | None) -> str:
    """The policy in words, for the job's record (`describe`)."""
    return {"caller": "the caller's AWS credentials (on SageMaker: the execution role's)",
            "none": "no AWS credentials",
            "role": f"temporary credentials of {role}, as on SageMaker"}[policy]


def unrelated_secrets(environ: Mapping[str, str], keep: Iterable[str]) -> list[str]:
    """Names of secret-looking variables that are not AWS's and that the job did not ask for."""
    kept = set(keep)
    return sorted(name for name in environ if name not in kept and not name.startswith("AWS_")
                  and SECRET_NAME.search(name))


def assume_role(sts: Any, role_arn: str | None, session_name: str, seconds: int) -> dict[str, str]:
    """The execution role's temporary credentials as variables; AwsError when the caller may not."""
    if not role_arn:
        raise SpecError("--local-credentials role needs the SageMaker execution role",
                        "pass --role ARN, or run `launch infra deploy`")
    try:
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64],
                                 DurationSeconds=max(900, min(seconds, MAX_SESSION_SECONDS)))
    except Exception as e:
        if error_code(e) in ("AccessDenied", "AccessDeniedException"):
            raise AwsError(f"cannot assume {role_arn} for the local run: {error_message(e)}",
                           "the role's trust policy must allow your principal (sts:AssumeRole), or "
                           "use --local-credentials caller / none") from e
        raise AwsError(f"sts:AssumeRole {role_arn} failed: {error_message(e)}") from e
    c = answer["Credentials"]
    return {"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
            "AWS_SESSION_TOKEN": c["SessionToken"]}


def apply_policy(env: Mapping[str, str], policy: str, keep: Iterable[str],
                 role_credentials: Mapping[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """(the script's environment under `policy`, the names left out). `keep`: the job's own --env."""
    kept = set(keep)
    left_out = unrelated_secrets(env, kept)
    out = {k: v for k, v in env.items() if k not in left_out}
    if policy in ("none", "role"):
        removed = sorted(k for k in out if k in AWS_CREDENTIAL_VARIABLES and k not in kept)
        left_out += removed
        out = {k: v for k, v in out.items() if k not in removed}
        out.update(NO_CREDENTIAL_SOURCES)
        if policy == "role":
            out.update(role_credentials or {})
    return out, sorted(left_out)
