"""Run one task per graph node on a bounded pool, each as soon as its own dependencies are done.

Not level by level: a node starts the moment its last predecessor finishes, so the wall time
approaches the graph's critical path. A failure skips only the node's descendants; independent
branches run on. Ctrl-C stops scheduling, lets the calls in flight finish, and returns.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import networkx as nx


@dataclass
class Outcome:
    status: str  # "done" | "failed" | "skipped" | "not started"
    result: Any = None
    error: BaseException | None = None
    elapsed: float = 0.0
    #: for a skipped node, the failed node it waited on
    because: str | None = None


@dataclass
class RunResult:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def failed(self) -> dict[str, Outcome]:
        return {a: o for a, o in self.outcomes.items() if o.status == "failed"}

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status == "done" for o in self.outcomes.values())


def run_graph(
    graph: nx.DiGraph,
    task: Callable[[str], Any],
    workers: int,
    stop: threading.Event | None = None,
) -> RunResult:
    """Run ``task(node)`` for every node, predecessors first, at most ``workers`` at once."""
    stop = stop or threading.Event()
    result = RunResult()
    waiting = {n: graph.in_degree(n) for n in graph.nodes}
    ready = sorted(n for n, d in waiting.items() if d == 0)
    running: dict[Future[Any], tuple[str, float]] = {}

    def timed(node: str) -> Any:
        return task(node)

    def skip_descendants(node: str) -> None:
        for d in nx.descendants(graph, node):
            if d not in result.outcomes:
                result.outcomes[d] = Outcome("skipped", because=node)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mfprov") as pool:
        try:
            while ready or running:
                while ready and len(running) < workers and not stop.is_set():
                    node = ready.pop(0)
                    if node in result.outcomes:  # skipped meanwhile
                        continue
                    running[pool.submit(timed, node)] = (node, time.monotonic())
                if not running:
                    break
                done, _ = wait(list(running), return_when=FIRST_COMPLETED, timeout=0.5)
                for fut in done:
                    node, started = running.pop(fut)
                    elapsed = time.monotonic() - started
                    err = fut.exception()
                    if err is not None:
                        result.outcomes[node] = Outcome("failed", error=err, elapsed=elapsed)
                        skip_descendants(node)
                        continue
                    result.outcomes[node] = Outcome("done", result=fut.result(), elapsed=elapsed)
                    for succ in graph.successors(node):
                        waiting[succ] -= 1
                        if waiting[succ] == 0 and succ not in result.outcomes:
                            ready.append(succ)
                if stop.is_set() and not running:
                    break
        except KeyboardInterrupt:
            # Finish what is in flight (its ids must reach the state), start nothing new.
            stop.set()
            result.interrupted = True
            for fut, (node, started) in list(running.items()):
                err = fut.exception()
                result.outcomes[node] = (
                    Outcome("failed", error=err, elapsed=time.monotonic() - started)
                    if err
                    else Outcome("done", result=fut.result(), elapsed=time.monotonic() - started)
                )
    if stop.is_set():
        result.interrupted = True
    for n in graph.nodes:
        result.outcomes.setdefault(n, Outcome("not started"))
    return result
