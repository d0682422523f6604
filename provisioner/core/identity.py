"""A stack's identity: what tells its resources from those of every other stack in a shared account.

The name alone is not enough: two folders initialised with the same name (two suffixes), or one config used in
two regions, are two stacks. The identity is the name with everything that makes its resource names and place
differ: prefix, suffix and region. Every taggable resource carries it (``mfprov:stack-id``), the state records
it, and a run whose config or region gives another identity than its state's is refused.
"""

from __future__ import annotations


def stack_identity(name: str, prefix: str | None, suffix: str, region: str) -> str:
    """``name/prefix/suffix/region``: characters every AWS tag value accepts (letters, digits, ``/ - .``)."""
    return "/".join((name, prefix or "", suffix or "", region))


def describe_identity(identity: str) -> str:
    """For messages: ``stack 'team' (prefix metaflow, suffix ab12, us-east-1)``."""
    parts = identity.split("/")
    if len(parts) != 4:
        return f"stack {identity!r}"
    name, prefix, suffix, region = parts
    return f"stack {name!r} (prefix {prefix or '-'}, suffix {suffix or '-'}, {region})"
