"""Refresh, apply, destroy and drift: the effectful half of the engine. It knows no AWS service.

A run reads what exists (batched per type where the type allows), plans, and walks the graph on a
bounded pool. Every resource's id reaches the state file the moment its create call returns, and
the state is saved after every resource, so an interrupted run is resumed by the next.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from botocore.exceptions import BotoCoreError, ClientError

from provisioner.core.context import Facts, NodeContext
from provisioner.core.identity import describe_identity
from provisioner.core.retry import WaitTimeout, wait_for
from provisioner.core.session import ClientFactory
from provisioner.engine.compare import FieldChange, diff
from provisioner.engine.graph import Blueprint, has_unknown, iter_refs, resolve
from provisioner.engine.plan import CREATE, DELETE, NOOP, REPLACE, UPDATE, Action, Plan, make_plan, node_tags
from provisioner.engine.scheduler import Outcome, RunResult, run_graph
from resources.base import (
    REGISTRY,
    TAG_ADDRESS,
    TAG_STACK,
    TAG_STACK_ID,
    Observed,
    Resource,
    arn_type_of,
    error_code,
    resource_type,
)
from state.document import ResourceState, StateDocument, now

#: how long a field just set may take to read back as set before it counts as not taken
READ_BACK_DEADLINE = 30.0


class EngineError(Exception):
    pass


class NotOurs(EngineError):
    """A resource with this node's unique name exists but belongs to something else."""


class Foreign(NotOurs):
    """Ids the state (or an import) names that belong to another stack: nothing is changed, nothing deleted."""


def owner_of(tags: Mapping[str, str]) -> str:
    """Who a resource's mfprov tags say it belongs to, for messages."""
    if tags.get(TAG_STACK_ID):
        return describe_identity(tags[TAG_STACK_ID])
    if tags.get(TAG_STACK):
        return f"stack {tags[TAG_STACK]!r}"
    return "nothing mfprov manages"


@dataclass
class Event:
    """What the engine tells the user interface: a node started, progressed, finished or failed."""

    kind: str  # "start" | "progress" | "done" | "failed" | "skipped"
    address: str
    action: str = ""
    message: str = ""
    elapsed: float = 0.0


Listener = Callable[[Event], None]


@dataclass
class Unmanaged:
    """A resource that carries this stack's tags but is neither in the state nor found as one of its nodes: a
    twin left by a create whose answer was lost, or a leftover of an interrupted delete."""

    address: str  # the address its tags claim
    kind: str
    id: str
    arn: str
    attrs: dict[str, Any] = field(default_factory=dict)
    #: why `up` / `down` leave it alone (it may hold data, or its type is unknown); empty: they delete it
    kept_because: str = ""


def describe_error(err: BaseException) -> str:
    """One line: the AWS call, the error code and message, and a hint where we have one."""
    if isinstance(err, ClientError):
        op = err.operation_name
        code = error_code(err)
        msg = err.response.get("Error", {}).get("Message", "")
        hint = HINTS.get(code, "")
        return f"{op} failed: {code}: {msg}{(' - ' + hint) if hint else ''}"
    if isinstance(err, BotoCoreError):
        return f"{type(err).__name__}: {err}"
    return f"{type(err).__name__}: {err}" if not isinstance(err, EngineError) else str(err)


HINTS = {
    "AccessDenied": "the credentials in use lack this permission",
    "AccessDeniedException": "the credentials in use lack this permission",
    "UnauthorizedOperation": "the credentials in use lack this permission",
    "ExpiredToken": "the credentials have expired; refresh them (e.g. aws sso login)",
    "LimitExceeded": "an account quota is reached; raise it or remove unused resources",
    "VpcLimitExceeded": "the account's VPC quota is reached",
}


@dataclass
class Runner:
    """One stack's engine run: its blueprint, its state, its AWS clients."""

    blueprint: Blueprint
    store: Any  # LocalStateStore or S3StateStore: the same methods
    state: StateDocument
    clients: ClientFactory
    facts: Facts
    user_tags: dict[str, str] = field(default_factory=dict)
    timeouts: dict[str, float] = field(default_factory=dict)
    workers: int = 8
    listener: Listener = field(default=lambda e: None)
    stop: threading.Event = field(default_factory=threading.Event)
    #: how many resources were created / updated / deleted this run (for the summary)
    tally: dict[str, int] = field(default_factory=lambda: {CREATE: 0, UPDATE: 0, REPLACE: 0, DELETE: 0})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: addresses refresh looked for by name or tags
    _searched: set[str] = field(default_factory=set, repr=False)
    #: lookups the reads of the current refresh share (None outside a refresh)
    _shared: dict[Any, Any] | None = field(default=None, repr=False)
    #: address -> the id refresh found for it that `state rm` released: never taken back, never duplicated
    _released_found: dict[str, str] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------- helpers

    def ctx(self, address: str, kind: str) -> NodeContext:
        rt = resource_type(kind)
        return NodeContext(
            address=address,
            clients=self.clients,
            facts=self.facts,
            tags=node_tags(self.state, address, self.user_tags) if rt.taggable else {},
            timeout=self.timeouts.get(kind, rt.timeout),
            on_created=lambda id_: self._record_created(address, kind, id_),
            on_progress=lambda msg: self.listener(Event("progress", address, message=msg)),
            shared=self._shared,
        )

    def _save(self) -> None:
        self.store.save(self.state)

    def is_protected(self, address: str) -> bool:
        """Protected resources are never deleted or replaced until the protection is lifted. Undecided (a
        resource not yet recorded, or a state written before protection existed): protected if it holds data."""
        rs = self.state.resources.get(address)
        if rs is not None and rs.protected is not None:
            return rs.protected
        return resource_type(self._kind_of(address)).stateful

    def settle_protection(self) -> list[str]:
        """Write each undecided protection (a state from before protection existed) as its kind's default."""
        settled = []
        for address, rs in self.state.resources.items():
            if rs.protected is None and rs.kind in REGISTRY:
                rs.protected = resource_type(rs.kind).stateful
                settled.append(address)
        return settled

    def _record_created(self, address: str, kind: str, id_: str) -> None:
        node = self.blueprint.nodes.get(address)
        deps = sorted(node.refs()) if node else []
        with self._lock:
            self.state.resources[address] = ResourceState(
                kind=kind, id=id_, status="creating", depends_on=deps, protected=self.is_protected(address)
            )
            self._save()

    def _record(self, address: str, kind: str, obs: Observed, props: Mapping[str, Any]) -> None:
        rt = resource_type(kind)
        node = self.blueprint.nodes.get(address)
        stored = {k: v for k, v in props.items() if k not in rt.sensitive_fields}
        with self._lock:
            protected = self.is_protected(address)
            if self.is_released(kind, obs.id):
                self.state.released.pop(obs.id)  # taken back
            self.state.resources[address] = ResourceState(
                kind=kind,
                id=obs.id,
                attrs=dict(obs.attrs),
                props=stored,
                depends_on=sorted(node.refs()) if node else [],
                protected=protected,
            )
            self._save()

    def _forget(self, address: str) -> None:
        with self._lock:
            if self.state.resources.pop(address, None) is not None:
                self._save()

    def is_released(self, kind: str, id_: str) -> bool:
        """Whether `state rm` let go of the ``kind`` resource ``id_`` (released ids are kept with their address,
        whose kind tells a role from the instance profile of the same name)."""
        address = self.state.released.get(id_)
        return address is not None and address.rsplit(".", 1)[0] == kind

    def _kind_of(self, address: str) -> str:
        node = self.blueprint.nodes.get(address)
        return node.kind if node else self.state.resources[address].kind

    def full_graph(self) -> nx.DiGraph:
        """The blueprint's graph plus what only the state knows (resources the config dropped)."""
        g = self.blueprint.graph()
        for address, rs in self.state.resources.items():
            g.add_node(address, kind=rs.kind)
            for dep in rs.depends_on:
                if dep in self.state.resources or dep in self.blueprint.nodes:
                    g.add_edge(dep, address)
        return g

    # ------------------------------------------------------------- refresh

    def refresh(self, others_ok: bool = False) -> dict[str, Observed | None]:
        """Read everything this stack has: by id where the state knows it, else find by name or tags.

        A resource found by a node's name that belongs to something else stops the refresh (``up`` cannot make the
        node beside it); with ``others_ok`` (``down``) it is simply not this stack's, and left alone."""
        observed: dict[str, Observed | None] = {}
        # One batched read per type for every id the state knows.
        by_kind: dict[str, list[str]] = {}
        for address, rs in self.state.resources.items():
            by_kind.setdefault(rs.kind, []).append(address)
        resource_type(next(iter(by_kind), "ec2.vpc"))  # loads the registry
        unknown = sorted(a for k, addresses in by_kind.items() if k not in REGISTRY for a in addresses)
        if unknown:
            kinds = sorted({self.state.resources[a].kind for a in unknown})
            raise EngineError(
                f"the state holds {', '.join(unknown)} of type {', '.join(kinds)}, which this mfprov does not know "
                "(was it written by a newer mfprov?). Upgrade mfprov, or `mfprov state rm` them to let go of them."
            )
        # Reads are independent: a type with a batched read makes one task, any other one task per resource,
        # and the tasks run on the worker pool (a refresh is otherwise one round trip after another).
        batches: list[tuple[str, list[str]]] = []
        for kind, addresses in by_kind.items():
            if type(resource_type(kind)).read_many is Resource.read_many:
                batches += [(kind, [a]) for a in addresses]
            else:
                batches.append((kind, addresses))

        def read(batch: tuple[str, list[str]]) -> dict[str, Observed | None]:
            kind, addresses = batch
            found = resource_type(kind).read_many(
                self.ctx(addresses[0], kind), [self.state.resources[a].id for a in addresses]
            )
            return {a: found.get(self.state.resources[a].id) for a in addresses}

        # What this refresh reads, per type: a service whose one call serves several types (ELB's DescribeTags)
        # can then make it once for all of them.
        self._shared = {"ids": {k: [self.state.resources[a].id for a in addresses] for k, addresses in by_kind.items()}}
        try:
            with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="mfprov-read") as pool:
                for part in pool.map(read, batches):
                    observed.update(part)
        finally:
            self._shared = None
        self._refuse_foreign({a: o for a, o in observed.items() if o is not None})
        # Then look for what the state does not know, parents first so refs resolve; and for what the state knows
        # by an id that names nothing (a state restored from before a replacement): a live resource with this
        # node's identity is then the node, adopted rather than made twice and swept.
        stale = {a for a, o in observed.items() if o is None}
        attrs: dict[str, Mapping[str, Any]] = {a: o.attrs for a, o in observed.items() if o is not None}

        def find(address: str) -> None:
            if address not in self.blueprint.nodes or (address in observed and address not in stale):
                return
            node = self.blueprint.nodes[address]
            rt = resource_type(node.kind)
            raw = resolve(node.props, attrs)
            if has_unknown(raw):
                observed[address] = None  # looked for again at create time, when its refs are known
                return
            with self._lock:
                self._searched.add(address)
            ctx = self.ctx(address, node.kind)
            props = rt.parse_props(raw)
            id_ = rt.find(ctx, props)
            if id_ and self.is_released(node.kind, id_):
                # `state rm` let go of it: not this stack's any more until `mfprov import` takes it back.
                with self._lock:
                    self._released_found[address] = id_
                id_ = None
            obs = rt.read(ctx, id_) if id_ else None
            if obs is not None:
                try:
                    self._check_ours(rt, ctx, address, obs, props)
                except NotOurs as err:
                    if not others_ok:
                        raise
                    self.listener(Event("progress", address, message=f"left alone: {err}"))
                    obs = None
            observed[address] = obs
            if obs is not None:
                with self._lock:
                    attrs[address] = obs.attrs

        if any(a not in observed or a in stale for a in self.blueprint.nodes):
            result = run_graph(self.blueprint.graph(), find, self.workers, self.stop)
            failed = result.failed
            if failed:
                address, outcome = next(iter(failed.items()))
                raise EngineError(f"{address}: {describe_error(outcome.error)}") from outcome.error  # type: ignore[arg-type]
        return observed

    def record_found(self, observed: Mapping[str, Observed | None]) -> list[str]:
        """Put into the state what exists but the state does not know (found by name or tags, e.g. made by a
        run that died before saving its id), or knows only as "creating". Returns their addresses."""
        adopted: list[str] = []
        attrs = {a: o.attrs for a, o in observed.items() if o is not None}
        for address, obs in observed.items():
            node = self.blueprint.nodes.get(address)
            rs = self.state.resources.get(address)
            if obs is None or node is None or (rs is not None and rs.id == obs.id and rs.status == "ready"):
                continue
            raw = resolve(node.props, attrs)
            props = {} if has_unknown(raw) else resource_type(node.kind).parse_props(raw).model_dump(mode="json")
            self._record(address, node.kind, obs, props)
            adopted.append(address)
        return adopted

    def sweep(self, observed: Mapping[str, Observed | None]) -> list[Unmanaged]:
        """Everything tagged with this stack that neither the state nor refresh knows, by one paginated
        Resource Groups Tagging API query (types it does not list, like IAM, have unique names instead).

        The tagging API lags behind deletes, so each candidate is confirmed by a read of its own type.
        """
        known = {(rs.kind, rs.id) for rs in self.state.resources.values()}
        known |= {(self._kind_of(a), o.id) for a, o in observed.items() if o is not None}
        tagging = self.clients.client("resourcegroupstaggingapi")
        found: list[Unmanaged] = []
        # The whole identity, not the name: another stack of the same name (another suffix, prefix or region)
        # is never taken for this one's leftovers.
        pages = tagging.get_paginator("get_resources").paginate(
            TagFilters=[{"Key": TAG_STACK_ID, "Values": [self.state.stack_id or self.state.stack]}],
            ResourcesPerPage=100,
        )
        for page in pages:
            for item in page.get("ResourceTagMappingList", []):
                tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
                address = tags.get(TAG_ADDRESS, "")
                kind = address.rsplit(".", 1)[0]
                arn = item["ResourceARN"]
                if kind not in REGISTRY:
                    found.append(Unmanaged(address or "?", kind or "?", arn, arn, kept_because="unknown type"))
                    continue
                rt = resource_type(kind)
                if rt.arn_type and arn_type_of(arn) != rt.arn_type:
                    continue  # another thing carrying the address's tags (a snapshot of it, a task of it)
                id_ = rt.id_from_arn(arn)
                if not id_ or (kind, id_) in known or self.is_released(kind, id_):
                    continue
                ctx = self.ctx(address, kind)
                obs = rt.read(ctx, id_)
                if obs is None or (rt.taggable and not ctx.owns(obs.props.get("tags") or {})):
                    continue  # gone already, or another of the address's things (a task, a snapshot)
                known.add((kind, id_))
                why = (
                    "it may hold data; delete it yourself, or `mfprov import` it"
                    if rt.stateful and not rt.recoverable_delete
                    else ""
                )
                found.append(Unmanaged(address, kind, id_, arn, dict(obs.attrs), kept_because=why))
        return sorted(found, key=lambda u: (u.address, u.id))

    def delete_unmanaged(self, items: list[Unmanaged]) -> RunResult:
        """Delete the sweep's finds that hold no data. They have no graph: dependents are whatever fails with a
        dependency error, so each round retries what is left until a round deletes nothing more."""
        result = RunResult()
        # Never what this run has just adopted or recorded (a live resource found for a stale id).
        known = {(rs.kind, rs.id) for rs in self.state.resources.values()}
        todo = [u for u in items if not u.kept_because and (u.kind, u.id) not in known]
        while todo and not self.stop.is_set():
            failed: list[Unmanaged] = []
            for u in todo:
                rt = resource_type(u.kind)
                ctx = self.ctx(u.address, u.kind)
                started = time.monotonic()
                self.listener(Event("start", u.address, DELETE, message=f"unmanaged {u.id}"))
                try:
                    rt.delete(ctx, u.id, u.attrs, None)
                except ClientError as err:
                    if not rt.missing(err):
                        result.outcomes[f"{u.address}#{u.id}"] = Outcome("failed", error=err)
                        failed.append(u)
                        continue
                result.outcomes[f"{u.address}#{u.id}"] = Outcome("done", elapsed=time.monotonic() - started)
                with self._lock:
                    self.tally[DELETE] += 1
                self.listener(Event("done", u.address, DELETE, message=u.id, elapsed=time.monotonic() - started))
            if len(failed) == len(todo):
                break
            todo = failed
        self._announce_failures(result)
        return result

    def forget_stale(self, observed: Mapping[str, Observed | None]) -> list[str]:
        """Drop state records of resources the config no longer has and AWS no longer has either."""
        stale = [a for a in self.state.resources if a not in self.blueprint.nodes and observed.get(a) is None]
        for address in stale:
            self._forget(address)
        return stale

    def _check_ours(
        self, rt: Resource[Any], ctx: NodeContext, address: str, obs: Observed, props: Any = None
    ) -> None:
        """A resource found by this node's unique name or tags is taken only if its tags say it is this node.

        One that takes no tags is this node's when it lives under a parent of this stack (a route in its route
        table, a method in its API); otherwise (a DNS record in the user's zone, an alias by name) only when it is
        exactly what the config asks for (a create whose answer was lost): a record of the same name that points
        elsewhere is someone's, and adopting it would repoint it, and `down` delete it."""
        if not rt.taggable:
            node = self.blueprint.nodes.get(address)
            if node is None or props is None or any(any(iter_refs(node.props.get(f))) for f in rt.replace_on):
                return
            differ = [c.field for c in diff(rt, props.model_dump(mode="json"), obs.props)]
            if differ:
                raise NotOurs(
                    f"{address}: {obs.id} already exists and is not this stack's (it takes no tags, and its "
                    f"{', '.join(differ)} differ from the config); mfprov will not take it over: remove it, or "
                    "choose another name."
                )
            return
        tags = obs.props.get("tags") or {}
        if TAG_STACK not in tags and rt.adoptable_untagged(ctx, obs):
            self.listener(Event("progress", address, message=f"taking over untagged {obs.id} (an interrupted create)"))
            return
        if not ctx.owns(tags):
            raise NotOurs(
                f"{address}: {obs.id} already exists and belongs to {owner_of(tags)}. mfprov will not take it over; "
                "choose another prefix/suffix or name, or remove it."
            )

    def not_ours(self, address: str, kind: str, obs: Observed) -> str | None:
        """Why a resource the state or an import names by id may not be changed or deleted as ``address`` (it
        carries another stack's identity, or is another node of this one), or None when it may be."""
        rt = resource_type(kind)
        if not rt.taggable:
            # Identified by its parent and a name (a route by its table and destination, an alias by its name):
            # those never change in place, so they must read as they were recorded when this stack made it.
            rs = self.state.resources.get(address)
            recorded = {k: v for k, v in (rs.props if rs else {}).items() if k in rt.replace_on}
            moved = [c for c in diff(rt, recorded, obs.props) if c.forces_replacement]
            if moved:
                what = ", ".join(f"{c.field} is {c.actual!r}, not {c.expected!r}" for c in moved)
                return f"is not the resource this stack made ({what})"
            return None
        tags = obs.props.get("tags") or {}
        if tags.get(TAG_STACK_ID):
            if tags[TAG_STACK_ID] != self.state.stack_id:
                return f"belongs to {owner_of(tags)}"
        elif TAG_STACK in tags and tags[TAG_STACK] != self.state.stack:
            return f"belongs to {owner_of(tags)}"
        # No mfprov tags (made elsewhere and imported, or untagged out of band), or this stack's name alone (a
        # stack from before identities; the next `up` adds it): ours, since the state names it.
        if TAG_ADDRESS in tags and TAG_STACK in tags and tags[TAG_ADDRESS] != address:
            return f"is {tags[TAG_ADDRESS]} of this stack"
        return None

    def _refuse_foreign(self, observed: Mapping[str, Observed]) -> None:
        """Refuse the whole run, before any change, when the state names a resource that is not this stack's
        (a hand-edited or restored state, another stack's id): it would be re-tagged, changed or deleted."""
        bad = []
        for address, obs in sorted(observed.items()):
            why = self.not_ours(address, self.state.resources[address].kind, obs)
            if why:
                bad.append(f"{address} ({obs.id}) {why}")
        if bad:
            raise Foreign(
                f"the state names resources that are not this stack's: {'; '.join(bad)}. mfprov changes and deletes "
                "only its own; `mfprov state rm ADDRESS` drops such a record (nothing in AWS is touched)."
            )

    def plan(self, observed: Mapping[str, Observed | None], unmanaged: list[Unmanaged] | None = None) -> Plan:
        plan = make_plan(self.blueprint, self.state, observed, self.user_tags)
        plan.unmanaged = [u.address + " " + u.id for u in unmanaged or [] if not u.kept_because]
        return plan

    def protected_changes(self, plan: Plan) -> list[Action]:
        """The plan's replacements and deletions of protected resources: refused, never done on the way."""
        return [a for a in plan.actions if a.action in (REPLACE, DELETE) and self.is_protected(a.address)]

    # --------------------------------------------------------------- apply

    def apply(
        self, plan: Plan, observed: dict[str, Observed | None], unmanaged: list[Unmanaged] | None = None
    ) -> RunResult:
        """Replace (delete first, dependents before dependencies), then create/update, then delete orphans,
        then what the sweep found that holds no data."""
        actions = {a.address: a for a in plan.actions}
        replaced = [a.address for a in plan.actions if a.action == REPLACE]
        if replaced:
            full = self.blueprint.graph()
            closure = nx.transitive_closure_dag(full)
            sub: nx.DiGraph = nx.DiGraph()
            sub.add_nodes_from(replaced)
            sub.add_edges_from((b, a) for a, b in closure.subgraph(replaced).edges)
            res = run_graph(sub, lambda addr: self._delete_node(addr, "replace"), self.workers, self.stop)
            if not res.ok:
                return res
            for a in replaced:
                observed[a] = None
        attrs: dict[str, Mapping[str, Any]] = {a: o.attrs for a, o in observed.items() if o is not None}
        g = self.blueprint.graph()

        def work(address: str) -> str:
            act = actions[address]
            verb = act.action
            if verb == NOOP:
                return verb
            node = self.blueprint.nodes[address]
            rt = resource_type(node.kind)
            raw = resolve(node.props, attrs)
            if has_unknown(raw):
                raise EngineError(f"{address}: a resource it refers to has no attributes yet")
            props = rt.parse_props(raw)
            ctx = self.ctx(address, node.kind)
            started = time.monotonic()
            self.listener(Event("start", address, verb))
            obs = observed.get(address)
            if obs is None:
                obs, verb = self._create(rt, ctx, address, props, verb)
            else:
                verb = self._update(rt, ctx, address, props, obs)
            with self._lock:
                attrs[address] = obs.attrs
            self._record(address, node.kind, obs, props.model_dump(mode="json"))
            self.listener(Event("done", address, verb, elapsed=time.monotonic() - started))
            return verb

        result = run_graph(g, work, self.workers, self.stop)
        self._announce_failures(result)
        orphans = [a.address for a in plan.actions if a.action == DELETE]
        if orphans and result.ok:
            og = self.full_graph().subgraph(orphans).reverse()
            res = run_graph(og, lambda addr: self._delete_node(addr, DELETE), self.workers, self.stop)
            self._announce_failures(res)
            result.outcomes.update(res.outcomes)
            result.interrupted |= res.interrupted
        if unmanaged and result.ok:
            res = self.delete_unmanaged(unmanaged)
            result.outcomes.update(res.outcomes)
        return result

    def _create(self, rt: Resource[Any], ctx: NodeContext, address: str, props: Any, verb: str) -> tuple[Observed, str]:
        released = self._released_found.get(address)
        if released is not None:
            raise EngineError(
                f"{address}: {released} carries this node's name or tags but was released with `mfprov state rm`; "
                f"mfprov neither takes it back nor makes a second one beside it. `mfprov import {address} "
                f"{released}` takes it back; or delete it, or give the stack another prefix/suffix."
            )
        if address not in self._searched and verb != REPLACE:
            # Refresh could not look for it (it refers to something that did not exist yet): look now, so a
            # resource with this name is never created twice or taken over unseen (S3 in us-east-1 answers
            # CreateBucket on an existing bucket of the account with success).
            found = rt.find(ctx, props)
            if found and self.is_released(rt.kind, found):
                raise EngineError(
                    f"{address}: {found} was released with `mfprov state rm`; mfprov will not take it back or make "
                    f"a second one. `mfprov import {address} {found}` takes it back."
                )
            existing = rt.read(ctx, found) if found else None
            if existing is not None:
                self._check_ours(rt, ctx, address, existing, props)
                self.listener(Event("progress", address, message=f"found {existing.id}: adopted"))
                self._update(rt, ctx, address, props, existing)
                return existing, "adopt"
        try:
            id_ = rt.create(ctx, props)
        except ClientError as err:
            if not rt.duplicate(err):
                raise
            # It exists already (a run that died before saving its id, or a race): adopt it if it is ours.
            found = rt.find(ctx, props)
            if found and self.is_released(rt.kind, found):
                raise EngineError(
                    f"{address}: {found} exists and was released with `mfprov state rm`; mfprov will not take it "
                    f"back. `mfprov import {address} {found}` does."
                ) from err
            obs = rt.read(ctx, found) if found else None
            if obs is None:
                raise
            self._check_ours(rt, ctx, address, obs, props)
            self.listener(Event("progress", address, message=f"adopted existing {obs.id}"))
            self._update(rt, ctx, address, props, obs)  # refreshes obs in place when it changes anything
            return obs, "adopt"
        obs = rt.read(ctx, id_)
        if obs is None:
            raise EngineError(f"{address}: created {id_}, but it cannot be read back")
        # A create that did not take all it was given (an API that accepts a setting only afterwards, a stand-in
        # AWS that drops one) is put right now, so one `up` converges; when all was taken this costs nothing.
        left = diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags if rt.taggable else None)
        if left and not any(c.forces_replacement for c in left):
            self.listener(
                Event("progress", address, message=f"setting {', '.join(c.field for c in left)} after create")
            )
            rt.update(ctx, obs.id, props, obs, {c.field for c in left})
            obs = self._read_back(rt, ctx, address, id_, props, "after create")
        with self._lock:
            self.tally[CREATE if verb != REPLACE else REPLACE] += 1
        return obs, verb if verb == REPLACE else CREATE

    def _update(self, rt: Resource[Any], ctx: NodeContext, address: str, props: Any, obs: Observed) -> str:
        changes = diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags if rt.taggable else None)
        if not changes:
            return NOOP
        forced = [c.field for c in changes if c.forces_replacement]
        if forced:
            raise EngineError(
                f"{address}: {', '.join(forced)} changed while applying and forces replacement; run `mfprov up` again"
            )
        rt.update(ctx, obs.id, props, obs, {c.field for c in changes})
        fresh = self._read_back(rt, ctx, address, obs.id, props, "")
        obs.props, obs.attrs = fresh.props, fresh.attrs
        with self._lock:
            self.tally[UPDATE] += 1
        return UPDATE

    def _read_back(
        self, rt: Resource[Any], ctx: NodeContext, address: str, id_: str, props: Any, when: str
    ) -> Observed:
        """Read a resource after setting fields, until they read as set: a field AWS did not take is an error,
        never a success. Reads may lag a write for a moment on AWS, so a short wait comes before the verdict."""
        want = props.model_dump(mode="json")
        tags = ctx.tags if rt.taggable else None
        last: list[Observed | None] = [None]

        def taken() -> bool | str:
            last[0] = rt.read(ctx, id_)
            if last[0] is None:
                return "not readable yet"
            left = [c for c in diff(rt, want, last[0].props, tags) if not c.forces_replacement]
            return True if not left else "still differs: " + ", ".join(c.field for c in left)

        try:
            wait_for(f"{address}: the fields set {when}".rstrip(), taken, READ_BACK_DEADLINE, max_interval=2.0)
        except WaitTimeout:
            obs = last[0]
            if obs is None:
                raise EngineError(f"{address}: {id_} vanished while being updated") from None
            left = [c.field for c in diff(rt, want, obs.props, tags) if not c.forces_replacement]
            raise EngineError(
                f"{address}: AWS did not take {', '.join(left)} on {id_} (set {when or 'by this update'}, read back "
                "different); nothing else of it is wrong. Check the value, or the account's limits, and run "
                "`mfprov up` again."
            ) from None
        assert last[0] is not None
        return last[0]

    def _delete_node(self, address: str, verb: str) -> str:
        rs = self.state.resources.get(address)
        kind = self._kind_of(address)
        rt = resource_type(kind)
        if rs is None:
            return NOOP
        props = self._delete_props(address, rt, rs)
        ctx = self.ctx(address, kind)
        started = time.monotonic()
        self.listener(Event("start", address, verb))
        for attempt in range(3):
            try:
                rt.delete(ctx, rs.id, rs.attrs, props)
            except ClientError as err:
                if not rt.missing(err):
                    raise
                # A not-found may come from one step of the delete (a retried request whose first try went
                # through): only a read that finds nothing proves the resource gone.
                if rt.read(ctx, rs.id) is not None:
                    if attempt < 2:
                        continue
                    raise EngineError(
                        f"{address}: {rs.id} still exists after deleting it: {describe_error(err)}"
                    ) from err
            break
        self._forget(address)
        with self._lock:
            self.tally[DELETE] += 1
        self.listener(Event("done", address, verb, elapsed=time.monotonic() - started))
        return verb

    def _delete_props(self, address: str, rt: Resource[Any], rs: ResourceState) -> Any:
        """The props a delete goes by: today's config (``force_destroy`` switched on just now counts),
        else what the state recorded, else None (delete needs only the id)."""
        node = self.blueprint.nodes.get(address)
        candidates = []
        if node is not None:
            with self._lock:  # other workers forget what they deleted meanwhile
                known = {a: r.attrs for a, r in self.state.resources.items()}
            raw = resolve(node.props, known)
            if not has_unknown(raw):
                candidates.append(raw)
        candidates.append(rs.props)
        for raw in candidates:
            try:
                return rt.parse_props(raw) if raw else None
            except ValueError:  # props of an older blueprint may no longer validate
                continue
        return None

    def _announce_failures(self, result: RunResult) -> None:
        for address, o in result.outcomes.items():
            if o.status == "failed" and o.error is not None:
                self.listener(Event("failed", address, message=describe_error(o.error), elapsed=o.elapsed))
            elif o.status == "skipped":
                self.listener(Event("skipped", address, message=f"skipped: {o.because} failed"))

    # ------------------------------------------------------------- destroy

    def kept_by_protection(self, present: list[str], lifted: set[str]) -> list[str]:
        """What `down` leaves: the protected resources (minus those whose protection is lifted for this run)
        and everything they need to exist (a database keeps its subnets, its key, its secret; not the NAT gateway
        a notebook was made after, nor the load balancer whose name is in its start script)."""
        g = self.full_graph()
        for address, node in self.blueprint.nodes.items():
            g.remove_edges_from([(dep, address) for dep in list(g.predecessors(address)) if dep not in node.needs()])
        keep: set[str] = set()
        for address in present:
            if address not in lifted and self.is_protected(address):
                keep |= {address} | (nx.ancestors(g, address) if address in g else set())
        return sorted(a for a in keep if a in present)

    def destroy(
        self,
        observed: Mapping[str, Observed | None],
        unmanaged: list[Unmanaged] | None = None,
        keep: list[str] | None = None,
    ) -> RunResult:
        """Delete everything of this stack that exists but ``keep``, dependents before what they depend on;
        first what the sweep found (a twin may sit inside one of the stack's networks)."""
        for address, obs in observed.items():
            if obs is not None and address not in self.state.resources:
                # Found by name or tags but unknown to the state (a lost id): record it so it is deleted.
                node = self.blueprint.nodes[address]
                self.state.resources[address] = ResourceState(
                    kind=node.kind,
                    id=obs.id,
                    attrs=dict(obs.attrs),
                    depends_on=sorted(node.refs()),
                    protected=self.is_protected(address),
                )
        for address in list(self.state.resources):
            if address in observed and observed[address] is None:
                self._forget(address)  # already gone
        swept = self.delete_unmanaged(unmanaged) if unmanaged else RunResult()
        g = self.full_graph()
        present = [a for a in g.nodes if a in self.state.resources and a not in set(keep or [])]
        order = g.subgraph(present).reverse()
        result = run_graph(order, lambda a: self._delete_node(a, DELETE), self.workers, self.stop)
        self._announce_failures(result)
        result.outcomes.update(swept.outcomes)
        return result


#: status -> the class of drift it belongs to (see docs/drift-schema.md)
DRIFT_CLASSES = {
    "changed": "changed",  # fields differ from the config
    "missing": "missing",  # in the state, gone from AWS
    "unmanaged": "unmanaged",  # carries the stack's tags, unknown to the state
    "not created": "pending",  # in the config, never created
    "removed from config": "pending",  # in the state and AWS, no longer in the config
    "incomplete": "state",  # the state holds a create that never finished
    "stale": "state",  # the state holds a resource that neither the config nor AWS has
    "stale id": "state",  # the state's id names nothing, while a resource with the node's identity exists
}


@dataclass
class DriftItem:
    address: str
    kind: str
    status: str  # a key of DRIFT_CLASSES
    id: str | None = None
    changes: list[FieldChange] = field(default_factory=list)
    #: what `up` does about it, or why it cannot
    repair: str = ""

    @property
    def drift_class(self) -> str:
        return DRIFT_CLASSES[self.status]


def drift_report(
    runner: Runner, observed: Mapping[str, Observed | None], unmanaged: list[Unmanaged] | None = None
) -> list[DriftItem]:
    items: list[DriftItem] = []
    plan = runner.plan(observed)
    protected = {a.address for a in runner.protected_changes(plan)}
    for act in plan.actions:
        rs = runner.state.resources.get(act.address)
        if act.action == CREATE:
            status = "missing" if rs is not None else "not created"
            items.append(DriftItem(act.address, act.kind, status, rs.id if rs else None, repair="create"))
        elif act.action in (UPDATE, REPLACE):
            if all(c.field.startswith("(refers to ") for c in act.changes):
                continue  # nothing drifted here: it is looked at again after what it names is replaced
            known = [c for c in act.changes if not has_unknown(c.expected)]
            if act.address in protected:
                repair = "none: the fix replaces it, and it is protected (`mfprov state unprotect` lifts that)"
            else:
                repair = "update in place" if act.action == UPDATE else f"replace ({', '.join(act.replace_reasons)})"
            items.append(DriftItem(act.address, act.kind, "changed", act.id, known or act.changes, repair=repair))
        elif act.action == DELETE:
            repair = "none: it is protected (`mfprov state unprotect` lifts that)" if act.address in protected else ""
            items.append(DriftItem(act.address, act.kind, "removed from config", act.id, repair=repair or "delete"))
        if rs is not None and rs.status == "creating" and observed.get(act.address) is not None:
            items.append(DriftItem(act.address, act.kind, "incomplete", rs.id, repair="record it as created"))
    for address, rs in runner.state.resources.items():
        obs = observed.get(address)
        if address not in runner.blueprint.nodes and obs is None:
            items.append(DriftItem(address, rs.kind, "stale", rs.id, repair="forget it"))
        elif obs is not None and obs.id != rs.id:
            items.append(DriftItem(address, rs.kind, "stale id", rs.id, repair=f"record {obs.id}, found by its tags"))
    for u in unmanaged or []:
        repair = f"none: {u.kept_because}" if u.kept_because else "delete"
        items.append(DriftItem(u.address, u.kind, "unmanaged", u.id, repair=repair))
    return items


def stamp(state: StateDocument, facts: Facts) -> None:
    state.account_id = facts.account_id
    state.region = facts.region
    state.availability_zones = list(facts.availability_zones)
    state.updated_at = now()
