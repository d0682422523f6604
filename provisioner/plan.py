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

from provisioner.compare import FieldChange, diff
from provisioner.graph import Blueprint, has_unknown, resolve
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


def _cascade(g: nx.DiGraph, actions: list[Action]) -> None:
    """Whatever refers to a replaced resource is replaced with it.

    The old resource can only be deleted once nothing uses it any more (a job queue holding a compute
    environment, a subnet in a VPC), and the new one gets a new id; so dependents go first and come back
    after it.
    """
    by_address = {a.address: a for a in actions}
    for act in list(actions):
        if act.action != REPLACE:
            continue
        for dep in nx.descendants(g, act.address):
            other = by_address[dep]
            if other.action in (UPDATE, NOOP):
                other.action = REPLACE
                other.changes = [*other.changes, FieldChange(f"(depends on {act.address})", "new", "old", True)]


def node_tags(stack: str, address: str, user_tags: Mapping[str, str]) -> dict[str, str]:
    from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK

    return {**user_tags, TAG_MANAGED_BY: "mfprov", TAG_STACK: stack, TAG_ADDRESS: address}


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
                    [FieldChange(k, v, None) for k, v in desired.items() if k not in rt.behaviour_fields],
                )
            )
            continue
        tags = node_tags(state.stack, address, user_tags) if rt.taggable else None
        changes = diff(rt, desired, obs.props, tags)
        if any(c.forces_replacement for c in changes):
            actions.append(Action(address, node.kind, REPLACE, changes, obs.id))
        elif changes:
            actions.append(Action(address, node.kind, UPDATE, changes, obs.id))
            known_attrs[address] = obs.attrs
        else:
            actions.append(Action(address, node.kind, NOOP, [], obs.id))
            known_attrs[address] = obs.attrs
    _cascade(g, actions)
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
