"""The contract between the engine and the resource classes.

A resource class declares, as data, what the engine needs (service, kind, which fields force
replacement, which fields compare as sets or as IAM policies, its not-found and duplicate error
codes) and implements only the hooks: ``find``, ``read``, ``create``, ``update``, ``delete``.

Desired properties arrive as a validated pydantic model (``Props``). In the blueprint a property
may be a :class:`Ref` to another resource's attribute; the engine resolves refs before calling a
hook, and those refs are the edges of the graph.

``read`` returns :class:`Observed`: the id, the managed properties in the same shape as
``Props.model_dump(mode="json")`` (plus ``tags`` for taggable types), and ``attrs`` - the values
other resources may reference (``id``, ``arn``, ``name``...). Only fields mfprov sets are read
back, so nothing AWS computes can cause a false drift.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

# re-exported: resource modules take the whole contract from here
from provisioner.core.errors import GENERIC_NOT_FOUND as GENERIC_NOT_FOUND
from provisioner.core.errors import error_code as error_code
from provisioner.core.errors import error_message as error_message
from provisioner.core.errors import is_not_found as is_not_found
from provisioner.core.tags import TAG_ADDRESS as TAG_ADDRESS
from provisioner.core.tags import TAG_MANAGED_BY as TAG_MANAGED_BY
from provisioner.core.tags import TAG_STACK as TAG_STACK
from provisioner.core.tags import TAG_STACK_ID as TAG_STACK_ID

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext




class Ref(BaseModel):
    """A reference to an attribute of another resource: ``Ref(address="ec2.vpc.main", attr="id")``."""

    model_config = ConfigDict(frozen=True)

    address: str
    attr: str = "id"

    def __str__(self) -> str:
        return f"${{{self.address}.{self.attr}}}"


class Props(BaseModel):
    """Base of every resource's desired-properties model."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=Props)


@dataclass
class Observed:
    """What exists in AWS for one resource, limited to what mfprov manages."""

    id: str
    props: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)



def arn_resource(arn: str) -> str:
    """The resource part of an ARN: ``arn:aws:ec2:r:a:vpc/vpc-1`` -> ``vpc/vpc-1``."""
    parts = arn.split(":", 5)
    return parts[5] if len(parts) == 6 else arn


def arn_type_of(arn: str) -> str:
    """``vpc`` of ``...:vpc/vpc-1``, ``db`` of ``...:db:name``, ``service`` of ``...:service/c/n``."""
    return arn_resource(arn).lstrip("/").split("/", 1)[0].split(":", 1)[0]


def default_id_from_arn(arn: str) -> str:
    """``vpc/vpc-1`` -> ``vpc-1``, ``db:name`` -> ``name``, ``bucket`` -> ``bucket``, ``/restapis/x`` -> ``x``."""
    resource = arn_resource(arn).lstrip("/")
    if "/" in resource:
        return resource.rsplit("/", 1)[1]
    if ":" in resource:
        return resource.split(":", 1)[1]
    return resource


def tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """``{"a": "b"}`` -> ``[{"Key": "a", "Value": "b"}]`` (the EC2/IAM/S3/DynamoDB shape)."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(tags: Iterable[Mapping[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    """The inverse of :func:`tag_list`, dropping AWS's own ``aws:*`` tags."""
    out: dict[str, str] = {}
    for t in tags or []:
        k = t[key]
        if not k.startswith("aws:"):
            out[k] = t.get(value, "")
    return out


def policy_json(doc: Mapping[str, Any] | str) -> str:
    """Policy documents are sent to AWS as compact JSON."""
    if isinstance(doc, str):
        return doc
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


class Resource(Generic[P]):
    """One AWS resource type. Subclasses set the class attributes and implement the hooks.

    Subclasses are stateless; one instance serves every node of its kind.
    """

    #: registry key and the kind stored in state, e.g. ``"ec2.vpc"``
    kind: ClassVar[str]
    #: boto3 service name, e.g. ``"ec2"``
    service: ClassVar[str]
    #: the pydantic model of the desired properties
    Props: ClassVar[type[Props]]
    #: fields whose change forces delete + create, with the reason shown in the plan
    replace_on: ClassVar[frozenset[str]] = frozenset()
    #: whether the engine gives it the stack tags (then ``read`` must return ``props["tags"]``)
    taggable: ClassVar[bool] = True
    #: list fields compared as sets (order does not matter)
    unordered: ClassVar[frozenset[str]] = frozenset()
    #: fields holding one IAM policy document, or a mapping name -> document
    policy_fields: ClassVar[frozenset[str]] = frozenset()
    #: fields that name other resources without holding on to them (a fingerprint of what a stage serves): when
    #: what they name is replaced, this resource is updated afterwards, not replaced with it (policy fields too)
    soft_ref_fields: ClassVar[frozenset[str]] = frozenset()
    #: numeric fields AWS may raise on its own (storage autoscaling): a larger actual value is no drift
    grow_only: ClassVar[frozenset[str]] = frozenset()
    #: fields never compared for drift: mfprov's own behaviour switches (``force_destroy``) and values
    #: set only on create that AWS or the service changes afterwards (a CE's desired vCPUs)
    behaviour_fields: ClassVar[frozenset[str]] = frozenset()
    #: fields never written to state or shown in a plan
    sensitive_fields: ClassVar[frozenset[str]] = frozenset()
    #: extra not-found codes besides the generic ``*NotFound`` / ``NoSuch*``
    not_found_codes: ClassVar[frozenset[str]] = frozenset()
    #: codes a create raises when the thing already exists (then the engine looks it up and adopts)
    duplicate_codes: ClassVar[frozenset[str]] = frozenset()
    #: whether the data it holds makes replace/delete risky (bucket, database, key)
    stateful: ClassVar[bool] = False
    #: whether its delete can be undone for a while (a KMS key is only scheduled for deletion): then a twin of
    #: it that carries the stack's tags may be deleted by the sweep although the type is stateful
    recoverable_delete: ClassVar[bool] = False
    #: the resource type its ARNs name (``db`` in ``arn:aws:rds:...:db:<name>``), where other things carry the
    #: same address tag (a database's snapshots, a service's tasks): the sweep then passes those by
    arn_type: ClassVar[str | None] = None
    #: default deadline, in seconds, for the waits of one create/update/delete
    timeout: ClassVar[float] = 600.0

    # ----------------------------------------------------------------- hooks

    def find(self, ctx: NodeContext, props: P) -> str | None:
        """The id of an existing resource that is this node (by its unique name, or by tags), else None."""
        raise NotImplementedError

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        """The managed properties and attributes of ``id``, or None when it does not exist."""
        raise NotImplementedError

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """Batched read; override where the API takes a list of ids. Missing ids are simply absent."""
        out: dict[str, Observed] = {}
        for i in ids:
            o = self.read(ctx, i)
            if o is not None:
                out[i] = o
        return out

    def create(self, ctx: NodeContext, props: P) -> str:
        """Create it, call ``ctx.created(id)`` as soon as the id is known, finish configuring it, wait
        until usable, and return the id. Tags to apply are ``ctx.tags``."""
        raise NotImplementedError

    def update(self, ctx: NodeContext, id: str, props: P, observed: Observed, changes: set[str]) -> None:
        """Bring the fields named in ``changes`` (never a ``replace_on`` field) to ``props``."""
        raise NotImplementedError

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: P | None) -> None:
        """Delete it and wait until it is gone. A not-found error counts as done (the engine catches it)."""
        raise NotImplementedError

    def forces_replacement(self, field: str, desired: Any, actual: Any) -> bool:
        """Whether bringing ``field`` from ``actual`` to ``desired`` needs a new resource: a ``replace_on`` field, or
        (override) a change of value the type's API cannot make in place."""
        return field in self.replace_on

    def update_renews_attrs(self, changes: set[str]) -> bool:
        """Whether updating these fields gives the resource new attributes (an ECS task definition registers a new
        revision, with a new ARN): then what refers to them is looked at again once the update is done."""
        return False

    def not_compared(self, desired: Mapping[str, Any]) -> frozenset[str]:
        """The fields drift does not compare for this desired state: the behaviour fields, and whatever the
        desired state itself hands to something else (an autoscaled service's task count)."""
        return self.behaviour_fields

    def adoptable_untagged(self, ctx: NodeContext, observed: Observed) -> bool:
        """Whether a found resource with no mfprov tags at all may be taken as this node's anyway.

        Only for types AWS cannot tag in their create call, where a run that died between the create and the
        tagging leaves the resource untagged; the type decides what makes that safe (e.g. an empty bucket).
        """
        return False

    def id_from_arn(self, arn: str) -> str:
        """This type's id for the resource with ``arn``, as the Resource Groups Tagging API lists it.

        The sweep for resources that carry the stack's tags but are unknown to the state (a twin left by a
        create whose answer was lost, a leftover of an interrupted delete) finds them by ARN; override where
        the id is not the ARN's last segment (the ARN itself, a name with a revision...).
        """
        return default_id_from_arn(arn)

    def secret_value(self, ctx: NodeContext, id: str) -> str:
        """A secret this resource holds (an API key's value), fetched when an output asks for it."""
        raise NotImplementedError(f"{self.kind} holds no secret")

    # ------------------------------------------------------- engine helpers

    def parse_props(self, raw: Mapping[str, Any]) -> P:
        return self.Props.model_validate(dict(raw))  # type: ignore[return-value]

    def missing(self, err: BaseException) -> bool:
        return is_not_found(err, self.not_found_codes)

    def duplicate(self, err: BaseException) -> bool:
        return error_code(err) in self.duplicate_codes


REGISTRY: dict[str, Resource[Any]] = {}

R = TypeVar("R", bound=type[Resource[Any]])


def register(cls: R) -> R:
    """Class decorator: make a resource type known to the engine under its ``kind``."""
    if cls.kind in REGISTRY:
        raise ValueError(f"resource kind {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls()
    return cls


def resource_type(kind: str) -> Resource[Any]:
    from resources import load_all

    load_all()

    try:
        return REGISTRY[kind]
    except KeyError:
        raise KeyError(f"unknown resource kind {kind!r}; known: {', '.join(sorted(REGISTRY))}") from None
