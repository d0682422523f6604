"""The commands, without their presentation: load config and state, learn the facts, run the engine."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from provisioner import migrate as migrations
from provisioner import preflight
from provisioner.config import Config, load_config
from provisioner.context import Facts
from provisioner.engine import (
    DriftItem,
    EngineError,
    Event,
    Foreign,
    Listener,
    Runner,
    Unmanaged,
    drift_report,
    stamp,
)
from provisioner.graph import Blueprint
from provisioner.identity import describe_identity, stack_identity
from provisioner.outputs import resolve_outputs
from provisioner.plan import Plan
from provisioner.scheduler import RunResult
from provisioner.session import ClientFactory
from provisioner.stacks import metaflow, mlflow
from resources.base import Observed, error_code, resource_type
from state.document import StateDocument
from state.local import LocalStateStore
from state.private import write_private


class AwsAccessError(Exception):
    """No usable credentials or endpoint: said once, before anything is changed."""


STACK_BUILDERS = {"metaflow": metaflow.build, "mlflow": mlflow.build}
#: whether a stack has outputs fetched from AWS when asked for (secrets), known from the config alone
SECRET_OUTPUTS = {"metaflow": metaflow.has_secret_outputs, "mlflow": mlflow.has_secret_outputs}


@contextmanager
def aws_access(clients: ClientFactory) -> Iterator[None]:
    """Credential, region and endpoint problems as one clear message (AwsAccessError)."""
    where = clients.endpoint_url or f"AWS ({clients.region})"
    try:
        yield
    except NoCredentialsError:
        raise AwsAccessError(
            "no AWS credentials found. Set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
            "or use the local sandbox: `mfprov sandbox start` and add --sandbox."
        ) from None
    except ProfileNotFound as err:
        raise AwsAccessError(f"{err}. Check AWS_PROFILE.") from None
    except NoRegionError:
        raise AwsAccessError("no AWS region: set `region` in mfprov.toml or AWS_REGION.") from None
    except EndpointConnectionError as err:
        raise AwsAccessError(
            f"cannot reach {err.kwargs.get('endpoint_url', where)}. If you use the sandbox, start it with "
            "`mfprov sandbox start`."
        ) from None
    except ClientError as err:
        code = error_code(err)
        raise AwsAccessError(
            f"{where} refused the credentials ({code}): {err.response['Error'].get('Message', '')}. "
            "Refresh or fix them (e.g. `aws sso login`, AWS_PROFILE)."
        ) from None
    except BotoCoreError as err:
        raise AwsAccessError(f"cannot talk to {where}: {err}") from None


def discover_facts(
    clients: ClientFactory, zones: tuple[str, ...] = (), ident: Mapping[str, Any] | None = None
) -> Facts:
    """Who and where we are: the first AWS call of every run, so credential problems surface here. The zones
    are asked for only when not known already (the state keeps those a stack was built with)."""
    with aws_access(clients):
        ident = ident or clients.client("sts").get_caller_identity()
        if not zones:
            listed = clients.client("ec2").describe_availability_zones(
                Filters=[
                    {"Name": "state", "Values": ["available"]},
                    {"Name": "zone-type", "Values": ["availability-zone"]},
                ]
            )["AvailabilityZones"]
            zones = tuple(sorted(z["ZoneName"] for z in listed))
    return Facts(
        account_id=ident["Account"],
        region=clients.region,
        partition=ident["Arn"].split(":")[1],
        availability_zones=zones,
    )


@dataclass
class Workspace:
    """A config file and the state folder beside it."""

    config_path: Path
    config: Config

    @classmethod
    def open(cls, config_path: Path) -> Workspace:
        return cls(config_path, load_config(config_path))

    def store(self) -> Any:
        """The configured state store: ``.mfprov/`` beside the config, or the S3 object for a team."""
        cfg = self.config.state
        if cfg.backend == "s3":
            from state.s3 import S3StateStore

            # Its own client: state bookkeeping is not counted among the stack's AWS calls.
            clients = ClientFactory(region=self.config.region)
            key = cfg.key or f"mfprov/{self.config.name}/state.json"
            return S3StateStore(clients.client("s3"), str(cfg.bucket), key)
        return LocalStateStore(self.config_path.resolve().parent / ".mfprov")


@dataclass
class Session:
    """Everything one command needs once AWS has been asked who and where we are."""

    ws: Workspace
    clients: ClientFactory
    facts: Facts
    blueprint: Blueprint
    store: Any
    state: StateDocument
    runner: Runner
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def outputs(self) -> dict[str, Any]:
        return resolve_outputs(self.blueprint, self.state)


class IdentityMismatch(EngineError):
    """The run would act as another stack than the one its state records (another region, suffix, prefix)."""


def bind_identity(state: StateDocument, cfg: Config, region: str) -> None:
    """A state belongs to one stack identity, region included: a run that resolves another (the shell's region
    changed, the suffix was edited) is refused before any change, instead of building a second copy beside the
    first and losing track of it. A state that holds no resource takes the run's identity."""
    identity = stack_identity(cfg.name, cfg.prefix, cfg.suffix, region)
    if state.stack_id in (None, identity) and (state.region in (None, region) or not state.resources):
        state.stack_id = identity
        return
    if not state.resources:
        state.stack_id, state.region = identity, region
        return
    if state.region and state.region != region:
        raise IdentityMismatch(
            f"the state of stack {cfg.name!r} is in region {state.region}, but this run resolves {region}. "
            f'Set region = "{state.region}" in the config (or AWS_REGION), or use another folder for a stack in '
            f"{region}; nothing was changed."
        )
    assert state.stack_id is not None
    raise IdentityMismatch(
        f"the state belongs to {describe_identity(state.stack_id)}, but the config now makes "
        f"{describe_identity(identity)}. Changing the name, prefix or suffix makes another stack: put them back, "
        "or `mfprov down` this one with its old config first; if this is another stack that shares the state's "
        "location (an S3 state of the same name), give it its own [state] key. Nothing was changed."
    )


@contextmanager
def session(ws: Workspace, command: str, listener: Listener, lock: bool = True) -> Iterator[Session]:
    cfg = ws.config
    started = time.monotonic()
    clients = ClientFactory(region=cfg.region, max_workers=cfg.parallelism)
    with aws_access(clients):
        ident = clients.client("sts").get_caller_identity()  # before the state (S3) or a lock
    account = ident["Account"]
    store = ws.store()
    if lock:
        store.acquire(command)
    try:
        state = store.load(cfg.name)
        if state.account_id and state.account_id != account:
            raise AwsAccessError(
                f"the state of stack {cfg.name!r} belongs to account {state.account_id} in {state.region}, "
                f"but the credentials are for account {account}. Use the right AWS_PROFILE."
            )
        bind_identity(state, cfg, clients.region)
        same_region = state.region in (None, clients.region)
        facts = discover_facts(clients, tuple(state.availability_zones) if same_region else (), ident)
        blueprint = STACK_BUILDERS[cfg.stack](cfg, facts)
        blueprint.graph()  # a cycle or a dangling ref is a bug; fail before touching anything
        runner = Runner(
            blueprint=blueprint,
            store=store,
            state=state,
            clients=clients,
            facts=facts,
            user_tags=dict(cfg.tags),
            timeouts=dict(cfg.timeouts),
            workers=cfg.parallelism,
            listener=listener,
        )
        yield Session(ws, clients, facts, blueprint, store, state, runner, started)
    finally:
        if lock:
            store.release()


@dataclass
class UpResult:
    plan: Plan
    run: RunResult | None
    outputs: dict[str, Any]
    #: unmanaged resources `up` could not repair (they may hold data)
    left_alone: list[Unmanaged] = field(default_factory=list)
    #: the schema migration `up` ran because the metadata service's image changed
    migration: migrations.Migration | None = None


PLAN_SCHEMA = "mfprov.plan/1"


def fingerprint(
    s: Session, observed: Mapping[str, Observed | None], unmanaged: list[Unmanaged] | None = None
) -> dict[str, str]:
    """Per address, a hash of what exists (id and managed properties): what a saved plan was made against."""
    import hashlib
    import json

    out: dict[str, str] = {}
    for address in sorted(set(observed) | set(s.blueprint.nodes)):
        obs = observed.get(address)
        text = "absent" if obs is None else json.dumps([obs.id, obs.props], sort_keys=True, default=repr)
        out[address] = hashlib.sha256(text.encode()).hexdigest()[:16]
    for u in unmanaged or []:
        out[f"unmanaged {u.address} {u.id}"] = "present"
    return out


def config_digest(ws: Workspace) -> str:
    import hashlib

    return hashlib.sha256(ws.config.model_dump_json().encode()).hexdigest()[:16]


def save_plan(s: Session, path: Path) -> Plan:
    """``plan --out``: the plan, and what it was made against, for a later ``up --plan``."""
    import json

    refuse_unreachable(s)
    observed = s.runner.refresh()
    unmanaged = s.runner.sweep(observed)
    plan = s.runner.plan(observed, unmanaged)
    doc = {
        "schema": PLAN_SCHEMA,
        "stack": s.state.stack,
        "config": config_digest(s.ws),
        "observed": fingerprint(s, observed, unmanaged),
        "actions": [
            {
                "address": a.address,
                "action": a.action,
                "changes": [{"field": c.field, "forces_replacement": c.forces_replacement} for c in a.changes],
            }
            for a in plan.changes
        ],
        "unmanaged": plan.unmanaged,
    }
    write_private(path, json.dumps(doc, indent=2) + "\n")  # 600 from its creation, as the state
    return plan


class StalePlan(EngineError):
    pass


def check_plan(
    s: Session, path: Path, observed: Mapping[str, Observed | None], unmanaged: list[Unmanaged] | None = None
) -> None:
    """Refuse a saved plan when the config or what exists has changed since it was made."""
    import json

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise EngineError(f"cannot read the plan {path}: {err}") from None
    if not isinstance(doc, dict) or doc.get("schema") != PLAN_SCHEMA or doc.get("stack") != s.state.stack:
        raise StalePlan(f"{path} is not a plan of stack {s.state.stack!r}")
    if doc.get("config") != config_digest(s.ws):
        raise StalePlan(f"the config changed since {path} was made; make a new plan")
    seen = doc.get("observed")
    if not isinstance(seen, dict):
        raise StalePlan(f"{path} is damaged (it does not say what it was made against); make a new plan")
    now = fingerprint(s, observed, unmanaged)
    changed = sorted(a for a in set(now) | set(seen) if now.get(a) != seen.get(a))
    if changed:
        raise StalePlan(
            f"what exists changed since {path} was made ({', '.join(changed[:5])}"
            f"{', ...' if len(changed) > 5 else ''}); review a new plan"
        )


class ProtectedRefused(EngineError):
    """The change would delete or replace a protected resource."""


def up(s: Session, confirm: Any = None, plan_file: Path | None = None) -> UpResult:
    """Refresh, plan, and (if anything differs, and ``confirm(plan)`` agrees) apply."""
    refuse_unreachable(s)
    observed = s.runner.refresh()
    unmanaged = s.runner.sweep(observed)
    if plan_file is not None:
        check_plan(s, plan_file, observed, unmanaged)
    settled = s.runner.settle_protection()
    adopted = s.runner.record_found(observed)
    for address in adopted:
        found = observed[address]
        s.runner.listener(Event("progress", address, message=f"adopted {found.id if found else ''} (not in the state)"))
    for address in s.runner.forget_stale(observed):
        s.runner.listener(Event("progress", address, message="forgotten: gone from AWS and from the config"))
    for u in unmanaged:
        if u.kept_because:
            s.runner.listener(Event("progress", u.address, message=f"unmanaged {u.id} left alone: {u.kept_because}"))
    plan = s.runner.plan(observed, unmanaged)
    if plan.empty:
        if s.state.outputs != s.outputs() or adopted or settled:
            s.state.outputs = s.outputs()
            s.store.save(s.state)
        return UpResult(plan, None, s.outputs(), [u for u in unmanaged if u.kept_because])
    refused = s.runner.protected_changes(plan)
    if refused:
        why = "; ".join(
            f"{a.address} ("
            + ("replace, forced by " + ", ".join(a.replace_reasons) if a.action == "replace" else "delete")
            + ")"
            for a in refused
        )
        raise ProtectedRefused(
            f"this change would delete resources that are protected (they hold data): {why}. mfprov will not do "
            "that on its own: undo the change, or lift the protection deliberately with `mfprov state unprotect "
            "ADDRESS` first."
        )
    preflight.before_apply(s, plan)  # may the credentials make every change? (asked before the user is)
    if confirm is not None and not confirm(plan):
        return UpResult(plan, None, s.outputs())
    stamp(s.state, s.facts)
    images = migrations.running_images(s, observed) if migrations.wanted(s) else None
    run = s.runner.apply(plan, observed, unmanaged)
    if run.ok and (s.runner.tally["create"] or s.runner.tally["replace"]):
        # A create whose answer was lost on the way back (botocore then retried it) made a twin: it carries the
        # stack's tags, so one more look finds it now rather than at the next run. Only creates make twins.
        twins = s.runner.sweep({})
        if any(not u.kept_because for u in twins):
            swept = s.runner.delete_unmanaged(twins)
            run.outcomes.update(swept.outcomes)
        unmanaged = [u for u in unmanaged + twins if u.kept_because]
    s.state.outputs = s.outputs()
    s.store.save(s.state)
    migration = None
    if run.ok and images is not None and migrations.running_images(s) not in (None, images):
        # the service runs another image now, which may expect a newer schema (a first create is no change: the
        # service sets up an empty database itself)
        s.runner.listener(Event("progress", migrations.FUNCTION, message="new image: migrating the schema"))
        migration = migrations.migrate(s)
    return UpResult(plan, run, s.state.outputs, [u for u in unmanaged if u.kept_because], migration=migration)


@dataclass
class DownResult:
    #: how many resources of the stack existed
    present: int
    run: RunResult | None
    #: what was left because it is protected, or needed by something protected
    kept: list[str] = field(default_factory=list)
    #: unmanaged resources left alone (they may hold data)
    left_alone: list[Unmanaged] = field(default_factory=list)


def down(s: Session, confirm: Any = None, delete_protected: bool = False) -> DownResult:
    """Delete everything of the stack that exists, but what is protected (and what that needs), unless
    ``delete_protected`` lifts the protection for this run."""
    observed = s.runner.refresh(others_ok=True)
    unmanaged = s.runner.sweep(observed)
    present = sorted(a for a, o in observed.items() if o is not None)
    kept = s.runner.kept_by_protection(present, set(present) if delete_protected else set())
    doomed = [a for a in present if a not in kept]
    deletable = [u for u in unmanaged if not u.kept_because]
    left_alone = [u for u in unmanaged if u.kept_because]
    if not doomed and not deletable:
        for a in list(s.state.resources):
            if a not in kept:
                s.state.resources.pop(a)
        s.state.outputs = s.outputs() if kept else {}
        s.store.save(s.state)
        return DownResult(len(present), None, kept, left_alone)
    preflight.before_destroy(s, doomed, deletable)
    if confirm is not None and not confirm(doomed, kept, deletable):
        return DownResult(len(present), None, kept, left_alone)
    run = s.runner.destroy(observed, unmanaged, keep=kept)
    if run.ok:
        s.state.outputs = s.outputs() if kept else {}
        s.store.save(s.state)
    return DownResult(len(present), run, kept, left_alone)


def fetch_secret_outputs(s: Session) -> dict[str, str]:
    """The outputs that are secrets (an API key's value), fetched from AWS now, never kept in the state."""
    from provisioner.outputs import secret_outputs

    values: dict[str, str] = {}
    for key, secret in secret_outputs(s.blueprint).items():
        rs = s.state.resources.get(secret.ref.address)
        if rs is None:
            continue
        rt = resource_type(rs.kind)
        values[key] = rt.secret_value(s.runner.ctx(secret.ref.address, rs.kind), rs.id)
    return values


def drift(s: Session) -> list[DriftItem]:
    observed = s.runner.refresh()
    return drift_report(s.runner, observed, s.runner.sweep(observed))


def plan(s: Session) -> Plan:
    refuse_unreachable(s)
    observed = s.runner.refresh()
    return s.runner.plan(observed, s.runner.sweep(observed))


def check(s: Session) -> list[str]:
    """``mfprov check``: one line per way a workload cannot reach what it needs (empty: none). The network
    mfprov makes is judged from the blueprint; the user's own subnets are read from AWS."""
    from provisioner import reachability

    def owns(address: str, tags: dict[str, str]) -> bool:
        return s.runner.ctx(address, "ec2.vpc_endpoint").owns(tags)

    with aws_access(s.clients):
        return reachability.problems(s.blueprint, s.facts, s.clients.client("ec2"), owns)


def refuse_unreachable(s: Session) -> None:
    """Before any change: a workload that could never start is refused, not built."""
    from provisioner import reachability

    reachability.refuse(check(s))


def import_resource(s: Session, address: str, id: str) -> list[str]:
    """Adopt an existing resource (made elsewhere) as ``address``, after checking it is the same thing.

    Fields that force replacement must match (a different bucket name is a different bucket); other
    differences are returned, and the next ``up`` puts them right.
    """
    from provisioner.compare import diff
    from provisioner.plan import desired_dump, node_tags

    node = s.blueprint.nodes.get(address)
    if node is None:
        raise EngineError(f"{address} is not part of this stack; `mfprov graph` lists its addresses")
    if address in s.state.resources:
        raise EngineError(f"{address} is already in the state as {s.state.resources[address].id}")
    rt = resource_type(node.kind)
    ctx = s.runner.ctx(address, node.kind)
    observed = rt.read(ctx, id)
    if observed is None:
        raise EngineError(f"{address}: no {node.kind} with id {id!r} exists")
    holder = next((a for a, r in s.state.resources.items() if r.kind == node.kind and r.id == observed.id), None)
    if holder is not None:
        raise EngineError(f"{id} is already in the state as {holder}")
    why = s.runner.not_ours(address, node.kind, observed)
    if why:
        raise Foreign(f"{address}: {id} {why}; mfprov imports only what no other stack owns")
    attrs = {a: r.attrs for a, r in s.state.resources.items()}
    from provisioner.graph import resolve

    desired = desired_dump(rt, resolve(node.props, attrs))
    tags = node_tags(s.state, address, s.runner.user_tags) if rt.taggable else None
    changes = diff(rt, desired, observed.props, tags)
    forced = [
        c
        for c in changes
        if c.forces_replacement and not isinstance(c.expected, type(None)) and "(known" not in repr(c.expected)
    ]
    if forced:
        what = ", ".join(f"{c.field} is {c.actual!r}, the config says {c.expected!r}" for c in forced)
        raise EngineError(f"{id} is not {address}: {what}")
    s.runner.record_found({address: observed})
    return [c.field for c in changes]
