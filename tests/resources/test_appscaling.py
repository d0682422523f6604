"""The Application Auto Scaling types on moto: a scalable target of an ECS service and a target-tracking policy,
each created, read back equal to the desired, found again, drifted out of band and repaired, deleted; plus
scale to zero, min <= max, the retries while AWS does not yet see a new service or target, and a whole life of a
scalable target on plain moto (no stand-in at all), as in the moto-server sandbox. Neither type is tagged (moto
has no tag calls for this service), so there is no tag drift to test.

Stand-in for a moto gap (moto 5.2.5), in the ``moto_gaps`` fixture: moto answers a deregister or policy delete of
something absent with ValidationException where AWS answers ObjectNotFoundException (what ``missing`` and so the
engine's "already deleted" rely on).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.core.exceptions import JsonRESTError
from pydantic import ValidationError

from provisioner.engine.compare import diff
from resources.base import resource_type
from tests.resources.drift import assert_same, changed_fields

MakeCtx = Callable[..., Any]
CLUSTER, SERVICE = "mlflow", "mlflow"
RESOURCE = f"service/{CLUSTER}/{SERVICE}"
DIMENSION = "ecs:service:DesiredCount"


# ---------------------------------------------------------------- moto gaps


class _ObjectNotFound(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ObjectNotFoundException", message)


@pytest.fixture
def moto_gaps(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The stand-in for what moto lacks (see the module docstring); it behaves as AWS documents."""

    original_deregister = ApplicationAutoscalingBackend.deregister_scalable_target
    original_delete_policy = ApplicationAutoscalingBackend.delete_scaling_policy

    def deregister(self: ApplicationAutoscalingBackend, namespace: str, r_id: str, dimension: str) -> None:
        if not self._scalable_target_exists(r_id, dimension):
            raise _ObjectNotFound(f"No scalable target registered for {namespace} {r_id} {dimension}")
        original_deregister(self, namespace, r_id, dimension)

    def delete_policy(self: ApplicationAutoscalingBackend, **kw: str) -> None:
        try:
            original_delete_policy(self, **kw)
        except JsonRESTError as err:
            raise _ObjectNotFound(f"No scaling policy found: {kw['policy_name']}") from err

    monkeypatch.setattr(ApplicationAutoscalingBackend, "deregister_scalable_target", deregister)
    monkeypatch.setattr(ApplicationAutoscalingBackend, "delete_scaling_policy", delete_policy)
    yield


@pytest.fixture
def ecs_service(aws: Any) -> str:
    """moto registers a target only for an ECS service that exists: make one with plain calls."""
    ecs = boto3.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family="mlflow", containerDefinitions=[{"name": "mlflow", "image": "mlflow:latest", "memory": 512}]
    )
    for name in (SERVICE, "other"):
        ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition="mlflow", desiredCount=1)
    return RESOURCE


def _target_props(rt: Any, **kw: Any) -> Any:
    return rt.parse_props({"resource_id": RESOURCE, "min_capacity": 0, "max_capacity": 2} | kw)


# ------------------------------------------------------------ scalable target


def test_scalable_target(make_ctx: MakeCtx, ecs_service: str, moto_gaps: None) -> None:
    rt: Any = resource_type("appscaling.scalable_target")
    ctx = make_ctx("appscaling.scalable_target.mlflow")
    props = _target_props(rt)  # min 0: scale to zero
    id = rt.create(ctx, props)
    assert id == f"ecs|{RESOURCE}|{DIMENSION}"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    assert obs.props["min_capacity"] == 0
    arn = obs.attrs["arn"]
    assert arn.startswith("arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/")
    assert obs.attrs == {
        "id": id,
        "arn": arn,
        "service_namespace": "ecs",
        "resource_id": RESOURCE,
        "scalable_dimension": DIMENSION,
    }
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, _target_props(rt, resource_id=f"service/{CLUSTER}/other")) is None
    assert rt.read_many(ctx, [id, f"ecs|service/{CLUSTER}/other|{DIMENSION}"]) == {id: obs}

    # untagged: the target's identity is its resource, so whichever stack asks finds the one target there
    assert not rt.taggable
    assert "tags" not in obs.props
    assert rt.find(make_ctx("appscaling.scalable_target.mlflow", stack="other"), props) == id

    # out of band, one field at a time: max and min capacity by a plain re-register
    aas = boto3.client("application-autoscaling")
    drifts: list[tuple[str, Callable[[], Any]]] = [
        (
            "max_capacity",
            lambda: aas.register_scalable_target(
                ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension=DIMENSION, MaxCapacity=5
            ),
        ),
        (
            "min_capacity",
            lambda: aas.register_scalable_target(
                ServiceNamespace="ecs", ResourceId=RESOURCE, ScalableDimension=DIMENSION, MinCapacity=1
            ),
        ),
    ]
    for field, change in drifts:
        change()
        drifted = rt.read(ctx, id)
        changes = changed_fields(rt, props, drifted, ctx)
        assert changes == {field}, field
        rt.update(ctx, id, props, drifted, changes)
        assert_same(rt, props, rt.read(ctx, id), ctx)
    assert rt.read(ctx, id).attrs["arn"] == arn  # repaired in place, not a new target

    # a desired change of capacity is an update, of the resource a replacement
    bigger = _target_props(rt, min_capacity=2, max_capacity=8)
    assert changed_fields(rt, bigger, rt.read(ctx, id), ctx) == {"min_capacity", "max_capacity"}
    rt.update(ctx, id, bigger, rt.read(ctx, id), {"min_capacity", "max_capacity"})
    assert_same(rt, bigger, rt.read(ctx, id), ctx)
    moved = diff(rt, _target_props(rt, resource_id=f"service/{CLUSTER}/other").model_dump(mode="json"), obs.props)
    assert [(c.field, c.forces_replacement) for c in moved] == [("resource_id", True)]

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert aas.describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"] == []
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


def test_scalable_target_validation() -> None:
    rt: Any = resource_type("appscaling.scalable_target")
    with pytest.raises(ValidationError, match="larger than max_capacity"):
        _target_props(rt, min_capacity=3, max_capacity=2)
    with pytest.raises(ValidationError):
        _target_props(rt, min_capacity=-1)
    with pytest.raises(ValidationError, match="does not belong to namespace"):
        _target_props(rt, service_namespace="dynamodb")
    with pytest.raises(ValidationError, match="contain no"):
        _target_props(rt, resource_id="service/a|b/c")
    assert _target_props(rt, min_capacity=0, max_capacity=0).max_capacity == 0
    assert rt.replace_on == {"service_namespace", "resource_id", "scalable_dimension"}


def test_scalable_target_waits_for_a_new_service(
    make_ctx: MakeCtx, ecs_service: str, moto_gaps: None, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ECS service created seconds ago is not yet visible to Application Auto Scaling: retried."""
    rt: Any = resource_type("appscaling.scalable_target")
    ctx = make_ctx("appscaling.scalable_target.mlflow")
    client = aws.client("application-autoscaling")
    real = client.register_scalable_target
    calls: list[str] = []

    def not_yet_then_real(**kw: Any) -> Any:
        calls.append(kw["ResourceId"])
        if len(calls) == 1:
            raise ClientError(
                {"Error": {"Code": "ValidationException", "Message": f"ECS service doesn't exist: {RESOURCE}"}},
                "RegisterScalableTarget",
            )
        return real(**kw)

    monkeypatch.setattr(client, "register_scalable_target", not_yet_then_real)
    id = rt.create(ctx, _target_props(rt))
    assert calls == [RESOURCE, RESOURCE]
    assert rt.read(ctx, id) is not None


def test_scalable_target_on_plain_moto(make_ctx: MakeCtx, ecs_service: str, aws: Any) -> None:
    """A scalable target's whole life on moto with no stand-in (no ``moto_gaps``), as in the moto-server sandbox:
    only calls moto implements are sent, and no Tags."""
    rt: Any = resource_type("appscaling.scalable_target")
    ctx = make_ctx("appscaling.scalable_target.mlflow")
    sent: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, dict(params)))

    aws.client("application-autoscaling").meta.events.register("provide-client-params.application-autoscaling", record)

    props = _target_props(rt)
    id = rt.create(ctx, props)
    assert_same(rt, props, rt.read(ctx, id), ctx)
    assert rt.find(ctx, props) == id
    assert set(rt.read_many(ctx, [id])) == {id}

    bigger = _target_props(rt, min_capacity=1, max_capacity=6)
    changes = changed_fields(rt, bigger, rt.read(ctx, id), ctx)
    assert changes == {"min_capacity", "max_capacity"}
    rt.update(ctx, id, bigger, rt.read(ctx, id), changes)
    assert_same(rt, bigger, rt.read(ctx, id), ctx)

    rt.delete(ctx, id, {}, bigger)
    assert rt.read(ctx, id) is None
    assert rt.read_many(ctx, [id]) == {}

    assert {op for op, _ in sent} == {"RegisterScalableTarget", "DescribeScalableTargets", "DeregisterScalableTarget"}
    assert all("Tags" not in params for _, params in sent)


# ------------------------------------------------------------- scaling policy


def _policy_props(rt: Any, **kw: Any) -> Any:
    return rt.parse_props({"name": "mlflow-cpu", "resource_id": RESOURCE, "target_value": 70} | kw)


def test_scaling_policy(make_ctx: MakeCtx, ecs_service: str, moto_gaps: None) -> None:
    target_rt: Any = resource_type("appscaling.scalable_target")
    target_rt.create(make_ctx("appscaling.scalable_target.mlflow"), _target_props(target_rt, max_capacity=4))

    rt: Any = resource_type("appscaling.scaling_policy")
    ctx = make_ctx("appscaling.scaling_policy.cpu")
    props = _policy_props(rt)
    assert props.target_value == 70.0 and props.scale_in_cooldown == props.scale_out_cooldown == 300
    id = rt.create(ctx, props)
    assert id == f"ecs|{RESOURCE}|{DIMENSION}|mlflow-cpu"

    obs = rt.read(ctx, id)
    assert_same(rt, props, obs, ctx)
    arn = obs.attrs["arn"]
    assert obs.attrs == {"id": id, "arn": arn, "name": "mlflow-cpu"}
    assert f":resource/ecs/{RESOURCE}:policyName/mlflow-cpu" in arn
    assert not rt.taggable
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, _policy_props(rt, name="mlflow-memory")) is None
    assert rt.find(ctx, _policy_props(rt, resource_id=f"service/{CLUSTER}/other")) is None
    assert rt.read_many(ctx, [id, f"ecs|{RESOURCE}|{DIMENSION}|absent"]) == {id: obs}

    # out of band, one field at a time, by a plain PutScalingPolicy with one value different
    aas = boto3.client("application-autoscaling")
    base = {
        "TargetValue": 70.0,
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 300,
        "DisableScaleIn": False,
    }
    drifts: list[tuple[str, dict[str, Any]]] = [
        ("target_value", {"TargetValue": 40.0}),
        ("scale_in_cooldown", {"ScaleInCooldown": 60}),
        ("scale_out_cooldown", {"ScaleOutCooldown": 30}),
        ("disable_scale_in", {"DisableScaleIn": True}),
        (
            "predefined_metric",
            {"PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageMemoryUtilization"}},
        ),
        (
            "resource_label",
            {
                "PredefinedMetricSpecification": {
                    "PredefinedMetricType": "ECSServiceAverageCPUUtilization",
                    "ResourceLabel": "app/lb/1/targetgroup/tg/2",
                }
            },
        ),
    ]
    for field, change in drifts:
        aas.put_scaling_policy(
            PolicyName="mlflow-cpu",
            ServiceNamespace="ecs",
            ResourceId=RESOURCE,
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=base | change,
        )
        drifted = rt.read(ctx, id)
        changes = changed_fields(rt, props, drifted, ctx)
        assert changes == {field}, field
        rt.update(ctx, id, props, drifted, changes)
        assert_same(rt, props, rt.read(ctx, id), ctx)

    # a desired change is a put; another name or target is a replacement
    memory = _policy_props(
        rt, predefined_metric="ECSServiceAverageMemoryUtilization", target_value=80.5, disable_scale_in=True
    )
    assert changed_fields(rt, memory, rt.read(ctx, id), ctx) == {
        "predefined_metric",
        "target_value",
        "disable_scale_in",
    }
    rt.update(ctx, id, memory, rt.read(ctx, id), {"predefined_metric", "target_value", "disable_scale_in"})
    assert_same(rt, memory, rt.read(ctx, id), ctx)
    renamed = diff(rt, _policy_props(rt, name="mlflow-cpu-2").model_dump(mode="json"), obs.props)
    assert [(c.field, c.forces_replacement) for c in renamed] == [("name", True)]

    # the ARN lacks the dimension: read (and so a sweep) finds the policy by it. (moto gives every put a new ARN)
    arn = rt.read(ctx, id).attrs["arn"]
    assert rt.id_from_arn(arn) == arn
    assert rt.read(ctx, arn).id == id

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.read(ctx, arn) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


def test_scaling_policy_waits_for_its_target(
    make_ctx: MakeCtx, ecs_service: str, aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS answers ObjectNotFoundException while the target is not visible yet (moto accepts a policy without
    any target): the put is retried."""
    rt: Any = resource_type("appscaling.scaling_policy")
    ctx = make_ctx("appscaling.scaling_policy.cpu")
    client = aws.client("application-autoscaling")
    real = client.put_scaling_policy
    calls: list[str] = []

    def not_yet_then_real(**kw: Any) -> Any:
        calls.append(kw["PolicyName"])
        if len(calls) == 1:
            raise ClientError(
                {"Error": {"Code": "ObjectNotFoundException", "Message": "No scalable target registered"}},
                "PutScalingPolicy",
            )
        return real(**kw)

    monkeypatch.setattr(client, "put_scaling_policy", not_yet_then_real)
    id = rt.create(ctx, _policy_props(rt))
    assert calls == ["mlflow-cpu", "mlflow-cpu"]
    assert rt.read(ctx, id) is not None


def test_scaling_policy_validation() -> None:
    rt: Any = resource_type("appscaling.scaling_policy")
    with pytest.raises(ValidationError):
        _policy_props(rt, target_value=0)
    with pytest.raises(ValidationError):
        _policy_props(rt, scale_in_cooldown=-1)
    with pytest.raises(ValidationError):
        _policy_props(rt, name="")
