"""The Lambda function type: code compared by hash, drift repaired, delete waits for ENIs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from resources.base import resource_type

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
