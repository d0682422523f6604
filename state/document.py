"""The state document: what mfprov knows of one stack, versioned so an older file can be migrated.

Schema history:
  1  resources (kind, id, status, attrs, props, depends_on), outputs
  2  + ``protected`` per resource (None in a migrated file: the engine applies its kind's default and writes it)
     + ``released``: ids `state rm` let go of, which the sweep by tags then leaves alone
     + ``availability_zones``: the zones the stack was built with
  3  + ``stack_id``: the stack's whole identity (name, prefix, suffix, region), also carried by every resource
     in its ``mfprov:stack-id`` tag; None in a migrated file until the next run settles it from the config
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pydantic_core
from pydantic import BaseModel, Field

SCHEMA_VERSION = 3


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ResourceState(BaseModel):
    kind: str
    id: str
    #: "creating" between the create call and the end of its waits; "ready" after
    status: str = "ready"
    attrs: dict[str, Any] = Field(default_factory=dict)
    props: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    updated_at: str = Field(default_factory=now)
    #: a protected resource is never deleted or replaced by mfprov until the protection is lifted
    #: (`mfprov state unprotect`, or `down --delete-protected` for one run). None: not decided yet
    protected: bool | None = None


class StateDocument(BaseModel):
    schema_version: int = SCHEMA_VERSION
    stack: str
    #: the stack's identity (see ``provisioner.core.identity``); a run whose config or region makes another is refused
    stack_id: str | None = None
    serial: int = 0
    account_id: str | None = None
    region: str | None = None
    updated_at: str = Field(default_factory=now)
    resources: dict[str, ResourceState] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    #: id -> the address it had: resources `state rm` let go of (they keep the stack's tags)
    released: dict[str, str] = Field(default_factory=dict)
    #: the region's zones when the stack was built: later runs place subnets by these, not by today's list
    availability_zones: list[str] = Field(default_factory=list)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def document_text(doc: StateDocument) -> str:
    """The document as stored: JSON with sorted keys (two versions diff cleanly), two-space indents, ASCII only
    (``\\uXXXX`` escapes): the text ``json.dumps(..., indent=2, sort_keys=True)`` writes, but for the spelling of
    some floats (``0.00001`` for ``1e-05``). It is written after every resource a run makes, and the standard
    library's encoder has no C speed-up once it indents, so pydantic's serializer writes it, in a little over half
    the time for a whole stack's state."""
    text = pydantic_core.to_json(_sorted(doc.model_dump(mode="json")), indent=2).decode()
    # outside a string JSON is ASCII, so each other character is in one, where its escape means the same
    return text if text.isascii() else _NOT_ASCII.sub(lambda m: json.dumps(m[0])[1:-1], text)


def damage(err: Exception) -> str:
    """One line on what is wrong with a state document: where, for a schema error; what, for a JSON one."""
    errors = getattr(err, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        more = f" (and {len(errors()) - 1} more)" if len(errors()) > 1 else ""
        return f"{where}: {first.get('msg')}{more}"
    return str(err).splitlines()[0]


def _v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    # New fields only; their defaults say "not decided" / "nothing released".
    return {**raw, "schema_version": 2}


def _v2_to_v3(raw: dict[str, Any]) -> dict[str, Any]:
    # The identity is not known from the file alone: the next run settles it from its config and region.
    return {**raw, "schema_version": 3}


#: from version N to N+1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}


class SchemaTooNew(ValueError):
    def __init__(self, version: int) -> None:
        super().__init__(f"schema version {version}; this mfprov reads up to {SCHEMA_VERSION}. Upgrade mfprov.")
        self.version = version


def migrate(raw: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The raw document brought to the current schema, and the version it had."""
    version = int(raw.get("schema_version", 1))
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(version)
    original = version
    while version < SCHEMA_VERSION:
        raw = MIGRATIONS[version](raw)
        version += 1
    return raw, original
