"""``mfprov rotate db-password | api-key``: a new secret put in place, so that whatever step a run stops at, the
next run finishes it and never makes a second new value while one is pending.

Database password (Secrets Manager's rotation protocol, with AWS's staging labels; see docs/rotation.md):

1. a new version labelled AWSPENDING only, with a password generated here (skipped when one is pending already);
2. the database's master password set to it (ModifyDBInstance / ModifyDBCluster, ApplyImmediately), waited for;
3. AWSCURRENT moved to it (AWSPREVIOUS then labels the old one); the AWSPENDING label stays on it, as AWS's own
   rotations may leave it, and says "the services have not been restarted on it yet";
4. a new deployment of every ECS service whose task definition reads the secret, waited until it is the only one
   and all its tasks run (the circuit breaker rolling back ends the wait as a failure);
5. AWSPENDING removed: done.

What a run finds tells it where to start: an AWSPENDING version that is not AWSCURRENT is a rotation stopped in
steps 2-3 (the password is set again, to the same value), one that is AWSCURRENT stopped in 4.

API key (API Gateway keys cannot change their value: a new key replaces the old):

1. a new key of the same name and tags, tagged ``mfprov:rotated-from=<old id>`` (found again by that tag);
2. added to the usage plan, and checked enabled and in the plan;
3. every Metaflow profile in METAFLOW_HOME that holds the old key's value rewritten with the new value;
4. the state moved to the new key (the key's and the plan membership's ids);
5. the old key deleted (after its plan membership).

Before step 4 the new key is the one tagged as rotated from the state's key; after it, the state's key names
(in that tag) the old key still to delete. No value is returned, stored, logged or printed: they go from the
generator or AWS straight into the call or the profile file that needs them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from provisioner.core.context import NodeContext
from provisioner.engine.graph import Node, iter_refs, resolve
from provisioner.engine.outputs import metaflow_home
from provisioner.engine.reconcile import EngineError, Event, Foreign
from provisioner.ops.workspace import Session
from resources import apigateway, ecs, rds, secretsmanager
from resources.base import Observed, Ref, resource_type
from state.private import write_private

T = TypeVar("T")

#: what ``mfprov rotate`` rotates
KINDS = ("db-password", "api-key")
SCHEMA = "mfprov.rotate/1"
#: the database kinds whose master password a stack's secret holds
DATABASE_KINDS = ("rds.db_instance", "rds.db_cluster")
#: the profile key that holds the metadata service's API key
AUTH_KEY = "METAFLOW_SERVICE_AUTH_KEY"


class RotateRefused(EngineError):
    """Nothing to rotate (the stack has no such secret), or the stack is not up: said before any change."""


@dataclass
class Rotation:
    """What a rotation did: ids and addresses only, never a value."""

    what: str
    stack: str
    #: whether this run finished a rotation an earlier run had started
    resumed: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "stack": self.stack, "rotated": self.what, "resumed": self.resumed, **self.details}


def rotate(s: Session, what: str) -> Rotation:
    if what == "db-password":
        return rotate_db_password(s)
    if what == "api-key":
        return rotate_api_key(s)
    raise RotateRefused(f"mfprov rotates {' or '.join(KINDS)}, not {what!r}")


def _say(s: Session, address: str, message: str) -> None:
    s.runner.listener(Event("progress", address, message=message))


def _live(s: Session, address: str) -> tuple[str, Observed]:
    """The id the state holds for ``address``, read from AWS and checked to be this stack's."""
    rs = s.state.resources.get(address)
    if rs is None:
        raise RotateRefused(f"stack {s.state.stack!r} has no {address} yet: run `mfprov up` first; nothing was changed")
    rt = resource_type(rs.kind)
    observed = rt.read(s.runner.ctx(address, rs.kind), rs.id)
    if observed is None:
        raise RotateRefused(
            f"{address} ({rs.id}) is gone from AWS: run `mfprov up` to bring the stack back first; nothing was changed"
        )
    why = s.runner.not_ours(address, rs.kind, observed)
    if why:
        raise Foreign(f"{address}: {rs.id} {why}; nothing was changed")
    return rs.id, observed


def _refs(node: Node) -> set[str]:
    return {r.address for r in iter_refs(node.props)}


# ------------------------------------------------------------------ database password


@dataclass(frozen=True)
class Database:
    """A database whose master password a secret of the stack holds, and the services that read that secret."""

    address: str
    kind: str
    secret: str
    services: tuple[str, ...]


def databases(s: Session) -> list[Database]:
    """From the blueprint: each database and its secret (``password_secret_arn``), and every ECS service whose task
    definition names the secret (handed to its containers by reference)."""
    nodes = s.blueprint.nodes
    found = []
    for node in nodes.values():
        ref = node.props.get("password_secret_arn")
        if node.kind not in DATABASE_KINDS or not isinstance(ref, Ref):
            continue
        readers = {a for a, n in nodes.items() if n.kind == "ecs.task_definition" and ref.address in _refs(n)}
        services = tuple(sorted(a for a, n in nodes.items() if n.kind == "ecs.service" and readers & _refs(n)))
        found.append(Database(node.address, node.kind, ref.address, services))
    return found


def rotate_db_password(s: Session) -> Rotation:
    refusal = "has no database whose password mfprov keeps (its preset has none)"
    return _rotate_each(s, "db-password", databases(s), refusal, _rotate_database, "databases")


def _rotate_database(s: Session, db: Database) -> tuple[bool, dict[str, Any]]:
    secret_arn, _ = _live(s, db.secret)
    db_id, _ = _live(s, db.address)
    services = {a: _live(s, a)[0] for a in db.services}
    node = s.blueprint.nodes[db.secret]
    sm = s.clients.client("secretsmanager")

    stages = secretsmanager.version_stages(sm, secret_arn)
    pending = secretsmanager.labelled(stages, secretsmanager.PENDING)
    current = secretsmanager.labelled(stages, secretsmanager.CURRENT)
    resumed = pending is not None
    if pending is None:
        _say(s, db.secret, "new password generated into a version labelled AWSPENDING")
        pending = secretsmanager.put_pending(
            sm,
            secret_arn,
            int(node.props.get("password_length", 40)),
            str(node.props.get("password_charset", "rds")),
        )
    else:
        _say(s, db.secret, f"finishing the rotation to version {pending} (AWSPENDING), started earlier")
    if pending != current:
        _say(s, db.address, "setting the master password to the AWSPENDING version (ApplyImmediately)")
        rds.set_master_password(s.runner.ctx(db.address, db.kind), db.kind, db_id, secret_arn, secretsmanager.PENDING)
        _say(s, db.secret, "AWSCURRENT moved to the new version (the old one is AWSPREVIOUS)")
        secretsmanager.promote_pending(sm, secret_arn, pending, current)
    deployments = {}
    for address, service_id in services.items():
        _say(s, address, "new deployment: new tasks read the new password")
        deployments[address] = ecs.force_new_deployment(s.runner.ctx(address, "ecs.service"), service_id)
    for address, deployment in deployments.items():
        _wait_deployed(s.runner.ctx(address, "ecs.service"), services[address], deployment)
    secretsmanager.drop_pending(sm, secret_arn, pending)
    _say(s, db.secret, "done: AWSPENDING removed")
    return resumed, {
        "database": db.address,
        "secret": secret_arn,
        "version": pending,
        "restarted": sorted(services),
    }


def _wait_deployed(ctx: NodeContext, service_id: str, deployment: str) -> None:
    ctx.wait(
        "the new deployment to be the only one, with all its tasks running",
        lambda: ecs.deployment_done(ctx, service_id, deployment),
    )


# ------------------------------------------------------------------ API key


@dataclass(frozen=True)
class ApiKey:
    """The stack's API key and its membership of the usage plan."""

    key: str
    plan: str
    membership: str


def api_keys(s: Session) -> list[ApiKey]:
    nodes = s.blueprint.nodes
    found = []
    for node in nodes.values():
        if node.kind != "apigateway.usage_plan_key":
            continue
        key, plan = node.props.get("key_id"), node.props.get("usage_plan_id")
        if isinstance(key, Ref) and isinstance(plan, Ref):
            found.append(ApiKey(key.address, plan.address, node.address))
    return found


def rotate_api_key(s: Session) -> Rotation:
    refusal = "has no API key (the metadata service has no API Gateway in this config)"
    return _rotate_each(s, "api-key", api_keys(s), refusal, _rotate_key, "keys")


def _rotate_each(
    s: Session,
    what: str,
    found: Sequence[T],
    refusal: str,
    rotate_one: Callable[[Session, T], tuple[bool, dict[str, Any]]],
    key: str,
) -> Rotation:
    """Rotate every one ``found`` (refused in one line when there is none); ``key`` names their details."""
    if not found:
        raise RotateRefused(f"stack {s.state.stack!r} {refusal}; nothing to rotate")
    result = Rotation(what, s.state.stack)
    done = []
    for item in found:
        resumed, details = rotate_one(s, item)
        result.resumed |= resumed
        done.append(details)
    result.details = {key: done}
    return result


def _rotate_key(s: Session, target: ApiKey) -> tuple[bool, dict[str, Any]]:
    current, _ = _live(s, target.key)
    plan_id, plan_seen = _live(s, target.plan)
    ctx = s.runner.ctx(target.key, "apigateway.api_key")
    node = s.blueprint.nodes[target.key]
    props = resource_type(node.kind).parse_props(resolve(node.props, {}))
    keys = {str(k["id"]): k for k in apigateway.owned_keys(ctx, props.name)}
    others = {i: k for i, k in keys.items() if i != current}
    successors = sorted(i for i, k in others.items() if apigateway.rotated_from(k) == current)
    replaced = apigateway.rotated_from(keys.get(current, {}))
    resumed = bool(successors) or replaced in others
    if successors or replaced not in others:
        # Steps 1-4: the state still names the old key.
        if successors:
            new = successors[0]
            _say(s, target.key, f"finishing the rotation to {new}, started earlier")
        else:
            new = apigateway.create_successor(ctx, props, replaces=current)
            _say(s, target.key, f"new key {new} (tagged {apigateway.TAG_ROTATED_FROM}={current})")
        apigateway.add_to_plan(ctx, plan_id, new)
        ctx.wait("the new key to be enabled and in the usage plan", lambda: apigateway.usable(ctx, plan_id, new))
        profiles = _rewrite_profiles(s, ctx, current, new)
        _move_state(s, target, new, plan_seen)
        _say(s, target.key, f"the state names {new} now")
    else:
        new = current
        _say(s, target.key, f"finishing the rotation from {replaced}, started earlier")
        profiles = _rewrite_profiles(s, ctx, str(replaced), new)
        _move_state(s, target, new, plan_seen)  # the plan membership too, if the run stopped between the two
    # Step 5, with any other key of this node's name and tags (twins of a create whose answer was lost): only
    # the state's key is the node's.
    leftovers = sorted(i for i in keys if i != new)
    for key_id in leftovers:
        _say(s, target.key, f"deleting the old key {key_id}")
        apigateway.remove_key(ctx, plan_id, key_id)
    return resumed, {
        "address": target.key,
        "key": new,
        "deleted": leftovers,
        "profiles": [str(p) for p in profiles],
    }


def _move_state(s: Session, target: ApiKey, new: str, plan_seen: Observed) -> None:
    """The key's node, and its membership of the plan, recorded with the new key's ids (as an import would)."""
    ctx = s.runner.ctx(target.key, "apigateway.api_key")
    key_seen = resource_type("apigateway.api_key").read(ctx, new)
    membership = resource_type("apigateway.usage_plan_key")
    member_seen = membership.read(s.runner.ctx(target.membership, membership.kind), f"{plan_seen.id}|{new}")
    if key_seen is None or member_seen is None:
        raise EngineError(f"{target.key}: the new key {new} or its plan membership vanished; run the rotation again")
    s.runner.record_found({target.key: key_seen, target.plan: plan_seen, target.membership: member_seen})


def _rewrite_profiles(s: Session, ctx: NodeContext, old: str, new: str) -> list[Path]:
    """Every Metaflow profile in METAFLOW_HOME whose API key is the old key's value gets the new key's value (the
    rest of the file is kept). The values are compared and written, never returned."""
    rewritten = []
    for path in sorted(metaflow_home().glob("config*.json")):
        try:
            profile = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # not a profile mfprov can read: not ours to touch
        if not isinstance(profile, dict) or not isinstance(profile.get(AUTH_KEY), str):
            continue
        if _holds(profile, ctx, old):
            updated = {**profile, AUTH_KEY: apigateway.key_value(ctx, new)}
            write_private(path, json.dumps(updated, indent=2, sort_keys=True) + "\n")
            _say(s, "profile", f"rewrote {path} with the new key")
            rewritten.append(path)
    return rewritten


def _holds(profile: Mapping[str, Any], ctx: NodeContext, key_id: str) -> bool:
    return bool(profile.get(AUTH_KEY) == apigateway.key_value(ctx, key_id))


def summary(r: Rotation) -> list[str]:
    """What was rotated, one line each (ids, addresses and paths only)."""
    lines = []
    for db in r.details.get("databases", []):
        restarted = ", ".join(db["restarted"]) or "no service"
        lines.append(
            f"{db['database']}: new master password, secret version {db['version']} is AWSCURRENT; "
            f"restarted {restarted}"
        )
    for key in r.details.get("keys", []):
        deleted = ", ".join(key["deleted"]) or "nothing"
        profiles = ", ".join(key["profiles"]) or "none held the old key"
        lines.append(f"{key['address']}: new key {key['key']}; deleted {deleted}; profiles rewritten: {profiles}")
    return lines
