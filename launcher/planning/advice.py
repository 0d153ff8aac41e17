"""What a careful engineer would point out about a plan before launch: warnings, never refusals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from launcher.planning.cost import format_duration

if TYPE_CHECKING:
    from launcher.planning.training_plan import Plan

LONG_WARMUP_FRACTION = 0.10  # warn when warmup is more than this share of the optimizer steps
TENSOR_CORE_MULTIPLE = 8


@dataclass(frozen=True)
class PlanWarning:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}



def plan_warnings(plan: Plan) -> list[PlanWarning]:
    """What a careful engineer would point out before launch."""
    s = plan.steps
    out: list[PlanWarning] = []
    where = " per process" if s.world_size > 1 else ""
    if s.per_process_samples < s.batch_size:
        out.append(PlanWarning(
            "batch-larger-than-dataset",
            f"batch_size {s.batch_size} is larger than the {s.per_process_samples} training "
            f"examples{where}: every epoch is a single partial batch of {s.per_process_samples}",
        ))
    remainder = s.per_process_samples % s.batch_size
    if (not s.drop_last and remainder and s.iterations_per_epoch > 1
            and remainder < max(4, s.batch_size * 0.1)):
        out.append(PlanWarning(
            "small-last-batch",
            f"the last batch of each epoch holds only {remainder} example"
            f"{'s' if remainder != 1 else ''}{where} (of {s.batch_size}): BatchNorm statistics "
            f"from it are noisy (and fail with 1); consider --hp drop_last=true",
        ))
    if plan.warmup_steps > LONG_WARMUP_FRACTION * s.total_optimizer_steps:
        share = plan.warmup_steps / s.total_optimizer_steps
        out.append(PlanWarning(
            "long-warmup",
            f"warmup takes {plan.warmup_steps} of {s.total_optimizer_steps} optimizer steps "
            f"({share:.0%}); more than {LONG_WARMUP_FRACTION:.0%} leaves little time at the peak LR",
        ))
    if not plan.local and plan.spec.spot_enabled(cloud=True):
        message = spot_checkpoint_warning(plan)
        if message:
            out.append(PlanWarning("spot-without-checkpoints", message))
    if plan.cost is not None and plan.cost.exceeds_max_run:
        assert plan.cost.expected_seconds is not None
        out.append(PlanWarning(
            "max-run-too-short",
            f"the expected training time ({format_duration(plan.cost.expected_seconds)}) exceeds "
            f"max_run ({format_duration(plan.cost.max_run_seconds)}): SageMaker would stop the job "
            f"first; raise --max-run",
        ))
    if plan.gpus_per_host > 0 and s.batch_size % TENSOR_CORE_MULTIPLE:
        out.append(PlanWarning(
            "batch-not-multiple-of-8",
            f"batch_size {s.batch_size} is not a multiple of {TENSOR_CORE_MULTIPLE}: tensor cores "
            f"run mixed-precision matrix multiplies fastest on multiples of 8",
        ))
    return out


def spot_checkpoint_warning(plan: Plan) -> str | None:
    """Why a spot interruption would restart this job from scratch, or None when it would resume.

    SageMaker syncs ``/opt/ml/checkpoints`` with the checkpoint URI (the SageMaker backend sets one
    for every spot job), but only the script decides whether anything is saved there and resumed.
    The reference entrypoint saves every ``checkpoint_every_steps`` optimizer steps and at each
    epoch end; a user script is taken at its word only when a checkpoint URI is given explicitly.
    """
    spec, s = plan.spec, plan.steps
    if not spec.uses_reference_entrypoint:
        if spec.spot.checkpoint_s3_uri:
            return None
        return (f"spot training with your own {spec.entrypoint}: an interruption restarts it from "
                "scratch unless it saves checkpoints in /opt/ml/checkpoints and resumes from them; "
                "set --checkpoint-s3-uri once it does, or use --no-spot")
    every = plan.config.checkpoint_every_steps or s.optimizer_steps_per_epoch
    first = min(every, s.optimizer_steps_per_epoch)
    if first < s.total_optimizer_steps:
        return None
    return (f"spot training that saves no checkpoint before it ends ({s.total_optimizer_steps} "
            f"optimizer steps, checkpoint_every_steps {plan.config.checkpoint_every_steps}, one "
            "epoch): an interruption restarts from step 0; lower --hp checkpoint_every_steps")
