"""The commands, without their presentation: load config and state, learn the facts, run the engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.engine.plan import Plan
from provisioner.engine.reconcile import (
    DriftItem,
    EngineError,
    Event,
    Foreign,
    Unmanaged,
    drift_report,
    stamp,
)
from provisioner.engine.scheduler import RunResult
from provisioner.ops import migrate as migrations
from provisioner.ops import preflight

# the commands' callers open their sessions through app: these are its to give
from provisioner.ops.workspace import SECRET_OUTPUTS as SECRET_OUTPUTS
from provisioner.ops.workspace import STACK_BUILDERS as STACK_BUILDERS
from provisioner.ops.workspace import AwsAccessError as AwsAccessError
from provisioner.ops.workspace import IdentityMismatch as IdentityMismatch
from provisioner.ops.workspace import Session as Session
from provisioner.ops.workspace import Workspace as Workspace
from provisioner.ops.workspace import aws_access as aws_access
from provisioner.ops.workspace import bind_identity as bind_identity
from provisioner.ops.workspace import discover_facts as discover_facts
from provisioner.ops.workspace import session as session
from resources.base import Observed, resource_type
from state.private import write_private


@dataclass
class UpResult:
    plan: Plan
    run: RunResult | None
    outputs: dict[str, Any]
    #: unmanaged resources `up` could not repair (they may hold data)
    left_alone: list[Unmanaged] = field(default_factory=list)
    #: the schema migration `up` ran because the metadata service's image changed
    migration: migrations.Migration | None = None


PLAN_SCHEMA = "mfprov.plan/1"


def fingerprint(
    s: Session, observed: Mapping[str, Observed | None], unmanaged: list[Unmanaged] | None = None
) -> dict[str, str]:
    """Per address, a hash of what exists (id and managed properties): what a saved plan was made against."""
    import hashlib
    import json

    out: dict[str, str] = {}
    for address in sorted(set(observed) | set(s.blueprint.nodes)):
        obs = observed.get(address)
        text = "absent" if obs is None else json.dumps([obs.id, obs.props], sort_keys=True, default=repr)
        out[address] = hashlib.sha256(text.encode()).hexdigest()[:16]
    for u in unmanaged or []:
        out[f"unmanaged {u.address} {u.id}"] = "present"
    return out


def config_digest(ws: Workspace) -> str:
    import hashlib

    return hashlib.sha256(ws.config.model_dump_json().encode()).hexdigest()[:16]


def save_plan(s: Session, path: Path) -> Plan:
    """``plan --out``: the plan, and what it was made against, for a later ``up --plan``."""
    import json

    refuse_unreachable(s)
    observed = s.runner.refresh()
    unmanaged = s.runner.sweep(observed)
    plan = s.runner.plan(observed, unmanaged)
    doc = {
        "schema": PLAN_SCHEMA,
        "stack": s.state.stack,
        "config": config_digest(s.ws),
        "observed": fingerprint(s, observed, unmanaged),
        "actions": [
            {
                "address": a.address,
                "action": a.action,
                "changes": [{"field": c.field, "forces_replacement": c.forces_replacement} for c in a.changes],
            }
            for a in plan.changes
        ],
        "unmanaged": plan.unmanaged,
    }
    write_private(path, json.dumps(doc, indent=2) + "\n")  # 600 from its creation, as the state
    return plan


class StalePlan(EngineError):
    pass


def check_plan(
    s: Session, path: Path, observed: Mapping[str, Observed | None], unmanaged: list[Unmanaged] | None = None
) -> None:
    """Refuse a saved plan when the config or what exists has changed since it was made."""
    import json

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EngineError(f"cannot read the plan {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("schema") != PLAN_SCHEMA or doc.get("stack") != s.state.stack:
        raise StalePlan(f"{path} is not a plan of stack {s.state.stack!r}")
    if doc.get("config") != config_digest(s.ws):
        raise StalePlan(f"the config changed since {path} was made; make a new plan")
    seen = doc.get("observed")
    if not isinstance(seen, dict):
        raise StalePlan(f"{path} is damaged (it does not say what it was made against); make a new plan")
    now = fingerprint(s, observed, unmanaged)
    changed = sorted(a for a in set(now) | set(seen) if now.get(a) != seen.get(a))
    if changed:
        raise StalePlan(
            f"what exists changed since {path} was made ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}); review a new plan"
        )


class ProtectedRefused(EngineError):
    """The change would delete or replace a protected resource."""


def up(s: Session, confirm: Any = None, plan_file: Path | None = None) -> UpResult:
    """Refresh, plan, and (if anything differs, and ``confirm(plan)`` agrees) apply."""
    refuse_unreachable(s)
    observed = s.runner.refresh()
    unmanaged = s.runner.sweep(observed)
    if plan_file is not None:
        check_plan(s, plan_file, observed, unmanaged)
    settled = s.runner.settle_protection()
    adopted = s.runner.record_found(observed)
    for address in adopted:
        found = observed[address]
        s.runner.listener(Event("progress", address, message=f"adopted {found.id if found else ''} (not in the state)"))
    for address in s.runner.forget_stale(observed):
        s.runner.listener(Event("progress", address, message="forgotten: gone from AWS and from the config"))
    for u in unmanaged:
        if u.kept_because:
            s.runner.listener(Event("progress", u.address, message=f"unmanaged {u.id} left alone: {u.kept_because}"))
    plan = s.runner.plan(observed, unmanaged)
    if plan.empty:
        if s.state.outputs != s.outputs() or adopted or settled:
            s.state.outputs = s.outputs()
            s.store.save(s.state)
        return UpResult(plan, None, s.outputs(), [u for u in unmanaged if u.kept_because])
    refused = s.runner.protected_changes(plan)
    if refused:
        why = "; ".join(
            f"{a.address} ("
            + ("replace, forced by " + ", ".join(a.replace_reasons) if a.action == "replace" else "delete")
            + ")"
            for a in refused
        )
        raise ProtectedRefused(
            f"this change would delete resources that are protected (they hold data): {why}. mfprov will not do "
            "that on its own: undo the change, or lift the protection deliberately with `mfprov state unprotect "
            "ADDRESS` first."
        )
    preflight.before_apply(s, plan)  # may the credentials make every change? (asked before the user is)
    if confirm is not None and not confirm(plan):
        return UpResult(plan, None, s.outputs())
    stamp(s.state, s.facts)
    images = migrations.running_images(s, observed) if migrations.wanted(s) else None
    run = s.runner.apply(plan, observed, unmanaged)
    if run.ok and (s.runner.tally["create"] or s.runner.tally["replace"]):
        # A create whose answer was lost on the way back (botocore then retried it) made a twin: it carries the
        # stack's tags, so one more look finds it now rather than at the next run. Only creates make twins.
        twins = s.runner.sweep({})
        if any(not u.kept_because for u in twins):
            swept = s.runner.delete_unmanaged(twins)
            run.outcomes.update(swept.outcomes)
        unmanaged = [u for u in unmanaged + twins if u.kept_because]
    s.state.outputs = s.outputs()
    s.store.save(s.state)
    migration = None
    if run.ok and images is not None and migrations.running_images(s) not in (None, images):
        # the service runs another image now, which may expect a newer schema (a first create is no change: the
        # service sets up an empty database itself)
        s.runner.listener(Event("progress", migrations.FUNCTION, message="new image: migrating the schema"))
        migration = migrations.migrate(s)
    return UpResult(plan, run, s.state.outputs, [u for u in unmanaged if u.kept_because], migration=migration)


@dataclass
class DownResult:
    #: how many resources of the stack existed
    present: int
    run: RunResult | None
    #: what was left because it is protected, or needed by something protected
    kept: list[str] = field(default_factory=list)
    #: unmanaged resources left alone (they may hold data)
    left_alone: list[Unmanaged] = field(default_factory=list)


def down(s: Session, confirm: Any = None, delete_protected: bool = False) -> DownResult:
    """Delete everything of the stack that exists, but what is protected (and what that needs), unless
    ``delete_protected`` lifts the protection for this run."""
    observed = s.runner.refresh(others_ok=True)
    unmanaged = s.runner.sweep(observed)
    present = sorted(a for a, o in observed.items() if o is not None)
    kept = s.runner.kept_by_protection(present, set(present) if delete_protected else set())
    doomed = [a for a in present if a not in kept]
    deletable = [u for u in unmanaged if not u.kept_because]
    left_alone = [u for u in unmanaged if u.kept_because]
    if not doomed and not deletable:
        for a in list(s.state.resources):
            if a not in kept:
                s.state.resources.pop(a)
        s.state.outputs = s.outputs() if kept else {}
        s.store.save(s.state)
        return DownResult(len(present), None, kept, left_alone)
    preflight.before_destroy(s, doomed, deletable)
    if confirm is not None and not confirm(doomed, kept, deletable):
        return DownResult(len(present), None, kept, left_alone)
    run = s.runner.destroy(observed, unmanaged, keep=kept)
    if run.ok:
        s.state.outputs = s.outputs() if kept else {}
        s.store.save(s.state)
    return DownResult(len(present), run, kept, left_alone)


def fetch_secret_outputs(s: Session) -> dict[str, str]:
    """The outputs that are secrets (an API key's value), fetched from AWS now, never kept in the state."""
    from provisioner.engine.outputs import secret_outputs

    values: dict[str, str] = {}
    for key, secret in secret_outputs(s.blueprint).items():
        rs = s.state.resources.get(secret.ref.address)
        if rs is None:
            continue
        rt = resource_type(rs.kind)
        values[key] = rt.secret_value(s.runner.ctx(secret.ref.address, rs.kind), rs.id)
    return values


def drift(s: Session) -> list[DriftItem]:
    observed = s.runner.refresh()
    return drift_report(s.runner, observed, s.runner.sweep(observed))


def plan(s: Session) -> Plan:
    refuse_unreachable(s)
    observed = s.runner.refresh()
    return s.runner.plan(observed, s.runner.sweep(observed))


def check(s: Session) -> list[str]:
    """``mfprov check``: one line per way a workload cannot reach what it needs (empty: none). The network
    mfprov makes is judged from the blueprint; the user's own subnets are read from AWS."""
    from provisioner.ops import reachability

    def owns(address: str, tags: dict[str, str]) -> bool:
        return s.runner.ctx(address, "ec2.vpc_endpoint").owns(tags)

    with aws_access(s.clients):
        return reachability.problems(s.blueprint, s.facts, s.clients.client("ec2"), owns)


def refuse_unreachable(s: Session) -> None:
    """Before any change: a workload that could never start is refused, not built."""
    from provisioner.ops import reachability

    reachability.refuse(check(s))


def import_resource(s: Session, address: str, id: str) -> list[str]:
    """Adopt an existing resource (made elsewhere) as ``address``, after checking it is the same thing.

    Fields that force replacement must match (a different bucket name is a different bucket); other
    differences are returned, and the next ``up`` puts them right.
    """
    from provisioner.engine.compare import diff
    from provisioner.engine.plan import desired_dump, node_tags

    node = s.blueprint.nodes.get(address)
    if node is None:
        raise EngineError(f"{address} is not part of this stack; `mfprov graph` lists its addresses")
    if address in s.state.resources:
        raise EngineError(f"{address} is already in the state as {s.state.resources[address].id}")
    rt = resource_type(node.kind)
    ctx = s.runner.ctx(address, node.kind)
    observed = rt.read(ctx, id)
    if observed is None:
        raise EngineError(f"{address}: no {node.kind} with id {id!r} exists")
    holder = next((a for a, r in s.state.resources.items() if r.kind == node.kind and r.id == observed.id), None)
    if holder is not None:
        raise EngineError(f"{id} is already in the state as {holder}")
    why = s.runner.not_ours(address, node.kind, observed)
    if why:
        raise Foreign(f"{address}: {id} {why}; mfprov imports only what no other stack owns")
    attrs = {a: r.attrs for a, r in s.state.resources.items()}
    from provisioner.engine.graph import resolve

    desired = desired_dump(rt, resolve(node.props, attrs))
    tags = node_tags(s.state, address, s.runner.user_tags) if rt.taggable else None
    changes = diff(rt, desired, observed.props, tags)
    forced = [
        c
        for c in changes
        if c.forces_replacement and not isinstance(c.expected, type(None)) and "(known" not in repr(c.expected)
    ]
    if forced:
        what = ", ".join(f"{c.field} is {c.actual!r}, the config says {c.expected!r}" for c in forced)
        raise EngineError(f"{id} is not {address}: {what}")
    s.runner.record_found({address: observed})
    return [c.field for c in changes]
