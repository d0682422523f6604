"""API Gateway resource types against moto: create reads back as desired, drift is seen and repaired."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from resources.base import resource_type

NLB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/mf-nlb/0123456789abcdef"


def roundtrip(make_ctx: Callable[..., Any], kind: str, address: str, **raw: Any) -> tuple[Any, Any, str]:
    rt = resource_type(kind)
    ctx = make_ctx(address)
    props = rt.parse_props(raw)
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs is not None
    want = {k: v for k, v in props.model_dump(mode="json").items() if k not in rt.behaviour_fields}
    if rt.taggable:
        want["tags"] = ctx.tags
    assert obs.props == want
    assert rt.find(ctx, props) == id
    return rt, ctx, id


def test_the_metadata_api_chain(make_ctx: Callable[..., Any]) -> None:
    _, _, link = roundtrip(
        make_ctx, "apigateway.vpc_link", "apigateway.vpc_link.nlb", name="mf-link", target_arns=[NLB]
    )
    _, _, api = roundtrip(make_ctx, "apigateway.rest_api", "apigateway.rest_api.main", name="mf-api")
    root = resource_type("apigateway.rest_api").read(make_ctx("x"), api).attrs["root_resource_id"]
    _, _, res = roundtrip(
        make_ctx,
        "apigateway.resource",
        "apigateway.resource.proxy",
        rest_api_id=api,
        parent_id=root,
        path_part="{proxy+}",
    )
    res_id = res.split("|")[1]
    method_rt, method_ctx, method = roundtrip(
        make_ctx,
        "apigateway.method",
        "apigateway.method.proxy",
        rest_api_id=api,
        resource_id=res_id,
        api_key_required=True,
        request_parameters={"method.request.path.proxy": True},
        uri="http://mf-nlb.example:8080/{proxy}",
        connection_type="VPC_LINK",
        connection_id=link,
        integration_request_parameters={"integration.request.path.proxy": "method.request.path.proxy"},
    )
    _, _, stage = roundtrip(make_ctx, "apigateway.stage", "apigateway.stage.api", rest_api_id=api, stage_name="api")
    key_rt, key_ctx, key = roundtrip(make_ctx, "apigateway.api_key", "apigateway.api_key.main", name="mf-key")
    plan_rt, plan_ctx, plan = roundtrip(
        make_ctx,
        "apigateway.usage_plan",
        "apigateway.usage_plan.main",
        name="mf-plan",
        rest_api_id=api,
        stage_name="api",
    )
    roundtrip(make_ctx, "apigateway.usage_plan_key", "apigateway.usage_plan_key.main", usage_plan_id=plan, key_id=key)

    # The key's value is fetched on demand, never part of what is read (and so never in state).
    value = key_rt.secret_value(key_ctx, key)
    assert value == boto3.client("apigateway").get_api_key(apiKey=key, includeValue=True)["value"]
    assert value not in repr(key_rt.read(key_ctx, key))

    # Out of band: the key disabled, the plan's throttle raised -> read shows it, update puts it back.
    ag = boto3.client("apigateway")
    ag.update_api_key(apiKey=key, patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}])
    ag.update_usage_plan(
        usagePlanId=plan, patchOperations=[{"op": "replace", "path": "/throttle/burstLimit", "value": "5000"}]
    )
    for rt, ctx, id, field, bad in (
        (key_rt, key_ctx, key, "enabled", False),
        (plan_rt, plan_ctx, plan, "throttle_burst_limit", 5000),
    ):
        obs = rt.read(ctx, id)
        assert obs.props[field] == bad
        rt.update(
            ctx,
            id,
            rt.parse_props(
                {k: v for k, v in obs.props.items() if k != "tags"} | {field: rt.Props.model_fields[field].default}
            ),
            obs,
            {field},
        )
        assert rt.read(ctx, id).props[field] != bad

    # A method changed out of band (key no longer required) is put back whole.
    ag.delete_method(restApiId=api, resourceId=res_id, httpMethod="ANY")
    assert method_rt.read(method_ctx, method) is None

    for kind, id in (
        ("apigateway.usage_plan_key", f"{plan}|{key}"),
        ("apigateway.usage_plan", plan),
        ("apigateway.api_key", key),
        ("apigateway.stage", stage),
        ("apigateway.resource", res),
        ("apigateway.rest_api", api),
        ("apigateway.vpc_link", link),
    ):
        rt = resource_type(kind)
        rt.delete(make_ctx("x"), id, {}, None)
        assert rt.read(make_ctx("x"), id) is None, kind
