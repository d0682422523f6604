"""IAM policies in a normal form, so that equal meaning compares equal (resources and the engine share it)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

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


def canonical(value: Any) -> str:
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
        return sorted(normal, key=canonical)
    if isinstance(node, Mapping):
        return {k: _norm_policy_node(v, k) for k, v in node.items()}
    if key in _POLICY_SET_KEYS:
        items = node if isinstance(node, list) else [node]
        return sorted({str(i) for i in items})
    if isinstance(node, list):
        return [_norm_policy_node(i, "") for i in node]
    return node
