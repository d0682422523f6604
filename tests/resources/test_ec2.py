"""The EC2 types on moto: each one created, read back equal to the desired, found again, drifted out of band and
repaired, deleted (twice); plus the EC2-specific parts: DependencyViolation retried on delete, an internet
gateway moved between VPCs, a route table deleted with an association left behind, a route-table association
moved (it changes id), security-group rules as sets of atomic rules (default egress, self references,
descriptions changed in place), and a launch template versioned on every change. The private network of the
`full` preset: an Elastic IP (its release retried while a NAT gateway still holds it), a NAT gateway (a failed one
ends the wait with AWS's reason and reads as gone), a private route through it drifted and repaired, and an S3
gateway endpoint (route tables changed in place, its policy compared by meaning)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.ec2.models.vpcs import VPCBackend
from pydantic import ValidationError

from provisioner.core.retry import WaitFailed
from provisioner.core.session import ClientFactory
from provisioner.engine.compare import diff
from resources.base import TAG_ADDRESS, TAG_STACK, resource_type
from resources.ec2 import FULL_ACCESS_POLICY
from tests.resources.drift import assert_same, changed_fields, changed_fields_forcing

MakeCtx = Callable[..., Any]


def _delete_twice(rt: Any, ctx: Any, id: str, obs: Any, props: Any) -> None:
    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


def _vpc(make_ctx: MakeCtx, name: str, cidr: str = "10.0.0.0/16") -> str:
    rt: Any = resource_type("ec2.vpc")
    return str(rt.create(make_ctx(f"ec2.vpc.{name}"), rt.parse_props({"cidr_block": cidr})))


def _subnet(make_ctx: MakeCtx, vpc: str, name: str, cidr: str, az: str = "us-east-1a") -> str:
    rt: Any = resource_type("ec2.subnet")
    props = rt.parse_props({"vpc_id": vpc, "cidr_block": cidr, "availability_zone": az})
    return str(rt.create(make_ctx(f"ec2.subnet.{name}"), props))


def _later(seconds: float, fn: Callable[[], Any]) -> threading.Timer:
    timer = threading.Timer(seconds, fn)
    timer.start()
    return timer


# ------------------------------------------------------------------ VPC


def _check_vpc(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ec2.vpc")
    ctx = make_ctx("ec2.vpc.main")
    props = rt.parse_props({"cidr_block": "10.20.0.0/16"})
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    # both DNS switches on: AWS's default for hostnames is off, so create set it
    assert obs.props["enable_dns_support"] is True and obs.props["enable_dns_hostnames"] is True
    assert obs.attrs == {"id": id, "arn": f"arn:aws:ec2:us-east-1:123456789012:vpc/{id}", "cidr_block": "10.20.0.0/16"}
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("ec2.vpc.other"), props) is None  # found by its own tags, not by the CIDR
    assert rt.find(make_ctx("ec2.vpc.main", stack="other"), props) is None
    assert rt.read_many(ctx, [id, "vpc-0123456789abcdef0"]).keys() == {id}

    # out of band: DNS hostnames off, a tag of ours removed, a foreign tag added
    ec2 = boto3.client("ec2")
    ec2.modify_vpc_attribute(VpcId=id, EnableDnsHostnames={"Value": False})
    ec2.delete_tags(Resources=[id], Tags=[{"Key": TAG_ADDRESS}])
    ec2.create_tags(Resources=[id], Tags=[{"Key": "team", "Value": "data"}])
    drifted = rt.read(ctx, id)
    assert drifted.props["enable_dns_hostnames"] is False and TAG_ADDRESS not in drifted.props["tags"]
    assert changed_fields(rt, props, drifted, ctx) == {"enable_dns_hostnames", "tags"}
    rt.update(ctx, id, props, drifted, {"enable_dns_hostnames", "tags"})
    fixed = rt.read(ctx, id)
    assert fixed.props["tags"].pop("team") == "data"  # other keys are left alone
    assert_same(rt, props, fixed, ctx)

    # DNS off by config
    quiet = rt.parse_props({"cidr_block": "10.20.0.0/16", "enable_dns_hostnames": False, "enable_dns_support": False})
    assert changed_fields(rt, quiet, rt.read(ctx, id), ctx) == {"enable_dns_hostnames", "enable_dns_support"}
    rt.update(ctx, id, quiet, rt.read(ctx, id), {"enable_dns_hostnames", "enable_dns_support"})
    assert_same(rt, quiet, _pop_team(rt.read(ctx, id)), ctx)
    assert rt.replace_on == {"cidr_block"}

    _delete_twice(rt, ctx, id, obs, props)


def _pop_team(obs: Any) -> Any:
    obs.props["tags"].pop("team", None)
    return obs


def _check_vpc_delete_waits_for_dependents(make_ctx: MakeCtx) -> None:
    """A subnet still going away makes DeleteVpc fail with DependencyViolation for a while: retried."""
    rt: Any = resource_type("ec2.vpc")
    ctx = make_ctx("ec2.vpc.main")
    vpc = _vpc(make_ctx, "dependents")
    subnet = _subnet(make_ctx, vpc, "a", "10.0.1.0/24")
    ec2 = boto3.client("ec2")
    with pytest.raises(ClientError) as blocked:
        ec2.delete_vpc(VpcId=vpc)
    assert blocked.value.response["Error"]["Code"] == "DependencyViolation"

    _later(0.5, lambda: ec2.delete_subnet(SubnetId=subnet))
    rt.delete(ctx, vpc, {}, None)  # props unknown: only the id is needed
    assert rt.read(ctx, vpc) is None


# --------------------------------------------------------------- subnet


def _check_subnet(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ec2.subnet")
    ctx = make_ctx("ec2.subnet.public_1")
    vpc = _vpc(make_ctx, "subnet")
    props = rt.parse_props(
        {"vpc_id": vpc, "cidr_block": "10.0.0.0/20", "availability_zone": "us-east-1b", "map_public_ip_on_launch": True}
    )
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs == {
        "id": id,
        "arn": f"arn:aws:ec2:us-east-1:123456789012:subnet/{id}",
        "availability_zone": "us-east-1b",
    }
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("ec2.subnet.public_2"), props) is None
    assert rt.replace_on == {"vpc_id", "cidr_block", "availability_zone"}

    # the same CIDR again: the duplicate code the engine adopts on (a retried create that went through)
    with pytest.raises(ClientError) as dup:
        rt.create(make_ctx("ec2.subnet.public_1"), props)
    assert rt.duplicate(dup.value)

    ec2 = boto3.client("ec2")
    ec2.modify_subnet_attribute(SubnetId=id, MapPublicIpOnLaunch={"Value": False})
    drifted = rt.read(ctx, id)
    assert drifted.props["map_public_ip_on_launch"] is False
    assert changed_fields(rt, props, drifted, ctx) == {"map_public_ip_on_launch"}
    rt.update(ctx, id, props, drifted, {"map_public_ip_on_launch"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    _delete_twice(rt, ctx, id, obs, props)
    assert rt.find(ctx, props) is None


# ----------------------------------------------------- internet gateway


def _check_internet_gateway(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ec2.internet_gateway")
    ctx = make_ctx("ec2.internet_gateway.main")
    vpc, other_vpc = _vpc(make_ctx, "igw"), _vpc(make_ctx, "igw_other", "10.1.0.0/16")
    props = rt.parse_props({"vpc_id": vpc})
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs["id"] == id
    assert rt.find(ctx, props) == id

    # out of band: detached
    ec2 = boto3.client("ec2")
    ec2.detach_internet_gateway(InternetGatewayId=id, VpcId=vpc)
    drifted = rt.read(ctx, id)
    assert drifted.props["vpc_id"] is None
    assert changed_fields(rt, props, drifted, ctx) == {"vpc_id"}
    rt.update(ctx, id, props, drifted, {"vpc_id"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # moved to another VPC: detached from the old one, attached to the new one
    moved = rt.parse_props({"vpc_id": other_vpc})
    before = rt.read(ctx, id)
    assert changed_fields(rt, moved, before, ctx) == {"vpc_id"}
    rt.update(ctx, id, moved, before, {"vpc_id"})
    assert_same(rt, moved, rt.read(ctx, id), ctx)
    assert ec2.describe_internet_gateways(InternetGatewayIds=[id])["InternetGateways"][0]["Attachments"] == [
        {"State": "available", "VpcId": other_vpc}
    ]

    # delete detaches first (an attached gateway cannot be deleted), after which the VPC can go too
    _delete_twice(rt, ctx, id, obs, moved)
    ec2.delete_vpc(VpcId=other_vpc)


# ------------------------------------------------- route table and route


def _check_route_table_and_route(make_ctx: MakeCtx) -> None:
    vpc = _vpc(make_ctx, "routes")
    subnet = _subnet(make_ctx, vpc, "a", "10.0.1.0/24")
    igw_rt: Any = resource_type("ec2.internet_gateway")
    igw = igw_rt.create(make_ctx("ec2.internet_gateway.main"), igw_rt.parse_props({"vpc_id": vpc}))

    rtb_rt: Any = resource_type("ec2.route_table")
    rtb_ctx = make_ctx("ec2.route_table.public")
    rtb_props = rtb_rt.parse_props({"vpc_id": vpc})
    rtb = rtb_rt.create(rtb_ctx, rtb_props)
    rtb_obs = rtb_rt.read(rtb_ctx, rtb)
    assert_same(rtb_rt, rtb_props, rtb_obs, rtb_ctx)
    assert rtb_obs.attrs["id"] == rtb
    assert rtb_rt.find(rtb_ctx, rtb_props) == rtb
    ec2 = boto3.client("ec2")
    ec2.delete_tags(Resources=[rtb], Tags=[{"Key": TAG_STACK}])
    drifted = rtb_rt.read(rtb_ctx, rtb)
    assert changed_fields(rtb_rt, rtb_props, drifted, rtb_ctx) == {"tags"}
    assert rtb_rt.find(rtb_ctx, rtb_props) is None  # untagged: no longer recognisable as ours
    rtb_rt.update(rtb_ctx, rtb, rtb_props, drifted, {"tags"})
    assert_same(rtb_rt, rtb_props, rtb_rt.read(rtb_ctx, rtb), rtb_ctx)

    # the route
    rt: Any = resource_type("ec2.route")
    ctx = make_ctx("ec2.route.public_internet")
    assert rt.taggable is False
    props = rt.parse_props({"route_table_id": rtb, "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw})
    assert rt.find(ctx, props) is None
    id = rt.create(ctx, props)
    assert id == f"{rtb}|0.0.0.0/0"
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs == {"id": id}
    assert rt.find(ctx, props) == id
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value)

    # out of band: the route sent through a NAT gateway instead
    nat = ec2.create_nat_gateway(SubnetId=subnet, ConnectivityType="private")["NatGateway"]["NatGatewayId"]
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    drifted = rt.read(ctx, id)
    assert drifted.props["gateway_id"] == nat
    assert changed_fields(rt, props, drifted, ctx) == {"gateway_id"}
    rt.update(ctx, id, props, drifted, {"gateway_id"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # out of band: the route deleted, which reads as gone
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    assert rt.create(ctx, props) == id

    _delete_twice(rt, ctx, id, obs, props)
    assert rt.read(ctx, "rtb-0123456789abcdef0|0.0.0.0/0") is None  # the table itself gone

    # the route table still has a live association made outside mfprov and a dangling one (moto keeps a
    # deleted subnet's association): the delete lets go of both first
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    doomed = _subnet(make_ctx, vpc, "b", "10.0.2.0/24")
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=doomed)
    ec2.delete_subnet(SubnetId=doomed)
    with pytest.raises(ClientError) as blocked:
        ec2.delete_route_table(RouteTableId=rtb)
    assert blocked.value.response["Error"]["Code"] == "DependencyViolation"
    _delete_twice(rtb_rt, rtb_ctx, rtb, rtb_obs, None)


# --------------------------------------------------- route association


def _check_route_table_association(make_ctx: MakeCtx) -> None:
    vpc = _vpc(make_ctx, "association")
    subnet = _subnet(make_ctx, vpc, "a", "10.0.1.0/24")
    rtb_rt: Any = resource_type("ec2.route_table")
    rtb1 = rtb_rt.create(make_ctx("ec2.route_table.one"), rtb_rt.parse_props({"vpc_id": vpc}))
    rtb2 = rtb_rt.create(make_ctx("ec2.route_table.two"), rtb_rt.parse_props({"vpc_id": vpc}))

    rt: Any = resource_type("ec2.route_table_association")
    ctx = make_ctx("ec2.route_table_association.a")
    props = rt.parse_props({"route_table_id": rtb1, "subnet_id": subnet})
    assert rt.find(ctx, props) is None  # the VPC's main association has no subnet
    id = rt.create(ctx, props)
    assert id.startswith("rtbassoc-")
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs == {"id": id}
    assert rt.find(ctx, props) == id
    assert rt.replace_on == {"subnet_id"}

    # config moves the subnet to the other table: one ReplaceRouteTableAssociation, which gives a new id
    moved = rt.parse_props({"route_table_id": rtb2, "subnet_id": subnet})
    before = rt.read(ctx, id)
    assert changed_fields(rt, moved, before, ctx) == {"route_table_id"}
    rt.update(ctx, id, moved, before, {"route_table_id"})
    new_id = before.id
    assert new_id != id and before.attrs["id"] == new_id
    assert rt.read(ctx, id) is None
    assert_same(rt, moved, rt.read(ctx, new_id), ctx)

    # out of band: moved back, which again changes the id; found again through the subnet and repaired
    ec2 = boto3.client("ec2")
    third = ec2.replace_route_table_association(AssociationId=new_id, RouteTableId=rtb1)["NewAssociationId"]
    assert rt.read(ctx, new_id) is None
    assert rt.find(ctx, moved) == third
    drifted = rt.read(ctx, third)
    assert drifted.props["route_table_id"] == rtb1
    assert changed_fields(rt, moved, drifted, ctx) == {"route_table_id"}
    rt.update(ctx, third, moved, drifted, {"route_table_id"})
    assert_same(rt, moved, rt.read(ctx, drifted.id), ctx)

    final = drifted.id
    _delete_twice(rt, ctx, final, drifted, moved)
    assert rt.find(ctx, moved) is None


# ------------------------------------------------------- security group


def _group(vpc: str, **kw: Any) -> dict[str, Any]:
    return {"name": "mf-metadata", "description": "Metadata service", "vpc_id": vpc} | kw


def _check_security_group(make_ctx: MakeCtx, aws: ClientFactory) -> None:
    rt: Any = resource_type("ec2.security_group")
    vpc = _vpc(make_ctx, "groups")
    lb_ctx = make_ctx("ec2.security_group.lb")
    lb = rt.create(lb_ctx, rt.parse_props(_group(vpc, name="mf-lb", description="LB")))

    ctx = make_ctx("ec2.security_group.metadata")
    props = rt.parse_props(
        _group(
            vpc,
            ingress=[
                {"protocol": "tcp", "from_port": 8080, "to_port": 8080, "cidr": "10.0.0.0/16", "description": "API"},
                {"protocol": "6", "from_port": 8082, "to_port": 8082, "cidr": "10.0.0.0/16"},  # reads back "tcp"
                {"protocol": "-1", "self_ref": True, "description": "Internal communication"},
                {"protocol": "all", "from_port": -1, "to_port": -1, "source_security_group_id": lb},  # ports ignored
                {"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": "::/0"},
            ],
            egress=[{"protocol": "-1", "cidr": "0.0.0.0/0", "description": "Allow all external communication"}],
        )
    )
    assert props.ingress[1].protocol == "tcp" and props.ingress[3].model_dump()["from_port"] == 0
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs == {
        "id": id,
        "name": "mf-metadata",
        "arn": f"arn:aws:ec2:us-east-1:123456789012:security-group/{id}",
    }
    ec2 = boto3.client("ec2")
    group = ec2.describe_security_groups(GroupIds=[id])["SecurityGroups"][0]
    pairs = [(p["IpProtocol"], pair) for p in group["IpPermissions"] for pair in p["UserIdGroupPairs"]]
    # the self rule is a pair with the group's own id
    assert ("-1", {"GroupId": id, "Description": "Internal communication"}) in [
        (proto, {k: pair[k] for k in ("GroupId", "Description") if k in pair}) for proto, pair in pairs
    ]
    # AWS's default allow-all egress had no description; the desired one replaced it
    assert [p["IpRanges"] for p in group["IpPermissionsEgress"]] == [
        [{"CidrIp": "0.0.0.0/0", "Description": "Allow all external communication"}]
    ]
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props(_group(vpc, name="mf-other"))) is None
    assert rt.find(ctx, rt.parse_props(_group(_vpc(make_ctx, "groups_other", "10.9.0.0/16")))) is None
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value)

    # out of band: SSH opened, the self rule revoked, a description changed, an egress rule added
    ec2.authorize_security_group_ingress(
        GroupId=id,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    ec2.revoke_security_group_ingress(
        GroupId=id,
        IpPermissions=[
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": id, "Description": "Internal communication"}]}
        ],
    )
    ec2.update_security_group_rule_descriptions_ingress(
        GroupId=id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 8080,
                "ToPort": 8080,
                "IpRanges": [{"CidrIp": "10.0.0.0/16", "Description": "x"}],
            }
        ],
    )
    ec2.authorize_security_group_egress(
        GroupId=id,
        IpPermissions=[{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.0.0.2/32"}]}],
    )
    drifted = rt.read(ctx, id)
    ingress = {(r["protocol"], r["from_port"], r["self_ref"], r["description"]) for r in drifted.props["ingress"]}
    assert ("tcp", 22, False, "") in ingress and ("tcp", 8080, False, "x") in ingress
    assert ("-1", 0, True, "Internal communication") not in ingress
    assert len(drifted.props["egress"]) == 2
    assert changed_fields(rt, props, drifted, ctx) == {"ingress", "egress"}
    aws.recorder.reset()
    rt.update(ctx, id, props, drifted, {"ingress", "egress"})
    assert_same(rt, props, rt.read(ctx, id), ctx)
    assert aws.recorder.mutating() == {
        "ec2:RevokeSecurityGroupIngress": 1,  # SSH
        "ec2:AuthorizeSecurityGroupIngress": 1,  # self
        "ec2:UpdateSecurityGroupRuleDescriptionsIngress": 1,  # "x" -> "API", in place
        "ec2:RevokeSecurityGroupEgress": 1,  # DNS
    }

    # config: one rule dropped, one description changed, egress closed, tags repaired alongside
    tighter = rt.parse_props(
        _group(
            vpc,
            ingress=[
                {"protocol": "tcp", "from_port": 8080, "to_port": 8080, "cidr": "10.0.0.0/16", "description": "API v2"},
                {"protocol": "-1", "self_ref": True, "description": "Internal communication"},
            ],
        )
    )
    ec2.delete_tags(Resources=[id], Tags=[{"Key": TAG_ADDRESS}])
    before = rt.read(ctx, id)
    changes = changed_fields(rt, tighter, before, ctx)
    assert changes == {"ingress", "egress", "tags"}
    rt.update(ctx, id, tighter, before, changes)
    assert_same(rt, tighter, rt.read(ctx, id), ctx)
    assert ec2.describe_security_groups(GroupIds=[id])["SecurityGroups"][0]["IpPermissionsEgress"] == []

    _delete_twice(rt, ctx, id, obs, tighter)
    rt.delete(lb_ctx, lb, {}, None)


def _check_security_group_without_egress(make_ctx: MakeCtx) -> None:
    """A group that wants no egress loses AWS's default allow-all rule at create."""
    rt: Any = resource_type("ec2.security_group")
    ctx = make_ctx("ec2.security_group.batch")
    props = rt.parse_props(_group(_vpc(make_ctx, "no_egress"), name="mf-batch", description="Batch (no ingress)"))
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["ingress"] == [] and obs.props["egress"] == []


def test_security_group_rule_validation() -> None:
    rt: Any = resource_type("ec2.security_group")
    with pytest.raises(ValidationError, match="exactly one of"):
        rt.parse_props(_group("vpc-1", ingress=[{"protocol": "tcp", "cidr": "0.0.0.0/0", "self_ref": True}]))
    with pytest.raises(ValidationError, match="exactly one of"):
        rt.parse_props(_group("vpc-1", egress=[{"protocol": "-1"}]))
    with pytest.raises(ValidationError, match="extra"):
        rt.parse_props(_group("vpc-1", egress=[{"protocol": "-1", "cidr": "0.0.0.0/0", "port": 1}]))
    with pytest.raises(ValidationError, match="differ only in their description"):
        rt.parse_props(
            _group(
                "vpc-1",
                egress=[
                    {"protocol": "-1", "cidr": "0.0.0.0/0"},
                    {"protocol": "-1", "cidr": "0.0.0.0/0", "description": "a"},
                ],
            )
        )
    # a repeated rule is one rule, as in AWS
    twice = rt.parse_props(_group("vpc-1", egress=[{"protocol": "-1", "cidr": "0.0.0.0/0"}] * 2))
    assert len(twice.egress) == 1
    assert rt.unordered == {"ingress", "egress"}


# ------------------------------------------------------ launch template


def _check_launch_template(make_ctx: MakeCtx) -> None:
    iam = boto3.client("iam")
    profile = iam.create_instance_profile(InstanceProfileName="mf-batch")["InstanceProfile"]["Arn"]
    rt: Any = resource_type("ec2.launch_template")
    ctx = make_ctx("ec2.launch_template.cpu")
    props = rt.parse_props({"name": "mf-cpu", "instance_profile_arn": profile, "user_data": "IyEvYmluL2Jhc2gK"})
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.attrs == {"id": id, "name": "mf-cpu", "default_version": "1", "latest_version": "1"}
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "mf-gpu"})) is None
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value)

    # out of band: a new default version with IMDSv1 and a smaller disk
    ec2 = boto3.client("ec2")
    v2 = ec2.create_launch_template_version(
        LaunchTemplateId=id,
        LaunchTemplateData={
            "MetadataOptions": {"HttpTokens": "optional", "HttpPutResponseHopLimit": 1},
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30, "VolumeType": "gp2"}}],
        },
    )["LaunchTemplateVersion"]["VersionNumber"]
    ec2.modify_launch_template(LaunchTemplateId=id, DefaultVersion=str(v2))
    drifted = rt.read(ctx, id)
    assert drifted.props["http_tokens"] == "optional" and drifted.props["root_volume_size"] == 30
    assert drifted.props["instance_profile_arn"] is None and drifted.props["user_data"] is None
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {
        "http_tokens",
        "http_put_response_hop_limit",
        "root_volume_size",
        "root_volume_type",
        "root_volume_encrypted",
        "instance_profile_arn",
        "user_data",
    }
    rt.update(ctx, id, props, drifted, changes)
    fixed = rt.read(ctx, id)
    assert_same(rt, props, fixed, ctx)
    # the full data went into a new version 3, now the default
    assert fixed.attrs == {"id": id, "name": "mf-cpu", "default_version": "3", "latest_version": "3"}

    # a config change: bigger disk, no user data
    bigger = rt.parse_props({"name": "mf-cpu", "instance_profile_arn": profile, "root_volume_size": 200})
    before = rt.read(ctx, id)
    assert changed_fields(rt, bigger, before, ctx) == {"root_volume_size", "user_data"}
    rt.update(ctx, id, bigger, before, {"root_volume_size", "user_data"})
    after = rt.read(ctx, id)
    assert_same(rt, bigger, after, ctx)
    assert after.attrs["default_version"] == "4"

    # tags alone make no new version. (moto gap: DescribeLaunchTemplates keeps showing the tags of the create,
    # whatever CreateTags/DeleteTags do later, so the tags are checked in the EC2 tag store.)
    ec2.delete_tags(Resources=[id], Tags=[{"Key": TAG_STACK}])
    rt.update(ctx, id, bigger, rt.read(ctx, id), {"tags"})
    assert rt.read(ctx, id).attrs["latest_version"] == "4"
    stored = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [id]}])["Tags"]
    assert {t["Key"]: t["Value"] for t in stored} == ctx.tags

    _delete_twice(rt, ctx, id, obs, bigger)
    assert rt.find(ctx, bigger) is None


# ------------------------------------------------------- private network


def _check_eip(make_ctx: MakeCtx, aws: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    rt: Any = resource_type("ec2.eip")
    ctx = make_ctx("ec2.eip.nat")
    props = rt.parse_props({})
    id = rt.create(ctx, props)
    assert id.startswith("eipalloc-")

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    ec2 = boto3.client("ec2")
    address = ec2.describe_addresses(AllocationIds=[id])["Addresses"][0]
    assert address["Domain"] == "vpc"
    assert obs.attrs == {
        "id": id,
        "allocation_id": id,
        "public_ip": address["PublicIp"],
        "arn": f"arn:aws:ec2:us-east-1:123456789012:elastic-ip/{id}",
    }
    assert rt.id_from_arn(obs.attrs["arn"]) == id
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("ec2.eip.other"), props) is None
    assert rt.find(make_ctx("ec2.eip.nat", stack="other"), props) is None
    assert rt.read_many(ctx, [id, "eipalloc-0123456789abcdef0"]).keys() == {id}

    ec2.delete_tags(Resources=[id], Tags=[{"Key": TAG_STACK}])
    drifted = rt.read(ctx, id)
    assert changed_fields(rt, props, drifted, ctx) == {"tags"}
    rt.update(ctx, id, props, drifted, {"tags"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # AWS refuses to release an address while a NAT gateway being deleted still holds it (moto releases it at
    # once): AuthFailure twice, then the real call
    client = aws.client("ec2")
    real = client.release_address
    calls: list[str] = []

    def held_then_real(**kw: Any) -> Any:
        calls.append(kw["AllocationId"])
        if len(calls) <= 2:
            message = "You do not have permission to access the specified resource."
            raise ClientError({"Error": {"Code": "AuthFailure", "Message": message}}, "ReleaseAddress")
        return real(**kw)

    monkeypatch.setattr(client, "release_address", held_then_real)
    _delete_twice(rt, ctx, id, obs, props)
    assert calls == [id, id, id, id]  # the second delete: straight to InvalidAllocationID.NotFound
    monkeypatch.undo()


def _check_nat_gateway(make_ctx: MakeCtx, aws: ClientFactory) -> dict[str, str]:
    """A NAT gateway in a public subnet; returns the network it made, for the private route after it."""
    vpc = _vpc(make_ctx, "private")
    public = _subnet(make_ctx, vpc, "public", "10.0.0.0/24")
    other_public = _subnet(make_ctx, vpc, "public_b", "10.0.1.0/24", "us-east-1b")
    eip_rt: Any = resource_type("ec2.eip")
    eip = eip_rt.create(make_ctx("ec2.eip.nat"), eip_rt.parse_props({}))
    eip_ip = eip_rt.read(make_ctx("ec2.eip.nat"), eip).attrs["public_ip"]

    rt: Any = resource_type("ec2.nat_gateway")
    ctx = make_ctx("ec2.nat_gateway.main")
    props = rt.parse_props({"subnet_id": public, "allocation_id": eip})
    id = rt.create(ctx, props)
    assert id.startswith("nat-")
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    arn = f"arn:aws:ec2:us-east-1:123456789012:natgateway/{id}"
    assert obs.attrs == {"id": id, "arn": arn, "public_ip": eip_ip, "vpc_id": vpc}
    assert rt.id_from_arn(arn) == id
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("ec2.nat_gateway.other"), props) is None
    assert rt.read_many(ctx, [id, "nat-0123456789abcdef0"]).keys() == {id}
    assert rt.timeout >= 600  # minutes on AWS

    ec2 = boto3.client("ec2")
    ec2.delete_tags(Resources=[id], Tags=[{"Key": TAG_ADDRESS}])
    drifted = rt.read(ctx, id)
    assert changed_fields(rt, props, drifted, ctx) == {"tags"}
    rt.update(ctx, id, props, drifted, {"tags"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # neither its subnet nor its address can change: replacement
    elsewhere = rt.parse_props({"subnet_id": other_public, "allocation_id": eip})
    assert changed_fields_forcing(rt, elsewhere, rt.read(ctx, id), ctx) == {"subnet_id": True}
    readdressed = rt.parse_props({"subnet_id": public, "allocation_id": "eipalloc-0123456789abcdef0"})
    assert changed_fields_forcing(rt, readdressed, rt.read(ctx, id), ctx) == {"allocation_id": True}
    assert rt.replace_on == {"subnet_id", "allocation_id"}
    return {"vpc": vpc, "public": public, "eip": eip, "nat": id}


def _check_nat_gateway_failed_and_deleted(make_ctx: MakeCtx, aws: ClientFactory, net: dict[str, str]) -> None:
    """A failed gateway ends the create's wait with AWS's reason and reads as gone; delete waits for deleted,
    and deleting a deleted gateway is done (AWS shows it as "deleted" for about an hour)."""
    rt: Any = resource_type("ec2.nat_gateway")
    eip_rt: Any = resource_type("ec2.eip")
    spare = eip_rt.create(make_ctx("ec2.eip.spare"), eip_rt.parse_props({}))
    ctx = make_ctx("ec2.nat_gateway.doomed")
    props = rt.parse_props({"subnet_id": net["public"], "allocation_id": spare})
    client = aws.client("ec2")
    reason = "Elastic IP address is already associated"

    def as_failed(parsed: dict[str, Any], **_: Any) -> None:  # moto never fails a NAT gateway: AWS's answer
        for nat in parsed.get("NatGateways", []):
            if nat["SubnetId"] == net["public"] and nat["NatGatewayAddresses"][0]["AllocationId"] == spare:
                nat.update(State="failed", FailureCode="InvalidElasticIpID.Malformed", FailureMessage=reason)

    client.meta.events.register("after-call.ec2.DescribeNatGateways", as_failed)
    created: list[str] = []
    ctx.on_created = created.append
    try:
        with pytest.raises(WaitFailed, match=reason):
            rt.create(ctx, props)
        assert len(created) == 1  # recorded before the wait
        assert rt.read(ctx, created[0]) is None and rt.find(ctx, props) is None
    finally:
        client.meta.events.unregister("after-call.ec2.DescribeNatGateways", as_failed)

    doomed = created[0]
    obs = rt.read(ctx, doomed)
    rt.delete(ctx, doomed, obs.attrs, props)
    assert rt.read(ctx, doomed) is None
    assert boto3.client("ec2").describe_nat_gateways(NatGatewayIds=[doomed])["NatGateways"][0]["State"] == "deleted"
    aws.recorder.reset()
    rt.delete(ctx, doomed, obs.attrs, props)  # already deleted: nothing to do
    assert "ec2:DeleteNatGateway" not in aws.recorder.calls
    eip_rt.delete(make_ctx("ec2.eip.spare"), spare, {}, None)


def _check_private_route(make_ctx: MakeCtx, net: dict[str, str]) -> None:
    """The private route table's default route through the NAT gateway: drift caught and repaired."""
    rtb_rt: Any = resource_type("ec2.route_table")
    rtb = rtb_rt.create(make_ctx("ec2.route_table.private"), rtb_rt.parse_props({"vpc_id": net["vpc"]}))
    rt: Any = resource_type("ec2.route")
    ctx = make_ctx("ec2.route.private_nat")
    props = rt.parse_props({"route_table_id": rtb, "destination_cidr_block": "0.0.0.0/0", "gateway_id": net["nat"]})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    ec2 = boto3.client("ec2")

    def default_route() -> dict[str, Any]:
        routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
        return next(r for r in routes if r.get("DestinationCidrBlock") == "0.0.0.0/0")

    assert default_route()["NatGatewayId"] == net["nat"]

    # out of band: sent through the internet gateway instead (the private subnets made public)
    igw_rt: Any = resource_type("ec2.internet_gateway")
    igw = igw_rt.create(make_ctx("ec2.internet_gateway.private"), igw_rt.parse_props({"vpc_id": net["vpc"]}))
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    drifted = rt.read(ctx, id)
    assert drifted.props["gateway_id"] == igw
    assert changed_fields_forcing(rt, props, drifted, ctx) == {"gateway_id": False}
    rt.update(ctx, id, props, drifted, {"gateway_id"})
    assert_same(rt, props, rt.read(ctx, id), ctx)
    assert default_route()["NatGatewayId"] == net["nat"] and not default_route().get("GatewayId")

    # out of band: pointed at a network interface, a target of another kind, which reads as what it is
    eni = ec2.create_network_interface(SubnetId=net["public"])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0", NetworkInterfaceId=eni)
    drifted = rt.read(ctx, id)
    assert drifted.props["gateway_id"] == eni
    assert changed_fields(rt, props, drifted, ctx) == {"gateway_id"}
    rt.update(ctx, id, props, drifted, {"gateway_id"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # out of band: the route deleted: it reads as missing, and is made again under the same id
    ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock="0.0.0.0/0")
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    assert rt.create(ctx, props) == id
    assert_same(rt, props, rt.read(ctx, id), ctx)

    _delete_twice(rt, ctx, id, obs, props)
    ec2.delete_network_interface(NetworkInterfaceId=eni)
    igw_rt.delete(make_ctx("ec2.internet_gateway.private"), igw, {}, None)


def _modify_vpc_endpoint_like_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for a moto gap: moto's ModifyVpcEndpoint changes the endpoint's list of route tables but adds
    and removes no route (after which DeleteVpcEndpoints fails on the missing route). AWS adds the route to the
    service's prefix list in every table added, and takes it out of every table removed."""
    original = VPCBackend.modify_vpc_endpoint

    def modify(self: Any, vpc_id: str, policy_doc: str, *args: Any, **kw: Any) -> None:
        endpoint = self.vpc_end_points[vpc_id]
        before = set(endpoint.route_table_ids)
        original(self, vpc_id, policy_doc, *args, **kw)
        prefix_list = endpoint.destination_prefix_list_id
        for table in set(endpoint.route_table_ids) - before:
            self.create_route(table, None, gateway_id=vpc_id, destination_prefix_list_id=prefix_list)
        for table in before - set(endpoint.route_table_ids):
            self.delete_route(table, prefix_list)

    monkeypatch.setattr(VPCBackend, "modify_vpc_endpoint", modify)


S3_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "MetaflowBucket",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
            "Resource": ["arn:aws:s3:::mf-data", "arn:aws:s3:::mf-data/*"],
        }
    ],
}


def _check_vpc_endpoint(make_ctx: MakeCtx, aws: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    _modify_vpc_endpoint_like_aws(monkeypatch)
    vpc = _vpc(make_ctx, "endpoint")
    rtb_rt: Any = resource_type("ec2.route_table")
    rtb1 = rtb_rt.create(make_ctx("ec2.route_table.private_a"), rtb_rt.parse_props({"vpc_id": vpc}))
    rtb2 = rtb_rt.create(make_ctx("ec2.route_table.private_b"), rtb_rt.parse_props({"vpc_id": vpc}))
    ec2 = boto3.client("ec2")

    def endpoint_routes(table: str) -> list[str]:
        routes = ec2.describe_route_tables(RouteTableIds=[table])["RouteTables"][0]["Routes"]
        return [r["GatewayId"] for r in routes if r.get("DestinationPrefixListId")]

    rt: Any = resource_type("ec2.vpc_endpoint")
    ctx = make_ctx("ec2.vpc_endpoint.s3")
    s3 = "com.amazonaws.us-east-1.s3"
    props = rt.parse_props({"vpc_id": vpc, "service_name": s3, "route_table_ids": [rtb1]})
    aws.recorder.reset()
    id = rt.create(ctx, props)
    assert aws.recorder.mutating() == {"ec2:CreateVpcEndpoint": 1}
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[id])["VpcEndpoints"][0]
    assert endpoint["VpcEndpointType"] == "Gateway" and endpoint["State"] == "available"
    assert endpoint_routes(rtb1) == [id] and endpoint_routes(rtb2) == []
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["policy"] is None  # AWS's full-access default reads as "no policy"
    arn = f"arn:aws:ec2:us-east-1:123456789012:vpc-endpoint/{id}"
    assert obs.attrs == {"id": id, "arn": arn}
    assert rt.id_from_arn(arn) == id
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("ec2.vpc_endpoint.dynamodb"), props) is None
    assert rt.read_many(ctx, [id, "vpce-0123456789abcdef0"]).keys() == {id}
    assert rt.replace_on == {"vpc_id", "service_name", "endpoint_type", "private_dns_enabled"}
    other = rt.parse_props(
        {"vpc_id": vpc, "service_name": "com.amazonaws.us-east-1.dynamodb", "route_table_ids": [rtb1]}
    )
    assert changed_fields_forcing(rt, other, obs, ctx) == {"service_name": True}

    # the default policy spelled out is the default: no policy
    spelled = rt.parse_props(
        {
            "vpc_id": vpc,
            "service_name": s3,
            "route_table_ids": [rtb1],
            "policy": {"Statement": {"Action": "*", "Principal": "*", "Resource": ["*"], "Effect": "Allow"}},
        }
    )
    assert spelled.policy is None

    # out of band: a restrictive policy, and the endpoint added to the second route table
    ec2.modify_vpc_endpoint(VpcEndpointId=id, PolicyDocument=json.dumps(S3_READ))
    drifted = rt.read(ctx, id)
    assert changed_fields(rt, props, drifted, ctx) == {"policy"}
    rt.update(ctx, id, props, drifted, {"policy"})
    assert_same(rt, props, rt.read(ctx, id), ctx)
    ec2.modify_vpc_endpoint(VpcEndpointId=id, AddRouteTableIds=[rtb2])
    assert endpoint_routes(rtb2) == [id]
    drifted = rt.read(ctx, id)
    assert changed_fields(rt, props, drifted, ctx) == {"route_table_ids"}
    rt.update(ctx, id, props, drifted, {"route_table_ids"})
    assert_same(rt, props, rt.read(ctx, id), ctx)
    assert endpoint_routes(rtb1) == [id] and endpoint_routes(rtb2) == []

    # config: both route tables (in place: one ModifyVpcEndpoint, same endpoint) and a policy, given in another
    # order and with lone strings where AWS keeps lists
    both = rt.parse_props(
        {
            "vpc_id": vpc,
            "service_name": s3,
            "route_table_ids": [rtb2, rtb1],
            "policy": {
                "Statement": [
                    {
                        "Resource": ["arn:aws:s3:::mf-data/*", "arn:aws:s3:::mf-data"],
                        "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
                        "Principal": "*",
                        "Effect": "Allow",
                        "Sid": "MetaflowBucket",
                    }
                ],
                "Version": "2012-10-17",
            },
        }
    )
    before = rt.read(ctx, id)
    assert changed_fields(rt, both, before, ctx) == {"route_table_ids", "policy"}
    aws.recorder.reset()
    rt.update(ctx, id, both, before, {"route_table_ids", "policy"})
    assert aws.recorder.mutating() == {"ec2:ModifyVpcEndpoint": 1}
    after = rt.read(ctx, id)
    assert_same(rt, both, after, ctx)
    assert endpoint_routes(rtb1) == [id] and endpoint_routes(rtb2) == [id]
    compact = ec2.describe_vpc_endpoints(VpcEndpointIds=[id])["VpcEndpoints"][0]["PolicyDocument"]
    assert diff(rt, {"policy": S3_READ}, {"policy": json.loads(compact)}) == []  # the same meaning

    # out of band: the policy reset to full access, a tag removed
    ec2.modify_vpc_endpoint(VpcEndpointId=id, PolicyDocument=json.dumps(FULL_ACCESS_POLICY))
    ec2.delete_tags(Resources=[id], Tags=[{"Key": TAG_STACK}])
    drifted = rt.read(ctx, id)
    assert drifted.props["policy"] is None
    assert changed_fields(rt, both, drifted, ctx) == {"policy", "tags"}
    rt.update(ctx, id, both, drifted, {"policy", "tags"})
    assert_same(rt, both, rt.read(ctx, id), ctx)

    # config: out of the first table again
    second_only = both.model_copy(update={"route_table_ids": [rtb2]})
    before = rt.read(ctx, id)
    assert changed_fields(rt, second_only, before, ctx) == {"route_table_ids"}
    rt.update(ctx, id, second_only, before, {"route_table_ids"})
    assert_same(rt, second_only, rt.read(ctx, id), ctx)
    assert endpoint_routes(rtb1) == [] and endpoint_routes(rtb2) == [id]

    # delete waits for "deleted", which reads as gone; the routes go with it
    rt.delete(ctx, id, obs.attrs, second_only)
    assert rt.read(ctx, id) is None and rt.find(ctx, second_only) is None
    assert endpoint_routes(rtb2) == []
    # AWS reports an endpoint it cannot delete in the answer, not as an error: raised, and known as not found
    client = aws.client("ec2")
    monkeypatch.setattr(
        client,
        "delete_vpc_endpoints",
        lambda **kw: {
            "Unsuccessful": [
                {
                    "Error": {
                        "Code": "InvalidVpcEndpoint.NotFound",
                        "Message": f"The Vpc Endpoint Id '{id}' does not exist",
                    },
                    "ResourceId": id,
                }
            ]
        },
    )
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, second_only)
    assert rt.missing(gone.value) and "does not exist" in str(gone.value)
    monkeypatch.undo()


def _check_interface_endpoint(make_ctx: MakeCtx, aws: ClientFactory) -> None:
    """An Interface endpoint (ECR's API, as a private network without NAT needs): in two subnets behind a group,
    private DNS on; subnets and groups changed out of band are put back in place, private DNS by a new endpoint."""
    vpc = _vpc(make_ctx, "interface")
    subnets = [
        _subnet(make_ctx, vpc, f"interface_{az}", f"10.0.{n}.0/24", f"us-east-1{az}") for n, az in enumerate("ab")
    ]
    ec2 = boto3.client("ec2")
    groups = [ec2.create_security_group(GroupName=f"g{n}", Description="x", VpcId=vpc)["GroupId"] for n in (1, 2)]
    rt: Any = resource_type("ec2.vpc_endpoint")
    ctx = make_ctx("ec2.vpc_endpoint.ecr_api")
    props = rt.parse_props(
        {
            "vpc_id": vpc,
            "service_name": "com.amazonaws.us-east-1.ecr.api",
            "endpoint_type": "Interface",
            "subnet_ids": subnets,
            "security_group_ids": [groups[0]],
        }
    )
    assert props.private_dns_enabled is True  # CreateVpcEndpoint's default for an Interface endpoint, said
    aws.recorder.reset()
    id = rt.create(ctx, props)
    assert aws.recorder.mutating() == {"ec2:CreateVpcEndpoint": 1}
    endpoint = ec2.describe_vpc_endpoints(VpcEndpointIds=[id])["VpcEndpoints"][0]
    assert endpoint["VpcEndpointType"] == "Interface" and endpoint["PrivateDnsEnabled"] is True
    assert sorted(endpoint["SubnetIds"]) == sorted(subnets)
    assert [g["GroupId"] for g in endpoint["Groups"]] == [groups[0]]
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # out of band: one subnet taken away, a second group added; both put back in place (one call, same endpoint)
    ec2.modify_vpc_endpoint(VpcEndpointId=id, RemoveSubnetIds=[subnets[1]], AddSecurityGroupIds=[groups[1]])
    drifted = rt.read(ctx, id)
    assert changed_fields_forcing(rt, props, drifted, ctx) == {"subnet_ids": False, "security_group_ids": False}
    aws.recorder.reset()
    rt.update(ctx, id, props, drifted, {"subnet_ids", "security_group_ids"})
    assert aws.recorder.mutating() == {"ec2:ModifyVpcEndpoint": 1}
    assert_same(rt, props, rt.read(ctx, id), ctx)
    # private DNS off is another endpoint
    no_dns = props.model_copy(update={"private_dns_enabled": False})
    assert changed_fields_forcing(rt, no_dns, rt.read(ctx, id), ctx) == {"private_dns_enabled": True}

    # what each type takes, refused before any call
    for bad, words in (
        ({"endpoint_type": "Gateway", "subnet_ids": subnets}, "not subnets"),
        ({"endpoint_type": "Interface", "route_table_ids": ["rtb-1"], "subnet_ids": subnets}, "not route tables"),
        ({"endpoint_type": "Interface"}, "needs subnet_ids"),
        ({"endpoint_type": "GatewayLoadBalancer"}, "not one of"),
    ):
        with pytest.raises(ValidationError, match=words):
            rt.parse_props({"vpc_id": vpc, "service_name": "com.amazonaws.us-east-1.logs", **bad})

    rt.delete(ctx, id, {}, props)
    assert rt.read(ctx, id) is None


# ------------------------------------------------------------------ tests
# One moto account per test (each costs about two seconds of moto set-up), so the checks share one.


def test_network_types(make_ctx: MakeCtx) -> None:
    _check_vpc(make_ctx)
    _check_vpc_delete_waits_for_dependents(make_ctx)
    _check_subnet(make_ctx)
    _check_internet_gateway(make_ctx)
    _check_route_table_and_route(make_ctx)
    _check_route_table_association(make_ctx)


def test_security_groups_and_launch_template(make_ctx: MakeCtx, aws: ClientFactory) -> None:
    _check_security_group(make_ctx, aws)
    _check_security_group_without_egress(make_ctx)
    _check_launch_template(make_ctx)


def test_private_network_types(make_ctx: MakeCtx, aws: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    _check_eip(make_ctx, aws, monkeypatch)
    net = _check_nat_gateway(make_ctx, aws)
    _check_nat_gateway_failed_and_deleted(make_ctx, aws, net)
    _check_private_route(make_ctx, net)
    _check_vpc_endpoint(make_ctx, aws, monkeypatch)
    _check_interface_endpoint(make_ctx, aws)

    # teardown in the engine's order: the NAT gateway (waits for deleted), then its address
    nat_rt: Any = resource_type("ec2.nat_gateway")
    ctx = make_ctx("ec2.nat_gateway.main")
    obs = nat_rt.read(ctx, net["nat"])
    nat_rt.delete(ctx, net["nat"], obs.attrs, None)
    assert nat_rt.read(ctx, net["nat"]) is None and nat_rt.find(ctx, None) is None
    eip_rt: Any = resource_type("ec2.eip")
    eip_rt.delete(make_ctx("ec2.eip.nat"), net["eip"], {}, None)
    assert eip_rt.read(make_ctx("ec2.eip.nat"), net["eip"]) is None
