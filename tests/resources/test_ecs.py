"""The ECS types on moto: each one created, read back equal to the desired, found again, drifted out of band and
repaired, deleted; plus task definitions as a family of revisions (a change registers a new one, the latest
ACTIVE one is read, delete deregisters and deletes them all) and services that are not waited on for tasks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from resources.base import TAG_ADDRESS, resource_type
from tests.resources.drift import (
    WorldChange,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    assert_same,
    changed_fields,
    vpc_with_subnets,
)

MakeCtx = Callable[..., Any]
ROLE = "arn:aws:iam::123456789012:role/ecs-execution"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::"


def _untag(arn: str) -> None:
    boto3.client("ecs").untag_resource(resourceArn=arn, tagKeys=[TAG_ADDRESS])


# -------------------------------------------------------------- cluster


def test_cluster(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ecs.cluster")
    ctx = make_ctx("ecs.cluster.main")
    props = rt.parse_props({"name": "metaflow-abc12345"})
    id = rt.create(ctx, props)
    assert id == "metaflow-abc12345"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["container_insights"] is False
    assert obs.attrs == {
        "id": id,
        "name": id,
        "arn": "arn:aws:ecs:us-east-1:123456789012:cluster/metaflow-abc12345",
    }
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "other"})) is None

    # out of band: Container Insights on, a tag of ours removed
    ecs = boto3.client("ecs")
    ecs.update_cluster(cluster=id, settings=[{"name": "containerInsights", "value": "enabled"}])
    _untag(obs.attrs["arn"])
    drifted = rt.read(ctx, id)
    assert drifted.props["container_insights"] is True
    assert changed_fields(rt, props, drifted, ctx) == {"container_insights", "tags"}
    rt.update(ctx, id, props, drifted, {"container_insights", "tags"})
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # on by config
    on = rt.parse_props({"name": "metaflow-abc12345", "container_insights": True})
    rt.update(ctx, id, on, rt.read(ctx, id), {"container_insights"})
    assert_same(rt, on, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None  # INACTIVE reads as gone
    assert rt.find(ctx, props) is None


def test_cluster_created_with_insights(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ecs.cluster")
    ctx = make_ctx("ecs.cluster.main")
    props = rt.parse_props({"name": "c", "container_insights": True})
    assert_same(rt, props, rt.read(ctx, rt.create(ctx, props)), ctx)


# ------------------------------------------------------ task definition


def _td(family: str = "metaflow-service-abc12345", **over: Any) -> dict[str, Any]:
    container = {
        "name": "metaflow-service-abc12345",
        "image": "netflixoss/metaflow_metadata_service:v2.4.13",
        "port_mappings": [8080, 8082],
        "environment": {"MF_METADATA_DB_HOST": "db.example", "MF_METADATA_DB_PORT": "5432"},
        "secrets": {"MF_METADATA_DB_PSWD": SECRET},
        "log_group": "metaflow-metadata-abc12345",
        "log_region": "us-east-1",
        "log_stream_prefix": "metadata",
    }
    container.update(over.pop("container", {}))
    return {
        "family": family,
        "execution_role_arn": ROLE,
        "task_role_arn": "arn:aws:iam::123456789012:role/task",
        "containers": [container],
        **over,
    }


def test_task_definition(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ecs.task_definition")
    ctx = make_ctx("ecs.task_definition.metadata")
    props = rt.parse_props(_td())
    id = rt.create(ctx, props)
    assert id == "metaflow-service-abc12345"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["containers"][0]["secrets"] == {"MF_METADATA_DB_PSWD": SECRET}  # a reference, kept as given
    arn1 = f"arn:aws:ecs:us-east-1:123456789012:task-definition/{id}:1"
    assert obs.attrs == {"id": id, "family": id, "arn": arn1, "revision": 1}
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props(_td("metaflow-service"))) is None  # a prefix of the family is not it

    ecs = boto3.client("ecs")
    raw = ecs.describe_task_definition(taskDefinition=arn1)["taskDefinition"]
    assert raw["networkMode"] == "awsvpc" and raw["requiresCompatibilities"] == ["FARGATE"]
    assert raw["runtimePlatform"] == {"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}
    assert raw["containerDefinitions"][0]["essential"] is True

    # out of band: a new revision with another image, registered by hand (as a console user would)
    ecs.register_task_definition(
        family=id,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        executionRoleArn=ROLE,
        containerDefinitions=[{**raw["containerDefinitions"][0], "image": "evil:latest"}],
    )
    drifted = rt.read(ctx, id)
    assert drifted.attrs["revision"] == 2 and drifted.props["containers"][0]["image"] == "evil:latest"
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"task_role_arn", "containers", "cpu_architecture", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    fixed = rt.read(ctx, id)
    assert_same(rt, props, fixed, ctx)
    assert fixed.attrs["revision"] == 3  # immutable: repaired by a new revision

    # the latest revision deregistered by hand: the latest ACTIVE one is read
    ecs.deregister_task_definition(taskDefinition=fixed.attrs["arn"])
    assert rt.read(ctx, id).attrs["revision"] == 2

    # a desired change: more memory, a command, another environment
    bigger = rt.parse_props(_td(memory="2048", container={"command": ["/bin/run"], "environment": {"A": "1"}}))
    changes = changed_fields(rt, bigger, rt.read(ctx, id), ctx)
    assert {"memory", "containers"} <= changes
    rt.update(ctx, id, bigger, rt.read(ctx, id), changes)
    now = rt.read(ctx, id)
    assert_same(rt, bigger, now, ctx)
    assert now.attrs["revision"] == 4

    # only the tags: tagged in place, no new revision
    _untag(now.attrs["arn"])
    assert changed_fields(rt, bigger, rt.read(ctx, id), ctx) == {"tags"}
    rt.update(ctx, id, bigger, rt.read(ctx, id), {"tags"})
    assert rt.read(ctx, id).attrs["revision"] == 4
    assert_same(rt, bigger, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, now.attrs, bigger)
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    assert ecs.list_task_definitions(familyPrefix=id, status="ACTIVE")["taskDefinitionArns"] == []
    assert ecs.list_task_definitions(familyPrefix=id, status="INACTIVE")["taskDefinitionArns"] == []
    rt.delete(ctx, id, now.attrs, bigger)  # nothing left: nothing to do


def test_task_definition_minimal_and_never_created(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ecs.task_definition")
    ctx = make_ctx("ecs.task_definition.other")
    assert rt.read(ctx, "never-registered") is None
    props = rt.parse_props(
        {
            "family": "small",
            "execution_role_arn": ROLE,
            "cpu_architecture": "ARM64",
            "containers": [
                {"name": "c", "image": "busybox", "command": [], "log_group": "g", "log_region": "us-east-1"}
            ],
        }
    )
    assert props.containers[0].command is None  # an empty command is the image's own
    assert_same(rt, props, rt.read(ctx, rt.create(ctx, props)), ctx)


# -------------------------------------------------------------- service


def _service_world(make_ctx: MakeCtx) -> dict[str, Any]:
    """A VPC with two subnets and two groups, a cluster, two task definition revisions, an NLB target group."""
    ec2 = boto3.client("ec2")
    vpc, subnets = vpc_with_subnets()
    sgs = [ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("svc", "other")]
    cluster: Any = resource_type("ecs.cluster")
    cluster.create(make_ctx("ecs.cluster.main"), cluster.parse_props({"name": "main"}))
    td: Any = resource_type("ecs.task_definition")
    td_ctx = make_ctx("ecs.task_definition.metadata")
    td.create(td_ctx, td.parse_props(_td("svc")))
    rev1 = td.read(td_ctx, "svc").attrs["arn"]
    td.update(td_ctx, "svc", td.parse_props(_td("svc", cpu="1024", memory="2048")), td.read(td_ctx, "svc"), {"cpu"})
    rev2 = td.read(td_ctx, "svc").attrs["arn"]
    elb = boto3.client("elbv2")
    lb = elb.create_load_balancer(Name="nlb", Type="network", Scheme="internal", Subnets=subnets)["LoadBalancers"][0]
    tg = elb.create_target_group(Name="tg", Protocol="TCP", Port=8080, VpcId=vpc, TargetType="ip")["TargetGroups"][0]
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Port=80,
        Protocol="TCP",
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    return {"subnets": subnets, "sgs": sgs, "rev1": rev1, "rev2": rev2, "tg": tg["TargetGroupArn"]}


def _service_props(rt: Any, w: dict[str, Any], **extra: Any) -> Any:
    """The metadata service in the world of ``_service_world``: the first revision, both subnets, the first group,
    behind the target group; and ``extra``."""
    return rt.parse_props(
        {
            "name": "metaflow-metadata-service",
            "cluster": "main",
            "task_definition": w["rev1"],
            "subnets": w["subnets"],
            "security_group_ids": w["sgs"][:1],
            "load_balancers": [
                {"target_group_arn": w["tg"], "container_name": "metaflow-service-abc12345", "container_port": 8080}
            ],
        }
        | extra
    )


def test_service(make_ctx: MakeCtx) -> None:
    w = _service_world(make_ctx)
    rt: Any = resource_type("ecs.service")
    ctx = make_ctx("ecs.service.metadata")
    props = _service_props(rt, w)
    id = rt.create(ctx, props)  # returns although moto never starts a task
    assert id == "main|metaflow-metadata-service"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    arn = "arn:aws:ecs:us-east-1:123456789012:service/main/metaflow-metadata-service"
    assert obs.attrs == {
        "id": id,
        "name": "metaflow-metadata-service",
        "arn": arn,
        "cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/main",
    }
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({**props.model_dump(), "name": "other"})) is None

    raw = boto3.client("ecs").describe_services(cluster="main", services=[props.name])["services"][0]
    assert raw["launchType"] == "FARGATE" and raw["propagateTags"] == "SERVICE"

    # moto drops healthCheckGracePeriodSeconds and enableExecuteCommand in CreateService (UpdateService keeps
    # them), so those two are tested through update: wanted on, read back on
    props = rt.parse_props({**props.model_dump(), "health_check_grace_period": 60, "enable_execute_command": True})
    changes = changed_fields(rt, props, rt.read(ctx, id), ctx)
    assert changes == {"health_check_grace_period", "enable_execute_command"}
    rt.update(ctx, id, props, rt.read(ctx, id), changes)
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # out of band: scaled, another group, public IP on, exec off, grace period gone, a tag removed
    ecs = boto3.client("ecs")
    ecs.update_service(
        cluster="main",
        service=props.name,
        desiredCount=3,
        enableExecuteCommand=False,
        healthCheckGracePeriodSeconds=0,
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": w["subnets"], "securityGroups": w["sgs"], "assignPublicIp": "ENABLED"}
        },
    )
    _untag(arn)
    drifted = rt.read(ctx, id)
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {
        "desired_count",
        "security_group_ids",
        "assign_public_ip",
        "enable_execute_command",
        "health_check_grace_period",
        "tags",
    }
    rt.update(ctx, id, props, drifted, changes)
    assert_same(rt, props, rt.read(ctx, id), ctx)

    # a new task definition revision, rolled out by update
    newer = rt.parse_props({**props.model_dump(), "task_definition": w["rev2"], "health_check_grace_period": None})
    changes = changed_fields(rt, newer, rt.read(ctx, id), ctx)
    assert changes == {"task_definition", "health_check_grace_period"}
    rt.update(ctx, id, newer, rt.read(ctx, id), changes)
    assert_same(rt, newer, rt.read(ctx, id), ctx)
    assert rt.replace_on == {"name", "cluster", "load_balancers"}

    rt.delete(ctx, id, obs.attrs, newer)
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    assert ecs.describe_services(cluster="main", services=[props.name])["services"][0]["status"] == "INACTIVE"


def test_service_in_a_missing_cluster_reads_as_gone(make_ctx: MakeCtx) -> None:
    rt: Any = resource_type("ecs.service")
    ctx = make_ctx("ecs.service.metadata")
    assert rt.read(ctx, "nope|svc") is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, "nope|svc", {}, None)
    assert rt.missing(gone.value)


def test_grace_period_zero_is_none() -> None:
    rt: Any = resource_type("ecs.service")
    base = {"name": "s", "cluster": "c", "task_definition": "t", "subnets": [], "security_group_ids": []}
    assert rt.parse_props({**base, "health_check_grace_period": 0}).health_check_grace_period is None


# ------------------------------------------------------------------ every field drifted out of band, one at a time


def _ecs() -> Any:
    return boto3.client("ecs")


def _cluster_arn(id: str) -> str:
    return str(_ecs().describe_clusters(clusters=[id])["clusters"][0]["clusterArn"])


#: ecs.cluster: (field, out-of-band change)
CLUSTER_CASES = [
    pytest.param(
        "container_insights",
        lambda w, id: _ecs().update_cluster(cluster=id, settings=[{"name": "containerInsights", "value": "disabled"}]),
        id="container_insights",
    ),
    pytest.param("tags", lambda w, id: _untag(_cluster_arn(id)), id="tags"),
]
#: ecs.cluster fields ECS offers no call to change
CLUSTER_NO_CALL = {"name": "no rename in ECS"}


@pytest.mark.parametrize(("field", "change"), CLUSTER_CASES)
def test_cluster_field_drift(make_ctx: MakeCtx, field: str, change: WorldChange) -> None:
    rt: Any = resource_type("ecs.cluster")
    ctx = make_ctx("ecs.cluster.main")
    props = rt.parse_props({"name": "metaflow-abc12345", "container_insights": True})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change({}, id))


def _reregister(id: str, **changes: Any) -> None:
    """A new revision of the family registered by hand, as the latest one but for ``changes`` (None drops a key):
    the console's "create new revision"."""
    got = _ecs().describe_task_definition(taskDefinition=id, include=["TAGS"])
    td = got["taskDefinition"]
    keep = ("family", "networkMode", "requiresCompatibilities", "cpu", "memory", "executionRoleArn", "taskRoleArn")
    kw = {k: td[k] for k in keep if k in td}
    kw |= {"containerDefinitions": td["containerDefinitions"], "runtimePlatform": td["runtimePlatform"]}
    kw |= {"tags": got.get("tags") or []} | changes
    _ecs().register_task_definition(**{k: v for k, v in kw.items() if v is not None})


def _container(id: str, **changes: Any) -> None:
    """A new revision by hand whose first container differs by ``changes``."""
    first = _ecs().describe_task_definition(taskDefinition=id)["taskDefinition"]["containerDefinitions"][0]
    _reregister(id, containerDefinitions=[first | changes])


def _sidecar(id: str) -> None:
    first = _ecs().describe_task_definition(taskDefinition=id)["taskDefinition"]["containerDefinitions"][0]
    _reregister(id, containerDefinitions=[first, {**first, "name": "sidecar", "portMappings": []}])


def _td_tags_off(id: str) -> None:
    _untag(_ecs().describe_task_definition(taskDefinition=id)["taskDefinition"]["taskDefinitionArn"])


_LOGS = {"awslogs-group": "elsewhere", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "metadata"}

#: ecs.task_definition: (field, out-of-band change). Revisions are immutable: every change out of band is a new
#: revision registered by hand, and the repair is a new revision too.
TD_CASES = [
    pytest.param("cpu", lambda w, id: _reregister(id, cpu="512"), id="cpu"),
    pytest.param("memory", lambda w, id: _reregister(id, memory="4096"), id="memory"),
    pytest.param("execution_role_arn", lambda w, id: _reregister(id, executionRoleArn=w["role"]), id="execution_role"),
    pytest.param("task_role_arn", lambda w, id: _reregister(id, taskRoleArn=w["role"]), id="task_role-other"),
    pytest.param("task_role_arn", lambda w, id: _reregister(id, taskRoleArn=None), id="task_role-none"),
    pytest.param("containers", lambda w, id: _container(id, image="evil:latest"), id="container-image"),
    pytest.param(
        "containers",
        lambda w, id: _container(id, environment=[{"name": "MF_METADATA_DB_HOST", "value": "other.example"}]),
        id="container-environment",
    ),
    pytest.param(
        "containers",
        lambda w, id: _container(id, secrets=[{"name": "MF_METADATA_DB_PSWD", "valueFrom": SECRET + "x"}]),
        id="container-secrets",
    ),
    pytest.param("containers", lambda w, id: _container(id, command=["/bin/other"]), id="container-command"),
    pytest.param(
        "containers",
        lambda w, id: _container(id, portMappings=[{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]),
        id="container-ports",
    ),
    pytest.param(
        "containers",
        lambda w, id: _container(id, logConfiguration={"logDriver": "awslogs", "options": _LOGS}),
        id="container-log-group",
    ),
    pytest.param("containers", lambda w, id: _sidecar(id), id="container-added"),
    pytest.param(
        "cpu_architecture",
        lambda w, id: _reregister(id, runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "X86_64"}),
        id="cpu_architecture",
    ),
    pytest.param("tags", lambda w, id: _td_tags_off(id), id="tags"),
]
#: ecs.task_definition fields ECS offers no call to change: a revision of another family is another family
TD_NO_CALL = {"family": "no rename of a family"}


@pytest.mark.parametrize(("field", "change"), TD_CASES)
def test_task_definition_field_drift(make_ctx: MakeCtx, field: str, change: WorldChange) -> None:
    rt: Any = resource_type("ecs.task_definition")
    ctx = make_ctx("ecs.task_definition.metadata")
    props = rt.parse_props(
        _td(cpu="1024", memory="2048", cpu_architecture="ARM64", container={"command": ["/opt/latest/bin/start"]})
    )
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(
        rt, ctx, id, props, field, lambda: change({"role": "arn:aws:iam::123456789012:role/other"}, id)
    )


def _update_service(id: str, **kw: Any) -> None:
    cluster, name = id.split("|")
    _ecs().update_service(cluster=cluster, service=name, **kw)


def _network(
    w: dict[str, Any], subnets: list[str] | None = None, sgs: list[str] | None = None, ip: str = "DISABLED"
) -> dict[str, Any]:
    vpc = {"subnets": subnets or w["subnets"], "securityGroups": sgs or w["sgs"][:1], "assignPublicIp": ip}
    return {"awsvpcConfiguration": vpc}


def _service_tags_off(id: str) -> None:
    cluster, name = id.split("|")
    _untag(_ecs().describe_services(cluster=cluster, services=[name])["services"][0]["serviceArn"])


#: ecs.service: (field, out-of-band change)
SERVICE_CASES = [
    pytest.param("task_definition", lambda w, id: _update_service(id, taskDefinition=w["rev2"]), id="task_definition"),
    pytest.param("desired_count", lambda w, id: _update_service(id, desiredCount=3), id="desired_count"),
    pytest.param(
        "subnets",
        lambda w, id: _update_service(id, networkConfiguration=_network(w, subnets=w["subnets"][:1])),
        id="subnets",
    ),
    pytest.param(
        "security_group_ids",
        lambda w, id: _update_service(id, networkConfiguration=_network(w, sgs=w["sgs"])),
        id="security_group_ids",
    ),
    pytest.param(
        "assign_public_ip",
        lambda w, id: _update_service(id, networkConfiguration=_network(w, ip="ENABLED")),
        id="assign_public_ip",
    ),
    pytest.param(
        "load_balancers",
        lambda w, id: _update_service(
            id,
            loadBalancers=[
                {"targetGroupArn": w["tg"], "containerName": "metaflow-service-abc12345", "containerPort": 8082}
            ],
        ),
        id="load_balancers",
    ),
    pytest.param(
        "health_check_grace_period",
        lambda w, id: _update_service(id, healthCheckGracePeriodSeconds=0),
        id="grace_period-none",
    ),
    pytest.param(
        "health_check_grace_period",
        lambda w, id: _update_service(id, healthCheckGracePeriodSeconds=300),
        id="grace_period-other",
    ),
    pytest.param(
        "enable_execute_command",
        lambda w, id: _update_service(id, enableExecuteCommand=False),
        id="enable_execute_command",
    ),
    pytest.param("tags", lambda w, id: _service_tags_off(id), id="tags"),
]
#: ecs.service fields ECS offers no call to change
SERVICE_NO_CALL = {"name": "no rename in ECS", "cluster": "a service cannot move to another cluster"}


@pytest.mark.parametrize(("field", "change"), SERVICE_CASES)
def test_service_field_drift(make_ctx: MakeCtx, field: str, change: WorldChange) -> None:
    w = _service_world(make_ctx)
    rt: Any = resource_type("ecs.service")
    ctx = make_ctx("ecs.service.metadata")
    props = _service_props(rt, w, desired_count=2, health_check_grace_period=60, enable_execute_command=True)
    id = rt.create(ctx, props)
    # moto drops these two in CreateService (see test_service); UpdateService keeps them
    rt.update(ctx, id, props, rt.read(ctx, id), {"health_check_grace_period", "enable_execute_command"})
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(w, id))


@pytest.mark.parametrize(
    ("kind", "cases", "no_call"),
    [
        ("ecs.cluster", CLUSTER_CASES, CLUSTER_NO_CALL),
        ("ecs.task_definition", TD_CASES, TD_NO_CALL),
        ("ecs.service", SERVICE_CASES, SERVICE_NO_CALL),
    ],
)
def test_every_managed_field_has_a_drift_case(kind: str, cases: list[Any], no_call: dict[str, str]) -> None:
    assert_every_managed_field_has_a_case(kind, cases, no_call)
