"""Batch compute environments and job queues: read back, drift repaired, batched reads (one call), the props checks,
an INVALID status failing with its reason, IAM propagation retried, and delete that disables first.

moto creates MANAGED compute environments without Docker (it only needs Docker to run jobs). It ignores
``computeResources`` in UpdateComputeEnvironment, so the vCPU update test checks the request sent, not the
read-back; the per-field drift cases at the end run with a marked stand-in that applies them, as AWS does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from provisioner.core.retry import WaitFailed
from provisioner.core.session import ClientFactory
from provisioner.engine.compare import comparable
from resources.base import TAG_ADDRESS, resource_type
from tests.resources.drift import (
    WorldChange,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    managed_fields,
    read_back,
    vpc_with_subnets,
)


def _want(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    """The desired props in comparison form (unordered lists sorted), behaviour fields left out, with the tags."""
    return comparable(rt, read_back(rt, props, ctx))


def _have(rt: Any, obs: Any) -> dict[str, Any]:
    """The read props in comparison form, which are all the managed fields."""
    assert set(obs.props) == managed_fields(rt)
    return comparable(rt, obs.props)


def _trust(service: str) -> str:
    return (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"'
        + service
        + '"},"Action":"sts:AssumeRole"}]}'
    )


@pytest.fixture
def infra(aws: ClientFactory) -> dict[str, Any]:
    """A VPC with two subnets and a security group, the Batch service role, the ECS instance profile and a
    launch template, made with raw boto3."""
    ec2 = boto3.client("ec2")
    vpc, subnets = vpc_with_subnets(cidr="10.9", first=0)
    sg = ec2.create_security_group(GroupName="mf-batch", Description="batch", VpcId=vpc)["GroupId"]
    lt = ec2.create_launch_template(LaunchTemplateName="mf-lt", LaunchTemplateData={})["LaunchTemplate"]
    iam = boto3.client("iam")
    service_role = iam.create_role(RoleName="mf-batch-svc", AssumeRolePolicyDocument=_trust("batch.amazonaws.com"))
    iam.create_role(RoleName="mf-ecs-instance", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com"))
    profile = iam.create_instance_profile(InstanceProfileName="mf-ecs-instance")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="mf-ecs-instance", RoleName="mf-ecs-instance")
    return {
        "subnets": subnets,
        "security_group_ids": [sg],
        "service_role": service_role["Role"]["Arn"],
        "instance_role": profile["Arn"],
        "launch_template_id": lt["LaunchTemplateId"],
    }


def _ce_props(infra: dict[str, Any], name: str, **extra: Any) -> Any:
    raw = {"name": name, **infra} | extra
    return resource_type("batch.compute_environment").parse_props(raw)


def test_compute_environment_lifecycle(make_ctx: Callable[..., Any], infra: dict[str, Any], aws: ClientFactory) -> None:
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.cpu")
    props = _ce_props(infra, "mf-cpu", launch_template_version="$Default", desired_vcpus=2, max_vcpus=64)
    id = rt.create(ctx, props)
    assert id == "mf-cpu"

    obs = rt.read(ctx, id)
    assert _have(rt, obs) == _want(rt, props, ctx)
    assert "desired_vcpus" not in obs.props  # Batch moves it at runtime: never compared
    assert obs.props["allocation_strategy"] == "SPOT_CAPACITY_OPTIMIZED"
    assert obs.attrs == {
        "id": id,
        "name": id,
        "arn": f"arn:aws:batch:us-east-1:123456789012:compute-environment/{id}",
    }
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, _ce_props(infra, "mf-cp")) is None
    sent = boto3.client("batch").describe_compute_environments(computeEnvironments=[id])["computeEnvironments"][0]
    assert sent["type"] == "MANAGED" and sent["computeResources"]["desiredvCpus"] == 2
    assert sent["computeResources"]["launchTemplate"] == {
        "launchTemplateId": infra["launch_template_id"],
        "version": "$Default",
    }

    # out of band: disabled, a tag removed
    batch = boto3.client("batch")
    batch.update_compute_environment(computeEnvironment=id, state="DISABLED")
    batch.untag_resource(resourceArn=obs.attrs["arn"], tagKeys=[TAG_ADDRESS])
    drifted = rt.read(ctx, id)
    assert drifted.props["state"] == "DISABLED"
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"state", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert _have(rt, rt.read(ctx, id)) == _want(rt, props, ctx)

    # a desired-vCPU difference alone is no change
    assert changed_fields(rt, _ce_props(infra, "mf-cpu", launch_template_version="$Default"), obs, ctx) == set()

    aws.recorder.reset()
    rt.delete(ctx, id, obs.attrs, props)
    assert aws.recorder.mutating() == {"batch:UpdateComputeEnvironment": 1, "batch:DeleteComputeEnvironment": 1}
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    # Batch has no not-found error for a CE: a second delete finds nothing and does nothing
    aws.recorder.reset()
    rt.delete(ctx, id, obs.attrs, props)
    assert aws.recorder.mutating() == {}


def test_vcpu_and_service_role_update_request(
    make_ctx: Callable[..., Any], infra: dict[str, Any], aws: ClientFactory
) -> None:
    """moto accepts UpdateComputeEnvironment's computeResources and ignores them, so the read-back cannot show the
    change: check the one request update sends (botocore validated it against the API model)."""
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.scale")
    props = _ce_props(infra, "mf-scale")
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    iam = boto3.client("iam")
    new_role = iam.create_role(RoleName="mf-batch-svc-2", AssumeRolePolicyDocument=_trust("batch.amazonaws.com"))
    bigger = _ce_props(
        infra | {"service_role": new_role["Role"]["Arn"]}, "mf-scale", min_vcpus=2, desired_vcpus=2, max_vcpus=128
    )
    changes = changed_fields(rt, bigger, obs, ctx)
    assert changes == {"min_vcpus", "max_vcpus", "service_role"}

    sent: list[dict[str, Any]] = []
    client = ctx.client("batch")

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client.meta.events.register("provide-client-params.batch.UpdateComputeEnvironment", capture)
    aws.recorder.reset()
    try:
        rt.update(ctx, id, bigger, obs, changes)
    finally:
        client.meta.events.unregister("provide-client-params.batch.UpdateComputeEnvironment", capture)
    assert aws.recorder.mutating() == {"batch:UpdateComputeEnvironment": 1}
    assert sent == [
        {
            "computeEnvironment": id,
            "computeResources": {"maxvCpus": 128, "minvCpus": 2},
            "serviceRole": new_role["Role"]["Arn"],
        }
    ]
    after = rt.read(ctx, id)
    assert after.props["service_role"] == new_role["Role"]["Arn"]  # moto applies this part
    assert after.props["max_vcpus"] == 64  # ...and not this one (moto gap)


def test_fargate_compute_environment(make_ctx: Callable[..., Any], infra: dict[str, Any]) -> None:
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.fargate")
    props = rt.parse_props(
        {
            "name": "mf-fargate",
            "compute_type": "FARGATE_SPOT",
            "subnets": infra["subnets"],
            "security_group_ids": infra["security_group_ids"],
            "service_role": infra["service_role"],
        }
    )
    assert props.allocation_strategy is None and props.instance_types == []
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert _have(rt, obs) == _want(rt, props, ctx)
    cr = boto3.client("batch").describe_compute_environments(computeEnvironments=[id])["computeEnvironments"][0]
    assert set(cr["computeResources"]) == {"type", "maxvCpus", "subnets", "securityGroupIds"}
    # a parse of the dumped props (what the state keeps) validates again
    assert rt.parse_props(props.model_dump(mode="json")) == props


def test_duplicate_create_and_iam_propagation_retry(
    make_ctx: Callable[..., Any], infra: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.retry")
    client = ctx.client("batch")
    real = client.create_compute_environment
    attempts: list[int] = []

    def not_yet_then_real(**kw: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            # what AWS answers while the new instance profile has not propagated
            error = {"Code": "ClientException", "Message": "Invalid IamInstanceProfile: mf-ecs-instance"}
            raise ClientError({"Error": error}, "CreateComputeEnvironment")
        return real(**kw)

    monkeypatch.setattr(client, "create_compute_environment", not_yet_then_real)
    props = _ce_props(infra, "mf-retry")
    assert rt.create(ctx, props) == "mf-retry"
    assert len(attempts) == 2
    monkeypatch.undo()

    with pytest.raises(ClientError) as again:
        rt.create(ctx, props)
    assert rt.duplicate(again.value)
    other = ClientError({"Error": {"Code": "ClientException", "Message": "maxvCpus too small"}}, "X")
    assert not rt.duplicate(other)


def test_invalid_status_fails_with_its_reason(
    make_ctx: Callable[..., Any], infra: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's CEs are VALID at once; AWS's may end INVALID (a role not yet assumable): the create must fail
    with Batch's reason, not time out."""
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.invalid", timeout=20)
    client = ctx.client("batch")
    real = client.describe_compute_environments
    reason = "CLIENT_ERROR - User: batch.amazonaws.com is not authorized to perform: sts:AssumeRole"

    def invalid(**kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = real(**kw)
        for ce in out["computeEnvironments"]:
            ce.update(status="INVALID", statusReason=reason)
        return out

    monkeypatch.setattr(client, "describe_compute_environments", invalid)
    with pytest.raises(WaitFailed, match="mf-invalid is INVALID: CLIENT_ERROR - User: batch.amazonaws.com"):
        rt.create(ctx, _ce_props(infra, "mf-invalid"))


def test_delete_waits_until_deleted_not_just_deleting(
    make_ctx: Callable[..., Any], infra: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DELETING CE still needs its service role, so delete waits for it to be gone; read already calls it
    absent. moto drops a CE at once, so the DELETING answers AWS gives in between are played here."""
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.going")
    id = rt.create(ctx, _ce_props(infra, "mf-going"))
    client = ctx.client("batch")
    real_describe, real_delete = client.describe_compute_environments, client.delete_compute_environment
    seen: dict[str, Any] = {}
    lingering: list[int] = []  # DELETING answers still to give

    def describe(**kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = real_describe(**kw)
        if out["computeEnvironments"]:
            seen.update(out["computeEnvironments"][0])
        elif lingering:
            lingering.pop()
            out["computeEnvironments"] = [dict(seen, status="DELETING")]
        return out

    def delete(**kw: Any) -> Any:
        out = real_delete(**kw)
        lingering.extend([1, 1, 1])
        return out

    monkeypatch.setattr(client, "describe_compute_environments", describe)
    monkeypatch.setattr(client, "delete_compute_environment", delete)
    rt.delete(ctx, id, {}, None)
    assert lingering == []  # every DELETING answer was waited out
    lingering.append(1)
    assert rt.read(ctx, id) is None  # DELETING reads as absent
    assert lingering == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"compute_type": "GPU"}, "compute_type 'GPU' is not one of EC2, SPOT, FARGATE, FARGATE_SPOT"),
        ({"min_vcpus": 4, "desired_vcpus": 2}, "min_vcpus <= desired_vcpus <= max_vcpus; got min 4, desired 2"),
        ({"desired_vcpus": 80, "max_vcpus": 64}, "desired 80, max 64"),
        ({"compute_type": "EC2"}, "'SPOT_CAPACITY_OPTIMIZED' is not valid for EC2"),
        ({"instance_role": None}, "need instance_role"),
        ({"compute_type": "EC2", "allocation_strategy": "BEST_FIT", "bid_percentage": 50}, "SPOT compute environments"),
        ({"bid_percentage": 0}, "not between 1 and 100"),
        ({"launch_template_id": None, "launch_template_version": "$Latest"}, "needs launch_template_id"),
        ({"state": "ON"}, "not ENABLED or DISABLED"),
        ({"instance_types": []}, "at least one instance type"),
    ],
)
def test_compute_environment_props_checks(extra: dict[str, Any], message: str) -> None:
    base = {
        "name": "ce",
        "subnets": ["subnet-1"],
        "security_group_ids": ["sg-1"],
        "service_role": "arn:aws:iam::123456789012:role/svc",
        "instance_role": "arn:aws:iam::123456789012:instance-profile/ecs",
        "launch_template_id": "lt-1",
    }
    with pytest.raises(ValidationError, match=message):
        resource_type("batch.compute_environment").parse_props(base | extra)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"instance_role": "arn:aws:iam::123456789012:instance-profile/ecs"}, "take no instance_role"),
        ({"launch_template_id": "lt-1"}, "take no launch template"),
        ({"instance_types": ["c5.large"]}, "take no instance_types"),
        ({"allocation_strategy": "BEST_FIT_PROGRESSIVE"}, "take no allocation_strategy"),
        ({"min_vcpus": 1, "desired_vcpus": 1}, "take no min_vcpus/desired_vcpus"),
        ({"bid_percentage": 60}, "take no bid_percentage"),
    ],
)
def test_fargate_props_checks(extra: dict[str, Any], message: str) -> None:
    base = {
        "name": "ce",
        "compute_type": "FARGATE",
        "subnets": ["subnet-1"],
        "security_group_ids": ["sg-1"],
        "service_role": "arn:aws:iam::123456789012:role/svc",
    }
    with pytest.raises(ValidationError, match=f"FARGATE compute environments {message}"):
        resource_type("batch.compute_environment").parse_props(base | extra)


def test_ec2_without_strategy_says_best_fit() -> None:
    props: Any = resource_type("batch.compute_environment").parse_props(
        {
            "name": "ce",
            "compute_type": "EC2",
            "allocation_strategy": None,
            "subnets": ["subnet-1"],
            "security_group_ids": ["sg-1"],
            "service_role": "arn:aws:iam::123456789012:role/svc",
            "instance_role": "arn:aws:iam::123456789012:instance-profile/ecs",
        }
    )
    assert props.allocation_strategy == "BEST_FIT"  # what Batch reports for a CE created without one


def test_job_queue_lifecycle(make_ctx: Callable[..., Any], infra: dict[str, Any], aws: ClientFactory) -> None:
    ce_rt: Any = resource_type("batch.compute_environment")
    ce_ctx = make_ctx("batch.compute_environment.cpu")
    arns = []
    for name in ("mf-cpu", "mf-gpu"):
        ce_rt.create(ce_ctx, _ce_props(infra, name))
        arns.append(ce_rt.read(ce_ctx, name).attrs["arn"])
    aws.recorder.reset()
    many = ce_rt.read_many(ce_ctx, ["mf-cpu", "mf-gpu", "mf-absent"])
    assert sorted(many) == ["mf-cpu", "mf-gpu"] and many["mf-gpu"].attrs["arn"] == arns[1]
    assert aws.recorder.calls == {"batch:DescribeComputeEnvironments": 1}  # one call for them all

    rt: Any = resource_type("batch.job_queue")
    ctx = make_ctx("batch.job_queue.main")
    props = rt.parse_props({"name": "mf-queue", "compute_environments": arns})
    id = rt.create(ctx, props)
    assert id == "mf-queue"
    obs = rt.read(ctx, id)
    assert _have(rt, obs) == _want(rt, props, ctx)
    assert obs.attrs == {"id": id, "name": id, "arn": f"arn:aws:batch:us-east-1:123456789012:job-queue/{id}"}
    assert rt.find(ctx, props) == id
    aws.recorder.reset()
    assert sorted(rt.read_many(ctx, [id, "mf-absent"])) == [id]
    assert aws.recorder.calls == {"batch:DescribeJobQueues": 1}

    # out of band: priority, state and the CE order changed, a tag removed
    batch = boto3.client("batch")
    batch.update_job_queue(
        jobQueue=id,
        priority=7,
        state="DISABLED",
        computeEnvironmentOrder=[
            {"order": 1, "computeEnvironment": arns[1]},
            {"order": 2, "computeEnvironment": arns[0]},
        ],
    )
    batch.untag_resource(resourceArn=obs.attrs["arn"], tagKeys=[TAG_ADDRESS])
    drifted = rt.read(ctx, id)
    assert drifted.props["compute_environments"] == [arns[1], arns[0]]
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"priority", "state", "compute_environments", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert _have(rt, rt.read(ctx, id)) == _want(rt, props, ctx)

    aws.recorder.reset()
    rt.delete(ctx, id, obs.attrs, props)
    assert aws.recorder.mutating() == {"batch:UpdateJobQueue": 1, "batch:DeleteJobQueue": 1}
    assert rt.read(ctx, id) is None
    aws.recorder.reset()
    rt.delete(ctx, id, obs.attrs, props)  # Batch has no not-found error: nothing left, nothing done
    assert aws.recorder.mutating() == {}
    # and the compute environments it held can go now
    for name in ("mf-cpu", "mf-gpu"):
        ce_rt.delete(ce_ctx, name, {}, None)
        assert ce_rt.read(ce_ctx, name) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"compute_environments": []}, "1 to 3 compute environments, not 0"),
        ({"compute_environments": ["a", "b", "c", "d"]}, "1 to 3 compute environments, not 4"),
        ({"compute_environments": ["a"], "state": "on"}, "not ENABLED or DISABLED"),
        ({"compute_environments": ["a"], "priority": -1}, "priority -1"),
    ],
)
def test_job_queue_props_checks(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resource_type("batch.job_queue").parse_props({"name": "q"} | raw)


# ------------------------------------------------------------------ every field drifted out of band, one at a time


@pytest.fixture
def moto_applies_compute_resources(monkeypatch: pytest.MonkeyPatch) -> None:
    """STAND-IN FOR A MOTO GAP: moto's UpdateComputeEnvironment accepts ``computeResources`` and drops them; AWS
    applies each member given (the sandbox's shim, ``provisioner/sandbox/shims.py``)."""
    from provisioner.sandbox import shims as sandbox_shims

    sandbox_shims.batch(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))


@pytest.fixture
def alt(infra: dict[str, Any]) -> dict[str, Any]:
    """What an out-of-band edit points a compute environment at instead: another group, profile, role, template."""
    ec2, iam = boto3.client("ec2"), boto3.client("iam")
    vpc = ec2.describe_subnets(SubnetIds=infra["subnets"][:1])["Subnets"][0]["VpcId"]
    iam.create_role(RoleName="mf-other-instance", AssumeRolePolicyDocument=_trust("ec2.amazonaws.com"))
    profile = iam.create_instance_profile(InstanceProfileName="mf-other-instance")["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName="mf-other-instance", RoleName="mf-other-instance")
    role = iam.create_role(RoleName="mf-other-svc", AssumeRolePolicyDocument=_trust("batch.amazonaws.com"))["Role"]
    lt = ec2.create_launch_template(LaunchTemplateName="mf-other-lt", LaunchTemplateData={})["LaunchTemplate"]
    return infra | {
        "sg": ec2.create_security_group(GroupName="mf-other", Description="other", VpcId=vpc)["GroupId"],
        "profile": profile["Arn"],
        "role": role["Arn"],
        "lt": lt["LaunchTemplateId"],
    }


def _update_cr(id: str, **cr: Any) -> None:
    boto3.client("batch").update_compute_environment(computeEnvironment=id, computeResources=cr)


def _untag(kind: str, id: str) -> None:
    batch = boto3.client("batch")
    if kind == "ce":
        arn = batch.describe_compute_environments(computeEnvironments=[id])["computeEnvironments"][0]
        arn = arn["computeEnvironmentArn"]
    else:
        arn = batch.describe_job_queues(jobQueues=[id])["jobQueues"][0]["jobQueueArn"]
    batch.untag_resource(resourceArn=arn, tagKeys=[TAG_ADDRESS])


#: batch.compute_environment: (field, out-of-band change). All but max/min vCPUs, state and the service role need an
#: "infrastructure update" on AWS, which mfprov does not make (replace_on): they are reported as forcing replacement.
CE_CASES = [
    pytest.param("compute_type", lambda w, id: _update_cr(id, type="EC2"), id="compute_type"),
    pytest.param(
        "allocation_strategy",
        lambda w, id: _update_cr(id, allocationStrategy="SPOT_PRICE_CAPACITY_OPTIMIZED"),
        id="allocation_strategy",
    ),
    pytest.param("instance_types", lambda w, id: _update_cr(id, instanceTypes=["c6i", "m5"]), id="instance_types"),
    pytest.param("min_vcpus", lambda w, id: _update_cr(id, minvCpus=4), id="min_vcpus"),
    pytest.param("max_vcpus", lambda w, id: _update_cr(id, maxvCpus=256), id="max_vcpus"),
    pytest.param("subnets", lambda w, id: _update_cr(id, subnets=w["subnets"][:1]), id="subnets"),
    pytest.param("security_group_ids", lambda w, id: _update_cr(id, securityGroupIds=[w["sg"]]), id="security_groups"),
    pytest.param("instance_role", lambda w, id: _update_cr(id, instanceRole=w["profile"]), id="instance_role"),
    pytest.param(
        "service_role",
        lambda w, id: boto3.client("batch").update_compute_environment(computeEnvironment=id, serviceRole=w["role"]),
        id="service_role",
    ),
    pytest.param(
        "launch_template_id",
        lambda w, id: _update_cr(id, launchTemplate={"launchTemplateId": w["lt"], "version": "$Default"}),
        id="launch_template_id",
    ),
    pytest.param(
        "launch_template_version",
        lambda w, id: _update_cr(
            id, launchTemplate={"launchTemplateId": w["launch_template_id"], "version": "$Latest"}
        ),
        id="launch_template_version",
    ),
    pytest.param("bid_percentage", lambda w, id: _update_cr(id, bidPercentage=100), id="bid_percentage"),
    pytest.param(
        "state",
        lambda w, id: boto3.client("batch").update_compute_environment(computeEnvironment=id, state="DISABLED"),
        id="state",
    ),
    pytest.param("tags", lambda w, id: _untag("ce", id), id="tags"),
]
#: batch.compute_environment fields Batch offers no call to change
CE_NO_CALL = {"name": "no rename in Batch"}


@pytest.mark.parametrize(("field", "change"), CE_CASES)
def test_compute_environment_field_drift(
    make_ctx: Callable[..., Any],
    alt: dict[str, Any],
    moto_applies_compute_resources: None,
    field: str,
    change: WorldChange,
) -> None:
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.cpu")
    props = _ce_props(
        {k: alt[k] for k in ("subnets", "security_group_ids", "service_role", "instance_role", "launch_template_id")},
        "mf-cpu",
        instance_types=["c5", "m5"],
        launch_template_version="$Default",
        min_vcpus=1,
        desired_vcpus=2,
        max_vcpus=128,
        bid_percentage=60,
    )
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(alt, id))


def _order(id: str, *arns: str) -> None:
    order = [{"order": i + 1, "computeEnvironment": arn} for i, arn in enumerate(arns)]
    boto3.client("batch").update_job_queue(jobQueue=id, computeEnvironmentOrder=order)


#: batch.job_queue: (field, out-of-band change)
QUEUE_CASES = [
    pytest.param(
        "priority", lambda w, id: boto3.client("batch").update_job_queue(jobQueue=id, priority=9), id="priority"
    ),
    pytest.param(
        "compute_environments", lambda w, id: _order(id, w["ces"][1], w["ces"][0]), id="compute_environments-order"
    ),
    pytest.param(
        "compute_environments", lambda w, id: _order(id, w["ces"][0], w["ces"][2]), id="compute_environments-swapped"
    ),
    pytest.param(
        "state", lambda w, id: boto3.client("batch").update_job_queue(jobQueue=id, state="DISABLED"), id="state"
    ),
    pytest.param("tags", lambda w, id: _untag("queue", id), id="tags"),
]
#: batch.job_queue fields Batch offers no call to change
QUEUE_NO_CALL = {"name": "no rename in Batch"}


@pytest.mark.parametrize(("field", "change"), QUEUE_CASES)
def test_job_queue_field_drift(
    make_ctx: Callable[..., Any], infra: dict[str, Any], field: str, change: WorldChange
) -> None:
    ce_rt: Any = resource_type("batch.compute_environment")
    ce_ctx = make_ctx("batch.compute_environment.cpu")
    ces = []
    for name in ("mf-cpu", "mf-gpu", "mf-big"):
        ce_rt.create(ce_ctx, _ce_props(infra, name))
        ces.append(ce_rt.read(ce_ctx, name).attrs["arn"])
    rt: Any = resource_type("batch.job_queue")
    ctx = make_ctx("batch.job_queue.main")
    props = rt.parse_props({"name": "mf-queue", "priority": 5, "compute_environments": ces[:2]})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change({"ces": ces}, id))


@pytest.mark.parametrize(
    ("kind", "cases", "no_call"),
    [("batch.compute_environment", CE_CASES, CE_NO_CALL), ("batch.job_queue", QUEUE_CASES, QUEUE_NO_CALL)],
)
def test_every_managed_field_has_a_drift_case(kind: str, cases: list[Any], no_call: dict[str, str]) -> None:
    assert_every_managed_field_has_a_case(kind, cases, no_call)
