"""What every stack's config shares: the section base, the PostgreSQL settings, the checks of CIDRs,
certificate ARNs and Cognito domain prefixes, and a load balancer's sign-in and Route 53 record (the MLflow
server's and the Metaflow UI's)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

#: CloudWatch Logs accepts only these retention periods (days)
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653)  # fmt: skip
#: Fargate's task sizes: cpu units -> the memory (MiB) it allows
FARGATE_MEMORY = {
    "256": [512, 1024, 2048],
    "512": list(range(1024, 4097, 1024)),
    "1024": list(range(2048, 8193, 1024)),
    "2048": list(range(4096, 16385, 1024)),
    "4096": list(range(8192, 30721, 1024)),
    "8192": list(range(16384, 61441, 4096)),
    "16384": list(range(32768, 122881, 8192)),
}
#: an ACM certificate, or an IAM server certificate
CERT_ARN = re.compile(r"^arn:aws[a-z-]*:(acm:[a-z0-9-]+:\d{12}:certificate/|iam::\d{12}:server-certificate/).+$")
_COGNITO_RESERVED = ("aws", "amazon", "cognito")


class Section(BaseModel):
    # strict: a boolean is not an integer (TOML's `max_vcpus = true` would otherwise be 1), a string not a number
    model_config = ConfigDict(extra="forbid", strict=True)


#: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html (general purpose buckets)
BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """What breaks S3's naming rules in ``name`` (None: nothing); CreateBucket would refuse it mid-apply."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
        return "3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit"
    if ".." in name:
        return "no two adjacent periods"
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
        return "not formatted as an IP address"
    for prefix in BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"the prefix {prefix!r} is reserved by AWS"
    for suffix in BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"the suffix {suffix!r} is reserved by AWS"
    return None


def cidrs(values: list[str], what: str = "") -> list[str]:
    for v in values:
        try:
            ipaddress.ip_network(v, strict=True)
        except ValueError as err:
            where = f"{what}: " if what else ""
            raise ValueError(f"{where}{v!r} is not a CIDR block like 203.0.113.0/24 ({err})") from None
    return values


def certificate_arn(v: str) -> str:
    if v and not CERT_ARN.match(v):
        raise ValueError(
            f"{v!r} is not a certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID, or an IAM server certificate)"
        )
    return v


def cognito_prefix(v: str) -> str:
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", v):
        raise ValueError(f"Cognito domain prefix {v!r}: 1-63 lower-case letters, digits and '-'")
    reserved = [w for w in _COGNITO_RESERVED if w in v]
    if reserved:
        raise ValueError(f"Cognito domain prefix {v!r} may not contain {', '.join(map(repr, reserved))}")
    return v


def fargate_size(cpu: str, memory: str, what: str = "") -> None:
    """Refuse a task size Fargate does not run (ECS refuses it only when the task definition is registered)."""
    allowed = FARGATE_MEMORY[cpu]
    if not memory.isdigit() or int(memory) not in allowed:
        where = f"{what}: " if what else ""
        raise ValueError(
            f"{where}memory {memory!r} does not go with cpu {cpu} on Fargate; allowed: "
            f"{allowed[0]}-{allowed[-1]} MiB in steps of {allowed[1] - allowed[0]}"
        )


def _retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch Logs keeps logs for one of {', '.join(map(str, LOG_RETENTION_DAYS))} days")
    return days


def _optional_prefix(v: str | None) -> str | None:
    return None if v is None else cognito_prefix(v)


#: field types that check themselves: a list of CIDR blocks, a certificate ARN (or ""), a Cognito domain prefix
Cidrs = Annotated[list[str], AfterValidator(cidrs)]
CertificateArn = Annotated[str, AfterValidator(certificate_arn)]
CognitoPrefix = Annotated[str | None, AfterValidator(_optional_prefix)]
LogRetention = Annotated[int, AfterValidator(_retention)]
#: Fargate's cpu units
FargateCpu = Literal["256", "512", "1024", "2048", "4096", "8192", "16384"]


class PostgresConfig(Section):
    """PostgreSQL on RDS, or Aurora PostgreSQL (Serverless v2 by default). Stacks give their own defaults."""

    #: "aurora-postgresql": an Aurora cluster instead of one RDS instance
    engine: Literal["postgres", "aurora-postgresql"] = "postgres"
    #: the major version; AWS applies minor upgrades itself
    engine_version: str = "16"
    #: the RDS instance class (db.t2, db.m4 and db.r4 are refused: RDS no longer offers them for current PostgreSQL)
    instance_class: str = "db.t4g.small"
    #: GiB of storage at creation
    allocated_storage: Annotated[int, Field(ge=20, le=65536)] = 20
    #: GiB storage autoscaling may grow to
    max_allocated_storage: Annotated[int, Field(ge=20, le=65536)] = 100
    #: days of automated backups (point-in-time restore)
    backup_retention_days: Annotated[int, Field(ge=1, le=35)] = 7
    #: a standby in a second availability zone (RDS only)
    multi_az: bool = False
    #: AWS refuses to delete the database while on; ``down --delete-protected`` turns it off first
    deletion_protection: bool = True
    #: false: deleting the database (``down --delete-protected``) first takes a final snapshot
    skip_final_snapshot: bool = False
    #: a newer major engine_version upgrades the database in place (an outage, no way back); false: refused
    allow_major_version_upgrade: bool = False
    #: false: RDS queues changes (class, storage, version...) for the next maintenance window
    apply_immediately: bool = True
    #: create the database from this snapshot (name or ARN; a DB cluster snapshot for Aurora), e.g. the final
    #: snapshot `down --delete-protected` printed; create-only: changing it later leaves a live database alone
    snapshot_identifier: str | None = None
    #: Aurora only: the instance class ("db.serverless": Serverless v2) and its capacity in ACUs (min 0: it pauses)
    aurora_instance_class: str = "db.serverless"
    #: Aurora Serverless v2: the fewest ACUs (0: pauses when idle)
    serverless_min_capacity: Annotated[float, Field(ge=0, le=256)] = 0.5
    #: Aurora Serverless v2: the most ACUs
    serverless_max_capacity: Annotated[float, Field(ge=1, le=256)] = 4.0

    @field_validator("engine_version")
    @classmethod
    def _supported(cls, v: str) -> str:
        major = v.split(".")[0]
        if not major.isdigit() or int(major) < 13:
            raise ValueError(f"PostgreSQL {v} is past its end of support on RDS; use 13 or later (default 16)")
        return v

    @field_validator("snapshot_identifier")
    @classmethod
    def _snapshot(cls, v: str | None) -> str | None:
        # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html: 1-255 letters,
        # digits, hyphens; a letter first; no two hyphens in a row, none at the end (automated ones: "rds:" first)
        name = r"(?:rds:)?[A-Za-z](?:-?[A-Za-z0-9])*"
        arn = rf"arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{{12}}:(?:cluster-)?snapshot:{name}"
        if v is not None and (not re.fullmatch(rf"{name}|{arn}", v) or len(v.split(":")[-1]) > 255):
            raise ValueError(
                f"snapshot_identifier {v!r} is not an RDS snapshot name (letters, digits and single hyphens, a "
                "letter first) or ARN (arn:aws:rds:REGION:ACCOUNT:snapshot:NAME)"
            )
        return v

    @field_validator("instance_class", "aurora_instance_class")
    @classmethod
    def _class(cls, v: str) -> str:
        if not v.startswith("db.") or v.startswith(("db.t2.", "db.m4.", "db.r4.")):
            raise ValueError(f"{v!r} is not a current RDS instance class (e.g. db.t4g.small, db.serverless)")
        return v

    @model_validator(mode="after")
    def _capacity(self) -> PostgresConfig:
        if self.max_allocated_storage < self.allocated_storage:
            raise ValueError(
                f"max_allocated_storage ({self.max_allocated_storage}) is below allocated_storage "
                f"({self.allocated_storage})"
            )
        for what, v in (("serverless_min_capacity", self.serverless_min_capacity),
                        ("serverless_max_capacity", self.serverless_max_capacity)):  # fmt: skip
            if (v * 2) % 1:
                raise ValueError(f"{what} {v}: Aurora capacity comes in steps of 0.5 ACU")
        if self.serverless_min_capacity > self.serverless_max_capacity:
            raise ValueError(
                f"serverless_min_capacity ({self.serverless_min_capacity}) is above serverless_max_capacity "
                f"({self.serverless_max_capacity})"
            )
        if self.engine == "postgres" and self.instance_class == "db.serverless":
            raise ValueError("db.serverless is an Aurora class: set engine = 'aurora-postgresql'")
        return self

    @property
    def serverless(self) -> bool:
        return self.engine == "aurora-postgresql" and self.aurora_instance_class == "db.serverless"

    @property
    def may_pause(self) -> bool:
        """Whether the database may pause when idle (Aurora Serverless v2 at 0 ACUs)."""
        return self.serverless and self.serverless_min_capacity == 0


class BudgetConfig(Section):
    """An AWS Budgets cost budget for the account, managed with the stack (docs/cost.md)."""

    monthly_usd: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Monthly cost budget in USD. When set, mfprov keeps an AWS Budgets budget named "
        "`<prefix>-budget-<suffix>` that emails `budget.emails` when the month's actual spend passes 80% of it "
        "and when the month's forecast passes 100%. Unset: no budget.",
    )
    emails: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="The addresses the budget's alarms email (1 to 10; AWS allows 10 per notification).",
    )

    @field_validator("emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return v

    @model_validator(mode="after")
    def _someone_to_tell(self) -> BudgetConfig:
        if self.monthly_usd is not None and not self.emails:
            raise ValueError("budget.monthly_usd needs at least one address in budget.emails to send the alarm to")
        return self


class NetworkFacts(Protocol):
    """What a stack's own section checks of the network section."""

    @property
    def create(self) -> bool: ...
    @property
    def is_private(self) -> bool: ...
    @property
    def workload_subnet_count(self) -> int: ...


class StackScope(Protocol):
    """What a stack's own section needs of the whole config: its names and its network. A protocol, so that the
    root config (which holds the sections) and the sections do not import each other."""

    @property
    def network(self) -> NetworkFacts: ...
    def named(self, middle: str) -> str: ...


# ------------------------------------------------------------- sign-in and DNS of a load balancer (MLflow, the UI)

#: a DNS name as an ALB host-header condition takes it: labels of letters, digits, '-' (and wildcards * ?), a
#: dot at least, letters only after the last one, 128 characters at most
_LABEL = r"[a-z0-9*?](?:[a-z0-9*?-]{0,61}[a-z0-9*?])?"
DNS_NAME = re.compile(rf"^(?=.{{1,128}}$){_LABEL}(?:\.{_LABEL})*\.[a-z]+$")
SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+")
#: the OIDC keys, all required with type = "oidc"; the first four are URLs
OIDC_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "user_info_endpoint", "client_id",
             "client_secret_arn")  # fmt: skip


class SignInConfig(Section):
    """Sign-in on the load balancer (HTTPS only): a Cognito user pool mfprov makes, or your OIDC provider."""

    type: Literal["none", "cognito", "oidc"] = Field(
        default="none",
        description="none; cognito: a user pool mfprov makes (you invite the users); oidc: your own identity "
        "provider (Okta, Entra ID, Google...)",
    )
    cognito_domain: CognitoPrefix = Field(
        default=None,
        description="cognito: the hosted-UI domain prefix (unique in the region); default "
        "``<prefix>-auth-<suffix>`` for MLflow, ``<prefix>-ui-<suffix>`` for the UI",
    )
    issuer: str = Field(default="", description="oidc: the provider's issuer URL (https://)")
    authorization_endpoint: str = Field(default="", description="oidc: the provider's authorization endpoint")
    token_endpoint: str = Field(default="", description="oidc: the provider's token endpoint")
    user_info_endpoint: str = Field(default="", description="oidc: the provider's user info endpoint")
    client_id: str = Field(default="", description="oidc: the client id of the app registered for the load balancer")
    client_secret_arn: str = Field(
        default="",
        description="oidc: the Secrets Manager secret holding the client secret (read when the listener is "
        "written, never kept)",
    )
    client_secret_key: str | None = Field(
        default=None, description="oidc: the JSON key of the secret that holds the client secret; unset: the whole "
        "secret string"
    )
    scope: str = Field(default="openid", description="the scopes the load balancer asks for, space-separated")
    session_timeout: Annotated[int, Field(ge=1, le=604800)] = Field(
        default=604800, description="seconds a sign-in lasts (AWS allows up to 7 days)"
    )

    @field_validator("client_secret_arn")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v and not SECRET_ARN.match(v):
            raise ValueError(f"{v!r} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:...:secret:NAME)")
        return v

    @model_validator(mode="after")
    def _complete(self) -> SignInConfig:
        if self.type == "oidc":
            missing = [k for k in OIDC_KEYS if not getattr(self, k)]
            if missing:
                raise ValueError(f"type = 'oidc' needs {', '.join(missing)}")
            for k in OIDC_KEYS[:4]:
                if not getattr(self, k).startswith("https://"):
                    raise ValueError(f"{k} must be an https:// URL")
        else:
            given = [k for k in OIDC_KEYS if getattr(self, k)]
            if given:
                raise ValueError(f"{', '.join(given)} apply to type = 'oidc' only")
        if self.type != "cognito" and self.cognito_domain is not None:
            raise ValueError("cognito_domain applies to type = 'cognito' only")
        return self


class DnsConfig(Section):
    """An optional Route 53 alias record for the load balancer."""

    zone_id: str = Field(default="", description="the hosted zone (public, or private to the VPC) the record goes into")
    record_name: str = Field(
        default="",
        description="the record's full name, e.g. metaflow.example.com; the UI's URL or MLflow's tracking URI "
        "then uses it",
    )

    @field_validator("record_name")
    @classmethod
    def _name(cls, v: str) -> str:
        v = v.rstrip(".").lower()
        if v and not DNS_NAME.match(v):
            raise ValueError(f"{v!r} is not a DNS name like mlflow.example.com")
        return v

    @model_validator(mode="after")
    def _both(self) -> DnsConfig:
        if bool(self.zone_id) != bool(self.record_name):
            raise ValueError("give both zone_id and record_name, or neither")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.record_name)
