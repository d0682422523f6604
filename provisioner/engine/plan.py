"""The plan: a pure function of (desired graph, state, what was observed) -> ordered actions.

Each action carries its field-level changes and, for a replacement, the fields that force it.
A value that depends on something still to be created is "(known after apply)"; if it sits in a
field that forces replacement, the dependent is replaced too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from pydantic import ValidationError

from provisioner.engine.compare import FieldChange, diff
from provisioner.engine.graph import Blueprint, has_unknown, iter_refs, resolve
from resources.base import Observed, Resource, resource_type
from state.document import StateDocument

CREATE, UPDATE, REPLACE, DELETE, NOOP = "create", "update", "replace", "delete", "no-op"
SYMBOLS = {CREATE: "+", UPDATE: "~", REPLACE: "-/+", DELETE: "-", NOOP: " "}


@dataclass
class Action:
    address: str
    kind: str
    action: str
    changes: list[FieldChange] = field(default_factory=list)
    #: the id it acts on (update/replace/delete)
    id: str | None = None

    @property
    def replace_reasons(self) -> list[str]:
        return [c.field for c in self.changes if c.forces_replacement]


@dataclass
class Plan:
    actions: list[Action]
    #: "<address> <id>" of resources carrying the stack's tags but unknown to it, which apply deletes
    unmanaged: list[str] = field(default_factory=list)

    def by_action(self, action: str) -> list[Action]:
        return [a for a in self.actions if a.action == action]

    @property
    def changes(self) -> list[Action]:
        return [a for a in self.actions if a.action != NOOP]

    @property
    def empty(self) -> bool:
        """Nothing for apply to do in AWS."""
        return not self.changes and not self.unmanaged

    def counts(self) -> dict[str, int]:
        out = {CREATE: 0, UPDATE: 0, REPLACE: 0, DELETE: 0, NOOP: 0}
        for a in self.actions:
            out[a.action] += 1
        return out


def desired_dump(rt: Resource[Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """The desired properties in ``model_dump(mode="json")`` shape, defaults included.

    With values still unknown the model cannot be validated; then the defaults are filled in by hand.
    """
    if not has_unknown(raw):
        return rt.parse_props(raw).model_dump(mode="json")
    out: dict[str, Any] = {}
    for name, f in rt.Props.model_fields.items():
        if not f.is_required():
            default = f.get_default(call_default_factory=True)
            out[name] = default.model_dump(mode="json") if hasattr(default, "model_dump") else default
    out.update(raw)
    return out


def holds(blueprint: Blueprint, dependent: str, dependency: str) -> bool:
    """Whether ``dependent`` holds on to ``dependency``: refers to it in a field other than a policy document or a
    soft reference (a job queue listing a compute environment, a subnet in a VPC). A policy naming an ARN, a
    fingerprint naming it, or mere ordering (``after``), holds nothing: AWS deletes the dependency regardless, and
    the dependent is updated after."""
    node = blueprint.nodes[dependent]
    rt = resource_type(node.kind)
    soft = rt.policy_fields | rt.soft_ref_fields
    return any(
        any(r.address == dependency for r in iter_refs(value))
        for field, value in node.props.items()
        if field not in soft
    )


def _cascade(blueprint: Blueprint, g: nx.DiGraph, actions: list[Action]) -> None:
    """Whatever holds on to a replaced resource is replaced with it.

    The old resource can only be deleted once nothing holds it any more, and the new one gets a new id; so
    those dependents go first and come back after it. The others (a role whose policy names it) are updated
    once it exists again: the plan already shows that change as "(known after apply)".
    """
    by_address = {a.address: a for a in actions}
    todo = [a.address for a in actions if a.action == REPLACE]
    while todo:
        replaced = todo.pop()
        for dep in g.successors(replaced):
            other = by_address[dep]
            if other.action in (UPDATE, NOOP) and holds(blueprint, dep, replaced):
                other.action = REPLACE
                other.changes = [*other.changes, FieldChange(f"(depends on {replaced})", "new", "old", True)]
                todo.append(dep)
            elif other.action == NOOP:
                # Looked at again once the new one exists: its id may differ (apply makes no call if not).
                other.action = UPDATE
                other.changes = [FieldChange(f"(refers to {replaced})", "(known after apply)", "(as now)")]


def node_tags(state: StateDocument, address: str, user_tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a node's resource carries: the user's, then mfprov's (which win)."""
    from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK, TAG_STACK_ID

    tags = {**user_tags, TAG_MANAGED_BY: "mfprov", TAG_STACK: state.stack, TAG_ADDRESS: address}
    if state.stack_id:
        tags[TAG_STACK_ID] = state.stack_id
    return tags


def make_plan(
    blueprint: Blueprint,
    state: StateDocument,
    observed: Mapping[str, Observed | None],
    user_tags: Mapping[str, str],
) -> Plan:
    g = blueprint.graph()
    known_attrs: dict[str, Mapping[str, Any]] = {}
    actions: list[Action] = []
    for address in nx.lexicographical_topological_sort(g):
        node = blueprint.nodes[address]
        rt = resource_type(node.kind)
        obs = observed.get(address)
        raw = resolve(node.props, known_attrs)
        try:
            desired = desired_dump(rt, raw)
        except ValidationError as err:
            raise ValueError(f"{address}: the blueprint gives invalid properties: {err}") from err
        if obs is None:
            actions.append(
                Action(
                    address,
                    node.kind,
                    CREATE,
                    [FieldChange(k, v, None) for k, v in desired.items() if k not in rt.not_compared(desired)],
                )
            )
            continue
        tags = node_tags(state, address, user_tags) if rt.taggable else None
        changes = diff(rt, desired, obs.props, tags)
        if any(c.forces_replacement for c in changes):
            actions.append(Action(address, node.kind, REPLACE, changes, obs.id))
        elif changes:
            actions.append(Action(address, node.kind, UPDATE, changes, obs.id))
            if not rt.update_renews_attrs({c.field for c in changes}):
                # else its referrers see "(known after apply)" and are updated once it is done
                known_attrs[address] = obs.attrs
        else:
            actions.append(Action(address, node.kind, NOOP, [], obs.id))
            known_attrs[address] = obs.attrs
    _cascade(blueprint, g, actions)
    # What the state holds but the config no longer asks for is deleted, dependents first.
    orphans = [a for a in state.resources if a not in blueprint.nodes]
    og: nx.DiGraph = nx.DiGraph()
    og.add_nodes_from(orphans)
    for a in orphans:
        for dep in state.resources[a].depends_on:
            if dep in og:
                og.add_edge(a, dep)
    for address in nx.lexicographical_topological_sort(og):
        rs = state.resources[address]
        if observed.get(address) is not None:
            actions.append(Action(address, rs.kind, DELETE, [], rs.id))
    return Plan(actions)
