"""The state document: which AWS ids belong to which resource address of one stack.

State is the fast index, not the truth: tags in AWS are. It holds ids, the attributes other
resources reference, the properties last applied (never a secret) and each resource's
dependencies, so ``down`` can run in the right order even without the config.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

SCHEMA_VERSION = 1


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


class StateDocument(BaseModel):
    schema_version: int = SCHEMA_VERSION
    stack: str
    serial: int = 0
    account_id: str | None = None
    region: str | None = None
    updated_at: str = Field(default_factory=now)
    resources: dict[str, ResourceState] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
