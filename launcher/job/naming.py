"""Job names: unique, valid for SageMaker, and ours (the SDK's have 1-second resolution, no suffix)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from launcher.config.spec import JOB_NAME_RE

MAX_LEN = 63
SUFFIX_LEN = 4


def sanitize_base(text: str) -> str:
    """Letters, digits and single hyphens; `train_cnn.py` → `train-cnn`."""
    text = re.sub(r"\.(py|sh)$", "", text)
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")
    return text or "job"


def generate_job_name(base: str, now: datetime | None = None, suffix: str | None = None) -> str:
    """`<base>-<YYYYmmdd-HHMMSS>-<4 random hex>`, the base cut so the timestamp and suffix survive."""
    now = now or datetime.now(UTC)
    suffix = suffix or secrets.token_hex(SUFFIX_LEN // 2)
    tail = f"-{now:%Y%m%d-%H%M%S}-{suffix}"
    head = sanitize_base(base)[: MAX_LEN - len(tail)].rstrip("-") or "job"
    name = head + tail
    assert JOB_NAME_RE.match(name), name
    return name
