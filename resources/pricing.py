"""What a stack's resources bill while idle: a dated price table and the cost line a resource type declares.

A resource type that bills by the hour or by the month while nothing runs says so in ``monthly_cost(props, where)``
(a method of its class in ``resources/<service>.py``), returning :class:`CostLine` values built with
:func:`hourly`, :func:`monthly` and :func:`usage_based` from this module. Types that bill nothing at all (IAM,
security groups, subnets...) declare nothing.

The prices are on-demand list prices in USD of the AWS public price pages named in each :class:`Price`, as
recorded on :data:`PRICES_DATE`, for the regions in :data:`PRICED_REGIONS`. A region or a size that is not in the
table gives a line with no amount and the reason ("no price for region X"), never a guess. Update the numbers and
the date together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: the day the prices below were taken from the AWS price pages
PRICES_DATE = "2026-12-04"
#: AWS bills hourly resources for 730 hours a month (its own calculator's month)
HOURS_PER_MONTH = 730.0
#: the regions the table has prices for
PRICED_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")


@dataclass(frozen=True)
class Price:
    """One price of one AWS price page, per region; ``by_size`` prices (an instance class) are per region too."""

    unit: str
    source: str
    by_region: Mapping[str, float] = field(default_factory=dict)
    by_size: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def _same(value: float) -> dict[str, float]:
    """A price the page lists alike in every priced region."""
    return {r: value for r in PRICED_REGIONS}


def _regions(use1: float, usw2: float, euw1: float, euc1: float, apse2: float) -> dict[str, float]:
    return dict(zip(PRICED_REGIONS, (use1, usw2, euw1, euc1, apse2), strict=True))


VPC_PAGE = "https://aws.amazon.com/vpc/pricing/"
ELB_PAGE = "https://aws.amazon.com/elasticloadbalancing/pricing/"
RDS_PAGE = "https://aws.amazon.com/rds/postgresql/pricing/"
AURORA_PAGE = "https://aws.amazon.com/rds/aurora/pricing/"
FARGATE_PAGE = "https://aws.amazon.com/fargate/pricing/"
SAGEMAKER_PAGE = "https://aws.amazon.com/sagemaker/pricing/"
KMS_PAGE = "https://aws.amazon.com/kms/pricing/"
SECRETS_PAGE = "https://aws.amazon.com/secrets-manager/pricing/"
PRIVATELINK_PAGE = "https://aws.amazon.com/privatelink/pricing/"

PRICES: dict[str, Price] = {
    "nat_gateway": Price("hour", VPC_PAGE, _regions(0.045, 0.045, 0.048, 0.052, 0.059)),
    # in-use or idle alike, since 2024-02-01; a NAT gateway's address too
    "public_ipv4": Price("hour", VPC_PAGE, _same(0.005)),
    "alb": Price("hour", ELB_PAGE, _regions(0.0225, 0.0225, 0.0252, 0.027, 0.0252)),
    "nlb": Price("hour", ELB_PAGE, _regions(0.0225, 0.0225, 0.0252, 0.027, 0.0252)),
    "interface_endpoint": Price("AZ-hour", PRIVATELINK_PAGE, _regions(0.01, 0.01, 0.011, 0.012, 0.013)),
    "kms_key": Price("key-month", KMS_PAGE, _same(1.0)),
    "secret": Price("secret-month", SECRETS_PAGE, _same(0.40)),
    # Single-AZ RDS for PostgreSQL; Multi-AZ (one standby) bills twice the instance and the storage
    "rds_postgres": Price(
        "instance-hour",
        RDS_PAGE,
        by_size={
            "db.t4g.micro": _regions(0.016, 0.016, 0.017, 0.019, 0.019),
            "db.t4g.small": _regions(0.032, 0.032, 0.034, 0.037, 0.038),
            "db.t4g.medium": _regions(0.065, 0.065, 0.068, 0.074, 0.076),
            "db.t4g.large": _regions(0.129, 0.129, 0.136, 0.148, 0.152),
            "db.t3.micro": _regions(0.018, 0.018, 0.019, 0.020, 0.026),
            "db.t3.small": _regions(0.036, 0.036, 0.038, 0.041, 0.052),
            "db.t3.medium": _regions(0.072, 0.072, 0.076, 0.082, 0.104),
            "db.m6g.large": _regions(0.159, 0.159, 0.171, 0.182, 0.183),
        },
    ),
    "rds_gp3_storage": Price("GB-month", RDS_PAGE, _regions(0.115, 0.115, 0.127, 0.137, 0.138)),
    "rds_gp2_storage": Price("GB-month", RDS_PAGE, _regions(0.115, 0.115, 0.127, 0.137, 0.138)),
    # Aurora Standard; Serverless v2 at its minimum capacity (0 ACUs: paused, nothing billed)
    "aurora_acu": Price("ACU-hour", AURORA_PAGE, _regions(0.12, 0.12, 0.13, 0.14, 0.14)),
    "aurora_postgres": Price(
        "instance-hour",
        AURORA_PAGE,
        by_size={
            "db.t4g.medium": _regions(0.073, 0.073, 0.08, 0.083, 0.09),
            "db.r6g.large": _regions(0.26, 0.26, 0.285, 0.31, 0.32),
        },
    ),
    "fargate_vcpu_x86_64": Price("vCPU-hour", FARGATE_PAGE, _regions(0.04048, 0.04048, 0.04048, 0.04656, 0.04856)),
    "fargate_gb_x86_64": Price("GB-hour", FARGATE_PAGE, _regions(0.004445, 0.004445, 0.004445, 0.00511, 0.00532)),
    "fargate_vcpu_arm64": Price("vCPU-hour", FARGATE_PAGE, _regions(0.03238, 0.03238, 0.03238, 0.03725, 0.03885)),
    "fargate_gb_arm64": Price("GB-hour", FARGATE_PAGE, _regions(0.00356, 0.00356, 0.00356, 0.00409, 0.00426)),
    "sagemaker_notebook": Price(
        "instance-hour",
        SAGEMAKER_PAGE,
        by_size={
            "ml.t3.medium": _regions(0.05, 0.05, 0.055, 0.06, 0.063),
            "ml.t3.large": _regions(0.10, 0.10, 0.109, 0.12, 0.126),
            "ml.t3.xlarge": _regions(0.20, 0.20, 0.218, 0.24, 0.252),
            "ml.m5.xlarge": _regions(0.23, 0.23, 0.256, 0.276, 0.288),
        },
    ),
}


@dataclass(frozen=True)
class CostLine:
    """One thing that bills: what it is, the monthly amount (None: no price known, ``detail`` says why) and how
    the amount is made (``730 h × $0.045``)."""

    what: str
    usd_month: float | None
    detail: str = ""
    #: usage-billed (requests, GB stored, job time): nothing while idle, more under load
    usage_based: bool = False


@dataclass(frozen=True)
class Where:
    """What a cost depends on beyond a resource's own properties."""

    region: str
    #: the properties of the stack's resource that a property value names (a task definition's ARN, or the
    #: ``${address.attr}`` text of a reference not yet resolved), None when the stack has none
    props_of: Callable[[Any], Mapping[str, Any] | None] = lambda _value: None


@runtime_checkable
class Billed(Protocol):
    """A resource type that declares what it bills while idle (the method of its class)."""

    def monthly_cost(self, props: Any, where: Where) -> list[CostLine]: ...


def _amount(price: Price, region: str, size: str | None) -> tuple[float | None, str]:
    """The unit price, or None and why not."""
    if size is not None:
        sizes = price.by_size.get(size)
        if sizes is None:
            return None, f"no price for {size} in the table ({price.source})"
        table = sizes
    else:
        table = price.by_region
    if region not in table:
        return None, f"no price for region {region}"
    return table[region], ""


def hourly(item: str, region: str, what: str, count: float = 1.0, size: str | None = None) -> CostLine:
    """``count`` units billed every hour of the month (an instance, a gateway, an AZ of an endpoint)."""
    price = PRICES.get(item)
    if price is None:
        return CostLine(what, None, f"no price for {item} in the table")
    amount, why = _amount(price, region, size)
    if amount is None:
        return CostLine(what, None, why)
    units = f"{_num(count)} × " if count != 1 else ""
    return CostLine(
        what,
        round(count * amount * HOURS_PER_MONTH, 2),
        f"{units}{HOURS_PER_MONTH:.0f} h × ${_num(amount)}/{price.unit}",
    )


def monthly(item: str, region: str, what: str, count: float = 1.0) -> CostLine:
    """``count`` units billed by the month (a key, a secret, GB of storage)."""
    price = PRICES.get(item)
    if price is None:
        return CostLine(what, None, f"no price for {item} in the table")
    amount, why = _amount(price, region, None)
    if amount is None:
        return CostLine(what, None, why)
    return CostLine(what, round(count * amount, 2), f"{_num(count)} × ${_num(amount)}/{price.unit}")


def usage_based(what: str) -> CostLine:
    """A charge by use only: nothing while idle."""
    return CostLine(what, 0.0, "usage-based, $0 while idle", usage_based=True)


def _num(x: float) -> str:
    return f"{x:g}"


def billed_props(props_type: Any, raw: Mapping[str, Any]) -> Any:
    """The typed properties a cost is computed from: validated (defaults filled in), or, where a value only known
    after apply fails a validator, built without validation (defaults still filled in)."""
    from pydantic import ValidationError

    try:
        return props_type.model_validate(dict(raw))
    except ValidationError:
        return props_type.model_construct(**dict(raw))
