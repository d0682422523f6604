"""Application Auto Scaling: a scalable target (an ECS service's desired count, say) and a target-tracking
scaling policy on it.

Calls: RegisterScalableTarget, DescribeScalableTargets, DeregisterScalableTarget, PutScalingPolicy,
DescribeScalingPolicies, DeleteScalingPolicy.

Neither type is tagged. moto, and so the moto-server sandbox mfprov must work in, implements no tag call for
Application Auto Scaling (ListTagsForResource, TagResource); and neither needs tags to be found: both have a
deterministic, unique identity. A scalable target is identified by its service namespace, resource id and
scalable dimension; its id here is ``"<namespace>|<resource id>|<dimension>"`` (e.g.
``ecs|service/mlflow/mlflow|ecs:service:DesiredCount``). A scaling policy is identified by its target and its
name, id ``"<namespace>|<resource id>|<dimension>|<policy name>"``.

RegisterScalableTarget and PutScalingPolicy both create or update: neither ever answers "already exists", so
adoption rests on ``find`` (which the engine calls before any create): what is registered under the id is
taken over, with no ownership check.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from resources.base import Observed, Props, Resource, arn_resource, register

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

SERVICE = "application-autoscaling"
_SEP = "|"
#: DescribeScalableTargets takes at most 50 ResourceIds, DescribeScalingPolicies at most 50 PolicyNames
_BATCH = 50
#: another change of the same target is still in progress
_BUSY = ("ConcurrentUpdateException",)
#: an ECS service made seconds ago, or the service-linked role Application Auto Scaling creates on first use,
#: is not visible to it yet (eventual consistency)
_TARGET_NOT_YET = (
    "ValidationException:ECS service doesn't exist",
    "ValidationException:Unable to assume IAM role",
    *_BUSY,
)
#: a policy put right after its target was registered: AWS answers ObjectNotFoundException until the target is
#: visible to it; FailedResourceAccessException while the service-linked role cannot act yet
_POLICY_NOT_YET = (
    "ObjectNotFoundException",
    "FailedResourceAccessException:is not authorized",
    *_BUSY,
)


def _chunks(items: list[str], n: int = _BATCH) -> Iterator[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class _TargetKey(Props):
    """The three values that name a scalable target (shared by the target and the policy)."""

    service_namespace: str = "ecs"
    #: ``service/<cluster name>/<service name>`` for an ECS service
    resource_id: str
    scalable_dimension: str = "ecs:service:DesiredCount"

    @field_validator("service_namespace", "resource_id", "scalable_dimension")
    @classmethod
    def _no_separator(cls, v: str) -> str:
        # "|" separates the parts of the id; no AWS namespace, resource id or dimension contains one
        if not v or _SEP in v:
            raise ValueError(f"{v!r}: must be non-empty and contain no {_SEP!r}")
        return v

    @model_validator(mode="after")
    def _dimension_of_namespace(self) -> _TargetKey:
        # every dimension is "<namespace>:<resource type>:<property>"; a mismatch is refused by AWS at apply time
        if not self.scalable_dimension.startswith(f"{self.service_namespace}:"):
            raise ValueError(
                f"scalable_dimension {self.scalable_dimension!r} does not belong to namespace "
                f"{self.service_namespace!r}"
            )
        return self

    def key(self) -> tuple[str, str, str]:
        return self.service_namespace, self.resource_id, self.scalable_dimension


def _target_id(ns: str, rid: str, dim: str) -> str:
    return _SEP.join((ns, rid, dim))


def _split_target_id(id: str) -> tuple[str, str, str]:
    ns, rid, dim = id.split(_SEP)
    return ns, rid, dim


class _AppScaling(Resource[Any]):
    service = SERVICE
    #: what DeregisterScalableTarget / DeleteScalingPolicy answer for something that is not there
    not_found_codes: ClassVar = frozenset({"ObjectNotFoundException"})


# ------------------------------------------------------------ scalable target


class ScalableTargetProps(_TargetKey):
    #: 0 is allowed: a service scaled to zero
    min_capacity: int = Field(ge=0)
    max_capacity: int = Field(ge=0)

    @model_validator(mode="after")
    def _min_le_max(self) -> ScalableTargetProps:
        if self.min_capacity > self.max_capacity:
            raise ValueError(f"min_capacity {self.min_capacity} is larger than max_capacity {self.max_capacity}")
        return self


@register
class ScalableTarget(_AppScaling):
    """RegisterScalableTarget (create; and update of min/max), DescribeScalableTargets, DeregisterScalableTarget.

    Untaggable: moto (the sandbox mfprov must work in) has no tag calls for Application Auto Scaling, and a
    target needs no tags to be found: there is at most one per namespace + resource id + dimension, which is
    its id. ``find`` looks that id up; the engine adopts what it finds without a tag check, as for the policy.
    """

    kind = "appscaling.scalable_target"
    Props = ScalableTargetProps
    replace_on: ClassVar = frozenset({"service_namespace", "resource_id", "scalable_dimension"})
    taggable = False

    # ------------------------------------------------------------ lookups

    @staticmethod
    def _describe(ctx: NodeContext, ns: str, rids: list[str]) -> Iterator[dict[str, Any]]:
        pager = ctx.client(SERVICE).get_paginator("describe_scalable_targets")
        for batch in _chunks(rids):
            for page in pager.paginate(ServiceNamespace=ns, ResourceIds=batch):
                yield from page.get("ScalableTargets", [])

    def _get(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        ns, rid, dim = _split_target_id(id)
        for t in self._describe(ctx, ns, [rid]):
            if t["ResourceId"] == rid and t["ScalableDimension"] == dim:
                return t
        return None

    @staticmethod
    def _observed(t: Mapping[str, Any]) -> Observed:
        ns, rid, dim = t["ServiceNamespace"], t["ResourceId"], t["ScalableDimension"]
        id = _target_id(ns, rid, dim)
        props = {
            "service_namespace": ns,
            "resource_id": rid,
            "scalable_dimension": dim,
            "min_capacity": t.get("MinCapacity"),
            "max_capacity": t.get("MaxCapacity"),
        }
        arn = t.get("ScalableTargetARN")
        attrs = {"id": id, "arn": arn, "service_namespace": ns, "resource_id": rid, "scalable_dimension": dim}
        return Observed(id=id, props=props, attrs=attrs)

    # -------------------------------------------------------------- hooks

    def find(self, ctx: NodeContext, props: ScalableTargetProps) -> str | None:
        id = _target_id(*props.key())
        return id if self._get(ctx, id) is not None else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        t = self._get(ctx, id)
        return self._observed(t) if t is not None else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """One DescribeScalableTargets per namespace (50 resource ids a call)."""
        out: dict[str, Observed] = {}
        by_ns: dict[str, list[str]] = {}
        for id in ids:
            by_ns.setdefault(_split_target_id(id)[0], []).append(id)
        for ns, group in by_ns.items():
            rids = sorted({_split_target_id(i)[1] for i in group})
            seen = {_target_id(ns, t["ResourceId"], t["ScalableDimension"]): t for t in self._describe(ctx, ns, rids)}
            out.update({id: self._observed(seen[id]) for id in group if id in seen})
        return out

    def _register(self, ctx: NodeContext, props: ScalableTargetProps) -> None:
        ns, rid, dim = props.key()
        ctx.call(
            ctx.client(SERVICE).register_scalable_target,
            retry_on=_TARGET_NOT_YET,
            ServiceNamespace=ns,
            ResourceId=rid,
            ScalableDimension=dim,
            MinCapacity=props.min_capacity,
            MaxCapacity=props.max_capacity,
        )

    def create(self, ctx: NodeContext, props: ScalableTargetProps) -> str:
        self._register(ctx, props)
        id = _target_id(*props.key())
        ctx.created(id)
        # AWS documents a brief delay before a new target shows in DescribeScalableTargets
        ctx.wait("scalable target visible", lambda: self._get(ctx, id) is not None)
        return id

    def update(
        self, ctx: NodeContext, id: str, props: ScalableTargetProps, observed: Observed, changes: set[str]
    ) -> None:
        self._register(ctx, props)  # re-registering an existing target updates it; min/max are all it has

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ScalableTargetProps | None) -> None:
        ns, rid, dim = _split_target_id(id)
        # AWS deletes the target's scaling policies and scheduled actions with it
        ctx.call(
            ctx.client(SERVICE).deregister_scalable_target,
            retry_on=_BUSY,
            ServiceNamespace=ns,
            ResourceId=rid,
            ScalableDimension=dim,
        )
        ctx.wait("scalable target deregistered", lambda: self._get(ctx, id) is None)


# ------------------------------------------------------------ scaling policy


class ScalingPolicyProps(_TargetKey):
    name: str = Field(min_length=1, max_length=256)
    #: a PredefinedMetricType, e.g. ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization,
    #: ALBRequestCountPerTarget (which needs ``resource_label``)
    predefined_metric: str = "ECSServiceAverageCPUUtilization"
    #: ``app/<lb name>/<lb id>/targetgroup/<tg name>/<tg id>`` for ALBRequestCountPerTarget, else None
    resource_label: str | None = None
    target_value: float = Field(gt=0)
    scale_in_cooldown: int = Field(default=300, ge=0)
    scale_out_cooldown: int = Field(default=300, ge=0)
    disable_scale_in: bool = False


def _policy_id(props: ScalingPolicyProps) -> str:
    return _SEP.join((*props.key(), props.name))


def _split_policy_id(id: str) -> tuple[str, str, str, str]:
    # the name comes last and may itself contain "|"; the other three cannot
    ns, rid, dim, name = id.split(_SEP, 3)
    return ns, rid, dim, name


def _policy_arn_parts(arn: str) -> tuple[str, str, str]:
    """``...:scalingPolicy:<uuid>:resource/<ns>/<resource id>:policyName/<name>`` -> (ns, resource id, name).
    The dimension is not in the ARN."""
    resource = arn_resource(arn)
    head, _, name = resource.rpartition(":policyName/")
    ns, _, rid = head.split(":resource/", 1)[1].partition("/")
    return ns, rid, name


@register
class ScalingPolicy(_AppScaling):
    """A target-tracking policy on a predefined metric: PutScalingPolicy (create and update),
    DescribeScalingPolicies, DeleteScalingPolicy. Carries no tags; found by its target and name.

    ``id_from_arn`` returns the ARN (it lacks the dimension); ``read`` and ``delete`` accept it as the id and
    look the policy up by it (one DescribeScalingPolicies).
    """

    kind = "appscaling.scaling_policy"
    Props = ScalingPolicyProps
    replace_on: ClassVar = frozenset({"name", "service_namespace", "resource_id", "scalable_dimension"})
    taggable = False

    def id_from_arn(self, arn: str) -> str:
        return arn

    @staticmethod
    def _describe(ctx: NodeContext, ns: str, rid: str, dim: str | None, names: list[str]) -> Iterator[dict[str, Any]]:
        pager = ctx.client(SERVICE).get_paginator("describe_scaling_policies")
        for batch in _chunks(names):
            kw: dict[str, Any] = {"ServiceNamespace": ns, "ResourceId": rid, "PolicyNames": batch}
            if dim is not None:
                kw["ScalableDimension"] = dim
            for page in pager.paginate(**kw):
                # match exactly: a filter is not a promise that only exact matches come back
                yield from (
                    p for p in page.get("ScalingPolicies", []) if p["ResourceId"] == rid and p["PolicyName"] in batch
                )

    def _get(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        if id.startswith("arn:"):
            ns, rid, name = _policy_arn_parts(id)
            return next((p for p in self._describe(ctx, ns, rid, None, [name]) if p["PolicyARN"] == id), None)
        ns, rid, dim, name = _split_policy_id(id)
        return next((p for p in self._describe(ctx, ns, rid, dim, [name]) if p["ScalableDimension"] == dim), None)

    @staticmethod
    def _observed(p: Mapping[str, Any]) -> Observed:
        ns, rid, dim, name = p["ServiceNamespace"], p["ResourceId"], p["ScalableDimension"], p["PolicyName"]
        # a step or predictive policy of this name reads as no target tracking at all: drift, repaired by a put
        tt = p.get("TargetTrackingScalingPolicyConfiguration") or {}
        metric = tt.get("PredefinedMetricSpecification") or {}
        value = tt.get("TargetValue")
        props = {
            "service_namespace": ns,
            "resource_id": rid,
            "scalable_dimension": dim,
            "name": name,
            "predefined_metric": metric.get("PredefinedMetricType"),
            "resource_label": metric.get("ResourceLabel"),
            "target_value": float(value) if value is not None else None,
            "scale_in_cooldown": tt.get("ScaleInCooldown"),
            "scale_out_cooldown": tt.get("ScaleOutCooldown"),
            "disable_scale_in": bool(tt.get("DisableScaleIn", False)),
        }
        id = _SEP.join((ns, rid, dim, name))
        return Observed(id=id, props=props, attrs={"id": id, "arn": p.get("PolicyARN"), "name": name})

    def find(self, ctx: NodeContext, props: ScalingPolicyProps) -> str | None:
        id = _policy_id(props)
        return id if self._get(ctx, id) is not None else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        p = self._get(ctx, id)
        return self._observed(p) if p is not None else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """One DescribeScalingPolicies per target (50 policy names a call)."""
        out: dict[str, Observed] = {}
        by_target: dict[tuple[str, str, str], list[str]] = {}
        for id in ids:
            if id.startswith("arn:"):
                obs = self.read(ctx, id)
                if obs is not None:
                    out[id] = obs
            else:
                ns, rid, dim, _ = _split_policy_id(id)
                by_target.setdefault((ns, rid, dim), []).append(id)
        for (ns, rid, dim), group in by_target.items():
            names = sorted({_split_policy_id(i)[3] for i in group})
            seen = {
                o.id: o
                for o in (self._observed(p) for p in self._describe(ctx, ns, rid, dim, names))
                if o.props["scalable_dimension"] == dim
            }
            out.update({id: seen[id] for id in group if id in seen})
        return out

    def _put(self, ctx: NodeContext, props: ScalingPolicyProps) -> None:
        metric: dict[str, Any] = {"PredefinedMetricType": props.predefined_metric}
        if props.resource_label:
            metric["ResourceLabel"] = props.resource_label
        ns, rid, dim = props.key()
        ctx.call(
            ctx.client(SERVICE).put_scaling_policy,
            retry_on=_POLICY_NOT_YET,
            PolicyName=props.name,
            ServiceNamespace=ns,
            ResourceId=rid,
            ScalableDimension=dim,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": props.target_value,
                "PredefinedMetricSpecification": metric,
                "ScaleInCooldown": props.scale_in_cooldown,
                "ScaleOutCooldown": props.scale_out_cooldown,
                "DisableScaleIn": props.disable_scale_in,
            },
        )

    def create(self, ctx: NodeContext, props: ScalingPolicyProps) -> str:
        self._put(ctx, props)
        id = _policy_id(props)
        ctx.created(id)
        ctx.wait("scaling policy visible", lambda: self._get(ctx, id) is not None)
        return id

    def update(
        self, ctx: NodeContext, id: str, props: ScalingPolicyProps, observed: Observed, changes: set[str]
    ) -> None:
        self._put(ctx, props)  # a put of an existing name replaces its whole configuration

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ScalingPolicyProps | None) -> None:
        if id.startswith("arn:"):
            found = self._get(ctx, id)
            if found is None:
                return  # no policy has that ARN any more
            id = self._observed(found).id
        ns, rid, dim, name = _split_policy_id(id)
        ctx.call(
            ctx.client(SERVICE).delete_scaling_policy,
            retry_on=_BUSY,
            PolicyName=name,
            ServiceNamespace=ns,
            ResourceId=rid,
            ScalableDimension=dim,
        )
        ctx.wait("scaling policy deleted", lambda: self._get(ctx, id) is None)
