"""Elastic Load Balancing v2: load balancers, target groups, listeners.

Calls: CreateLoadBalancer, DescribeLoadBalancers, SetSubnets, SetSecurityGroups, DeleteLoadBalancer,
CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup, DescribeTargetGroupAttributes,
ModifyTargetGroupAttributes, DeleteTargetGroup, CreateListener, DescribeListeners, ModifyListener,
DeleteListener, DescribeTags, AddTags.

All three are tagged in their create call (``Tags``) and read their tags with DescribeTags. Load balancers
and target groups are found by their unique name, a listener by its load balancer and port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import field_validator, model_validator

from resources.base import Observed, Props, Resource, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

_NOT_FOUND = frozenset({"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound"})
#: subnets, groups and VPCs made seconds ago are not yet visible to ELB (eventual consistency)
_NOT_YET = ("SubnetNotFound", "InvalidSecurityGroup", "ValidationError:not found")


def _short_name(v: str) -> str:
    """ELB names are 1-32 characters; AWS refuses longer ones only when the create call is made."""
    if not 1 <= len(v) <= 32:
        raise ValueError(f"{v!r} is {len(v)} characters; load balancer and target group names allow 1 to 32")
    return v


def _suffix(arn: str) -> str:
    """What CloudWatch dimensions want: the ARN after ``...:loadbalancer/`` (or from ``targetgroup/`` on)."""
    resource = arn.split(":", 5)[-1]
    return resource.removeprefix("loadbalancer/")


class _Elb(Resource[Any]):
    """Shared: the not-found codes and tags."""

    service = "elbv2"
    not_found_codes: ClassVar = _NOT_FOUND

    def id_from_arn(self, arn: str) -> str:
        return arn  # its id is the ARN

    def _tags(self, ctx: NodeContext, arn: str) -> dict[str, str]:
        descs = ctx.client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"]
        return tag_dict(descs[0].get("Tags")) if descs else {}

    def _retag(self, ctx: NodeContext, arn: str) -> None:
        """Put all of this node's tags on; other keys stay."""
        ctx.client("elbv2").add_tags(ResourceArns=[arn], Tags=tag_list(ctx.tags))


# ----------------------------------------------------------- load balancer


class LoadBalancerProps(Props):
    name: str
    type: str = "network"
    scheme: str = "internal"
    subnets: list[str]
    #: an NLB may have none; one created without any cannot be given some later (AWS refuses)
    security_group_ids: list[str] = []

    _name = field_validator("name")(classmethod(lambda cls, v: _short_name(v)))


@register
class LoadBalancer(_Elb):
    """CreateLoadBalancer (tagged), DescribeLoadBalancers, SetSubnets, SetSecurityGroups, DeleteLoadBalancer."""

    kind = "elbv2.load_balancer"
    Props = LoadBalancerProps
    replace_on: ClassVar = frozenset({"name", "type", "scheme"})
    unordered: ClassVar = frozenset({"subnets", "security_group_ids"})
    duplicate_codes: ClassVar = frozenset({"DuplicateLoadBalancerName"})
    timeout = 900.0  # an NLB takes a few minutes to become active

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
            "arn_suffix": _suffix(id),
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _active(self, ctx: NodeContext, id: str) -> bool | str:
        lb = self._describe(ctx, LoadBalancerArns=[id]) or {}
        state = (lb.get("State") or {}).get("Code", "not visible yet")
        if state == "failed":
            raise RuntimeError(f"load balancer {id} failed: {(lb.get('State') or {}).get('Reason', '')}")
        return True if state == "active" else str(state)

    def create(self, ctx: NodeContext, props: LoadBalancerProps) -> str:
        kw: dict[str, Any] = {}
        if props.security_group_ids:
            kw["SecurityGroups"] = props.security_group_ids
        arn = ctx.call(
            ctx.client("elbv2").create_load_balancer,
            retry_on=_NOT_YET,
            Name=props.name,
            Type=props.type,
            Scheme=props.scheme,
            Subnets=props.subnets,
            Tags=tag_list(ctx.tags),
            **kw,
        )["LoadBalancers"][0]["LoadBalancerArn"]
        ctx.created(arn)
        ctx.wait("load balancer active", lambda: self._active(ctx, arn))
        return str(arn)

    def update(
        self, ctx: NodeContext, id: str, props: LoadBalancerProps, observed: Observed, changes: set[str]
    ) -> None:
        elb = ctx.client("elbv2")
        if "subnets" in changes:
            ctx.call(elb.set_subnets, retry_on=_NOT_YET, LoadBalancerArn=id, Subnets=props.subnets)
        if "security_group_ids" in changes:
            ctx.call(
                elb.set_security_groups, retry_on=_NOT_YET, LoadBalancerArn=id, SecurityGroups=props.security_group_ids
            )
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LoadBalancerProps | None) -> None:
        # DeleteLoadBalancer succeeds on an ARN that is already gone: the wait below is the only check.
        ctx.client("elbv2").delete_load_balancer(LoadBalancerArn=id)
        ctx.wait("load balancer deleted", lambda: self._describe(ctx, LoadBalancerArns=[id]) is None)


# ------------------------------------------------------------ target group


class TargetGroupProps(Props):
    name: str
    protocol: str = "TCP"
    port: int
    vpc_id: str
    target_type: str = "ip"
    health_check_protocol: str = "HTTP"
    #: ignored (read as None) for a TCP health check, which has no path
    health_check_path: str | None = "/ping"
    health_check_port: str = "traffic-port"
    deregistration_delay: int = 30

    _name = field_validator("name")(classmethod(lambda cls, v: _short_name(v)))

    @model_validator(mode="after")
    def _no_path_for_tcp(self) -> TargetGroupProps:
        # A TCP health check has no path: AWS does not return one, so wanting one would drift for ever.
        if self.health_check_protocol.upper() == "TCP":
            self.health_check_path = None
        return self


@register
class TargetGroup(_Elb):
    """CreateTargetGroup (tagged), DescribeTargetGroups, ModifyTargetGroup (health check),
    Describe/ModifyTargetGroupAttributes (deregistration delay), DeleteTargetGroup."""

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
        try:
            attributes = ctx.client("elbv2").describe_target_group_attributes(TargetGroupArn=id)["Attributes"]
        except ClientError as err:
            if self.missing(err):  # deleted between the two calls
                return None
            raise
        delay = next((a["Value"] for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"), "300")
        hc_protocol = tg.get("HealthCheckProtocol")
        props = {
            "name": tg["TargetGroupName"],
            "protocol": tg.get("Protocol"),
            "port": tg.get("Port"),
            "vpc_id": tg.get("VpcId"),
            "target_type": tg.get("TargetType"),
            "health_check_protocol": hc_protocol,
            "health_check_path": None if hc_protocol == "TCP" else tg.get("HealthCheckPath"),
            "health_check_port": tg.get("HealthCheckPort"),
            "deregistration_delay": int(delay),
            "tags": self._tags(ctx, id),
        }
        attrs = {"id": id, "arn": id, "name": tg["TargetGroupName"], "arn_suffix": _suffix(id)}
        return Observed(id=id, props=props, attrs=attrs)

    @staticmethod
    def _health(props: TargetGroupProps) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "HealthCheckProtocol": props.health_check_protocol,
            "HealthCheckPort": props.health_check_port,
        }
        if props.health_check_path:
            kw["HealthCheckPath"] = props.health_check_path
        return kw

    def create(self, ctx: NodeContext, props: TargetGroupProps) -> str:
        arn = ctx.call(
            ctx.client("elbv2").create_target_group,
            retry_on=_NOT_YET,
            Name=props.name,
            Protocol=props.protocol,
            Port=props.port,
            VpcId=props.vpc_id,
            TargetType=props.target_type,
            Tags=tag_list(ctx.tags),
            **self._health(props),
        )["TargetGroups"][0]["TargetGroupArn"]
        ctx.created(arn)
        # AWS's default delay is 300 s; the attribute cannot go in the create call.
        self._attributes(ctx, arn, props)
        return str(arn)

    @staticmethod
    def _attributes(ctx: NodeContext, arn: str, props: TargetGroupProps) -> None:
        ctx.call(
            ctx.client("elbv2").modify_target_group_attributes,
            retry_on=("TargetGroupNotFound",),  # a group made just now
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
        # In use until its listener (deleted just before) lets go of it.
        ctx.call(ctx.client("elbv2").delete_target_group, retry_on=("ResourceInUse",), TargetGroupArn=id)


# ---------------------------------------------------------------- listener


class ListenerProps(Props):
    load_balancer_arn: str
    port: int
    protocol: str = "TCP"
    target_group_arn: str


def _forward(target_group_arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": target_group_arn}]


@register
class Listener(_Elb):
    """A listener whose default action forwards everything to one target group: CreateListener (tagged),
    DescribeListeners, ModifyListener, DeleteListener."""

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
        # one listener per port and load balancer
        for lst in self._list(ctx, LoadBalancerArn=props.load_balancer_arn):
            if lst.get("Port") == props.port:
                return str(lst["ListenerArn"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        items = self._list(ctx, ListenerArns=[id])
        if not items:
            return None
        lst = items[0]
        actions = lst.get("DefaultActions", [])
        # anything but one plain forward (a weighted one, a fixed response) reads as no target group: drift
        forward = actions[0] if len(actions) == 1 and actions[0].get("Type") == "forward" else {}
        props = {
            "load_balancer_arn": lst["LoadBalancerArn"],
            "port": lst.get("Port"),
            "protocol": lst.get("Protocol"),
            "target_group_arn": forward.get("TargetGroupArn"),
            "tags": self._tags(ctx, id),
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": id})

    def create(self, ctx: NodeContext, props: ListenerProps) -> str:
        arn = ctx.call(
            ctx.client("elbv2").create_listener,
            # the target group or load balancer made just now
            retry_on=("TargetGroupNotFound", "LoadBalancerNotFound"),
            LoadBalancerArn=props.load_balancer_arn,
            Port=props.port,
            Protocol=props.protocol,
            DefaultActions=_forward(props.target_group_arn),
            Tags=tag_list(ctx.tags),
        )["Listeners"][0]["ListenerArn"]
        ctx.created(arn)
        return str(arn)

    def update(self, ctx: NodeContext, id: str, props: ListenerProps, observed: Observed, changes: set[str]) -> None:
        if changes & {"protocol", "target_group_arn"}:
            ctx.client("elbv2").modify_listener(
                ListenerArn=id, Protocol=props.protocol, DefaultActions=_forward(props.target_group_arn)
            )
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ListenerProps | None) -> None:
        ctx.client("elbv2").delete_listener(ListenerArn=id)
