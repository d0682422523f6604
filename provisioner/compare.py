"""Comparison by meaning: the normal form of desired and observed properties, and their field diff.

Only what mfprov sets is compared: the desired keys (minus behaviour fields), IAM policies in a
normal form (a one-element list equals its element, statement and action order do not matter),
``unordered`` lists as sets, and of the tags only the keys mfprov puts on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from resources.base import Resource

#: keys inside an IAM policy whose values are sets (a lone string equals a one-element list)
_POLICY_SET_KEYS = {
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Service",
    "AWS",
    "Federated",
    "CanonicalUser",
}


def _canon(value: Any) -> str:
    # ``default=repr`` renders a not-yet-known value as "(known after apply)", which equals nothing real
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def normalize_policy(doc: Any) -> Any:
    """An IAM policy in a normal form in which equal meaning gives equal values."""
    if doc is None:
        return None
    if isinstance(doc, str):
        text = doc.strip()
        if text.startswith("%7B") or text.startswith("%7b"):
            text = unquote(text)
        doc = json.loads(text) if text else None
        if doc is None:
            return None
    return _norm_policy_node(doc, key="")


def _norm_policy_node(node: Any, key: str) -> Any:
    if key == "Condition" and isinstance(node, Mapping):
        # {"StringEquals": {"k": "v"}} means the same as {"StringEquals": {"k": ["v"]}}
        return {
            op: {k: sorted({str(i) for i in (v if isinstance(v, list) else [v])}) for k, v in cond.items()}
            for op, cond in node.items()
        }
    if key == "Statement":
        stmts = [node] if isinstance(node, Mapping) else list(node)
        normal = [{"Effect": "Allow", **_norm_policy_node(st, "_statement")} for st in stmts]
        return sorted(normal, key=_canon)
    if isinstance(node, Mapping):
        return {k: _norm_policy_node(v, k) for k, v in node.items()}
    if key in _POLICY_SET_KEYS:
        items = node if isinstance(node, list) else [node]
        return sorted({str(i) for i in items})
    if isinstance(node, list):
        return [_norm_policy_node(i, "") for i in node]
    return node


def normalize_unordered(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    return sorted(items, key=_canon)


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: what mfprov wants and what AWS has."""

    field: str
    expected: Any
    actual: Any
    forces_replacement: bool = False


def comparable(rt: Resource[Any], props: Mapping[str, Any], skip: frozenset[str] | None = None) -> dict[str, Any]:
    """The desired or observed properties of ``rt`` in the normal form used for comparison, less ``skip``
    (default: the type's behaviour fields) and the sensitive fields."""
    skip = rt.behaviour_fields if skip is None else skip
    out: dict[str, Any] = {}
    for key, value in props.items():
        if key in skip or key in rt.sensitive_fields:
            continue
        if key in rt.policy_fields:
            if (
                isinstance(value, Mapping)
                and value
                and all(isinstance(v, Mapping | str) for v in value.values())
                and "Statement" not in value
            ):
                value = {name: normalize_policy(doc) for name, doc in value.items()}
            else:
                value = normalize_policy(value)
        elif key in rt.unordered:
            value = normalize_unordered(value)
        out[key] = value
    return out


def diff(
    rt: Resource[Any],
    desired: Mapping[str, Any],
    observed: Mapping[str, Any],
    desired_tags: Mapping[str, str] | None = None,
) -> list[FieldChange]:
    """Field-level differences between desired and observed (both ``model_dump(mode="json")`` shaped)."""
    skip = rt.not_compared(desired)
    want = comparable(rt, desired, skip)
    have = comparable(rt, observed, skip)
    changes: list[FieldChange] = []
    for key, value in want.items():
        actual = have.get(key)
        if key in rt.grow_only and isinstance(value, int | float) and isinstance(actual, int | float):
            if actual >= value:
                continue
        if _canon(value) != _canon(actual):
            changes.append(FieldChange(key, value, actual, rt.forces_replacement(key, value, actual)))
    if rt.taggable and desired_tags is not None:
        actual_tags = dict(observed.get("tags") or {})
        wrong = {k: v for k, v in desired_tags.items() if actual_tags.get(k) != v}
        if wrong:
            changes.append(
                FieldChange("tags", dict(sorted(wrong.items())), {k: actual_tags.get(k) for k in sorted(wrong)})
            )
    return changes
