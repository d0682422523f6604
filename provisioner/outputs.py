"""Stack outputs: the Metaflow profile, resolved from the state, and where Metaflow looks for it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioner.graph import Blueprint, SecretOutput, has_unknown, resolve
from state.document import StateDocument


def resolve_outputs(blueprint: Blueprint, state: StateDocument) -> dict[str, Any]:
    """Every output whose references exist in the state; the others are left out (not yet created)."""
    attrs = {a: rs.attrs for a, rs in state.resources.items()}
    out: dict[str, Any] = {}
    for key, value in blueprint.outputs.items():
        if isinstance(value, SecretOutput):
            continue  # fetched when asked for, never kept
        v = resolve(value, attrs)
        if not has_unknown(v):
            out[key] = v
    return dict(sorted(out.items()))


def secret_outputs(blueprint: Blueprint) -> dict[str, SecretOutput]:
    return {k: v for k, v in blueprint.outputs.items() if isinstance(v, SecretOutput)}


def mask(value: str) -> str:
    return value[:4] + "…" + "*" * 8 if len(value) > 8 else "********"


def metaflow_home() -> Path:
    return Path(os.environ.get("METAFLOW_HOME") or Path.home() / ".metaflowconfig")


def profile_path(name: str) -> Path:
    """Where ``METAFLOW_PROFILE=name`` makes Metaflow read its config."""
    return metaflow_home() / f"config_{name}.json"


def write_profile(name: str, profile: Mapping[str, Any]) -> Path:
    path = profile_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(profile), indent=2, sort_keys=True) + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
