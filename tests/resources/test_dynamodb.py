"""The table type: SSE (AWS-managed or own key), TTL, PITR, deletion protection and tags read back, drift
repaired, a TTL attribute moved, deletion protection honoured, and the UpdateTable calls moto ignores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from resources.base import TAG_ADDRESS, resource_type
from resources.dynamodb import TtlChangeRefused
from tests.conftest import ACCOUNT
from tests.resources.drift import (
    Change,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    read_back,
)


def test_table_lifecycle(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.step_functions")
    props = rt.parse_props({"name": "mf-sfn-state"})
    id = rt.create(ctx, props)
    assert id == "mf-sfn-state"

    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    # encrypted with the AWS-managed aws/dynamodb key, which reads back as "no key of our own"
    assert obs.props["sse_enabled"] is True and obs.props["kms_key_arn"] is None
    assert obs.attrs == {"id": id, "name": id, "arn": f"arn:aws:dynamodb:us-east-1:123456789012:table/{id}"}
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "mf-sfn-stat"})) is None

    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName=id)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pathspec", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ddb.describe_time_to_live(TableName=id)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "ttl",
    }

    # out of band: TTL off, PITR on, deletion protection on, a tag removed
    ddb.update_time_to_live(TableName=id, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"})
    ddb.update_continuous_backups(TableName=id, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    ddb.update_table(TableName=id, DeletionProtectionEnabled=True)
    ddb.untag_resource(ResourceArn=obs.attrs["arn"], TagKeys=[TAG_ADDRESS])
    drifted = rt.read(ctx, id)
    assert drifted.props["ttl_attribute"] is None
    assert drifted.props["point_in_time_recovery"] is True
    assert drifted.props["deletion_protection"] is True
    assert TAG_ADDRESS not in drifted.props["tags"]
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"ttl_attribute", "point_in_time_recovery", "deletion_protection", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)

    # the TTL attribute moves: off on the old one, on for the new one
    moved = rt.parse_props({"name": id, "ttl_attribute": "expires_at"})
    before = rt.read(ctx, id)
    assert changed_fields(rt, moved, before, ctx) == {"ttl_attribute"}
    rt.update(ctx, id, moved, before, {"ttl_attribute"})
    assert rt.read(ctx, id).props == read_back(rt, moved, ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


def test_deletion_protection_refuses_delete(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.protected")
    props = rt.parse_props(
        {"name": "mf-protected", "deletion_protection": True, "point_in_time_recovery": True, "ttl_attribute": None}
    )
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)

    with pytest.raises(ClientError) as refused:
        rt.delete(ctx, id, obs.attrs, props)
    assert not rt.missing(refused.value)
    assert "DeletionProtectionEnabled" in str(refused.value)
    assert rt.read(ctx, id) is not None

    unprotected = rt.parse_props({"name": id, "point_in_time_recovery": True, "ttl_attribute": None})
    rt.update(ctx, id, unprotected, obs, changed_fields(rt, unprotected, obs, ctx))
    rt.delete(ctx, id, obs.attrs, unprotected)
    assert rt.read(ctx, id) is None


def test_table_with_own_kms_key_and_without_sse(make_ctx: Callable[..., Any]) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.keyed")
    keyed = rt.parse_props({"name": "mf-keyed", "kms_key_arn": key})
    rt.create(ctx, keyed)
    obs = rt.read(ctx, "mf-keyed")
    assert obs.props == read_back(rt, keyed, ctx)
    assert obs.props["kms_key_arn"] == key

    plain = rt.parse_props({"name": "mf-plain", "sse_enabled": False})
    rt.create(ctx, plain)
    obs = rt.read(ctx, "mf-plain")
    assert obs.props == read_back(rt, plain, ctx)
    assert "SSEDescription" not in boto3.client("dynamodb").describe_table(TableName="mf-plain")["Table"]

    # a create of an existing name is a duplicate the engine adopts
    with pytest.raises(ClientError) as again:
        rt.create(ctx, plain)
    assert rt.duplicate(again.value)


def test_sse_update_calls(make_ctx: Callable[..., Any]) -> None:
    """moto ignores SSESpecification in UpdateTable: check the requests update sends instead (botocore has
    validated them against the API model by the time the hook sees them)."""
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.sse")
    managed = rt.parse_props({"name": "mf-sse"})
    rt.create(ctx, managed)
    sent: list[dict[str, Any]] = []
    client = ctx.client("dynamodb")

    def capture(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client.meta.events.register("provide-client-params.dynamodb.UpdateTable", capture)
    try:
        obs = rt.read(ctx, "mf-sse")
        keyed = rt.parse_props({"name": "mf-sse", "kms_key_arn": key})
        assert changed_fields(rt, keyed, obs, ctx) == {"kms_key_arn"}
        rt.update(ctx, "mf-sse", keyed, obs, {"kms_key_arn"})
        rt.update(ctx, "mf-sse", managed, obs, {"kms_key_arn"})
        off = rt.parse_props({"name": "mf-sse", "sse_enabled": False})
        rt.update(ctx, "mf-sse", off, obs, {"sse_enabled"})
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.UpdateTable", capture)
    assert sent == [
        {"TableName": "mf-sse", "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key}},
        {
            "TableName": "mf-sse",
            "SSESpecification": {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/aws/dynamodb"},
        },
        {"TableName": "mf-sse", "SSESpecification": {"Enabled": False}},
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"billing_mode": "PROVISIONED"}, "only PAY_PER_REQUEST"),
        ({"sse_enabled": False, "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/x"}, "needs sse_enabled"),
        ({"hash_key_type": "X"}, "is not S, N or B"),
    ],
)
def test_table_props_validation(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        resource_type("dynamodb.table").parse_props({"name": "t"} | raw)


def test_read_of_a_deleting_table_is_none(make_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.going")
    rt.create(ctx, rt.parse_props({"name": "mf-going"}))
    client = ctx.client("dynamodb")
    real = client.describe_table

    def deleting(**kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = real(**kw)
        out["Table"]["TableStatus"] = "DELETING"
        return out

    monkeypatch.setattr(client, "describe_table", deleting)
    assert rt.read(ctx, "mf-going") is None
    assert rt.missing(ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "DeleteTable"))


def test_ttl_change_refused_within_the_hour(make_ctx: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS allows one TTL change per table in about an hour (moto has no such limit: its answer is played here).
    Repairing TTL switched off by hand, or moving it, then fails with what to do, not AWS's bare error."""
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.ttl")
    props = rt.parse_props({"name": "mf-ttl"})
    id = rt.create(ctx, props)
    client = ctx.client("dynamodb")
    real = client.update_time_to_live
    error = {
        "Code": "ValidationException",
        "Message": "Time to live has been modified multiple times within a fixed interval",
    }

    def too_soon(**kw: Any) -> Any:
        if kw["TimeToLiveSpecification"]["Enabled"]:
            raise ClientError({"Error": error}, "UpdateTimeToLive")
        return real(**kw)

    monkeypatch.setattr(client, "update_time_to_live", too_soon)
    boto3.client("dynamodb").update_time_to_live(
        TableName=id, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    drifted = rt.read(ctx, id)
    with pytest.raises(TtlChangeRefused, match="TTL was changed recently, and DynamoDB allows one TTL change") as err:
        rt.update(ctx, id, props, drifted, {"ttl_attribute"})
    assert "run `up` again later to switch it on for 'ttl'" in str(err.value)

    boto3.client("dynamodb").update_time_to_live(
        TableName=id, TimeToLiveSpecification={"Enabled": True, "AttributeName": "old"}
    )
    with pytest.raises(TtlChangeRefused, match="TTL was switched off on 'old', but DynamoDB allows"):
        rt.update(ctx, id, props, rt.read(ctx, id), {"ttl_attribute"})
    assert rt.read(ctx, id).props["ttl_attribute"] is None  # half done: off on the old one
    # any other validation error is AWS's own
    error = {"Code": "ValidationException", "Message": "Attribute name is invalid"}
    with pytest.raises(ClientError, match="Attribute name is invalid"):
        rt.update(ctx, id, props, rt.read(ctx, id), {"ttl_attribute"})


# ------------------------------------------------------------------ every field drifted out of band, one at a time


@pytest.fixture
def moto_applies_sse_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    """STAND-IN FOR A MOTO GAP: moto's UpdateTable ignores SSESpecification; AWS applies it (an AWS-owned key when
    disabled, else the named key, reported by its ARN). Both the out-of-band change and the repair need it."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.kms.models import kms_backends

    original = DynamoHandler.update_table

    def update_table(self: Any) -> Any:
        out = original(self)
        sse = self.body.get("SSESpecification")
        if sse is not None:
            table = self.dynamodb_backend.get_table(self.body["TableName"])
            table.sse_specification = None
            if sse.get("Enabled"):
                key = kms_backends[ACCOUNT]["us-east-1"].describe_key(sse.get("KMSMasterKeyId", "alias/aws/dynamodb"))
                table.sse_specification = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key.arn}
        return out

    monkeypatch.setattr(DynamoHandler, "update_table", update_table)


def _ddb() -> Any:
    return boto3.client("dynamodb")


def _own_key() -> str:
    return str(boto3.client("kms").create_key()["KeyMetadata"]["Arn"])


def _sse(id: str, **spec: Any) -> None:
    _ddb().update_table(TableName=id, SSESpecification=spec)


def _ttl_moved(id: str) -> None:
    # AWS allows one TTL change per table in about an hour: on AWS the repair of this then waits (TtlChangeRefused)
    _ddb().update_time_to_live(TableName=id, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"})
    _ddb().update_time_to_live(TableName=id, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})


_BASE = {"name": "mf-sfn-state", "point_in_time_recovery": True, "deletion_protection": True}
#: in a baseline: a key created for the test
OWN_KEY = "<a key of our own>"

#: dynamodb.table: (field, out-of-band change, the baseline's props)
TABLE_CASES = [
    pytest.param(
        "billing_mode",
        lambda id: _ddb().update_table(
            TableName=id,
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        ),
        _BASE,
        id="billing_mode",
    ),
    pytest.param("sse_enabled", lambda id: _sse(id, Enabled=False), _BASE, id="sse-off"),
    pytest.param(
        "kms_key_arn", lambda id: _sse(id, Enabled=True, SSEType="KMS", KMSMasterKeyId=_own_key()), _BASE, id="own-key"
    ),
    # from a key of our own back to the AWS-managed one (with our key, SSE switched off shows kms_key_arn too)
    pytest.param(
        "kms_key_arn",
        lambda id: _sse(id, Enabled=True, SSEType="KMS", KMSMasterKeyId="alias/aws/dynamodb"),
        _BASE | {"kms_key_arn": OWN_KEY},
        id="managed-key",
    ),
    pytest.param(
        "ttl_attribute",
        lambda id: _ddb().update_time_to_live(
            TableName=id, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
        ),
        _BASE,
        id="ttl-off",
    ),
    pytest.param("ttl_attribute", _ttl_moved, _BASE, id="ttl-moved"),
    pytest.param(
        "point_in_time_recovery",
        lambda id: _ddb().update_continuous_backups(
            TableName=id, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
        ),
        _BASE,
        id="point_in_time_recovery",
    ),
    pytest.param(
        "deletion_protection",
        lambda id: _ddb().update_table(TableName=id, DeletionProtectionEnabled=False),
        _BASE,
        id="deletion_protection",
    ),
    pytest.param(
        "tags",
        lambda id: _ddb().untag_resource(
            ResourceArn=_ddb().describe_table(TableName=id)["Table"]["TableArn"], TagKeys=[TAG_ADDRESS]
        ),
        _BASE,
        id="tags",
    ),
]
#: dynamodb.table fields DynamoDB offers no call to change: the name and the key schema are fixed at create
TABLE_NO_CALL = {
    "name": "no rename in DynamoDB",
    "hash_key": "the key schema cannot change",
    "hash_key_type": "the key schema cannot change",
}


@pytest.mark.parametrize(("field", "change", "base"), TABLE_CASES)
def test_table_field_drift(
    make_ctx: Callable[..., Any], moto_applies_sse_updates: None, field: str, change: Change, base: dict[str, Any]
) -> None:
    rt: Any = resource_type("dynamodb.table")
    ctx = make_ctx("dynamodb.table.step_functions")
    if base.get("kms_key_arn") == OWN_KEY:
        base = base | {"kms_key_arn": _own_key()}
    props = rt.parse_props(base)
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


def test_every_managed_field_has_a_drift_case() -> None:
    assert_every_managed_field_has_a_case("dynamodb.table", TABLE_CASES, TABLE_NO_CALL)
