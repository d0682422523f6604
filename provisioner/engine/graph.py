"""The desired graph: nodes with properties that may hold :class:`Ref` values, and the edges they imply.

Nobody lists dependencies by hand: a node depends on every address its properties refer to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from resources.base import Ref


class Unknown:
    """A value that will only be known after apply (a ref to something not created yet)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"


UNKNOWN = Unknown()


@dataclass
class Node:
    address: str
    kind: str
    props: dict[str, Any]
    #: extra ordering where no property carries the reference (e.g. a policy that must exist first)
    after: tuple[str, ...] = ()

    def refs(self) -> set[str]:
        return {r.address for r in iter_refs(self.props)} | set(self.after)

    def needs(self) -> set[str]:
        """What this resource cannot exist without: the resources its properties name by id. Not ordering
        (``after``: a way out before a workload starts) nor text made from another's attributes (a URL in a
        script), which the resource outlives."""
        return {r.address for r in iter_refs(self.props, into_text=False)}


@dataclass
class Blueprint:
    """What one stack should be: its nodes and its outputs (values or refs)."""

    nodes: dict[str, Node] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def add(self, address: str, kind: str, after: tuple[str, ...] = (), **props: Any) -> Ref:
        if address in self.nodes:
            raise ValueError(f"duplicate address {address}")
        self.nodes[address] = Node(address, kind, props, after)
        return Ref(address=address)

    def graph(self) -> nx.DiGraph:
        """Edges point from a dependency to its dependent (creation order)."""
        g: nx.DiGraph = nx.DiGraph()
        for address, node in self.nodes.items():
            g.add_node(address, kind=node.kind)
        for address, node in self.nodes.items():
            for dep in node.refs():
                if dep not in self.nodes:
                    raise ValueError(f"{address} refers to {dep}, which is not in the stack")
                g.add_edge(dep, address)
        if not nx.is_directed_acyclic_graph(g):
            cycle = nx.find_cycle(g)
            raise ValueError(f"dependency cycle: {' -> '.join(a for a, _ in cycle)}")
        return g


class Concat:
    """A string made of literals and refs, e.g. ``Concat("http://", Ref(address=nlb, attr="dns_name"), ":8082")``."""

    def __init__(self, *parts: Any) -> None:
        self.parts = parts

    def __repr__(self) -> str:
        return "".join(str(p) for p in self.parts)


class SecretOutput:
    """An output fetched from AWS when asked for (an API key's value), never stored in the state."""

    def __init__(self, ref: Ref) -> None:
        self.ref = ref


def iter_refs(value: Any, into_text: bool = True) -> Iterator[Ref]:
    """The refs in a value; ``into_text=False`` skips those a :class:`Concat` turns into text."""
    if isinstance(value, Ref):
        yield value
    elif isinstance(value, Concat):
        if into_text:
            for p in value.parts:
                yield from iter_refs(p)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from iter_refs(v, into_text)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from iter_refs(v, into_text)


def resolve(value: Any, attrs_of: Mapping[str, Mapping[str, Any]]) -> Any:
    """Replace refs by the referenced attribute; UNKNOWN where the target has no attrs yet."""
    if isinstance(value, Ref):
        attrs = attrs_of.get(value.address)
        if attrs is None or value.attr not in attrs:
            return UNKNOWN
        return attrs[value.attr]
    if isinstance(value, Concat):
        parts = [resolve(p, attrs_of) for p in value.parts]
        return UNKNOWN if any(p is UNKNOWN for p in parts) else "".join(str(p) for p in parts)
    if isinstance(value, Mapping):
        return {k: resolve(v, attrs_of) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, attrs_of) for v in value]
    return value


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_unknown(v) for v in value)
    return False


def to_dot(g: nx.DiGraph) -> str:
    lines = ["digraph mfprov {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for n in sorted(g.nodes):
        lines.append(f'  "{n}";')
    for a, b in sorted(g.edges):
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(g: nx.DiGraph) -> str:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(g.nodes))}
    lines = ["flowchart LR"]
    for n, i in ids.items():
        lines.append(f'  {i}["{n}"]')
    for a, b in sorted(g.edges):
        lines.append(f"  {ids[a]} --> {ids[b]}")
    return "\n".join(lines) + "\n"
