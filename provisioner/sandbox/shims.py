"""What the sandbox's moto lacks, filled in so the sandbox behaves as AWS documents (moto 5.2).

The sandbox is moto standing in for AWS; where moto leaves out a call or a field a stack relies on, a shim here
does what AWS does. They are installed into the sandbox's moto server process only (``python -m
provisioner.sandbox.server``) and by the tests that meet the same gaps; mfprov itself never imports them.

- SageMaker: UpdateNotebookInstance (refused unless the notebook is Stopped or Failed, and never shrinking its
  volume) and UpdateNotebookInstanceLifecycleConfig are not implemented; CreateNotebookInstance drops
  PlatformIdentifier.
- ELBv2: an HTTPS listener needs a certificate moto's ACM or IAM holds. The sandbox cannot issue one (ACM never
  validates there), so any well-formed ACM or IAM certificate ARN is accepted.
- Batch: UpdateComputeEnvironment accepts ``computeResources`` and drops them; AWS applies each member given.
- S3: a conditional PutObject / DeleteObject (If-Match, If-None-Match) is checked and then performed, not as one
  step; two concurrent ones can both succeed (``s3_conditional_requests``).
- Batch: CreateComputeEnvironment refuses a MANAGED environment without ``serviceRole``; AWS uses (and creates)
  its service-linked role AWSServiceRoleForBatch (``batch_service_linked_role``).
- API Gateway: no deployment snapshots (a stage serves the live API), a second resource or method where AWS
  answers ConflictException, nothing of it in the tagging API's GetResources, TagResource for stages only, and no
  UpdateVpcLink, UpdateResource or UpdateMethod (``apigateway``).
- KMS: EnableKey on a key pending deletion and CancelKeyDeletion on one that is not succeed; a cancelled key
  stays enabled (``kms_key_states``).
- EC2: tags changed on a launch template after its creation never show in DescribeLaunchTemplates
  (``ec2_launch_template_tags``).
- RDS: ModifyDBInstance and ModifyDBCluster move to a new major EngineVersion without AllowMajorVersionUpgrade,
  which AWS refuses (``rds_major_upgrade``).
- IAM: SimulatePrincipalPolicy is not implemented (``iam_simulate_principal_policy``).
- Secrets Manager: after UpdateSecretVersionStage moves AWSCURRENT, GetSecretValue keeps returning the version
  moto last made current itself (``secretsmanager_current_label``).
- ECS: services start no task (their running count is MOTO_ECS_SERVICE_RUNNING, 0 unless set) and a deployment
  never completes (``ecs_tasks_run``).
- Budgets: CreateBudget drops ResourceTags; ListTagsForResource, TagResource, UntagResource, UpdateBudget and
  DescribeSubscribersForNotification are not implemented (``budgets``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.stacks.config_common import CERT_ARN

Patch = Callable[[Any, str, Any], None]

_CERTIFICATE = CERT_ARN


def sagemaker(patch: Patch = setattr) -> None:
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeSagemakerNotebookInstance
    from moto.sagemaker.responses import SageMakerResponse

    def update_notebook_instance(self: SageMakerResponse) -> EmptyResult:
        nb = self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
        if nb.status not in ("Stopped", "Failed"):
            raise ValidationError(
                message=f"Status ({nb.status}) not in ([Stopped, Failed]). Unable to transition to (Updating) "
                f"for Notebook Instance ({nb.arn})"
            )
        size = self._get_param("VolumeSizeInGB")
        if size is not None and size < nb.volume_size_in_gb:
            raise ValidationError(message="The volume size cannot be decreased")
        for param, attr in (
            ("InstanceType", "instance_type"),
            ("RoleArn", "role_arn"),
            ("VolumeSizeInGB", "volume_size_in_gb"),
            ("RootAccess", "root_access"),
            ("PlatformIdentifier", "platform_identifier"),
            ("LifecycleConfigName", "lifecycle_config_name"),
        ):
            if self._get_param(param) is not None:
                setattr(nb, attr, self._get_param(param))
        if self._get_param("DisassociateLifecycleConfig"):
            nb.lifecycle_config_name = None
        return EmptyResult()

    def update_notebook_instance_lifecycle_config(self: SageMakerResponse) -> EmptyResult:
        name = self._get_param("NotebookInstanceLifecycleConfigName")
        lc = self.sagemaker_backend.notebook_instance_lifecycle_configurations.get(name)
        if lc is None:
            raise ValidationError(
                message=f"Unable to update Notebook Instance Lifecycle Config '{name}'. "
                "(Details: Notebook Instance Lifecycle Config does not exist.)"
            )
        for param, attr in (("OnStart", "on_start"), ("OnCreate", "on_create")):
            if self._get_param(param) is not None:
                setattr(lc, attr, self._get_param(param))
        return EmptyResult()

    create = SageMakerResponse.create_notebook_instance
    to_dict = FakeSagemakerNotebookInstance.to_dict

    def create_notebook_instance(self: SageMakerResponse) -> Any:
        answer = create(self)
        nb = self.sagemaker_backend.notebook_instances[self._get_param("NotebookInstanceName")]
        nb.platform_identifier = self._get_param("PlatformIdentifier")  # type: ignore[attr-defined]
        return answer

    def notebook_dict(self: FakeSagemakerNotebookInstance) -> dict[str, Any]:
        return {**to_dict(self), "PlatformIdentifier": getattr(self, "platform_identifier", None)}

    patch(SageMakerResponse, "update_notebook_instance", update_notebook_instance)
    patch(SageMakerResponse, "update_notebook_instance_lifecycle_config", update_notebook_instance_lifecycle_config)
    patch(SageMakerResponse, "create_notebook_instance", create_notebook_instance)
    patch(FakeSagemakerNotebookInstance, "to_dict", notebook_dict)


def elbv2(patch: Patch = setattr) -> None:
    from moto.elb.exceptions import CertificateNotFoundException
    from moto.elbv2 import models

    def certificate_exists(self: models.ELBv2Backend, certificate_arn: str) -> bool:
        return bool(_CERTIFICATE.match(certificate_arn))

    register = models.register_certificate

    def register_certificate(account_id: str, region: str, arn_certificate: str, arn_user: str) -> None:
        try:
            register(account_id=account_id, region=region, arn_certificate=arn_certificate, arn_user=arn_user)
        except CertificateNotFoundException:
            if not _CERTIFICATE.match(arn_certificate):
                raise

    patch(models.ELBv2Backend, "_certificate_exists", certificate_exists)
    patch(models, "register_certificate", register_certificate)


def batch(patch: Patch = setattr) -> None:
    from moto.batch.models import BatchBackend

    update = BatchBackend.update_compute_environment

    def update_compute_environment(
        self: BatchBackend, compute_environment_name: str, state: Any, compute_resources: Any, service_role: Any
    ) -> Any:
        out = update(self, compute_environment_name, state, compute_resources, service_role)
        env = self.get_compute_environment(compute_environment_name)
        if compute_resources and env is not None:
            env.compute_resources.update(compute_resources)
        return out

    patch(BatchBackend, "update_compute_environment", update_compute_environment)


def batch_service_linked_role(patch: Patch = setattr) -> None:
    """A MANAGED compute environment created without ``serviceRole`` gets Batch's service-linked role, which Batch
    creates when the account has none: "Using service-linked roles for AWS Batch",
    https://docs.aws.amazon.com/batch/latest/userguide/using-service-linked-roles.html ("If you don't specify a
    service role when you create a compute environment, AWS Batch uses the service-linked role ... and creates it
    if it doesn't exist"; role AWSServiceRoleForBatch, path /aws-service-role/batch.amazonaws.com/). moto refuses
    ("ServiceRole is required"), and its own create_service_linked_role would spell it AWSServiceRoleForbatch.
    UNMANAGED environments still need ``serviceRole``, as on AWS."""
    import json

    from moto.batch.models import BatchBackend
    from moto.iam.exceptions import NotFoundException

    create = BatchBackend.create_compute_environment
    name, service = "AWSServiceRoleForBatch", "batch.amazonaws.com"

    def create_compute_environment(
        self: BatchBackend,
        compute_environment_name: str,
        _type: str,
        state: str,
        compute_resources: Any,
        service_role: Any,
        tags: Any = None,
    ) -> Any:
        if not service_role and _type == "MANAGED":
            try:
                role = self.iam_backend.get_role(name)
            except NotFoundException:
                trust = {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": [service]}, "Action": "sts:AssumeRole"}],
                }
                role = self.iam_backend.create_role(
                    name,
                    json.dumps(trust),
                    f"/aws-service-role/{service}/",
                    permissions_boundary=None,
                    description="Allows Batch to create and manage AWS resources on your behalf",
                    tags=[],
                    max_session_duration="3600",
                    linked_service=service,
                )
            service_role = role.arn
        return create(self, compute_environment_name, _type, state, compute_resources, service_role, tags)

    patch(BatchBackend, "create_compute_environment", create_compute_environment)


def apigateway(patch: Patch = setattr) -> None:
    """API Gateway where moto differs from what AWS documents:

    - A stage serves a deployment, a snapshot of the API's methods, integrations and resource policy taken when the
      deployment was made: changing any of them changes nothing served until the API is deployed again ("Updates
      to REST APIs that require redeployment", https://docs.aws.amazon.com/apigateway/latest/developerguide/updating-api.html;
      "If you update the resource policy, you'll need to deploy the API", https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-resource-policies-create-attach.html).
      moto keeps no snapshot; here CreateDeployment takes one, and :func:`stage_serves` tells what a stage serves.
    - CreateResource for a path its parent already has, and PutMethod for a method its resource already has, are
      refused with ConflictException ("Another resource with the same parent already has this name", "Method
      already exists for this resource"; https://docs.aws.amazon.com/apigateway/latest/api/API_CreateResource.html,
      https://docs.aws.amazon.com/apigateway/latest/api/API_PutMethod.html). moto makes a second resource, and
      replaces the method (dropping its integration).
    - The Resource Groups Tagging API's GetResources lists API Gateway's REST APIs, stages, API keys, usage plans
      and VPC links ("GetResources ... support all resource types",
      https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/supported-services.html,
      https://docs.aws.amazon.com/resourcegroupstagging/latest/APIReference/API_GetResources.html). moto lists none.
    - TagResource and UntagResource take the ARN of any taggable resource (a REST API, stage, API key, usage plan or
      VPC link; https://docs.aws.amazon.com/apigateway/latest/api/API_TagResource.html); moto knows stages only.
      UpdateVpcLink (name, description), UpdateResource (pathPart, parentId) and UpdateMethod (apiKeyRequired,
      requestParameters) change what their patch operations name
      (https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateVpcLink.html, .../API_UpdateResource.html,
      .../API_UpdateMethod.html); moto has no handler for them.
    """
    import copy
    import json
    from urllib.parse import unquote

    from moto.apigateway.exceptions import BadRequestException, ConflictException, NotFoundException
    from moto.apigateway.models import APIGatewayBackend, RestAPI, apigateway_backends
    from moto.apigateway.responses import APIGatewayResponse
    from moto.core.resource_tagging import TaggedResource
    from moto.resourcegroupstaggingapi import models as tagging
    from moto.utilities.utils import get_partition

    deploy = RestAPI.create_deployment

    def create_deployment(self: RestAPI, name: str, description: str, stage_variables: Any = None) -> Any:
        deployment: Any = deploy(self, name, description, stage_variables)
        methods = {
            f"{verb} {res.get_path()}": copy.deepcopy(method.to_json())
            for res in self.resources.values()
            for verb, method in res.resource_methods.items()
        }
        deployment.snapshot = {"policy": copy.deepcopy(self.policy), "methods": methods}
        return deployment

    create_resource = APIGatewayBackend.create_resource

    def create_resource_once(self: APIGatewayBackend, function_id: str, parent_id: str, path_part: str) -> Any:
        siblings = self.get_rest_api(function_id).resources.values()
        if path_part and any(r.parent_id == parent_id and r.path_part == path_part for r in siblings):
            raise ConflictException(f"Another resource with the same parent already has this name: {path_part}")
        return create_resource(self, function_id, parent_id, path_part)

    put_method = APIGatewayBackend.put_method

    def put_method_once(self: APIGatewayBackend, api_id: str, resource_id: str, verb: str, *a: Any, **k: Any) -> Any:
        if verb in self.get_resource(api_id, resource_id).resource_methods:
            raise ConflictException("Method already exists for this resource")
        return put_method(self, api_id, resource_id, verb, *a, **k)

    class Tagged:
        """API Gateway's taggable resources, as the tagging API's backends list theirs."""

        def __init__(self, backend: APIGatewayBackend) -> None:
            self.backend = backend

        def owns_arn(self, arn: str) -> bool:
            return False  # TagResources through the tagging API: not needed

        def iter_tagged_resources(self) -> Any:
            b = self.backend
            arn = f"arn:{get_partition(b.region_name)}:apigateway:{b.region_name}::"
            for api in b.apis.values():
                yield TaggedResource(f"{arn}/restapis/{api.id}", dict(api.tags or {}), "apigateway:restapis")
                for name, stage in api.stages.items():
                    path = f"{arn}/restapis/{api.id}/stages/{name}"
                    yield TaggedResource(path, dict(stage.tags or {}), "apigateway:stages")
            listings: tuple[tuple[str, Any], ...] = (
                ("apikeys", b.keys),
                ("usageplans", b.usage_plans),
                ("vpclinks", b.vpc_links),
            )
            for kind, items in listings:
                for item in items.values():
                    yield TaggedResource(f"{arn}/{kind}/{item.id}", dict(item.tags or {}), f"apigateway:{kind}")

    listed = tagging.iter_taggable_backends

    def with_api_gateway(account_id: str, region_name: str) -> Any:
        yield from listed(account_id, region_name)
        if account_id in apigateway_backends and region_name in apigateway_backends[account_id]:
            yield Tagged(apigateway_backends[account_id][region_name])

    patch(RestAPI, "create_deployment", create_deployment)
    patch(APIGatewayBackend, "create_resource", create_resource_once)
    patch(APIGatewayBackend, "put_method", put_method_once)
    patch(tagging, "iter_taggable_backends", with_api_gateway)

    def tagged(self: APIGatewayResponse) -> Any:
        arn = unquote(self.path.split("/tags/", 1)[1])
        b = self.backend
        match arn.split("::", 1)[1].strip("/").split("/"):
            case ["restapis", api]:
                return b.get_rest_api(api)
            case ["restapis", api, "stages", stage]:
                return b.get_stage(api, stage)
            case ["vpclinks", link]:
                return b.get_vpc_link(link)
            case ["apikeys", key]:
                return b.get_api_key(key)
            case ["usageplans", plan]:
                return b.get_usage_plan(plan)
        raise NotFoundException(f"Invalid resource identifier specified: {arn}")

    def tag_resource(self: APIGatewayResponse) -> str:
        obj = tagged(self)
        obj.tags = {**(obj.tags or {}), **self._get_param("tags")}
        return "{}"

    def untag_resource(self: APIGatewayResponse) -> str:
        obj = tagged(self)
        obj.tags = {k: v for k, v in (obj.tags or {}).items() if k not in self.querystring.get("tagKeys", [])}
        return "{}"

    def operations(self: APIGatewayResponse) -> list[dict[str, Any]]:
        return list(self._get_param("patchOperations") or [])

    def update_vpc_link(self: APIGatewayResponse) -> str:
        link = self.backend.get_vpc_link(self.path.split("/")[-1])
        for op in operations(self):
            if op["path"] in ("/name", "/description"):
                setattr(link, op["path"].strip("/"), op["value"])
        return json.dumps(link.to_json())

    def update_resource(self: APIGatewayResponse) -> str:
        parts = self.path.split("/")
        res = self.backend.get_resource(parts[2], parts[4])
        fields = {"/pathPart": "path_part", "/parentId": "parent_id"}
        new: dict[str, Any] = {"path_part": res.path_part, "parent_id": res.parent_id}
        for op in operations(self):
            if op["path"] not in fields:
                raise BadRequestException(f"Invalid patch path {op['path']}")
            new[fields[op["path"]]] = op["value"]
        # as CreateResource: no two resources of one parent share a name
        siblings = self.backend.get_rest_api(parts[2]).resources.values()
        if any(r is not res and (r.parent_id, r.path_part) == (new["parent_id"], new["path_part"]) for r in siblings):
            raise ConflictException(f"Another resource with the same parent already has this name: {new['path_part']}")
        res.path_part, res.parent_id = new["path_part"], new["parent_id"]
        return json.dumps(res.to_dict())

    def update_method(self: APIGatewayResponse) -> str:
        parts = self.path.split("/")
        method = self.backend.get_method(parts[2], parts[4], parts[6])
        for op in operations(self):
            if op["path"] == "/apiKeyRequired":
                method.api_key_required = op["value"] == "true"
            elif op["path"].startswith("/requestParameters/"):
                params = dict(method.request_parameters or {})
                name = op["path"].removeprefix("/requestParameters/")
                if op["op"] == "remove":
                    params.pop(name, None)
                else:
                    params[name] = op.get("value") == "true"
                method.request_parameters = params
        return json.dumps(method.to_json())

    for name, handler in (
        ("tag_resource", tag_resource),
        ("untag_resource", untag_resource),
        ("update_vpc_link", update_vpc_link),
        ("update_resource", update_resource),
        ("update_method", update_method),
    ):
        patch(APIGatewayResponse, name, handler)


def stage_serves(rest_api_id: str, stage_name: str, account_id: str = "123456789012", region: str = "us-east-1") -> Any:
    """What a stage of the sandbox serves (with the :func:`apigateway` shim): ``{"policy": <document or None>,
    "methods": {"<VERB> <path>": <the method and its integration>}}`` as its deployment snapshot them."""
    import json

    from moto.apigateway.models import apigateway_backends

    api = apigateway_backends[account_id][region].get_rest_api(rest_api_id)
    deployment: Any = api.deployments[str(api.stages[stage_name].deployment_id)]
    snapshot = dict(deployment.snapshot)
    policy = snapshot["policy"]
    return {**snapshot, "policy": json.loads(policy) if isinstance(policy, str) and policy else None}


def s3_conditional_requests(patch: Patch = setattr) -> None:
    """S3 evaluates a conditional write or delete and performs it as one step: of two concurrent requests on one
    key, one wins and the other is answered 412 Precondition Failed (or 409 ConditionalRequestConflict). "How to
    prevent object overwrites with conditional writes",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html, and "How to perform conditional
    deletes", https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html (If-Match on
    DeleteObject). moto 5.2 checks If-Match / If-None-Match and then writes, with nothing between the two: two
    threads can both pass the check. Here every PutObject and DeleteObject runs under one lock, so the check and
    the write are one step, as on S3 (the state lock's take-over and release rely on it)."""
    import threading

    from moto.s3.responses import S3Response

    one_at_a_time = threading.RLock()
    put, delete = S3Response.put_object, S3Response.delete_object

    def put_object(self: S3Response) -> Any:
        with one_at_a_time:
            return put(self)

    def delete_object(self: S3Response) -> Any:
        with one_at_a_time:
            return delete(self)

    patch(S3Response, "put_object", put_object)
    patch(S3Response, "delete_object", delete_object)


def kms_key_states(patch: Patch = setattr) -> None:
    """KMS key states where moto differs from AWS: EnableKey on a key pending deletion fails, CancelKeyDeletion on
    a key not pending deletion fails, and a key whose deletion is cancelled is Disabled, not enabled ("Key states
    of AWS KMS keys", https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html; "Cancel key deletion",
    https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-cancelling-key-deletion.html). moto does
    the first two and leaves a cancelled key ``Enabled: true``."""
    from moto.core.exceptions import JsonRESTError
    from moto.kms.models import KmsBackend

    enable, cancel = KmsBackend.enable_key, KmsBackend.cancel_key_deletion

    def enable_key(self: KmsBackend, key_id: str) -> None:
        key = self.keys[key_id]
        if key.key_state == "PendingDeletion":
            raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is pending deletion.")
        enable(self, key_id)

    def cancel_key_deletion(self: KmsBackend, key_id: str) -> None:
        key = self.keys[key_id]
        if key.key_state != "PendingDeletion":
            raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is not pending deletion.")
        cancel(self, key_id)
        key.enabled = False

    patch(KmsBackend, "enable_key", enable_key)
    patch(KmsBackend, "cancel_key_deletion", cancel_key_deletion)


def rds_major_upgrade(patch: Patch = setattr) -> None:
    """A new major ``EngineVersion`` needs ``AllowMajorVersionUpgrade``, as the ModifyDBInstance and ModifyDBCluster
    API references say ("Major version upgrades must be allowed when specifying a value for the EngineVersion
    parameter that's a different major version than the DB instance's current version";
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBInstance.html,
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBCluster.html). moto makes the jump."""
    from moto.rds.exceptions import InvalidParameterCombination
    from moto.rds.models import RDSBackend

    def check(current: Any, kwargs: dict[str, Any]) -> None:
        wanted = kwargs.get("engine_version")
        if not wanted or not current or kwargs.get("allow_major_version_upgrade"):
            return
        if str(wanted).split(".")[0] != str(current).split(".")[0]:
            raise InvalidParameterCombination(
                "The AllowMajorVersionUpgrade flag must be present when upgrading to a new major version."
            )

    modify_instance, modify_cluster = RDSBackend.modify_db_instance, RDSBackend.modify_db_cluster

    def modify_db_instance(self: RDSBackend, db_instance_identifier: str, db_kwargs: dict[str, Any]) -> Any:
        check(self.describe_db_instances(db_instance_identifier)[0].engine_version, db_kwargs)
        return modify_instance(self, db_instance_identifier, db_kwargs)

    def modify_db_cluster(self: RDSBackend, kwargs: dict[str, Any]) -> Any:
        cluster = self.clusters.get(kwargs.get("db_cluster_identifier", ""))
        check(getattr(cluster, "engine_version", None), kwargs)
        return modify_cluster(self, kwargs)

    patch(RDSBackend, "modify_db_instance", modify_db_instance)
    patch(RDSBackend, "modify_db_cluster", modify_db_cluster)


def ec2_launch_template_tags(patch: Patch = setattr) -> None:
    """CreateTags and DeleteTags on a launch template show in DescribeLaunchTemplates, as on AWS ("Tags: The tags
    for the launch template", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_LaunchTemplate.html;
    CreateTags takes launch template ids, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html).
    moto copies the tags once, at CreateLaunchTemplate, so a later change of them never reads back."""
    from moto.ec2.models.launch_templates import LaunchTemplate

    def tags(self: LaunchTemplate) -> Any:
        return self.get_tags()

    patch(LaunchTemplate, "tags", property(tags, lambda self, value: None))


def iam_simulate_principal_policy(patch: Patch = setattr) -> None:
    """IAM SimulatePrincipalPolicy, which moto does not implement, as the IAM API Reference describes it
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html): the policies of the
    user (inline, attached, and those of its groups) or role (inline and attached) named by ``PolicySourceArn``,
    with its permissions boundary, evaluated for each of ``ActionNames`` on each of ``ResourceArns`` (``*`` when
    none) under ``ContextEntries``; ``NoSuchEntity`` for an unknown principal. One result per action and
    resource, each with its ``ResourceSpecificResults``; never truncated. Organizations SCPs, resource policies
    and the request's own input policies are not simulated here."""
    import json
    from urllib.parse import unquote

    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException
    from moto.iam.responses import IamResponse

    from provisioner.sandbox.iam import Evaluator

    def documents(entity: Any) -> dict[str, Any]:
        docs: dict[str, Any] = {}
        for name, doc in getattr(entity, "policies", {}).items():
            docs[f"{entity.name}/{name}"] = json.loads(unquote(doc)) if isinstance(doc, str) else doc
        for arn, managed in getattr(entity, "managed_policies", {}).items():
            version = next(v for v in managed.versions if v.is_default)
            docs[arn] = json.loads(unquote(version.document))
        return docs

    def simulate_principal_policy(self: IamResponse) -> ActionResult:
        params = self._get_params()
        source = str(params["PolicySourceArn"])
        kind, _, name = source.split(":", 5)[5].partition("/")
        name = name.rsplit("/", 1)[-1]
        entities: list[Any]
        boundary: str | None
        try:
            if kind == "user":
                user = self.backend.get_user(name)
                entities = [user, *self.backend.get_groups_for_user(name)]
                boundary = getattr(user, "permissions_boundary_arn", None)
            elif kind == "role":
                role = self.backend.get_role(name)
                entities, boundary = [role], role.permissions_boundary_arn
            elif kind == "group":
                entities, boundary = [self.backend.get_group(name)], None
            else:
                raise NotFoundException(f"{source} is no user, group or role")
        except KeyError:
            raise NotFoundException(f"The principal {source} cannot be found.") from None
        if f"{kind}{entities[0].path}{name}" != source.split(":", 5)[5]:
            raise NotFoundException(f"The principal {source} cannot be found.")
        policies: dict[str, Any] = {}
        for entity in entities:
            policies.update(documents(entity))
        evaluator = Evaluator(policies)
        fence = None
        if boundary:
            fence = Evaluator({boundary: documents(_Managed(self.backend.get_policy(boundary)))[boundary]})
        context = {e["ContextKeyName"]: e.get("ContextKeyValues", []) for e in params.get("ContextEntries", [])}
        results = []
        for action in params.get("ActionNames", []):
            for resource in params.get("ResourceArns") or ["*"]:
                decision = evaluator.allowed(action, resource, context)
                verdict = {"allow": "allowed", "explicit-deny": "explicitDeny"}.get(decision.reason, "implicitDeny")
                if decision and fence is not None and not fence.allowed(action, resource, context):
                    verdict = "implicitDeny"  # outside the permissions boundary
                matched = [{"SourcePolicyId": label} for label in decision.statements]
                results.append(
                    {
                        "EvalActionName": action,
                        "EvalResourceName": resource,
                        "EvalDecision": verdict,
                        "MatchedStatements": matched,
                        "MissingContextValues": [],
                        "ResourceSpecificResults": [
                            {
                                "EvalResourceName": resource,
                                "EvalResourceDecision": verdict,
                                "MatchedStatements": matched,
                                "MissingContextValues": [],
                            }
                        ],
                    }
                )
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    patch(IamResponse, "simulate_principal_policy", simulate_principal_policy)


def ecs_tasks_run(patch: Patch = setattr) -> None:
    """ECS: a service's scheduler starts its desired count of tasks, and a deployment is COMPLETED once they run
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_services.html,
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html). moto starts no task: its
    services report MOTO_ECS_SERVICE_RUNNING tasks (0 unless set) and their deployments stay IN_PROGRESS for ever.
    Here a service's tasks run as soon as it is created or updated (a new deployment included): the sandbox runs no
    container, so a task that would fail to start on AWS cannot be shown either way."""
    from moto.ecs.models import EC2ContainerServiceBackend, Service

    def counts(backend: EC2ContainerServiceBackend) -> tuple[dict[str, tuple[int, int]], dict[str, tuple[int, int]]]:
        clusters = {n: (c.running_tasks_count, c.pending_tasks_count) for n, c in backend.clusters.items()}
        services = {k: (s.running_count, s.pending_count) for k, s in backend.services.items()}
        return clusters, services

    def running(backend: EC2ContainerServiceBackend, service: Service, before: Any) -> Service:
        service.running_count, service.pending_count = service.desired_count, 0
        for deployment in service.deployments:
            deployment.update(
                desiredCount=service.desired_count,
                runningCount=service.desired_count,
                pendingCount=0,
                rolloutState="COMPLETED",
                rolloutStateReason=f"ECS deployment {deployment['id']} completed.",
            )
        # the cluster counts its services' tasks: what it had, less the service's old tasks, plus its new ones
        (clusters, services), name = before, service.cluster_name
        old_running, old_pending = services.get(f"{name}:{service.name}", (0, 0))
        had_running, had_pending = clusters[name]
        cluster = backend.clusters[name]
        cluster.running_tasks_count = had_running - old_running + service.running_count
        cluster.pending_tasks_count = had_pending - old_pending + service.pending_count
        return service

    create, update = EC2ContainerServiceBackend.create_service, EC2ContainerServiceBackend.update_service

    def create_service(self: EC2ContainerServiceBackend, *a: Any, **k: Any) -> Service:
        before = counts(self)
        return running(self, create(self, *a, **k), before)

    def update_service(self: EC2ContainerServiceBackend, *a: Any, **k: Any) -> Service:
        before = counts(self)
        return running(self, update(self, *a, **k), before)

    patch(EC2ContainerServiceBackend, "create_service", create_service)
    patch(EC2ContainerServiceBackend, "update_service", update_service)


def secretsmanager_current_label(patch: Patch = setattr) -> None:
    """Secrets Manager: GetSecretValue without VersionId or VersionStage returns the version labelled AWSCURRENT
    (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html), wherever
    UpdateSecretVersionStage moved that label. moto keeps returning the version it last made current itself."""
    from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

    update = SecretsManagerBackend.update_secret_version_stage

    def update_secret_version_stage(
        self: SecretsManagerBackend,
        secret_id: str,
        version_stage: str,
        remove_from_version_id: str,
        move_to_version_id: str,
    ) -> tuple[str, str]:
        answer = update(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        secret = self.secrets[secret_id]
        if version_stage == "AWSCURRENT" and move_to_version_id and isinstance(secret, FakeSecret):
            secret.set_default_version_id(move_to_version_id)
        return answer

    patch(SecretsManagerBackend, "update_secret_version_stage", update_secret_version_stage)


class _Managed:
    """A managed policy seen as an entity with one attached policy (a permissions boundary's document)."""

    def __init__(self, policy: Any) -> None:
        self.name = policy.name
        self.managed_policies = {policy.arn: policy}


def budgets(patch: Patch = setattr) -> None:
    """Budgets as AWS documents it where moto 5.2 has nothing: CreateBudget keeps its ``ResourceTags``, and
    ListTagsForResource, TagResource, UntagResource, UpdateBudget and DescribeSubscribersForNotification answer.

    https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_CreateBudget.html
    (ResourceTags), API_budgets_ListTagsForResource.html, API_budgets_TagResource.html,
    API_budgets_UntagResource.html, API_budgets_UpdateBudget.html (NewBudget replaces the budget of its
    BudgetName; NotFoundException when there is none), API_budgets_DescribeSubscribersForNotification.html.
    """
    import json

    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.models import Budget
    from moto.budgets.responses import BudgetsResponse

    created = BudgetsResponse.create_budget

    def budget_named(self: BudgetsResponse, account: str, name: str) -> Budget:
        found = self.backend.budgets[account].get(name)
        if found is None:
            raise NotFoundException(f"Unable to get budget: {name} - the budget doesn't exist.")
        return found

    def by_arn(self: BudgetsResponse) -> Budget:
        # arn:<partition>:budgets::<account>:budget/<name>
        arn = str(self._get_param("ResourceARN"))
        account, _, name = arn.split(":", 4)[-1].partition(":budget/")
        return budget_named(self, account, name)

    def create_budget(self: BudgetsResponse) -> str:
        answer = created(self)
        budget = budget_named(self, self._get_param("AccountId"), self._get_param("Budget")["BudgetName"])
        budget.tags = {t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []}  # type: ignore[attr-defined]
        return str(answer)

    def list_tags_for_resource(self: BudgetsResponse) -> str:
        tags = getattr(by_arn(self), "tags", {})
        return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]})

    def tag_resource(self: BudgetsResponse) -> str:
        budget = by_arn(self)
        new = {t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []}
        budget.tags = {**getattr(budget, "tags", {}), **new}  # type: ignore[attr-defined]
        return "{}"

    def untag_resource(self: BudgetsResponse) -> str:
        budget = by_arn(self)
        gone = set(self._get_param("ResourceTagKeys") or [])
        budget.tags = {k: v for k, v in getattr(budget, "tags", {}).items() if k not in gone}  # type: ignore[attr-defined]
        return "{}"

    def update_budget(self: BudgetsResponse) -> str:
        new = dict(self._get_param("NewBudget"))
        budget = budget_named(self, self._get_param("AccountId"), new["BudgetName"])
        # NewBudget replaces the budget whole, but its name and the spend AWS computes; its dates stay unless it
        # names new ones (https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_UpdateBudget.html,
        # API_budgets_TimePeriod.html: "You can change your start date with the UpdateBudget operation")
        old = budget.budget
        dates = {"TimePeriod": old["TimePeriod"]} if "TimePeriod" in old else {}
        kept: dict[str, Any] = {k: old[k] for k in ("BudgetName", "CalculatedSpend") if k in old}
        budget.budget = {**dates, **new, **kept}
        return "{}"

    def describe_subscribers_for_notification(self: BudgetsResponse) -> str:
        budget = budget_named(self, self._get_param("AccountId"), self._get_param("BudgetName"))
        wanted = self._get_param("Notification")
        for n in budget.notifications:
            if n.details == wanted:
                return json.dumps({"Subscribers": n.subscribers})
        raise NotFoundException("Unable to describe subscribers: the notification doesn't exist.")

    patch(BudgetsResponse, "create_budget", create_budget)
    patch(BudgetsResponse, "list_tags_for_resource", list_tags_for_resource)
    patch(BudgetsResponse, "tag_resource", tag_resource)
    patch(BudgetsResponse, "untag_resource", untag_resource)
    patch(BudgetsResponse, "update_budget", update_budget)
    patch(BudgetsResponse, "describe_subscribers_for_notification", describe_subscribers_for_notification)


def install(patch: Patch = setattr) -> None:
    shims = (sagemaker, elbv2, batch, batch_service_linked_role, apigateway, s3_conditional_requests, kms_key_states,
             rds_major_upgrade, ec2_launch_template_tags, iam_simulate_principal_policy, budgets,
             secretsmanager_current_label, ecs_tasks_run)  # fmt: skip
    for shim in shims:
        shim(patch)
