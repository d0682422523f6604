"""The Lambda function type: code compared by hash, drift repaired, delete waits for ENIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from resources.awslambda import build_zip
from resources.base import TAG_ADDRESS, resource_type
from tests.resources.drift import (
    WorldChange,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    vpc_with_subnets,
)

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
def test_function_field_drift(make_ctx: Callable[..., Any], field: str, change: WorldChange) -> None:
    ec2 = boto3.client("ec2")
    vpc, subnets = vpc_with_subnets()
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
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change({"subnets": subnets, "sgs": sgs}, id))


def test_every_managed_field_has_a_drift_case() -> None:
    assert_every_managed_field_has_a_case("lambda.function", FUNCTION_CASES, FUNCTION_NO_CALL)
