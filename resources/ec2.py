"""EC2 networking and launch templates: VPC, subnet, internet gateway, route table, route,
route-table association, Elastic IP, NAT gateway, VPC (gateway) endpoint, security group (with its rules),
launch template.

Calls: Create/Describe/Delete Vpc, Subnet, InternetGateway, RouteTable, SecurityGroup, LaunchTemplate;
ModifyVpcAttribute, DescribeVpcAttribute, ModifySubnetAttribute, Attach/DetachInternetGateway,
CreateRoute, ReplaceRoute, DeleteRoute, AssociateRouteTable, ReplaceRouteTableAssociation,
DisassociateRouteTable, AllocateAddress, DescribeAddresses, ReleaseAddress, CreateNatGateway,
DescribeNatGateways, DeleteNatGateway, CreateVpcEndpoint, DescribeVpcEndpoints, ModifyVpcEndpoint,
DeleteVpcEndpoints, AuthorizeSecurityGroupIngress/Egress, RevokeSecurityGroupIngress/Egress,
UpdateSecurityGroupRuleDescriptionsIngress/Egress, DescribeLaunchTemplateVersions,
CreateLaunchTemplateVersion, ModifyLaunchTemplate, CreateTags.

Every taggable type is tagged in its create call (``TagSpecifications``), so it is never untagged, and is
found again by those tags (``ctx.ec2_tag_filters()``); security groups and launch templates by name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from provisioner.core.policy import normalize_policy
from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, error_code, policy_json, register, tag_dict, tag_list
from resources.pricing import CostLine, Where, hourly, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: deleting a network object while its dependents are still going away
DEPENDENCY = ("DependencyViolation",)
#: a new object not yet visible to the next call (eventual consistency)
NOT_YET = (
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidGroup.NotFound",
)
#: an instance profile (or its role) made just now is not yet visible to EC2
PROFILE_NOT_YET = ("InvalidParameterValue:Invalid IAM Instance Profile",)


def _specs(ctx: NodeContext, resource_type: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tag_list(ctx.tags)}]


def _tag(ctx: NodeContext, id: str) -> None:
    """Put all of this node's tags on; other keys stay."""
    ctx.client("ec2").create_tags(Resources=[id], Tags=tag_list(ctx.tags))


class _Ec2Resource(Resource[Any]):
    """Shared: describe by id (a NotFound error means gone) and find by the stack's tags."""

    service = "ec2"
    describe: ClassVar[str]
    id_param: ClassVar[str]
    result_key: ClassVar[str]
    id_key: ClassVar[str]
    #: states (lower case) in which a described item is no longer there: it reads as None and is not found
    gone_states: ClassVar[frozenset[str]] = frozenset({"deleted", "deleting"})

    def _describe(self, ctx: NodeContext, ids: list[str]) -> list[dict[str, Any]]:
        try:
            return list(getattr(ctx.client("ec2"), self.describe)(**{self.id_param: ids})[self.result_key])
        except ClientError as err:
            if self.missing(err) and len(ids) == 1:
                return []
            if self.missing(err):  # one id of many is gone, which fails the whole call: ask one by one
                return [item for i in ids for item in self._describe(ctx, [i])]
            raise

    def _one(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        items = self._describe(ctx, [id])
        return items[0] if items else None

    def _gone(self, item: Mapping[str, Any]) -> bool:
        # lower-cased: VPC endpoints' states are spelled both ways (the API model says "Deleted")
        return str(item.get("State", "")).lower() in self.gone_states

    def find(self, ctx: NodeContext, props: Any) -> str | None:
        items = getattr(ctx.client("ec2"), self.describe)(Filters=ctx.ec2_tag_filters())[self.result_key]
        # the tags checked here too: a describe that ignores a tag filter (moto's DescribeNatGateways) must not
        # hand over another node's resource
        items = [i for i in items if not self._gone(i) and ctx.owns(tag_dict(i.get("Tags")))]
        return str(items[0][self.id_key]) if items else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        out: dict[str, Observed] = {}
        for item in self._describe(ctx, ids):
            obs = None if self._gone(item) else self.observe(ctx, item)
            if obs is not None:
                out[obs.id] = obs
        return out

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        item = self._one(ctx, id)
        return self.observe(ctx, item) if item and not self._gone(item) else None

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        raise NotImplementedError

    def _wait_available(self, ctx: NodeContext, id: str, what: str) -> None:
        def check() -> bool | str:
            state = str((self._one(ctx, id) or {}).get("State", "not visible yet"))
            return True if state == "available" else state

        ctx.wait(f"{what} {id} available", check)


# ------------------------------------------------------------------ VPC


class VpcProps(Props):
    cidr_block: str
    enable_dns_support: bool = True
    enable_dns_hostnames: bool = True


@register
class Vpc(_Ec2Resource):
    """CreateVpc (tagged), ModifyVpcAttribute for the DNS switches, DescribeVpcs/DescribeVpcAttribute,
    DeleteVpc (retried while its dependents are still going away)."""

    kind = "ec2.vpc"
    Props = VpcProps
    replace_on: ClassVar = frozenset({"cidr_block"})
    describe, id_param, result_key, id_key = "describe_vpcs", "VpcIds", "Vpcs", "VpcId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        ec2 = ctx.client("ec2")
        id = item["VpcId"]
        try:
            support = ec2.describe_vpc_attribute(VpcId=id, Attribute="enableDnsSupport")
            hostnames = ec2.describe_vpc_attribute(VpcId=id, Attribute="enableDnsHostnames")
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {
            "cidr_block": item["CidrBlock"],
            "enable_dns_support": bool(support["EnableDnsSupport"]["Value"]),
            "enable_dns_hostnames": bool(hostnames["EnableDnsHostnames"]["Value"]),
            "tags": tag_dict(item.get("Tags")),
        }
        attrs = {"id": id, "arn": ctx.facts.arn("ec2", f"vpc/{id}"), "cidr_block": item["CidrBlock"]}
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: VpcProps) -> str:
        ec2 = ctx.client("ec2")
        id = str(ec2.create_vpc(CidrBlock=props.cidr_block, TagSpecifications=_specs(ctx, "vpc"))["Vpc"]["VpcId"])
        ctx.created(id)
        self._wait_available(ctx, id, "VPC")
        # AWS's defaults are support on, hostnames off: set both so a fresh read equals the desired.
        self._dns(ctx, id, props, {"enable_dns_support", "enable_dns_hostnames"})
        return id

    @staticmethod
    def _dns(ctx: NodeContext, id: str, props: VpcProps, changes: set[str]) -> None:
        ec2 = ctx.client("ec2")
        # One attribute per call, as the API demands; support before hostnames (hostnames needs support).
        if "enable_dns_support" in changes:
            ctx.call(
                ec2.modify_vpc_attribute,
                retry_on=NOT_YET,
                VpcId=id,
                EnableDnsSupport={"Value": props.enable_dns_support},
            )
        if "enable_dns_hostnames" in changes:
            ctx.call(
                ec2.modify_vpc_attribute,
                retry_on=NOT_YET,
                VpcId=id,
                EnableDnsHostnames={"Value": props.enable_dns_hostnames},
            )

    def update(self, ctx: NodeContext, id: str, props: VpcProps, observed: Observed, changes: set[str]) -> None:
        self._dns(ctx, id, props, changes)
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: VpcProps | None) -> None:
        # Subnets, gateways and groups deleted just before may still hold the VPC for a while.
        ctx.call(ctx.client("ec2").delete_vpc, retry_on=DEPENDENCY, VpcId=id)


# --------------------------------------------------------------- subnet


class SubnetProps(Props):
    vpc_id: str
    cidr_block: str
    availability_zone: str
    map_public_ip_on_launch: bool = False


@register
class Subnet(_Ec2Resource):
    """CreateSubnet (tagged), ModifySubnetAttribute MapPublicIpOnLaunch, DescribeSubnets, DeleteSubnet."""

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
        self._wait_available(ctx, id, "subnet")
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: SubnetProps, observed: Observed, changes: set[str]) -> None:
        if "map_public_ip_on_launch" in changes:
            ctx.client("ec2").modify_subnet_attribute(
                SubnetId=id, MapPublicIpOnLaunch={"Value": props.map_public_ip_on_launch}
            )
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: SubnetProps | None) -> None:
        # ENIs of Lambda/Batch/Fargate are released some time after their owner is gone.
        ctx.call(ctx.client("ec2").delete_subnet, retry_on=DEPENDENCY, SubnetId=id)


# ----------------------------------------------------- internet gateway


class InternetGatewayProps(Props):
    vpc_id: str


@register
class InternetGateway(_Ec2Resource):
    """CreateInternetGateway (tagged), Attach/DetachInternetGateway, DescribeInternetGateways,
    DeleteInternetGateway (after detaching)."""

    kind = "ec2.internet_gateway"
    Props = InternetGatewayProps
    describe, id_param = "describe_internet_gateways", "InternetGatewayIds"
    result_key, id_key = "InternetGateways", "InternetGatewayId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["InternetGatewayId"]
        # an attached gateway's attachment reads "available" (not "attached") on AWS
        attached = [a["VpcId"] for a in item.get("Attachments", []) if a.get("State") in ("available", "attached")]
        props = {"vpc_id": attached[0] if attached else None, "tags": tag_dict(item.get("Tags"))}
        return Observed(id=id, props=props, attrs={"id": id, "arn": ctx.facts.arn("ec2", f"internet-gateway/{id}")})

    def create(self, ctx: NodeContext, props: InternetGatewayProps) -> str:
        ec2 = ctx.client("ec2")
        gw = ec2.create_internet_gateway(TagSpecifications=_specs(ctx, "internet-gateway"))["InternetGateway"]
        id = str(gw["InternetGatewayId"])
        ctx.created(id)
        self._attach(ctx, id, props.vpc_id)
        return id

    def _attach(self, ctx: NodeContext, id: str, vpc: str) -> None:
        """Idempotent: a retried attach whose first try went through answers Resource.AlreadyAssociated."""
        ec2 = ctx.client("ec2")
        try:
            ctx.call(ec2.attach_internet_gateway, retry_on=NOT_YET, InternetGatewayId=id, VpcId=vpc)
        except ClientError as err:
            if error_code(err) != "Resource.AlreadyAssociated":
                raise
            obs = self.read(ctx, id)
            if obs is None or obs.props["vpc_id"] != vpc:
                raise

    def update(
        self, ctx: NodeContext, id: str, props: InternetGatewayProps, observed: Observed, changes: set[str]
    ) -> None:
        if "vpc_id" in changes:
            # A gateway serves one VPC at a time: off the old one first.
            old = observed.props.get("vpc_id")
            if old:
                ctx.client("ec2").detach_internet_gateway(InternetGatewayId=id, VpcId=old)
            self._attach(ctx, id, props.vpc_id)
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: InternetGatewayProps | None) -> None:
        ec2 = ctx.client("ec2")
        item = self._one(ctx, id)
        # Detaching fails with DependencyViolation while public addresses are still mapped in the VPC.
        for a in (item or {}).get("Attachments", []):
            try:
                ctx.call(ec2.detach_internet_gateway, retry_on=DEPENDENCY, InternetGatewayId=id, VpcId=a["VpcId"])
            except ClientError as err:
                if error_code(err) != "Gateway.NotAttached":  # a retried detach whose first try went through
                    raise
        ctx.call(ec2.delete_internet_gateway, retry_on=DEPENDENCY, InternetGatewayId=id)


# ---------------------------------------------------------- route table


class RouteTableProps(Props):
    vpc_id: str


@register
class RouteTable(_Ec2Resource):
    """CreateRouteTable (tagged), DescribeRouteTables, DisassociateRouteTable (leftover associations),
    DeleteRouteTable."""

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
        # An association left behind (moto keeps it after its subnet is deleted; an association made outside
        # mfprov) blocks the delete: let go of every one but the main one, which cannot be removed.
        for assoc in (item or {}).get("Associations", []):
            if assoc.get("Main"):
                continue
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


def _route_id(route_table_id: str, destination: str) -> str:
    return f"{route_table_id}|{destination}"


#: the keys a route's target may be under in DescribeRouteTables (an instance route has both the instance and ENI)
_ROUTE_TARGETS = (
    "GatewayId",
    "NatGatewayId",
    "TransitGatewayId",
    "VpcPeeringConnectionId",
    "InstanceId",
    "NetworkInterfaceId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "CoreNetworkArn",
)


def _target(gateway_id: str) -> dict[str, str]:
    # A NAT gateway goes in its own parameter; internet and virtual private gateways in GatewayId.
    return {"NatGatewayId": gateway_id} if gateway_id.startswith("nat-") else {"GatewayId": gateway_id}


@register
class Route(Resource[RouteProps]):
    """One route of a route table, id ``<route table id>|<destination CIDR>``: CreateRoute, ReplaceRoute,
    DeleteRoute, DescribeRouteTables. Routes carry no tags."""

    kind = "ec2.route"
    service = "ec2"
    Props = RouteProps
    replace_on: ClassVar = frozenset({"route_table_id", "destination_cidr_block"})
    taggable = False
    not_found_codes: ClassVar = frozenset({"InvalidRoute.NotFound"})
    duplicate_codes: ClassVar = frozenset({"RouteAlreadyExists"})

    def find(self, ctx: NodeContext, props: RouteProps) -> str | None:
        id = _route_id(props.route_table_id, props.destination_cidr_block)
        return id if self.read(ctx, id) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        return self.read_many(ctx, [id]).get(id)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """One DescribeRouteTables for the tables of all of them (by filter: a table gone is no error)."""
        wanted = {tuple(id.split("|", 1)) for id in ids}
        tables = ctx.client("ec2").describe_route_tables(
            Filters=[{"Name": "route-table-id", "Values": sorted({rtb for rtb, _ in wanted})}]
        )["RouteTables"]
        out: dict[str, Observed] = {}
        for table in tables:
            rtb = table["RouteTableId"]
            for route in table.get("Routes", []):
                dest = route.get("DestinationCidrBlock")
                if (rtb, dest) not in wanted:
                    continue
                # whatever the route points at now, so a target changed out of band shows as what it is
                gateway = next((route[k] for k in _ROUTE_TARGETS if route.get(k)), None)
                id = _route_id(rtb, dest)
                props = {"route_table_id": rtb, "destination_cidr_block": dest, "gateway_id": gateway}
                out[id] = Observed(id=id, props=props, attrs={"id": id})
        return out

    def create(self, ctx: NodeContext, props: RouteProps) -> str:
        ctx.call(
            ctx.client("ec2").create_route,
            retry_on=NOT_YET + ("InvalidGatewayID.NotFound", "InvalidNatGatewayID.NotFound"),
            RouteTableId=props.route_table_id,
            DestinationCidrBlock=props.destination_cidr_block,
            **_target(props.gateway_id),
        )
        id = _route_id(props.route_table_id, props.destination_cidr_block)
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: RouteProps, observed: Observed, changes: set[str]) -> None:
        if "gateway_id" in changes:
            ctx.client("ec2").replace_route(
                RouteTableId=props.route_table_id,
                DestinationCidrBlock=props.destination_cidr_block,
                **_target(props.gateway_id),
            )

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RouteProps | None) -> None:
        rtb, dest = id.split("|", 1)
        ctx.client("ec2").delete_route(RouteTableId=rtb, DestinationCidrBlock=dest)


# --------------------------------------------------- route association


class RouteTableAssociationProps(Props):
    route_table_id: str
    subnet_id: str


_GONE_ASSOCIATION = ("disassociating", "disassociated")


@register
class RouteTableAssociation(Resource[RouteTableAssociationProps]):
    """A subnet's association with a route table, id = the association id: AssociateRouteTable,
    ReplaceRouteTableAssociation, DisassociateRouteTable, DescribeRouteTables. Not taggable."""

    kind = "ec2.route_table_association"
    service = "ec2"
    Props = RouteTableAssociationProps
    replace_on: ClassVar = frozenset({"subnet_id"})
    taggable = False
    not_found_codes: ClassVar = frozenset({"InvalidAssociationID.NotFound"})
    #: a retried associate whose first try went through: found again through the subnet and adopted
    duplicate_codes: ClassVar = frozenset({"Resource.AlreadyAssociated"})

    @staticmethod
    def _associations(ctx: NodeContext, name: str, *values: str) -> list[tuple[str, dict[str, Any]]]:
        """(route table id, association) for the live subnet associations matching one filter."""
        tables = ctx.client("ec2").describe_route_tables(Filters=[{"Name": name, "Values": list(values)}])[
            "RouteTables"
        ]
        return [
            (str(t["RouteTableId"]), a)
            for t in tables
            for a in t.get("Associations", [])
            if a.get("SubnetId") and a.get("AssociationState", {}).get("State") not in _GONE_ASSOCIATION
        ]

    def find(self, ctx: NodeContext, props: RouteTableAssociationProps) -> str | None:
        for _, a in self._associations(ctx, "association.subnet-id", props.subnet_id):
            if a["SubnetId"] == props.subnet_id:
                return str(a["RouteTableAssociationId"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        return self.read_many(ctx, [id]).get(id)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """One DescribeRouteTables for all of them, filtered by association id."""
        out: dict[str, Observed] = {}
        for rtb, a in self._associations(ctx, "association.route-table-association-id", *ids):
            id = str(a["RouteTableAssociationId"])
            if id in ids:
                out[id] = Observed(id=id, props={"route_table_id": rtb, "subnet_id": a["SubnetId"]}, attrs={"id": id})
        return out

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
        if "route_table_id" not in changes:
            return
        new = ctx.client("ec2").replace_route_table_association(AssociationId=id, RouteTableId=props.route_table_id)
        # The subnet moves without a gap, but under a NEW association id (the old one stops existing). The
        # hook returns nothing, so the new id goes back on the observed object, whose id the engine reads back
        # and records after an update. Should the run die before that, the old id reads as missing and the
        # create path finds this association again through the subnet.
        observed.id = str(new["NewAssociationId"])
        observed.attrs = {**observed.attrs, "id": observed.id}

    def delete(
        self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RouteTableAssociationProps | None
    ) -> None:
        ctx.client("ec2").disassociate_route_table(AssociationId=id)


# ------------------------------------------------------- elastic IP

#: ReleaseAddress while something still holds the address: a NAT gateway being deleted (AWS answers AuthFailure,
#: the address being held by the gateway's service-managed interface), or any other association (InUse)
EIP_HELD = ("AuthFailure", "InvalidIPAddress.InUse")


class EipProps(Props):
    """An Elastic IP in the VPC domain, for a NAT gateway: nothing to choose but its tags."""


@register
class Eip(_Ec2Resource):
    """AllocateAddress (Domain vpc, tagged), DescribeAddresses, CreateTags, ReleaseAddress (retried while a NAT
    gateway being deleted still holds the address)."""

    kind = "ec2.eip"
    Props = EipProps
    describe, id_param, result_key, id_key = "describe_addresses", "AllocationIds", "Addresses", "AllocationId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["AllocationId"]
        attrs = {
            "id": id,
            "allocation_id": id,
            "public_ip": item.get("PublicIp"),
            "arn": ctx.facts.arn("ec2", f"elastic-ip/{id}"),
        }
        return Observed(id=id, props={"tags": tag_dict(item.get("Tags"))}, attrs=attrs)

    def create(self, ctx: NodeContext, props: EipProps) -> str:
        address = ctx.client("ec2").allocate_address(Domain="vpc", TagSpecifications=_specs(ctx, "elastic-ip"))
        id = str(address["AllocationId"])
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: EipProps, observed: Observed, changes: set[str]) -> None:
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: EipProps | None) -> None:
        # The NAT gateway that used it is deleted first, but lets go of the address only some time after.
        ctx.call(ctx.client("ec2").release_address, retry_on=EIP_HELD, AllocationId=id)

    def monthly_cost(self, props: EipProps, where: Where) -> list[CostLine]:
        return [hourly("public_ipv4", where.region, "public IPv4 address")]


# ---------------------------------------------------------- NAT gateway


class NatGatewayProps(Props):
    #: a public subnet (one whose route table sends 0.0.0.0/0 to the internet gateway)
    subnet_id: str
    #: the ``ec2.eip`` it answers from
    allocation_id: str


#: an address allocated a moment ago is not yet visible to CreateNatGateway
_ADDRESS_NOT_YET = NOT_YET + ("InvalidAllocationID.NotFound", "InvalidElasticIpID.NotFound")


@register
class NatGateway(_Ec2Resource):
    """A public NAT gateway: CreateNatGateway (tagged, ConnectivityType public), DescribeNatGateways, CreateTags,
    DeleteNatGateway. Create waits until ``available`` (``failed`` ends the wait with AWS's reason); delete waits
    until ``deleted``, when its address and subnet are free again. A ``failed`` gateway reads as gone: AWS
    deletes it on its own, and the next run makes a new one."""

    kind = "ec2.nat_gateway"
    Props = NatGatewayProps
    replace_on: ClassVar = frozenset({"subnet_id", "allocation_id"})
    describe, id_param, result_key, id_key = "describe_nat_gateways", "NatGatewayIds", "NatGateways", "NatGatewayId"
    gone_states: ClassVar = frozenset({"deleted", "deleting", "failed"})
    #: a NAT gateway takes a few minutes to come up, and as long or longer to go
    timeout = 1200.0

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["NatGatewayId"]
        addresses = item.get("NatGatewayAddresses") or [{}]
        primary = next((a for a in addresses if a.get("IsPrimary")), addresses[0])
        props = {
            "subnet_id": item.get("SubnetId"),
            "allocation_id": primary.get("AllocationId"),
            "tags": tag_dict(item.get("Tags")),
        }
        attrs = {
            "id": id,
            "arn": ctx.facts.arn("ec2", f"natgateway/{id}"),
            "public_ip": primary.get("PublicIp"),
            "vpc_id": item.get("VpcId"),
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _state(self, ctx: NodeContext, id: str) -> tuple[str, dict[str, Any]]:
        item = self._one(ctx, id)
        return (str(item.get("State", "")).lower(), item) if item else ("absent", {})

    def create(self, ctx: NodeContext, props: NatGatewayProps) -> str:
        nat = ctx.call(
            ctx.client("ec2").create_nat_gateway,
            retry_on=_ADDRESS_NOT_YET,
            SubnetId=props.subnet_id,
            AllocationId=props.allocation_id,
            ConnectivityType="public",
            TagSpecifications=_specs(ctx, "natgateway"),
        )["NatGateway"]
        id = str(nat["NatGatewayId"])
        ctx.created(id)

        def available() -> bool | str:
            state, item = self._state(ctx, id)
            if state == "failed":
                reason = item.get("FailureMessage") or item.get("FailureCode") or "no reason given"
                raise WaitFailed(f"NAT gateway {id} failed: {reason}")
            # just created, it may not be visible for a moment ("absent")
            return True if state == "available" else state

        ctx.wait(f"NAT gateway {id} available", available)
        return id

    def update(self, ctx: NodeContext, id: str, props: NatGatewayProps, observed: Observed, changes: set[str]) -> None:
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: NatGatewayProps | None) -> None:
        state, _ = self._state(ctx, id)
        if state in ("absent", "deleted"):
            return  # nothing left to delete (AWS shows a deleted gateway as "deleted" for about an hour)
        if state != "deleting":
            ctx.client("ec2").delete_nat_gateway(NatGatewayId=id)

        def deleted() -> bool | str:
            now, _ = self._state(ctx, id)
            return True if now in ("absent", "deleted") else now

        ctx.wait(f"NAT gateway {id} deleted", deleted)

    def monthly_cost(self, props: NatGatewayProps, where: Where) -> list[CostLine]:
        # its public address bills on its ec2.eip
        return [hourly("nat_gateway", where.region, "NAT gateway hours"), usage_based("NAT data processing per GB")]


# --------------------------------------------------------- VPC endpoint

#: the policy AWS gives an endpoint created without one, and what ResetPolicy puts back: full access
FULL_ACCESS_POLICY: dict[str, Any] = {
    "Version": "2008-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


def _full_access(doc: Any) -> bool:
    """Whether a policy document is AWS's default full-access one (its Version aside)."""
    return bool(normalize_policy(doc).get("Statement") == normalize_policy(FULL_ACCESS_POLICY)["Statement"])


ENDPOINT_TYPES = ("Gateway", "Interface")


class VpcEndpointProps(Props):
    vpc_id: str
    #: e.g. ``com.amazonaws.us-east-1.s3``
    service_name: str
    #: Gateway (S3, DynamoDB: routes in route tables) or Interface (network interfaces in subnets)
    endpoint_type: str = "Gateway"
    #: Gateway: the route tables that get the route to the service's prefix list
    route_table_ids: list[str] = []
    #: Interface: the subnets that get a network interface of the endpoint (at most one per zone)
    subnet_ids: list[str] = []
    #: Interface: the groups on those network interfaces
    security_group_ids: list[str] = []
    #: Interface: the service's own DNS name answers with the endpoint's addresses (what SDKs call unchanged);
    #: None for a Gateway endpoint, which has no DNS of its own
    private_dns_enabled: bool | None = None
    #: an IAM policy document; None: AWS's default, full access
    policy: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _type(self) -> VpcEndpointProps:
        if self.endpoint_type not in ENDPOINT_TYPES:
            raise ValueError(f"endpoint_type {self.endpoint_type!r} is not one of {', '.join(ENDPOINT_TYPES)}")
        if self.endpoint_type == "Gateway":
            if self.subnet_ids or self.security_group_ids or self.private_dns_enabled is not None:
                raise ValueError("a Gateway endpoint takes route_table_ids, not subnets, groups or private DNS")
        else:
            if self.route_table_ids:
                raise ValueError("an Interface endpoint takes subnet_ids and security_group_ids, not route tables")
            if not self.subnet_ids:
                raise ValueError("an Interface endpoint needs subnet_ids (one per zone it serves)")
            if self.private_dns_enabled is None:
                self.private_dns_enabled = True  # what CreateVpcEndpoint does for an Interface endpoint
        return self

    @field_validator("policy")
    @classmethod
    def _default_is_none(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        # Spelled out, the default policy is still the default: one form for it, so it compares equal.
        return None if v is not None and _full_access(v) else v


@register
class VpcEndpoint(_Ec2Resource):
    """A Gateway endpoint (S3, DynamoDB) or an Interface endpoint (ECR, CloudWatch Logs, ...): CreateVpcEndpoint
    (tagged, of its type), DescribeVpcEndpoints, ModifyVpcEndpoint (route tables, subnets and groups added and
    removed in place, policy), CreateTags, DeleteVpcEndpoints (waits until deleted). Found by its tags."""

    kind = "ec2.vpc_endpoint"
    Props = VpcEndpointProps
    # private DNS: ModifyVpcEndpoint can switch it, but while the name moves, calls from the VPC go astray either
    # way; a new endpoint is as short an interruption and one code path fewer
    replace_on: ClassVar = frozenset({"vpc_id", "service_name", "endpoint_type", "private_dns_enabled"})
    unordered: ClassVar = frozenset({"route_table_ids", "subnet_ids", "security_group_ids"})
    policy_fields: ClassVar = frozenset({"policy"})
    describe, id_param = "describe_vpc_endpoints", "VpcEndpointIds"
    result_key, id_key = "VpcEndpoints", "VpcEndpointId"

    def observe(self, ctx: NodeContext, item: dict[str, Any]) -> Observed | None:
        id = item["VpcEndpointId"]
        doc = item.get("PolicyDocument")
        if isinstance(doc, str) and doc.strip().lower().startswith("%7b"):
            doc = unquote(doc)  # URL-encoded, as some IAM-style APIs answer
        policy = json.loads(doc) if isinstance(doc, str) and doc.strip() else doc or None
        interface = str(item.get("VpcEndpointType", "Gateway")).lower() == "interface"
        props = {
            "vpc_id": item.get("VpcId"),
            "service_name": item.get("ServiceName"),
            "endpoint_type": "Interface" if interface else "Gateway",
            "route_table_ids": sorted(item.get("RouteTableIds") or []),
            "subnet_ids": sorted(item.get("SubnetIds") or []),
            "security_group_ids": sorted(g["GroupId"] for g in item.get("Groups") or []),
            "private_dns_enabled": bool(item.get("PrivateDnsEnabled")) if interface else None,
            "policy": None if policy is None or _full_access(policy) else policy,
            "tags": tag_dict(item.get("Tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": ctx.facts.arn("ec2", f"vpc-endpoint/{id}")})

    def _state(self, ctx: NodeContext, id: str) -> tuple[str, dict[str, Any]]:
        item = self._one(ctx, id)
        return (str(item.get("State", "")).lower(), item) if item else ("absent", {})

    def create(self, ctx: NodeContext, props: VpcEndpointProps) -> str:
        kw: dict[str, Any] = {"PolicyDocument": policy_json(props.policy)} if props.policy else {}
        if props.route_table_ids:
            kw["RouteTableIds"] = props.route_table_ids
        if props.endpoint_type == "Interface":
            kw.update(
                SubnetIds=props.subnet_ids,
                SecurityGroupIds=props.security_group_ids,
                PrivateDnsEnabled=bool(props.private_dns_enabled),
            )
        id = ctx.call(
            ctx.client("ec2").create_vpc_endpoint,
            retry_on=NOT_YET,
            # Gateway is AWS's default, named all the same: an endpoint created without a type is one moto cannot
            # delete
            VpcEndpointType=props.endpoint_type,
            VpcId=props.vpc_id,
            ServiceName=props.service_name,
            TagSpecifications=_specs(ctx, "vpc-endpoint"),
            **kw,
        )["VpcEndpoint"]["VpcEndpointId"]
        ctx.created(id)

        def available() -> bool | str:
            state, _ = self._state(ctx, id)
            if state in ("failed", "rejected"):
                raise WaitFailed(f"VPC endpoint {id} is {state}")
            return True if state == "available" else state

        ctx.wait(f"VPC endpoint {id} available", available)
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: VpcEndpointProps, observed: Observed, changes: set[str]) -> None:
        kw: dict[str, Any] = {}
        if "route_table_ids" in changes:
            have, want = set(observed.props.get("route_table_ids") or []), set(props.route_table_ids)
            if want - have:
                kw["AddRouteTableIds"] = sorted(want - have)
            if have - want:
                kw["RemoveRouteTableIds"] = sorted(have - want)
        for field, key in (("subnet_ids", "SubnetIds"), ("security_group_ids", "SecurityGroupIds")):
            if field in changes:
                have, want = set(observed.props.get(field) or []), set(getattr(props, field))
                if want - have:
                    kw[f"Add{key}"] = sorted(want - have)
                if have - want:
                    kw[f"Remove{key}"] = sorted(have - want)
        if "policy" in changes:
            # No policy wanted: the default document itself, which is what ResetPolicy would put back.
            kw["PolicyDocument"] = policy_json(props.policy or FULL_ACCESS_POLICY)
        if kw:
            ctx.call(ctx.client("ec2").modify_vpc_endpoint, retry_on=NOT_YET, VpcEndpointId=id, **kw)
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: VpcEndpointProps | None) -> None:
        answer = ctx.client("ec2").delete_vpc_endpoints(VpcEndpointIds=[id])
        # A batch call: an endpoint it could not delete (not found, among others) is reported, not raised.
        for failure in answer.get("Unsuccessful") or []:
            error = failure.get("Error") or {}
            raise ClientError(
                {"Error": {"Code": str(error.get("Code", "")), "Message": str(error.get("Message", ""))}},
                "DeleteVpcEndpoints",
            )

        def deleted() -> bool | str:
            state, _ = self._state(ctx, id)
            return True if state in ("absent", "deleted") else state

        ctx.wait(f"VPC endpoint {id} deleted", deleted)

    def monthly_cost(self, props: VpcEndpointProps, where: Where) -> list[CostLine]:
        if props.endpoint_type != "Interface":
            return []  # a Gateway endpoint (S3, DynamoDB) bills nothing
        zones = len(props.subnet_ids)
        return [
            hourly("interface_endpoint", where.region, f"interface endpoint in {zones} zone(s)", count=zones),
            usage_based("endpoint data processing per GB"),
        ]


# ------------------------------------------------------- security group

#: protocol numbers AWS reports by name
_PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}


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

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """One spelling per meaning, on the desired and the observed side alike: protocols by name, and
        ports 0/0 for all traffic (AWS ignores ports there and reports -1 or none)."""
        if not isinstance(data, Mapping) or "protocol" not in data:
            return data
        out = dict(data)
        proto = str(out["protocol"]).strip().lower()
        out["protocol"] = _PROTOCOL_NAMES.get(proto, proto)
        if out["protocol"] == "-1":
            out["from_port"] = out["to_port"] = 0
        return out

    @model_validator(mode="after")
    def _one_source(self) -> SecurityGroupRule:
        sources = [self.cidr is not None, self.source_security_group_id is not None, self.self_ref]
        if sum(sources) != 1:
            raise ValueError("a rule needs exactly one of cidr, source_security_group_id, self_ref")
        return self

    def key(self) -> SecurityGroupRule:
        """The rule without its description: what AWS identifies a rule by."""
        return self.model_copy(update={"description": ""})

    def permission(self, group_id: str) -> dict[str, Any]:
        """The ``IpPermissions`` entry of this rule of group ``group_id``."""
        perm: dict[str, Any] = {"IpProtocol": self.protocol}
        if self.protocol != "-1":
            perm.update(FromPort=self.from_port, ToPort=self.to_port)
        desc = {"Description": self.description} if self.description else {}
        if self.cidr is not None:
            v6 = ":" in self.cidr
            perm["Ipv6Ranges" if v6 else "IpRanges"] = [{"CidrIpv6" if v6 else "CidrIp": self.cidr, **desc}]
        else:
            gid = group_id if self.self_ref else self.source_security_group_id
            perm["UserIdGroupPairs"] = [{"GroupId": gid, **desc}]
        return perm


def _rules(group_id: str, permissions: Iterable[Mapping[str, Any]]) -> list[SecurityGroupRule]:
    """AWS's ``IpPermissions`` (several sources per entry) split into atomic rules.

    Prefix-list sources are not something mfprov sets, so they are not read."""
    out: list[SecurityGroupRule] = []
    for p in permissions:
        base = {"protocol": p.get("IpProtocol", "-1"), "from_port": p.get("FromPort", 0), "to_port": p.get("ToPort", 0)}
        for r in p.get("IpRanges", []):
            out.append(
                SecurityGroupRule.model_validate({**base, "cidr": r["CidrIp"], "description": r.get("Description", "")})
            )
        for r in p.get("Ipv6Ranges", []):
            out.append(
                SecurityGroupRule.model_validate(
                    {**base, "cidr": r["CidrIpv6"], "description": r.get("Description", "")}
                )
            )
        for r in p.get("UserIdGroupPairs", []):
            own = r.get("GroupId") == group_id
            source = {"self_ref": True} if own else {"source_security_group_id": r.get("GroupId")}
            out.append(SecurityGroupRule.model_validate({**base, **source, "description": r.get("Description", "")}))
    return out


class SecurityGroupProps(Props):
    name: str
    description: str
    vpc_id: str
    ingress: list[SecurityGroupRule] = []
    egress: list[SecurityGroupRule] = []

    @field_validator("ingress", "egress")
    @classmethod
    def _distinct(cls, rules: list[SecurityGroupRule]) -> list[SecurityGroupRule]:
        """AWS holds a rule once: drop repeats, and refuse two that differ only in their description."""
        seen: dict[SecurityGroupRule, SecurityGroupRule] = {}
        for r in rules:
            other = seen.setdefault(r.key(), r)
            if other.description != r.description:
                raise ValueError(
                    f"two rules differ only in their description ({other.description!r}, {r.description!r}): "
                    "AWS keeps one rule per protocol, ports and source"
                )
        return list(seen.values())


@register
class SecurityGroup(_Ec2Resource):
    """CreateSecurityGroup (tagged), DescribeSecurityGroups, Authorize/RevokeSecurityGroupIngress/Egress,
    UpdateSecurityGroupRuleDescriptionsIngress/Egress, DeleteSecurityGroup. Rules compare as sets of
    atomic rules."""

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
            "ingress": [r.model_dump(mode="json") for r in _rules(id, item.get("IpPermissions", []))],
            "egress": [r.model_dump(mode="json") for r in _rules(id, item.get("IpPermissionsEgress", []))],
            "tags": tag_dict(item.get("Tags")),
        }
        attrs = {"id": id, "name": item["GroupName"], "arn": ctx.facts.arn("ec2", f"security-group/{id}")}
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: SecurityGroupProps) -> str:
        ec2 = ctx.client("ec2")
        id = str(
            ctx.call(
                ec2.create_security_group,
                retry_on=NOT_YET,
                GroupName=props.name,
                Description=props.description,
                VpcId=props.vpc_id,
                TagSpecifications=_specs(ctx, "security-group"),
            )["GroupId"]
        )
        ctx.created(id)
        # AWS gives a new group an allow-all egress rule (two in a dual-stack VPC): start from what is there,
        # so it is revoked unless wanted.
        group = ctx.call(ec2.describe_security_groups, retry_on=NOT_YET, GroupIds=[id])["SecurityGroups"][0]
        self._sync(
            ctx, id, props, _rules(id, group.get("IpPermissions", [])), _rules(id, group.get("IpPermissionsEgress", []))
        )
        return id

    def update(
        self, ctx: NodeContext, id: str, props: SecurityGroupProps, observed: Observed, changes: set[str]
    ) -> None:
        if changes & {"ingress", "egress"}:
            have_in = [SecurityGroupRule.model_validate(r) for r in observed.props.get("ingress", [])]
            have_out = [SecurityGroupRule.model_validate(r) for r in observed.props.get("egress", [])]
            self._sync(ctx, id, props, have_in, have_out)
        if "tags" in changes:
            _tag(ctx, id)

    def _sync(
        self,
        ctx: NodeContext,
        id: str,
        props: SecurityGroupProps,
        have_ingress: list[SecurityGroupRule],
        have_egress: list[SecurityGroupRule],
    ) -> None:
        """Revoke the rules not wanted, authorize the missing ones, and fix descriptions in place."""
        ec2 = ctx.client("ec2")
        directions = (
            (props.ingress, have_ingress, ec2.authorize_security_group_ingress, ec2.revoke_security_group_ingress,
             ec2.update_security_group_rule_descriptions_ingress),
            (props.egress, have_egress, ec2.authorize_security_group_egress, ec2.revoke_security_group_egress,
             ec2.update_security_group_rule_descriptions_egress),
        )  # fmt: skip
        for want, have, authorize, revoke, describe in directions:
            want_keys, have_keys = {r.key() for r in want}, {r.key() for r in have}
            # revoke with the rule as observed (its description included: moto matches on it)
            extra = [r for r in have if r.key() not in want_keys]
            missing = [r for r in want if r.key() not in have_keys]
            # a description alone changed: updated in place, with no moment without the rule
            redescribed = [r for r in want if r.key() in have_keys and r not in have]
            if extra:
                self._permissions(ctx, revoke, id, extra, tolerate="InvalidPermission.NotFound")
            if missing:
                self._permissions(ctx, authorize, id, missing, tolerate="InvalidPermission.Duplicate")
            if redescribed:
                describe(GroupId=id, IpPermissions=[r.permission(id) for r in redescribed])

    @staticmethod
    def _permissions(
        ctx: NodeContext, call: Callable[..., Any], id: str, rules: list[SecurityGroupRule], tolerate: str
    ) -> None:
        """One call for all the rules; if AWS says one is already so (a retried request whose first try went
        through, or a change made meanwhile) the call did nothing: then rule by rule, skipping those."""
        try:
            ctx.call(call, retry_on=NOT_YET, GroupId=id, IpPermissions=[r.permission(id) for r in rules])
            return
        except ClientError as err:
            if error_code(err) != tolerate:
                raise
        for r in rules:
            try:
                call(GroupId=id, IpPermissions=[r.permission(id)])
            except ClientError as err:
                if error_code(err) != tolerate:
                    raise

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: SecurityGroupProps | None) -> None:
        # Instances, ENIs and other groups' rules may still be releasing the group for a while.
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
    """CreateLaunchTemplate (tagged), DescribeLaunchTemplates, DescribeLaunchTemplateVersions ($Default),
    CreateLaunchTemplateVersion + ModifyLaunchTemplate, CreateTags, DeleteLaunchTemplate.

    Every change makes a new version with the FULL data (a version based on another is not merged by moto,
    and a full version needs no merge semantics on AWS either) and makes it the default."""

    kind = "ec2.launch_template"
    service = "ec2"
    Props = LaunchTemplateProps
    replace_on: ClassVar = frozenset({"name"})
    not_found_codes: ClassVar = frozenset(
        {
            "InvalidLaunchTemplateId.NotFound",
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidLaunchTemplateId.Malformed",
        }
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
            lts = ec2.describe_launch_templates(LaunchTemplateIds=[id])["LaunchTemplates"]
            if not lts:
                return None
            versions = ec2.describe_launch_template_versions(LaunchTemplateId=id, Versions=["$Default"])
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        lt = lts[0]
        if not versions["LaunchTemplateVersions"]:
            return None
        data = versions["LaunchTemplateVersions"][0].get("LaunchTemplateData", {})
        meta = data.get("MetadataOptions", {})
        devices = data.get("BlockDeviceMappings") or [{}]
        ebs = devices[0].get("Ebs", {})
        props = {
            "name": lt["LaunchTemplateName"],
            "instance_profile_arn": data.get("IamInstanceProfile", {}).get("Arn"),
            # AWS's own defaults where the version leaves a setting out
            "http_endpoint": meta.get("HttpEndpoint", "enabled"),
            "http_tokens": meta.get("HttpTokens", "optional"),
            "http_put_response_hop_limit": meta.get("HttpPutResponseHopLimit", 1),
            "root_device_name": devices[0].get("DeviceName"),
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
            retry_on=PROFILE_NOT_YET,
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
                retry_on=PROFILE_NOT_YET,
                LaunchTemplateId=id,
                LaunchTemplateData=self._data(props),
            )["LaunchTemplateVersion"]["VersionNumber"]
            ec2.modify_launch_template(LaunchTemplateId=id, DefaultVersion=str(version))
        if "tags" in changes:
            _tag(ctx, id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LaunchTemplateProps | None) -> None:
        ctx.client("ec2").delete_launch_template(LaunchTemplateId=id)
