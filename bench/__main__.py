"""``python -m bench``: mfprov's figures against a local moto server (nothing leaves 127.0.0.1).

1. Per preset, RUNS times on a fresh stack: `up`, a second `up`, `drift`, `down` — median wall time, AWS calls
   by service, and the mutating calls of the second `up` (must be 0).
2. With the latency model (every request waits a round trip; slow resources hold their worker for their
   typical AWS time, scaled down): the makespan of `up` and `down` against the critical-path lower bound of
   the same graph with the same per-resource times, and against doing one resource at a time.
3. Start-up of the CLI (`mfprov --help`).

Options: --presets personal,standard,full,mlflow  --runs 3  --rtt-ms 40  --scale 60  --parallelism 8  --json FILE
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import figures
from bench.harness import Measure, critical_path, run, write_config
from bench.latency import LatencyModel

#: what a preset needs in its config to be whole in the sandbox: the UI wants a certificate ARN and an allow-list
EDITS = {
    "full": [
        ('certificate_arn = ""', 'certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-bench"'),
        ("\nallow_cidrs = []", '\nallow_cidrs = ["10.0.0.0/8"]'),
    ],
}
COMMANDS = ("up", "up again", "drift", "down")
PRESET_STACKS = {"personal": "metaflow", "standard": "metaflow", "full": "metaflow", "mlflow": "mlflow"}


def lifecycle(
    work: Path, preset: str, i: int, model: LatencyModel | None = None, parallelism: int = 8
) -> dict[str, Measure]:
    stack = PRESET_STACKS[preset]
    name = f"b{preset[:3]}{i}{'l' if model else ''}"
    config = write_config(work / name, name, stack, "standard" if stack == "mlflow" else preset)
    text = config.read_text()
    for old, new in [*EDITS.get(preset, []), ("parallelism = 8", f"parallelism = {parallelism}")]:
        text = text.replace(old, new, 1)
    config.write_text(text)
    out = {"up": run(config, "up", model)}
    if model is None:
        out["up again"] = run(config, "up")
        out["drift"] = run(config, "drift")
    out["down"] = run(config, "down", model)
    return out


def cli_startup(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "provisioner", "--help"], capture_output=True, check=True)
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="personal,standard,full,mlflow")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rtt-ms", type=float, default=40.0)
    ap.add_argument("--scale", type=float, default=60.0)
    ap.add_argument("--parallelism", type=int, default=8, help="resources worked on at once (the config's default)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    presets = [p for p in args.presets.split(",") if p]

    with tempfile.TemporaryDirectory(prefix="mfprov-bench-") as tmp:
        work = Path(tmp)
        os.environ["MFPROV_HOME"] = str(work / "home")  # a sandbox of its own
        from provisioner.sandbox import control as sandbox

        info = sandbox.start()
        sandbox.activate(info, "us-east-1")
        try:
            report = measure(work, presets, args)
        finally:
            sandbox.stop()
    report["cli_startup_s"] = round(cli_startup(), 3)
    report.update(runs=args.runs, rtt_ms=args.rtt_ms, scale=args.scale, parallelism=args.parallelism)
    print_tables(report, args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if set(presets) == set(PRESET_STACKS) and args.parallelism == 8:
        # a whole run with the documented settings is what the docs quote (a partial one is printed only)
        figures.RESULTS.write_text(json.dumps(report, indent=2) + "\n")
        for page in figures.update(report):
            print(f"updated {page.relative_to(figures.ROOT)}", file=sys.stderr)
    return 0


def measure(work: Path, presets: list[str], args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"presets": {}}
    for preset in presets:
        runs = [lifecycle(work, preset, i, parallelism=args.parallelism) for i in range(args.runs)]
        med = {c: statistics.median(r[c].wall for r in runs) for c in runs[0]}
        first = runs[0]
        entry: dict[str, Any] = {
            "resources": first["up"].resources,
            "median_wall_s": {c: round(v, 3) for c, v in med.items()},
            "calls": {c: dict(sorted(first[c].calls.items())) for c in first},
            "mutating_second_up": first["up again"].mutating,
        }
        model = LatencyModel(rtt=args.rtt_ms / 1000, scale=args.scale)
        slow = lifecycle(work, preset, 99, model, args.parallelism)
        for command in ("up", "down"):
            m = slow[command]
            durations = m.durations()
            entry[f"latency_{command}"] = {
                "wall_s": round(m.wall, 3),
                "makespan_s": round(m.makespan, 3),
                "critical_path_s": round(critical_path(m.graph, durations) if m.graph is not None else 0.0, 3),
                "serial_s": round(sum(durations.values()), 3),
            }
        report["presets"][preset] = entry
        print(f"measured {preset}", file=sys.stderr)
    return report


def print_tables(report: dict[str, Any], args: argparse.Namespace) -> None:
    """The same tables the docs quote, rendered by the same code (bench/figures.py)."""
    print(f"\n## Wall time (median of {args.runs}) / AWS calls (mutating), local moto server\n")
    print(figures.lifecycle(report))
    print("## AWS calls per resource, by service (drift, first run)\n")
    print(figures.calls(report))
    shape = f"{args.rtt_ms:.0f} ms per request, slow resources at 1/{args.scale:.0f} of their AWS time"
    print(f"## Latency model: {shape}\n")
    print(figures.latency(report))
    print(figures.startup(report))


if __name__ == "__main__":
    raise SystemExit(main())
