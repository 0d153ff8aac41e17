"""Catalogue of SageMaker training instance types: GPUs per type and indicative prices.

The type list is the `TrainingInstanceType` enum of the SageMaker API model: a snapshot of botocore
1.44.5 answers at once, and a type the snapshot lacks is looked up in the installed botocore's model
(a new type is accepted with a warning, never refused). GPU counts follow the SDK's
instance_gpu_info.json and AWS docs (container-contract.md §12); tests/test_catalog.py compares
the snapshot and the GPU table with the installed model.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass

from launcher.errors import SpecError

# botocore 1.44.5, service-2.json, shape TrainingInstanceType (225 values).
INSTANCE_TYPES: frozenset[str] = frozenset(
    """
    ml.m4.xlarge ml.m4.2xlarge ml.m4.4xlarge ml.m4.10xlarge ml.m4.16xlarge ml.g4dn.xlarge
    ml.g4dn.2xlarge ml.g4dn.4xlarge ml.g4dn.8xlarge ml.g4dn.12xlarge ml.g4dn.16xlarge
    ml.m5.large ml.m5.xlarge ml.m5.2xlarge ml.m5.4xlarge ml.m5.12xlarge ml.m5.24xlarge
    ml.c4.xlarge ml.c4.2xlarge ml.c4.4xlarge ml.c4.8xlarge ml.p2.xlarge ml.p2.8xlarge
    ml.p2.16xlarge ml.p3.2xlarge ml.p3.8xlarge ml.p3.16xlarge ml.p3dn.24xlarge ml.p4d.24xlarge
    ml.p4de.24xlarge ml.p5.48xlarge ml.p5e.48xlarge ml.p5en.48xlarge ml.c5.xlarge ml.c5.2xlarge
    ml.c5.4xlarge ml.c5.9xlarge ml.c5.18xlarge ml.c5n.xlarge ml.c5n.2xlarge ml.c5n.4xlarge
    ml.c5n.9xlarge ml.c5n.18xlarge ml.g5.xlarge ml.g5.2xlarge ml.g5.4xlarge ml.g5.8xlarge
    ml.g5.16xlarge ml.g5.12xlarge ml.g5.24xlarge ml.g5.48xlarge ml.g6.xlarge ml.g6.2xlarge
    ml.g6.4xlarge ml.g6.8xlarge ml.g6.16xlarge ml.g6.12xlarge ml.g6.24xlarge ml.g6.48xlarge
    ml.g6e.xlarge ml.g6e.2xlarge ml.g6e.4xlarge ml.g6e.8xlarge ml.g6e.16xlarge ml.g6e.12xlarge
    ml.g6e.24xlarge ml.g6e.48xlarge ml.trn1.2xlarge ml.trn1.32xlarge ml.trn1n.32xlarge
    ml.trn2.48xlarge ml.m6i.large ml.m6i.xlarge ml.m6i.2xlarge ml.m6i.4xlarge ml.m6i.8xlarge
    ml.m6i.12xlarge ml.m6i.16xlarge ml.m6i.24xlarge ml.m6i.32xlarge ml.c6i.xlarge ml.c6i.2xlarge
    ml.c6i.8xlarge ml.c6i.4xlarge ml.c6i.12xlarge ml.c6i.16xlarge ml.c6i.24xlarge
    ml.c6i.32xlarge ml.r5d.large ml.r5d.xlarge ml.r5d.2xlarge ml.r5d.4xlarge ml.r5d.8xlarge
    ml.r5d.12xlarge ml.r5d.16xlarge ml.r5d.24xlarge ml.t3.medium ml.t3.large ml.t3.xlarge
    ml.t3.2xlarge ml.r5.large ml.r5.xlarge ml.r5.2xlarge ml.r5.4xlarge ml.r5.8xlarge
    ml.r5.12xlarge ml.r5.16xlarge ml.r5.24xlarge ml.p6-b200.48xlarge ml.m7i.large ml.m7i.xlarge
    ml.m7i.2xlarge ml.m7i.4xlarge ml.m7i.8xlarge ml.m7i.12xlarge ml.m7i.16xlarge ml.m7i.24xlarge
    ml.m7i.48xlarge ml.c7i.large ml.c7i.xlarge ml.c7i.2xlarge ml.c7i.4xlarge ml.c7i.8xlarge
    ml.c7i.12xlarge ml.c7i.16xlarge ml.c7i.24xlarge ml.c7i.48xlarge ml.r7i.large ml.r7i.xlarge
    ml.r7i.2xlarge ml.r7i.4xlarge ml.r7i.8xlarge ml.r7i.12xlarge ml.r7i.16xlarge ml.r7i.24xlarge
    ml.r7i.48xlarge ml.p6e-gb200.36xlarge ml.p5.4xlarge ml.p6-b300.48xlarge ml.g7e.2xlarge
    ml.g7e.4xlarge ml.g7e.8xlarge ml.g7e.12xlarge ml.g7e.24xlarge ml.g7e.48xlarge ml.g7.2xlarge
    ml.g7.4xlarge ml.g7.8xlarge ml.g7.12xlarge ml.g7.24xlarge ml.g7.48xlarge ml.r6i.large
    ml.r6i.xlarge ml.r6i.2xlarge ml.r6i.4xlarge ml.r6i.8xlarge ml.r6i.12xlarge ml.r6i.16xlarge
    ml.r6i.24xlarge ml.r6i.32xlarge ml.m8i.large ml.m8i.xlarge ml.m8i.2xlarge ml.m8i.4xlarge
    ml.m8i.8xlarge ml.m8i.12xlarge ml.m8i.16xlarge ml.m8i.24xlarge ml.m8i.32xlarge
    ml.m8i.48xlarge ml.m8i.96xlarge ml.c8i.xlarge ml.c8i.2xlarge ml.c8i.4xlarge ml.c8i.8xlarge
    ml.c8i.12xlarge ml.c8i.16xlarge ml.c8i.24xlarge ml.c8i.32xlarge ml.c8i.48xlarge
    ml.c8i.96xlarge ml.r8i.large ml.r8i.xlarge ml.r8i.2xlarge ml.r8i.4xlarge ml.r8i.8xlarge
    ml.r8i.12xlarge ml.r8i.16xlarge ml.r8i.24xlarge ml.r8i.32xlarge ml.r8i.48xlarge
    ml.r8i.96xlarge ml.m7i-flex.large ml.m7i-flex.xlarge ml.m7i-flex.2xlarge ml.m7i-flex.4xlarge
    ml.m7i-flex.8xlarge ml.m7i-flex.12xlarge ml.m7i-flex.16xlarge ml.c7i-flex.xlarge
    ml.c7i-flex.2xlarge ml.c7i-flex.4xlarge ml.c7i-flex.8xlarge ml.c7i-flex.12xlarge
    ml.c7i-flex.16xlarge ml.m8i-flex.large ml.m8i-flex.xlarge ml.m8i-flex.2xlarge
    ml.m8i-flex.4xlarge ml.m8i-flex.8xlarge ml.m8i-flex.12xlarge ml.m8i-flex.16xlarge
    ml.c8i-flex.xlarge ml.c8i-flex.2xlarge ml.c8i-flex.4xlarge ml.c8i-flex.8xlarge
    ml.c8i-flex.12xlarge ml.c8i-flex.16xlarge ml.r8i-flex.large ml.r8i-flex.xlarge
    ml.r8i-flex.2xlarge ml.r8i-flex.4xlarge ml.r8i-flex.8xlarge ml.r8i-flex.12xlarge
    ml.r8i-flex.16xlarge
    """.split()  # noqa: SIM905 (one word per type reads better than 225 quoted items)
)

# family → (gpu model, memory per GPU in GiB, {size: gpu count}); sizes absent here have 1 GPU.
_GPU_FAMILIES: dict[str, tuple[str, int, dict[str, int]]] = {
    "g4dn": ("T4", 16, {"12xlarge": 4}),
    "g5": ("A10G", 24, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6": ("L4", 24, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g6e": ("L40S", 48, {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}),
    "g7e": ("RTX PRO 6000", 96, {"12xlarge": 2, "24xlarge": 4, "48xlarge": 8}),
    "p2": ("K80", 12, {"8xlarge": 8, "16xlarge": 16}),
    "p3": ("V100", 16, {"8xlarge": 4, "16xlarge": 8}),
    "p3dn": ("V100", 32, {"24xlarge": 8}),
    "p4d": ("A100", 40, {"24xlarge": 8}),
    "p4de": ("A100", 80, {"24xlarge": 8}),
    "p5": ("H100", 80, {"48xlarge": 8, "4xlarge": 1}),
    "p5e": ("H200", 141, {"48xlarge": 8}),
    "p5en": ("H200", 141, {"48xlarge": 8}),
    "p6-b200": ("B200", 180, {"48xlarge": 8}),
    "p6-b300": ("B300", 270, {"48xlarge": 8}),
    "p6e-gb200": ("GB200", 186, {"36xlarge": 4}),
}
# GPU architectures CUDA 13 no longer supports (the DLC 2.9+ images): Volta and older.
PRE_CUDA13_GPUS = frozenset({"K80", "V100"})

# Indicative on-demand prices, USD per instance-hour, us-east-1. NOT AWS-published: collected from
# public code snapshots (2025-26) quoting aws.amazon.com/sagemaker/pricing; re-check before relying
# on them (AWS Price List API, ServiceCode AmazonSageMaker). Override with --price-per-hour.
PRICE_SOURCE = (
    "indicative us-east-1 on-demand prices from public snapshots of aws.amazon.com/sagemaker/pricing"
)
PRICE_DATE = "2026-11-23"
PRICES_USD_PER_HOUR: dict[str, float] = {
    "ml.m5.large": 0.115, "ml.m5.xlarge": 0.23, "ml.m5.2xlarge": 0.461,
    "ml.c5.xlarge": 0.204, "ml.c5.2xlarge": 0.408, "ml.c5.9xlarge": 1.836,
    "ml.g4dn.xlarge": 0.736, "ml.g4dn.2xlarge": 0.94, "ml.g4dn.4xlarge": 1.505,
    "ml.g4dn.8xlarge": 2.72, "ml.g4dn.12xlarge": 4.89, "ml.g4dn.16xlarge": 5.44,
    "ml.g5.xlarge": 1.408, "ml.g5.16xlarge": 5.12, "ml.g6e.xlarge": 2.61,
    "ml.p3.2xlarge": 3.825, "ml.p3.8xlarge": 14.688, "ml.p3.16xlarge": 28.152,
    "ml.p3dn.24xlarge": 35.894, "ml.p4d.24xlarge": 37.688, "ml.p5.48xlarge": 113.14,
}


@dataclass(frozen=True)
class InstanceType:
    name: str
    gpus: int
    gpu_model: str | None
    gpu_memory_gib: int | None
    price_per_hour: float | None
    gpus_known: bool = True         # False: a GPU family newer than the table (planned as 1 GPU)
    in_snapshot: bool = True        # False: known from the installed botocore model only

    @property
    def family(self) -> str:
        return self.name.removeprefix("ml.").rsplit(".", 1)[0]

    @property
    def needs_cuda12(self) -> bool:
        """True when CUDA 13 images cannot drive this GPU (ml.p3.*, ml.p2.*)."""
        return self.gpu_model in PRE_CUDA13_GPUS


def suggest(name: str) -> str | None:
    """The closest catalogued type, for 'did you mean …?'."""
    candidates = list(INSTANCE_TYPES)
    if name and not name.startswith("ml."):
        name = "ml." + name
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return close[0] if close else None


@functools.cache
def botocore_training_types() -> frozenset[str]:
    """The installed botocore's TrainingInstanceType enum (the model's JSON, read once)."""
    try:
        from botocore.loaders import Loader

        model = Loader().load_service_model("sagemaker", "service-2")
        return frozenset(model["shapes"]["TrainingInstanceType"]["enum"])
    except Exception:  # botocore missing or its model unreadable: the snapshot still answers
        return frozenset()


def is_gpu_family(family: str) -> bool:
    return family[:1] in ("g", "p")


def warnings_for(info: InstanceType) -> list[str]:
    """What a careful engineer should know about an instance type the tables do not fully cover."""
    out = []
    if not info.in_snapshot:
        out.append(f"{info.name} is newer than the launcher's instance table (known from the installed "
                   "botocore); its price is unknown")
    if not info.gpus_known:
        out.append(f"{info.name}: the GPU count of the {info.family} family is not in the launcher's "
                   "table; planned as 1 GPU per instance (pass --processes-per-host N if it has more)")
    return out


def lookup(name: str) -> InstanceType:
    """The catalogue entry; SpecError with a suggestion for an unknown type."""
    in_snapshot = name in INSTANCE_TYPES
    if not in_snapshot and name not in botocore_training_types():
        hint = suggest(name)
        raise SpecError(
            f"unknown instance type {name!r}",
            f"did you mean {hint}?" if hint else "see `launch config --instance-types`",
        )
    family, size = name.removeprefix("ml.").rsplit(".", 1)
    price = PRICES_USD_PER_HOUR.get(name)
    gpu = _GPU_FAMILIES.get(family)
    if gpu is None:
        if is_gpu_family(family):  # a GPU family the table lacks: one GPU, said out loud
            return InstanceType(name, 1, None, None, price, gpus_known=False, in_snapshot=in_snapshot)
        return InstanceType(name, 0, None, None, price, in_snapshot=in_snapshot)
    model, memory, counts = gpu
    return InstanceType(name, counts.get(size, 1), model, memory, price, in_snapshot=in_snapshot)
