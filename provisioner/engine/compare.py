"""Comparison by meaning: the normal form of desired and observed properties, and their field diff.

Only what mfprov sets is compared: the desired keys (minus behaviour fields), IAM policies in a
normal form (a one-element list equals its element, statement and action order do not matter),
``unordered`` lists as sets, and of the tags only the keys mfprov puts on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.core.policy import canonical, normalize_policy
from resources.base import Resource


def normalize_unordered(items: Any) -> Any:
    if not isinstance(items, list):
        return items
    return sorted(items, key=canonical)


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
        if canonical(value) != canonical(actual):
            changes.append(FieldChange(key, value, actual, rt.forces_replacement(key, value, actual)))
    if rt.taggable and desired_tags is not None:
        actual_tags = dict(observed.get("tags") or {})
        wrong = {k: v for k, v in desired_tags.items() if actual_tags.get(k) != v}
        if wrong:
            changes.append(
                FieldChange("tags", dict(sorted(wrong.items())), {k: actual_tags.get(k) for k in sorted(wrong)})
            )
    return changes
