"""The log group type: retention, KMS key and tags read back, drift repaired, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest

from resources.base import resource_type
from tests.resources.drift import (
    Change,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    read_back,
)


def test_log_group_lifecycle(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("logs.log_group")
    ctx = make_ctx("logs.log_group.metadata")
    props = rt.parse_props({"name": "/mf/test/metadata"})
    id = rt.create(ctx, props)
    assert id == "/mf/test/metadata"
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
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
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"retention_days", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)

    # retention None = never expire
    forever = rt.parse_props({"name": id, "retention_days": None})
    rt.update(ctx, id, forever, rt.read(ctx, id), changed_fields(rt, forever, rt.read(ctx, id), ctx))
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
    assert obs.props == read_back(rt, props, ctx)
    assert obs.props["kms_key_arn"] == key and obs.props["retention_days"] is None
    assert changed_fields(rt, props, obs, ctx) == set()


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
    changes = changed_fields(rt, keyed, obs, ctx)
    assert changes == {"kms_key_arn"}
    rt.update(ctx, id, keyed, obs, changes)
    rt.update(ctx, id, plain, obs, {"kms_key_arn"})
    assert calls == [("associate", {"logGroupName": id, "kmsKeyId": key}), ("disassociate", {"logGroupName": id})]


# ------------------------------------------------------------------ every field drifted out of band, one at a time


@pytest.fixture
def moto_kms_key_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """STAND-IN FOR A MOTO GAP: moto has no AssociateKmsKey / DisassociateKmsKey handlers. These do what AWS does
    to the group's ``kmsKeyId`` (the console's change, and mfprov's repair, both go through them)."""
    from moto.logs.responses import LogsResponse

    def associate(self: Any) -> str:
        self.logs_backend.groups[self._get_param("logGroupName")].kms_key_id = self._get_param("kmsKeyId")
        return ""

    def disassociate(self: Any) -> str:
        self.logs_backend.groups[self._get_param("logGroupName")].kms_key_id = None
        return ""

    monkeypatch.setattr(LogsResponse, "associate_kms_key", associate, raising=False)
    monkeypatch.setattr(LogsResponse, "disassociate_kms_key", disassociate, raising=False)


def _logs() -> Any:
    return boto3.client("logs")


def _arn(id: str) -> str:
    return str(_logs().describe_log_groups(logGroupNamePrefix=id)["logGroups"][0]["logGroupArn"])


#: logs.log_group (30 days, a key of our own): (field, out-of-band change)
LOG_GROUP_CASES = [
    pytest.param(
        "retention_days",
        lambda id: _logs().put_retention_policy(logGroupName=id, retentionInDays=1),
        id="retention-other",
    ),
    pytest.param(
        "retention_days", lambda id: _logs().delete_retention_policy(logGroupName=id), id="retention-never-expire"
    ),
    pytest.param(
        "kms_key_arn",
        lambda id: _logs().associate_kms_key(
            logGroupName=id, kmsKeyId=boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        ),
        id="kms-other-key",
    ),
    pytest.param("kms_key_arn", lambda id: _logs().disassociate_kms_key(logGroupName=id), id="kms-removed"),
    pytest.param(
        "tags", lambda id: _logs().untag_resource(resourceArn=_arn(id), tagKeys=["mfprov:address"]), id="tags"
    ),
]
#: logs.log_group fields CloudWatch Logs offers no call to change
LOG_GROUP_NO_CALL = {"name": "no rename in CloudWatch Logs"}


@pytest.mark.parametrize(("field", "change"), LOG_GROUP_CASES)
def test_log_group_field_drift(
    make_ctx: Callable[..., Any], moto_kms_key_calls: None, field: str, change: Change
) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("logs.log_group")
    ctx = make_ctx("logs.log_group.metadata")
    props = rt.parse_props({"name": "/mf/test/metadata", "kms_key_arn": key})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


def test_every_managed_field_has_a_drift_case() -> None:
    assert_every_managed_field_has_a_case("logs.log_group", LOG_GROUP_CASES, LOG_GROUP_NO_CALL)
