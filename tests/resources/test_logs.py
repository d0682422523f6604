"""The log group type: retention, KMS key and tags read back, drift repaired, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from provisioner.compare import diff
from resources.base import resource_type


def _want(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    dump = props.model_dump(mode="json")
    return {k: v for k, v in dump.items() if k not in rt.behaviour_fields | rt.sensitive_fields} | {"tags": ctx.tags}


def _changes(rt: Any, props: Any, obs: Any, ctx: Any) -> set[str]:
    return {c.field for c in diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags)}


def test_log_group_lifecycle(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("logs.log_group")
    ctx = make_ctx("logs.log_group.metadata")
    props = rt.parse_props({"name": "/mf/test/metadata"})
    id = rt.create(ctx, props)
    assert id == "/mf/test/metadata"
    obs = rt.read(ctx, id)
    assert obs.props == _want(rt, props, ctx)
    assert obs.props["retention_days"] == 30
    assert obs.attrs == {"id": id, "name": id, "arn": f"arn:aws:logs:us-east-1:123456789012:log-group:{id}"}
    assert rt.find(ctx, props) == id
    # a longer name sharing the prefix is not taken for this one
    assert rt.find(ctx, rt.parse_props({"name": "/mf/test/meta"})) is None

    logs = boto3.client("logs")
    logs.put_retention_policy(logGroupName=id, retentionInDays=1)
    logs.untag_resource(resourceArn=obs.attrs["arn"], tagKeys=["mfprov:address"])
    drifted = rt.read(ctx, id)
    assert drifted.props["retention_days"] == 1
    assert "mfprov:address" not in drifted.props["tags"]
    changes = _changes(rt, props, drifted, ctx)
    assert changes == {"retention_days", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == _want(rt, props, ctx)

    # retention None = never expire
    forever = rt.parse_props({"name": id, "retention_days": None})
    rt.update(ctx, id, forever, rt.read(ctx, id), _changes(rt, forever, rt.read(ctx, id), ctx))
    assert rt.read(ctx, id).props["retention_days"] is None

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None


def test_log_group_with_kms_key(make_ctx: Callable[..., Any]) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("logs.log_group")
    ctx = make_ctx("logs.log_group.enc")
    props = rt.parse_props({"name": "mf-enc", "retention_days": None, "kms_key_arn": key})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.props == _want(rt, props, ctx)
    assert obs.props["kms_key_arn"] == key and obs.props["retention_days"] is None
    assert _changes(rt, props, obs, ctx) == set()


def test_log_group_kms_key_update_calls(make_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """moto does not implement Associate/DisassociateKmsKey: check the calls update makes instead."""
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("logs.log_group")
    ctx = make_ctx("logs.log_group.k")
    plain = rt.parse_props({"name": "mf-k"})
    id = rt.create(ctx, plain)
    calls: list[tuple[str, dict[str, Any]]] = []
    client = ctx.client("logs")
    monkeypatch.setattr(client, "associate_kms_key", lambda **kw: calls.append(("associate", kw)))
    monkeypatch.setattr(client, "disassociate_kms_key", lambda **kw: calls.append(("disassociate", kw)))

    keyed = rt.parse_props({"name": "mf-k", "kms_key_arn": key})
    obs = rt.read(ctx, id)
    changes = _changes(rt, keyed, obs, ctx)
    assert changes == {"kms_key_arn"}
    rt.update(ctx, id, keyed, obs, changes)
    rt.update(ctx, id, plain, obs, {"kms_key_arn"})
    assert calls == [("associate", {"logGroupName": id, "kmsKeyId": key}), ("disassociate", {"logGroupName": id})]
