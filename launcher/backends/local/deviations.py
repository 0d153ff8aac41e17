"""What a local run cannot make identical to the real training container (container-contract.md §13).

The list goes into the job's record (`launch describe` shows it); the run itself says one line.
"""

from __future__ import annotations

from pathlib import Path

from launcher.backends.base import Deviation
from launcher.backends.local.container import ContainerConfig
from launcher.backends.local.isolation import Isolation
from launcher.config.spec import Compute
from launcher.errors import SpecError


def planned_image(compute: Compute, region: str, instance_type: str | None) -> str:
    """The image the job would really run in: --image-uri, else the PyTorch DLC the SageMaker path
    would pick for this framework/py version and instance type."""
    if compute.image_uri:
        return compute.image_uri
    # A pure table lookup (no SDK import): the same choice as the cloud request's.
    from launcher.backends.sagemaker.images import DEFAULT_VERSION, VERSIONS, resolve_image

    if instance_type is None:  # the processor follows the instance type, which is not given
        version = compute.framework_version or DEFAULT_VERSION
        py = compute.py_version or VERSIONS.get(version, (("?",), 0))[0][0]
        return f"PyTorch DLC {version} ({py}), CPU or GPU by --instance-type"
    try:
        return resolve_image(region=region, instance_type=instance_type,
                             framework_version=compute.framework_version,
                             py_version=compute.py_version).uri
    except SpecError:  # the cloud path would refuse it; the dry run of a submit says why
        return f"PyTorch DLC {compute.framework_version or DEFAULT_VERSION}"


def mode_line(iso: Isolation, tree: Path, job_name: str) -> str:
    """The one line a run says about its container: where /opt/ml is, and where the rest is."""
    if iso.opt_ml:
        line = "/opt/ml is the job's tree (mount namespace)"
    else:
        line = (f"relocated paths ({iso.relocated_because}): /opt/ml is {tree}; SM_* variables and "
                "SAGEMAKER_BASE_DIR point there, absolute /opt/ml paths do not")
    if not iso.pid_namespace:
        line += "; no PID namespace here: a child process that calls setsid can outlive a stop"
    return f"{line}; other differences: launch describe {job_name}"


def deviations(cfg: ContainerConfig, iso: Isolation, tree: Path, *, image: str,
               python: str) -> list[Deviation]:
    """What this local container cannot make identical to the real one (contract §13)."""
    found = []
    if not iso.opt_ml:
        found.append(Deviation("/opt/ml paths", "/opt/ml/…",
                               f"{tree}/… ({iso.relocated_because}; SM_* variables and "
                               "SAGEMAKER_BASE_DIR point there)"))
    elif iso.as_caller:
        found.append(Deviation("user", "root", "the caller's own uid (a user namespace)"))
    found += [
        Deviation("hostname", "EC2 name; algo-N in resourceconfig", "this machine's name"),
        Deviation("host names", "algo-N resolve to each instance's address",
                  "algo-N resolve to 127.0.0.1 (the namespace's /etc/hosts)" if iso.opt_ml else
                  "algo-N do not resolve (no mount namespace for /etc/hosts)"),
        Deviation("image", image, f"this machine's Python and packages ({python})"),
        Deviation("environment", "the image's ENV lines and the job's Environment",
                  "those, plus an allowlist of this machine's variables (PATH, HOME, locale, "
                  "CUDA_*, proxies, AWS_* by the credential policy)"),
        *([Deviation("sm_drivers channel", "24 SDK driver files", "an empty directory")]
          if cfg.contract != "classic" else []),
        Deviation("local channels", "downloaded copies",
                  "hard links (copies across filesystems) in read-only directories"),
        Deviation("instance type", cfg.instance_type, "nominal; CPU/GPU counts are this machine's"),
        Deviation("stop", "SIGTERM to PID 1 (ignored), SIGKILL after 120 s",
                  "SIGKILL of the process group at once"),
    ]
    if not iso.pid_namespace:
        found.append(Deviation("process tree", "ends with the container",
                               "a session per host: a child that calls setsid can outlive a stop"))
    if cfg.input_mode != "File":
        found.append(Deviation("input mode", cfg.input_mode, "File (channels fully staged first)"))
    if cfg.distributed:
        found.append(Deviation("NCCL/EFA", "NCCL_SOCKET_IFNAME=eth0, EFA on large types",
                               "loopback rendezvous on 127.0.0.1, no EFA"))
    return found
