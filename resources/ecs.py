"""ECS: clusters, Fargate task definitions and services.

Calls: CreateCluster, DescribeClusters, DeleteCluster, RegisterTaskDefinition, DescribeTaskDefinition,
ListTaskDefinitions, DeregisterTaskDefinition, CreateService, DescribeServices, UpdateService,
DeleteService, TagResource.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from resources.base import Observed, Props, Resource, register

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext


def ecs_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(tags.items())]


def from_ecs_tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in tags or [] if not t["key"].startswith("aws:")}


# -------------------------------------------------------------- cluster


class ClusterProps(Props):
    name: str


@register
class Cluster(Resource[ClusterProps]):
    kind = "ecs.cluster"
    service = "ecs"
    Props = ClusterProps
    replace_on: ClassVar = frozenset({"name"})
    not_found_codes: ClassVar = frozenset({"ClusterNotFoundException"})

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        items = ctx.client("ecs").describe_clusters(clusters=[name], include=["TAGS"])["clusters"]
        return next((c for c in items if c.get("status") == "ACTIVE"), None)

    def find(self, ctx: NodeContext, props: ClusterProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        c = self._describe(ctx, id)
        if c is None:
            return None
        props = {"name": c["clusterName"], "tags": from_ecs_tags(c.get("tags"))}
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": c["clusterArn"]})

    def create(self, ctx: NodeContext, props: ClusterProps) -> str:
        # CreateCluster on an existing name returns that cluster: find (by name) ran first, so this is new.
        ctx.client("ecs").create_cluster(clusterName=props.name, tags=ecs_tags(ctx.tags))
        ctx.created(props.name)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: ClusterProps, observed: Observed, changes: set[str]) -> None:
        if "tags" in changes:
            ctx.client("ecs").tag_resource(resourceArn=observed.attrs["arn"], tags=ecs_tags(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ClusterProps | None) -> None:
        ctx.call(ctx.client("ecs").delete_cluster, retry_on=("ClusterContainsServicesException",), cluster=id)


# ------------------------------------------------------ task definition


class ContainerDef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    image: str
    port_mappings: list[int] = []
    environment: dict[str, str] = {}
    #: env name -> Secrets Manager reference (``<secret arn>:<json key>::``): values ECS fetches at start
    secrets: dict[str, str] = {}
    command: list[str] | None = None
    log_group: str
    log_region: str
    log_stream_prefix: str = "ecs"

    def api(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "name": self.name,
            "image": self.image,
            "essential": True,
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
        }


class TaskDefinitionProps(Props):
    family: str
    cpu: str = "512"
    memory: str = "1024"
    execution_role_arn: str
    task_role_arn: str | None = None
    containers: list[ContainerDef]


@register
class TaskDefinition(Resource[TaskDefinitionProps]):
    """A family of immutable revisions: every change registers a new one. The id is the family."""

    kind = "ecs.task_definition"
    service = "ecs"
    Props = TaskDefinitionProps
    replace_on: ClassVar = frozenset({"family"})
    not_found_codes: ClassVar = frozenset({"ClientException:Unable to describe task definition"})

    def missing(self, err: BaseException) -> bool:
        from resources.base import error_code, error_message

        return error_code(err) == "ClientException" and "describe task definition" in error_message(err).lower()

    def find(self, ctx: NodeContext, props: TaskDefinitionProps) -> str | None:
        return props.family if self.read(ctx, props.family) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        try:
            got = ctx.client("ecs").describe_task_definition(taskDefinition=id, include=["TAGS"])
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        td = got["taskDefinition"]
        if td.get("status") != "ACTIVE":
            return None
        props = {
            "family": td["family"],
            "cpu": td.get("cpu"),
            "memory": td.get("memory"),
            "execution_role_arn": td.get("executionRoleArn"),
            "task_role_arn": td.get("taskRoleArn"),
            "containers": [ContainerDef.from_api(c) for c in td.get("containerDefinitions", [])],
            "tags": from_ecs_tags(got.get("tags")),
        }
        attrs = {"id": id, "family": id, "arn": td["taskDefinitionArn"], "revision": td["revision"]}
        return Observed(id=id, props=props, attrs=attrs)

    def _register(self, ctx: NodeContext, props: TaskDefinitionProps) -> str:
        kw: dict[str, Any] = {}
        if props.task_role_arn:
            kw["taskRoleArn"] = props.task_role_arn
        td = ctx.client("ecs").register_task_definition(
            family=props.family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=props.cpu,
            memory=props.memory,
            executionRoleArn=props.execution_role_arn,
            containerDefinitions=[c.api() for c in props.containers],
            tags=ecs_tags(ctx.tags),
            **kw,
        )["taskDefinition"]
        return str(td["taskDefinitionArn"])

    def create(self, ctx: NodeContext, props: TaskDefinitionProps) -> str:
        self._register(ctx, props)
        ctx.created(props.family)
        return props.family

    def update(
        self, ctx: NodeContext, id: str, props: TaskDefinitionProps, observed: Observed, changes: set[str]
    ) -> None:
        if changes - {"tags"}:
            self._register(ctx, props)
        elif "tags" in changes:
            ctx.client("ecs").tag_resource(resourceArn=observed.attrs["arn"], tags=ecs_tags(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: TaskDefinitionProps | None) -> None:
        ecs = ctx.client("ecs")
        arns = [
            a
            for page in ecs.get_paginator("list_task_definitions").paginate(familyPrefix=id, status="ACTIVE")
            for a in page["taskDefinitionArns"]
            if a.rsplit("/", 1)[-1].rsplit(":", 1)[0] == id
        ]
        for arn in arns:
            ecs.deregister_task_definition(taskDefinition=arn)


# -------------------------------------------------------------- service


class LoadBalancerRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    target_group_arn: str
    container_name: str
    container_port: int


class ServiceProps(Props):
    name: str
    cluster: str
    task_definition: str
    desired_count: int = 1
    subnets: list[str]
    security_group_ids: list[str]
    assign_public_ip: bool = False
    load_balancers: list[LoadBalancerRef] = []
    health_check_grace_period: int | None = None


@register
class Service(Resource[ServiceProps]):
    """A Fargate service. ``create`` waits for the service, not for its tasks: a task that cannot start
    (an image that does not pull) is the service's own event log's story, and would hold the run for
    ever; ``mfprov drift`` shows the desired count, ECS shows the running one."""

    kind = "ecs.service"
    service = "ecs"
    Props = ServiceProps
    replace_on: ClassVar = frozenset({"name", "cluster", "load_balancers"})
    unordered: ClassVar = frozenset({"subnets", "security_group_ids", "load_balancers"})
    not_found_codes: ClassVar = frozenset({"ServiceNotFoundException", "ClusterNotFoundException"})

    def _describe(self, ctx: NodeContext, cluster: str, name: str) -> dict[str, Any] | None:
        try:
            items = ctx.client("ecs").describe_services(cluster=cluster, services=[name], include=["TAGS"])["services"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return next((s for s in items if s.get("status") == "ACTIVE"), None)

    @staticmethod
    def _split(id: str) -> tuple[str, str]:
        cluster, name = id.split("|", 1)
        return cluster, name

    def find(self, ctx: NodeContext, props: ServiceProps) -> str | None:
        return f"{props.cluster}|{props.name}" if self._describe(ctx, props.cluster, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        cluster, name = self._split(id)
        svc = self._describe(ctx, cluster, name)
        if svc is None:
            return None
        net = (svc.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
        props = {
            "name": svc["serviceName"],
            "cluster": cluster,
            "task_definition": svc.get("taskDefinition"),
            "desired_count": svc.get("desiredCount"),
            "subnets": sorted(net.get("subnets", [])),
            "security_group_ids": sorted(net.get("securityGroups", [])),
            "assign_public_ip": net.get("assignPublicIp") == "ENABLED",
            "load_balancers": [
                {
                    "target_group_arn": lb["targetGroupArn"],
                    "container_name": lb["containerName"],
                    "container_port": lb["containerPort"],
                }
                for lb in svc.get("loadBalancers", [])
            ],  # fmt: skip
            "health_check_grace_period": svc.get("healthCheckGracePeriodSeconds"),
            "tags": from_ecs_tags(svc.get("tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": name, "arn": svc["serviceArn"]})

    def _network(self, props: ServiceProps) -> dict[str, Any]:
        return {
            "awsvpcConfiguration": {
                "subnets": props.subnets,
                "securityGroups": props.security_group_ids,
                "assignPublicIp": "ENABLED" if props.assign_public_ip else "DISABLED",
            }
        }

    def _active(self, ctx: NodeContext, id: str) -> bool | str:
        return True if self._describe(ctx, *self._split(id)) else "not yet active"

    def create(self, ctx: NodeContext, props: ServiceProps) -> str:
        kw: dict[str, Any] = {}
        if props.health_check_grace_period is not None:
            kw["healthCheckGracePeriodSeconds"] = props.health_check_grace_period
        ctx.call(
            ctx.client("ecs").create_service,
            # ECS may not yet see a listener made seconds ago on the target group
            retry_on=("InvalidParameterException:does not have an associated load balancer",),
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
            ],  # fmt: skip
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
            propagateTags="SERVICE",
            tags=ecs_tags(ctx.tags),
            **kw,
        )
        id = f"{props.cluster}|{props.name}"
        ctx.created(id)
        ctx.wait("service active", lambda: self._active(ctx, id))
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
        if "health_check_grace_period" in changes and props.health_check_grace_period is not None:
            kw["healthCheckGracePeriodSeconds"] = props.health_check_grace_period
        if kw:
            ctx.client("ecs").update_service(cluster=cluster, service=name, **kw)
        if "tags" in changes:
            ctx.client("ecs").tag_resource(resourceArn=observed.attrs["arn"], tags=ecs_tags(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: ServiceProps | None) -> None:
        cluster, name = self._split(id)
        ecs = ctx.client("ecs")
        ecs.delete_service(cluster=cluster, service=name, force=True)
        ctx.wait("service gone", lambda: self._describe(ctx, cluster, name) is None)
