"""``mfprov.toml``: the one file a user edits, validated before any AWS call.

Errors name the field path and what would be valid. Names derived from prefix and suffix are
checked against AWS's length and character limits here, so a bad name never reaches AWS.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONFIG_FILE = "mfprov.toml"
STACKS = ("metaflow", "mlflow")
PRESETS = {"metaflow": ("personal", "standard"), "mlflow": ("standard",)}
#: the preset a stack gets when the config names none
DEFAULT_PRESET = {"metaflow": "personal", "mlflow": "standard"}
#: presets that later versions add; named so the error can say so
PLANNED_PRESETS = ("full",)

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_AFFIX = re.compile(r"^[a-z0-9-]*$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")


class ConfigError(Exception):
    """A configuration problem, already worded for the user."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkConfig(Section):
    #: create a VPC with one public subnet per AZ (no NAT), or use an existing VPC and subnets
    create: bool = True
    vpc_cidr: str = "10.20.0.0/16"
    az_count: Annotated[int, Field(ge=1, le=6)] = 2
    #: one CIDR per AZ; by default consecutive /20 blocks of the VPC
    subnet_cidrs: list[str] | None = None
    vpc_id: str | None = None
    subnet_ids: list[str] = Field(default_factory=list)

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v, strict=True)
        except ValueError as err:
            raise ValueError(f"{v!r} is not a CIDR block like 10.20.0.0/16 ({err})") from None
        if not 16 <= net.prefixlen <= 28:
            raise ValueError(f"a VPC CIDR must be between /16 and /28, not /{net.prefixlen}")
        return v

    @model_validator(mode="after")
    def _layout(self) -> NetworkConfig:
        if not self.create:
            if not self.vpc_id or not self.subnet_ids:
                raise ValueError("with create = false, set vpc_id and subnet_ids (at least one subnet)")
            return self
        vpc = ipaddress.ip_network(self.vpc_cidr)
        if self.subnet_cidrs is None:
            size = max(vpc.prefixlen + 2, 20) if vpc.prefixlen <= 18 else vpc.prefixlen + 2
            blocks = list(vpc.subnets(new_prefix=min(size, 28)))
            if len(blocks) < self.az_count:
                raise ValueError(f"vpc_cidr {self.vpc_cidr} is too small for {self.az_count} subnets")
            self.subnet_cidrs = [str(b) for b in blocks[: self.az_count]]
            return self
        if len(self.subnet_cidrs) != self.az_count:
            raise ValueError(
                f"subnet_cidrs has {len(self.subnet_cidrs)} entries but az_count is {self.az_count}; give one per AZ"
            )
        nets = []
        for cidr in self.subnet_cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=True)
            except ValueError as err:
                raise ValueError(f"subnet CIDR {cidr!r} is not valid ({err})") from None
            if not net.subnet_of(vpc):  # type: ignore[arg-type]
                raise ValueError(f"subnet CIDR {cidr} is outside the VPC {self.vpc_cidr}")
            nets.append(net)
        for i, a in enumerate(nets):
            for b in nets[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(f"subnet CIDRs {a} and {b} overlap")
        return self


class DatastoreConfig(Section):
    #: default ``<prefix>-s3-<suffix>``
    bucket_name: str | None = None
    kms_key_rotation: bool = False
    versioning: bool = False
    #: empty the bucket (every object version) on ``down``; off, ``down`` refuses a non-empty bucket
    force_destroy: bool = False


class ImdsConfig(Section):
    http_endpoint: Literal["enabled", "disabled"] = "enabled"
    #: "required" means IMDSv2 only
    http_tokens: Literal["required", "optional"] = "required"
    hop_limit: Annotated[int, Field(ge=1, le=64)] = 2


class GpuConfig(Section):
    enabled: bool = False
    instance_types: list[str] = Field(default_factory=lambda: ["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge"])
    max_vcpus: Annotated[int, Field(ge=1)] = 32


class BatchConfig(Section):
    compute_type: Literal["spot", "ec2"] = "spot"
    #: default SPOT_CAPACITY_OPTIMIZED for spot, BEST_FIT_PROGRESSIVE for ec2
    allocation_strategy: Literal["BEST_FIT", "BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED"] | None = None
    instance_types: list[str] = Field(default_factory=lambda: ["optimal"], min_length=1)
    min_vcpus: Annotated[int, Field(ge=0)] = 0
    desired_vcpus: Annotated[int, Field(ge=0)] = 0
    max_vcpus: Annotated[int, Field(ge=1)] = 64
    bid_percentage: Annotated[int, Field(ge=1, le=100)] | None = None
    root_volume_size: Annotated[int, Field(ge=30, le=16384)] = 100
    egress_cidr_blocks: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    gpu: GpuConfig = Field(default_factory=GpuConfig)
    imds: ImdsConfig = Field(default_factory=ImdsConfig)

    @model_validator(mode="after")
    def _vcpus(self) -> BatchConfig:
        if self.min_vcpus > self.max_vcpus:
            raise ValueError(f"min_vcpus ({self.min_vcpus}) is above max_vcpus ({self.max_vcpus})")
        if not self.min_vcpus <= self.desired_vcpus <= self.max_vcpus:
            raise ValueError(
                f"desired_vcpus ({self.desired_vcpus}) must be between min_vcpus ({self.min_vcpus}) "
                f"and max_vcpus ({self.max_vcpus})"
            )
        if self.compute_type == "ec2" and self.bid_percentage is not None:
            raise ValueError("bid_percentage applies to compute_type = 'spot' only")
        if self.compute_type == "ec2" and self.allocation_strategy == "SPOT_CAPACITY_OPTIMIZED":
            raise ValueError("allocation_strategy SPOT_CAPACITY_OPTIMIZED needs compute_type = 'spot'")
        return self

    @property
    def strategy(self) -> str:
        if self.allocation_strategy:
            return self.allocation_strategy
        return "SPOT_CAPACITY_OPTIMIZED" if self.compute_type == "spot" else "BEST_FIT_PROGRESSIVE"


class DatabaseConfig(Section):
    """The metadata service's PostgreSQL (preset ``standard``)."""

    #: "aurora-postgresql": an Aurora cluster (Serverless v2 by default) instead of one RDS instance
    engine: Literal["postgres", "aurora-postgresql"] = "postgres"
    #: the major version; AWS applies minor upgrades itself
    engine_version: str = "16"
    instance_class: str = "db.t4g.small"
    allocated_storage: Annotated[int, Field(ge=20, le=65536)] = 20
    max_allocated_storage: Annotated[int, Field(ge=20, le=65536)] = 100
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    multi_az: bool = False
    deletion_protection: bool = True
    #: false: deleting the database (``down``) first takes a final snapshot named ``<identifier>-final``
    skip_final_snapshot: bool = False
    #: Aurora only: the cluster's instance class ("db.serverless" for Serverless v2) and its capacity in ACUs
    aurora_instance_class: str = "db.serverless"
    serverless_min_capacity: Annotated[float, Field(ge=0, le=256)] = 0.5
    serverless_max_capacity: Annotated[float, Field(ge=1, le=256)] = 4.0

    @field_validator("engine_version")
    @classmethod
    def _supported(cls, v: str) -> str:
        major = v.split(".")[0]
        if not major.isdigit() or int(major) < 13:
            raise ValueError(f"PostgreSQL {v} is past its end of support on RDS; use 13 or later (default 16)")
        return v

    @field_validator("instance_class")
    @classmethod
    def _class(cls, v: str) -> str:
        if not v.startswith("db.") or v.startswith(("db.t2.", "db.m4.", "db.r4.")):
            raise ValueError(f"{v!r} is not a current RDS instance class (e.g. db.t4g.small, db.m7g.large)")
        return v


class MetadataConfig(Section):
    """The Metaflow metadata service on ECS Fargate behind an internal NLB (preset ``standard``)."""

    #: v2.4.4+ reads MF_METADATA_DB_SSL_MODE, which PostgreSQL 15+ on RDS needs
    image: str = "netflixoss/metaflow_metadata_service:v2.4.12"
    cpu: Literal["256", "512", "1024", "2048", "4096"] = "512"
    memory: str = "1024"
    desired_count: Annotated[int, Field(ge=0, le=10)] = 1
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "require"
    log_retention_days: Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653] = 30
    #: the public entry: API Gateway with an API key; off, only the internal NLB URL exists
    api_gateway: bool = True
    #: CIDRs allowed to call the API (a resource policy); empty: any source with the key
    api_allow_cidrs: list[str] = Field(default_factory=list)
    throttle_burst_limit: Annotated[int, Field(ge=1)] = 100
    throttle_rate_limit: Annotated[float, Field(gt=0)] = 50.0
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)


from provisioner.config_mlflow import MlflowConfig  # noqa: E402  (its section; it builds on Section)


class StateConfig(Section):
    """Where the state lives: beside the config, or on S3 for a team (locking, history)."""

    backend: Literal["local", "s3"] = "local"
    #: s3 only: an existing bucket with versioning on (it is not part of the stack)
    bucket: str | None = None
    #: s3 only: default ``mfprov/<name>/state.json``
    key: str | None = None

    @model_validator(mode="after")
    def _s3(self) -> StateConfig:
        if self.backend == "s3" and not self.bucket:
            raise ValueError("backend = 's3' needs bucket (an existing bucket with versioning on)")
        return self


class StepFunctionsConfig(Section):
    enabled: bool = True


class Config(Section):
    #: the stack's name: tags every resource (``mfprov:stack``) and names the state
    name: str
    stack: str = "metaflow"
    #: default: the stack's own (DEFAULT_PRESET)
    preset: str = ""
    #: None: the usual AWS chain (AWS_REGION, the profile's region)
    region: str | None = None
    prefix: str = "metaflow"
    suffix: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    #: how many resources are worked on at once
    parallelism: Annotated[int, Field(ge=1, le=32)] = 8
    #: per resource kind, the deadline in seconds of its waits, e.g. {"batch.compute_environment" = 1200}
    timeouts: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    datastore: DatastoreConfig = Field(default_factory=DatastoreConfig)
    batch: BatchConfig = Field(default_factory=BatchConfig)
    step_functions: StepFunctionsConfig = Field(default_factory=StepFunctionsConfig)
    metadata: MetadataConfig = Field(default_factory=MetadataConfig)
    #: stack "mlflow" only
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    state: StateConfig = Field(default_factory=StateConfig)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"{v!r} is not a valid stack name: 2-40 characters, lowercase letters, digits and '-', "
                "starting with a letter"
            )
        return v

    @field_validator("stack")
    @classmethod
    def _stack(cls, v: str) -> str:
        if v not in STACKS:
            raise ValueError(f"unknown stack {v!r}; known stacks: {', '.join(STACKS)}")
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not _REGION.match(v):
            raise ValueError(f"{v!r} is not an AWS region name like us-east-1")
        return v

    @field_validator("prefix", "suffix")
    @classmethod
    def _affix(cls, v: str) -> str:
        if not _AFFIX.match(v):
            raise ValueError(f"{v!r} may hold only lowercase letters, digits and '-' (it is part of S3 and RDS names)")
        return v.strip("-")

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if key.lower().startswith("aws:") or key.startswith("mfprov:"):
                raise ValueError(f"tag key {key!r} is reserved (aws:* and mfprov:* are set by AWS and mfprov)")
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise ValueError(f"tag {key!r}: keys are 1-128 characters, values at most 256")
        return v

    @model_validator(mode="after")
    def _preset_and_names(self) -> Config:
        self.preset = self.preset or DEFAULT_PRESET[self.stack]
        known = PRESETS[self.stack]
        if self.preset not in known:
            later = " (it arrives in a later mfprov version)" if self.preset in PLANNED_PRESETS else ""
            raise ValueError(
                f"unknown preset {self.preset!r} for stack {self.stack!r}{later}; known presets: {', '.join(known)}"
            )
        if self.preset == "standard":
            subnets = self.network.az_count if self.network.create else len(self.network.subnet_ids)
            if subnets < 2:
                raise ValueError(
                    "preset 'standard' needs subnets in at least 2 availability zones (RDS and the NLB require it); "
                    "set network.az_count = 2 or give two subnet_ids"
                )
        for what, name, limit in self.derived_names():
            if len(name) > limit:
                raise ValueError(
                    f"the {what} name {name!r} would be {len(name)} characters; AWS allows {limit}. "
                    "Shorten prefix or suffix."
                )
        bucket = self.bucket_name if self.stack == "metaflow" else self.mlflow.bucket_name_for(self)
        if bucket is not None and (not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket) or ".." in bucket):
            raise ValueError(f"bucket name {bucket!r} breaks S3 naming: 3-63 lowercase letters, digits, '.', '-'")
        return self

    # ------------------------------------------------------------- naming

    def named(self, middle: str) -> str:
        """``P + middle + S`` as terraform-aws-metaflow names things (P = "prefix-", S = "-suffix")."""
        p = f"{self.prefix}-" if self.prefix else ""
        s = f"-{self.suffix}" if self.suffix else ""
        return f"{p}{middle}{s}"

    @property
    def queue_name(self) -> str:
        """``Q``: the job queue name and the Step Functions state-machine prefix."""
        return "-".join(x for x in (self.prefix, self.suffix) if x) or "metaflow"

    @property
    def bucket_name(self) -> str:
        return self.datastore.bucket_name or self.named("s3")

    def derived_names(self) -> list[tuple[str, str, int]]:
        """(what, name, AWS's length limit) of every name the stack derives from prefix and suffix."""
        if self.stack == "mlflow":
            return self.mlflow.derived_names(self)
        return [
            ("IAM role", self.named("batch-execution-role"), 64),
            ("IAM role", self.named("step_functions_role"), 64),
            ("IAM role", self.named("batch_s3_task_role"), 64),
            ("launch template", self.named("batch-launch-tmpl-cpu-100gb"), 128),
            ("security group", self.named("batch-compute-environment-security-group"), 255),
            ("Batch compute environment", self.named("cpu"), 128),
            ("Batch job queue", self.queue_name, 128),
            ("DynamoDB table", self.named("step_functions_state"), 255),
            ("S3 bucket", self.bucket_name, 63),
            ("load balancer", self.named("nlb"), 32),
            ("target group", self.named("mdtg"), 32),
            ("RDS instance", self.named("metaflow"), 63),
            ("Lambda function", self.named("db_migrate"), 64),
        ]


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source} is not valid:"]
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `mfprov init` writes every key with a comment)"
        elif e["type"] == "literal_error":
            msg = f"{msg}, got {e.get('input')!r}"
        lines.append(f"  {path}: {msg}")
    return "\n".join(lines)


def parse_config(data: dict[str, Any], source: str = CONFIG_FILE) -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_config(path: Path) -> Config:
    if not path.exists():
        raise ConfigError(f"no config at {path}; run `mfprov init` to write one")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    return parse_config(data, str(path))
