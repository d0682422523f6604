"""The ELBv2 types on moto: each one created, read back equal to the desired, found again, drifted out of band and
repaired, deleted; plus the 32-character name limit and a TCP health check that has no path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from provisioner.compare import diff
from resources.base import TAG_ADDRESS, resource_type

MakeCtx = Callable[..., Any]


def _want(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    dump = props.model_dump(mode="json")
    want = {k: v for k, v in dump.items() if k not in rt.behaviour_fields | rt.sensitive_fields}
    return want | {"tags": ctx.tags} if rt.taggable else want


def _changes(rt: Any, props: Any, obs: Any, ctx: Any) -> set[str]:
    return {c.field for c in diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags if rt.taggable else None)}


def _same(rt: Any, props: Any, obs: Any, ctx: Any) -> None:
    """Read back equal to the desired (unordered fields as sets), and so no diff either."""
    assert obs is not None
    want = _want(rt, props, ctx)
    got = dict(obs.props)
    for field in rt.unordered:
        want[field], got[field] = sorted(want[field], key=repr), sorted(got[field], key=repr)
    assert got == want
    assert _changes(rt, props, obs, ctx) == set()


def _network() -> tuple[str, list[str], str]:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "b"), (3, "c"))
    ]
    sg = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    return vpc, subnets, sg


def _untag(arn: str) -> None:
    elb = boto3.client("elbv2")
    elb.remove_tags(ResourceArns=[arn], TagKeys=[TAG_ADDRESS])


def test_load_balancer(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("elbv2.load_balancer")
    ctx = make_ctx("elbv2.load_balancer.nlb")
    _, subnets, sg = _network()
    props = rt.parse_props({"name": "mf-nlb-abc12345", "subnets": subnets[:2]})
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    _same(rt, props, obs, ctx)
    assert obs.props["type"] == "network" and obs.props["scheme"] == "internal"
    assert obs.props["security_group_ids"] == []
    assert obs.attrs["id"] == obs.attrs["arn"] == id and obs.attrs["name"] == "mf-nlb-abc12345"
    assert obs.attrs["dns_name"] and obs.attrs["arn_suffix"] == id.split(":loadbalancer/")[1]
    # "net/<name>/<id>" on AWS; moto writes "app/" into every load balancer ARN
    assert obs.attrs["arn_suffix"].split("/")[1] == "mf-nlb-abc12345"
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "other", "subnets": subnets})) is None

    # out of band: a third subnet added, a security group added, a tag of ours removed
    elb = boto3.client("elbv2")
    elb.set_subnets(LoadBalancerArn=id, Subnets=subnets)
    elb.set_security_groups(LoadBalancerArn=id, SecurityGroups=[sg])
    _untag(id)
    drifted = rt.read(ctx, id)
    assert drifted.props["subnets"] == sorted(subnets) and drifted.props["security_group_ids"] == [sg]
    changes = _changes(rt, props, drifted, ctx)
    assert changes == {"subnets", "security_group_ids", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    _same(rt, props, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    rt.delete(ctx, id, obs.attrs, props)  # DeleteLoadBalancer on a gone ARN succeeds, as on AWS


def test_load_balancer_name_limit() -> None:
    rt: Any = resource_type("elbv2.load_balancer")
    with pytest.raises(ValidationError, match="32"):
        rt.parse_props({"name": "x" * 33, "subnets": ["subnet-1"]})
    assert rt.parse_props({"name": "x" * 32, "subnets": ["subnet-1"]}).name == "x" * 32
    assert rt.replace_on == {"name", "type", "scheme"}


def test_target_group(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("elbv2.target_group")
    ctx = make_ctx("elbv2.target_group.metadata")
    vpc, _, _ = _network()
    props = rt.parse_props({"name": "mf-mdtg-abc12345", "port": 8080, "vpc_id": vpc, "health_check_port": "8080"})
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    _same(rt, props, obs, ctx)
    assert obs.props["health_check_protocol"] == "HTTP" and obs.props["health_check_path"] == "/ping"
    assert obs.props["deregistration_delay"] == 30  # not AWS's 300
    assert obs.attrs == {
        "id": id,
        "arn": id,
        "name": "mf-mdtg-abc12345",
        "arn_suffix": id.split(":", 5)[-1],
    }
    assert obs.attrs["arn_suffix"].startswith("targetgroup/mf-mdtg-abc12345/")
    assert rt.find(ctx, props) == id

    # out of band: health check path and port, delay, a tag
    elb = boto3.client("elbv2")
    elb.modify_target_group(TargetGroupArn=id, HealthCheckPath="/other", HealthCheckPort="traffic-port")
    elb.modify_target_group_attributes(
        TargetGroupArn=id, Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}]
    )
    _untag(id)
    drifted = rt.read(ctx, id)
    changes = _changes(rt, props, drifted, ctx)
    assert changes == {"health_check_path", "health_check_port", "deregistration_delay", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    _same(rt, props, rt.read(ctx, id), ctx)

    # to a TCP health check, which has no path (the default "/ping" is dropped, so no endless drift)
    tcp = rt.parse_props({"name": "mf-mdtg-abc12345", "port": 8080, "vpc_id": vpc, "health_check_protocol": "TCP"})
    assert tcp.health_check_path is None
    changes = _changes(rt, tcp, rt.read(ctx, id), ctx)
    assert changes == {"health_check_protocol", "health_check_path", "health_check_port"}
    rt.update(ctx, id, tcp, rt.read(ctx, id), changes)
    _same(rt, tcp, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


def test_listener(make_ctx: MakeCtx) -> None:
    lb_rt: Any = resource_type("elbv2.load_balancer")
    tg_rt: Any = resource_type("elbv2.target_group")
    rt: Any = resource_type("elbv2.listener")
    vpc, subnets, _ = _network()
    lb = lb_rt.create(make_ctx("elbv2.load_balancer.nlb"), lb_rt.parse_props({"name": "nlb", "subnets": subnets[:2]}))
    tg_props = [
        tg_rt.parse_props({"name": name, "port": 8080, "vpc_id": vpc, "health_check_protocol": "TCP"})
        for name in ("tg-a", "tg-b")
    ]
    tg_a, tg_b = (tg_rt.create(make_ctx(f"elbv2.target_group.{p.name}"), p) for p in tg_props)

    ctx = make_ctx("elbv2.listener.metadata")
    props = rt.parse_props({"load_balancer_arn": lb, "port": 80, "target_group_arn": tg_a})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    _same(rt, props, obs, ctx)
    assert rt.taggable  # moto and AWS both tag listeners
    assert obs.attrs == {"id": id, "arn": id}
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"load_balancer_arn": lb, "port": 8082, "target_group_arn": tg_a})) is None

    # out of band: forwarded elsewhere, a tag removed
    elb = boto3.client("elbv2")
    elb.modify_listener(ListenerArn=id, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_b}])
    _untag(id)
    drifted = rt.read(ctx, id)
    assert drifted.props["target_group_arn"] == tg_b
    assert _changes(rt, props, drifted, ctx) == {"target_group_arn", "tags"}
    rt.update(ctx, id, props, drifted, {"target_group_arn", "tags"})
    _same(rt, props, rt.read(ctx, id), ctx)

    # a desired change of target group
    moved = rt.parse_props({"load_balancer_arn": lb, "port": 80, "target_group_arn": tg_b})
    rt.update(ctx, id, moved, rt.read(ctx, id), {"target_group_arn"})
    _same(rt, moved, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)
    # with the listener gone the target groups can go
    for tg in (tg_a, tg_b):
        tg_rt.delete(make_ctx("elbv2.target_group.x"), tg, {}, None)
