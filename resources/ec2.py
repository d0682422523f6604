"""EC2 networking and launch templates: VPC, subnet, internet gateway, route table, route,
route-table association, security group (with its rules), launch template.

Calls: Create/Describe/Delete Vpc, Subnet, InternetGateway, RouteTable, SecurityGroup, LaunchTemplate;
ModifyVpcAttribute, DescribeVpcAttribute, ModifySubnetAttribute, Attach/DetachInternetGateway,
CreateRoute, ReplaceRoute, DeleteRoute, AssociateRouteTable, ReplaceRouteTableAssociation,
DisassociateRouteTable, AuthorizeSecurityGroupIngress/Egress, RevokeSecurityGroupIngress/Egress,
DescribeLaunchTemplateVersions, CreateLaunchTemplateVersion, ModifyLaunchTemplate, CreateTags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, model_validator

from resources.base import Observed, Props, Resource, error_code, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

#: deleting a network object while its dependents are still going away
DEPENDENCY = ("DependencyViolation",)
#: a new object not yet visible to the next call (eventual consistency)
NOT_YET = ("InvalidVpcID.NotFound", "InvalidSubnetID.NotFound", "InvalidRouteTableID.NotFound",
           "InvalidInternetGatewayID.NotFound", "InvalidGroup.NotFound")  # fmt: skip


def _specs(ctx: NodeContext, resource_type: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tag_list(ctx.tags)}]


def _tag(ctx: NodeContext, id: str) -> None:
    ctx.client("ec2").create_tags(Resources=[id], Tags=tag_list(ctx.tags))


class _Ec2Resource(Resource[Any]):
    """Shared: describe by id (a NotFound error means gone) and find by the stack's tags."""

    service = "ec2"
    describe: ClassVar[str]
    id_param: ClassVar[str]
    result_key: ClassVar[str]
    id_key: ClassVar[str]

    def _describe(self, ctx: NodeContext, ids: list[str]) -> list[dict[str, Any]]:
        try:
            return list(getattr(ctx.client("ec2"), self.describe)(**{self.id_param: ids})[self.result_key])
        except ClientError as err:
            if self.missing(err) and len(ids) == 1:
                return []
            if self.missing(err):  # one id of many is gone: ask one by one
                return [item for i in ids for item in self._describe(ctx, [i])]
            raise

    def _one(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        items = self._describe(ctx, [id])
        return items[0] if items else None

    def find(self, ctx: NodeContext, props: Any) -> str | None:
        items = getattr(ctx.client("ec2"), self.describe)(Filters=ctx.ec2_tag_filters())[self.result_key]
        items = [i for i in items if i.get("State") not in ("deleted", "deleting")]
        return str(items[0][self.id_key]) if items else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        out: dict[str, Observed] = {}
        for item in self._describe(ctx, ids):
            obs = self.observe(ctx, item)
            if obs is not None:
                out[obs.id] = obs
        return out

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        item = self._one(ctx, id)
        return self.observe(ctx, item) if item else None

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        raise NotImplementedError


# ------------------------------------------------------------------ VPC


class VpcProps(Props):
    cidr_block: str
    enable_dns_support: bool = True
    enable_dns_hostnames: bool = True


@register
class Vpc(_Ec2Resource):
    kind = "ec2.vpc"
    Props = VpcProps
    replace_on: ClassVar = frozenset({"cidr_block"})
    describe, id_param, result_key, id_key = "describe_vpcs", "VpcIds", "Vpcs", "VpcId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        ec2 = ctx.client("ec2")
        id = item["VpcId"]
        try:
            support = ec2.describe_vpc_attribute(VpcId=id, Attribute="enableDnsSupport")["EnableDnsSupport"]["Value"]
            hostnames = ec2.describe_vpc_attribute(VpcId=id, Attribute="enableDnsHostnames")["EnableDnsHostnames"][
                "Value"
            ]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {
            "cidr_block": item["CidrBlock"],
            "enable_dns_support": support,
            "enable_dns_hostnames": hostnames,
            "tags": tag_dict(item.get("Tags")),
        }
        arn = ctx.facts.arn("ec2", f"vpc/{id}")
        return Observed(id=id, props=props, attrs={"id": id, "arn": arn, "cidr_block": item["CidrBlock"]})

    def create(self, ctx: NodeContext, props: VpcProps) -> str:
        ec2 = ctx.client("ec2")
        id = ec2.create_vpc(CidrBlock=props.cidr_block, TagSpecifications=_specs(ctx, "vpc"))["Vpc"]["VpcId"]
        ctx.created(id)
        ctx.call(ec2.get_waiter("vpc_available").wait, retry_on=NOT_YET, VpcIds=[id])
        self._dns(ctx, id, props, {"enable_dns_support", "enable_dns_hostnames"})
        return str(id)

    @staticmethod
    def _dns(ctx: NodeContext, id: str, props: VpcProps, changes: set[str]) -> None:
        ec2 = ctx.client("ec2")
        # One attribute per call, as the API demands; support before hostnames (hostnames needs support).
        if "enable_dns_support" in changes:
            ec2.modify_vpc_attribute(VpcId=id, EnableDnsSupport={"Value": props.enable_dns_support})
        if "enable_dns_hostnames" in changes:
            ec2.modify_vpc_attribute(VpcId=id, EnableDnsHostnames={"Value": props.enable_dns_hostnames})

    def update(self, ctx: NodeContext, id: str, props: VpcProps, observed: Observed, changes: set[str]) -> None:
        self._dns(ctx, id, props, changes)
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: VpcProps | None) -> None:
        ec2 = ctx.client("ec2")
        ctx.call(ec2.delete_vpc, retry_on=DEPENDENCY, VpcId=id)


# --------------------------------------------------------------- subnet


class SubnetProps(Props):
    vpc_id: str
    cidr_block: str
    availability_zone: str
    map_public_ip_on_launch: bool = False


@register
class Subnet(_Ec2Resource):
    kind = "ec2.subnet"
    Props = SubnetProps
    #: a retried create whose first try went through: found again by its tags and adopted
    duplicate_codes: ClassVar = frozenset({"InvalidSubnet.Conflict"})
    replace_on: ClassVar = frozenset({"vpc_id", "cidr_block", "availability_zone"})
    describe, id_param, result_key, id_key = "describe_subnets", "SubnetIds", "Subnets", "SubnetId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["SubnetId"]
        props = {
            "vpc_id": item["VpcId"],
            "cidr_block": item["CidrBlock"],
            "availability_zone": item["AvailabilityZone"],
            "map_public_ip_on_launch": bool(item.get("MapPublicIpOnLaunch", False)),
            "tags": tag_dict(item.get("Tags")),
        }
        arn = item.get("SubnetArn") or ctx.facts.arn("ec2", f"subnet/{id}")
        attrs = {"id": id, "arn": arn, "availability_zone": item["AvailabilityZone"]}
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: SubnetProps) -> str:
        ec2 = ctx.client("ec2")
        id = ctx.call(
            ec2.create_subnet,
            retry_on=NOT_YET,
            VpcId=props.vpc_id,
            CidrBlock=props.cidr_block,
            AvailabilityZone=props.availability_zone,
            TagSpecifications=_specs(ctx, "subnet"),
        )["Subnet"]["SubnetId"]
        ctx.created(id)
        if props.map_public_ip_on_launch:
            ctx.call(ec2.modify_subnet_attribute, retry_on=NOT_YET, SubnetId=id, MapPublicIpOnLaunch={"Value": True})
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: SubnetProps, observed: Observed, changes: set[str]) -> None:
        if "map_public_ip_on_launch" in changes:
            ctx.client("ec2").modify_subnet_attribute(
                SubnetId=id, MapPublicIpOnLaunch={"Value": props.map_public_ip_on_launch}
            )
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: SubnetProps | None) -> None:
        ctx.call(ctx.client("ec2").delete_subnet, retry_on=DEPENDENCY, SubnetId=id)


# ----------------------------------------------------- internet gateway


def _attach_gateway(ctx: NodeContext, igw: str, vpc: str) -> None:
    """Idempotent: a retried attach whose first try went through answers Resource.AlreadyAssociated."""
    ec2 = ctx.client("ec2")
    try:
        ctx.call(ec2.attach_internet_gateway, retry_on=NOT_YET, InternetGatewayId=igw, VpcId=vpc)
    except ClientError as err:
        if error_code(err) != "Resource.AlreadyAssociated":
            raise
        gw = ec2.describe_internet_gateways(InternetGatewayIds=[igw])["InternetGateways"][0]
        if vpc not in [a["VpcId"] for a in gw.get("Attachments", [])]:
            raise


class InternetGatewayProps(Props):
    vpc_id: str


@register
class InternetGateway(_Ec2Resource):
    kind = "ec2.internet_gateway"
    Props = InternetGatewayProps
    describe, id_param = "describe_internet_gateways", "InternetGatewayIds"
    result_key, id_key = "InternetGateways", "InternetGatewayId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["InternetGatewayId"]
        attached = [a["VpcId"] for a in item.get("Attachments", []) if a.get("State") in ("available", "attached")]
        props = {"vpc_id": attached[0] if attached else None, "tags": tag_dict(item.get("Tags"))}
        return Observed(id=id, props=props, attrs={"id": id, "arn": ctx.facts.arn("ec2", f"internet-gateway/{id}")})

    def create(self, ctx: NodeContext, props: InternetGatewayProps) -> str:
        ec2 = ctx.client("ec2")
        id = ec2.create_internet_gateway(TagSpecifications=_specs(ctx, "internet-gateway"))["InternetGateway"][
            "InternetGatewayId"
        ]
        ctx.created(id)
        _attach_gateway(ctx, id, props.vpc_id)
        return str(id)

    def update(
        self, ctx: NodeContext, id: str, props: InternetGatewayProps, observed: Observed, changes: set[str]
    ) -> None:
        ec2 = ctx.client("ec2")
        if "vpc_id" in changes:
            if observed.props.get("vpc_id"):
                ec2.detach_internet_gateway(InternetGatewayId=id, VpcId=observed.props["vpc_id"])
            _attach_gateway(ctx, id, props.vpc_id)
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: InternetGatewayProps | None) -> None:
        ec2 = ctx.client("ec2")
        item = self._one(ctx, id)
        for a in (item or {}).get("Attachments", []):
            ctx.call(ec2.detach_internet_gateway, retry_on=DEPENDENCY, InternetGatewayId=id, VpcId=a["VpcId"])
        ctx.call(ec2.delete_internet_gateway, retry_on=DEPENDENCY, InternetGatewayId=id)


# ---------------------------------------------------------- route table


class RouteTableProps(Props):
    vpc_id: str


@register
class RouteTable(_Ec2Resource):
    kind = "ec2.route_table"
    Props = RouteTableProps
    replace_on: ClassVar = frozenset({"vpc_id"})
    describe, id_param, result_key, id_key = "describe_route_tables", "RouteTableIds", "RouteTables", "RouteTableId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["RouteTableId"]
        props = {"vpc_id": item["VpcId"], "tags": tag_dict(item.get("Tags"))}
        return Observed(id=id, props=props, attrs={"id": id, "arn": ctx.facts.arn("ec2", f"route-table/{id}")})

    def create(self, ctx: NodeContext, props: RouteTableProps) -> str:
        ec2 = ctx.client("ec2")
        id = ctx.call(
            ec2.create_route_table, retry_on=NOT_YET, VpcId=props.vpc_id, TagSpecifications=_specs(ctx, "route-table")
        )["RouteTable"]["RouteTableId"]
        ctx.created(id)
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: RouteTableProps, observed: Observed, changes: set[str]) -> None:
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RouteTableProps | None) -> None:
        ec2 = ctx.client("ec2")
        item = self._one(ctx, id)
        # A subnet deleted elsewhere can leave its association behind; a table with one cannot be deleted.
        for assoc in (item or {}).get("Associations", []):
            if not assoc.get("Main"):
                try:
                    ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
                except ClientError as err:
                    if not self.missing(err):
                        raise
        ctx.call(ec2.delete_route_table, retry_on=DEPENDENCY, RouteTableId=id)


# ---------------------------------------------------------------- route


class RouteProps(Props):
    route_table_id: str
    destination_cidr_block: str
    gateway_id: str


def _route_table(ctx: NodeContext, rtb: str) -> dict[str, Any] | None:
    try:
        tables = ctx.client("ec2").describe_route_tables(RouteTableIds=[rtb])["RouteTables"]
    except ClientError as err:
        if error_code(err) == "InvalidRouteTableID.NotFound":
            return None
        raise
    return tables[0] if tables else None


@register
class Route(Resource[RouteProps]):
    """One route of a route table; its id is ``<route table id>|<destination CIDR>``."""

    kind = "ec2.route"
    service = "ec2"
    Props = RouteProps
    replace_on: ClassVar = frozenset({"route_table_id", "destination_cidr_block"})
    taggable = False
    not_found_codes: ClassVar = frozenset({"InvalidRoute.NotFound"})
    duplicate_codes: ClassVar = frozenset({"RouteAlreadyExists"})

    def find(self, ctx: NodeContext, props: RouteProps) -> str | None:
        id = f"{props.route_table_id}|{props.destination_cidr_block}"
        return id if self.read(ctx, id) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        rtb, dest = id.split("|", 1)
        table = _route_table(ctx, rtb)
        for route in (table or {}).get("Routes", []):
            if route.get("DestinationCidrBlock") == dest and route.get("State", "active") != "deleted":
                props = {"route_table_id": rtb, "destination_cidr_block": dest, "gateway_id": route.get("GatewayId")}
                return Observed(id=id, props=props, attrs={"id": id})
        return None

    def create(self, ctx: NodeContext, props: RouteProps) -> str:
        ctx.call(
            ctx.client("ec2").create_route,
            retry_on=NOT_YET,
            RouteTableId=props.route_table_id,
            DestinationCidrBlock=props.destination_cidr_block,
            GatewayId=props.gateway_id,
        )
        id = f"{props.route_table_id}|{props.destination_cidr_block}"
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: RouteProps, observed: Observed, changes: set[str]) -> None:
        ctx.client("ec2").replace_route(
            RouteTableId=props.route_table_id,
            DestinationCidrBlock=props.destination_cidr_block,
            GatewayId=props.gateway_id,
        )

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RouteProps | None) -> None:
        rtb, dest = id.split("|", 1)
        try:
            ctx.client("ec2").delete_route(RouteTableId=rtb, DestinationCidrBlock=dest)
        except ClientError as err:
            if error_code(err) != "InvalidRouteTableID.NotFound":
                raise


# --------------------------------------------------- route association


class RouteTableAssociationProps(Props):
    route_table_id: str
    subnet_id: str


@register
class RouteTableAssociation(Resource[RouteTableAssociationProps]):
    kind = "ec2.route_table_association"
    service = "ec2"
    Props = RouteTableAssociationProps
    replace_on: ClassVar = frozenset({"subnet_id"})
    taggable = False
    not_found_codes: ClassVar = frozenset({"InvalidAssociationID.NotFound"})

    def find(self, ctx: NodeContext, props: RouteTableAssociationProps) -> str | None:
        tables = ctx.client("ec2").describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [props.subnet_id]}]
        )["RouteTables"]
        for t in tables:
            for a in t.get("Associations", []):
                if a.get("SubnetId") == props.subnet_id:
                    return str(a["RouteTableAssociationId"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        tables = ctx.client("ec2").describe_route_tables(
            Filters=[{"Name": "association.route-table-association-id", "Values": [id]}]
        )["RouteTables"]
        for t in tables:
            for a in t.get("Associations", []):
                if (
                    a.get("RouteTableAssociationId") == id
                    and a.get("AssociationState", {}).get("State") != "disassociated"
                ):
                    props = {"route_table_id": t["RouteTableId"], "subnet_id": a.get("SubnetId")}
                    return Observed(id=id, props=props, attrs={"id": id})
        return None

    def create(self, ctx: NodeContext, props: RouteTableAssociationProps) -> str:
        id = ctx.call(
            ctx.client("ec2").associate_route_table,
            retry_on=NOT_YET,
            RouteTableId=props.route_table_id,
            SubnetId=props.subnet_id,
        )["AssociationId"]
        ctx.created(id)
        return str(id)

    def update(
        self, ctx: NodeContext, id: str, props: RouteTableAssociationProps, observed: Observed, changes: set[str]
    ) -> None:
        # The association gets a new id; the engine reads it back through find on the next run.
        ctx.client("ec2").replace_route_table_association(AssociationId=id, RouteTableId=props.route_table_id)

    def delete(
        self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RouteTableAssociationProps | None
    ) -> None:
        ctx.client("ec2").disassociate_route_table(AssociationId=id)


# ------------------------------------------------------- security group


class SecurityGroupRule(BaseModel):
    """One atomic rule: one protocol/port range and one source (a CIDR, another group, or the group itself)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: str
    from_port: int = 0
    to_port: int = 0
    cidr: str | None = None
    source_security_group_id: str | None = None
    self_ref: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> SecurityGroupRule:
        sources = [self.cidr is not None, self.source_security_group_id is not None, self.self_ref]
        if sum(sources) != 1:
            raise ValueError("a rule needs exactly one of cidr, source_security_group_id, self_ref")
        return self

    def permission(self, group_id: str) -> dict[str, Any]:
        perm: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            perm.update(FromPort=self.from_port, ToPort=self.to_port)
        desc = {"Description": self.description} if self.description else {}
        if self.cidr is not None:
            key = "Ipv6Ranges" if ":" in self.cidr else "IpRanges"
            perm[key] = [{"CidrIpv6" if ":" in self.cidr else "CidrIp": self.cidr, **desc}]
        else:
            gid = group_id if self.self_ref else self.source_security_group_id
            perm["UserIdGroupPairs"] = [{"GroupId": gid, **desc}]
        return perm


def _rules(group_id: str, permissions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in permissions:
        proto = str(p.get("IpProtocol", "-1"))
        all_traffic = proto == "-1"
        base = {
            "protocol": proto,
            "from_port": 0 if all_traffic else int(p.get("FromPort", 0)),
            "to_port": 0 if all_traffic else int(p.get("ToPort", 0)),
        }
        for r in p.get("IpRanges", []):
            out.append({**base, "cidr": r["CidrIp"], "description": r.get("Description", "")})
        for r in p.get("Ipv6Ranges", []):
            out.append({**base, "cidr": r["CidrIpv6"], "description": r.get("Description", "")})
        for r in p.get("UserIdGroupPairs", []):
            own = r.get("GroupId") == group_id
            out.append({**base, "source_security_group_id": None if own else r.get("GroupId"), "self_ref": own,
                        "description": r.get("Description", "")})  # fmt: skip
    blank = {"cidr": None, "source_security_group_id": None, "self_ref": False}
    full = [SecurityGroupRule.model_validate({**blank, **r})
            for r in out]  # fmt: skip
    return [r.model_dump(mode="json") for r in full]


class SecurityGroupProps(Props):
    name: str
    description: str
    vpc_id: str
    ingress: list[SecurityGroupRule] = []
    egress: list[SecurityGroupRule] = []


ALLOW_ALL_EGRESS = SecurityGroupRule(protocol="-1", cidr="0.0.0.0/0")


@register
class SecurityGroup(_Ec2Resource):
    kind = "ec2.security_group"
    Props = SecurityGroupProps
    replace_on: ClassVar = frozenset({"name", "description", "vpc_id"})
    unordered: ClassVar = frozenset({"ingress", "egress"})
    duplicate_codes: ClassVar = frozenset({"InvalidGroup.Duplicate"})
    describe, id_param, result_key, id_key = "describe_security_groups", "GroupIds", "SecurityGroups", "GroupId"

    def find(self, ctx: NodeContext, props: SecurityGroupProps) -> str | None:
        groups = ctx.client("ec2").describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [props.vpc_id]}, {"Name": "group-name", "Values": [props.name]}]
        )["SecurityGroups"]
        return str(groups[0]["GroupId"]) if groups else None

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["GroupId"]
        props = {
            "name": item["GroupName"],
            "description": item.get("Description", ""),
            "vpc_id": item.get("VpcId"),
            "ingress": _rules(id, item.get("IpPermissions", [])),
            "egress": _rules(id, item.get("IpPermissionsEgress", [])),
            "tags": tag_dict(item.get("Tags")),
        }
        attrs = {"id": id, "name": item["GroupName"], "arn": ctx.facts.arn("ec2", f"security-group/{id}")}
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: SecurityGroupProps) -> str:
        ec2 = ctx.client("ec2")
        id = ctx.call(
            ec2.create_security_group,
            retry_on=NOT_YET,
            GroupName=props.name,
            Description=props.description,
            VpcId=props.vpc_id,
            TagSpecifications=_specs(ctx, "security-group"),
        )["GroupId"]
        ctx.created(id)
        # AWS adds an allow-all egress rule to every new group; keep it only if it is wanted.
        self._apply_rules(ctx, id, props, have_ingress=[], have_egress=[ALLOW_ALL_EGRESS])
        return str(id)

    def _apply_rules(
        self,
        ctx: NodeContext,
        id: str,
        props: SecurityGroupProps,
        have_ingress: list[SecurityGroupRule],
        have_egress: list[SecurityGroupRule],
    ) -> None:
        ec2 = ctx.client("ec2")
        for want, have, authorize, revoke in (
            (props.ingress, have_ingress, ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress),
            (props.egress, have_egress, ec2.authorize_security_group_egress, ec2.revoke_security_group_egress),
        ):
            extra = [r for r in have if r not in set(want)]
            missing = [r for r in want if r not in set(have)]
            if extra:
                revoke(GroupId=id, IpPermissions=[r.permission(id) for r in extra])
            if missing:
                try:
                    ctx.call(authorize, retry_on=NOT_YET, GroupId=id, IpPermissions=[r.permission(id) for r in missing])
                except ClientError as err:
                    # a retried authorize whose first try went through: the rules are there
                    if error_code(err) != "InvalidPermission.Duplicate":
                        raise

    def update(
        self, ctx: NodeContext, id: str, props: SecurityGroupProps, observed: Observed, changes: set[str]
    ) -> None:
        if changes & {"ingress", "egress"}:
            have_in = [SecurityGroupRule.model_validate(r) for r in observed.props.get("ingress", [])]
            have_out = [SecurityGroupRule.model_validate(r) for r in observed.props.get("egress", [])]
            self._apply_rules(ctx, id, props, have_in, have_out)
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: SecurityGroupProps | None) -> None:
        # Batch's instances and ENIs may still be releasing the group for a while after their CE is gone.
        ctx.call(ctx.client("ec2").delete_security_group, retry_on=DEPENDENCY, GroupId=id)


# ------------------------------------------------------ launch template


class LaunchTemplateProps(Props):
    name: str
    instance_profile_arn: str | None = None
    http_endpoint: str = "enabled"
    http_tokens: str = "required"
    http_put_response_hop_limit: int = 2
    root_device_name: str = "/dev/xvda"
    root_volume_size: int = 100
    root_volume_type: str = "gp3"
    root_volume_encrypted: bool = True
    user_data: str | None = None


@register
class LaunchTemplate(Resource[LaunchTemplateProps]):
    """Every change makes a new version with the full data and makes it the default."""

    kind = "ec2.launch_template"
    service = "ec2"
    Props = LaunchTemplateProps
    replace_on: ClassVar = frozenset({"name"})
    not_found_codes: ClassVar = frozenset(
        {
            "InvalidLaunchTemplateId.NotFound",
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidLaunchTemplateId.Malformed",
        }  # fmt: skip
    )
    duplicate_codes: ClassVar = frozenset({"InvalidLaunchTemplateName.AlreadyExistsException"})

    @staticmethod
    def _data(props: LaunchTemplateProps) -> dict[str, Any]:
        data: dict[str, Any] = {
            "MetadataOptions": {
                "HttpEndpoint": props.http_endpoint,
                "HttpTokens": props.http_tokens,
                "HttpPutResponseHopLimit": props.http_put_response_hop_limit,
            },
            "BlockDeviceMappings": [
                {
                    "DeviceName": props.root_device_name,
                    "Ebs": {
                        "VolumeSize": props.root_volume_size,
                        "VolumeType": props.root_volume_type,
                        "Encrypted": props.root_volume_encrypted,
                        "DeleteOnTermination": True,
                    },
                }
            ],
        }
        if props.instance_profile_arn:
            data["IamInstanceProfile"] = {"Arn": props.instance_profile_arn}
        if props.user_data:
            data["UserData"] = props.user_data
        return data

    def find(self, ctx: NodeContext, props: LaunchTemplateProps) -> str | None:
        try:
            lts = ctx.client("ec2").describe_launch_templates(LaunchTemplateNames=[props.name])["LaunchTemplates"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return str(lts[0]["LaunchTemplateId"]) if lts else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        ec2 = ctx.client("ec2")
        try:
            lt = ec2.describe_launch_templates(LaunchTemplateIds=[id])["LaunchTemplates"][0]
            version = ec2.describe_launch_template_versions(LaunchTemplateId=id, Versions=["$Default"])[
                "LaunchTemplateVersions"
            ][0]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        except IndexError:
            return None
        data = version.get("LaunchTemplateData", {})
        meta = data.get("MetadataOptions", {})
        devices = data.get("BlockDeviceMappings", [{}])
        ebs = devices[0].get("Ebs", {}) if devices else {}
        props = {
            "name": lt["LaunchTemplateName"],
            "instance_profile_arn": data.get("IamInstanceProfile", {}).get("Arn"),
            "http_endpoint": meta.get("HttpEndpoint", "enabled"),
            "http_tokens": meta.get("HttpTokens", "optional"),
            "http_put_response_hop_limit": meta.get("HttpPutResponseHopLimit", 1),
            "root_device_name": devices[0].get("DeviceName") if devices else None,
            "root_volume_size": ebs.get("VolumeSize"),
            "root_volume_type": ebs.get("VolumeType"),
            "root_volume_encrypted": bool(ebs.get("Encrypted", False)),
            "user_data": data.get("UserData"),
            "tags": tag_dict(lt.get("Tags")),
        }
        attrs = {
            "id": id,
            "name": lt["LaunchTemplateName"],
            "default_version": str(lt["DefaultVersionNumber"]),
            "latest_version": str(lt["LatestVersionNumber"]),
        }
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: LaunchTemplateProps) -> str:
        id = ctx.call(
            ctx.client("ec2").create_launch_template,
            retry_on=("InvalidParameterValue:Invalid IAM Instance Profile",),
            LaunchTemplateName=props.name,
            LaunchTemplateData=self._data(props),
            TagSpecifications=_specs(ctx, "launch-template"),
        )["LaunchTemplate"]["LaunchTemplateId"]
        ctx.created(id)
        return str(id)

    def update(
        self, ctx: NodeContext, id: str, props: LaunchTemplateProps, observed: Observed, changes: set[str]
    ) -> None:
        ec2 = ctx.client("ec2")
        if changes - {"tags"}:
            version = ctx.call(
                ec2.create_launch_template_version,
                retry_on=("InvalidParameterValue:Invalid IAM Instance Profile",),
                LaunchTemplateId=id,
                LaunchTemplateData=self._data(props),
            )["LaunchTemplateVersion"]["VersionNumber"]
            ec2.modify_launch_template(LaunchTemplateId=id, DefaultVersion=str(version))
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LaunchTemplateProps | None) -> None:
        ctx.client("ec2").delete_launch_template(LaunchTemplateId=id)
