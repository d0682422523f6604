"""API Gateway resource types against moto: create reads back as desired, drift is seen and repaired."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from resources.base import TAG_ADDRESS, resource_type
from tests.resources.drift import assert_drift_is_exact_and_repaired, assert_every_managed_field_has_a_case, read_back

NLB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/mf-nlb/0123456789abcdef"


def roundtrip(make_ctx: Callable[..., Any], kind: str, address: str, **raw: Any) -> tuple[Any, Any, str]:
    rt = resource_type(kind)
    ctx = make_ctx(address)
    props = rt.parse_props(raw)
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs is not None
    assert obs.props == read_back(rt, props, ctx)
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
    serves = {
        "methods": [
            {
                "path": "/{proxy+}",
                "api_key_required": True,
                "request_parameters": {"method.request.path.proxy": True},
                "uri": "http://mf-nlb.example:8080/{proxy}",
                "connection_type": "VPC_LINK",
                "integration_request_parameters": {"integration.request.path.proxy": "method.request.path.proxy"},
            }
        ]
    }
    _, _, stage = roundtrip(
        make_ctx, "apigateway.stage", "apigateway.stage.api", rest_api_id=api, stage_name="api", serves=serves
    )
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


# ------------------------------------------------------------------ every field drifted out of band, one at a time

#: an out-of-band change (plain boto3 calls), given the chain the fixture made
ChainChange = Callable[[dict[str, Any]], None]


@pytest.fixture
def as_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's API Gateway shim (``provisioner/sandbox/shims.py``): moto has no UpdateVpcLink, UpdateResource
    or UpdateMethod handler and tags stages only, keeps no deployment snapshot, makes a second resource or method
    where AWS answers ConflictException, and lists nothing of API Gateway in the tagging API. The console's changes
    and mfprov's repairs go through these calls."""
    from provisioner.sandbox import shims as sandbox_shims

    sandbox_shims.apigateway(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))


POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "execute-api:Invoke", "Resource": "*"}],
}
PROXY = {"method.request.path.proxy": True}
INTEGRATION = {"integration.request.path.proxy": "method.request.path.proxy"}
#: the proxy method of the chain: what it serves
METHOD: dict[str, Any] = {
    "api_key_required": True,
    "request_parameters": PROXY,
    "uri": "http://mf-nlb.example:8080/{proxy}",
    "connection_type": "VPC_LINK",
    "integration_request_parameters": INTEGRATION,
}


@pytest.fixture
def chain(make_ctx: Callable[..., Any], as_aws: None) -> dict[str, Any]:
    """The metadata API, every node made by its own type: kind -> (rt, ctx, id, props); plus the raw ids."""
    w: dict[str, Any] = {}

    def node(kind: str, **raw: Any) -> str:
        rt: Any = resource_type(kind)
        ctx = make_ctx(f"{kind}.main")
        props = rt.parse_props(raw)
        id = rt.create(ctx, props)
        w[kind] = (rt, ctx, id, props)
        return id

    w["link"] = node("apigateway.vpc_link", name="mf-link", target_arns=[NLB], description="to the NLB")
    w["api"] = node("apigateway.rest_api", name="mf-api", description="metadata", policy=POLICY)
    api_rt, api_ctx = w["apigateway.rest_api"][:2]
    w["root"] = api_rt.read(api_ctx, w["api"]).attrs["root_resource_id"]
    w["res"] = node("apigateway.resource", rest_api_id=w["api"], parent_id=w["root"], path_part="{proxy+}")
    w["res_id"] = w["res"].split("|")[1]
    w["method"] = node(
        "apigateway.method", rest_api_id=w["api"], resource_id=w["res_id"], connection_id=w["link"], **METHOD
    )
    serves = {"policy": POLICY, "methods": [{"path": "/{proxy+}", **METHOD}]}
    w["stage"] = node("apigateway.stage", rest_api_id=w["api"], stage_name="api", description="live", serves=serves)
    w["key"] = node("apigateway.api_key", name="mf-key", description="the key")
    w["plan"] = node(
        "apigateway.usage_plan",
        name="mf-plan",
        rest_api_id=w["api"],
        stage_name="api",
        throttle_burst_limit=200,
        throttle_rate_limit=75.0,
    )
    node("apigateway.usage_plan_key", usage_plan_id=w["plan"], key_id=w["key"])
    return w


def _ag() -> Any:
    return boto3.client("apigateway")


def _replace(path: str, value: str) -> list[dict[str, str]]:
    return [{"op": "replace", "path": path, "value": value}]


def _untag(path: str) -> None:
    _ag().untag_resource(resourceArn=f"arn:aws:apigateway:us-east-1::{path}", tagKeys=[TAG_ADDRESS])


def _integration(w: dict[str, Any], **over: Any) -> None:
    """The integration put again by hand, as it is but for ``over`` (PutIntegration replaces it whole)."""
    kw = {
        "type": "HTTP_PROXY",
        "integrationHttpMethod": "ANY",
        "uri": "http://mf-nlb.example:8080/{proxy}",
        "connectionType": "VPC_LINK",
        "connectionId": w["link"],
        "requestParameters": INTEGRATION,
    } | over
    _ag().put_integration(
        restApiId=w["api"], resourceId=w["res_id"], httpMethod="ANY", **{k: v for k, v in kw.items() if v is not None}
    )


def _update_method(w: dict[str, Any], ops: list[dict[str, str]]) -> None:
    _ag().update_method(restApiId=w["api"], resourceId=w["res_id"], httpMethod="ANY", patchOperations=ops)


def _deploy_by_hand(w: dict[str, Any]) -> None:
    """A deployment made and put on the stage by hand (the console's "Deploy API"): mfprov cannot tell what it
    snapshots."""
    deployment = _ag().create_deployment(restApiId=w["api"], description="by hand")["id"]
    _ag().update_stage(restApiId=w["api"], stageName="api", patchOperations=_replace("/deploymentId", deployment))


def _move_plan(w: dict[str, Any], api: str, stage: str) -> None:
    if api != w["api"]:
        api = _ag().create_rest_api(name="someone-elses")["id"]
    ops = [
        {"op": "remove", "path": "/apiStages", "value": f"{w['api']}:api"},
        {"op": "add", "path": "/apiStages", "value": f"{api}:{stage}"},
    ]
    _ag().update_usage_plan(usagePlanId=w["plan"], patchOperations=ops)


#: every apigateway type: (kind, field, out-of-band change)
APIGW_CASES = [
    pytest.param(
        "apigateway.vpc_link",
        "name",
        lambda w: _ag().update_vpc_link(vpcLinkId=w["link"], patchOperations=_replace("/name", "renamed")),
        id="vpc_link-name",
    ),
    pytest.param(
        "apigateway.vpc_link",
        "description",
        lambda w: _ag().update_vpc_link(vpcLinkId=w["link"], patchOperations=_replace("/description", "x")),
        id="vpc_link-description",
    ),
    pytest.param("apigateway.vpc_link", "tags", lambda w: _untag(f"/vpclinks/{w['link']}"), id="vpc_link-tags"),
    pytest.param(
        "apigateway.rest_api",
        "name",
        lambda w: _ag().update_rest_api(restApiId=w["api"], patchOperations=_replace("/name", "renamed")),
        id="rest_api-name",
    ),
    pytest.param(
        "apigateway.rest_api",
        "description",
        lambda w: _ag().update_rest_api(restApiId=w["api"], patchOperations=_replace("/description", "x")),
        id="rest_api-description",
    ),
    pytest.param(
        "apigateway.rest_api",
        "policy",
        lambda w: _ag().update_rest_api(
            restApiId=w["api"], patchOperations=_replace("/policy", json.dumps(POLICY).replace("Allow", "Deny"))
        ),
        id="rest_api-policy-rewritten",
    ),
    pytest.param(
        "apigateway.rest_api",
        "policy",
        lambda w: _ag().update_rest_api(restApiId=w["api"], patchOperations=_replace("/policy", "")),
        id="rest_api-policy-removed",
    ),
    pytest.param(
        "apigateway.rest_api",
        "endpoint_type",
        lambda w: _ag().update_rest_api(
            restApiId=w["api"], patchOperations=_replace("/endpointConfiguration/types/REGIONAL", "EDGE")
        ),
        id="rest_api-endpoint_type",
    ),
    pytest.param("apigateway.rest_api", "tags", lambda w: _untag(f"/restapis/{w['api']}"), id="rest_api-tags"),
    pytest.param(
        "apigateway.resource",
        "parent_id",
        lambda w: _ag().update_resource(
            restApiId=w["api"],
            resourceId=w["res_id"],
            patchOperations=_replace(
                "/parentId", _ag().create_resource(restApiId=w["api"], parentId=w["root"], pathPart="v2")["id"]
            ),
        ),
        id="resource-parent_id",
    ),
    pytest.param(
        "apigateway.resource",
        "path_part",
        lambda w: _ag().update_resource(
            restApiId=w["api"], resourceId=w["res_id"], patchOperations=_replace("/pathPart", "other")
        ),
        id="resource-path_part",
    ),
    pytest.param(
        "apigateway.method",
        "api_key_required",
        lambda w: _update_method(w, _replace("/apiKeyRequired", "false")),
        id="method-api_key_required",
    ),
    pytest.param(
        "apigateway.method",
        "request_parameters",
        lambda w: _update_method(w, [{"op": "remove", "path": "/requestParameters/method.request.path.proxy"}]),
        id="method-request_parameters-removed",
    ),
    pytest.param(
        "apigateway.method",
        "request_parameters",
        lambda w: _update_method(
            w, [{"op": "add", "path": "/requestParameters/method.request.header.x-extra", "value": "false"}]
        ),
        id="method-request_parameters-added",
    ),
    pytest.param(
        "apigateway.method", "integration_type", lambda w: _integration(w, type="HTTP"), id="method-integration_type"
    ),
    pytest.param(
        "apigateway.method",
        "integration_http_method",
        lambda w: _integration(w, integrationHttpMethod="GET"),
        id="method-integration_http_method",
    ),
    pytest.param(
        "apigateway.method", "uri", lambda w: _integration(w, uri="http://elsewhere:8080/{proxy}"), id="method-uri"
    ),
    pytest.param(
        "apigateway.method",
        "connection_type",
        lambda w: _integration(w, connectionType="INTERNET", connectionId=None),
        id="method-connection_type",
    ),
    pytest.param(
        "apigateway.method",
        "integration_request_parameters",
        lambda w: _integration(w, requestParameters={}),
        id="method-integration_request_parameters",
    ),
    pytest.param(
        "apigateway.stage",
        "description",
        lambda w: _ag().update_stage(
            restApiId=w["api"], stageName="api", patchOperations=_replace("/description", "x")
        ),
        id="stage-description",
    ),
    pytest.param("apigateway.stage", "tags", lambda w: _untag(f"/restapis/{w['api']}/stages/api"), id="stage-tags"),
    pytest.param("apigateway.stage", "serves", lambda w: _deploy_by_hand(w), id="stage-serves-a-deployment-by-hand"),
    pytest.param(
        "apigateway.api_key",
        "name",
        lambda w: _ag().update_api_key(apiKey=w["key"], patchOperations=_replace("/name", "renamed")),
        id="api_key-name",
    ),
    pytest.param(
        "apigateway.api_key",
        "enabled",
        lambda w: _ag().update_api_key(apiKey=w["key"], patchOperations=_replace("/enabled", "false")),
        id="api_key-enabled",
    ),
    pytest.param(
        "apigateway.api_key",
        "description",
        lambda w: _ag().update_api_key(apiKey=w["key"], patchOperations=_replace("/description", "x")),
        id="api_key-description",
    ),
    pytest.param("apigateway.api_key", "tags", lambda w: _untag(f"/apikeys/{w['key']}"), id="api_key-tags"),
    pytest.param(
        "apigateway.usage_plan",
        "name",
        lambda w: _ag().update_usage_plan(usagePlanId=w["plan"], patchOperations=_replace("/name", "renamed")),
        id="usage_plan-name",
    ),
    pytest.param(
        "apigateway.usage_plan", "rest_api_id", lambda w: _move_plan(w, "other", "api"), id="usage_plan-rest_api_id"
    ),
    pytest.param(
        "apigateway.usage_plan", "stage_name", lambda w: _move_plan(w, w["api"], "other"), id="usage_plan-stage_name"
    ),
    pytest.param(
        "apigateway.usage_plan",
        "throttle_burst_limit",
        lambda w: _ag().update_usage_plan(usagePlanId=w["plan"], patchOperations=_replace("/throttle/burstLimit", "5")),
        id="usage_plan-throttle_burst_limit",
    ),
    pytest.param(
        "apigateway.usage_plan",
        "throttle_rate_limit",
        lambda w: _ag().update_usage_plan(usagePlanId=w["plan"], patchOperations=_replace("/throttle/rateLimit", "20")),
        id="usage_plan-throttle_rate_limit",
    ),
    pytest.param("apigateway.usage_plan", "tags", lambda w: _untag(f"/usageplans/{w['plan']}"), id="usage_plan-tags"),
]
#: fields API Gateway offers no call to change (a change is a new thing: these are all replace_on)
APIGW_NO_CALL = {
    "apigateway.vpc_link": {"target_arns": "UpdateVpcLink changes the name and description only"},
    "apigateway.rest_api": {},
    "apigateway.resource": {"rest_api_id": "a resource belongs to its API"},
    "apigateway.method": {
        "rest_api_id": "a method belongs to its API",
        "resource_id": "a method belongs to its resource",
        "http_method": "no call changes a method's verb",
    },
    "apigateway.stage": {"rest_api_id": "a stage belongs to its API", "stage_name": "no rename of a stage"},
    "apigateway.api_key": {},
    "apigateway.usage_plan": {},
    "apigateway.usage_plan_key": {
        "usage_plan_id": "a plan key is only created or deleted",
        "key_id": "a plan key is only created or deleted",
    },
}


@pytest.mark.parametrize(("kind", "field", "change"), APIGW_CASES)
def test_field_drift(chain: dict[str, Any], kind: str, field: str, change: ChainChange) -> None:
    rt, ctx, id, props = chain[kind]
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(chain))


@pytest.mark.parametrize("kind", sorted(APIGW_NO_CALL))
def test_every_managed_field_has_a_drift_case(kind: str) -> None:
    cases = [case for case in APIGW_CASES if case.values[0] == kind]
    assert_every_managed_field_has_a_case(kind, cases, APIGW_NO_CALL[kind], field_at=1)


def test_every_apigateway_kind_is_in_the_table() -> None:
    from resources.base import REGISTRY

    assert {k for k in REGISTRY if k.startswith("apigateway.")} == set(APIGW_NO_CALL)


def test_resources_and_methods_are_read_with_one_call_per_api(make_ctx: Any, aws: Any) -> None:
    """read_many of resources and of methods: GetResources with the methods embedded, once per API, sees
    what GetResource / GetMethod see; a resource deleted is simply absent."""
    api = boto3.client("apigateway")
    api_id = api.create_rest_api(name="batched")["id"]
    root = api.get_resources(restApiId=api_id)["items"][0]["id"]
    resources: Any = resource_type("apigateway.resource")
    methods: Any = resource_type("apigateway.method")
    res_ids, method_ids = [], []
    for i in range(3):
        rid = resources.create(
            make_ctx(f"apigateway.resource.r{i}"),
            resources.parse_props({"rest_api_id": api_id, "parent_id": root, "path_part": f"p{i}"}),
        )
        res_ids.append(rid)
        mid = methods.create(
            make_ctx(f"apigateway.method.m{i}"),
            methods.parse_props(
                {
                    "rest_api_id": api_id,
                    "resource_id": rid.split("|")[1],
                    "uri": f"http://x/{i}",
                    "api_key_required": i == 1,
                }
            ),
        )
        method_ids.append(mid)
    ctx = make_ctx("apigateway.method.m0")
    aws.recorder.reset()
    batched_methods = methods.read_many(ctx, method_ids)
    batched_resources = resources.read_many(ctx, res_ids)
    assert aws.recorder.calls == {"apigateway:GetResources": 2}
    for mid in method_ids:
        assert batched_methods[mid].props == methods.read(ctx, mid).props
    for rid in res_ids:
        assert batched_resources[rid].props == resources.read(ctx, rid).props
        assert batched_resources[rid].attrs == resources.read(ctx, rid).attrs
    api.delete_resource(restApiId=api_id, resourceId=res_ids[2].split("|")[1])
    assert set(resources.read_many(ctx, res_ids)) == set(res_ids[:2])
    assert set(methods.read_many(ctx, method_ids)) == set(method_ids[:2])


# ------------------------------------------------------------------ what a create retried after a lost answer meets


def test_a_create_made_twice_meets_the_first_and_adopts_it(chain: dict[str, Any]) -> None:
    """botocore retries a create whose answer was lost: a resource or stage that exists already is refused with
    ConflictException (not retried as a concurrent modification), which the engine takes as "adopt it", the one
    found being the one made; a method that exists already is this node's (its id is where it is): its create goes
    on to put the integration."""
    for kind in ("apigateway.resource", "apigateway.stage"):
        rt, ctx, id, props = chain[kind]
        with pytest.raises(ClientError) as exc:
            rt.create(ctx, props)
        assert exc.value.response["Error"]["Code"] == "ConflictException"
        assert rt.duplicate(exc.value), kind
        assert rt.find(ctx, props) == id
    rt, ctx, id, props = chain["apigateway.method"]
    ag = boto3.client("apigateway")
    ag.delete_integration(restApiId=chain["api"], resourceId=chain["res_id"], httpMethod="ANY")
    assert rt.create(ctx, props) == id
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)


def test_names_are_not_unique_and_twins_are_listed_by_the_tagging_api(chain: dict[str, Any]) -> None:
    """A second REST API, key or plan of the same name is made without complaint (a lost answer's retry makes a
    twin); the tagging API lists each of them with its tags, and each type takes its id back from the ARN."""
    rt, ctx, api, props = chain["apigateway.rest_api"]
    twin = rt.create(ctx, props)
    assert twin != api and rt.read(ctx, twin).props == rt.read(ctx, api).props
    listed = {}
    for page in boto3.client("resourcegroupstaggingapi").get_paginator("get_resources").paginate():
        for item in page["ResourceTagMappingList"]:
            tags = {t["Key"]: t["Value"] for t in item["Tags"]}
            kind = tags[TAG_ADDRESS].rsplit(".", 1)[0]
            listed.setdefault(kind, set()).add(resource_type(kind).id_from_arn(item["ResourceARN"]))
    assert listed["apigateway.rest_api"] == {api, twin}
    for kind in ("apigateway.stage", "apigateway.api_key", "apigateway.usage_plan", "apigateway.vpc_link"):
        assert listed[kind] == {chain[kind][2]}, kind


def test_a_stage_serves_what_its_deployment_snapshot(chain: dict[str, Any]) -> None:
    """A change of the API is not served until a new deployment: the stage reads as serving an older configuration,
    and its update deploys the API as it is now and points the stage at it (old deployments removed)."""
    from provisioner.sandbox import shims as sandbox_shims

    rt, ctx, stage, props = chain["apigateway.stage"]
    api = chain["api"]
    assert sandbox_shims.stage_serves(api, "api")["policy"] == POLICY
    opened = json.loads(json.dumps(POLICY).replace('"*"}', '"arn:aws:execute-api:us-east-1:123456789012:*"}'))
    _ag().update_rest_api(restApiId=api, patchOperations=_replace("/policy", json.dumps(opened)))
    stale = rt.read(ctx, stage)
    assert stale.props["serves"].endswith("made before the API's last change")
    assert sandbox_shims.stage_serves(api, "api")["policy"] == POLICY  # AWS keeps serving the snapshot

    # the config now wants the opened policy: what the stage must serve is that
    want = rt.parse_props(
        {**props.model_dump(), "serves": {"policy": opened, "methods": [{"path": "/{proxy+}", **METHOD}]}}
    )
    assert want.serves != props.serves
    rt.update(ctx, stage, want, stale, {"serves"})
    assert sandbox_shims.stage_serves(api, "api")["policy"] == opened
    assert rt.read(ctx, stage).props["serves"] == want.serves
    assert [d["id"] for d in _ag().get_deployments(restApiId=api)["items"]] == [
        _ag().get_stage(restApiId=api, stageName="api")["deploymentId"]
    ]
