"""Elastic Load Balancing v2: load balancers, target groups, listeners and listener rules.

Calls: CreateLoadBalancer, DescribeLoadBalancers, SetSubnets, SetSecurityGroups, DescribeLoadBalancerAttributes,
ModifyLoadBalancerAttributes, DeleteLoadBalancer, CreateTargetGroup, DescribeTargetGroups, ModifyTargetGroup,
DescribeTargetGroupAttributes, ModifyTargetGroupAttributes, DeleteTargetGroup, CreateListener, DescribeListeners,
ModifyListener, DeleteListener, CreateRule, DescribeRules, ModifyRule, SetRulePriorities, DeleteRule, DescribeTags,
AddTags; Secrets Manager GetSecretValue (an OIDC client secret, passed straight on to CreateListener, ModifyListener,
CreateRule or ModifyRule and never kept).

All four are tagged in their create call (``Tags``) and read their tags with DescribeTags; the id of each is its
ARN. Load balancers and target groups are found by their unique name, a listener by its load balancer and port, a
rule by its listener and priority.

Listener and rule actions are typed (:data:`Action`) and compared by meaning: their order is normalised to 1, 2, ...
in list order (or by the ``order`` given), each field mfprov does not set is read as AWS's default for it, and an
OIDC client secret is neither read back nor compared (AWS does not return it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from resources.base import Observed, Props, Resource, error_code, error_message, register, tag_dict, tag_list
from resources.pricing import CostLine, Where, hourly, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

_NOT_FOUND = frozenset({"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound"})
#: subnets, groups and VPCs made seconds ago are not yet visible to ELB (eventual consistency)
#: DescribeLoadBalancers / TargetGroups / Listeners / Rules / Tags take at most 20 ARNs
_PER_CALL = 20
_NOT_YET = ("SubnetNotFound", "InvalidSecurityGroup", "ValidationError:not found")
#: a target group, listener or load balancer made just now
_PARENT_NOT_YET = ("TargetGroupNotFound", "LoadBalancerNotFound", "ListenerNotFound")

#: TLS 1.3 and 1.2 only, forward-secret ciphers: AWS's recommended policy (its API default is still 2016-08)
DEFAULT_SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


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
        return self._tags_many(ctx, [arn]).get(arn, {})

    def _batch(
        self, ids: list[str], describe: Callable[[list[str]], list[dict[str, Any]]], key: str
    ) -> dict[str, dict[str, Any]]:
        """The described items of ``ids``, 20 to a call; one id gone fails its whole call, so that call is
        then made again one id at a time."""
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), _PER_CALL):
            chunk = ids[i : i + _PER_CALL]
            try:
                items = describe(chunk)
            except ClientError as err:
                if not self.missing(err):
                    raise
                items = []
                for one in chunk:
                    try:
                        items += describe([one])
                    except ClientError as err_one:
                        if not self.missing(err_one):
                            raise
            out.update({str(item[key]): item for item in items})
        return out

    def _tags_many(self, ctx: NodeContext, arns: list[str]) -> dict[str, dict[str, str]]:
        """Tags of ``arns``. DescribeTags takes the ARNs of any ELB type, so within a refresh it is asked once for
        every load balancer, target group, listener and rule being read."""
        elb = ctx.client("elbv2")
        every = sorted(set(ctx.ids_being_read("elbv2.")) | set(arns))

        def lookup(wanted: list[str]) -> dict[str, dict[str, str]]:
            found = self._batch(
                wanted, lambda c: list(elb.describe_tags(ResourceArns=c)["TagDescriptions"]), "ResourceArn"
            )
            return {arn: tag_dict(d.get("Tags")) for arn, d in found.items()}

        if set(arns) <= set(ctx.ids_being_read("elbv2.")):
            tags = ctx.memo(("elbv2:DescribeTags",), lambda: lookup(every))
        else:
            tags = lookup(arns)
        return {arn: tags[arn] for arn in arns if arn in tags}

    #: (Describe method, its ARN-list parameter, the answer's list, an item's ARN): how read_many lists them
    _describe_by_arns: ClassVar[tuple[str, str, str, str]]

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        return self.read_many(ctx, [id]).get(id)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """The items 20 to a call, their tags 20 to a call, then what each needs of its own (attributes)."""
        method, param, answer, key = self._describe_by_arns
        describe = getattr(ctx.client("elbv2"), method)
        found = self._batch(ids, lambda c: list(describe(**{param: c})[answer]), key)
        tags = self._tags_many(ctx, list(found))
        out = {}
        for id, item in found.items():
            obs = self._observe(ctx, id, item, tags.get(id, {}))
            if obs is not None:
                out[id] = obs
        return out

    def _observe(self, ctx: NodeContext, id: str, item: dict[str, Any], tags: dict[str, str]) -> Observed | None:
        raise NotImplementedError

    def _retag(self, ctx: NodeContext, arn: str) -> None:
        """Put all of this node's tags on; other keys stay."""
        ctx.client("elbv2").add_tags(ResourceArns=[arn], Tags=tag_list(ctx.tags))


# ----------------------------------------------------------- load balancer

#: the attributes mfprov manages, per type, each with the value AWS gives a new load balancer. Only these are
#: read and compared; a key AWS does not report reads as its default.
LB_ATTRIBUTES: dict[str, dict[str, str]] = {
    "application": {
        "idle_timeout.timeout_seconds": "60",
        "client_keep_alive.seconds": "3600",
        "deletion_protection.enabled": "false",
        "routing.http2.enabled": "true",
        "routing.http.drop_invalid_header_fields.enabled": "false",
        "routing.http.desync_mitigation_mode": "defensive",
        "routing.http.preserve_host_header.enabled": "false",
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": "false",
        "routing.http.xff_client_port.enabled": "false",
        "routing.http.xff_header_processing.mode": "append",
        "waf.fail_open.enabled": "false",
        "access_logs.s3.enabled": "false",
        "access_logs.s3.bucket": "",
        "access_logs.s3.prefix": "",
    },
    "network": {
        "deletion_protection.enabled": "false",
        "load_balancing.cross_zone.enabled": "false",
        "dns_record.client_routing_policy": "any_availability_zone",
        "access_logs.s3.enabled": "false",
        "access_logs.s3.bucket": "",
        "access_logs.s3.prefix": "",
    },
}
#: where mfprov's default differs from AWS's: an ALB drops requests with malformed header names (request smuggling)
MFPROV_LB_ATTRIBUTES: dict[str, dict[str, str]] = {
    "application": {"routing.http.drop_invalid_header_fields.enabled": "true"},
}


def _attribute_text(v: Any) -> Any:
    """Attribute values are strings on the wire: ``True`` -> ``"true"``, ``60`` -> ``"60"``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return v


class LoadBalancerProps(Props):
    name: str
    type: str = "network"
    scheme: str = "internal"
    subnets: list[str]
    #: an NLB may have none; one created without any cannot be given some later (AWS refuses)
    security_group_ids: list[str] = []
    #: load balancer attributes (keys of ``LB_ATTRIBUTES`` for the type); after validation, every managed key
    #: with its value: AWS's default, mfprov's (``MFPROV_LB_ATTRIBUTES``), or the one given here
    attributes: dict[str, str] = {}

    _name = field_validator("name")(classmethod(lambda cls, v: _short_name(v)))

    @field_validator("attributes", mode="before")
    @classmethod
    def _texts(cls, v: Any) -> Any:
        return {k: _attribute_text(x) for k, x in v.items()} if isinstance(v, Mapping) else v

    @model_validator(mode="after")
    def _all_attributes(self) -> LoadBalancerProps:
        managed = LB_ATTRIBUTES.get(self.type, {})
        unknown = sorted(set(self.attributes) - set(managed))
        if unknown:
            raise ValueError(
                f"attributes {unknown} are not managed for a {self.type} load balancer; known: {sorted(managed)}"
            )
        self.attributes = {**managed, **MFPROV_LB_ATTRIBUTES.get(self.type, {}), **self.attributes}
        return self


@register
class LoadBalancer(_Elb):
    """CreateLoadBalancer (tagged), DescribeLoadBalancers, Describe/ModifyLoadBalancerAttributes, SetSubnets,
    SetSecurityGroups, DeleteLoadBalancer (deletion protection, if on, is turned off first: `down` means it)."""

    kind = "elbv2.load_balancer"
    _describe_by_arns = ("describe_load_balancers", "LoadBalancerArns", "LoadBalancers", "LoadBalancerArn")
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

    def _observe(self, ctx: NodeContext, id: str, lb: dict[str, Any], tags: dict[str, str]) -> Observed | None:
        try:
            got = ctx.client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=id)["Attributes"]
        except ClientError as err:
            if self.missing(err):  # deleted between the two calls
                return None
            raise
        reported = {a["Key"]: a.get("Value", "") for a in got}
        managed = LB_ATTRIBUTES.get(str(lb.get("Type")), {})
        props = {
            "name": lb["LoadBalancerName"],
            "type": lb.get("Type"),
            "scheme": lb.get("Scheme"),
            "subnets": sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", [])),
            "security_group_ids": sorted(lb.get("SecurityGroups") or []),
            "attributes": {k: reported.get(k, default) for k, default in managed.items()},
            "tags": tags,
        }
        attrs = {
            "id": id,
            "arn": id,
            "name": lb["LoadBalancerName"],
            "dns_name": lb.get("DNSName"),
            # what a Route 53 alias record to this load balancer names as its hosted zone
            "canonical_hosted_zone_id": lb.get("CanonicalHostedZoneId"),
            "arn_suffix": _suffix(id),
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _active(self, ctx: NodeContext, id: str) -> bool | str:
        lb = self._describe(ctx, LoadBalancerArns=[id]) or {}
        state = (lb.get("State") or {}).get("Code", "not visible yet")
        if state == "failed":
            raise RuntimeError(f"load balancer {id} failed: {(lb.get('State') or {}).get('Reason', '')}")
        return True if state == "active" else str(state)

    @staticmethod
    def _set_attributes(ctx: NodeContext, id: str, values: Mapping[str, str]) -> None:
        if values:
            ctx.call(
                ctx.client("elbv2").modify_load_balancer_attributes,
                retry_on=("LoadBalancerNotFound",),  # one made just now
                LoadBalancerArn=id,
                Attributes=[{"Key": k, "Value": v} for k, v in sorted(values.items())],
            )

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
        # Only what differs from a new load balancer's values (an NLB with the defaults needs no call).
        defaults = LB_ATTRIBUTES.get(props.type, {})
        self._set_attributes(ctx, arn, {k: v for k, v in props.attributes.items() if defaults.get(k) != v})
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
        if "attributes" in changes:
            have = observed.props.get("attributes") or {}
            self._set_attributes(ctx, id, {k: v for k, v in props.attributes.items() if have.get(k) != v})
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LoadBalancerProps | None) -> None:
        elb = ctx.client("elbv2")
        # DeleteLoadBalancer succeeds on an ARN that is already gone: the wait below is the only check.
        try:
            elb.delete_load_balancer(LoadBalancerArn=id)
        except ClientError as err:
            if error_code(err) != "OperationNotPermitted" or "deletion protection" not in error_message(err).lower():
                raise
            # Deletion protection guards against deleting it by accident; `down` (or removing it from the
            # blueprint) is deliberate.
            self._set_attributes(ctx, id, {"deletion_protection.enabled": "false"})
            elb.delete_load_balancer(LoadBalancerArn=id)
        ctx.wait("load balancer deleted", lambda: self._describe(ctx, LoadBalancerArns=[id]) is None)

    def monthly_cost(self, props: LoadBalancerProps, where: Where) -> list[CostLine]:
        item = {"application": "alb", "network": "nlb"}.get(props.type, props.type)
        lines = [hourly(item, where.region, f"{props.type} load balancer hours")]
        # capacity units (LCU, NLCU) bill by traffic, new connections and rules evaluated: none while idle
        unit = "LCU" if props.type == "application" else "NLCU"
        lines.append(usage_based(f"{unit}-hours (capacity used by traffic)"))
        if props.scheme == "internet-facing":
            zones = len(props.subnets)
            lines.append(hourly("public_ipv4", where.region, f"public IPv4 addresses, one per zone ({zones})", zones))
        return lines


# ------------------------------------------------------------ target group


def _default_matcher(protocol: str) -> str:
    """The HTTP codes a health check accepts unless told: 200 for an ALB's groups, 200-399 for an NLB's."""
    return "200" if protocol.upper() in ("HTTP", "HTTPS") else "200-399"


class TargetGroupProps(Props):
    name: str
    #: HTTP/HTTPS for an ALB, TCP/TLS/UDP for an NLB
    protocol: str = "TCP"
    port: int
    vpc_id: str
    target_type: str = "ip"
    health_check_protocol: str = "HTTP"
    #: ignored (read as None) for a TCP health check, which has no path
    health_check_path: str | None = "/ping"
    health_check_port: str = "traffic-port"
    #: the HTTP codes of a healthy answer ("200", "200-202", "200,302"); None: AWS's default for the protocol
    #: (200 for HTTP/HTTPS groups, 200-399 for TCP/TLS ones). None for a TCP health check, which has none.
    matcher: str | None = None
    health_check_interval: int = Field(default=30, ge=5, le=300)
    healthy_threshold: int = Field(default=5, ge=2, le=10)
    unhealthy_threshold: int = Field(default=2, ge=2, le=10)
    deregistration_delay: int = 30

    _name = field_validator("name")(classmethod(lambda cls, v: _short_name(v)))

    @model_validator(mode="after")
    def _health_check_shape(self) -> TargetGroupProps:
        # A TCP health check has no path or codes: AWS does not return them, so wanting some would drift for ever.
        if self.health_check_protocol.upper() == "TCP":
            self.health_check_path = None
            self.matcher = None
        elif self.matcher is None:
            self.matcher = _default_matcher(self.protocol)
        return self


@register
class TargetGroup(_Elb):
    """CreateTargetGroup (tagged), DescribeTargetGroups, ModifyTargetGroup (health check),
    Describe/ModifyTargetGroupAttributes (deregistration delay), DeleteTargetGroup."""

    kind = "elbv2.target_group"
    _describe_by_arns = ("describe_target_groups", "TargetGroupArns", "TargetGroups", "TargetGroupArn")
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

    def _observe(self, ctx: NodeContext, id: str, tg: dict[str, Any], tags: dict[str, str]) -> Observed | None:
        try:
            attributes = ctx.client("elbv2").describe_target_group_attributes(TargetGroupArn=id)["Attributes"]
        except ClientError as err:
            if self.missing(err):  # deleted between the two calls
                return None
            raise
        delay = next((a["Value"] for a in attributes if a["Key"] == "deregistration_delay.timeout_seconds"), "300")
        hc_protocol = tg.get("HealthCheckProtocol")
        tcp_check = hc_protocol == "TCP"
        props = {
            "name": tg["TargetGroupName"],
            "protocol": tg.get("Protocol"),
            "port": tg.get("Port"),
            "vpc_id": tg.get("VpcId"),
            "target_type": tg.get("TargetType"),
            "health_check_protocol": hc_protocol,
            "health_check_path": None if tcp_check else tg.get("HealthCheckPath"),
            "health_check_port": tg.get("HealthCheckPort"),
            "matcher": None if tcp_check else (tg.get("Matcher") or {}).get("HttpCode"),
            "health_check_interval": tg.get("HealthCheckIntervalSeconds"),
            "healthy_threshold": tg.get("HealthyThresholdCount"),
            "unhealthy_threshold": tg.get("UnhealthyThresholdCount"),
            "deregistration_delay": int(delay),
            "tags": tags,
        }
        attrs = {"id": id, "arn": id, "name": tg["TargetGroupName"], "arn_suffix": _suffix(id)}
        return Observed(id=id, props=props, attrs=attrs)

    @staticmethod
    def _health(props: TargetGroupProps) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "HealthCheckProtocol": props.health_check_protocol,
            "HealthCheckPort": props.health_check_port,
            "HealthCheckIntervalSeconds": props.health_check_interval,
            "HealthyThresholdCount": props.healthy_threshold,
            "UnhealthyThresholdCount": props.unhealthy_threshold,
        }
        if props.health_check_path:
            kw["HealthCheckPath"] = props.health_check_path
        if props.matcher:
            kw["Matcher"] = {"HttpCode": props.matcher}
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

    _HEALTH_FIELDS: ClassVar = frozenset(
        {
            "health_check_protocol",
            "health_check_path",
            "health_check_port",
            "matcher",
            "health_check_interval",
            "healthy_threshold",
            "unhealthy_threshold",
        }
    )

    def update(self, ctx: NodeContext, id: str, props: TargetGroupProps, observed: Observed, changes: set[str]) -> None:
        if changes & self._HEALTH_FIELDS:
            ctx.client("elbv2").modify_target_group(TargetGroupArn=id, **self._health(props))
        if "deregistration_delay" in changes:
            self._attributes(ctx, id, props)
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: TargetGroupProps | None) -> None:
        # In use until its listener (deleted just before) lets go of it.
        ctx.call(ctx.client("elbv2").delete_target_group, retry_on=("ResourceInUse",), TargetGroupArn=id)


# ----------------------------------------------------------------- actions


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the place among several actions, lowest first (authenticate, then forward). Give it on all actions or on
    #: none (then list order counts); after validation it is the position, 1, 2, ... (only the order matters).
    order: int | None = Field(default=None, ge=1, le=50000)

    def aws(self) -> dict[str, Any]:  # pragma: no cover - every action type overrides it
        raise NotImplementedError


class ForwardAction(_Action):
    """Everything to one target group."""

    type: Literal["forward"] = "forward"
    target_group_arn: str

    def aws(self) -> dict[str, Any]:
        return {"Type": "forward", "TargetGroupArn": self.target_group_arn}


class RedirectAction(_Action):
    """A redirect; each part defaults to the request's own (``#{protocol}`` ...), as in AWS."""

    type: Literal["redirect"] = "redirect"
    protocol: str = "#{protocol}"
    port: str = "#{port}"
    host: str = "#{host}"
    path: str = "/#{path}"
    query: str = "#{query}"
    status_code: Literal["HTTP_301", "HTTP_302"] = "HTTP_301"

    @field_validator("port", mode="before")
    @classmethod
    def _port_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    def aws(self) -> dict[str, Any]:
        config = {
            "Protocol": self.protocol,
            "Port": self.port,
            "Host": self.host,
            "Path": self.path,
            "Query": self.query,
            "StatusCode": self.status_code,
        }
        return {"Type": "redirect", "RedirectConfig": config}


class FixedResponseAction(_Action):
    """A fixed answer, e.g. 404 for whatever no rule matches."""

    type: Literal["fixed-response"] = "fixed-response"
    status_code: str = Field(pattern=r"^[245]\d\d$")
    content_type: Literal["text/plain", "text/css", "text/html", "application/javascript", "application/json"] = (
        "text/plain"
    )
    message_body: str = Field(default="", max_length=1024)

    @field_validator("status_code", mode="before")
    @classmethod
    def _code_text(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) else v

    def aws(self) -> dict[str, Any]:
        config: dict[str, Any] = {"StatusCode": self.status_code, "ContentType": self.content_type}
        if self.message_body:
            config["MessageBody"] = self.message_body
        return {"Type": "fixed-response", "FixedResponseConfig": config}


class _Authenticate(_Action):
    """What Cognito and OIDC authentication share; the defaults are AWS's."""

    scope: str = "openid"
    session_cookie_name: str = "AWSELBAuthSessionCookie"
    #: seconds; AWS's default is 7 days
    session_timeout: int = Field(default=604800, ge=1, le=604800)
    on_unauthenticated_request: Literal["deny", "allow", "authenticate"] = "authenticate"
    authentication_request_extra_params: dict[str, str] = {}

    def _common(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Scope": self.scope,
            "SessionCookieName": self.session_cookie_name,
            "SessionTimeout": self.session_timeout,
            "OnUnauthenticatedRequest": self.on_unauthenticated_request,
        }
        if self.authentication_request_extra_params:
            config["AuthenticationRequestExtraParams"] = dict(self.authentication_request_extra_params)
        return config


class AuthenticateCognitoAction(_Authenticate):
    """Sign-in through a Cognito user pool (HTTPS listeners only)."""

    type: Literal["authenticate-cognito"] = "authenticate-cognito"
    user_pool_arn: str
    user_pool_client_id: str
    #: the domain prefix (``cognito.user_pool_domain``'s ``domain``) or a custom domain
    user_pool_domain: str

    def aws(self) -> dict[str, Any]:
        config = {
            "UserPoolArn": self.user_pool_arn,
            "UserPoolClientId": self.user_pool_client_id,
            "UserPoolDomain": self.user_pool_domain,
            **self._common(),
        }
        return {"Type": "authenticate-cognito", "AuthenticateCognitoConfig": config}


class AuthenticateOidcAction(_Authenticate):
    """Sign-in through an OpenID Connect provider (HTTPS listeners only).

    The client secret is never in the blueprint, the state or a plan: ``client_secret_arn`` names the Secrets
    Manager secret that holds it (the whole string, or the JSON key ``client_secret_key``), read at call time.
    AWS never returns the secret, so it is not compared; and neither is the secret's ARN (excluded from the
    dump): a changed secret reaches the listener when the action is sent anew (a new issuer or client id).
    """

    type: Literal["authenticate-oidc"] = "authenticate-oidc"
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    user_info_endpoint: str
    client_id: str
    client_secret_arn: str = Field(exclude=True)
    client_secret_key: str | None = Field(default=None, exclude=True)

    def identity(self) -> tuple[str, str]:
        return (self.issuer, self.client_id)

    def aws(self) -> dict[str, Any]:
        config = {
            "Issuer": self.issuer,
            "AuthorizationEndpoint": self.authorization_endpoint,
            "TokenEndpoint": self.token_endpoint,
            "UserInfoEndpoint": self.user_info_endpoint,
            "ClientId": self.client_id,
            **self._common(),
        }
        return {"Type": "authenticate-oidc", "AuthenticateOidcConfig": config}


Action = Annotated[
    ForwardAction | RedirectAction | FixedResponseAction | AuthenticateCognitoAction | AuthenticateOidcAction,
    Field(discriminator="type"),
]
_AUTHENTICATE = ("authenticate-cognito", "authenticate-oidc")


def _in_order(actions: list[Any]) -> list[Any]:
    """Sorted by ``order`` (all or none given), then numbered 1, 2, ...: the normal form of desired actions."""
    given = [a.order for a in actions]
    if any(o is not None for o in given):
        if any(o is None for o in given):
            raise ValueError("give every action an order, or none (then the list order counts)")
        if len(set(given)) != len(given):
            raise ValueError(f"two actions have the same order: {given}")
        actions = sorted(actions, key=lambda a: a.order)
    return [a.model_copy(update={"order": i}) for i, a in enumerate(actions, 1)]


def _forward_target(item: Mapping[str, Any]) -> str:
    """The one target group of a forward action. A weighted or sticky forward (nothing mfprov writes) reads as a
    text that equals no ARN, so it shows as drift, legibly."""
    config = item.get("ForwardConfig") or {}
    groups = config.get("TargetGroups") or []
    sticky = bool((config.get("TargetGroupStickinessConfig") or {}).get("Enabled"))
    if not sticky:
        if len(groups) <= 1 and item.get("TargetGroupArn"):
            return str(item["TargetGroupArn"])
        if len(groups) == 1:
            return str(groups[0]["TargetGroupArn"])
    weights = ",".join(f"{g.get('TargetGroupArn')}={g.get('Weight', 1)}" for g in groups)
    return f"weighted({weights}){' sticky' if sticky else ''}"


def _authenticate_common(config: Mapping[str, Any]) -> dict[str, Any]:
    """The shared authentication fields AWS reports; those it leaves out are left to the model's defaults."""
    names = {
        "Scope": "scope",
        "SessionCookieName": "session_cookie_name",
        "SessionTimeout": "session_timeout",
        "OnUnauthenticatedRequest": "on_unauthenticated_request",
        "AuthenticationRequestExtraParams": "authentication_request_extra_params",
    }
    return {field: config[key] for key, field in names.items() if config.get(key) is not None}


def _observed_action(item: Mapping[str, Any], order: int) -> dict[str, Any]:
    """One action as AWS reports it, in the shape of its model's dump (AWS's defaults where it says nothing)."""
    kind = item.get("Type")
    model: type[_Action]
    fields: dict[str, Any]
    if kind == "forward":
        model, fields = ForwardAction, {"target_group_arn": _forward_target(item)}
    elif kind == "redirect":
        c = item.get("RedirectConfig") or {}
        names = {"Protocol": "protocol", "Port": "port", "Host": "host", "Path": "path", "Query": "query"}
        model, fields = RedirectAction, {f: c[k] for k, f in names.items() if c.get(k) is not None}
        fields["status_code"] = c.get("StatusCode")
    elif kind == "fixed-response":
        c = item.get("FixedResponseConfig") or {}
        model = FixedResponseAction
        fields = {"status_code": c.get("StatusCode"), "message_body": c.get("MessageBody") or ""}
        if c.get("ContentType"):
            fields["content_type"] = c["ContentType"]
    elif kind == "authenticate-cognito":
        c = item.get("AuthenticateCognitoConfig") or {}
        model = AuthenticateCognitoAction
        fields = {
            "user_pool_arn": c.get("UserPoolArn"),
            "user_pool_client_id": c.get("UserPoolClientId"),
            "user_pool_domain": c.get("UserPoolDomain"),
            **_authenticate_common(c),
        }
    elif kind == "authenticate-oidc":
        c = item.get("AuthenticateOidcConfig") or {}
        model = AuthenticateOidcAction
        fields = {
            "issuer": c.get("Issuer"),
            "authorization_endpoint": c.get("AuthorizationEndpoint"),
            "token_endpoint": c.get("TokenEndpoint"),
            "user_info_endpoint": c.get("UserInfoEndpoint"),
            "client_id": c.get("ClientId"),
            **_authenticate_common(c),
        }
    else:  # a kind mfprov does not write (jwt-validation...): it equals nothing desired
        return {"type": kind, "order": order}
    # Built without validation: what AWS holds may be anything; the dump gives the desired shape and defaults.
    return model.model_construct(order=order, **fields).model_dump(mode="json")


def observed_actions(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """AWS's actions in the normal form of desired ones: sorted by their order, numbered 1, 2, ..."""
    listed = list(items)
    ranked = sorted(range(len(listed)), key=lambda i: (listed[i].get("Order") or i + 1, i))
    return [_observed_action(listed[i], n) for n, i in enumerate(ranked, 1)]


def _secret_part(ctx: NodeContext, action: AuthenticateOidcAction, reuse: bool) -> dict[str, Any]:
    """``UseExistingClientSecret`` when the listener or rule already has this client, else the secret itself, read
    from Secrets Manager now and returned straight into the call (parse errors drop the text, as in
    ``resources.secretsmanager``)."""
    if reuse:
        return {"UseExistingClientSecret": True}
    text = ctx.client("secretsmanager").get_secret_value(SecretId=action.client_secret_arn).get("SecretString")
    if action.client_secret_key is None:
        if not text:
            raise ValueError(f"secret {action.client_secret_arn} holds no string")
        return {"ClientSecret": text}
    try:
        value = json.loads(text) if text else None
    except ValueError:
        value = None
    secret = value.get(action.client_secret_key) if isinstance(value, dict) else None
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"secret {action.client_secret_arn} holds no JSON key {action.client_secret_key!r}")
    return {"ClientSecret": secret}


def aws_actions(ctx: NodeContext, actions: Iterable[Any], observed: Iterable[Mapping[str, Any]] = ()) -> list[Any]:
    """The ``Actions`` / ``DefaultActions`` parameter. ``observed``: the actions the listener or rule has now
    (as read); an OIDC action whose issuer and client id are among them keeps the secret it has."""
    have = {(o.get("issuer"), o.get("client_id")) for o in observed if o.get("type") == "authenticate-oidc"}
    out: list[Any] = []
    for a in actions:
        item = {**a.aws(), "Order": a.order}
        if isinstance(a, AuthenticateOidcAction):
            item["AuthenticateOidcConfig"].update(_secret_part(ctx, a, a.identity() in have))
        out.append(item)
    return out


# ---------------------------------------------------------------- listener


class ListenerProps(Props):
    load_balancer_arn: str
    port: int
    protocol: Literal["HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP"] = "TCP"
    #: the default certificate (ACM or IAM ARN) of an HTTPS or TLS listener; required there, refused elsewhere
    certificate_arn: str | None = None
    #: HTTPS or TLS only; None there means ``DEFAULT_SSL_POLICY``
    ssl_policy: str | None = None
    #: the simple form: forward everything to this target group. A ``default_actions`` of one forward and
    #: nothing else is the same thing and is normalised to this form.
    target_group_arn: str | None = None
    #: the general form: typed actions (authenticate, then forward; a redirect; a fixed response...)
    default_actions: list[Action] = []

    @model_validator(mode="after")
    def _normal_form(self) -> ListenerProps:
        secure = self.protocol in ("HTTPS", "TLS")
        if secure and not self.certificate_arn:
            raise ValueError(f"an {self.protocol} listener needs certificate_arn")
        if not secure and (self.certificate_arn or self.ssl_policy):
            raise ValueError(f"a {self.protocol} listener takes no certificate_arn or ssl_policy")
        if secure and self.ssl_policy is None:
            self.ssl_policy = DEFAULT_SSL_POLICY
        if (self.target_group_arn is None) == (not self.default_actions):
            raise ValueError("give either target_group_arn (forward everything) or default_actions, not both")
        actions = _in_order(self.default_actions)
        if self.protocol != "HTTPS" and any(a.type in _AUTHENTICATE for a in actions):
            raise ValueError("authenticate actions work on HTTPS listeners only")
        if len(actions) == 1 and isinstance(actions[0], ForwardAction):
            self.target_group_arn, actions = actions[0].target_group_arn, []
        self.default_actions = actions
        return self

    def actions(self) -> list[Any]:
        if self.target_group_arn is not None:
            return [ForwardAction(target_group_arn=self.target_group_arn, order=1)]
        return list(self.default_actions)


def listener_shape(actions: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """Observed actions in the listener's normal form: one plain forward is ``target_group_arn``."""
    if len(actions) == 1 and actions[0].get("type") == "forward":
        return actions[0].get("target_group_arn"), []
    return None, actions


@register
class Listener(_Elb):
    """A listener with its default actions: CreateListener (tagged), DescribeListeners, ModifyListener,
    DeleteListener; Secrets Manager GetSecretValue for an OIDC client secret."""

    kind = "elbv2.listener"
    _describe_by_arns = ("describe_listeners", "ListenerArns", "Listeners", "ListenerArn")
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
        pages = ctx.client("elbv2").get_paginator("describe_listeners")
        try:
            for page in pages.paginate(LoadBalancerArn=props.load_balancer_arn):
                for lst in page["Listeners"]:
                    if lst.get("Port") == props.port:
                        return str(lst["ListenerArn"])
        except ClientError as err:
            if not self.missing(err):
                raise
        return None

    def _observe(self, ctx: NodeContext, id: str, lst: dict[str, Any], tags: dict[str, str]) -> Observed:
        protocol = lst.get("Protocol")
        secure = protocol in ("HTTPS", "TLS")
        certificates = lst.get("Certificates") or []
        target_group_arn, actions = listener_shape(observed_actions(lst.get("DefaultActions") or []))
        props = {
            "load_balancer_arn": lst["LoadBalancerArn"],
            "port": lst.get("Port"),
            "protocol": protocol,
            # DescribeListeners lists only the default certificate
            "certificate_arn": certificates[0].get("CertificateArn") if secure and certificates else None,
            "ssl_policy": lst.get("SslPolicy") if secure else None,
            "target_group_arn": target_group_arn,
            "default_actions": actions,
            "tags": tags,
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": id})

    @staticmethod
    def _security(props: ListenerProps) -> dict[str, Any]:
        if props.protocol not in ("HTTPS", "TLS"):
            return {}
        return {"SslPolicy": props.ssl_policy, "Certificates": [{"CertificateArn": props.certificate_arn}]}

    def create(self, ctx: NodeContext, props: ListenerProps) -> str:
        arn = ctx.call(
            ctx.client("elbv2").create_listener,
            retry_on=_PARENT_NOT_YET,
            LoadBalancerArn=props.load_balancer_arn,
            Port=props.port,
            Protocol=props.protocol,
            DefaultActions=aws_actions(ctx, props.actions()),
            Tags=tag_list(ctx.tags),
            **self._security(props),
        )["Listeners"][0]["ListenerArn"]
        ctx.created(arn)
        return str(arn)

    def update(self, ctx: NodeContext, id: str, props: ListenerProps, observed: Observed, changes: set[str]) -> None:
        if changes & {"protocol", "certificate_arn", "ssl_policy", "target_group_arn", "default_actions"}:
            ctx.call(
                ctx.client("elbv2").modify_listener,
                retry_on=("TargetGroupNotFound",),  # a target group made just now
                ListenerArn=id,
                Protocol=props.protocol,
                DefaultActions=aws_actions(ctx, props.actions(), observed.props.get("default_actions") or []),
                **self._security(props),
            )
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ListenerProps | None) -> None:
        ctx.client("elbv2").delete_listener(ListenerArn=id)


# ----------------------------------------------------------- listener rule


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: matched if any value matches; a set (sorted, without repeats, after validation)
    values: list[str] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _as_set(cls, v: list[str]) -> list[str]:
        return sorted(set(v))


class PathPatternCondition(_Condition):
    field: Literal["path-pattern"] = "path-pattern"

    def aws(self) -> dict[str, Any]:
        return {"Field": self.field, "PathPatternConfig": {"Values": list(self.values)}}


class HostHeaderCondition(_Condition):
    field: Literal["host-header"] = "host-header"

    def aws(self) -> dict[str, Any]:
        return {"Field": self.field, "HostHeaderConfig": {"Values": list(self.values)}}


class SourceIpCondition(_Condition):
    """Client addresses in CIDR notation."""

    field: Literal["source-ip"] = "source-ip"

    def aws(self) -> dict[str, Any]:
        return {"Field": self.field, "SourceIpConfig": {"Values": list(self.values)}}


class HttpHeaderCondition(_Condition):
    field: Literal["http-header"] = "http-header"
    name: str

    def aws(self) -> dict[str, Any]:
        return {"Field": self.field, "HttpHeaderConfig": {"HttpHeaderName": self.name, "Values": list(self.values)}}


Condition = Annotated[
    PathPatternCondition | HostHeaderCondition | SourceIpCondition | HttpHeaderCondition,
    Field(discriminator="field"),
]
_CONDITION_CONFIG = {
    "path-pattern": "PathPatternConfig",
    "host-header": "HostHeaderConfig",
    "source-ip": "SourceIpConfig",
    "http-header": "HttpHeaderConfig",
}


def observed_condition(item: Mapping[str, Any]) -> dict[str, Any]:
    """A condition as AWS reports it, in the shape of its model's dump. AWS gives a path or host both as
    ``Values`` (the older form) and in its ``...Config``; another kind of condition equals nothing desired."""
    field = str(item.get("Field"))
    config_key = _CONDITION_CONFIG.get(field)
    if config_key is None:
        rest = {k: v for k, v in item.items() if k != "Field"}
        return {"field": field, "values": [json.dumps(rest, sort_keys=True, default=str)]}
    config = item.get(config_key) or {}
    values = config.get("Values") or item.get("Values") or []
    out: dict[str, Any] = {"values": sorted(set(values)), "field": field}
    if field == "http-header":
        out["name"] = config.get("HttpHeaderName")
    return out


class ListenerRuleProps(Props):
    listener_arn: str
    #: 1-50000, lowest evaluated first; required (no next-free priority): a rule is found by it
    priority: int = Field(ge=1, le=50000)
    #: all must match; compared as a set, and each condition's values as a set
    conditions: list[Condition] = Field(min_length=1)
    actions: list[Action] = Field(min_length=1)

    @model_validator(mode="after")
    def _normal_form(self) -> ListenerRuleProps:
        self.actions = _in_order(self.actions)
        return self


@register
class ListenerRule(_Elb):
    """A listener rule: CreateRule (tagged), DescribeRules, ModifyRule (conditions, actions), SetRulePriorities
    (its priority, in place), DeleteRule; Secrets Manager GetSecretValue for an OIDC client secret."""

    kind = "elbv2.listener_rule"
    _describe_by_arns = ("describe_rules", "RuleArns", "Rules", "RuleArn")
    Props = ListenerRuleProps
    replace_on: ClassVar = frozenset({"listener_arn"})
    unordered: ClassVar = frozenset({"conditions"})
    duplicate_codes: ClassVar = frozenset({"PriorityInUse"})

    def find(self, ctx: NodeContext, props: ListenerRuleProps) -> str | None:
        pages = ctx.client("elbv2").get_paginator("describe_rules")
        try:
            for page in pages.paginate(ListenerArn=props.listener_arn):
                for rule in page["Rules"]:
                    if rule.get("Priority") == str(props.priority):
                        return str(rule["RuleArn"])
        except ClientError as err:
            if not self.missing(err):
                raise
        return None

    def _observe(self, ctx: NodeContext, id: str, rule: dict[str, Any], tags: dict[str, str]) -> Observed:
        # the rule's listener: its ARN with "listener-rule/" as "listener/" and without the rule's own id
        listener_arn = id.replace(":listener-rule/", ":listener/", 1).rsplit("/", 1)[0]
        priority = str(rule.get("Priority"))
        props = {
            "listener_arn": listener_arn,
            "priority": int(priority) if priority.isdigit() else priority,  # the default rule's is "default"
            "conditions": sorted(
                (observed_condition(c) for c in rule.get("Conditions") or []), key=lambda c: json.dumps(c)
            ),
            "actions": observed_actions(rule.get("Actions") or []),
            "tags": tags,
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": id, "listener_arn": listener_arn})

    def create(self, ctx: NodeContext, props: ListenerRuleProps) -> str:
        arn = ctx.call(
            ctx.client("elbv2").create_rule,
            retry_on=_PARENT_NOT_YET,
            ListenerArn=props.listener_arn,
            Priority=props.priority,
            Conditions=[c.aws() for c in props.conditions],
            Actions=aws_actions(ctx, props.actions),
            Tags=tag_list(ctx.tags),
        )["Rules"][0]["RuleArn"]
        ctx.created(arn)
        return str(arn)

    def update(
        self, ctx: NodeContext, id: str, props: ListenerRuleProps, observed: Observed, changes: set[str]
    ) -> None:
        elb = ctx.client("elbv2")
        if "priority" in changes:
            elb.set_rule_priorities(RulePriorities=[{"RuleArn": id, "Priority": props.priority}])
        if changes & {"conditions", "actions"}:
            ctx.call(
                elb.modify_rule,
                retry_on=("TargetGroupNotFound",),  # a target group made just now
                RuleArn=id,
                Conditions=[c.aws() for c in props.conditions],
                Actions=aws_actions(ctx, props.actions, observed.props.get("actions") or []),
            )
        if "tags" in changes:
            self._retag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ListenerRuleProps | None) -> None:
        ctx.client("elbv2").delete_rule(RuleArn=id)
