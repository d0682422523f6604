"""The ``[mlflow]`` section of ``mfprov.toml`` (stack ``mlflow``): the tracking server, its database, the artifact
bucket, the load balancer in front, sign-in, DNS and scaling.

Everything is checked here, before any AWS call: each sub-section on its own (ranges, Fargate sizes, versions),
and, in :meth:`MlflowConfig.derived_names` (which the config's validation calls for stack ``mlflow``), what
depends on the rest of the config: the network (two zones, the allow-list), the names derived from prefix and
suffix against AWS's limits, and the options that need each other (sign-in needs HTTPS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from provisioner.stacks.config_common import (
    DNS_NAME,
    CertificateArn,
    Cidrs,
    DnsConfig,
    FargateCpu,
    LogRetention,
    PostgresConfig,
    Section,
    SignInConfig,
    StackScope,
    cognito_prefix,
    fargate_size,
)

#: the image the server runs by default: the MLflow project's own, in its ``-full`` variant (psycopg2, boto3);
#: ``{version}`` is replaced by ``server.version``
OFFICIAL_IMAGE = "ghcr.io/mlflow/mlflow:v{version}-full"
#: the first MLflow release published with a ``-full`` image
FIRST_FULL_IMAGE = (3, 9, 0)
#: the first MLflow release whose basic-auth app migrates its tables with a version table of its own
#: (``alembic_version_auth``), so that its users may share the tracking store's database
FIRST_SHARED_AUTH_DB = (3, 6, 0)
#: what the container sets for basic auth (``mlflow.auth.basic_auth``), which ``server.extra_env`` may not
BASIC_AUTH_ENV = ("MFPROV_", "MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_FLASK_SERVER_SECRET_KEY")
#: an ALB listener rule may hold three values per condition and five in all (AWS's rule condition limits)
MAX_CONDITION_VALUES = 3
_ARN = re.compile(r"^arn:aws[a-z-]*:")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/.+")
#: a DNS name as an ALB host-header condition takes it (wildcards * ? allowed)
_HOST = DNS_NAME


class ServerConfig(Section):
    """The tracking server's container on Fargate."""

    #: the tracking server's container image; ``{version}`` is replaced by version
    image: str = OFFICIAL_IMAGE
    #: the MLflow release the default image runs
    version: str = "3.10.0"
    #: the container port the ALB forwards to
    port: Annotated[int, Field(ge=1024, le=65535)] = 5000
    #: the server task's CPU units
    cpu: FargateCpu = "1024"
    #: the server task's memory, MiB
    memory: str = "2048"
    #: the task's CPU architecture (the image must have it)
    cpu_architecture: Literal["X86_64", "ARM64"] = "X86_64"
    #: uvicorn worker processes per task; each holds its own database connections
    workers: Annotated[int, Field(ge=1, le=16)] = 2
    #: tasks at first; with autoscaling.cpu_target set, the scaling policy moves the count afterwards
    desired_count: Annotated[int, Field(ge=0, le=100)] = 1
    #: the path the target group's health check asks
    health_check_path: str = "/health"
    #: seconds the ALB's health check is ignored after a task starts (the first start migrates the schema)
    health_check_grace_period: Annotated[int, Field(ge=0, le=2147483647)] = 120
    #: days the server's CloudWatch logs are kept
    log_retention_days: LogRetention = 30
    #: further Host names the server answers to, besides the ALB's and the Route 53 record's
    allowed_hosts: list[str] = Field(default_factory=list)
    #: extra environment variables of the container (not secrets: they are stored in the task definition)
    extra_env: dict[str, str] = Field(default_factory=dict)

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not re.fullmatch(r"\d+\.\d+\.\d+", v):
            raise ValueError(f"{v!r} is not an MLflow release like 3.10.0")
        return v

    @field_validator("health_check_path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"{v!r}: a health check path starts with '/'")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, v: list[str]) -> list[str]:
        for host in v:
            if not _HOST.match(host):
                raise ValueError(f"{host!r} is not a lower-case DNS name like mlflow.example.com (wildcards * ?)")
        return v

    @field_validator("extra_env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        taken = sorted(k for k in v if k.startswith(("MLFLOW_DB_", *BASIC_AUTH_ENV)) or k == "MLFLOW_BACKEND_STORE_URI")
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: mfprov sets the database connection and MLflow's basic auth itself (the "
                "passwords by reference)"
            )
        return v

    @model_validator(mode="after")
    def _size(self) -> ServerConfig:
        fargate_size(self.cpu, self.memory)
        if self.image == OFFICIAL_IMAGE and tuple(int(x) for x in self.version.split(".")) < FIRST_FULL_IMAGE:
            raise ValueError(
                f"the official image has a -full variant (with psycopg2 and boto3) from MLflow 3.9.0 on; for "
                f"{self.version} give an image that has both"
            )
        return self

    @property
    def image_uri(self) -> str:
        return self.image.replace("{version}", self.version)


class ArtifactsConfig(Section):
    """Where the artifacts go: a bucket mfprov makes, or one that exists."""

    #: default ``<prefix>-artifacts-<suffix>``
    bucket_name: str | None = None
    #: use this existing bucket instead of making one (mfprov grants the task role access, nothing more)
    existing_bucket: str | None = None
    #: the KMS key the existing bucket encrypts with (SSE-KMS), for the task role's grant; unset: SSE-S3
    existing_bucket_kms_key_arn: str | None = None
    #: the key prefix of everything MLflow writes
    prefix: str = "mlflow"
    #: keep every version of overwritten or deleted artifacts
    versioning: bool = True
    #: a lifecycle rule deletes a version this many days after it stopped being current (also once suspended)
    noncurrent_version_days: Annotated[int, Field(ge=1)] = 30
    #: a lifecycle rule aborts a multipart upload left unfinished this many days (its parts bill until then)
    abort_multipart_days: Annotated[int, Field(ge=1)] = 7
    #: ``down`` empties the bucket (every version) first; off, ``down`` refuses a bucket that holds data
    force_destroy: bool = False
    #: the server reads and writes the artifacts for the clients (``--serve-artifacts``): clients need no AWS
    #: credentials, and only the task role may touch the bucket. Off, clients write to S3 themselves.
    proxy: bool = True

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if v.startswith("/") or v.endswith("/") or "//" in v:
            raise ValueError(f"{v!r}: a key prefix like 'mlflow' or 'team/mlflow', no leading or trailing '/'")
        return v

    @field_validator("existing_bucket_kms_key_arn")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and not _KEY_ARN.match(v):
            raise ValueError(f"{v!r} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)")
        return v

    @model_validator(mode="after")
    def _one_bucket(self) -> ArtifactsConfig:
        if self.existing_bucket is not None:
            given = [k for k in ("bucket_name",) if getattr(self, k) is not None]
            if given or self.force_destroy:
                raise ValueError(
                    "existing_bucket is used as it is: bucket_name and force_destroy apply to a bucket mfprov makes"
                )
            if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", self.existing_bucket):
                raise ValueError(f"existing_bucket {self.existing_bucket!r} is not an S3 bucket name")
        elif self.existing_bucket_kms_key_arn is not None:
            raise ValueError(
                "existing_bucket_kms_key_arn goes with existing_bucket (a bucket mfprov makes uses its key)"
            )
        return self


class DatabaseConfig(PostgresConfig):
    """The backend store: the shared PostgreSQL settings, smaller by default, that pause when idle on Aurora, and
    the server's connection pool."""

    instance_class: str = "db.t4g.micro"
    serverless_min_capacity: Annotated[float, Field(ge=0, le=256)] = 0
    serverless_max_capacity: Annotated[float, Field(ge=1, le=256)] = 2
    #: SQLAlchemy's pool in the server: "null" opens a connection per request and keeps none (a database that
    #: pauses is never kept awake, and never hands out a dead connection after it resumes); "queue" keeps up to
    #: pool_size + max_overflow per worker, recycled after pool_recycle seconds; "auto": "null" for Aurora
    #: Serverless v2 that may pause (min capacity 0), else "queue"
    pool: Literal["auto", "null", "queue"] = "auto"
    #: SQLAlchemy connections each worker keeps open
    pool_size: Annotated[int, Field(ge=1, le=100)] = 5
    #: SQLAlchemy connections a worker may open beyond pool_size
    max_overflow: Annotated[int, Field(ge=0, le=100)] = 10
    #: seconds after which a pooled connection is replaced
    pool_recycle: Annotated[int, Field(ge=30, le=86400)] = 300

    @property
    def pool_class(self) -> str:
        """SQLAlchemy's pool class name, as MLflow's MLFLOW_SQLALCHEMYSTORE_POOLCLASS takes it."""
        null = self.pool == "null" or (self.pool == "auto" and self.may_pause)
        return "NullPool" if null else "QueuePool"


class LoadBalancerConfig(Section):
    """The application load balancer in front of the server."""

    #: internal: reachable only from the VPC (and what is connected to it); false: from the internet
    internal: bool = True
    #: who may connect (80, and 443 with HTTPS); empty: the VPC's CIDR (internal only)
    allow_cidrs: Cidrs = Field(default_factory=list)
    #: an ACM (or IAM server) certificate ARN: HTTPS on 443, and port 80 redirects to it
    certificate_arn: CertificateArn = ""
    #: the HTTPS listener's security policy; None: mfprov's default (TLS 1.2 and 1.3)
    ssl_policy: str | None = None
    #: seconds a connection may be idle (large artifact uploads through the server may need more)
    idle_timeout: Annotated[int, Field(ge=1, le=4000)] = 60

    @property
    def https(self) -> bool:
        return bool(self.certificate_arn)


class AuthConfig(SignInConfig):
    """Sign-in on the load balancer (HTTPS only): a Cognito user pool mfprov makes (its domain prefix by default
    ``<prefix>-auth-<suffix>``), or your OIDC provider; and the REST API's way past it for machine clients."""

    #: clients in these CIDRs reach the REST API (/api/*) without signing in: training jobs and notebooks in the
    #: VPC, which cannot do a browser sign-in. At most 3 (an ALB rule condition holds 3 values).
    api_bypass_cidrs: Annotated[Cidrs, Field(max_length=MAX_CONDITION_VALUES)] = Field(default_factory=list)
    basic_auth: bool = Field(
        default=False,
        description="Run MLflow's own basic-auth app (its users and permissions), so that scripts pass "
        "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD; with a sign-in on, requests carrying basic-auth "
        "credentials go past it to MLflow, which checks them. The admin's password is generated into a Secrets "
        "Manager secret of the stack (mfprov outputs says how to fetch it). Needs MLflow 3.6.0 or later, and HTTPS "
        "on an internet-facing load balancer. See docs/mlflow-auth.md.",
    )
    admin_username: str = Field(
        default="admin",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$",
        description="basic_auth: the admin user MLflow creates at its first start; its password is the secret's.",
    )
    default_permission: Literal["READ", "EDIT", "MANAGE", "NO_PERMISSIONS"] = Field(
        default="READ",
        description="basic_auth: what every MLflow user may do with experiments and models others made (MLflow's "
        "default_permission); a user always manages what they create.",
    )

    @model_validator(mode="after")
    def _bypass(self) -> AuthConfig:
        if self.type == "none" and self.api_bypass_cidrs:
            raise ValueError("api_bypass_cidrs lets clients past a sign-in; there is none (type = 'none')")
        if not self.basic_auth:
            given = sorted(self.model_fields_set & {"admin_username", "default_permission"})
            if given:
                raise ValueError(f"{', '.join(given)} apply to basic_auth = true only")
        return self


class AutoscalingConfig(Section):
    """The service's scalable target (Application Auto Scaling) and an optional CPU target-tracking policy."""

    #: 0 lets the service scale to zero tasks (nothing runs, nothing is billed for compute)
    min_tasks: Annotated[int, Field(ge=0, le=100)] = 1
    #: the most server tasks autoscaling may run
    max_tasks: Annotated[int, Field(ge=0, le=100)] = 2
    #: keep the tasks' average CPU near this percentage; None: no policy (the count stays desired_count)
    cpu_target: Annotated[float, Field(gt=0, le=100)] | None = None
    #: seconds between scale-in steps
    scale_in_cooldown: Annotated[int, Field(ge=0)] = 300
    #: seconds between scale-out steps
    scale_out_cooldown: Annotated[int, Field(ge=0)] = 60

    @model_validator(mode="after")
    def _bounds(self) -> AutoscalingConfig:
        if self.min_tasks > self.max_tasks:
            raise ValueError(f"min_tasks ({self.min_tasks}) is above max_tasks ({self.max_tasks})")
        return self


class MlflowConfig(Section):
    server: ServerConfig = Field(default_factory=ServerConfig)
    artifacts: ArtifactsConfig = Field(default_factory=ArtifactsConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    load_balancer: LoadBalancerConfig = Field(default_factory=LoadBalancerConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    dns: DnsConfig = Field(default_factory=DnsConfig)
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)

    @model_validator(mode="after")
    def _across(self) -> MlflowConfig:
        s, a = self.server, self.autoscaling
        if not a.min_tasks <= s.desired_count <= a.max_tasks:
            raise ValueError(
                f"server.desired_count ({s.desired_count}) must be between autoscaling.min_tasks ({a.min_tasks}) "
                f"and autoscaling.max_tasks ({a.max_tasks})"
            )
        if self.auth.type != "none" and not self.load_balancer.https:
            raise ValueError(
                f"auth.type = {self.auth.type!r} signs users in on the HTTPS listener: set "
                "load_balancer.certificate_arn (the ALB authenticates on HTTPS listeners only)"
            )
        if self.auth.basic_auth:
            if tuple(int(x) for x in s.version.split(".")) < FIRST_SHARED_AUTH_DB:
                raise ValueError(
                    f"auth.basic_auth needs MLflow 3.6.0 or later (server.version is {s.version}): earlier releases "
                    "keep the users' tables without a version table of their own, unsafe beside the runs"
                )
            if not self.load_balancer.internal and not self.load_balancer.https:
                raise ValueError(
                    "auth.basic_auth on an internet-facing load balancer needs HTTPS (load_balancer.certificate_arn): "
                    "every request carries a password"
                )
        return self

    # ------------------------------------------------------------- naming

    def names(self, cfg: StackScope) -> MlflowNames:
        n = cfg.named
        return MlflowNames(
            bucket=self.artifacts.existing_bucket or self.artifacts.bucket_name or n("artifacts"),
            kms_alias=f"alias/{n('key')}",
            secret=n("db"),
            alb_sg=n("alb"),
            service_sg=n("server"),
            db_sg=n("db"),
            db_subnet_group=n("db"),
            db_identifier=n("db"),
            alb=n("alb"),
            target_group=n("tg"),
            cluster=n("cluster"),
            service=n("server"),
            family=n("server"),
            log_group=f"/aws/ecs/{n('server')}",
            execution_role=n("ecs-execution"),
            task_role=n("ecs-task"),
            scaling_policy=n("cpu"),
            user_pool=n("users"),
            cognito_domain=self.auth.cognito_domain or n("auth"),
            admin_secret=n("admin"),
        )

    def bucket_name_for(self, cfg: StackScope) -> str | None:
        """The artifact bucket's name when mfprov creates it (None: an existing bucket is used)."""
        if self.artifacts.existing_bucket is not None:
            return None
        return self.names(cfg).bucket

    def derived_names(self, cfg: StackScope) -> list[tuple[str, str, int]]:
        """(what, name, AWS's length limit) of every name the stack derives from prefix and suffix; first the
        checks that need the rest of the config (the network, the names' other rules)."""
        self._check_with(cfg)
        names = self.names(cfg)
        out = [
            ("load balancer", names.alb, 32),
            ("target group", names.target_group, 32),
            ("RDS DB identifier", names.db_identifier, 63),
            ("RDS final snapshot", f"{names.db_identifier}-final", 255),
            ("DB subnet group", names.db_subnet_group, 255),
            ("security group", names.alb_sg, 255),
            ("security group", names.service_sg, 255),
            ("security group", names.db_sg, 255),
            ("Secrets Manager secret", names.secret, 512),
            ("KMS alias", names.kms_alias, 256),
            ("ECS cluster", names.cluster, 255),
            ("ECS service", names.service, 255),
            ("ECS task definition family", names.family, 255),
            ("log group", names.log_group, 512),
            ("IAM role", names.execution_role, 64),
            ("IAM role", names.task_role, 64),
        ]
        if self.database.engine == "aurora-postgresql":
            out.append(("RDS DB identifier", f"{names.db_identifier}-1", 63))
        if self.autoscaling.cpu_target is not None:
            out.append(("scaling policy", names.scaling_policy, 256))
        if self.auth.type == "cognito":
            out += [("Cognito user pool", names.user_pool, 128), ("Cognito domain prefix", names.cognito_domain, 63)]
        if self.auth.basic_auth:
            out.append(("Secrets Manager secret", names.admin_secret, 512))
        return out

    def _check_with(self, cfg: StackScope) -> None:
        net = cfg.network
        if net.workload_subnet_count < 2:
            raise ValueError(
                "stack 'mlflow' needs subnets in at least 2 availability zones (the load balancer and the database "
                "require it): set network.az_count = 2, or give two network.subnet_ids (two "
                "network.private_subnet_ids with an existing VPC's private subnets)"
            )
        lb = self.load_balancer
        if not lb.internal and not lb.allow_cidrs:
            raise ValueError(
                "mlflow.load_balancer.allow_cidrs is empty but the load balancer is internet-facing (internal = "
                "false): say who may reach it (e.g. your office's CIDR, or 0.0.0.0/0 with HTTPS and auth)"
            )
        if self.auth.type != "none" and lb.internal and net.create and not net.is_private:
            # an internal ALB's nodes have private addresses only: the internet gateway does not carry them
            raise ValueError(
                f"mlflow.auth.type = {self.auth.type!r} on an internal load balancer: it must reach the identity "
                "provider's token endpoint, which needs a NAT gateway: set network.private = true, or "
                "mlflow.load_balancer.internal = false"
            )
        names = self.names(cfg)
        if names.alb.startswith("internal-"):
            raise ValueError(f"the load balancer name {names.alb!r} may not start with 'internal-'; change prefix")
        for what, name in (("load balancer", names.alb), ("target group", names.target_group)):
            if name.startswith("-") or name.endswith("-") or not re.fullmatch(r"[a-zA-Z0-9-]+", name):
                raise ValueError(f"the {what} name {name!r} may hold letters, digits and inner '-' only")
        ident = names.db_identifier
        if not ident[0].isalpha() or "--" in ident or ident.endswith("-"):
            raise ValueError(
                f"the RDS identifier {ident!r} must start with a letter and have no '--' and no trailing '-': "
                "change prefix or suffix"
            )
        if self.auth.type == "cognito" and self.auth.cognito_domain is None:
            try:
                cognito_prefix(names.cognito_domain)
            except ValueError as err:
                raise ValueError(f"{err}; set mlflow.auth.cognito_domain to another prefix") from None
        hosts = 1 + int(self.dns.enabled) + len(self.server.allowed_hosts)
        if hosts > MAX_CONDITION_VALUES:
            raise ValueError(
                f"mlflow.server.allowed_hosts: the load balancer's rule admits at most {MAX_CONDITION_VALUES} host "
                f"names in all (its own DNS name, the Route 53 record and these); give at most "
                f"{MAX_CONDITION_VALUES - 1 - int(self.dns.enabled)} (wildcards like *.example.com count as one)"
            )


@dataclass(frozen=True)
class MlflowNames:
    """Every AWS name of an mlflow stack, derived from prefix and suffix (``<prefix>-<what>-<suffix>``)."""

    bucket: str
    kms_alias: str
    secret: str
    alb_sg: str
    service_sg: str
    db_sg: str
    db_subnet_group: str
    db_identifier: str
    alb: str
    target_group: str
    cluster: str
    service: str
    family: str
    log_group: str
    execution_role: str
    task_role: str
    scaling_policy: str
    user_pool: str
    cognito_domain: str
    admin_secret: str
