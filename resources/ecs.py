"""ECS: clusters, Fargate task definitions and services.

Calls: CreateCluster, DescribeClusters, UpdateCluster (settings), DeleteCluster, RegisterTaskDefinition,
ListTaskDefinitions, DescribeTaskDefinition, DeregisterTaskDefinition, DeleteTaskDefinitions, CreateService,
DescribeServices, UpdateService, DeleteService, TagResource.

ECS tags are ``[{"key": ..., "value": ...}]`` (lower-case keys). Every type is tagged in its create call and
read with its tags (``include=["TAGS"]``). A cluster is found by its name, a task definition by its family,
a service by its cluster and name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, field_validator

from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, arn_resource, error_code, error_message, register
from resources.pricing import CostLine, Where, hourly

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext


def ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """``{"a": "b"}`` -> ``[{"key": "a", "value": "b"}]`` (ECS's lower-case shape)."""
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def from_ecs_tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in tags or [] if not t["key"].startswith("aws:")}


def _tag(ctx: NodeContext, arn: str) -> None:
    """Put all of this node's tags on; other keys stay."""
    ctx.client("ecs").tag_resource(resourceArn=arn, tags=ecs_tags(ctx.tags))


# -------------------------------------------------------------- cluster


class ClusterProps(Props):
    name: str
    container_insights: bool = False


def _insights(on: bool) -> list[dict[str, str]]:
    return [{"name": "containerInsights", "value": "enabled" if on else "disabled"}]


@register
class Cluster(Resource[ClusterProps]):
    """A cluster with no capacity providers (services name FARGATE themselves). The id is its name.

    Container Insights is set with UpdateCluster ``settings`` (moto lacks UpdateClusterSettings, which does
    the same)."""

    kind = "ecs.cluster"
    service = "ecs"
    Props = ClusterProps
    replace_on: ClassVar = frozenset({"name"})
    not_found_codes: ClassVar = frozenset({"ClusterNotFoundException"})

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        """The cluster unless it is gone: a deleted cluster is listed as INACTIVE for a while."""
        items = ctx.client("ecs").describe_clusters(clusters=[name], include=["TAGS", "SETTINGS"])["clusters"]
        return next((c for c in items if c.get("status") != "INACTIVE"), None)

    def find(self, ctx: NodeContext, props: ClusterProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        c = self._describe(ctx, id)
        if c is None:
            return None
        settings = {s["name"]: s.get("value") for s in c.get("settings") or []}
        props = {
            "name": c["clusterName"],
            # "enhanced" is "enabled" and more
            "container_insights": settings.get("containerInsights") in ("enabled", "enhanced"),
            "tags": from_ecs_tags(c.get("tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": c["clusterName"], "arn": c["clusterArn"]})

    def _active(self, ctx: NodeContext, id: str) -> bool | str:
        status = str((self._describe(ctx, id) or {}).get("status", "not visible yet"))
        if status == "FAILED":
            raise RuntimeError(f"cluster {id} FAILED")
        return True if status == "ACTIVE" else status

    def create(self, ctx: NodeContext, props: ClusterProps) -> str:
        # CreateCluster on an existing name returns that cluster: find (by name) ran first, so this one is new.
        ctx.client("ecs").create_cluster(
            clusterName=props.name, settings=_insights(props.container_insights), tags=ecs_tags(ctx.tags)
        )
        ctx.created(props.name)
        ctx.wait("cluster ACTIVE", lambda: self._active(ctx, props.name))
        return props.name

    def update(self, ctx: NodeContext, id: str, props: ClusterProps, observed: Observed, changes: set[str]) -> None:
        if "container_insights" in changes:
            ctx.client("ecs").update_cluster(cluster=id, settings=_insights(props.container_insights))
        if "tags" in changes:
            _tag(ctx, observed.attrs["arn"])

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ClusterProps | None) -> None:
        # A service deleted just before holds the cluster until it has drained.
        ctx.call(
            ctx.client("ecs").delete_cluster,
            retry_on=("ClusterContainsServicesException", "ClusterContainsTasksException"),
            cluster=id,
        )
        ctx.wait("cluster INACTIVE", lambda: self._describe(ctx, id) is None)


# ------------------------------------------------------ task definition


class ContainerDef(BaseModel):
    """One container of a Fargate task definition, logging to CloudWatch Logs."""

    model_config = ConfigDict(extra="forbid")

    name: str
    image: str
    port_mappings: list[int] = []
    environment: dict[str, str] = {}
    #: env name -> ``valueFrom`` reference (``<secret arn>:<json key>::``), fetched by ECS when the task
    #: starts. These are references, not secret values, so they are compared and stored as given.
    secrets: dict[str, str] = {}
    command: list[str] | None = None
    log_group: str
    log_region: str
    log_stream_prefix: str = "ecs"
    essential: bool = True

    @field_validator("command")
    @classmethod
    def _empty_is_none(cls, v: list[str] | None) -> list[str] | None:
        # an empty command is the image's own, which ECS reads back as absent
        return v or None

    def api(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "essential": self.essential,
            "portMappings": [{"containerPort": p, "hostPort": p, "protocol": "tcp"} for p in self.port_mappings],
            "environment": [{"name": k, "value": v} for k, v in sorted(self.environment.items())],
            "secrets": [{"name": k, "valueFrom": v} for k, v in sorted(self.secrets.items())],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": self.log_group,
                    "awslogs-region": self.log_region,
                    "awslogs-stream-prefix": self.log_stream_prefix,
                },
            },
        }
        if self.command:
            c["command"] = self.command
        return c

    @staticmethod
    def from_api(c: Mapping[str, Any]) -> dict[str, Any]:
        opts = (c.get("logConfiguration") or {}).get("options") or {}
        return {
            "name": c["name"],
            "image": c.get("image"),
            "port_mappings": [p["containerPort"] for p in c.get("portMappings", [])],
            "environment": {e["name"]: e.get("value", "") for e in c.get("environment", [])},
            "secrets": {s["name"]: s.get("valueFrom", "") for s in c.get("secrets", [])},
            "command": c.get("command") or None,
            "log_group": opts.get("awslogs-group"),
            "log_region": opts.get("awslogs-region"),
            "log_stream_prefix": opts.get("awslogs-stream-prefix"),
            # ECS's default is true
            "essential": bool(c.get("essential", True)),
        }


class TaskDefinitionProps(Props):
    family: str
    cpu: str = "512"
    memory: str = "1024"
    execution_role_arn: str
    task_role_arn: str | None = None
    containers: list[ContainerDef]
    #: the ``runtimePlatform`` (always Linux); always sent, so it reads back the same
    cpu_architecture: Literal["X86_64", "ARM64"] = "X86_64"


def _family(arn: str) -> str:
    """``arn:...:task-definition/<family>:<revision>`` -> ``<family>``."""
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


@register
class TaskDefinition(Resource[TaskDefinitionProps]):
    """A family of immutable revisions (awsvpc, FARGATE). The id is the family; ``read`` is its latest ACTIVE
    revision, and any change registers a new revision (older ones stay ACTIVE: a running deployment may still
    use them). ``attrs["arn"]`` is the revision ARN, which a service references."""

    kind = "ecs.task_definition"
    service = "ecs"
    Props = TaskDefinitionProps
    replace_on: ClassVar = frozenset({"family"})

    def id_from_arn(self, arn: str) -> str:
        return _family(arn)  # every revision belongs to the one family

    def missing(self, err: BaseException) -> bool:
        # ECS answers an unknown task definition with a generic ClientException
        if error_code(err) == "ClientException" and "unable to describe task definition" in error_message(err).lower():
            return True
        return super().missing(err)

    def _arns(self, ctx: NodeContext, family: str, status: str) -> list[str]:
        """The family's revision ARNs of one status, newest first. ``familyPrefix`` is the whole family name."""
        pages = ctx.client("ecs").get_paginator("list_task_definitions")
        arns = [
            arn
            for page in pages.paginate(familyPrefix=family, status=status)
            for arn in page["taskDefinitionArns"]
            if _family(arn) == family
        ]
        # sorted here: the API's order is by family then revision (and moto ignores ``sort``)
        return sorted(arns, key=lambda a: int(a.rsplit(":", 1)[-1]), reverse=True)

    def find(self, ctx: NodeContext, props: TaskDefinitionProps) -> str | None:
        return props.family if self._arns(ctx, props.family, "ACTIVE") else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        # By family alone AWS describes the latest ACTIVE revision: one call. Only when the answer is not ACTIVE
        # (moto gives the latest of any status) are the ACTIVE ones listed.
        ecs = ctx.client("ecs")
        try:
            got = ecs.describe_task_definition(taskDefinition=id, include=["TAGS"])
            if got["taskDefinition"].get("status") != "ACTIVE":
                arns = self._arns(ctx, id, "ACTIVE")
                if not arns:
                    return None
                got = ecs.describe_task_definition(taskDefinition=arns[0], include=["TAGS"])
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        td = got["taskDefinition"]
        if td.get("status") != "ACTIVE":  # deregistered between the two calls
            return None
        props = {
            "family": td["family"],
            "cpu": td.get("cpu"),
            "memory": td.get("memory"),
            "execution_role_arn": td.get("executionRoleArn"),
            "task_role_arn": td.get("taskRoleArn"),
            "containers": [ContainerDef.from_api(c) for c in td.get("containerDefinitions", [])],
            "cpu_architecture": (td.get("runtimePlatform") or {}).get("cpuArchitecture"),
            "tags": from_ecs_tags(got.get("tags")),
        }
        attrs = {"id": id, "family": td["family"], "arn": td["taskDefinitionArn"], "revision": td["revision"]}
        return Observed(id=id, props=props, attrs=attrs)

    def _register(self, ctx: NodeContext, props: TaskDefinitionProps) -> str:
        kw: dict[str, Any] = {"taskRoleArn": props.task_role_arn} if props.task_role_arn else {}
        td = ctx.call(
            ctx.client("ecs").register_task_definition,
            # a role made seconds ago is not yet visible to ECS
            retry_on=("ClientException:role",),
            family=props.family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=props.cpu,
            memory=props.memory,
            executionRoleArn=props.execution_role_arn,
            containerDefinitions=[c.api() for c in props.containers],
            runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": props.cpu_architecture},
            tags=ecs_tags(ctx.tags),
            **kw,
        )["taskDefinition"]
        return str(td["taskDefinitionArn"])

    def create(self, ctx: NodeContext, props: TaskDefinitionProps) -> str:
        self._register(ctx, props)
        ctx.created(props.family)
        return props.family

    def update_renews_attrs(self, changes: set[str]) -> bool:
        return bool(changes - {"tags"})  # a new revision: a new ARN for the service to run

    def update(
        self, ctx: NodeContext, id: str, props: TaskDefinitionProps, observed: Observed, changes: set[str]
    ) -> None:
        if changes - {"tags"}:
            self._register(ctx, props)  # the new revision carries ctx.tags
        elif "tags" in changes:
            _tag(ctx, observed.attrs["arn"])

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: TaskDefinitionProps | None) -> None:
        ecs = ctx.client("ecs")
        for arn in self._arns(ctx, id, "ACTIVE"):
            ecs.deregister_task_definition(taskDefinition=arn)
        # Deregistered revisions stay listed (INACTIVE) for ever unless deleted; at most 10 per call.
        inactive = self._arns(ctx, id, "INACTIVE")
        for i in range(0, len(inactive), 10):
            ecs.delete_task_definitions(taskDefinitions=inactive[i : i + 10])
        ctx.wait("task definition deregistered", lambda: not self._arns(ctx, id, "ACTIVE"))


# -------------------------------------------------------------- service


class LoadBalancerRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target_group_arn: str
    container_name: str
    container_port: int


class ServiceProps(Props):
    name: str
    #: the cluster's name or ARN
    cluster: str
    #: the task definition revision ARN
    task_definition: str
    desired_count: int = 1
    subnets: list[str]
    security_group_ids: list[str]
    assign_public_ip: bool = False
    load_balancers: list[LoadBalancerRef] = []
    #: seconds; None (or 0, ECS's default, which reads the same) for none
    health_check_grace_period: int | None = None
    enable_execute_command: bool = False
    #: Application Auto Scaling owns the desired count (a scaling policy moves it between the scalable target's
    #: min and max): ``desired_count`` is then only the count the service is created with, and is neither
    #: compared for drift nor put back by an update
    autoscaled: bool = False

    @field_validator("health_check_grace_period")
    @classmethod
    def _zero_is_none(cls, v: int | None) -> int | None:
        return v or None


#: a listener made seconds ago is not yet seen on its target group; the ECS service-linked role made by the
#: first service of an account is not yet assumable
_SERVICE_NOT_YET = (
    "InvalidParameterException:does not have an associated load balancer",
    "InvalidParameterException:Unable to assume the service linked role",
    "ClusterNotFoundException",
)


@register
class Service(Resource[ServiceProps]):
    """A Fargate service with the deployment circuit breaker (rollback on). The id is ``<cluster>|<name>``
    (a service name is unique only within its cluster).

    ``create`` waits for the service to be ACTIVE, not for its tasks to run: a task that cannot start (an
    image that does not pull) is told by the service's events, and waiting on it would hold the run for
    ever; whoever needs the tasks running waits for that (``services_stable``).

    With ``autoscaled`` a scaling policy owns the desired count: it is sent on create only, never compared."""

    kind = "ecs.service"
    arn_type = "service"  # its tasks carry its tags too (propagated)
    service = "ecs"
    Props = ServiceProps
    replace_on: ClassVar = frozenset({"name", "cluster", "load_balancers"})
    unordered: ClassVar = frozenset({"subnets", "security_group_ids", "load_balancers"})
    behaviour_fields: ClassVar = frozenset({"autoscaled"})

    def not_compared(self, desired: Mapping[str, Any]) -> frozenset[str]:
        # A scaling policy owns an autoscaled service's count: it is not ours to compare, nor to put back.
        return self.behaviour_fields | ({"desired_count"} if desired.get("autoscaled") else set())

    #: ServiceNotActiveException: an update or delete of a service already going away
    not_found_codes: ClassVar = frozenset(
        {"ServiceNotFoundException", "ClusterNotFoundException", "ServiceNotActiveException"}
    )
    timeout = 900.0  # a delete waits for the tasks to drain

    def id_from_arn(self, arn: str) -> str:
        # arn:...:service/<cluster>/<name> -> "<cluster>|<name>"
        _, cluster, name = arn_resource(arn).split("/", 2)
        return f"{cluster}|{name}"

    def _status(self, ctx: NodeContext, cluster: str, name: str) -> dict[str, Any] | None:
        try:
            items = ctx.client("ecs").describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return items[0] if items else None

    def _describe(self, ctx: NodeContext, cluster: str, name: str) -> dict[str, Any] | None:
        """The service if ACTIVE: DRAINING and INACTIVE ones are going or gone."""
        svc = self._status(ctx, cluster, name)
        return svc if svc and svc.get("status") == "ACTIVE" else None

    @staticmethod
    def _split(id: str) -> tuple[str, str]:
        cluster, name = id.split("|", 1)
        return cluster, name

    def find(self, ctx: NodeContext, props: ServiceProps) -> str | None:
        return f"{props.cluster}|{props.name}" if self._describe(ctx, props.cluster, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        cluster, name = self._split(id)
        svc = self._describe(ctx, cluster, name)
        return None if svc is None else self._observe(id, svc)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """DescribeServices per cluster, ten services to a call."""
        by_cluster: dict[str, list[str]] = {}
        for id in ids:
            cluster, name = self._split(id)
            by_cluster.setdefault(cluster, []).append(name)
        out: dict[str, Observed] = {}
        ecs = ctx.client("ecs")
        for cluster, names in by_cluster.items():
            for i in range(0, len(names), 10):
                try:
                    got = ecs.describe_services(cluster=cluster, services=names[i : i + 10], include=["TAGS"])
                except ClientError as err:
                    if self.missing(err):  # the cluster is gone, and its services with it
                        break
                    raise
                for svc in got.get("services", []):
                    if svc.get("status") == "ACTIVE":
                        id = f"{cluster}|{svc['serviceName']}"
                        out[id] = self._observe(id, svc)
        return out

    def _observe(self, id: str, svc: dict[str, Any]) -> Observed:
        cluster, name = self._split(id)
        net = (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        props = {
            "name": svc["serviceName"],
            "cluster": cluster,  # as given (name or ARN), so either form reads back the same
            "task_definition": svc.get("taskDefinition"),
            "desired_count": svc.get("desiredCount"),
            "subnets": sorted(net.get("subnets", [])),
            "security_group_ids": sorted(net.get("securityGroups", [])),
            "assign_public_ip": net.get("assignPublicIp") == "ENABLED",
            "load_balancers": [
                {
                    "target_group_arn": lb.get("targetGroupArn"),
                    "container_name": lb.get("containerName"),
                    "container_port": lb.get("containerPort"),
                }
                for lb in svc.get("loadBalancers", [])
            ],
            "health_check_grace_period": svc.get("healthCheckGracePeriodSeconds") or None,
            "enable_execute_command": bool(svc.get("enableExecuteCommand", False)),
            "tags": from_ecs_tags(svc.get("tags")),
        }
        attrs = {"id": id, "name": name, "arn": svc["serviceArn"], "cluster_arn": svc.get("clusterArn")}
        return Observed(id=id, props=props, attrs=attrs)

    @staticmethod
    def _network(props: ServiceProps) -> dict[str, Any]:
        return {
            "awsvpcConfiguration": {
                "subnets": props.subnets,
                "securityGroups": props.security_group_ids,
                "assignPublicIp": "ENABLED" if props.assign_public_ip else "DISABLED",
            }
        }

    def create(self, ctx: NodeContext, props: ServiceProps) -> str:
        kw: dict[str, Any] = {}
        if props.health_check_grace_period is not None:
            kw["healthCheckGracePeriodSeconds"] = props.health_check_grace_period
        ctx.call(
            ctx.client("ecs").create_service,
            retry_on=_SERVICE_NOT_YET,
            cluster=props.cluster,
            serviceName=props.name,
            taskDefinition=props.task_definition,
            desiredCount=props.desired_count,
            launchType="FARGATE",
            networkConfiguration=self._network(props),
            loadBalancers=[
                {
                    "targetGroupArn": lb.target_group_arn,
                    "containerName": lb.container_name,
                    "containerPort": lb.container_port,
                }
                for lb in props.load_balancers
            ],
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
            enableExecuteCommand=props.enable_execute_command,
            propagateTags="SERVICE",
            tags=ecs_tags(ctx.tags),
            **kw,
        )
        id = f"{props.cluster}|{props.name}"
        ctx.created(id)
        ctx.wait("service ACTIVE", lambda: True if self._describe(ctx, props.cluster, props.name) else "not yet")
        return id

    def update(self, ctx: NodeContext, id: str, props: ServiceProps, observed: Observed, changes: set[str]) -> None:
        cluster, name = self._split(id)
        kw: dict[str, Any] = {}
        if "task_definition" in changes:
            kw["taskDefinition"] = props.task_definition
        if "desired_count" in changes:
            kw["desiredCount"] = props.desired_count
        if changes & {"subnets", "security_group_ids", "assign_public_ip"}:
            kw["networkConfiguration"] = self._network(props)
        if "health_check_grace_period" in changes:
            kw["healthCheckGracePeriodSeconds"] = props.health_check_grace_period or 0
        if "enable_execute_command" in changes:
            kw["enableExecuteCommand"] = props.enable_execute_command
        if kw:
            ctx.client("ecs").update_service(cluster=cluster, service=name, **kw)
        if "tags" in changes:
            _tag(ctx, observed.attrs["arn"])

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ServiceProps | None) -> None:
        cluster, name = self._split(id)
        ecs = ctx.client("ecs")
        # Scale to zero first, so the tasks stop draining at once (force=True deletes a scaled service too).
        try:
            ecs.update_service(cluster=cluster, service=name, desiredCount=0)
        except ClientError as err:
            if not self.missing(err):
                raise
        ecs.delete_service(cluster=cluster, service=name, force=True)

        def gone() -> bool | str:
            svc = self._status(ctx, cluster, name)
            status = str((svc or {}).get("status", "INACTIVE"))
            return True if status == "INACTIVE" else status

        ctx.wait("service INACTIVE", gone)

    def monthly_cost(self, props: ServiceProps, where: Where) -> list[CostLine]:
        task = where.props_of(props.task_definition)
        if task is None:
            return [CostLine("Fargate tasks", None, "the task definition's size is not known")]
        vcpu, gb = int(task.get("cpu", "512")) / 1024, int(task.get("memory", "1024")) / 1024
        arch, n = str(task.get("cpu_architecture", "X86_64")).lower(), props.desired_count
        # an autoscaled service is counted at the count it is created with
        return [
            hourly(f"fargate_vcpu_{arch}", where.region, f"Fargate vCPU, {n} task(s) of {vcpu:g} vCPU", n * vcpu),
            hourly(f"fargate_gb_{arch}", where.region, f"Fargate memory, {n} task(s) of {gb:g} GB", n * gb),
        ]


def force_new_deployment(ctx: NodeContext, id: str) -> str:
    """UpdateService forceNewDeployment: new tasks, which fetch the task definition's secrets afresh (ECS hands a
    secret to a container when it starts, https://docs.aws.amazon.com/AmazonECS/latest/developerguide/secrets-envvar-secrets-manager.html).
    Returns the id of the deployment started."""
    cluster, name = Service._split(id)
    svc = ctx.client("ecs").update_service(cluster=cluster, service=name, forceNewDeployment=True)["service"]
    primary: dict[str, Any] = next((d for d in svc.get("deployments", []) if d.get("status") == "PRIMARY"), {})
    return str(primary.get("id", ""))


def deployment_done(ctx: NodeContext, id: str, deployment: str) -> bool | str:
    """Whether the service's deployment ``deployment`` has replaced every older task: it is the only deployment
    left, COMPLETED, with all its tasks running. Another PRIMARY deployment, or a FAILED rollout, means the new
    tasks never became healthy and the circuit breaker rolled back: a failure, not something to wait out."""
    cluster, name = Service._split(id)
    svc = Service()._status(ctx, cluster, name) or {}
    deployments = svc.get("deployments") or []
    primary: dict[str, Any] = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    if primary.get("id") != deployment or primary.get("rolloutState") == "FAILED":
        raise WaitFailed(
            f"service {name}: the new tasks did not become healthy and ECS rolled the deployment back "
            f"({primary.get('rolloutStateReason', 'see the service events')})"
        )
    running, desired = primary.get("runningCount"), primary.get("desiredCount")
    if len(deployments) == 1 and primary.get("rolloutState", "COMPLETED") == "COMPLETED" and running == desired:
        return True
    return f"{primary.get('rolloutState')}: {running}/{desired} tasks running, {len(deployments)} deployments"
