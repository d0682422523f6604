"""API Gateway (REST): VPC link, REST API, resource, method with its integration, stage, API key,
usage plan and the plan's key.

Calls: Create/Get/Delete VpcLink, RestApi, Resource, ApiKey, UsagePlan, UsagePlanKey, Stage, Deployment;
GetVpcLinks, GetRestApis, GetResources, GetApiKeys, GetUsagePlans, GetStages, GetDeployments, UpdateRestApi,
UpdateApiKey, UpdateUsagePlan, UpdateStage, PutMethod, GetMethod, DeleteMethod, PutIntegration, GetTags, TagResource.

A stage serves a deployment: a snapshot of the API's methods, integrations and resource policy taken when it was
made, not the live API (https://docs.aws.amazon.com/apigateway/latest/developerguide/updating-api.html). So the
stage is where mfprov sees and repairs what is served: each deployment it makes records, in its description, the
fingerprint of the configuration it snapshots; a stage whose deployment's fingerprint is not the live API's serves
an older configuration (drift), and its desired state is the fingerprint of the configuration the blueprint wants,
so a change of the API in the config plans a new deployment too. Names are not unique in API Gateway (two REST
APIs, keys or plans may share one): what is found by name must also carry this node's tags.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import field_validator

from provisioner.core.policy import normalize_policy
from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, error_code, is_not_found, register
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

NOT_FOUND: frozenset[str] = frozenset({"NotFoundException"})
#: API Gateway allows a few mutations per second per account (429 beyond), and refuses a change to an API while
#: another is under way with ConflictException "Unable to complete operation due to concurrent modification". Any
#: other ConflictException says the thing exists already (a create retried after its answer was lost): not retried.
BUSY = ("TooManyRequestsException", "ConflictException:concurrent modification")
#: what a create whose thing already exists answers (then the engine looks it up and adopts it)
EXISTS: frozenset[str] = frozenset({"ConflictException"})


def _arn(ctx: NodeContext, path: str) -> str:
    return f"arn:{ctx.facts.partition}:apigateway:{ctx.facts.region}::{path}"


def _visible(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (tags or {}).items() if not k.startswith("aws:")}


class _Api(Resource[Any]):
    service = "apigateway"
    not_found_codes: ClassVar = NOT_FOUND

    def _get(self, fn: Any, **kw: Any) -> dict[str, Any] | None:
        try:
            return dict(fn(**kw))
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def _retag(self, ctx: NodeContext, path: str) -> None:
        ctx.client("apigateway").tag_resource(resourceArn=_arn(ctx, path), tags=dict(ctx.tags))


# ------------------------------------------------------------- VPC link


class VpcLinkProps(Props):
    name: str
    target_arns: list[str]
    description: str = ""


@register
class VpcLink(_Api):
    kind = "apigateway.vpc_link"
    Props = VpcLinkProps
    replace_on: ClassVar = frozenset({"target_arns"})
    timeout = 1200.0  # a REST VPC link takes several minutes on AWS

    def find(self, ctx: NodeContext, props: VpcLinkProps) -> str | None:
        for page in ctx.client("apigateway").get_paginator("get_vpc_links").paginate():
            for link in page.get("items", []):
                live = link.get("status") != "DELETING"
                if link["name"] == props.name and live and ctx.owns(_visible(link.get("tags"))):
                    return str(link["id"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        link = self._get(ctx.client("apigateway").get_vpc_link, vpcLinkId=id)
        if link is None or link.get("status") == "DELETING":
            return None
        props = {
            "name": link["name"],
            "target_arns": sorted(link.get("targetArns", [])),
            "description": link.get("description", ""),
            "tags": _visible(link.get("tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": link["name"]})

    def _status(self, ctx: NodeContext, id: str) -> bool | str:
        link = self._get(ctx.client("apigateway").get_vpc_link, vpcLinkId=id) or {}
        if link.get("status") == "FAILED":
            raise WaitFailed(f"VPC link {id} FAILED: {link.get('statusMessage', '')}")
        return True if link.get("status") == "AVAILABLE" else str(link.get("status"))

    def create(self, ctx: NodeContext, props: VpcLinkProps) -> str:
        id = ctx.client("apigateway").create_vpc_link(
            name=props.name, targetArns=props.target_arns, description=props.description, tags=dict(ctx.tags)
        )["id"]
        ctx.created(id)
        ctx.wait("VPC link AVAILABLE", lambda: self._status(ctx, id))
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: VpcLinkProps, observed: Observed, changes: set[str]) -> None:
        ops = [{"op": "replace", "path": f"/{f}", "value": getattr(props, f)} for f in ("name", "description")
               if f in changes]  # fmt: skip
        if ops:
            ctx.client("apigateway").update_vpc_link(vpcLinkId=id, patchOperations=ops)
        if "tags" in changes:
            self._retag(ctx, f"/vpclinks/{id}")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: VpcLinkProps | None) -> None:
        api = ctx.client("apigateway")
        ctx.call(api.delete_vpc_link, retry_on=BUSY, vpcLinkId=id)
        ctx.wait("VPC link deleted", lambda: self._get(api.get_vpc_link, vpcLinkId=id) is None)


# ------------------------------------------------------------- REST API


def _rest_api(ctx: NodeContext, id: str) -> dict[str, Any] | None:
    """GetRestApi, or None when it is gone; within one refresh made once (the API and its stage both ask)."""

    def get() -> dict[str, Any] | None:
        try:
            return dict(ctx.client("apigateway").get_rest_api(restApiId=id))
        except ClientError as err:
            if is_not_found(err, NOT_FOUND):
                return None
            raise

    return ctx.memo(("apigateway.rest_api", id), get)


def _policy(api: Mapping[str, Any]) -> dict[str, Any] | None:
    """The API's resource policy as a document (None for none)."""
    policy = api.get("policy")
    if isinstance(policy, str) and policy:
        # API Gateway returns the policy JSON with its quotes escaped
        return dict(json.loads(policy.replace('\\"', '"'))) or None
    return None


class RestApiProps(Props):
    name: str
    description: str = ""
    endpoint_type: str = "REGIONAL"
    #: resource policy (e.g. a source-IP allow-list); None for none
    policy: dict[str, Any] | None = None


@register
class RestApi(_Api):
    kind = "apigateway.rest_api"
    Props = RestApiProps
    replace_on: ClassVar = frozenset({"endpoint_type"})
    policy_fields: ClassVar = frozenset({"policy"})

    def find(self, ctx: NodeContext, props: RestApiProps) -> str | None:
        for page in ctx.client("apigateway").get_paginator("get_rest_apis").paginate():
            for api in page.get("items", []):
                if api["name"] == props.name and ctx.owns(_visible(api.get("tags"))):
                    return str(api["id"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        api = _rest_api(ctx, id)
        if api is None:
            return None
        props = {
            "name": api["name"],
            "description": api.get("description", ""),
            "endpoint_type": (api.get("endpointConfiguration", {}).get("types") or ["EDGE"])[0],
            "policy": _policy(api),
            "tags": _visible(api.get("tags")),
        }
        attrs = {
            "id": id,
            "name": api["name"],
            "root_resource_id": api.get("rootResourceId"),
            "execution_arn": f"arn:{ctx.facts.partition}:execute-api:{ctx.facts.region}:{ctx.facts.account_id}:{id}",
            "url_host": f"{id}.execute-api.{ctx.facts.region}.{ctx.facts.dns_suffix}",
        }
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: RestApiProps) -> str:
        kw: dict[str, Any] = {}
        if props.policy:
            kw["policy"] = json.dumps(props.policy)
        id = ctx.client("apigateway").create_rest_api(
            name=props.name,
            description=props.description,
            endpointConfiguration={"types": [props.endpoint_type]},
            tags=dict(ctx.tags),
            **kw,
        )["id"]
        ctx.created(id)
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: RestApiProps, observed: Observed, changes: set[str]) -> None:
        ops: list[dict[str, str]] = []
        for f in ("name", "description"):
            if f in changes:
                ops.append({"op": "replace", "path": f"/{f}", "value": getattr(props, f)})
        if "policy" in changes:
            ops.append({"op": "replace", "path": "/policy", "value": json.dumps(props.policy) if props.policy else ""})
        if ops:
            ctx.call(ctx.client("apigateway").update_rest_api, retry_on=BUSY, restApiId=id, patchOperations=ops)
        if "tags" in changes:
            self._retag(ctx, f"/restapis/{id}")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RestApiProps | None) -> None:
        ctx.call(ctx.client("apigateway").delete_rest_api, retry_on=BUSY, restApiId=id)

    def monthly_cost(self, props: RestApiProps, where: Where) -> list[CostLine]:
        return [usage_based("API requests")]


# ------------------------------------------------------------- resource


def _api_resources(ctx: NodeContext, api_ids: set[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per API, its resources by id, each with its methods and their integrations (``embed=methods``): one
    paginated GetResources per API for every resource and method of it. An API gone has none."""
    pages = ctx.client("apigateway").get_paginator("get_resources")

    def listing(api_id: str) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        try:
            for page in pages.paginate(restApiId=api_id, embed=["methods"], PaginationConfig={"PageSize": 500}):
                items.update({r["id"]: r for r in page.get("items", [])})
        except ClientError as err:
            if not is_not_found(err):
                raise
        return items

    # resources and methods are read from the same listing: within one refresh it is made once
    return {a: ctx.memo(("apigateway.resources", a), lambda a=a: listing(a)) for a in sorted(api_ids)}  # type: ignore[misc]


class ApiResourceProps(Props):
    rest_api_id: str
    parent_id: str
    path_part: str


@register
class ApiResource(_Api):
    """A path segment of a REST API; id ``<api id>|<resource id>``."""

    kind = "apigateway.resource"
    Props = ApiResourceProps
    replace_on: ClassVar = frozenset({"rest_api_id", "parent_id", "path_part"})
    taggable = False
    #: "Another resource with the same parent already has this name"
    duplicate_codes: ClassVar = EXISTS

    def find(self, ctx: NodeContext, props: ApiResourceProps) -> str | None:
        items = self._get(ctx.client("apigateway").get_resources, restApiId=props.rest_api_id, limit=500) or {}
        for r in items.get("items", []):
            if r.get("parentId") == props.parent_id and r.get("pathPart") == props.path_part:
                return f"{props.rest_api_id}|{r['id']}"
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        api_id, res_id = id.split("|", 1)
        r = self._get(ctx.client("apigateway").get_resource, restApiId=api_id, resourceId=res_id)
        return None if r is None else self._observe(id, r)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """One GetResources per API, for every resource of it."""
        apis = _api_resources(ctx, {id.split("|", 1)[0] for id in ids})
        out: dict[str, Observed] = {}
        for id in ids:
            api_id, res_id = id.split("|", 1)
            r = apis.get(api_id, {}).get(res_id)
            if r is not None:
                out[id] = self._observe(id, r)
        return out

    @staticmethod
    def _observe(id: str, r: Mapping[str, Any]) -> Observed:
        api_id, res_id = id.split("|", 1)
        props = {"rest_api_id": api_id, "parent_id": r.get("parentId"), "path_part": r.get("pathPart")}
        return Observed(id=id, props=props, attrs={"id": id, "resource_id": res_id, "path": r.get("path")})

    def create(self, ctx: NodeContext, props: ApiResourceProps) -> str:
        r = ctx.call(
            ctx.client("apigateway").create_resource,
            retry_on=BUSY,
            restApiId=props.rest_api_id,
            parentId=props.parent_id,
            pathPart=props.path_part,
        )
        id = f"{props.rest_api_id}|{r['id']}"
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: Any, observed: Observed, changes: set[str]) -> None:
        raise AssertionError("every field of a resource forces replacement")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: Any) -> None:
        api_id, res_id = id.split("|", 1)
        ctx.call(ctx.client("apigateway").delete_resource, retry_on=BUSY, restApiId=api_id, resourceId=res_id)


# --------------------------------------------------- method + integration


class MethodConfig(Props):
    """What a method serves: the method and its integration, as a deployment snapshots them."""

    http_method: str = "ANY"
    api_key_required: bool = False
    request_parameters: dict[str, bool] = {}
    integration_type: str = "HTTP_PROXY"
    integration_http_method: str = "ANY"
    uri: str
    connection_type: str = "INTERNET"
    integration_request_parameters: dict[str, str] = {}


class MethodProps(MethodConfig):
    rest_api_id: str
    resource_id: str
    #: the VPC link id. Not compared: moto drops it from GetIntegration, and the uri (which names the NLB)
    #: changes whenever the link's target does.
    connection_id: str | None = None


@register
class Method(_Api):
    """A method and its integration, managed as one; id ``<api id>|<resource id>|<HTTP method>``.

    A change puts both again (delete + put), which API Gateway accepts everywhere; a stage serves the
    change after its next deployment.
    """

    kind = "apigateway.method"
    Props = MethodProps
    replace_on: ClassVar = frozenset({"rest_api_id", "resource_id", "http_method"})
    behaviour_fields: ClassVar = frozenset({"connection_id"})
    taggable = False
    #: "Method already exists for this resource"
    duplicate_codes: ClassVar = EXISTS

    def find(self, ctx: NodeContext, props: MethodProps) -> str | None:
        id = f"{props.rest_api_id}|{props.resource_id}|{props.http_method}"
        return id if self.read(ctx, id) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        api_id, res_id, verb = id.split("|", 2)
        m = self._get(ctx.client("apigateway").get_method, restApiId=api_id, resourceId=res_id, httpMethod=verb)
        return None if m is None else self._observe(id, m)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """One GetResources (methods and integrations embedded) per API, for every method of it."""
        apis = _api_resources(ctx, {id.split("|", 1)[0] for id in ids})
        out: dict[str, Observed] = {}
        for id in ids:
            api_id, res_id, verb = id.split("|", 2)
            m = (apis.get(api_id, {}).get(res_id, {}).get("resourceMethods") or {}).get(verb)
            if m is not None:
                out[id] = self._observe(id, m)
        return out

    @staticmethod
    def _observe(id: str, m: Mapping[str, Any]) -> Observed:
        api_id, res_id, verb = id.split("|", 2)
        integ = m.get("methodIntegration") or {}
        props = {
            "rest_api_id": api_id,
            "resource_id": res_id,
            "http_method": verb,
            "api_key_required": bool(m.get("apiKeyRequired", False)),
            "request_parameters": dict(m.get("requestParameters") or {}),
            "integration_type": integ.get("type"),
            "integration_http_method": integ.get("httpMethod"),
            "uri": integ.get("uri"),
            "connection_type": integ.get("connectionType", "INTERNET"),
            "integration_request_parameters": dict(integ.get("requestParameters") or {}),
        }
        return Observed(id=id, props=props, attrs={"id": id})

    def create(self, ctx: NodeContext, props: MethodProps) -> str:
        api = ctx.client("apigateway")
        try:
            ctx.call(
                api.put_method,
                retry_on=BUSY,
                restApiId=props.rest_api_id,
                resourceId=props.resource_id,
                httpMethod=props.http_method,
                authorizationType="NONE",
                apiKeyRequired=props.api_key_required,
                requestParameters=props.request_parameters,
            )
        except ClientError as err:
            # "Method already exists for this resource": a retry whose first try went through (also within an
            # update's delete + put). The method is this node's (its id is where it is); the integration is put
            # next, and a setting the existing method lacks is put right after the create by the engine.
            if not self.duplicate(err):
                raise
        id = f"{props.rest_api_id}|{props.resource_id}|{props.http_method}"
        ctx.created(id)
        integ: dict[str, Any] = {
            "type": props.integration_type,
            "integrationHttpMethod": props.integration_http_method,
            "uri": props.uri,
            "connectionType": props.connection_type,
            "requestParameters": props.integration_request_parameters,
        }
        if props.connection_id:
            integ["connectionId"] = props.connection_id
        ctx.call(
            api.put_integration,
            retry_on=BUSY,
            restApiId=props.rest_api_id,
            resourceId=props.resource_id,
            httpMethod=props.http_method,
            **integ,
        )
        return id

    def update(self, ctx: NodeContext, id: str, props: MethodProps, observed: Observed, changes: set[str]) -> None:
        try:
            self.delete(ctx, id, {}, props)
        except ClientError as err:
            if not self.missing(err):  # gone already: a retried delete whose first try went through
                raise
        self.create(ctx, props)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: Any) -> None:
        api_id, res_id, verb = id.split("|", 2)
        ctx.call(
            ctx.client("apigateway").delete_method, retry_on=BUSY, restApiId=api_id, resourceId=res_id, httpMethod=verb
        )


# ---------------------------------------------------------------- stage

#: how a deployment mfprov makes describes itself: this, then the fingerprint of the configuration it snapshots
DEPLOYMENT_OF = "mfprov deployment of "


class DeployedMethod(MethodConfig):
    """A method as a stage serves it: where it is (its resource's path, ``/{proxy+}``) and what it does."""

    path: str


class ApiConfig(Props):
    """What a deployment of a REST API snapshots and mfprov manages: the resource policy and the methods (with
    their integrations) by path."""

    policy: dict[str, Any] | None = None
    methods: list[DeployedMethod] = []


def fingerprint(config: ApiConfig) -> str:
    """``API configuration <hash>``: equal for configurations that mean the same (policies in normal form, methods
    in any order), different when anything a deployment snapshots differs."""
    methods = sorted((m.model_dump(mode="json") for m in config.methods), key=lambda m: (m["path"], m["http_method"]))
    doc = {"policy": normalize_policy(config.policy), "methods": methods}
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"API configuration {digest[:20]}"


def live_config(ctx: NodeContext, api_id: str) -> ApiConfig | None:
    """The configuration the API has now (what a deployment made now would snapshot); None when the API is gone."""
    api = _rest_api(ctx, api_id)
    if api is None:
        return None
    methods = []
    for res_id, r in _api_resources(ctx, {api_id})[api_id].items():
        for verb, m in (r.get("resourceMethods") or {}).items():
            seen = Method._observe(f"{api_id}|{res_id}|{verb}", m).props
            methods.append({**{k: seen.get(k) for k in MethodConfig.model_fields}, "path": r.get("path")})
    return ApiConfig.model_validate({"policy": _policy(api), "methods": methods})


class StageProps(Props):
    rest_api_id: str
    stage_name: str
    description: str = ""
    #: the configuration of the API the stage must serve (an :class:`ApiConfig`), held as its fingerprint
    serves: str

    @field_validator("serves", mode="before")
    @classmethod
    def _fingerprint(cls, v: Any) -> Any:
        if isinstance(v, ApiConfig):
            return fingerprint(v)
        return fingerprint(ApiConfig.model_validate(v)) if isinstance(v, Mapping) else v


@register
class Stage(_Api):
    """A stage and the deployment it serves; id ``<api id>|<stage name>``.

    ``serves`` reads as the fingerprint of the configuration its deployment snapshots, when that is the API's
    current configuration; otherwise as which deployment it serves and why that is not current. A change makes a
    new deployment of the live API (its dependencies, the API's policy and methods, are applied before it) and
    points the stage at it; deployments mfprov made that no stage serves any more are deleted.
    """

    kind = "apigateway.stage"
    Props = StageProps
    replace_on: ClassVar = frozenset({"rest_api_id", "stage_name"})
    #: what it serves names the methods' integrations (the VPC link, the load balancer's address): a new one of
    #: those makes a new deployment, not a new stage (which would drop the usage plan's hold on it)
    soft_ref_fields: ClassVar = frozenset({"serves"})
    #: "Stage already exists": the stage a create whose answer was lost made
    duplicate_codes: ClassVar = EXISTS

    def find(self, ctx: NodeContext, props: StageProps) -> str | None:
        id = f"{props.rest_api_id}|{props.stage_name}"
        return id if self.read(ctx, id) else None

    def id_from_arn(self, arn: str) -> str:
        # arn:aws:apigateway:<region>::/restapis/<api id>/stages/<stage name>
        parts = arn.split("::", 1)[-1].strip("/").split("/")
        return f"{parts[1]}|{parts[3]}" if len(parts) == 4 and parts[2] == "stages" else ""

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        api_id, name = id.split("|", 1)
        st = self._get(ctx.client("apigateway").get_stage, restApiId=api_id, stageName=name)
        if st is None:
            return None
        deployment = st.get("deploymentId")
        props = {
            "rest_api_id": api_id,
            "stage_name": name,
            "description": st.get("description", ""),
            "serves": self._serves(ctx, api_id, deployment),
            "tags": _visible(st.get("tags")),
        }
        attrs = {"id": id, "stage_name": name, "deployment_id": deployment}
        return Observed(id=id, props=props, attrs=attrs)

    def _serves(self, ctx: NodeContext, api_id: str, deployment: str | None) -> str:
        if not deployment:
            return "no deployment"
        made = self._get(ctx.client("apigateway").get_deployment, restApiId=api_id, deploymentId=deployment) or {}
        recorded = str(made.get("description") or "")
        if not recorded.startswith(DEPLOYMENT_OF):
            return f"deployment {deployment}, not made by mfprov"
        live = live_config(ctx, api_id)
        if live is None or fingerprint(live) != recorded.removeprefix(DEPLOYMENT_OF):
            return f"deployment {deployment}, made before the API's last change"
        return recorded.removeprefix(DEPLOYMENT_OF)

    def _deploy(self, ctx: NodeContext, api_id: str) -> str:
        """A new deployment of the API as it is now, described by the fingerprint of what it snapshots."""
        live = live_config(ctx, api_id)
        description = DEPLOYMENT_OF + fingerprint(live if live is not None else ApiConfig())
        made = ctx.call(
            ctx.client("apigateway").create_deployment, retry_on=BUSY, restApiId=api_id, description=description
        )
        return str(made["id"])

    def _prune(self, ctx: NodeContext, api_id: str, keep: str = "") -> None:
        """Delete the deployments mfprov made that no stage serves but ``keep``: those a redeploy replaced, and the
        spare one a CreateDeployment whose answer was lost leaves (botocore's retry made a second)."""
        api = ctx.client("apigateway")
        served = {st.get("deploymentId") for st in api.get_stages(restApiId=api_id).get("item", [])}
        for page in api.get_paginator("get_deployments").paginate(restApiId=api_id):
            for d in page.get("items", []):
                if d["id"] in served | {keep} or not str(d.get("description") or "").startswith(DEPLOYMENT_OF):
                    continue
                try:
                    ctx.call(api.delete_deployment, retry_on=BUSY, restApiId=api_id, deploymentId=d["id"])
                except ClientError as err:
                    # gone already, or a stage took it up meanwhile (AWS refuses to delete a served deployment)
                    if not (self.missing(err) or error_code(err) == "BadRequestException"):
                        raise

    def create(self, ctx: NodeContext, props: StageProps) -> str:
        api = ctx.client("apigateway")
        deployment = self._deploy(ctx, props.rest_api_id)
        # before CreateStage, whose answer may be lost too (then the engine adopts the stage it made)
        self._prune(ctx, props.rest_api_id, keep=deployment)
        ctx.call(
            api.create_stage,
            retry_on=BUSY,
            restApiId=props.rest_api_id,
            stageName=props.stage_name,
            deploymentId=deployment,
            description=props.description,
            tags=dict(ctx.tags),
        )
        id = f"{props.rest_api_id}|{props.stage_name}"
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: StageProps, observed: Observed, changes: set[str]) -> None:
        api_id, name = id.split("|", 1)
        api = ctx.client("apigateway")
        ops: list[dict[str, str]] = []
        if "description" in changes:
            ops.append({"op": "replace", "path": "/description", "value": props.description})
        if "serves" in changes:
            ops.append({"op": "replace", "path": "/deploymentId", "value": self._deploy(ctx, api_id)})
        if ops:
            ctx.call(api.update_stage, retry_on=BUSY, restApiId=api_id, stageName=name, patchOperations=ops)
        if "serves" in changes:
            self._prune(ctx, api_id)
        if "tags" in changes:
            self._retag(ctx, f"/restapis/{api_id}/stages/{name}")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: Any) -> None:
        api_id, name = id.split("|", 1)
        ctx.call(ctx.client("apigateway").delete_stage, retry_on=BUSY, restApiId=api_id, stageName=name)


# -------------------------------------------------------------- API key


class ApiKeyProps(Props):
    name: str
    enabled: bool = True
    description: str = ""


@register
class ApiKey(_Api):
    """The key's value never enters props, attrs or state; ``secret_value`` fetches it when asked."""

    kind = "apigateway.api_key"
    Props = ApiKeyProps

    def find(self, ctx: NodeContext, props: ApiKeyProps) -> str | None:
        found = owned_keys(ctx, props.name)
        return str(found[0]["id"]) if found else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        key = self._get(ctx.client("apigateway").get_api_key, apiKey=id, includeValue=False)
        if key is None:
            return None
        props = {
            "name": key["name"],
            "enabled": bool(key.get("enabled")),
            "description": key.get("description", ""),
            "tags": _visible(key.get("tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": key["name"]})

    def secret_value(self, ctx: NodeContext, id: str) -> str:
        return str(ctx.client("apigateway").get_api_key(apiKey=id, includeValue=True)["value"])

    def create(self, ctx: NodeContext, props: ApiKeyProps) -> str:
        id = create_key(ctx, props)
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: ApiKeyProps, observed: Observed, changes: set[str]) -> None:
        ops = []
        if "enabled" in changes:
            ops.append({"op": "replace", "path": "/enabled", "value": str(props.enabled).lower()})
        for f in ("name", "description"):
            if f in changes:
                ops.append({"op": "replace", "path": f"/{f}", "value": getattr(props, f)})
        if ops:
            ctx.call(ctx.client("apigateway").update_api_key, retry_on=BUSY, apiKey=id, patchOperations=ops)
        if "tags" in changes:
            self._retag(ctx, f"/apikeys/{id}")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: Any) -> None:
        ctx.call(ctx.client("apigateway").delete_api_key, retry_on=BUSY, apiKey=id)


# ----------------------------------------------------------- usage plan


class UsagePlanProps(Props):
    name: str
    rest_api_id: str
    stage_name: str
    throttle_burst_limit: int = 100
    throttle_rate_limit: float = 50.0


@register
class UsagePlan(_Api):
    kind = "apigateway.usage_plan"
    Props = UsagePlanProps

    def find(self, ctx: NodeContext, props: UsagePlanProps) -> str | None:
        for page in ctx.client("apigateway").get_paginator("get_usage_plans").paginate():
            for plan in page.get("items", []):
                if plan["name"] == props.name and ctx.owns(_visible(plan.get("tags"))):
                    return str(plan["id"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        plan = self._get(ctx.client("apigateway").get_usage_plan, usagePlanId=id)
        if plan is None:
            return None
        stages = plan.get("apiStages") or [{}]
        throttle = plan.get("throttle") or {}
        props = {
            "name": plan["name"],
            "rest_api_id": stages[0].get("apiId"),
            "stage_name": stages[0].get("stage"),
            "throttle_burst_limit": throttle.get("burstLimit"),
            "throttle_rate_limit": throttle.get("rateLimit"),
            "tags": _visible(plan.get("tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": plan["name"]})

    def create(self, ctx: NodeContext, props: UsagePlanProps) -> str:
        id = ctx.call(
            ctx.client("apigateway").create_usage_plan,
            retry_on=BUSY,
            name=props.name,
            apiStages=[{"apiId": props.rest_api_id, "stage": props.stage_name}],
            throttle={"burstLimit": props.throttle_burst_limit, "rateLimit": props.throttle_rate_limit},
            tags=dict(ctx.tags),
        )["id"]
        ctx.created(id)
        return str(id)

    def update(self, ctx: NodeContext, id: str, props: UsagePlanProps, observed: Observed, changes: set[str]) -> None:
        ops: list[dict[str, str]] = []
        if "name" in changes:
            ops.append({"op": "replace", "path": "/name", "value": props.name})
        if "throttle_burst_limit" in changes:
            ops.append({"op": "replace", "path": "/throttle/burstLimit", "value": str(props.throttle_burst_limit)})
        if "throttle_rate_limit" in changes:
            # "50" rather than "50.0": the same number to AWS, and what moto can parse
            ops.append({"op": "replace", "path": "/throttle/rateLimit", "value": f"{props.throttle_rate_limit:g}"})
        if changes & {"rest_api_id", "stage_name"}:
            old = f"{observed.props.get('rest_api_id')}:{observed.props.get('stage_name')}"
            if observed.props.get("rest_api_id"):
                ops.append({"op": "remove", "path": "/apiStages", "value": old})
            ops.append({"op": "add", "path": "/apiStages", "value": f"{props.rest_api_id}:{props.stage_name}"})
        if ops:
            ctx.call(ctx.client("apigateway").update_usage_plan, retry_on=BUSY, usagePlanId=id, patchOperations=ops)
        if "tags" in changes:
            self._retag(ctx, f"/usageplans/{id}")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: Any) -> None:
        api = ctx.client("apigateway")
        plan = self._get(api.get_usage_plan, usagePlanId=id) or {}
        stages = [f"{s['apiId']}:{s['stage']}" for s in plan.get("apiStages", [])]
        if stages:  # a plan still attached to a stage cannot be deleted
            ops = [{"op": "remove", "path": "/apiStages", "value": s} for s in stages]
            ctx.call(api.update_usage_plan, retry_on=BUSY, usagePlanId=id, patchOperations=ops)
        ctx.call(api.delete_usage_plan, retry_on=BUSY, usagePlanId=id)


class UsagePlanKeyProps(Props):
    usage_plan_id: str
    key_id: str


@register
class UsagePlanKey(_Api):
    """The API key's membership of the usage plan; id ``<plan id>|<key id>``."""

    kind = "apigateway.usage_plan_key"
    Props = UsagePlanKeyProps
    replace_on: ClassVar = frozenset({"usage_plan_id", "key_id"})
    taggable = False
    duplicate_codes: ClassVar = frozenset({"ConflictException"})

    def find(self, ctx: NodeContext, props: UsagePlanKeyProps) -> str | None:
        id = f"{props.usage_plan_id}|{props.key_id}"
        return id if self.read(ctx, id) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        plan, key = id.split("|", 1)
        got = self._get(ctx.client("apigateway").get_usage_plan_key, usagePlanId=plan, keyId=key)
        if got is None:
            return None
        return Observed(id=id, props={"usage_plan_id": plan, "key_id": key}, attrs={"id": id})

    def create(self, ctx: NodeContext, props: UsagePlanKeyProps) -> str:
        ctx.call(
            ctx.client("apigateway").create_usage_plan_key,
            retry_on=("TooManyRequestsException",),
            usagePlanId=props.usage_plan_id,
            keyId=props.key_id,
            keyType="API_KEY",
        )
        id = f"{props.usage_plan_id}|{props.key_id}"
        ctx.created(id)
        return id

    def update(self, ctx: NodeContext, id: str, props: Any, observed: Observed, changes: set[str]) -> None:
        raise AssertionError("every field of a usage-plan key forces replacement")

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: Any) -> None:
        plan, key = id.split("|", 1)
        ctx.call(ctx.client("apigateway").delete_usage_plan_key, retry_on=BUSY, usagePlanId=plan, keyId=key)


# ----------------------------------------------------------- rotation (mfprov rotate api-key)

#: on a key a rotation made: the id of the key it replaces (how an interrupted rotation finds its new key again)
TAG_ROTATED_FROM = "mfprov:rotated-from"


def rotated_from(key: Mapping[str, Any]) -> str | None:
    """The id of the key ``key`` (a GetApiKeys item) was made to replace, if a rotation made it."""
    return (key.get("tags") or {}).get(TAG_ROTATED_FROM)


def owned_keys(ctx: NodeContext, name: str) -> list[dict[str, Any]]:
    """Every API key named ``name`` whose tags say it is this node's (a rotation's new key is, before and after)."""
    found = []
    for page in ctx.client("apigateway").get_paginator("get_api_keys").paginate(nameQuery=name):
        found += [k for k in page.get("items", []) if k["name"] == name and ctx.owns(_visible(k.get("tags")))]
    return found


def create_key(ctx: NodeContext, props: ApiKeyProps, extra_tags: Mapping[str, str] | None = None) -> str:
    """A key as the node wants it, with the node's tags (and ``extra_tags``); its id."""
    return str(
        ctx.call(
            ctx.client("apigateway").create_api_key,
            retry_on=BUSY,
            name=props.name,
            enabled=props.enabled,
            description=props.description,
            tags={**ctx.tags, **(extra_tags or {})},
        )["id"]
    )


def create_successor(ctx: NodeContext, props: ApiKeyProps, replaces: str) -> str:
    """A key like the node's, tagged as replacing the key ``replaces``."""
    return create_key(ctx, props, {TAG_ROTATED_FROM: replaces})


def _membership(ctx: NodeContext, plan_id: str, key_id: str) -> dict[str, Any] | None:
    return UsagePlanKey()._get(ctx.client("apigateway").get_usage_plan_key, usagePlanId=plan_id, keyId=key_id)


def add_to_plan(ctx: NodeContext, plan_id: str, key_id: str) -> None:
    if _membership(ctx, plan_id, key_id) is None:
        ctx.call(
            ctx.client("apigateway").create_usage_plan_key,
            retry_on=("TooManyRequestsException",),
            usagePlanId=plan_id,
            keyId=key_id,
            keyType="API_KEY",
        )


def usable(ctx: NodeContext, plan_id: str, key_id: str) -> bool | str:
    """Whether the key is enabled and in the usage plan: what API Gateway checks of a key a request brings."""
    key = ApiKey()._get(ctx.client("apigateway").get_api_key, apiKey=key_id, includeValue=False)
    if key is None:
        raise WaitFailed(f"API key {key_id} is gone")
    if not key.get("enabled"):
        return "disabled"
    return True if _membership(ctx, plan_id, key_id) is not None else "not in the usage plan yet"


def key_value(ctx: NodeContext, key_id: str) -> str:
    return ApiKey().secret_value(ctx, key_id)


def remove_key(ctx: NodeContext, plan_id: str, key_id: str) -> None:
    """The key leaves the usage plan (if still in it), then is deleted (a key already gone counts as deleted)."""
    api = ctx.client("apigateway")
    try:
        if _membership(ctx, plan_id, key_id) is not None:
            ctx.call(api.delete_usage_plan_key, retry_on=BUSY, usagePlanId=plan_id, keyId=key_id)
        ctx.call(api.delete_api_key, retry_on=BUSY, apiKey=key_id)
    except ClientError as err:
        if not is_not_found(err, NOT_FOUND):
            raise
