"""The EC2 types on moto: each one created, read back equal to the desired, found again, drifted out of band and
repaired, deleted (twice); plus the EC2-specific parts: DependencyViolation retried on delete, an internet
gateway moved between VPCs, a route table deleted with an association left behind, a route-table association
moved (it changes id), security-group rules as sets of atomic rules (default egress, self references,
descriptions changed in place), and a launch template versioned on every change."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from provisioner.compare import diff
from provisioner.session import ClientFactory
from resources.base import TAG_ADDRESS, TAG_STACK, resource_type

MakeCtx = Callable[..., Any]


def _want(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    dump = props.model_dump(mode="json")
    want = {k: v for k, v in dump.items() if k not in rt.behaviour_fields}
    return want | {"tags": ctx.tags} if rt.taggable else want


def _changes(rt: Any, props: Any, obs: Any, ctx: Any) -> set[str]:
    return {c.field for c in diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags if rt.taggable else None)}


def _same(rt: Any, props: Any, obs: Any, ctx: Any) -> None:
    """Read back equal to the desired, and so no diff either (unordered fields compared as sets)."""
    assert obs is not None
    want = _want(rt, props, ctx)
    for field in rt.unordered:
        want[field] = sorted(want[field], key=repr)
        obs.props[field] = sorted(obs.props[field], key=repr)
    assert obs.props == want
    assert _changes(rt, props, obs, ctx) == set()


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
    _same(rt, props, obs, ctx)
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
    assert _changes(rt, props, drifted, ctx) == {"enable_dns_hostnames", "tags"}
    rt.update(ctx, id, props, drifted, {"enable_dns_hostnames", "tags"})
    fixed = rt.read(ctx, id)
    assert fixed.props["tags"].pop("team") == "data"  # other keys are left alone
    _same(rt, props, fixed, ctx)

    # DNS off by config
    quiet = rt.parse_props({"cidr_block": "10.20.0.0/16", "enable_dns_hostnames": False, "enable_dns_support": False})
    assert _changes(rt, quiet, rt.read(ctx, id), ctx) == {"enable_dns_hostnames", "enable_dns_support"}
    rt.update(ctx, id, quiet, rt.read(ctx, id), {"enable_dns_hostnames", "enable_dns_support"})
    _same(rt, quiet, _pop_team(rt.read(ctx, id)), ctx)
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
    _same(rt, props, obs, ctx)
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
    assert _changes(rt, props, drifted, ctx) == {"map_public_ip_on_launch"}
    rt.update(ctx, id, props, drifted, {"map_public_ip_on_launch"})
    _same(rt, props, rt.read(ctx, id), ctx)

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
    _same(rt, props, obs, ctx)
    assert obs.attrs["id"] == id
    assert rt.find(ctx, props) == id

    # out of band: detached
    ec2 = boto3.client("ec2")
    ec2.detach_internet_gateway(InternetGatewayId=id, VpcId=vpc)
    drifted = rt.read(ctx, id)
    assert drifted.props["vpc_id"] is None
    assert _changes(rt, props, drifted, ctx) == {"vpc_id"}
    rt.update(ctx, id, props, drifted, {"vpc_id"})
    _same(rt, props, rt.read(ctx, id), ctx)

    # moved to another VPC: detached from the old one, attached to the new one
    moved = rt.parse_props({"vpc_id": other_vpc})
    before = rt.read(ctx, id)
    assert _changes(rt, moved, before, ctx) == {"vpc_id"}
    rt.update(ctx, id, moved, before, {"vpc_id"})
    _same(rt, moved, rt.read(ctx, id), ctx)
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
    _same(rtb_rt, rtb_props, rtb_obs, rtb_ctx)
    assert rtb_obs.attrs["id"] == rtb
    assert rtb_rt.find(rtb_ctx, rtb_props) == rtb
    ec2 = boto3.client("ec2")
    ec2.delete_tags(Resources=[rtb], Tags=[{"Key": TAG_STACK}])
    drifted = rtb_rt.read(rtb_ctx, rtb)
    assert _changes(rtb_rt, rtb_props, drifted, rtb_ctx) == {"tags"}
    assert rtb_rt.find(rtb_ctx, rtb_props) is None  # untagged: no longer recognisable as ours
    rtb_rt.update(rtb_ctx, rtb, rtb_props, drifted, {"tags"})
    _same(rtb_rt, rtb_props, rtb_rt.read(rtb_ctx, rtb), rtb_ctx)

    # the route
    rt: Any = resource_type("ec2.route")
    ctx = make_ctx("ec2.route.public_internet")
    assert rt.taggable is False
    props = rt.parse_props({"route_table_id": rtb, "destination_cidr_block": "0.0.0.0/0", "gateway_id": igw})
    assert rt.find(ctx, props) is None
    id = rt.create(ctx, props)
    assert id == f"{rtb}|0.0.0.0/0"
    obs = rt.read(ctx, id)
    _same(rt, props, obs, ctx)
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
    assert _changes(rt, props, drifted, ctx) == {"gateway_id"}
    rt.update(ctx, id, props, drifted, {"gateway_id"})
    _same(rt, props, rt.read(ctx, id), ctx)

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
    _same(rt, props, obs, ctx)
    assert obs.attrs == {"id": id}
    assert rt.find(ctx, props) == id
    assert rt.replace_on == {"subnet_id"}

    # config moves the subnet to the other table: one ReplaceRouteTableAssociation, which gives a new id
    moved = rt.parse_props({"route_table_id": rtb2, "subnet_id": subnet})
    before = rt.read(ctx, id)
    assert _changes(rt, moved, before, ctx) == {"route_table_id"}
    rt.update(ctx, id, moved, before, {"route_table_id"})
    new_id = before.id
    assert new_id != id and before.attrs["id"] == new_id
    assert rt.read(ctx, id) is None
    _same(rt, moved, rt.read(ctx, new_id), ctx)

    # out of band: moved back, which again changes the id; found again through the subnet and repaired
    ec2 = boto3.client("ec2")
    third = ec2.replace_route_table_association(AssociationId=new_id, RouteTableId=rtb1)["NewAssociationId"]
    assert rt.read(ctx, new_id) is None
    assert rt.find(ctx, moved) == third
    drifted = rt.read(ctx, third)
    assert drifted.props["route_table_id"] == rtb1
    assert _changes(rt, moved, drifted, ctx) == {"route_table_id"}
    rt.update(ctx, third, moved, drifted, {"route_table_id"})
    _same(rt, moved, rt.read(ctx, drifted.id), ctx)

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
    _same(rt, props, obs, ctx)
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
    assert _changes(rt, props, drifted, ctx) == {"ingress", "egress"}
    aws.recorder.reset()
    rt.update(ctx, id, props, drifted, {"ingress", "egress"})
    _same(rt, props, rt.read(ctx, id), ctx)
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
    changes = _changes(rt, tighter, before, ctx)
    assert changes == {"ingress", "egress", "tags"}
    rt.update(ctx, id, tighter, before, changes)
    _same(rt, tighter, rt.read(ctx, id), ctx)
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
    _same(rt, props, obs, ctx)
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
    _same(rt, props, obs, ctx)
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
    changes = _changes(rt, props, drifted, ctx)
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
    _same(rt, props, fixed, ctx)
    # the full data went into a new version 3, now the default
    assert fixed.attrs == {"id": id, "name": "mf-cpu", "default_version": "3", "latest_version": "3"}

    # a config change: bigger disk, no user data
    bigger = rt.parse_props({"name": "mf-cpu", "instance_profile_arn": profile, "root_volume_size": 200})
    before = rt.read(ctx, id)
    assert _changes(rt, bigger, before, ctx) == {"root_volume_size", "user_data"}
    rt.update(ctx, id, bigger, before, {"root_volume_size", "user_data"})
    after = rt.read(ctx, id)
    _same(rt, bigger, after, ctx)
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
