"""The submit-time preflight: read-only checks of everything a job needs, before the first byte is
uploaded and before CreateTrainingJob.

In parallel (each is one or two read calls): the staging, output and checkpoint buckets exist and are
in the job's region; every S3 input prefix exists and holds objects; the job name is free; the role
exists and trusts SageMaker; and, where the caller may ask IAM's policy simulator, the role may list
and read the inputs. A check that cannot be made (the caller may not call IAM, or the simulator is
not offered) is a warning, not a refusal. `[aws] preflight = false` (`--no-preflight`) skips them all.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from launcher.aws import error_code
from launcher.backends.sagemaker.preflight import Check, check_bucket, check_input, check_role
from launcher.config.spec import parse_s3_uri
from launcher.errors import AwsError

if TYPE_CHECKING:
    from launcher.backends.sagemaker.request import JobPlan

log = logging.getLogger(__name__)

MAX_WORKERS = 8


@dataclass(frozen=True)
class Outcome:
    failures: list[str]
    warnings: list[str]


def check_job_name_free(sm: Any, name: str) -> Check:
    try:
        sm.describe_training_job(TrainingJobName=name)
    except Exception as e:
        message = str(getattr(e, "response", {}).get("Error", {}).get("Message", "")).lower()
        if error_code(e) in ("ValidationException", "ResourceNotFound") and (
                "not found" in message or "could not find" in message or "does not exist" in message):
            return Check("job name", True, f"{name} is free")
        return Check("job name", False, f"cannot check the name {name}: {e}")
    return Check("job name", False, f"a training job named {name!r} already exists "
                                    "(leave --name out for a generated unique name)")


def check_role_reads_inputs(iam: Any, role: str, uris: list[str]) -> Check | None:
    """The policy simulator's answer for the role on the inputs; None when it cannot be asked."""
    if not uris:
        return Check("role reads inputs", True, "no S3 inputs")
    objects, buckets = [], []
    for uri in uris:
        bucket, key = parse_s3_uri(uri)
        objects.append(f"arn:aws:s3:::{bucket}/{key}*")
        buckets.append(f"arn:aws:s3:::{bucket}")
    try:
        results = []
        for actions, resources in ((["s3:GetObject"], objects), (["s3:ListBucket"], sorted(set(buckets)))):
            page = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=actions,
                                                 ResourceArns=resources)
            results += page.get("EvaluationResults", [])
    except Exception as e:
        log.debug("policy simulator unavailable: %s", e)
        return None
    denied = [f"{r.get('EvalActionName')} on {r.get('EvalResourceName')}" for r in results
              if r.get("EvalDecision") != "allowed"]
    if denied:
        more = f" (and {len(denied) - 1} more)" if len(denied) > 1 else ""
        return Check("role reads inputs", False, f"role {role} may not {denied[0]}{more}")
    return Check("role reads inputs", True, f"role {role} may read every S3 input")


def _unanswered(check: Check) -> bool:
    return any(code in check.detail for code in ("access denied", "AccessDenied", "NotImplemented"))


def run_submit_checks(plan: JobPlan, *, s3: Any, iam: Any | None, sm: Any) -> Outcome:
    """Every check of `plan`, in parallel; failures refuse the submit, warnings are reported."""
    buckets = {plan.bucket}
    for uri in (plan.output_path, plan.checkpoint_uri):
        if uri:
            buckets.add(parse_s3_uri(uri)[0])
    inputs = [c.uri for c in plan.channels if c.local is None]
    with ThreadPoolExecutor(max_workers=MAX_WORKERS) as pool:
        futures = [pool.submit(check_bucket, s3, b, plan.region) for b in sorted(buckets)]
        futures += [pool.submit(check_input, s3, c.name, c.uri) for c in plan.channels if c.local is None]
        futures.append(pool.submit(check_job_name_free, sm, plan.job_name))
        role_future = pool.submit(check_role, iam, plan.role) if iam is not None else None
        reads_future = (pool.submit(check_role_reads_inputs, iam, plan.role, inputs)
                        if iam is not None else None)
        checks = [f.result() for f in futures]
        role = role_future.result() if role_future else None
        reads = reads_future.result() if reads_future else None
    failures = [c.detail for c in checks if not c.ok]
    warnings: list[str] = []
    if role is None or (not role.ok and _unanswered(role)):
        warnings.append(f"the role {plan.role} could not be checked"
                        + (f" ({role.detail})" if role else " (no IAM client)"))
    elif not role.ok:
        failures.append(role.detail)
    if reads is None:
        if inputs:
            warnings.append("IAM's policy simulator could not be asked whether the role may read the "
                            "inputs; SageMaker will tell at download time")
    elif not reads.ok:
        failures.append(reads.detail)
    return Outcome(failures, warnings)


def enforce(outcome: Outcome) -> None:
    for warning in outcome.warnings:
        log.warning("preflight: %s", warning)
    if outcome.failures:
        more = f" (and {len(outcome.failures) - 1} more: {'; '.join(outcome.failures[1:])})" \
            if len(outcome.failures) > 1 else ""
        raise AwsError(f"preflight: {outcome.failures[0]}{more}; nothing was uploaded or submitted",
                       "fix it and submit again, or skip these checks with --no-preflight")
