"""The PyTorch training DLC for a job: a small bundled table, pure and instant.

The table mirrors `sagemaker/core/image_uri_config/pytorch.json` (sagemaker-core 2.27, "training"
scope) for the versions a new job should use; `tests/test_sagemaker_images.py` checks every entry
against `sagemaker.core.image_uris.retrieve`, which takes 2 s to import and so cannot serve
`launch plan` or `--dry-run`.

CUDA: DLC 2.8 is built on CUDA 12.9; DLC 2.9 and 2.10 on CUDA 13.0, which dropped Volta (V100) and
older GPUs. On those instance types (`ml.p3*`, `ml.p2*`) the default is the newest CUDA 12 DLC and an
explicit CUDA 13 choice is refused (container-contract.md §10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from launcher.config.catalog import lookup
from launcher.errors import SpecError

REPOSITORY = "pytorch-training"

# version → (python versions, CUDA major of the GPU image). Newest last.
VERSIONS: dict[str, tuple[tuple[str, ...], int]] = {
    "2.4.0": (("py311",), 12),
    "2.5.1": (("py311",), 12),
    "2.6.0": (("py312",), 12),
    "2.7.1": (("py312",), 12),
    "2.8.0": (("py312",), 12),
    "2.9.0": (("py312",), 13),
    "2.10.0": (("py313",), 13),
}
# The SDK accepts these aliases and uses them verbatim as the tag (a moving tag in ECR).
ALIASES = {v.rsplit(".", 1)[0]: v for v in VERSIONS}
DEFAULT_VERSION = "2.10.0"
DEFAULT_CUDA12_VERSION = "2.8.0"
# End of patch support, DLC framework support policy (read 2026-12-03; docs/container-contract.md
# §10). Versions older than the first entry ended before it.
SUPPORT_ENDS: dict[str, date] = {
    "2.8.0": date(2026, 8, 6),
    "2.9.0": date(2026, 10, 15),
    "2.10.0": date(2027, 1, 21),
}

# DLC account per region (pytorch.json, 2.8.0). Versions before 2.8.0 lack me-west-1.
REGISTRIES: dict[str, str] = {
    "af-south-1": "626614931356", "ap-east-1": "871362719292", "ap-east-2": "975050140332",
    "ap-northeast-1": "763104351884", "ap-northeast-2": "763104351884",
    "ap-northeast-3": "364406365360", "ap-south-1": "763104351884", "ap-south-2": "772153158452",
    "ap-southeast-1": "763104351884", "ap-southeast-2": "763104351884",
    "ap-southeast-3": "907027046896", "ap-southeast-4": "457447274322",
    "ap-southeast-5": "550225433462", "ap-southeast-6": "633930458069",
    "ap-southeast-7": "590183813437", "ca-central-1": "763104351884", "ca-west-1": "204538143572",
    "cn-north-1": "727897471807", "cn-northwest-1": "727897471807",
    "eu-central-1": "763104351884", "eu-central-2": "380420809688", "eu-north-1": "763104351884",
    "eu-south-1": "692866216735", "eu-south-2": "503227376785", "eu-west-1": "763104351884",
    "eu-west-2": "763104351884", "eu-west-3": "763104351884", "il-central-1": "780543022126",
    "me-central-1": "914824155844", "me-south-1": "217643126080", "me-west-1": "124382933778",
    "mx-central-1": "637423239942", "sa-east-1": "763104351884", "us-east-1": "763104351884",
    "us-east-2": "763104351884", "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353", "us-west-1": "763104351884", "us-west-2": "763104351884",
}
_MISSING_BEFORE_2_8 = frozenset({"me-west-1"})
_DLC_TAG_RE = re.compile(r"/pytorch-training:(?P<version>\d+\.\d+(?:\.\d+)?)-(?P<proc>gpu|cpu)")


@dataclass(frozen=True)
class ResolvedImage:
    uri: str
    framework_version: str | None  # None for a user-given --image-uri that is not a DLC
    py_version: str | None
    processor: str
    cuda_major: int | None
    reason: str = ""                                     # why this image
    warnings: tuple[str, ...] = field(default=())


def support_warning(version: str, instance_type: str, today: date | None = None) -> str | None:
    """A warning when the DLC version is past its end of patch support, with the fix."""
    today = today or date.today()
    ends = SUPPORT_ENDS.get(version)
    if ends is None and _version_key(version) < _version_key(min(SUPPORT_ENDS, key=_version_key)):
        ends = min(SUPPORT_ENDS.values())  # older than every dated version
    if ends is None or ends >= today:
        return None
    info = lookup(instance_type)
    if info.needs_cuda12:
        fix = (f"no supported PyTorch training image drives the {info.gpu_model} GPUs of {instance_type}; "
               "use a newer family such as ml.g5 / ml.g6, or your own --image-uri")
    else:
        fix = f"use --framework-version {DEFAULT_VERSION} (the default)"
    return f"PyTorch DLC {version} is past its end of patch support ({ends.isoformat()}): {fix}"


def _full_version(version: str) -> str:
    if version in VERSIONS:
        return version
    if version in ALIASES:
        return ALIASES[version]
    raise SpecError(
        f"PyTorch DLC version {version!r} is not in the launcher's table",
        f"use one of {', '.join(VERSIONS)}, or pass --image-uri",
    )


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def processor_for(instance_type: str) -> str:
    """'gpu' or 'cpu', as the SDK decides from the instance family."""
    family = instance_type.removeprefix("ml.").split(".", 1)[0]
    if family.startswith(("trn", "inf")):
        raise SpecError(
            f"{instance_type} needs a Neuron image; the PyTorch training DLC does not run on it",
            "pass --image-uri with a Neuron training image",
        )
    return "gpu" if family[:1] in ("g", "p") else "cpu"


def _hostname(region: str) -> str:
    return f"ecr.{region}.amazonaws.com" + (".cn" if region.startswith("cn-") else "")


def _cuda13_refusal(instance_type: str, what: str, gpu_model: str | None) -> SpecError:
    return SpecError(
        f"{what} is built on CUDA 13, which no longer supports the {gpu_model} GPUs of {instance_type}",
        f"use --framework-version {DEFAULT_CUDA12_VERSION} (the newest CUDA 12 DLC, the default "
        "there) or a newer instance family such as ml.g5 / ml.g6",
    )


def resolve_image(
    *, region: str, instance_type: str, framework_version: str | None = None,
    py_version: str | None = None, image_uri: str | None = None, today: date | None = None,
) -> ResolvedImage:
    """The training image URI for this job; SpecError when the choice cannot work."""
    info = lookup(instance_type)
    if image_uri:
        m = _DLC_TAG_RE.search(image_uri)
        if m and info.needs_cuda12 and m["proc"] == "gpu":
            version = m["version"]
            full = ALIASES.get(version, version)
            cuda = VERSIONS.get(full, ((), None))[1]
            if cuda is None and _version_key(full)[:2] >= (2, 9):
                cuda = 13
            if cuda == 13:
                raise _cuda13_refusal(instance_type, f"image {image_uri}", info.gpu_model)
        return ResolvedImage(image_uri, None, None, "custom", None, reason="--image-uri")

    processor = processor_for(instance_type)
    if info.gpu_model == "K80":  # Kepler: no PyTorch 2.x build runs on it, CUDA 12 or not
        raise SpecError(f"the PyTorch 2.x training images do not support the K80 GPUs of {instance_type}",
                        "use a newer family such as ml.g5 / ml.g6 (or your own --image-uri)")
    if framework_version is None:
        version = DEFAULT_CUDA12_VERSION if info.needs_cuda12 else DEFAULT_VERSION
        tag_version = version
    else:
        version = _full_version(framework_version)
        tag_version = framework_version  # the SDK keeps an alias verbatim
    py_versions, cuda_major = VERSIONS[version]
    if processor == "gpu" and info.needs_cuda12 and cuda_major >= 13:
        raise _cuda13_refusal(instance_type, f"PyTorch DLC {framework_version}", info.gpu_model)
    py = py_version or py_versions[0]
    if py not in py_versions:
        raise SpecError(
            f"PyTorch DLC {version} is built for {', '.join(py_versions)}, not {py}",
            f"pass --py-version {py_versions[0]} or leave it out",
        )
    registry = REGISTRIES.get(region)
    if registry is None or (_version_key(version) < (2, 8) and region in _MISSING_BEFORE_2_8):
        raise SpecError(
            f"no PyTorch DLC {version} is known for region {region!r}",
            "pass --image-uri, or use another region",
        )
    uri = f"{registry}.dkr.{_hostname(region)}/{REPOSITORY}:{tag_version}-{processor}-{py}"
    if framework_version is not None:
        reason = f"--framework-version {framework_version}"
    elif info.needs_cuda12:
        reason = (f"the newest CUDA 12 image: CUDA 13 (PyTorch DLC 2.9+) no longer drives the "
                  f"{info.gpu_model} GPUs of {instance_type}")
    else:
        reason = f"the newest PyTorch training image ({processor.upper()})"
    warning = support_warning(version, instance_type, today)
    return ResolvedImage(uri, version, py, processor, cuda_major if processor == "gpu" else None,
                         reason=reason, warnings=(warning,) if warning else ())
