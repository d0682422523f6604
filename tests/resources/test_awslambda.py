"""The Lambda function type: code compared by hash, drift repaired, delete waits for ENIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from provisioner.compare import diff
from resources.awslambda import build_zip
from resources.base import TAG_ADDRESS, resource_type

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}  # fmt: skip


def test_function_lifecycle(make_ctx: Callable[..., Any]) -> None:
    role = boto3.client("iam").create_role(RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"][
        "Arn"
    ]
    rt = resource_type("lambda.function")
    ctx = make_ctx("lambda.function.migrate")
    props = rt.parse_props(
        {
            "name": "mf-migrate",
            "role_arn": role,
            "source": "def handler(e, c):\n    return 1\n",
            "environment": {"A": "1"},
        }
    )
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    want = {k: v for k, v in props.model_dump(mode="json").items() if k != "source"} | {"tags": ctx.tags}
    assert obs.props == want
    assert rt.find(ctx, props) == id

    # New source -> a different hash -> an update that makes AWS report the new hash.
    newer = rt.parse_props(props.model_dump() | {"source": "def handler(e, c):\n    return 2\n"})
    assert newer.code_sha256 != props.code_sha256
    rt.update(ctx, id, newer, obs, {"code_sha256"})
    assert rt.read(ctx, id).props["code_sha256"] == newer.code_sha256

    boto3.client("lambda").update_function_configuration(FunctionName=id, Timeout=3)
    drifted = rt.read(ctx, id)
    assert drifted.props["timeout"] == 3
    rt.update(ctx, id, newer, drifted, {"timeout"})
    assert rt.read(ctx, id).props["timeout"] == 60

    rt.delete(ctx, id, {}, newer)
    assert rt.read(ctx, id) is None


# ------------------------------------------------------------------ every field drifted out of band, one at a time

Change = Callable[[dict[str, Any], str], None]


def _managed(rt: Any) -> set[str]:
    fields = set(rt.Props.model_fields) - rt.behaviour_fields - rt.sensitive_fields
    return fields | {"tags"} if rt.taggable else fields


def _drift_is_exact_and_repaired(
    rt: Any, ctx: Any, id: str, props: Any, field: str, change: Change, world: dict[str, Any]
) -> None:
    """``change`` (a plain boto3 call) alters ``field`` only: diff names exactly that field, and update repairs it
    (a ``replace_on`` field is reported as forcing replacement instead)."""
    desired = props.model_dump(mode="json")
    tags = ctx.tags if rt.taggable else None
    assert diff(rt, desired, rt.read(ctx, id).props, tags) == []
    change(world, id)
    drifted = rt.read(ctx, id)
    found = diff(rt, desired, drifted.props, tags)
    assert [c.field for c in found] == [field]
    assert found[0].forces_replacement is (field in rt.replace_on)
    if field in rt.replace_on:
        return
    rt.update(ctx, id, props, drifted, {field})
    assert diff(rt, desired, rt.read(ctx, id).props, tags) == []


def _lambda() -> Any:
    return boto3.client("lambda")


def _configure(id: str, **kw: Any) -> None:
    _lambda().update_function_configuration(FunctionName=id, **kw)


def _role(name: str) -> str:
    return str(
        boto3.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    )


def _untag(id: str) -> None:
    arn = _lambda().get_function(FunctionName=id)["Configuration"]["FunctionArn"]
    _lambda().untag_resource(Resource=arn, TagKeys=[TAG_ADDRESS])


#: lambda.function (in a VPC): (field, out-of-band change)
FUNCTION_CASES = [
    pytest.param("runtime", lambda w, id: _configure(id, Runtime="python3.11"), id="runtime"),
    pytest.param("handler", lambda w, id: _configure(id, Handler="index.other"), id="handler"),
    pytest.param("role_arn", lambda w, id: _configure(id, Role=_role("someone-elses")), id="role_arn"),
    pytest.param("timeout", lambda w, id: _configure(id, Timeout=3), id="timeout"),
    pytest.param("memory_size", lambda w, id: _configure(id, MemorySize=1024), id="memory_size"),
    pytest.param("environment", lambda w, id: _configure(id, Environment={"Variables": {"A": "2"}}), id="env-changed"),
    pytest.param("environment", lambda w, id: _configure(id, Environment={"Variables": {}}), id="env-cleared"),
    pytest.param(
        "subnet_ids",
        lambda w, id: _configure(id, VpcConfig={"SubnetIds": w["subnets"][:1], "SecurityGroupIds": w["sgs"][:1]}),
        id="subnet_ids",
    ),
    pytest.param(
        "security_group_ids",
        lambda w, id: _configure(id, VpcConfig={"SubnetIds": w["subnets"], "SecurityGroupIds": w["sgs"]}),
        id="security_group_ids",
    ),
    pytest.param(
        "code_sha256",
        lambda w, id: _lambda().update_function_code(
            FunctionName=id, ZipFile=build_zip("def handler(e, c):\n    pass\n")
        ),
        id="code",
    ),
    pytest.param("tags", lambda w, id: _untag(id), id="tags"),
]
#: lambda.function fields Lambda offers no call to change
FUNCTION_NO_CALL = {"name": "no rename in Lambda"}


@pytest.mark.parametrize(("field", "change"), FUNCTION_CASES)
def test_function_field_drift(make_ctx: Callable[..., Any], field: str, change: Change) -> None:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in ((1, "a"), (2, "b"))
    ]
    sgs = [ec2.create_security_group(GroupName=n, Description=n, VpcId=vpc)["GroupId"] for n in ("fn", "other")]
    rt: Any = resource_type("lambda.function")
    ctx = make_ctx("lambda.function.migrate")
    props = rt.parse_props(
        {
            "name": "mf-migrate",
            "role_arn": _role("fn-role"),
            "source": "def handler(e, c):\n    return 1\n",
            "memory_size": 256,
            "environment": {"A": "1", "B": "2"},
            "subnet_ids": subnets,
            "security_group_ids": sgs[:1],
        }
    )
    id = rt.create(ctx, props)
    _drift_is_exact_and_repaired(rt, ctx, id, props, field, change, {"subnets": subnets, "sgs": sgs})


def test_every_managed_field_has_a_drift_case() -> None:
    covered = {case.values[0] for case in FUNCTION_CASES}
    assert not covered & set(FUNCTION_NO_CALL)
    assert covered | set(FUNCTION_NO_CALL) == _managed(resource_type("lambda.function"))
