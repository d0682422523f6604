"""Run mfprov's commands in process against a local moto server and record what they did: wall time, every
AWS call by service and operation, and when each resource started and finished."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from bench.figures import by_service, mutating, total
from bench.latency import LatencyModel
from provisioner.cli.init_template import TEMPLATES
from provisioner.core.session import ClientFactory
from provisioner.engine.reconcile import Event
from provisioner.ops import app as core


@dataclass
class Measure:
    command: str
    wall: float
    calls: Counter[str]
    #: address -> (start, end), monotonic seconds, for the resources the command worked on
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    started: float = 0.0
    graph: nx.DiGraph | None = None
    resources: int = 0

    @property
    def total_calls(self) -> int:
        return total(self.calls)

    @property
    def mutating(self) -> int:
        return mutating(self.calls)

    @property
    def by_service(self) -> Counter[str]:
        return by_service(self.calls)

    @property
    def makespan(self) -> float:
        """From the first resource started to the last one finished (the apply or destroy phase)."""
        if not self.spans:
            return 0.0
        return max(e for _, e in self.spans.values()) - min(s for s, _ in self.spans.values())

    def durations(self) -> dict[str, float]:
        return {a: e - s for a, (s, e) in self.spans.items()}


def critical_path(graph: nx.DiGraph, durations: dict[str, float]) -> float:
    """The longest chain of resources that truly depend on each other, each weighing its own duration: no
    schedule, with any number of workers, can finish sooner."""
    finish: dict[str, float] = {}
    for node in nx.topological_sort(graph):
        before = max((finish[p] for p in graph.predecessors(node)), default=0.0)
        finish[node] = before + durations.get(node, 0.0)
    return max(finish.values(), default=0.0)


@contextmanager
def latency(model: LatencyModel | None) -> Iterator[None]:
    """Every ClientFactory made inside gets the latency model on its session."""
    if model is None:
        yield
        return
    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        model.install(self.session)

    ClientFactory.__init__ = patched  # type: ignore[method-assign]
    try:
        yield
    finally:
        ClientFactory.__init__ = original  # type: ignore[method-assign]


def write_config(directory: Path, name: str, stack: str, preset: str, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mfprov.toml"
    text = TEMPLATES[stack].format(name=name, stack=stack, preset=preset, suffix=name.replace("-", "")[-8:])
    path.write_text(text + extra)
    return path


COMMANDS: dict[str, Callable[[core.Session], Any]] = {
    "up": core.up,
    "drift": core.drift,
    "down": lambda s: core.down(s, delete_protected=True),
}


def run(config: Path, command: str, model: LatencyModel | None = None) -> Measure:
    spans: dict[str, list[float]] = {}
    lock = threading.Lock()

    def listener(e: Event) -> None:
        if e.kind in ("start", "done"):
            with lock:
                spans.setdefault(e.address, []).append(time.monotonic())

    base = command.split()[0]
    with latency(model):
        t0 = time.monotonic()
        ws = core.Workspace.open(config)
        with core.session(ws, base, listener, lock=base != "drift") as s:
            COMMANDS[base](s)
            calls = Counter(s.clients.recorder.calls)
            graph = s.blueprint.graph() if base == "up" else s.runner.full_graph().reverse()
            resources = len(s.blueprint.nodes)
        wall = time.monotonic() - t0
    done = {a: (t[0], t[-1]) for a, t in spans.items() if len(t) >= 2}
    return Measure(command, wall, calls, done, t0, graph, resources)
