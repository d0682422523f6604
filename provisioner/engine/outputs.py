"""Stack outputs: the Metaflow profile, resolved from the state, and where Metaflow looks for it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioner.engine.graph import Blueprint, Concat, SecretOutput, has_unknown, resolve
from resources.base import Ref
from state.document import StateDocument
from state.private import write_private


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


#: a profile name is part of a file name in METAFLOW_HOME: no separator, no "..", nothing hidden
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class ProfileNameError(ValueError):
    pass


def profile_path(name: str) -> Path:
    """Where ``METAFLOW_PROFILE=name`` makes Metaflow read its config (always inside METAFLOW_HOME)."""
    if not PROFILE_NAME.fullmatch(name) or ".." in name:
        raise ProfileNameError(
            f"profile name {name!r}: use letters, digits, '_', '-' and '.' (it names the file config_NAME.json in "
            f"{metaflow_home()})"
        )
    return metaflow_home() / f"config_{name}.json"


def write_profile(name: str, profile: Mapping[str, Any]) -> Path:
    """The profile holds the API key: the file is readable by its owner only from its creation."""
    path = profile_path(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(path, json.dumps(dict(profile), indent=2, sort_keys=True) + "\n")
    return path


#: how a masked output is seen whole (`outputs --json` says it for each masked key)
HOW_TO_SEE_SECRETS = "`mfprov outputs --show-secrets` prints it; `--write-profile NAME` writes it whole (mode 600)"
#: the key of `outputs --json` that names the masked outputs (no output is so named)
MASKED_KEY = "masked"


def is_profile_key(key: str) -> bool:
    """The Metaflow profile's keys; the other outputs are for people (URLs, ARNs, how to add a user)."""
    return key.startswith("METAFLOW_")


def profile_of(outputs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(outputs.items()) if is_profile_key(k)}


def sections(outputs: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What a person needs first, then the Metaflow profile (sections without any output are left out)."""
    people = {k: v for k, v in sorted(outputs.items()) if not is_profile_key(k)}
    found = {"For people": people, "Metaflow profile (--write-profile NAME writes it)": profile_of(outputs)}
    return {title: part for title, part in found.items() if part}


def outputs_json(shown: Mapping[str, Any], masked: Mapping[str, str]) -> dict[str, Any]:
    """Every output by its key, and under ``masked`` each masked one with how to see it whole."""
    return {**dict(sorted(shown.items())), MASKED_KEY: dict(masked)}


def add_user_command(pool: Ref, region: str) -> Concat:
    """How an admin adds a user to a sign-in pool nobody may sign up to (AWS CLI; Cognito emails an invitation
    with a temporary password; the pools sign users in by their email address)."""
    return Concat("aws cognito-idp admin-create-user --region ", region, " --user-pool-id ", pool, " --username EMAIL")
