"""How results are shown: whole values always; a table in a terminal (wrapping, never cutting), plain aligned lines
when stdout is a pipe or a file (no borders, one record per line, so `grep` and `cut` find what they look for);
and the JSON documents of ``--json``.

Results go to stdout and everything else (progress, prompts, summaries) to stderr, as Terraform, kubectl and the
AWS CLI do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from provisioner.engine.plan import NOOP, SYMBOLS, Action, Plan

#: `plan --json`; a change that breaks readers bumps the number (docs/plan-schema.md)
PLAN_SCHEMA = "mfprov.plan/1"
#: `state list --json` and `state show --json` (docs/plan-schema.md)
STATE_SCHEMA = "mfprov.state-view/1"

#: exit code of `plan` when the change would delete or replace a protected resource (`up` would refuse it)
EXIT_PROTECTED = 3

COLOURS = {"create": "green", "update": "yellow", "replace": "magenta", "delete": "red"}


def fmt(value: Any) -> str:
    """A value as one line of text, whole."""
    return value if isinstance(value, str) else json.dumps(value, default=repr, sort_keys=True)


def columns(rows: Iterable[Sequence[str]]) -> list[str]:
    """Rows as lines of columns two spaces apart, every column but the last padded (kubectl's plain output)."""
    rows = [list(r) for r in rows]
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]]).rstrip() for r in rows]


def show_table(console: Console, header: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> None:
    """In a terminal a table whose cells wrap; elsewhere a header line and one plain line per row (the title,
    which is no data, goes to stderr then)."""
    if console.is_terminal:
        table = Table(title=title or None, title_justify="left", show_header=bool(header))
        for col in header or [""] * (len(rows[0]) if rows else 1):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(*(escape(c) for c in r))
        console.print(table)
        return
    if title:
        Console(stderr=True, highlight=False).print(title, markup=False)
    for line in columns([list(header), *rows] if header else rows):
        console.file.write(line + "\n")


def render_plan(console: Console, plan: Plan, refused: Sequence[Action] = (), verbose: bool = False) -> None:
    """The plan, one action a line with its fields below it; a protected resource's replacement or deletion is
    marked REFUSED."""
    refused_at = {a.address for a in refused}
    for a in plan.actions:
        if a.action == NOOP:
            continue
        colour = COLOURS[a.action]
        extra = escape(f"  (forced by {', '.join(a.replace_reasons)})") if a.action == "replace" else ""
        if a.address in refused_at:
            extra += "  [bold red]REFUSED: protected[/bold red]"
        console.print(f"  [{colour}]{SYMBOLS[a.action]:>3}[/{colour}] {escape(a.address)}{extra}")
        if a.action in ("update", "replace") or verbose:
            for c in a.changes:
                if a.action == "create":
                    line = f"        {c.field} = {fmt(c.expected)}"
                else:
                    mark = "  # forces replacement" if c.forces_replacement else ""
                    line = f"        {c.field}: {fmt(c.actual)} → {fmt(c.expected)}{mark}"
                console.print(line, markup=False)
    for u in plan.unmanaged:
        console.print(f"  [red]  -[/red] {escape(u)}  (unmanaged: carries this stack's tags, unknown to the state)")
    counts = plan.counts()
    extra = f", {len(plan.unmanaged)} unmanaged to delete" if plan.unmanaged else ""
    console.print(
        f"Plan: {counts['create']} to create, {counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to delete{extra}, {counts['no-op']} unchanged."
    )


def plan_json(
    stack: str, plan: Plan, refused: Sequence[Action], monthly_cost: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``plan --json``; ``monthly_cost``: the idle monthly cost before and after (``provisioner.ops.cost``)."""
    refused_at = {a.address for a in refused}
    cost = {"monthly_cost": monthly_cost} if monthly_cost is not None else {}
    return {
        "schema": PLAN_SCHEMA,
        "stack": stack,
        "empty": plan.empty,
        "refused": sorted(refused_at),
        "counts": plan.counts() | {"unmanaged": len(plan.unmanaged)},
        "actions": [
            {
                "address": a.address,
                "kind": a.kind,
                "action": a.action,
                "id": a.id,
                "refused": a.address in refused_at,
                "replace_reasons": a.replace_reasons,
                "changes": [
                    {
                        "field": c.field,
                        "expected": c.expected,
                        "actual": c.actual,
                        "forces_replacement": c.forces_replacement,
                    }
                    for c in a.changes
                ],
            }
            for a in plan.changes
        ],
        "unmanaged": plan.unmanaged,
        **cost,
    }


def state_record(address: str, rs: Any, protected: bool) -> dict[str, Any]:
    return {"address": address, **rs.model_dump(mode="json"), "protected": protected}


def state_list_json(doc: Any, protected: Any) -> dict[str, Any]:
    return {
        "schema": STATE_SCHEMA,
        "stack": doc.stack,
        "serial": doc.serial,
        "resources": [
            {"address": a, "kind": rs.kind, "id": rs.id, "status": rs.status, "protected": protected(rs)}
            for a, rs in sorted(doc.resources.items())
        ],
    }


def kept_reasons(runner: Any, kept: Sequence[str]) -> dict[str, str]:
    """Why `down` keeps each resource: it is protected, or the protected ones named cannot exist without it (the
    same edges as ``Runner.kept_by_protection``: what a resource's properties name by id)."""
    import networkx as nx

    g = runner.full_graph()
    for address, node in runner.blueprint.nodes.items():
        g.remove_edges_from([(dep, address) for dep in list(g.predecessors(address)) if dep not in node.needs()])
    protected = [a for a in kept if runner.is_protected(a)]
    reasons = {}
    for address in kept:
        if address in protected:
            reasons[address] = "protected (holds data, or protected by `mfprov state protect`)"
        else:
            needers = [p for p in protected if p in g and address in nx.ancestors(g, p)]
            reasons[address] = f"needed by {', '.join(needers)}"
    return reasons


def record_rows(record: dict[str, Any]) -> list[list[str]]:
    """A state record as `field  value` rows; attributes and properties one per row (`attrs.arn`, `props.name`)."""
    rows = []
    for key, value in record.items():
        if key in ("attrs", "props") and isinstance(value, dict):
            rows += [[f"{key}.{k}", fmt(v)] for k, v in sorted(value.items())]
        else:
            rows.append([key, fmt(value)])
    return rows
