"""The figures the docs quote, rendered from what ``python -m bench`` measured (bench/results.json).

A page quotes a figure only inside a generated block::

    <!-- bench:presets -->
    ...rendered here...
    <!-- /bench -->

``python -m bench`` rewrites every block of README.md, BENCHMARKS.md and docs/*.md after a full run (all presets);
``python -m bench.figures`` rewrites them from the last results without measuring again, and ``--check`` exits 1
when one differs (tests/unit/test_figures.py runs the same comparison).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from provisioner.core.session import is_mutating

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.json"
BLOCK = re.compile(r"(<!-- bench:([\w-]+) -->\n)(.*?)(<!-- /bench -->)", re.S)
COMMANDS = ("up", "up again", "drift", "down")
HEADS = {"up": "`up`", "up again": "second `up`", "drift": "`drift`", "down": "`down --delete-protected`"}
LABELS = {"full": "full (UI on)"}

Report = Mapping[str, Any]


def pages() -> list[Path]:
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]


def load() -> dict[str, Any]:
    return dict(json.loads(RESULTS.read_text()))


def total(calls: Mapping[str, int]) -> int:
    """All the AWS calls of a command (``service:Operation`` -> count)."""
    return sum(calls.values())


def mutating(calls: Mapping[str, int]) -> int:
    return sum(n for op, n in calls.items() if is_mutating(op.split(":", 1)[1]))


def by_service(calls: Mapping[str, int]) -> Counter[str]:
    out: Counter[str] = Counter()
    for op, n in calls.items():
        out[op.split(":", 1)[0]] += n
    return out


def _table(head: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def presets(report: Report) -> str:
    """The README's: per preset, resources, and each command's median wall time and AWS calls."""
    rows = []
    for preset, e in report["presets"].items():
        cells = [f"{e['median_wall_s'][c]:.2f} s, {total(e['calls'][c])} calls" for c in COMMANDS]
        rows.append([LABELS.get(preset, preset), e["resources"], *cells])
    quiet = all(mutating(e["calls"]["up again"]) == 0 for e in report["presets"].values())
    note = "A second `up` with nothing to change makes no mutating call. " if quiet else ""
    return (
        _table(["preset", "resources", *(HEADS[c] for c in COMMANDS)], rows)
        + f"\n{note}Median of {report['runs']} fresh stacks each, against the local moto server.\n"
    )


def lifecycle(report: Report) -> str:
    """BENCHMARKS.md table 1: wall time / calls (mutating)."""
    rows = []
    for preset, e in report["presets"].items():
        cells = [
            f"{e['median_wall_s'][c]:.2f} s / {total(e['calls'][c])} ({mutating(e['calls'][c])})" for c in COMMANDS
        ]
        rows.append([LABELS.get(preset, preset), e["resources"], *cells])
    return _table(["preset", "resources", *(HEADS[c].replace("`", "") for c in COMMANDS)], rows)


def calls(report: Report) -> str:
    """BENCHMARKS.md table 2: drift's calls per resource, by service."""
    rows = []
    for preset, e in report["presets"].items():
        drift = e["calls"]["drift"]
        services = ", ".join(f"{k} {v}" for k, v in by_service(drift).most_common())
        rows.append([preset, f"{total(drift) / e['resources']:.2f}", services])
    return _table(["preset", "calls per resource", "by service"], rows)


def latency(report: Report) -> str:
    """BENCHMARKS.md table 3: makespan against the critical path under the latency model."""
    rows = []
    for preset, e in report["presets"].items():
        for command in ("up", "down"):
            m = e[f"latency_{command}"]
            bound, span, serial = m["critical_path_s"], m["makespan_s"], m["serial_s"]
            rows.append(
                [
                    preset,
                    command,
                    f"{m['wall_s']:.2f} s",
                    f"{span:.2f} s",
                    f"{bound:.2f} s",
                    f"{(span / bound - 1) * 100:+.1f}%" if bound else "-",
                    f"{serial:.2f} s",
                    f"{serial / span:.1f}x" if span else "-",
                ]
            )
    worst = max(
        (e[f"latency_{c}"]["makespan_s"] / e[f"latency_{c}"]["critical_path_s"] - 1) * 100
        for e in report["presets"].values()
        for c in ("up", "down")
        if e[f"latency_{c}"]["critical_path_s"]
    )
    head = ["preset", "command", "wall", "makespan", "critical path", "over bound", "one at a time", "speed-up"]
    return _table(head, rows) + f"\nThe largest gap between a makespan and its critical path: {worst:+.1f}%.\n"


def startup(report: Report) -> str:
    return f"`mfprov --help` starts in {report['cli_startup_s']:.2f} s (median of 5).\n"


RENDERERS: dict[str, Callable[[Report], str]] = {
    "presets": presets,
    "lifecycle": lifecycle,
    "calls": calls,
    "latency": latency,
    "startup": startup,
}


def render_page(text: str, report: Report) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in RENDERERS:
            raise KeyError(f"unknown bench block {name!r}; known: {', '.join(RENDERERS)}")
        return m.group(1) + RENDERERS[name](report) + m.group(4)

    return BLOCK.sub(fill, text)


def stale(report: Report) -> list[str]:
    """The pages whose blocks differ from what ``report`` renders."""
    return [p.name for p in pages() if render_page(p.read_text(), report) != p.read_text()]


def update(report: Report) -> list[Path]:
    changed = []
    for page in pages():
        text = page.read_text()
        new = render_page(text, report)
        if new != text:
            page.write_text(new)
            changed.append(page)
    return changed


def main(argv: list[str]) -> int:
    report = load()
    if "--check" in argv:
        out = stale(report)
        if out:
            print(f"figures out of date in {', '.join(out)}: run python -m bench.figures", file=sys.stderr)
        return 1 if out else 0
    for page in update(report):
        print(f"updated {page.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
