"""Which contract a user's script expects, from the variable names its code mentions.

A script written for an SDK v2 estimator reads variables that only the image's training toolkit sets
(`SM_MODULE_DIR`, `SM_USER_ARGS`, …); under the default ModelTrainer contract it would get nothing
for them. The names each contract alone sets are not listed here: they are computed from the two
contract definitions (launcher.job.container_env and classic_env) on a probe job, so the suggestion
follows the emulation. Only names of SageMaker's own families count (SM_*, SAGEMAKER_*,
CURRENT_HOST): MASTER_ADDR, NCCL_* or PYTHONPATH are set under torchrun (or anywhere) as well.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path, PurePosixPath

from launcher.config import wire
from launcher.config.spec import JobSpec
from launcher.errors import PackagingError
from launcher.job import classic_contract as cc
from launcher.job.classic_env import toolkit_environment
from launcher.job.container_env import CLASSIC, ContainerConfig, HostLayout, modeltrainer_environment
from launcher.job.packaging import scan_source

log = logging.getLogger(__name__)

SCANNED_SUFFIXES = (".py", ".sh")
MAX_SCANNED_BYTES = 2 * 1024 * 1024   # a file larger than this is data, not a script
NAME_RE = re.compile(r"\b(?:SM|SAGEMAKER)_[A-Z0-9_]+\b|\bCURRENT_HOST\b")
SHOWN = 6  # names listed in one warning


def _names(contract: str) -> frozenset[str]:
    """Every variable name of SageMaker's families the contract sets, with and without torchrun."""
    layout = HostLayout(Path("/opt/ml"), "algo-1")
    found: set[str] = set()
    for distributed in (False, True):
        user = {"epochs": 1}
        if contract == CLASSIC:
            hps = cc.encode(user, cc.framework_hyperparameters(
                program="train.py", submit_directory="s3://bucket/code/sourcedir.tar.gz",
                region="us-east-1", job_name="probe", torch_distributed=distributed,
                instance_type="ml.g5.xlarge"))
        else:
            hps = wire.encode(user)
        cfg = ContainerConfig(job_name="probe", region="us-east-1", instance_type="ml.g5.xlarge",
                              hosts=["algo-1", "algo-2"], current_host="algo-1", channels=["train"],
                              hyperparameters=hps, entry_script="train.py", checkpointing=True,
                              distributed=distributed, processes_per_host=1 if distributed else None,
                              contract=contract)
        build = toolkit_environment if contract == CLASSIC else modeltrainer_environment
        found |= {name for name in build(layout, cfg, {}) if NAME_RE.fullmatch(name)}
    return frozenset(found)


@cache
def contract_only_names() -> dict[str, frozenset[str]]:
    """For each contract, the names it sets and the other does not."""
    modeltrainer, classic = _names("modeltrainer"), _names(CLASSIC)
    return {"modeltrainer": modeltrainer - classic, CLASSIC: classic - modeltrainer}


def mentions(source_dir: Path) -> dict[str, set[str]]:
    """name → the .py/.sh files (relative paths) of the source dir that mention it."""
    try:
        files = scan_source(source_dir).files
    except PackagingError as e:  # packaging says so with its remedy when the job stages its code
        log.debug("not scanned: %s", e)
        return {}
    found: dict[str, set[str]] = {}
    for rel, path in files:
        if not rel.endswith(SCANNED_SUFFIXES):
            continue
        try:
            if path.stat().st_size > MAX_SCANNED_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for name in set(NAME_RE.findall(text)):
            found.setdefault(name, set()).add(rel)
    return found


def _listing(names: set[str]) -> str:
    shown = sorted(names)[:SHOWN]
    return ", ".join(shown) + (f" (+{len(names) - SHOWN} more)" if len(names) > SHOWN else "")


def _files(found: dict[str, set[str]], names: set[str]) -> str:
    files = sorted({f for n in names for f in found[n]})
    return ", ".join(files[:3]) + (" …" if len(files) > 3 else "")


def contract_warnings(spec: JobSpec, source_dir: Path) -> tuple[str, ...]:
    """What the user should know about the contract before the script runs (not refusals)."""
    if spec.uses_reference_entrypoint:  # the reference entrypoint works under both contracts
        return ()
    warnings: list[str] = []
    found = mentions(source_dir)
    other = CLASSIC if spec.contract != CLASSIC else "modeltrainer"
    missing = set(found) & contract_only_names()[other]
    if missing and spec.contract != CLASSIC:
        warnings.append(f"{_files(found, missing)} reads {_listing(missing)}, which only the training "
                        "toolkit of an SDK v2 estimator sets: under the default (ModelTrainer) contract "
                        "the script will not get them; run it with --classic (docs/classic.md)")
    elif missing:
        warnings.append(f"{_files(found, missing)} reads {_listing(missing)}, which only ModelTrainer's "
                        "drivers set: under --classic the script will not get them")
    if spec.contract == CLASSIC:
        requirements = spec.requirements
        if requirements is not None and PurePosixPath(requirements).as_posix() != "requirements.txt":
            warnings.append(f"requirements {spec.requirements}: the training toolkit installs only "
                            "requirements.txt at the top of the code directory, so a classic cloud job "
                            "will not install this file; name it requirements.txt")
        if (source_dir / "setup.py").is_file():
            warnings.append("the source dir has a setup.py: the training toolkit pip-installs it and "
                            f"runs `python -m {Path(spec.entrypoint).stem}`; the local runner runs the "
                            "script as a file and installs nothing")
    return tuple(warnings)
