"""``python -m bench.scale``: how plan and drift grow with the size of a state.

One state holding K copies of a preset's stack (K stacks' worth of resources, each copy with its own names),
brought up once against a local moto server; then the pure plan, and a whole drift (refresh, sweep, compare),
timed. Each K runs in a process of its own, so its peak memory (max RSS) is its own.

Options: --copies 1,5,10,20,45  --preset personal
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import write_config
from provisioner.engine.graph import Blueprint, Concat, Node
from resources.base import Ref


def _renamed(value: Any, suffix: str) -> Any:
    if isinstance(value, Ref):
        return Ref(address=value.address + suffix, attr=value.attr)
    if isinstance(value, Concat):
        return Concat(*(_renamed(p, suffix) for p in value.parts))
    if isinstance(value, dict):
        return {k: _renamed(v, suffix) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_renamed(v, suffix) for v in value)
    return value


def copies(build: Any, cfg: Any, facts: Any, k: int) -> Blueprint:
    """K copies of a stack's blueprint in one: copy i has prefix ``s<i>`` and addresses ending ``_s<i>``."""
    merged = Blueprint()
    for i in range(k):
        one = build(cfg.model_copy(update={"prefix": f"s{i}"}), facts)
        suffix = f"_s{i}"
        for address, node in one.nodes.items():
            merged.nodes[address + suffix] = Node(
                address + suffix,
                node.kind,
                _renamed(node.props, suffix),
                tuple(a + suffix for a in node.after),
            )
    return merged


def one(k: int, preset: str, work: Path) -> dict[str, Any]:
    from provisioner.core.session import ClientFactory
    from provisioner.engine.reconcile import Runner, drift_report
    from provisioner.ops import app as core
    from provisioner.stacks import metaflow

    config = write_config(work / f"k{k}", f"scale{k}", "metaflow", preset)
    ws = core.Workspace.open(config)
    clients = ClientFactory(region="us-east-1")
    facts = core.discover_facts(clients)
    bp = copies(metaflow.build, ws.config, facts, k)
    store = ws.store()
    state = store.load(ws.config.name)

    def runner() -> Runner:
        return Runner(bp, store, state, ClientFactory(region="us-east-1"), facts, workers=ws.config.parallelism)

    t0 = time.monotonic()
    r = runner()
    observed = r.refresh()
    plan = r.plan(observed)
    result = r.apply(plan, observed)
    assert result.ok, {a: o.error for a, o in result.failed.items()}
    up_s = time.monotonic() - t0

    r = runner()
    t0 = time.monotonic()
    observed = r.refresh()
    refresh_s = time.monotonic() - t0
    t0 = time.monotonic()
    plan = r.plan(observed)
    plan_s = time.monotonic() - t0
    assert plan.empty, [a.address for a in plan.changes][:5]

    r = runner()
    t0 = time.monotonic()
    items = drift_report(r, r.refresh(), r.sweep({}))
    drift_s = time.monotonic() - t0
    assert items == [], items[:3]
    return {
        "copies": k,
        "resources": len(bp.nodes),
        "up_s": round(up_s, 2),
        "refresh_s": round(refresh_s, 3),
        "plan_s": round(plan_s, 4),
        "drift_s": round(drift_s, 3),
        "drift_calls": r.clients.recorder.total,
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", default="1,5,10,20,45")
    ap.add_argument("--preset", default="personal")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.preset, args.work)))
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="mfprov-scale-") as tmp:
        os.environ["MFPROV_HOME"] = str(Path(tmp) / "home")
        from provisioner.sandbox import control as sandbox

        info = sandbox.start()
        sandbox.activate(info, "us-east-1")
        try:
            for k in (int(x) for x in args.copies.split(",")):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.scale", "--one", str(k), "--preset", args.preset, "--work", tmp],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"measured {k} copies", file=sys.stderr)
                # a fresh account for the next size: the server keeps everything else
                import urllib.request

                urllib.request.urlopen(urllib.request.Request(f"{info.url}/moto-api/reset", method="POST"))  # noqa: S310
                sandbox._configure(info.url)
        finally:
            sandbox.stop()
    head = [
        "copies",
        "resources",
        "up (s)",
        "refresh (s)",
        "plan (s)",
        "drift (s)",
        "drift calls",
        "ms / resource",
        "max RSS (MB)",
    ]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        per = 1000 * r["drift_s"] / r["resources"]
        print(
            f"| {r['copies']} | {r['resources']} | {r['up_s']} | {r['refresh_s']} | {r['plan_s']} | {r['drift_s']} "
            f"| {r['drift_calls']} | {per:.2f} | {r['max_rss_mb']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
