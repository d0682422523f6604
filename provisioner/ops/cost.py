"""``mfprov cost`` and the cost line of ``plan``: what a stack bills per month while idle, per resource.

Each resource type declares what it bills (``monthly_cost`` of its class, prices in :mod:`resources.pricing`);
this module walks a stack's resources, the desired ones of the blueprint or the ones the state records, and adds
the lines up. No AWS call: the blueprint is built from the config alone, so the cost is known before ``up``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import UNKNOWN, Blueprint, Concat, resolve
from provisioner.ops.app import STACK_BUILDERS
from provisioner.stacks.config import Config
from resources.base import Ref, resource_type
from resources.pricing import HOURS_PER_MONTH, PRICED_REGIONS, PRICES_DATE, Billed, CostLine, Where, billed_props
from state.document import StateDocument

#: `cost --json`; a change that breaks readers bumps the number (docs/json-schemas.md)
COST_SCHEMA = "mfprov.cost/1"
#: the account of a blueprint built without credentials: it only shows in ARNs, which no price depends on
OFFLINE_ACCOUNT = "000000000000"


@dataclass
class ResourceCost:
    address: str
    kind: str
    lines: list[CostLine]

    @property
    def usd_month(self) -> float:
        return round(sum(line.usd_month or 0.0 for line in self.lines), 2)


@dataclass
class Estimate:
    """The idle monthly cost of one set of resources."""

    region: str
    resources: list[ResourceCost] = field(default_factory=list)
    #: resources that bill nothing at all (roles, security groups, subnets, routes...)
    free: list[str] = field(default_factory=list)

    @property
    def usd_month(self) -> float:
        return round(sum(r.usd_month for r in self.resources), 2)

    @property
    def unpriced(self) -> list[str]:
        """``address: what (why)`` of every line the table has no price for: the total leaves them out."""
        return [
            f"{r.address}: {line.what} ({line.detail})"
            for r in self.resources
            for line in r.lines
            if line.usd_month is None
        ]


def offline_blueprint(cfg: Config, region: str) -> Blueprint:
    """The stack's desired graph from the config alone: no account (a placeholder; only ARNs show it) and as
    many zones as the network may ask for (only their count matters to a price)."""
    zones = tuple(f"{region}{letter}" for letter in "abcdef")
    facts = Facts(account_id=OFFLINE_ACCOUNT, region=region, availability_zones=zones)
    return STACK_BUILDERS[cfg.stack](cfg, facts)


def _unresolved(value: Any) -> Any:
    """A blueprint value with every reference as its ``${address.attr}`` text (what ``props_of`` looks up)."""
    if isinstance(value, Ref):
        return str(value)
    if isinstance(value, Concat):
        return "".join(str(_unresolved(p)) for p in value.parts)
    if isinstance(value, Mapping):
        return {k: _unresolved(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_unresolved(v) for v in value]
    return value


def estimate(resources: Iterable[tuple[str, str, Mapping[str, Any]]], region: str, where: Where) -> Estimate:
    """The cost of ``(address, kind, props)`` resources in ``region``."""
    est = Estimate(region=region)
    for address, kind, raw in sorted(resources):
        rt = resource_type(kind)
        if not isinstance(rt, Billed):
            est.free.append(address)
            continue
        lines = rt.monthly_cost(billed_props(rt.Props, raw), where)
        if lines:
            est.resources.append(ResourceCost(address, kind, lines))
        else:
            est.free.append(address)
    return est


def of_blueprint(bp: Blueprint, region: str, known: Mapping[str, Mapping[str, Any]] | None = None) -> Estimate:
    """The desired resources' cost; ``known`` attrs (the state's) resolve the references they can."""
    attrs = known or {}
    # a reference not known yet keeps its ``${address.attr}`` text, which props_of finds
    props = {a: _merge_unknown(resolve(n.props, attrs), n.props) for a, n in bp.nodes.items()}

    def props_of(value: Any) -> Mapping[str, Any] | None:
        text = str(value)
        if text.startswith("${") and text.endswith("}"):
            address = text[2:-1].rsplit(".", 1)[0]
            return props.get(address)
        for address, a in attrs.items():
            if address in props and value in (a.get("id"), a.get("arn")):
                return props[address]
        return None

    where = Where(region=region, props_of=props_of)
    return estimate(((a, n.kind, props[a]) for a, n in bp.nodes.items()), region, where)


def _merge_unknown(resolved: Any, raw: Any) -> Any:
    if resolved is UNKNOWN:
        return _unresolved(raw)
    if isinstance(resolved, Mapping) and isinstance(raw, Mapping):
        return {k: _merge_unknown(v, raw[k]) for k, v in resolved.items()}
    if isinstance(resolved, list) and isinstance(raw, list | tuple):
        return [_merge_unknown(v, r) for v, r in zip(resolved, raw, strict=False)]
    return resolved


def of_state(state: StateDocument, region: str) -> Estimate:
    """The cost of what the state records (what exists, as far as mfprov knows)."""

    def props_of(value: Any) -> Mapping[str, Any] | None:
        for rs in state.resources.values():
            if value == rs.id or value in rs.attrs.values():
                return rs.props
        return None

    where = Where(region=region, props_of=props_of)
    return estimate(((a, rs.kind, rs.props) for a, rs in state.resources.items()), region, where)


@dataclass(frozen=True)
class CostChange:
    """What a plan does to the idle monthly cost."""

    current: Estimate
    planned: Estimate

    @property
    def delta(self) -> float:
        return round(self.planned.usd_month - self.current.usd_month, 2)

    def line(self) -> str:
        sign = "+" if self.delta >= 0 else "-"
        unpriced = f"; {len(self.planned.unpriced)} line(s) without a price" if self.planned.unpriced else ""
        return (
            f"Monthly cost while idle: ${self.current.usd_month:,.2f} → ${self.planned.usd_month:,.2f} "
            f"({sign}${abs(self.delta):,.2f}; prices of {PRICES_DATE}{unpriced}; `mfprov cost` for the lines)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "current_usd": self.current.usd_month,
            "planned_usd": self.planned.usd_month,
            "delta_usd": self.delta,
            "prices_date": PRICES_DATE,
            "unpriced": self.planned.unpriced,
        }


def plan_change(state: StateDocument, bp: Blueprint, region: str) -> CostChange:
    """The cost of the state's resources against the blueprint's, for the end of ``plan``."""
    known = {a: rs.attrs for a, rs in state.resources.items()}
    return CostChange(current=of_state(state, region), planned=of_blueprint(bp, region, known))


def to_json(stack: str, est: Estimate) -> dict[str, Any]:
    """``cost --json`` (schema :data:`COST_SCHEMA`)."""
    return {
        "schema": COST_SCHEMA,
        "stack": stack,
        "region": est.region,
        "currency": "USD",
        "prices_date": PRICES_DATE,
        "priced_regions": list(PRICED_REGIONS),
        "hours_per_month": HOURS_PER_MONTH,
        "total_usd_month": est.usd_month,
        "unpriced": est.unpriced,
        "resources": [
            {
                "address": r.address,
                "kind": r.kind,
                "usd_month": r.usd_month,
                "lines": [
                    {
                        "what": line.what,
                        "usd_month": line.usd_month,
                        "detail": line.detail,
                        "usage_based": line.usage_based,
                    }
                    for line in r.lines
                ],
            }
            for r in est.resources
        ],
        "free": est.free,
    }


def rows(est: Estimate) -> list[list[str]]:
    """One row per cost line: address, type, what bills, USD/month."""
    out: list[list[str]] = []
    for r in est.resources:
        for line in r.lines:
            amount = "-" if line.usd_month is None else f"{line.usd_month:,.2f}"
            what = f"{line.what} ({line.detail})" if line.detail else line.what
            out.append([r.address, r.kind, what, amount])
    return out
