"""Elastic Load Balancing v2: load balancers, target groups, listeners.

Calls: CreateLoadBalancer, DescribeLoadBalancers, SetSubnets, SetSecurityGroups, DeleteLoadBalancer,
CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DescribeTargetGroupAttributes,
ModifyTargetGroupAttributes, DeleteTargetGroup, CreateListener, DescribeListeners, ModifyListener,
DeleteListener, DescribeTags, AddTags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import field_validator

from resources.base import Observed, Props, Resource, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

_NOT_FOUND = frozenset({"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound"})


def _short_name(v: str) -> str:
    if not 1 <= len(v) <= 32:
        raise ValueError(f"{v!r} is {len(v)} characters; load balancer and target group names allow 32")
    return v


class _Elb(Resource[Any]):
    service = "elasticloadbalancing"
    not_found_codes: ClassVar = _NOT_FOUND

    def _tags(self, ctx: NodeContext, arn: str) -> dict[str, str]:
        descs = ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return tag_dict(descs[0].get("Tags")) if descs else {}

    def _retag(self, ctx: NodeContext, arn: str) -> None:
        ctx.client("elbv2").add_tags(ResourceArns=[arn], Tags=tag_list(ctx.tags))


class LoadBalancerProps(Props):
    name: str
    type: str = "network"
    scheme: str = "internal"
    subnets: list[str]
    security_group_ids: list[str] = []

    _name = field_validator("name")(classmethod(lambda cls, v: _short_name(v)))


@register
class LoadBalancer(_Elb):
    kind = "elbv2.load_balancer"
    Props = LoadBalancerProps
    replace_on: ClassVar = frozenset({"name", "type", "scheme"})
    unordered: ClassVar = frozenset({"subnets", "security_group_ids"})
    duplicate_codes: ClassVar = frozenset({"DuplicateLoadBalancerName"})
    timeout = 900.0

    def _describe(self, ctx: NodeContext, **kw: Any) -> dict[str, Any] | None:
        try:
            items = ctx.client("elbv2").describe_load_balancers(**kw)["LoadBalancers"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: LoadBalancerProps) -> str | None:
        lb = self._describe(ctx, Names=[props.name])
        return str(lb["LoadBalancerArn"]) if lb else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        lb = self._describe(ctx, LoadBalancerArns=[id])
        if lb is None:
            return None
        props = {
            "name": lb["LoadBalancerName"],
            "type": lb.get("Type"),
            "scheme": lb.get("Scheme"),
            "subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
            "security_group_ids": sorted(lb.get("SecurityGroups") or []),
            "tags": self._tags(ctx, id),
        }
        attrs = {
            "id": id,
            "arn": id,
            "name": lb["LoadBalancerName"],
            "dns_name": lb.get("DNSName"),
            "arn_suffix": id.split(":loadbalancer/", 1)[-1],
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _active(self, ctx: NodeContext, id: str) -> bool | str:
        lb = self._describe(ctx, LoadBalancerArns=[id]) or {}
        state = (lb.get("State") or {}).get("Code", "absent")
        return True if state == "active" else str(state)

    def create(self, ctx: NodeContext, props: LoadBalancerProps) -> str:
        kw: dict[str, Any] = {}
        if props.security_group_ids:
            kw["SecurityGroups"] = props.security_group_ids
        arn = ctx.client("elbv2").create_load_balancer(
            Name=props.name, Type=props.type, Scheme=props.scheme, Subnets=props.subnets, Tags=tag_list(ctx.tags), **kw
        )["LoadBalancers"][0]["LoadBalancerArn"]
        ctx.created(arn)
        ctx.wait("load balancer active", lambda: self._active(ctx, arn))
        return str(arn)

    def update(
        self, ctx: NodeContext, id: str, props: LoadBalancerProps, observed: Observed, changes: set[str]
    ) -> None:
        elb = ctx.client("elbv2")
        if "subnets" in changes:
            elb.set_subnets(LoadBalancerArn=id, Subnets=props.subnets)
        if "security_group_ids" in changes:
            elb.set_security_groups(LoadBalancerArn=id, SecurityGroups=props.security_group_ids)
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LoadBalancerProps | None) -> None:
        ctx.client("elbv2").delete_load_balancer(LoadBalancerArn=id)
        ctx.wait("load balancer deleted", lambda: self._describe(ctx, LoadBalancerArns=[id]) is None)


class TargetGroupProps(Props):
    name: str
    protocol: str = "TCP"
    port: int
    vpc_id: str
    target_type: str = "ip"
    health_check_protocol: str = "TCP"
    health_check_path: str | None = None
    health_check_port: str = "traffic-port"
    deregistration_delay: int = 30

    _name = field_validator("name")(classmethod(lambda cls, v: _short_name(v)))


@register
class TargetGroup(_Elb):
    kind = "elbv2.target_group"
    Props = TargetGroupProps
    replace_on: ClassVar = frozenset({"name", "protocol", "port", "vpc_id", "target_type"})
    duplicate_codes: ClassVar = frozenset({"DuplicateTargetGroupName"})

    def _describe(self, ctx: NodeContext, **kw: Any) -> dict[str, Any] | None:
        try:
            items = ctx.client("elbv2").describe_target_groups(**kw)["TargetGroups"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: TargetGroupProps) -> str | None:
        tg = self._describe(ctx, Names=[props.name])
        return str(tg["TargetGroupArn"]) if tg else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        tg = self._describe(ctx, TargetGroupArns=[id])
        if tg is None:
            return None
        attributes = ctx.client("elbv2").describe_target_group_attributes(TargetGroupArn=id)["Attributes"]
        delay = next((a["Value"] for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"), "300")
        props = {
            "name": tg["TargetGroupName"],
            "protocol": tg.get("Protocol"),
            "port": tg.get("Port"),
            "vpc_id": tg.get("VpcId"),
            "target_type": tg.get("TargetType"),
            "health_check_protocol": tg.get("HealthCheckProtocol"),
            "health_check_path": tg.get("HealthCheckPath") if tg.get("HealthCheckProtocol") != "TCP" else None,
            "health_check_port": tg.get("HealthCheckPort"),
            "deregistration_delay": int(delay),
            "tags": self._tags(ctx, id),
        }
        attrs = {"id": id, "arn": id, "name": tg["TargetGroupName"], "arn_suffix": id.split(":", 5)[-1]}
        return Observed(id=id, props=props, attrs=attrs)

    def _health(self, props: TargetGroupProps) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "HealthCheckProtocol": props.health_check_protocol,
            "HealthCheckPort": props.health_check_port,
        }
        if props.health_check_path and props.health_check_protocol != "TCP":
            kw["HealthCheckPath"] = props.health_check_path
        return kw

    def create(self, ctx: NodeContext, props: TargetGroupProps) -> str:
        elb = ctx.client("elbv2")
        arn = elb.create_target_group(
            Name=props.name,
            Protocol=props.protocol,
            Port=props.port,
            VpcId=props.vpc_id,
            TargetType=props.target_type,
            Tags=tag_list(ctx.tags),
            **self._health(props),
        )["TargetGroups"][0]["TargetGroupArn"]
        ctx.created(arn)
        self._attributes(ctx, arn, props)
        return str(arn)

    def _attributes(self, ctx: NodeContext, arn: str, props: TargetGroupProps) -> None:
        ctx.client("elbv2").modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(props.deregistration_delay)}],
        )

    def update(self, ctx: NodeContext, id: str, props: TargetGroupProps, observed: Observed, changes: set[str]) -> None:
        if changes & {"health_check_protocol", "health_check_path", "health_check_port"}:
            ctx.client("elbv2").modify_target_group(TargetGroupArn=id, **self._health(props))
        if "deregistration_delay" in changes:
            self._attributes(ctx, id, props)
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: TargetGroupProps | None) -> None:
        # In use until its listener (and the service) let go of it.
        ctx.call(ctx.client("elbv2").delete_target_group, retry_on=("ResourceInUse",), TargetGroupArn=id)


class ListenerProps(Props):
    load_balancer_arn: str
    port: int
    protocol: str = "TCP"
    target_group_arn: str


@register
class Listener(_Elb):
    """A listener that forwards everything to one target group."""

    kind = "elbv2.listener"
    Props = ListenerProps
    replace_on: ClassVar = frozenset({"load_balancer_arn", "port"})
    duplicate_codes: ClassVar = frozenset({"DuplicateListener"})

    def _list(self, ctx: NodeContext, **kw: Any) -> list[dict[str, Any]]:
        try:
            return list(ctx.client("elbv2").describe_listeners(**kw)["Listeners"])
        except ClientError as err:
            if self.missing(err):
                return []
            raise

    def find(self, ctx: NodeContext, props: ListenerProps) -> str | None:
        for lst in self._list(ctx, LoadBalancerArn=props.load_balancer_arn):
            if lst.get("Port") == props.port:
                return str(lst["ListenerArn"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        items = self._list(ctx, ListenerArns=[id])
        if not items:
            return None
        lst = items[0]
        forward: dict[str, Any] = next((a for a in lst.get("DefaultActions", []) if a.get("Type") == "forward"), {})
        props = {
            "load_balancer_arn": lst["LoadBalancerArn"],
            "port": lst.get("Port"),
            "protocol": lst.get("Protocol"),
            "target_group_arn": forward.get("TargetGroupArn"),
            "tags": self._tags(ctx, id),
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": id})

    def create(self, ctx: NodeContext, props: ListenerProps) -> str:
        arn = ctx.client("elbv2").create_listener(
            LoadBalancerArn=props.load_balancer_arn,
            Port=props.port,
            Protocol=props.protocol,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": props.target_group_arn}],
            Tags=tag_list(ctx.tags),
        )["Listeners"][0]["ListenerArn"]
        ctx.created(arn)
        return str(arn)

    def update(self, ctx: NodeContext, id: str, props: ListenerProps, observed: Observed, changes: set[str]) -> None:
        if changes & {"protocol", "target_group_arn"}:
            ctx.client("elbv2").modify_listener(
                ListenerArn=id,
                Protocol=props.protocol,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": props.target_group_arn}],
            )
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ListenerProps | None) -> None:
        ctx.client("elbv2").delete_listener(ListenerArn=id)
