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

from pydantic import AfterValidator, Field, ValidationError, field_validator, model_validator

from provisioner.stacks.catalog import CONFIG_FILE, DEFAULT_PRESET, PRESETS, STACKS
from provisioner.stacks.config_common import (
    BudgetConfig,
    CertificateArn,
    Cidrs,
    CognitoPrefix,
    DnsConfig,
    FargateCpu,
    LogRetention,
    PostgresConfig,
    Section,
    SignInConfig,
    bucket_name_problem,
    cognito_prefix,
    fargate_size,
)
from provisioner.stacks.config_mlflow import MlflowConfig

#: the name prefix a stack gets when the config names none (terraform-aws-metaflow's, and the MLflow one)
DEFAULT_PREFIX = {"metaflow": "metaflow", "mlflow": "mlflow"}
#: presets that later versions add; named so the error can say so
PLANNED_PRESETS: tuple[str, ...] = ()
#: the Metaflow presets that run the metadata service (and its database)
SERVICE_PRESETS = ("standard", "full")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_AFFIX = re.compile(r"^[a-z0-9-]*$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
#: tags per resource AWS allows, and how many of them the user may set: mfprov sets four of its own (managed-by,
#: mfprov:stack, mfprov:address, mfprov:stack-id)
MAX_TAGS = 50
MAX_USER_TAGS = MAX_TAGS - 4
#: what AWS allows in tag keys and values besides letters, digits and spaces (the strictest services' rule)
TAG_PUNCTUATION = "_.:/=+-@"


#: the interface endpoints ``network.interface_endpoints`` may name (``com.amazonaws.<region>.<name>``): what
#: containers on ECS and Batch, and Metaflow in them, call without a route to the internet
INTERFACE_ENDPOINTS = (
    "ecr.api",
    "ecr.dkr",
    "logs",
    "secretsmanager",
    "sts",
    "ecs",
    "ecs-agent",
    "ecs-telemetry",
    "batch",
    "states",
    "kms",
    "sagemaker.api",
)


class ConfigError(Exception):
    """A configuration problem, already worded for the user."""


def _cidr_list(cidrs: list[str], vpc: Any, what: str) -> list[Any]:
    """Each CIDR valid and inside the VPC."""
    nets = []
    for cidr in cidrs:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as err:
            raise ValueError(f"{what} CIDR {cidr!r} is not valid ({err})") from None
        if not net.subnet_of(vpc):
            raise ValueError(f"{what} CIDR {cidr} is outside the VPC {vpc}")
        nets.append(net)
    return nets


def _no_overlap(nets: list[Any]) -> None:
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.overlaps(b):
                raise ValueError(f"subnet CIDRs {a} and {b} overlap")


class NetworkConfig(Section):
    #: create a VPC with one public subnet per AZ (no NAT), or use an existing VPC and subnets
    create: bool = True
    #: the VPC's CIDR; with create = false, your VPC's (the metadata service admits it)
    vpc_cidr: str = "10.20.0.0/16"
    #: how many availability zones (one subnet each) mfprov's own VPC spans
    az_count: Annotated[int, Field(ge=1, le=6)] = 2
    #: one CIDR per AZ; by default consecutive /20 blocks of the VPC
    subnet_cidrs: list[str] | None = None
    #: with create = false: your VPC (``vpc-...``)
    vpc_id: str | None = None
    #: with create = false: the subnets everything uses, or, with private_subnet_ids, the public ones (the ALB)
    subnet_ids: list[str] = Field(default_factory=list)
    #: compute, services and the database in private subnets behind NAT; None: the preset decides (full: true)
    private: bool | None = None
    #: "single": one NAT gateway for every private subnet; "per_az": one per AZ (no cross-AZ dependency, N x cost)
    nat: Literal["single", "per_az"] = "single"
    #: one CIDR per AZ for the private subnets; by default the /20 blocks after the public ones
    private_subnet_cidrs: list[str] | None = None
    #: with create = false: existing private subnets (with their own NAT) where compute and services go
    private_subnet_ids: list[str] = Field(default_factory=list)
    #: an S3 gateway endpoint on the private route tables (S3 traffic stays off the NAT); None: with private
    s3_endpoint: bool | None = None
    #: with create = false: give tasks in the public subnet_ids a public IP (they reach ECR and Docker Hub through
    #: the subnets' internet gateway, as Terraform's with_public_ip); mfprov's own subnets: it knows, leave unset
    assign_public_ip: bool | None = None
    #: interface VPC endpoints in the workload subnets, for private subnets without NAT, e.g. ["ecr.api",
    #: "ecr.dkr", "logs", "secretsmanager", "sts"]; `mfprov check` says which a workload still lacks
    interface_endpoints: list[str] = Field(default_factory=list)

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in INTERFACE_ENDPOINTS:
                known = ", ".join(INTERFACE_ENDPOINTS)
                raise ValueError(f"{name!r} is not an interface endpoint mfprov knows: {known}")
        if len(set(v)) != len(v):
            raise ValueError("interface_endpoints names a service twice")
        return v

    @field_validator("vpc_id")
    @classmethod
    def _vpc_id(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"vpc-[0-9a-z]+", v):
            raise ValueError(f"{v!r} is not a VPC id like vpc-0123456789abcdef0")
        return v

    @field_validator("subnet_ids", "private_subnet_ids")
    @classmethod
    def _subnet_ids(cls, v: list[str]) -> list[str]:
        for s in v:
            if not re.fullmatch(r"subnet-[0-9a-z]+", s):
                raise ValueError(f"{s!r} is not a subnet id like subnet-0123456789abcdef0")
        if len(set(v)) != len(v):
            raise ValueError("a subnet is named twice")
        return v

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
            if self.private is True and not self.private_subnet_ids:
                raise ValueError("private = true with create = false needs private_subnet_ids (subnets behind a NAT)")
            if self.s3_endpoint:
                raise ValueError(
                    "s3_endpoint needs the route tables mfprov makes (create = true); add the endpoint to your own "
                    "VPC's route tables instead"
                )
            if self.assign_public_ip and self.private_subnet_ids:
                raise ValueError(
                    "assign_public_ip is for workloads in the public subnet_ids; with private_subnet_ids they run "
                    "there, behind your NAT (or the interface endpoints)"
                )
            return self
        if self.assign_public_ip is not None:
            raise ValueError(
                "assign_public_ip is for your own subnets (create = false); in the subnets mfprov makes, tasks get a "
                "public IP exactly where there is no NAT"
            )
        vpc = ipaddress.ip_network(self.vpc_cidr)
        if self.private_subnet_ids:
            raise ValueError("private_subnet_ids are for an existing VPC (create = false); mfprov makes its own")
        if self.subnet_cidrs is None:
            blocks = self._blocks(vpc)
            if len(blocks) < self.az_count:
                raise ValueError(f"vpc_cidr {self.vpc_cidr} is too small for {self.az_count} subnets")
            self.subnet_cidrs = [str(b) for b in blocks[: self.az_count]]
            return self
        if len(self.subnet_cidrs) != self.az_count:
            raise ValueError(
                f"subnet_cidrs has {len(self.subnet_cidrs)} entries but az_count is {self.az_count}; give one per AZ"
            )
        _no_overlap(_cidr_list(self.subnet_cidrs, vpc, "subnet"))
        return self

    def _blocks(self, vpc: Any) -> list[Any]:
        """The default subnet blocks of the VPC: /20s (a quarter of a small VPC)."""
        size = max(vpc.prefixlen + 2, 20) if vpc.prefixlen <= 18 else vpc.prefixlen + 2
        return list(vpc.subnets(new_prefix=min(size, 28)))

    def settle(self, private_by_default: bool) -> None:
        """Fill in what the preset decides (private networking, the S3 endpoint) and lay out the private subnets."""
        if not self.create:
            self.private = bool(self.private_subnet_ids)
            self.s3_endpoint = False
            return
        if self.private is None:
            self.private = private_by_default
        if self.s3_endpoint is None:
            self.s3_endpoint = self.private
        if not self.private:
            if self.private_subnet_cidrs is not None:
                raise ValueError("network.private_subnet_cidrs is set but network.private is false")
            return
        vpc = ipaddress.ip_network(self.vpc_cidr)
        public = _cidr_list(self.subnet_cidrs or [], vpc, "subnet")
        if self.private_subnet_cidrs is None:
            free = [b for b in self._blocks(vpc) if not any(b.overlaps(p) for p in public)]
            if len(free) < self.az_count:
                raise ValueError(
                    f"network.vpc_cidr {self.vpc_cidr} is too small for {self.az_count} public and "
                    f"{self.az_count} private subnets; give a larger VPC or network.private_subnet_cidrs"
                )
            self.private_subnet_cidrs = [str(b) for b in free[: self.az_count]]
            return
        if len(self.private_subnet_cidrs) != self.az_count:
            raise ValueError(
                f"network.private_subnet_cidrs has {len(self.private_subnet_cidrs)} entries but az_count is "
                f"{self.az_count}; give one per AZ"
            )
        _no_overlap(public + _cidr_list(self.private_subnet_cidrs, vpc, "network.private_subnet_cidrs"))

    @property
    def is_private(self) -> bool:
        """Whether compute and services go into private subnets (after ``settle``)."""
        return bool(self.private)

    @property
    def workload_subnet_count(self) -> int:
        """How many subnets (AZs) compute, services and the database get."""
        if self.create:
            return self.az_count
        return len(self.private_subnet_ids or self.subnet_ids)


class DatastoreConfig(Section):
    #: default ``<prefix>-s3-<suffix>``
    bucket_name: str | None = None
    #: yearly automatic rotation of the datastore's KMS key
    kms_key_rotation: bool = False
    #: keep every version of what is overwritten or deleted; unset: by preset, on for ``standard`` and ``full``,
    #: off for ``personal`` (a personal stack bills nothing while idle; old versions would bill unseen)
    versioning: bool | None = None
    #: a lifecycle rule deletes a version this many days after it stopped being current (with versioning suspended
    #: too: the versions kept before still go)
    noncurrent_version_days: Annotated[int, Field(ge=1)] = 30
    #: a lifecycle rule aborts a multipart upload left unfinished this many days (its parts bill until then)
    abort_multipart_days: Annotated[int, Field(ge=1)] = 7
    #: empty the bucket (every object version) on ``down``; off, ``down`` refuses a non-empty bucket
    force_destroy: bool = False


class ImdsConfig(Section):
    #: the instance metadata service on the Batch instances
    http_endpoint: Literal["enabled", "disabled"] = "enabled"
    #: "required" means IMDSv2 only
    http_tokens: Literal["required", "optional"] = "required"
    #: IMDS response hop limit (2 lets containers on the instance reach it)
    hop_limit: Annotated[int, Field(ge=1, le=64)] = 2


def _image(v: str | None) -> str | None:
    """What ECS's RegisterTaskDefinition takes as an image: up to 255 letters, digits, '-', '_', ':', '.', '/', '#'
    (and '@' of a digest)."""
    if v is not None and not re.fullmatch(r"[A-Za-z0-9_:./#@-]{1,255}", v):
        raise ValueError(f"{v!r} is not a container image like repository/name:tag (ECS refuses it)")
    return v


#: a container image reference, checked as ECS checks it
Image = Annotated[str, AfterValidator(_image)]


def _instance_types(v: list[str]) -> list[str]:
    """EC2 instance types or families as Batch takes them (c5, g4dn.xlarge), or Batch's own ``optimal``."""
    for t in v:
        if not re.fullmatch(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)?|default_(x86_64|arm64)", t):
            raise ValueError(f"{t!r} is not an instance type or family like c5, m6i.large or optimal")
    return v


#: a list of Batch instance types, checked
InstanceTypes = Annotated[list[str], AfterValidator(_instance_types)]


class GpuConfig(Section):
    #: a GPU compute environment behind the same queue (with Fargate: EC2, in the queue ``<queue>-gpu``)
    enabled: bool = False
    #: the GPU instance types Batch may start
    instance_types: InstanceTypes = Field(default_factory=lambda: ["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge"])
    #: the GPU environment's vCPU ceiling
    max_vcpus: Annotated[int, Field(ge=1)] = 32


#: compute types that run on Fargate (no instances, types or launch template)
FARGATE_TYPES = ("fargate", "fargate_spot")


class BatchConfig(Section):
    #: "spot"/"ec2": EC2 instances (spot or on-demand); "fargate"/"fargate_spot": serverless containers
    compute_type: Literal["fargate", "fargate_spot", "spot", "ec2"] = "spot"
    #: default SPOT_CAPACITY_OPTIMIZED for spot, BEST_FIT_PROGRESSIVE for ec2; none for Fargate
    allocation_strategy: Literal["BEST_FIT", "BEST_FIT_PROGRESSIVE", "SPOT_CAPACITY_OPTIMIZED"] | None = None
    #: EC2 instance types or families Batch may start ("optimal": Batch chooses)
    instance_types: InstanceTypes = Field(default_factory=lambda: ["optimal"], min_length=1)
    #: vCPUs kept running when idle (0: nothing bills while idle)
    min_vcpus: Annotated[int, Field(ge=0)] = 0
    #: vCPUs at creation; Batch scales it afterwards (never compared for drift)
    desired_vcpus: Annotated[int, Field(ge=0)] = 0
    #: the compute environment's vCPU ceiling (min <= desired <= max)
    max_vcpus: Annotated[int, Field(ge=1)] = 64
    #: spot only: the highest price paid, in % of on-demand; unset: up to on-demand
    bid_percentage: Annotated[int, Field(ge=1, le=100)] | None = None
    #: spot / fargate_spot: a second, on-demand compute environment after the spot one in the queue's order;
    #: None: the preset decides (full: true)
    on_demand_fallback: bool | None = None
    #: GiB of each instance's encrypted root volume
    root_volume_size: Annotated[int, Field(ge=30, le=16384)] = 100
    #: where the compute security group lets jobs connect to
    egress_cidr_blocks: Cidrs = Field(default_factory=lambda: ["0.0.0.0/0"])
    #: existing security groups the compute environments get as well (e.g. to reach a database of yours)
    additional_security_group_ids: list[str] = Field(default_factory=list)
    #: managed policies attached to the job role as well (CloudFormation's AdditionalWorkerPolicyArn)
    job_policy_arns: list[str] = Field(default_factory=list)
    #: roles a Metaflow step (and the user role) may hand to SageMaker for training jobs and models; empty: no
    #: SageMaker at all (never any role that trusts SageMaker: that could be an administrator's)
    sagemaker_role_arns: list[str] = Field(default_factory=list)
    #: false: Batch's service-linked role AWSServiceRoleForBatch (what AWS recommends; Batch creates it when
    #: absent); true: a role of the stack's own with terraform-aws-metaflow's policy
    custom_service_role: bool = False
    gpu: GpuConfig = Field(default_factory=GpuConfig)
    imds: ImdsConfig = Field(default_factory=ImdsConfig)

    @field_validator("additional_security_group_ids")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        for g in v:
            if not re.fullmatch(r"sg-[0-9a-f]{8,17}", g):
                raise ValueError(f"{g!r} is not a security group id like sg-0123456789abcdef0")
        return v

    @field_validator("job_policy_arns")
    @classmethod
    def _policies(cls, v: list[str]) -> list[str]:
        for arn in v:
            if not re.fullmatch(r"arn:aws[a-z-]*:iam::(\d{12}|aws):policy/.+", arn):
                raise ValueError(f"{arn!r} is not a managed policy ARN like arn:aws:iam::123456789012:policy/NAME")
        return v

    @field_validator("sagemaker_role_arns")
    @classmethod
    def _sagemaker_roles(cls, v: list[str]) -> list[str]:
        for arn in v:
            if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", arn) or "*" in arn:
                raise ValueError(f"{arn!r} is not a role ARN like arn:aws:iam::123456789012:role/NAME")
        return v

    @model_validator(mode="after")
    def _vcpus(self) -> BatchConfig:
        if self.min_vcpus > self.max_vcpus:
            raise ValueError(f"min_vcpus ({self.min_vcpus}) is above max_vcpus ({self.max_vcpus})")
        if not self.min_vcpus <= self.desired_vcpus <= self.max_vcpus:
            raise ValueError(
                f"desired_vcpus ({self.desired_vcpus}) must be between min_vcpus ({self.min_vcpus}) "
                f"and max_vcpus ({self.max_vcpus})"
            )
        if self.compute_type != "spot" and self.bid_percentage is not None:
            raise ValueError("bid_percentage applies to compute_type = 'spot' only")
        if self.compute_type == "ec2" and self.allocation_strategy == "SPOT_CAPACITY_OPTIMIZED":
            raise ValueError("allocation_strategy SPOT_CAPACITY_OPTIMIZED needs compute_type = 'spot'")
        if self.compute_type == "spot" and self.allocation_strategy == "BEST_FIT":
            # AWS Batch then requires a Spot Fleet role (spotIamFleetRole), which mfprov does not make
            raise ValueError(
                "allocation_strategy BEST_FIT with compute_type 'spot' needs a Spot Fleet role; use "
                "SPOT_CAPACITY_OPTIMIZED (the default) or BEST_FIT_PROGRESSIVE"
            )
        if self.compute_type in ("ec2", "fargate") and self.on_demand_fallback:
            raise ValueError(
                f"on_demand_fallback is for spot capacity; compute_type {self.compute_type!r} is on-demand"
            )
        if self.fargate:
            given = [
                key
                for key, bad in (
                    ("allocation_strategy", self.allocation_strategy is not None),
                    ("instance_types", self.instance_types != ["optimal"]),
                    ("min_vcpus", self.min_vcpus > 0),
                    ("desired_vcpus", self.desired_vcpus > 0),
                )
                if bad
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: Fargate picks and sizes the capacity itself; leave them unset with "
                    f"compute_type {self.compute_type!r}"
                )
        return self

    @property
    def fargate(self) -> bool:
        return self.compute_type in FARGATE_TYPES

    @property
    def spot(self) -> bool:
        return self.compute_type in ("spot", "fargate_spot")

    @property
    def strategy(self) -> str:
        if self.allocation_strategy:
            return self.allocation_strategy
        return "SPOT_CAPACITY_OPTIMIZED" if self.compute_type == "spot" else "BEST_FIT_PROGRESSIVE"

    @property
    def ec2_based(self) -> bool:
        """Whether any compute environment launches EC2 instances (then a launch template and an instance role)."""
        return not self.fargate or self.gpu.enabled

    @property
    def gpu_compute_type(self) -> str:
        """The GPU environment's Batch type: Fargate has no GPUs, so with Fargate it is EC2 (spot if spot)."""
        if not self.fargate:
            return "SPOT" if self.compute_type == "spot" else "EC2"
        return "SPOT" if self.compute_type == "fargate_spot" else "EC2"

    @property
    def gpu_own_queue(self) -> bool:
        """A queue cannot mix Fargate and EC2 environments: with Fargate, the GPU one gets its own queue."""
        return self.gpu.enabled and self.fargate


class DatabaseConfig(PostgresConfig):
    """The metadata service's PostgreSQL (preset ``standard``): the shared settings, with their defaults."""


class MetadataConfig(Section):
    """The Metaflow metadata service on ECS Fargate behind an internal NLB (preset ``standard``)."""

    #: v2.4.4+ reads MF_METADATA_DB_SSL_MODE, which PostgreSQL 15+ on RDS needs
    image: Image = "netflixoss/metaflow_metadata_service:v2.4.12"
    #: the metadata service task's CPU units (Fargate sizes)
    cpu: FargateCpu = "512"
    #: the metadata service task's memory, MiB (a size Fargate pairs with cpu)
    memory: str = "1024"
    #: how many metadata service tasks run
    desired_count: Annotated[int, Field(ge=0, le=10)] = 1
    #: how the service connects to PostgreSQL (MF_METADATA_DB_SSL_MODE)
    ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = "require"
    #: days the service's CloudWatch logs are kept
    log_retention_days: LogRetention = 30
    #: the public entry: API Gateway with an API key; off, only the internal NLB URL exists
    api_gateway: bool = True
    #: CIDRs allowed to call the API (a resource policy); empty: any source with the key
    api_allow_cidrs: Cidrs = Field(default_factory=list)
    #: API Gateway usage plan: burst of requests
    throttle_burst_limit: Annotated[int, Field(ge=1)] = 100
    #: API Gateway usage plan: steady requests per second
    throttle_rate_limit: Annotated[float, Field(gt=0)] = 50.0
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    #: `up` invokes the migration Lambda (as `mfprov migrate` does) after the service's image changed
    migrate_on_image_change: bool = True

    @model_validator(mode="after")
    def _size(self) -> MetadataConfig:
        fargate_size(self.cpu, self.memory)
        return self


_PRINCIPAL = re.compile(r"^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|user/.+|role/.+))$")
#: words Cognito refuses in a domain prefix


class EcrConfig(Section):
    """A private ECR repository for a custom Batch image (METAFLOW_BATCH_CONTAINER_REGISTRY / _IMAGE)."""

    #: None: the preset decides (full: true)
    enabled: bool | None = None
    #: MUTABLE: Metaflow's profile names the repository without a tag, so ``latest`` is what jobs pull and is
    #: pushed again with each build; IMMUTABLE: every build gets a new tag (then set @batch(image=...:tag))
    image_tag_mutability: Literal["MUTABLE", "IMMUTABLE"] = "MUTABLE"
    #: ECR scans each pushed image for vulnerabilities
    scan_on_push: bool = True
    #: a lifecycle policy keeps the newest N images and expires the rest; 0: no policy
    keep_images: Annotated[int, Field(ge=0, le=10000)] = 50
    #: let ``down --delete-protected`` delete a repository that still holds images
    force_delete: bool = False


class NotebookConfig(Section):
    """A SageMaker notebook instance with the Metaflow settings (the CloudFormation template's notebook)."""

    #: None: the preset decides (full: true)
    enabled: bool | None = None
    #: the notebook's SageMaker instance type
    instance_type: str = "ml.t3.medium"
    #: GiB of the notebook's volume (it only grows in place)
    volume_size_gb: Annotated[int, Field(ge=5, le=16384)] = 20
    #: whether notebook users get root on the instance
    root_access: bool = True
    #: the notebook's platform (Amazon Linux, Jupyter version)
    platform_identifier: str = "notebook-al2023-v1"

    @field_validator("instance_type")
    @classmethod
    def _ml(cls, v: str) -> str:
        if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", v):
            raise ValueError(f"{v!r} is not a SageMaker notebook instance type like ml.t3.medium")
        return v


class UserRoleConfig(Section):
    """The restricted role for Metaflow's users (the CloudFormation template's MetaflowUserRole): this stack's
    bucket, queue, state machines and notebook, nothing else."""

    #: None: the preset decides (full: true)
    enabled: bool | None = None
    #: who may assume it: account ids or IAM ARNs (root, user/..., role/...); empty: this account (its own IAM
    #: policies then say which users and roles may call sts:AssumeRole on it)
    trusted_principals: list[str] = Field(default_factory=list)

    @field_validator("trusted_principals")
    @classmethod
    def _principals(cls, v: list[str]) -> list[str]:
        for p in v:
            if not _PRINCIPAL.match(p):
                raise ValueError(f"{p!r} is not an account id or an IAM ARN (…:root, …:user/NAME, …:role/NAME)")
        return v


class UiSignInConfig(SignInConfig):
    """The UI's sign-in: the same keys and checks as MLflow's ``[mlflow.auth]``, Cognito unless told otherwise
    (as the UI has always been)."""

    type: Literal["none", "cognito", "oidc"] = Field(
        default="cognito",
        description='"cognito" (a user pool mfprov makes; you invite the users), "oidc" (your own identity '
        'provider: Okta, Entra ID, Google...) or "none"; see docs/ui-sign-in.md',
    )


class UiConfig(Section):
    """The Metaflow UI (presets standard and full): an HTTPS ALB in front of the UI backend and the static UI on
    Fargate, with sign-in through Cognito or your own OIDC provider, and an optional Route 53 record. On only
    when certificate_arn is set."""

    #: an ACM (or IAM server) certificate ARN for the HTTPS listener; empty: no UI
    certificate_arn: CertificateArn = ""
    #: an internal ALB (reachable only from the VPC and what is connected to it)
    internal: bool = False
    #: CIDRs allowed to reach the ALB (443, and 80 which redirects to 443); required with the UI
    allow_cidrs: Cidrs = Field(default_factory=list)
    cognito: bool | None = Field(
        default=None,
        description="the older form of auth.type: true is 'cognito', false is 'none' (after validation, whether "
        "the sign-in is Cognito's); give auth.type instead",
    )
    cognito_domain: CognitoPrefix = Field(
        default=None, description="the older name of auth.cognito_domain; default ``<prefix>-ui-<suffix>``"
    )
    #: the DNS name you point at the ALB (a callback URL of the sign-in); empty: the ALB's own name only
    public_domain: str = ""
    #: the HTTPS listener's security policy; None: mfprov's default (TLS 1.2 and 1.3)
    ssl_policy: str | None = None
    #: None: the metadata service's image (the UI backend is the same image with another command)
    backend_image: Annotated[str | None, AfterValidator(_image)] = None
    #: the static UI's container image
    static_image: Image = "public.ecr.aws/outerbounds/metaflow_ui:v1.2.4"
    #: the UI backend task's CPU units
    backend_cpu: FargateCpu = "2048"
    #: the UI backend task's memory, MiB
    backend_memory: str = "16384"
    #: the static UI task's CPU units
    static_cpu: FargateCpu = "512"
    #: the static UI task's memory, MiB
    static_memory: str = "1024"
    #: how many tasks of each UI service run
    desired_count: Annotated[int, Field(ge=0, le=10)] = 1
    #: merged over the UI backend container's environment (not the database password)
    extra_backend_env: dict[str, str] = Field(default_factory=dict)
    #: merged over the static UI container's environment
    extra_static_env: dict[str, str] = Field(default_factory=dict)

    @field_validator("ssl_policy")
    @classmethod
    def _ssl_policy(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"ELBSecurityPolicy-[A-Za-z0-9-]+", v):
            raise ValueError(f"{v!r} is not an ELB security policy like ELBSecurityPolicy-TLS13-1-2-2021-06")
        return v

    auth: UiSignInConfig = Field(
        default_factory=UiSignInConfig,
        description="sign-in before anything reaches the UI (the static UI and /api/* alike)",
    )
    dns: DnsConfig = Field(
        default_factory=DnsConfig,
        description="an optional Route 53 alias record for the UI's load balancer; the UI's URL then uses it",
    )

    @model_validator(mode="after")
    def _one_sign_in(self) -> UiConfig:
        """``cognito`` and ``cognito_domain`` are the older keys of ``auth``: either form may choose, not both
        differently. Afterwards both forms hold the same answer."""
        auth = self.auth
        older: dict[bool, Literal["cognito", "none"]] = {True: "cognito", False: "none"}
        if self.cognito is not None:
            if "type" in auth.model_fields_set and auth.type != older[self.cognito]:
                raise ValueError(
                    f"cognito = {str(self.cognito).lower()} and auth.type = {auth.type!r} choose two sign-ins: "
                    "give auth.type only (cognito is its older form)"
                )
            auth.type = older[self.cognito]
        if None not in (self.cognito_domain, auth.cognito_domain) and self.cognito_domain != auth.cognito_domain:
            raise ValueError("cognito_domain and auth.cognito_domain differ: give auth.cognito_domain only")
        domain = auth.cognito_domain or self.cognito_domain
        if auth.type != "cognito" and domain is not None:
            raise ValueError("cognito_domain applies to type = 'cognito' only")
        self.cognito, self.cognito_domain, auth.cognito_domain = auth.type == "cognito", domain, domain
        if self.dns.enabled and self.public_domain and self.public_domain != self.dns.record_name:
            raise ValueError(
                f"dns.record_name {self.dns.record_name!r} and public_domain {self.public_domain!r} differ: the UI "
                "has one name, the record's; drop public_domain"
            )
        return self

    @field_validator("public_domain")
    @classmethod
    def _public(cls, v: str) -> str:
        if v and not re.fullmatch(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", v):
            raise ValueError(f"{v!r} is not a lower-case DNS name like metaflow.example.com")
        return v

    @model_validator(mode="after")
    def _sizes(self) -> UiConfig:
        fargate_size(self.backend_cpu, self.backend_memory, "backend")
        fargate_size(self.static_cpu, self.static_memory, "static")
        return self

    @field_validator("extra_backend_env")
    @classmethod
    def _no_password(cls, v: dict[str, str]) -> dict[str, str]:
        if "MF_METADATA_DB_PSWD" in v:
            raise ValueError("MF_METADATA_DB_PSWD reaches the UI backend from Secrets Manager; do not set it here")
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.certificate_arn)


class StateConfig(Section):
    """Where the state lives: beside the config, or on S3 for a team (locking, history)."""

    #: "local": ``.mfprov/`` beside the config; "s3": one shared object, locked, for a team
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
    #: the DynamoDB table and roles ``step-functions create`` needs
    enabled: bool = True


class Config(Section):
    #: the stack's name: tags every resource (``mfprov:stack``) and names the state
    name: str
    #: "metaflow" or "mlflow": which platform to build
    stack: str = "metaflow"
    #: the preset: metaflow's "personal" (default), "standard" or "full"; mlflow's "standard"
    preset: str = ""
    #: the AWS region; unset: the AWS CLI's order (AWS_REGION, AWS_DEFAULT_REGION, the profile's region)
    region: str | None = None
    #: the start of every resource name; unset: the stack's name ("metaflow" or "mlflow")
    prefix: str | None = None
    #: the end of every resource name (``<prefix>-<what>-<suffix>``); ``mfprov init`` picks a random one, and a stack
    #: keeps it for life
    suffix: str = ""
    #: extra tags on every taggable resource (keys ``aws:*`` and ``mfprov:*`` are reserved; at most 46)
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
    ecr: EcrConfig = Field(default_factory=EcrConfig)
    notebook: NotebookConfig = Field(default_factory=NotebookConfig)
    user_role: UserRoleConfig = Field(default_factory=UserRoleConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    #: stack "mlflow" only
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    state: StateConfig = Field(default_factory=StateConfig)
    budget: BudgetConfig = Field(
        default_factory=BudgetConfig,
        description="An optional AWS Budgets alarm on the account's monthly cost, kept with the stack (docs/cost.md).",
    )

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
    def _affix(cls, v: str | None) -> str | None:
        if v is None:
            return None
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
            if not all(c.isalnum() or c.isspace() or c in TAG_PUNCTUATION for c in key + value):
                raise ValueError(
                    f"tag {key!r}: keys and values hold letters, digits, spaces and {TAG_PUNCTUATION} only"
                )
        if len(v) > MAX_USER_TAGS:
            raise ValueError(
                f"{len(v)} tags: AWS allows {MAX_TAGS} per resource and mfprov sets {MAX_TAGS - MAX_USER_TAGS} "
                f"of its own, so at most {MAX_USER_TAGS}"
            )
        return v

    @model_validator(mode="after")
    def _preset_and_names(self) -> Config:
        self.preset = self.preset or DEFAULT_PRESET[self.stack]
        if self.prefix is None:
            self.prefix = DEFAULT_PREFIX[self.stack]
        known = PRESETS[self.stack]
        if self.preset not in known:
            later = " (it arrives in a later mfprov version)" if self.preset in PLANNED_PRESETS else ""
            raise ValueError(
                f"unknown preset {self.preset!r} for stack {self.stack!r}{later}; known presets: {', '.join(known)}"
            )
        self._settle_preset_defaults()
        if self.has_metadata_service:
            if self.network.workload_subnet_count < 2:
                raise ValueError(
                    f"preset {self.preset!r} needs subnets in at least 2 availability zones (RDS and the NLB require "
                    "it); set network.az_count = 2 or give two subnet_ids (two private_subnet_ids with an existing "
                    "VPC's private subnets)"
                )
        self._check_ui()
        for what, name, limit in self.derived_names():
            if len(name) > limit:
                raise ValueError(
                    f"the {what} name {name!r} would be {len(name)} characters; AWS allows {limit}. "
                    "Shorten prefix or suffix."
                )
        if self.stack == "metaflow" and self.ui.enabled and self.ui.cognito and self.ui.cognito_domain is None:
            try:
                cognito_prefix(self.cognito_domain)
            except ValueError as err:
                raise ValueError(f"{err}; set ui.auth.cognito_domain to another prefix") from None
        bucket = self.bucket_name if self.stack == "metaflow" else self.mlflow.bucket_name_for(self)
        problem = None if bucket is None else bucket_name_problem(bucket)
        if problem:
            raise ValueError(f"bucket name {bucket!r} breaks S3 naming: {problem}")
        named_bucket = self.datastore.bucket_name if self.stack == "metaflow" else self.mlflow.artifacts.bucket_name
        if not self.suffix and bucket is not None and named_bucket is None:
            # S3 names are global: without the suffix, every stack of this prefix in every account wants this one
            raise ValueError(
                f"suffix is empty, so the bucket would be {bucket!r}, a name S3 shares among all AWS accounts (and "
                "likely taken): set suffix (`mfprov init` draws a random one) or name the bucket yourself"
            )
        if not self.suffix and self.stack == "metaflow" and self.ui.enabled and self.ui.cognito:
            if self.ui.cognito_domain is None:  # unique among all accounts of the region, like a bucket name
                raise ValueError(
                    f"suffix is empty, so the Cognito domain would be {self.cognito_domain!r}, a prefix every account "
                    "in the region shares (and likely taken): set suffix or ui.auth.cognito_domain"
                )
        if self.has_metadata_service:
            ident = self.named("metaflow")
            if not ident[0].isalpha() or "--" in ident:
                raise ValueError(
                    f"the RDS identifier {ident!r} must start with a letter and have no '--': change prefix or suffix"
                )
        return self

    def _settle_preset_defaults(self) -> None:
        """What a preset changes are defaults only: a key the config sets wins. ``full`` turns on private
        networking, the on-demand fallback of spot, ECR, the notebook and the user role; ``standard`` and ``full`` turn
        on the datastore's versioning."""
        full = self.stack == "metaflow" and self.preset == "full"
        self.network.settle(private_by_default=full)
        if self.batch.on_demand_fallback is None:
            self.batch.on_demand_fallback = full and self.batch.spot
        if self.datastore.versioning is None:
            self.datastore.versioning = self.preset != "personal"
        for section in (self.ecr, self.notebook, self.user_role):
            if section.enabled is None:
                section.enabled = full

    def _check_ui(self) -> None:
        if not self.ui.enabled:
            return
        if self.stack != "metaflow" or not self.has_metadata_service:
            raise ValueError(
                "the UI (ui.certificate_arn) reads the metadata service's database: use preset 'standard' or 'full'"
            )
        if not self.ui.allow_cidrs:
            raise ValueError(
                "ui.allow_cidrs is empty: say who may reach the UI (e.g. your office's CIDR, or 0.0.0.0/0 with "
                "a sign-in, ui.auth), or the load balancer admits nobody"
            )
        net = self.network
        if self.ui.auth.type != "none" and self.ui.internal and net.create and not net.is_private:
            # an internal ALB's nodes have private addresses only: the internet gateway does not carry them
            raise ValueError(
                f"ui.auth.type = {self.ui.auth.type!r} on an internal load balancer: it must reach the identity "
                "provider's token endpoint, which needs a NAT gateway: set network.private = true, or "
                "ui.internal = false"
            )

    # ------------------------------------------------------------- features

    @property
    def has_metadata_service(self) -> bool:
        return self.stack == "metaflow" and self.preset in SERVICE_PRESETS

    @property
    def cognito_domain(self) -> str:
        return self.ui.cognito_domain or self.named("ui")

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
        n = self.named
        names = [
            ("IAM role", n("batch-execution-role"), 64),
            ("IAM role", n("step_functions_role"), 64),
            ("IAM role", n("batch_s3_task_role"), 64),
            ("launch template", n("batch-launch-tmpl-cpu-100gb"), 128),
            ("security group", n("batch-compute-environment-security-group"), 255),
            ("Batch compute environment", n("cpu"), 128),
            ("Batch job queue", self.queue_name, 128),
            ("DynamoDB table", n("step_functions_state"), 255),
            ("S3 bucket", self.bucket_name, 63),
            ("load balancer", n("nlb"), 32),
            ("target group", n("mdtg"), 32),
            ("RDS instance", n("metaflow"), 63),
            ("Lambda function", n("db_migrate"), 64),
        ]
        # only what the config turns on: a longer prefix stays valid for a stack without these
        if self.batch.on_demand_fallback:
            names.append(("Batch compute environment", n("cpu-on-demand"), 128))
        if self.batch.fargate:
            names.append(("IAM role", n("batch-fargate-execution-role"), 64))
        if self.batch.gpu_own_queue:
            names.append(("Batch job queue", f"{self.queue_name}-gpu", 128))
        if self.ecr.enabled:
            names.append(("ECR repository", n("batch"), 256))
        if self.notebook.enabled:
            names += [
                ("SageMaker notebook instance", n("notebook"), 63),
                ("SageMaker lifecycle configuration", n("notebook-lifecycle"), 63),
                ("IAM role", n("sm-execution-role"), 64),
            ]
        if self.user_role.enabled:
            names.append(("IAM role", n("metaflow_user"), 64))
        if self.ui.enabled:
            names += [
                ("load balancer", n("alb"), 32),
                ("target group", n("ui-backend"), 32),
                ("target group", n("ui-static"), 32),
                ("IAM role", n("ui-ecs-task"), 64),
            ]
            if self.ui.cognito:
                names.append(("Cognito domain prefix", self.cognito_domain, 63))
        return names


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
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; --config names the file (e.g. {path / CONFIG_FILE})")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    return parse_config(data, str(path))
