"""The ELBv2 types on moto: each one created, read back equal to the desired, found again, drifted out of band and
repaired, deleted; plus the 32-character name limit and a TCP health check that has no path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from provisioner.engine.compare import diff
from resources.base import TAG_ADDRESS, resource_type
from resources.elbv2 import aws_actions
from tests.resources.drift import assert_same, changed_fields, vpc_with_subnets

MakeCtx = Callable[..., Any]


def _network() -> tuple[str, list[str], str]:
    ec2 = boto3.client("ec2")
    vpc, subnets = vpc_with_subnets("abc")
    sg = ec2.create_security_group(GroupName="lb", Description="lb", VpcId=vpc)["GroupId"]
    return vpc, subnets, sg


def _untag(arn: str) -> None:
    elb = boto3.client("elbv2")
    elb.remove_tags(ResourceArns=[arn], TagKeys=[TAG_ADDRESS])


def test_load_balancer(make_ctx: MakeCtx, aws: Any) -> None:
    rt: Any = resource_type("elbv2.load_balancer")
    ctx = make_ctx("elbv2.load_balancer.nlb")
    _, subnets, sg = _network()
    props = rt.parse_props({"name": "mf-nlb-abc12345", "subnets": subnets[:2]})
    id = rt.create(ctx, props)
    # an NLB with AWS's attribute values needs no attribute call (the standard preset's NLB is made as before)
    assert aws.recorder.calls["elbv2:ModifyLoadBalancerAttributes"] == 0

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["type"] == "network" and obs.props["scheme"] == "internal"
    assert obs.props["security_group_ids"] == []
    assert obs.attrs["id"] == obs.attrs["arn"] == id and obs.attrs["name"] == "mf-nlb-abc12345"
    assert obs.attrs["dns_name"] and obs.attrs["arn_suffix"] == id.split(":loadbalancer/")[1]
    assert obs.attrs["canonical_hosted_zone_id"]  # for a Route 53 alias record
    # "net/<name>/<id>" on AWS; moto writes "app/" into every load balancer ARN
    assert obs.attrs["arn_suffix"].split("/")[1] == "mf-nlb-abc12345"
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "other", "subnets": subnets})) is None

    # out of band: a third subnet added, a security group added, cross-zone turned on, a tag of ours removed
    elb = boto3.client("elbv2")
    elb.set_subnets(LoadBalancerArn=id, Subnets=subnets)
    elb.set_security_groups(LoadBalancerArn=id, SecurityGroups=[sg])
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=id, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "true"}]
    )
    _untag(id)
    drifted = rt.read(ctx, id)
    assert drifted.props["subnets"] == sorted(subnets) and drifted.props["security_group_ids"] == [sg]
    assert drifted.props["attributes"]["load_balancing.cross_zone.enabled"] == "true"
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"subnets", "security_group_ids", "attributes", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert_same(rt, props, rt.read(ctx, id), ctx)

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
    assert_same(rt, props, obs, ctx)
    assert obs.props["health_check_protocol"] == "HTTP" and obs.props["health_check_path"] == "/ping"
    assert obs.props["deregistration_delay"] == 30  # not AWS's 300
    assert obs.props["matcher"] == "200-399"  # what AWS gives an NLB's HTTP health check, sent explicitly
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
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"health_check_path", "health_check_port", "deregistration_delay", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # to a TCP health check, which has no path or codes (the defaults are dropped, so no endless drift)
    tcp = rt.parse_props({"name": "mf-mdtg-abc12345", "port": 8080, "vpc_id": vpc, "health_check_protocol": "TCP"})
    assert tcp.health_check_path is None and tcp.matcher is None
    changes = changed_fields(rt, tcp, rt.read(ctx, id), ctx)
    assert changes == {"health_check_protocol", "health_check_path", "health_check_port", "matcher"}
    rt.update(ctx, id, tcp, rt.read(ctx, id), changes)
    assert_same(rt, tcp, rt.read(ctx, id), ctx)

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
    assert_same(rt, props, obs, ctx)
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
    assert changed_fields(rt, props, drifted, ctx) == {"target_group_arn", "tags"}
    rt.update(ctx, id, props, drifted, {"target_group_arn", "tags"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # a desired change of target group
    moved = rt.parse_props({"load_balancer_arn": lb, "port": 80, "target_group_arn": tg_b})
    rt.update(ctx, id, moved, rt.read(ctx, id), {"target_group_arn"})
    assert_same(rt, moved, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)
    # with the listener gone the target groups can go
    for tg in (tg_a, tg_b):
        tg_rt.delete(make_ctx("elbv2.target_group.x"), tg, {}, None)


# ------------------------------------------------------------------ the ALB side: UI and MLflow stacks


def _sent(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` call made through ``client`` from now on."""
    seen: list[dict[str, Any]] = []

    def grab(params: dict[str, Any], **_: Any) -> None:
        seen.append(copy.deepcopy(params))

    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"provide-client-params.{service}.{operation}", grab)
    return seen


def _certificate(domain: str) -> str:
    """A moto ACM certificate: PENDING_VALIDATION for ever, which an HTTPS listener accepts all the same."""
    return str(boto3.client("acm").request_certificate(DomainName=domain, ValidationMethod="DNS")["CertificateArn"])


def _alb(make_ctx: MakeCtx) -> tuple[str, str, list[str]]:
    """An internet-facing ALB with a security group, and two HTTP target groups."""
    vpc, subnets, sg = _network()
    lb_rt: Any = resource_type("elbv2.load_balancer")
    tg_rt: Any = resource_type("elbv2.target_group")
    lb = lb_rt.create(
        make_ctx("elbv2.load_balancer.alb"),
        lb_rt.parse_props(
            {
                "name": "alb",
                "type": "application",
                "scheme": "internet-facing",
                "subnets": subnets[:2],
                "security_group_ids": [sg],
            }
        ),
    )
    tgs = [
        tg_rt.create(
            make_ctx(f"elbv2.target_group.{name}"),
            tg_rt.parse_props(
                {"name": name, "protocol": "HTTP", "port": port, "vpc_id": vpc, "health_check_path": "/"}
            ),
        )
        for name, port in (("ui-static", 3000), ("ui-backend", 8083))
    ]
    return vpc, lb, tgs


POOL_ARN = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"


def _cognito(order: int | None = None, **kw: Any) -> dict[str, Any]:
    action = {
        "type": "authenticate-cognito",
        "user_pool_arn": POOL_ARN,
        "user_pool_client_id": "client123",
        "user_pool_domain": "mf-ui-abc",
        **kw,
    }
    return action | ({"order": order} if order is not None else {})


def test_application_load_balancer(make_ctx: MakeCtx, monkeypatch: pytest.MonkeyPatch) -> None:
    rt: Any = resource_type("elbv2.load_balancer")
    ctx = make_ctx("elbv2.load_balancer.alb")
    _, subnets, sg = _network()
    spec = {
        "name": "mf-alb-abc12345",
        "type": "application",
        "scheme": "internet-facing",
        "subnets": subnets[:2],
        "security_group_ids": [sg],
        "attributes": {"idle_timeout.timeout_seconds": 120, "routing.http2.enabled": True},
    }
    props = rt.parse_props(spec)
    # every managed attribute is desired: AWS's value, mfprov's (malformed headers dropped), or the one given
    assert props.attributes["idle_timeout.timeout_seconds"] == "120"
    assert props.attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert props.attributes["deletion_protection.enabled"] == "false"
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["type"] == "application" and obs.props["security_group_ids"] == [sg]
    assert set(obs.attrs) == {"id", "arn", "name", "dns_name", "canonical_hosted_zone_id", "arn_suffix"}
    assert obs.attrs["canonical_hosted_zone_id"] and obs.attrs["dns_name"]
    elb = boto3.client("elbv2")
    on_aws = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=id)["Attributes"]}
    assert on_aws["idle_timeout.timeout_seconds"] == "120"
    assert on_aws["routing.http.drop_invalid_header_fields.enabled"] == "true"

    # out of band: the idle timeout back to 60 and malformed headers let through: one field, "attributes"
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=id,
        Attributes=[
            {"Key": "idle_timeout.timeout_seconds", "Value": "60"},
            {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "false"},
        ],
    )
    drifted = rt.read(ctx, id)
    assert changed_fields(rt, props, drifted, ctx) == {"attributes"}
    rt.update(ctx, id, props, drifted, {"attributes"})
    assert_same(rt, props, rt.read(ctx, id), ctx)
    # an attribute mfprov does not manage for an ALB is not compared
    elb.modify_load_balancer_attributes(
        LoadBalancerArn=id, Attributes=[{"Key": "load_balancing.cross_zone.enabled", "Value": "false"}]
    )
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    # only attributes of the type are accepted
    with pytest.raises(ValidationError, match="not managed for a application"):
        rt.parse_props(spec | {"attributes": {"load_balancing.cross_zone.enabled": "true"}})
    with pytest.raises(ValidationError, match="not managed for a network"):
        rt.parse_props({"name": "n", "subnets": subnets, "attributes": {"idle_timeout.timeout_seconds": "60"}})

    # Deletion protection on: AWS refuses DeleteLoadBalancer (moto does not: the stand-in below refuses as AWS
    # does); `down` is deliberate, so the delete turns the protection off and deletes.
    import moto.elbv2.models as elb_models
    from moto.elbv2.exceptions import ELBClientError

    real_delete = elb_models.ELBv2Backend.delete_load_balancer

    def refuse_protected(self: Any, arn: str) -> None:
        lb = self.load_balancers.get(arn)
        if lb is not None and lb.attrs.get("deletion_protection.enabled") == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        real_delete(self, arn)

    monkeypatch.setattr(elb_models.ELBv2Backend, "delete_load_balancer", refuse_protected)
    protected = rt.parse_props(spec | {"attributes": {"deletion_protection.enabled": "true"}})
    rt.update(ctx, id, protected, rt.read(ctx, id), {"attributes"})
    with pytest.raises(ClientError, match="deletion protection"):
        elb.delete_load_balancer(LoadBalancerArn=id)
    rt.delete(ctx, id, obs.attrs, protected)
    assert rt.read(ctx, id) is None


def test_http_target_group(make_ctx: MakeCtx) -> None:
    """An ALB's target group (the UI backend of terraform-aws-metaflow: /api/ping, every 10 s, 2 and 2)."""
    rt: Any = resource_type("elbv2.target_group")
    ctx = make_ctx("elbv2.target_group.ui_backend")
    vpc, _, _ = _network()
    spec = {
        "name": "mf-ui-backend",
        "protocol": "HTTP",
        "port": 8083,
        "vpc_id": vpc,
        "health_check_path": "/api/ping",
        "matcher": "200-202",
        "health_check_interval": 10,
        "healthy_threshold": 2,
        "unhealthy_threshold": 2,
    }
    props = rt.parse_props(spec)
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["protocol"] == "HTTP" and obs.props["matcher"] == "200-202"
    # no matcher given: AWS's for the protocol, so a group made without one reads back equal
    assert rt.parse_props(spec | {"matcher": None}).matcher == "200"
    assert rt.parse_props(spec | {"matcher": None, "protocol": "TCP"}).matcher == "200-399"

    # out of band: the codes, the interval and both thresholds
    boto3.client("elbv2").modify_target_group(
        TargetGroupArn=id,
        Matcher={"HttpCode": "200"},
        HealthCheckIntervalSeconds=30,
        HealthyThresholdCount=5,
        UnhealthyThresholdCount=3,
    )
    drifted = rt.read(ctx, id)
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"matcher", "health_check_interval", "healthy_threshold", "unhealthy_threshold"}
    rt.update(ctx, id, props, drifted, changes)
    assert_same(rt, props, rt.read(ctx, id), ctx)
    # the protocol and port make another group
    for change in ({"protocol": "HTTPS"}, {"port": 80}):
        got = diff(rt, rt.parse_props(spec | change).model_dump(mode="json"), obs.props)
        assert [(c.field, c.forces_replacement) for c in got] == [(next(iter(change)), True)]
    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None


def test_https_listener(make_ctx: MakeCtx) -> None:
    """The UI's listener: HTTPS with a certificate, Cognito sign-in, then the static UI."""
    rt: Any = resource_type("elbv2.listener")
    _, lb, (tg_static, tg_backend) = _alb(make_ctx)
    cert, other_cert = _certificate("ui.example.com"), _certificate("ui2.example.com")
    ctx = make_ctx("elbv2.listener.ui")
    spec = {
        "load_balancer_arn": lb,
        "port": 443,
        "protocol": "HTTPS",
        "certificate_arn": cert,
        # the CloudFormation template's orders 1 and 100: only the order counts (normalised to 1, 2)
        "default_actions": [
            {"type": "forward", "target_group_arn": tg_static, "order": 100},
            _cognito(order=1, scope="openid"),
        ],
    }
    props = rt.parse_props(spec)
    assert props.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert [(a.type, a.order) for a in props.default_actions] == [("authenticate-cognito", 1), ("forward", 2)]
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["certificate_arn"] == cert and obs.props["target_group_arn"] is None
    assert rt.find(ctx, props) == id

    elb = boto3.client("elbv2")
    # the same meaning written another way: no drift. AWS fills in the Cognito defaults mfprov left to it, and
    # reports a forward with its ForwardConfig (weight 1, stickiness off).
    elb.modify_listener(
        ListenerArn=id,
        DefaultActions=[
            {
                "Type": "authenticate-cognito",
                "Order": 5,
                "AuthenticateCognitoConfig": {
                    "UserPoolArn": POOL_ARN,
                    "UserPoolClientId": "client123",
                    "UserPoolDomain": "mf-ui-abc",
                },
            },
            {
                "Type": "forward",
                "Order": 7,
                "ForwardConfig": {
                    "TargetGroups": [{"TargetGroupArn": tg_static, "Weight": 1}],
                    "TargetGroupStickinessConfig": {"Enabled": False},
                },
            },
        ],
    )
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    # out of band, one at a time: the default action, the certificate, the TLS policy, a tag
    def drift(change: Callable[[], Any], *fields: str) -> None:
        change()
        drifted = rt.read(ctx, id)
        assert changed_fields(rt, props, drifted, ctx) == set(fields)
        rt.update(ctx, id, props, drifted, set(fields))
        assert_same(rt, props, rt.read(ctx, id), ctx)

    # the sign-in dropped, everything forwarded to the backend: one plain forward reads in the simple form
    drift(
        lambda: elb.modify_listener(ListenerArn=id, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_backend}]),
        "target_group_arn",
        "default_actions",
    )
    # the sign-in kept, the forward moved
    drift(
        lambda: elb.modify_listener(
            ListenerArn=id,
            DefaultActions=[
                {"Order": 1, **aws_actions(None, [props.default_actions[0]])[0]},
                {"Type": "forward", "Order": 2, "TargetGroupArn": tg_backend},
            ],
        ),
        "default_actions",
    )
    drift(lambda: elb.modify_listener(ListenerArn=id, Certificates=[{"CertificateArn": other_cert}]), "certificate_arn")
    drift(lambda: elb.modify_listener(ListenerArn=id, SslPolicy="ELBSecurityPolicy-2016-08"), "ssl_policy")
    drift(lambda: _untag(id), "tags")
    # a weighted forward is nothing mfprov writes: it reads as drift, and legibly
    elb.modify_listener(
        ListenerArn=id,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": tg_static, "Weight": 9},
                        {"TargetGroupArn": tg_backend, "Weight": 1},
                    ]
                },
            }
        ],
    )
    weighted = rt.read(ctx, id)
    assert weighted.props["target_group_arn"].startswith("weighted(")
    assert changed_fields(rt, props, weighted, ctx) == {"target_group_arn", "default_actions"}
    rt.update(ctx, id, props, weighted, {"target_group_arn", "default_actions"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # a desired change of session timeout reaches AWS
    shorter = rt.parse_props(
        spec | {"default_actions": [_cognito(session_timeout=3600), {"type": "forward", "target_group_arn": tg_static}]}
    )
    assert changed_fields(rt, shorter, rt.read(ctx, id), ctx) == {"default_actions"}
    rt.update(ctx, id, shorter, rt.read(ctx, id), {"default_actions"})
    assert_same(rt, shorter, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None


def test_listener_forms_and_checks() -> None:
    rt: Any = resource_type("elbv2.listener")
    base = {"load_balancer_arn": "lb", "port": 80, "protocol": "HTTP"}
    # one plain forward in default_actions is the simple form
    one = rt.parse_props(base | {"default_actions": [{"type": "forward", "target_group_arn": "tg"}]})
    assert one.model_dump(mode="json") == rt.parse_props(base | {"target_group_arn": "tg"}).model_dump(mode="json")
    assert one.default_actions == [] and one.ssl_policy is None
    bad = [
        ({"protocol": "HTTPS", "target_group_arn": "tg"}, "needs certificate_arn"),
        ({"certificate_arn": "c", "target_group_arn": "tg"}, "takes no certificate_arn"),
        ({}, "either target_group_arn"),
        ({"target_group_arn": "tg", "default_actions": [{"type": "forward", "target_group_arn": "x"}]}, "not both"),
        ({"default_actions": [_cognito(), {"type": "forward", "target_group_arn": "t"}]}, "HTTPS listeners only"),
        ({"default_actions": [_cognito(order=1), {"type": "forward", "target_group_arn": "t"}]}, "or none"),
        (
            {"default_actions": [{"type": "fixed-response", "status_code": "301"}]},
            "String should match pattern",
        ),
    ]
    for change, message in bad:
        with pytest.raises(ValidationError, match=message):
            rt.parse_props(base | change)
    tls = rt.parse_props(base | {"protocol": "TLS", "port": 443, "certificate_arn": "c", "target_group_arn": "t"})
    assert tls.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"


def test_http_listener_redirect_and_fixed_response(make_ctx: MakeCtx) -> None:
    """MLflow's port 80: a redirect to HTTPS, or a fixed 404."""
    rt: Any = resource_type("elbv2.listener")
    _, lb, _ = _alb(make_ctx)
    ctx = make_ctx("elbv2.listener.http")
    redirect = {"type": "redirect", "protocol": "HTTPS", "port": 443, "status_code": "HTTP_301"}
    props = rt.parse_props({"load_balancer_arn": lb, "port": 80, "protocol": "HTTP", "default_actions": [redirect]})
    assert props.default_actions[0].host == "#{host}"  # AWS's defaults: the request's own host, path, query
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["ssl_policy"] is None  # moto reports one for an HTTP listener too; AWS does not

    # out of band: a fixed 404 instead
    elb = boto3.client("elbv2")
    elb.modify_listener(
        ListenerArn=id,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )
    drifted = rt.read(ctx, id)
    assert drifted.props["default_actions"][0]["type"] == "fixed-response"
    assert changed_fields(rt, props, drifted, ctx) == {"default_actions"}
    rt.update(ctx, id, props, drifted, {"default_actions"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # out of band: made an HTTPS listener (with a certificate and, as AWS does, a TLS policy)
    elb.modify_listener(
        ListenerArn=id, Protocol="HTTPS", Certificates=[{"CertificateArn": _certificate("x.example.com")}]
    )
    drifted = rt.read(ctx, id)
    assert drifted.props["protocol"] == "HTTPS" and drifted.props["certificate_arn"]
    assert changed_fields(rt, props, drifted, ctx) == {"protocol", "certificate_arn", "ssl_policy"}
    rt.update(ctx, id, props, drifted, {"protocol", "certificate_arn", "ssl_policy"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # and a desired fixed response (MLflow's port 80: 404, text/plain, empty body)
    fixed = rt.parse_props(
        {
            "load_balancer_arn": lb,
            "port": 80,
            "protocol": "HTTP",
            "default_actions": [{"type": "fixed-response", "status_code": 404}],
        }
    )
    rt.update(ctx, id, fixed, rt.read(ctx, id), {"default_actions"})
    got = rt.read(ctx, id)
    assert_same(rt, fixed, got, ctx)
    assert got.props["default_actions"] == [
        {"type": "fixed-response", "order": 1, "status_code": "404", "content_type": "text/plain", "message_body": ""}
    ]
    rt.delete(ctx, id, obs.attrs, props)


def test_oidc_client_secret_is_read_at_call_time_and_never_kept(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("elbv2.listener")
    _, lb, (tg_a, tg_b) = _alb(make_ctx)
    secret_arn = boto3.client("secretsmanager").create_secret(
        Name="oidc", SecretString=json.dumps({"client_secret": "s3cr3t-value"})
    )["ARN"]
    ctx = make_ctx("elbv2.listener.oidc")
    oidc = {
        "type": "authenticate-oidc",
        "issuer": "https://idp.example.com",
        "authorization_endpoint": "https://idp.example.com/authorize",
        "token_endpoint": "https://idp.example.com/token",
        "user_info_endpoint": "https://idp.example.com/userinfo",
        "client_id": "mlflow",
        "client_secret_arn": secret_arn,
        "client_secret_key": "client_secret",
    }

    cert = _certificate("mlflow.example.com")

    def spec(target: str, **kw: Any) -> dict[str, Any]:
        return {
            "load_balancer_arn": lb,
            "port": 443,
            "protocol": "HTTPS",
            "certificate_arn": cert,
            "default_actions": [oidc | kw, {"type": "forward", "target_group_arn": target}],
        }

    props = rt.parse_props(spec(tg_a))
    dumped = json.dumps(props.model_dump(mode="json"))
    assert "s3cr3t" not in dumped and secret_arn not in dumped  # neither the secret nor its ARN is state

    elb = ctx.client("elbv2")
    created, modified = _sent(elb, "CreateListener"), _sent(elb, "ModifyListener")
    id = rt.create(ctx, props)
    assert created[0]["DefaultActions"][0]["AuthenticateOidcConfig"]["ClientSecret"] == "s3cr3t-value"
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert "s3cr3t" not in repr(obs)  # moto even returns the secret; nothing of it is read

    # another target, same client: the listener keeps the secret it has
    moved = rt.parse_props(spec(tg_b))
    rt.update(ctx, id, moved, obs, {"default_actions"})
    sent = modified[-1]["DefaultActions"][0]["AuthenticateOidcConfig"]
    assert sent["UseExistingClientSecret"] is True and "ClientSecret" not in sent
    assert_same(rt, moved, rt.read(ctx, id), ctx)
    # another client: its secret is read and sent
    other = rt.parse_props(spec(tg_b, client_id="mlflow-2"))
    rt.update(ctx, id, other, rt.read(ctx, id), {"default_actions"})
    assert modified[-1]["DefaultActions"][0]["AuthenticateOidcConfig"]["ClientSecret"] == "s3cr3t-value"

    # a secret without that key fails without showing what the secret holds
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_arn, SecretString="not json s3cr3t")
    with pytest.raises(ValueError, match="holds no JSON key") as err:
        rt.update(ctx, id, rt.parse_props(spec(tg_a, client_id="mlflow-3")), rt.read(ctx, id), {"default_actions"})
    assert "s3cr3t" not in str(err.value) and err.value.__context__ is None
    # a whole-string secret (no key)
    plain = oidc | {"client_id": "mlflow-4", "client_secret_key": None}
    rt.update(
        ctx,
        id,
        rt.parse_props(spec(tg_a) | {"default_actions": [plain, {"type": "forward", "target_group_arn": tg_a}]}),
        rt.read(ctx, id),
        {"default_actions"},
    )
    assert modified[-1]["DefaultActions"][0]["AuthenticateOidcConfig"]["ClientSecret"] == "not json s3cr3t"

    # a rule's OIDC action the same way: the secret on CreateRule, kept on a ModifyRule that moves the forward
    rule_rt: Any = resource_type("elbv2.listener_rule")
    rule_ctx = make_ctx("elbv2.listener_rule.api")
    rule_spec = {
        "listener_arn": id,
        "priority": 5,
        "conditions": [{"field": "path-pattern", "values": ["/api/*"]}],
        "actions": [plain, {"type": "forward", "target_group_arn": tg_a}],
    }
    rule_created, rule_modified = _sent(elb, "CreateRule"), _sent(elb, "ModifyRule")
    rule = rule_rt.create(rule_ctx, rule_rt.parse_props(rule_spec))
    assert rule_created[0]["Actions"][0]["AuthenticateOidcConfig"]["ClientSecret"] == "not json s3cr3t"
    rule_obs = rule_rt.read(rule_ctx, rule)
    assert "s3cr3t" not in repr(rule_obs)
    moved_rule = rule_rt.parse_props(rule_spec | {"actions": [plain, {"type": "forward", "target_group_arn": tg_b}]})
    assert changed_fields(rule_rt, moved_rule, rule_obs, rule_ctx) == {"actions"}
    rule_rt.update(rule_ctx, rule, moved_rule, rule_obs, {"actions"})
    sent = rule_modified[-1]["Actions"][0]["AuthenticateOidcConfig"]
    assert sent["UseExistingClientSecret"] is True and "ClientSecret" not in sent
    assert_same(rule_rt, moved_rule, rule_rt.read(rule_ctx, rule), rule_ctx)
    rule_rt.delete(rule_ctx, rule, rule_obs.attrs, moved_rule)
    rt.delete(ctx, id, obs.attrs, props)


def test_listener_rule(make_ctx: MakeCtx) -> None:
    """The UI's rule: /api/* signed in through Cognito, then to the backend (terraform-aws-metaflow §2.6 and the
    CloudFormation template's ListenerRuleUIService)."""
    listener_rt: Any = resource_type("elbv2.listener")
    rt: Any = resource_type("elbv2.listener_rule")
    _, lb, (tg_static, tg_backend) = _alb(make_ctx)
    listener = listener_rt.create(
        make_ctx("elbv2.listener.ui"),
        listener_rt.parse_props(
            {
                "load_balancer_arn": lb,
                "port": 443,
                "protocol": "HTTPS",
                "certificate_arn": _certificate("ui.example.com"),
                "target_group_arn": tg_static,
            }
        ),
    )
    other_listener = listener_rt.create(
        make_ctx("elbv2.listener.http"),
        listener_rt.parse_props(
            {"load_balancer_arn": lb, "port": 80, "protocol": "HTTP", "target_group_arn": tg_static}
        ),
    )
    ctx = make_ctx("elbv2.listener_rule.ui_backend")
    spec = {
        "listener_arn": listener,
        "priority": 2,
        "conditions": [
            {"field": "path-pattern", "values": ["/api/*", "/api"]},
            {"field": "source-ip", "values": ["10.0.0.0/8"]},
        ],
        "actions": [_cognito(), {"type": "forward", "target_group_arn": tg_backend}],
    }
    props = rt.parse_props(spec)
    assert props.conditions[0].values == ["/api", "/api/*"]  # a set
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["priority"] == 2 and obs.props["listener_arn"] == listener
    assert obs.attrs == {"id": id, "arn": id, "listener_arn": listener}
    assert rt.id_from_arn(id) == id
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props(spec | {"priority": 3})) is None
    assert rt.find(ctx, rt.parse_props(spec | {"listener_arn": other_listener})) is None
    # a rule is identified by its priority: another at the same one is refused as a duplicate
    with pytest.raises(ClientError) as dup:
        rt.create(ctx, props)
    assert rt.duplicate(dup.value)
    moved = diff(rt, rt.parse_props(spec | {"listener_arn": other_listener}).model_dump(mode="json"), obs.props)
    assert [(c.field, c.forces_replacement) for c in moved] == [("listener_arn", True)]

    elb = boto3.client("elbv2")
    # the same conditions in another order, values reordered: no drift
    elb.modify_rule(
        RuleArn=id,
        Conditions=[
            {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}},
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/api"]}},
        ],
    )
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    def drift(change: Callable[[], Any], field: str) -> None:
        change()
        drifted = rt.read(ctx, id)
        assert changed_fields(rt, props, drifted, ctx) == {field}
        rt.update(ctx, id, props, drifted, {field})
        assert_same(rt, props, rt.read(ctx, id), ctx)

    # out of band, one at a time: the path pattern, the forward target, the priority, a tag
    drift(
        lambda: elb.modify_rule(
            RuleArn=id,
            Conditions=[
                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}},
                {"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}},
            ],
        ),
        "conditions",
    )
    drift(
        lambda: elb.modify_rule(
            RuleArn=id,
            Actions=[
                {
                    "Type": "authenticate-cognito",
                    "Order": 1,
                    "AuthenticateCognitoConfig": {
                        "UserPoolArn": POOL_ARN,
                        "UserPoolClientId": "client123",
                        "UserPoolDomain": "mf-ui-abc",
                    },
                },
                {"Type": "forward", "Order": 2, "TargetGroupArn": tg_static},
            ],
        ),
        "actions",
    )
    drift(lambda: elb.set_rule_priorities(RulePriorities=[{"RuleArn": id, "Priority": 7}]), "priority")
    drift(lambda: _untag(id), "tags")
    # a header condition, desired
    headed = rt.parse_props(
        spec | {"conditions": [*spec["conditions"], {"field": "http-header", "name": "X-Team", "values": ["ml"]}]}
    )
    assert changed_fields(rt, headed, rt.read(ctx, id), ctx) == {"conditions"}
    rt.update(ctx, id, headed, rt.read(ctx, id), {"conditions"})
    assert_same(rt, headed, rt.read(ctx, id), ctx)
    host = rt.parse_props(spec | {"conditions": [{"field": "host-header", "values": ["mlflow.example.com"]}]})
    rt.update(ctx, id, host, rt.read(ctx, id), {"conditions"})
    assert_same(rt, host, rt.read(ctx, id), ctx)

    # deleted out of band: read and find say so, and a create makes it again
    elb.delete_rule(RuleArn=id)
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    id = rt.create(ctx, props)
    assert_same(rt, props, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    with pytest.raises(ClientError) as gone:
        elb.describe_rules(RuleArns=[id])
    assert rt.missing(gone.value)
    rt.delete(ctx, id, obs.attrs, props)  # moto's DeleteRule on a gone ARN succeeds; AWS's RuleNotFound is missing()


def test_listener_rule_checks() -> None:
    rt: Any = resource_type("elbv2.listener_rule")
    base = {
        "listener_arn": "l",
        "priority": 1,
        "conditions": [{"field": "path-pattern", "values": ["/*"]}],
        "actions": [{"type": "forward", "target_group_arn": "t"}],
    }
    assert rt.parse_props(base).actions[0].order == 1
    for change, message in [
        ({"priority": None}, "valid integer"),
        ({"priority": 0}, "greater than or equal to 1"),
        ({"conditions": []}, "at least 1"),
        ({"actions": []}, "at least 1"),
        ({"conditions": [{"field": "query-string", "values": ["a"]}]}, "does not match any of the expected tags"),
    ]:
        with pytest.raises(ValidationError, match=message):
            rt.parse_props(base | change)


def test_target_groups_and_listeners_are_read_in_batches(make_ctx: MakeCtx, aws: Any) -> None:
    """read_many describes many ARNs (and their tags) per call; one ARN gone does not hide the others."""
    groups: Any = resource_type("elbv2.target_group")
    vpc, subnets, _ = _network()
    ctx = make_ctx("elbv2.target_group.a")
    ids = [
        groups.create(
            make_ctx(f"elbv2.target_group.t{i}"),
            groups.parse_props({"name": f"mf-tg{i}", "port": 8080 + i, "vpc_id": vpc}),
        )
        for i in range(5)
    ]
    singles = {id: groups.read(ctx, id) for id in ids}
    aws.recorder.reset()
    batched = groups.read_many(ctx, ids)
    # one DescribeTargetGroups, one DescribeTags, and the attributes (a call per group: no batch form)
    assert aws.recorder.calls["elbv2:DescribeTargetGroups"] == 1 and aws.recorder.calls["elbv2:DescribeTags"] == 1
    assert {id: o.props for id, o in batched.items()} == {id: o.props for id, o in singles.items()}

    boto3.client("elbv2").delete_target_group(TargetGroupArn=ids[2])
    rest = groups.read_many(ctx, ids)
    assert set(rest) == set(ids) - {ids[2]}
