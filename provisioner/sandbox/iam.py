"""Identity-policy evaluation as AWS documents it: what the sandbox's IAM answers ``SimulatePrincipalPolicy`` with
(``provisioner.sandbox.shims.iam_simulate_principal_policy``), and what the tests' IAM guard checks every call
against (moto itself authorizes every call and ignores conditions).

"Policy evaluation logic" (IAM User Guide): an explicit Deny in any applicable statement wins; otherwise one
applicable Allow is needed; otherwise the request is implicitly denied. A statement applies when its
``Action``/``NotAction``, its ``Resource``/``NotResource`` and every operator of its ``Condition`` match.

Conditions ("IAM JSON policy elements: Condition operators", "Conditions with multiple context keys or values"):

- operators in one block are ANDed, keys within one operator are ANDed, several values for one key are ORed
  (for a negated operator: the context value matches none of them);
- a key missing from the request context makes a positive operator false and a negated one true;
  ``...IfExists`` is true when the key is missing; ``Null`` tests presence;
- ``ForAnyValue:`` is true when some context value matches (false when the key is missing or empty);
  ``ForAllValues:`` is true when every context value matches (true when the key is missing or empty).

Policy variables (``${aws:username}``) are not supported: a document using one raises, rather than being evaluated
wrongly. Resource-based policies, session policies and SCPs are out of scope (mfprov writes identity policies
only; the stacks' KMS key policies delegate to IAM); a permissions boundary is a second :class:`Evaluator` whose
Allow is needed too.

API::

    ev = Evaluator([policy_doc, ...])            # or Evaluator({"name": doc, ...})
    d = ev.allowed("s3:GetObject", "arn:aws:s3:::b/k", {"s3:authType": "REST-HEADER"})
    bool(d), d.reason, d.statements
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

Context = Mapping[str, Any]


@dataclass(frozen=True)
class Decision:
    """The outcome of one (action, resource, context) evaluation."""

    allowed: bool
    action: str
    resource: str
    #: "allow", "explicit-deny" or "implicit-deny"
    reason: str
    #: the Sid (or ``policy#index``) of the statements that decided it
    statements: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed

    def __str__(self) -> str:
        by = f" by {', '.join(self.statements)}" if self.statements else ""
        return f"{self.reason}: {self.action} on {self.resource}{by}"


# ---------------------------------------------------------------------------------------------------- matching


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM wildcards: ``*`` any run of characters (across ``:`` and ``/``), ``?`` one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return bool(_glob(pattern, ignore_case).match(value))


def action_match(pattern: str, action: str) -> bool:
    """Actions are case-insensitive (``s3:getobject`` is ``s3:GetObject``)."""
    return glob_match(pattern, action, ignore_case=True)


def resource_match(pattern: str, resource: str) -> bool:
    """Resource ARNs are case-sensitive; ``*`` alone matches everything."""
    return pattern == "*" or glob_match(pattern, resource)


def arn_like(pattern: str, value: str) -> bool:
    """``ArnLike``: the six colon-separated parts are matched each on its own ("Amazon Resource Name (ARN)
    condition operators"); the resource part may itself hold colons."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return False
    return all(glob_match(a, b) for a, b in zip(p, v, strict=True))


# --------------------------------------------------------------------------------------------------- conditions


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    return list(v) if isinstance(v, list | tuple | set | frozenset) else [v]


def _num(v: Any) -> float:
    return float(v)


def _ip_in(policy: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(policy, strict=False)
    except ValueError:
        return False


def _bool(policy: Any, value: Any) -> bool:
    return str(policy).lower() == str(value).lower()


#: base operator -> (value matcher(policy_value, context_value), negated)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (lambda p, v: str(p) == str(v), False),
    "StringNotEquals": (lambda p, v: str(p) == str(v), True),
    "StringEqualsIgnoreCase": (lambda p, v: str(p).lower() == str(v).lower(), False),
    "StringNotEqualsIgnoreCase": (lambda p, v: str(p).lower() == str(v).lower(), True),
    "StringLike": (lambda p, v: glob_match(str(p), str(v)), False),
    "StringNotLike": (lambda p, v: glob_match(str(p), str(v)), True),
    "NumericEquals": (lambda p, v: _num(p) == _num(v), False),
    "NumericNotEquals": (lambda p, v: _num(p) == _num(v), True),
    "NumericLessThan": (lambda p, v: _num(v) < _num(p), False),
    "NumericLessThanEquals": (lambda p, v: _num(v) <= _num(p), False),
    "NumericGreaterThan": (lambda p, v: _num(v) > _num(p), False),
    "NumericGreaterThanEquals": (lambda p, v: _num(v) >= _num(p), False),
    "Bool": (_bool, False),
    "IpAddress": (lambda p, v: _ip_in(str(p), str(v)), False),
    "NotIpAddress": (lambda p, v: _ip_in(str(p), str(v)), True),
    "ArnEquals": (lambda p, v: str(p) == str(v), False),
    "ArnNotEquals": (lambda p, v: str(p) == str(v), True),
    "ArnLike": (lambda p, v: arn_like(str(p), str(v)), False),
    "ArnNotLike": (lambda p, v: arn_like(str(p), str(v)), True),
}


def _lookup(context: Context, key: str) -> tuple[bool, list[Any]]:
    """Condition keys are case-insensitive; their values are not."""
    lowered = key.lower()
    for k, v in context.items():
        if k.lower() == lowered:
            values = _as_list(v)
            return True, values
    return False, []


def condition_holds(operator: str, key: str, policy_values: Any, context: Context) -> bool:
    """One key of one operator of a Condition block."""
    values = _as_list(policy_values)
    if operator == "Null":
        present, got = _lookup(context, key)
        absent = not present or not got
        return any(str(v).lower() == ("true" if absent else "false") for v in values)
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            raise ValueError(f"unknown set operator {qualifier!r}")
    if_exists = operator.endswith("IfExists")
    base = operator[: -len("IfExists")] if if_exists else operator
    if base not in _OPERATORS:
        raise ValueError(f"condition operator {operator!r} is not implemented by this evaluator")
    for v in values:
        if isinstance(v, str) and "${" in v:
            raise ValueError(f"policy variable in {v!r}: not supported by this evaluator")
    match, negated = _OPERATORS[base]
    present, got = _lookup(context, key)

    def one(ctx_value: Any) -> bool:
        hit = any(match(p, ctx_value) for p in values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        # true for a missing or empty key ("ForAllValues ... returns true if ... no keys in the request")
        return all(one(v) for v in got)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in got)
    if not present or not got:
        # "If the key ... is not present in the request context, the values do not match": false; a negated
        # operator is then true; ...IfExists is true
        return True if if_exists else negated
    # a single-valued key (several context values on a plain operator: any of them)
    return any(one(v) for v in got)


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Context) -> bool:
    if not condition:
        return True
    return all(
        condition_holds(operator, key, values, context)
        for operator, keys in condition.items()
        for key, values in keys.items()
    )


# --------------------------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class Statement:
    effect: str
    label: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] | None = None
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] | None = None
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, Any], label: str) -> Statement:
        effect = raw["Effect"]
        if effect not in ("Allow", "Deny"):
            raise ValueError(f"{label}: Effect {effect!r}")
        if ("Action" in raw) == ("NotAction" in raw):
            raise ValueError(f"{label}: exactly one of Action and NotAction")
        if ("Resource" in raw) == ("NotResource" in raw):
            raise ValueError(f"{label}: exactly one of Resource and NotResource (identity policies need one)")
        if "Principal" in raw or "NotPrincipal" in raw:
            raise ValueError(f"{label}: an identity policy has no Principal")
        for res in _as_list(raw.get("Resource")) + _as_list(raw.get("NotResource")):
            if not isinstance(res, str):
                raise ValueError(f"{label}: unresolved resource {res!r}")
        return cls(
            effect=effect,
            label=raw.get("Sid") or label,
            actions=tuple(_as_list(raw.get("Action"))),
            not_actions=tuple(_as_list(raw["NotAction"])) if "NotAction" in raw else None,
            resources=tuple(_as_list(raw.get("Resource"))),
            not_resources=tuple(_as_list(raw["NotResource"])) if "NotResource" in raw else None,
            condition=raw.get("Condition") or {},
        )

    def applies(self, action: str, resource: str, context: Context) -> bool:
        if self.not_actions is not None:
            if any(action_match(p, action) for p in self.not_actions):
                return False
        elif not any(action_match(p, action) for p in self.actions):
            return False
        if self.not_resources is not None:
            if any(resource_match(p, resource) for p in self.not_resources):
                return False
        elif not any(resource_match(p, resource) for p in self.resources):
            return False
        return conditions_hold(self.condition, context)


def _documents(policies: Any) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(policies, Mapping) and "Statement" in policies:
        return [("policy", policies)]
    if isinstance(policies, Mapping):
        return [(str(k), json.loads(v) if isinstance(v, str) else v) for k, v in policies.items()]
    return [(f"policy{i}", json.loads(d) if isinstance(d, str) else d) for i, d in enumerate(policies)]


class Evaluator:
    """The identity policies of one principal, evaluated as AWS does."""

    def __init__(self, policies: Mapping[str, Any] | Iterable[Mapping[str, Any] | str]) -> None:
        self.statements: list[Statement] = []
        for name, doc in _documents(policies):
            raw = doc["Statement"]
            for i, st in enumerate(raw if isinstance(raw, list) else [raw]):
                self.statements.append(Statement.parse(st, f"{name}#{i}"))

    def allowed(self, action: str, resource: str, context: Context | None = None) -> Decision:
        ctx = context or {}
        applicable = [s for s in self.statements if s.applies(action, resource, ctx)]
        denies = tuple(s.label for s in applicable if s.effect == "Deny")
        if denies:
            return Decision(False, action, resource, "explicit-deny", denies)
        allows = tuple(s.label for s in applicable if s.effect == "Allow")
        if allows:
            return Decision(True, action, resource, "allow", allows)
        return Decision(False, action, resource, "implicit-deny")

    def authorize(self, checks: Sequence[Any]) -> list[Decision]:
        """Every check of one call (anything with ``action``, ``resource`` and ``context``, as
        ``tests.iam.calls.Check``): the call is allowed when all of them are."""
        return [self.allowed(c.action, c.resource, c.context) for c in checks]

    def first_denied(self, checks: Sequence[Any]) -> Decision | None:
        return next((d for d in self.authorize(checks) if not d), None)


__all__ = [
    "Decision",
    "Evaluator",
    "Statement",
    "action_match",
    "arn_like",
    "condition_holds",
    "conditions_hold",
    "glob_match",
    "resource_match",
]
