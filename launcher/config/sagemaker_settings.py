"""The job spec's `[sagemaker]` table: what organisations require of a training job in their account.

VPC (subnets and security groups), network isolation, inter-container traffic encryption, KMS keys
for the training volume and the output, a retry strategy, a warm pool (keep-alive) and TensorBoard
output. Each maps onto one field of CreateTrainingJob; they apply to cloud jobs only (a local run
records them among its differences). The SageMaker SDK's own configuration files can supply them
(launcher/config/sdk_defaults.py).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SUBNET_RE = re.compile(r"^subnet-[0-9a-z]{1,32}$")
SECURITY_GROUP_RE = re.compile(r"^sg-[0-9a-z]{1,32}$")
KMS_KEY_RE = re.compile(r"^(arn:aws[a-z\-]*:kms:[a-z0-9\-]+:\d{12}:(key|alias)/[\w/\-]+|alias/[\w/\-]+|"
                        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
MAX_SUBNETS = 16
MAX_SECURITY_GROUPS = 5
MAX_KEEP_ALIVE_SECONDS = 3600
TENSORBOARD_LOCAL_PATH = "/opt/ml/output/tensorboard"


class SageMakerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    subnets: list[str] = Field(default_factory=list)
    security_group_ids: list[str] = Field(default_factory=list)
    network_isolation: bool = False
    inter_container_encryption: bool = False
    volume_kms_key: str | None = None
    output_kms_key: str | None = None
    retry_attempts: int | None = Field(None, ge=1, le=30)
    keep_alive_seconds: int | None = Field(None, ge=0, le=MAX_KEEP_ALIVE_SECONDS)
    tensorboard_s3_uri: str | None = None

    @field_validator("subnets")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for subnet in v:
            if not SUBNET_RE.match(subnet):
                raise ValueError(f"subnet {subnet!r} is not a subnet id (subnet-0abc…)")
        if len(v) > MAX_SUBNETS:
            raise ValueError(f"{len(v)} subnets; SageMaker accepts at most {MAX_SUBNETS}")
        return v

    @field_validator("security_group_ids")
    @classmethod
    def _security_groups(cls, v: list[str]) -> list[str]:
        for group in v:
            if not SECURITY_GROUP_RE.match(group):
                raise ValueError(f"security group {group!r} is not a security group id (sg-0abc…)")
        if len(v) > MAX_SECURITY_GROUPS:
            raise ValueError(f"{len(v)} security groups; SageMaker accepts at most {MAX_SECURITY_GROUPS}")
        return v

    @field_validator("volume_kms_key", "output_kms_key")
    @classmethod
    def _kms_key(cls, v: str | None) -> str | None:
        if v is not None and not KMS_KEY_RE.match(v):
            raise ValueError(f"{v!r} is not a KMS key: use a key id, a key or alias ARN, or alias/NAME")
        return v

    @field_validator("tensorboard_s3_uri")
    @classmethod
    def _tensorboard(cls, v: str | None) -> str | None:
        if v is not None and (not v.startswith("s3://") or not v.endswith("/") or len(v) <= len("s3://x/")):
            raise ValueError(f"tensorboard_s3_uri {v!r} must be an s3://bucket/prefix/ ending in '/'")
        return v

    @model_validator(mode="after")
    def _vpc_whole(self) -> SageMakerSettings:
        if bool(self.subnets) != bool(self.security_group_ids):
            given, missing = (("subnets", "security groups") if self.subnets
                              else ("security groups", "subnets"))
            raise ValueError(f"a VPC needs subnets and security groups: {given} given, no {missing}")
        return self

    @property
    def vpc(self) -> bool:
        return bool(self.subnets)
