"""KMS keys and aliases: read-back equals desired (the default key policy reads as None), find by tags,
out-of-band changes seen and repaired, delete = scheduled deletion (then gone for read, and a second delete
is no error), and the alias name rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError

from resources.base import TAG_STACK, resource_type
from resources.kms import default_policy_account
from tests.resources.drift import (
    Change,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    read_back,
)

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
CUSTOM: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {
            "Sid": "Logs",
            "Effect": "Allow",
            "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*",
        },
    ],
}


def _not_found(rt: Any, fn: Callable[[], Any]) -> None:
    with pytest.raises(ClientError) as exc:
        fn()
    assert rt.missing(exc.value)


def test_key_lifecycle(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("kms.key")
    ctx = make_ctx("kms.key.s3")
    props = rt.parse_props({"description": "datastore key", "enable_key_rotation": True, "deletion_window_days": 7})
    id = rt.create(ctx, props)

    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.props["policy"] is None  # AWS's default policy: no drift against None
    assert obs.attrs == {"id": id, "arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}"}
    assert changed_fields(rt, props, obs, ctx) == set()

    # find goes by the stack and address tags, among live customer keys only
    kms = boto3.client("kms")
    kms.create_key(Description="untagged")
    assert rt.find(ctx, props) == id
    assert rt.find(make_ctx("kms.key.rds"), props) is None
    assert rt.find(make_ctx("kms.key.s3", stack="other"), props) is None

    # out of band: description, rotation, policy and a tag
    kms.update_key_description(KeyId=id, Description="edited")
    kms.disable_key_rotation(KeyId=id)
    kms.put_key_policy(KeyId=id, PolicyName="default", Policy=json.dumps(CUSTOM))
    kms.untag_resource(KeyId=id, TagKeys=[TAG_STACK])
    drifted = rt.read(ctx, id)
    assert drifted.props["description"] == "edited"
    assert drifted.props["enable_key_rotation"] is False
    assert drifted.props["policy"] == CUSTOM
    assert TAG_STACK not in drifted.props["tags"]
    assert rt.find(ctx, props) is None  # untagged: no longer recognisable as this node
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"description", "enable_key_rotation", "policy", "tags"}

    rt.update(ctx, id, props, drifted, changes)
    repaired = rt.read(ctx, id)
    assert repaired.props == read_back(rt, props, ctx)
    assert default_policy_account(json.loads(kms.get_key_policy(KeyId=id, PolicyName="default")["Policy"])) == ACCOUNT

    # delete schedules the deletion with the props' window; then the key reads as gone
    rt.delete(ctx, id, obs.attrs, props)
    meta = kms.describe_key(KeyId=id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    rt.delete(ctx, id, obs.attrs, None)  # already scheduled: done, not an error
    _not_found(rt, lambda: rt.delete(ctx, "1234abcd-12ab-34cd-56ef-1234567890ab", {}, None))
    assert rt.read(ctx, "1234abcd-12ab-34cd-56ef-1234567890ab") is None


def test_key_with_its_own_policy(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("kms.key")
    ctx = make_ctx("kms.key.logs")
    props = rt.parse_props({"policy": CUSTOM})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.props["policy"] == CUSTOM

    # the same policy restated (lone strings as lists, statements reordered) is no drift
    restated: dict[str, Any] = {"Version": "2012-10-17", "Statement": list(reversed(CUSTOM["Statement"]))}
    restated["Statement"][1] = restated["Statement"][1] | {"Principal": {"AWS": [ROOT]}, "Action": ["kms:*"]}
    boto3.client("kms").put_key_policy(KeyId=id, PolicyName="default", Policy=json.dumps(restated))
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    # back to None: the default policy is put back
    default = rt.parse_props({})
    obs = rt.read(ctx, id)
    assert changed_fields(rt, default, obs, ctx) == {"policy"}
    rt.update(ctx, id, default, obs, {"policy"})
    assert rt.read(ctx, id).props["policy"] is None


def test_find_passes_by_keys_whose_policy_refuses_the_caller(make_ctx: Callable[..., Any]) -> None:
    """In a shared account another team's key policy may admit nobody else: IAM cannot grant what a key policy
    does not delegate, so DescribeKey on it is AccessDenied. find looks past it, it does not fail the run."""
    rt: Any = resource_type("kms.key")
    ctx = make_ctx("kms.key.s3")
    theirs = boto3.client("kms").create_key(Description="another team's")["KeyMetadata"]["KeyId"]
    props = rt.parse_props({"description": "datastore key", "enable_key_rotation": True, "deletion_window_days": 7})
    mine = rt.create(ctx, props)

    def key_policy_refuses(params: dict[str, Any], **_: Any) -> None:
        if params.get("KeyId") == theirs:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeKey")

    ctx.client("kms").meta.events.register("before-parameter-build.kms.DescribeKey", key_policy_refuses)
    assert rt.find(ctx, props) == mine


def test_key_props_rules() -> None:
    rt: Any = resource_type("kms.key")
    for days in (6, 31):
        with pytest.raises(ValidationError):
            rt.parse_props({"deletion_window_days": days})
    spelled_out = {
        "Statement": {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "kms:*", "Resource": ["*"]}
    }
    assert rt.parse_props({"policy": spelled_out}).policy is None  # the default, written out
    assert rt.parse_props({"policy": CUSTOM}).policy == CUSTOM
    assert "deletion_window_days" in rt.behaviour_fields


def test_alias_lifecycle(make_ctx: Callable[..., Any]) -> None:
    keys: Any = resource_type("kms.key")
    rt: Any = resource_type("kms.alias")
    key1 = keys.create(make_ctx("kms.key.a"), keys.parse_props({}))
    key2 = keys.create(make_ctx("kms.key.b"), keys.parse_props({}))
    ctx = make_ctx("kms.alias.s3")
    props = rt.parse_props({"name": "alias/mf-s3", "target_key_id": key1})
    id = rt.create(ctx, props)
    assert id == "alias/mf-s3"

    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.attrs == {"id": id, "name": id, "arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/mf-s3"}
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "alias/other", "target_key_id": key1})) is None
    with pytest.raises(ClientError) as exc:
        rt.create(ctx, props)
    assert rt.duplicate(exc.value)

    # out of band: pointed at another key
    kms = boto3.client("kms")
    kms.update_alias(AliasName=id, TargetKeyId=key2)
    drifted = rt.read(ctx, id)
    assert drifted.props["target_key_id"] == key2
    assert changed_fields(rt, props, drifted, ctx) == {"target_key_id"}
    rt.update(ctx, id, props, drifted, {"target_key_id"})
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    _not_found(rt, lambda: rt.delete(ctx, id, obs.attrs, props))


def test_alias_props_rules() -> None:
    rt: Any = resource_type("kms.alias")
    for bad in ("mf-s3", "alias/aws/s3", "alias/"):
        with pytest.raises(ValidationError):
            rt.parse_props({"name": bad, "target_key_id": "k"})
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    props = rt.parse_props({"name": "alias/x", "target_key_id": arn})
    assert props.target_key_id == "1234abcd-12ab-34cd-56ef-1234567890ab"  # what AWS reports back
    assert rt.taggable is False


# ------------------------------------------------------------------ every field drifted out of band, one at a time


def _kms() -> Any:
    return boto3.client("kms")


def _put_policy(id: str, doc: dict[str, Any]) -> None:
    _kms().put_key_policy(KeyId=id, PolicyName="default", Policy=json.dumps(doc))


_DEFAULT = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"}],
}
_OTHER = json.loads(json.dumps(CUSTOM).replace("kms:Decrypt", "kms:GenerateDataKey*"))

#: kms.key: (field, out-of-band change)
KEY_CASES = [
    pytest.param("description", lambda id: _kms().update_key_description(KeyId=id, Description="x"), id="description"),
    pytest.param("enable_key_rotation", lambda id: _kms().disable_key_rotation(KeyId=id), id="enable_key_rotation"),
    pytest.param("policy", lambda id: _put_policy(id, _DEFAULT), id="policy-back-to-default"),
    pytest.param("policy", lambda id: _put_policy(id, _OTHER), id="policy-rewritten"),
    pytest.param("tags", lambda id: _kms().untag_resource(KeyId=id, TagKeys=[TAG_STACK]), id="tags"),
    pytest.param("key_state", lambda id: _kms().disable_key(KeyId=id), id="key_state-disabled"),
]
#: every kms.key field can be changed out of band
KEY_NO_CALL: dict[str, str] = {}


@pytest.mark.parametrize(("field", "change"), KEY_CASES)
def test_key_field_drift(make_ctx: Callable[..., Any], field: str, change: Change) -> None:
    rt: Any = resource_type("kms.key")
    ctx = make_ctx("kms.key.logs")
    props = rt.parse_props({"description": "logs key", "enable_key_rotation": True, "policy": CUSTOM})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


#: kms.alias: (field, out-of-band change)
ALIAS_CASES = [
    pytest.param(
        "target_key_id",
        lambda id: _kms().update_alias(AliasName=id, TargetKeyId=_kms().create_key()["KeyMetadata"]["KeyId"]),
        id="target_key_id",
    ),
]
#: kms.alias fields KMS offers no call to change (UpdateAlias moves the target only); aliases take no tags
ALIAS_NO_CALL = {"name": "no rename of an alias"}


@pytest.mark.parametrize(("field", "change"), ALIAS_CASES)
def test_alias_field_drift(make_ctx: Callable[..., Any], field: str, change: Change) -> None:
    keys: Any = resource_type("kms.key")
    key = keys.create(make_ctx("kms.key.a"), keys.parse_props({}))
    rt: Any = resource_type("kms.alias")
    ctx = make_ctx("kms.alias.s3")
    props = rt.parse_props({"name": "alias/mf-s3", "target_key_id": key})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


@pytest.mark.parametrize(
    ("kind", "cases", "no_call"),
    [("kms.key", KEY_CASES, KEY_NO_CALL), ("kms.alias", ALIAS_CASES, ALIAS_NO_CALL)],
)
def test_every_managed_field_has_a_drift_case(kind: str, cases: list[Any], no_call: dict[str, str]) -> None:
    assert_every_managed_field_has_a_case(kind, cases, no_call)


# ------------------------------------------------------------------ key state: disabled, pending deletion


@pytest.fixture
def key_states_as_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's KMS shim: EnableKey refuses a key pending deletion, CancelKeyDeletion leaves it Disabled."""
    from provisioner.sandbox import shims as sandbox_shims

    sandbox_shims.kms_key_states(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))


def test_a_key_pending_deletion_is_drift_that_update_cancels(key_states_as_aws: None, make_ctx: Any) -> None:
    """The refresh of the state's keys (read_many) reports a key scheduled for deletion with its state; the
    update cancels the deletion and enables the same key, whose data stays readable. read (the sweep's and
    adoption's) still takes it for gone, so a key mfprov itself scheduled is never taken up again."""
    rt: Any = resource_type("kms.key")
    ctx = make_ctx("kms.key.s3")
    props = rt.parse_props({"description": "datastore key", "enable_key_rotation": True})
    id = rt.create(ctx, props)
    kms = boto3.client("kms")
    sealed = kms.encrypt(KeyId=id, Plaintext=b"metaflow")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=id, PendingWindowInDays=7)

    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    observed = rt.read_many(ctx, [id])[id]
    assert observed.props["key_state"] == "PendingDeletion"
    assert changed_fields(rt, props, observed, ctx) >= {"key_state"}

    rt.update(ctx, id, props, observed, changed_fields(rt, props, observed, ctx))
    assert kms.describe_key(KeyId=id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert rt.read_many(ctx, [id])[id].props == read_back(rt, props, ctx)
    assert kms.decrypt(CiphertextBlob=sealed)["Plaintext"] == b"metaflow"


def test_the_key_state_must_be_enabled() -> None:
    rt: Any = resource_type("kms.key")
    assert rt.parse_props({}).key_state == "Enabled"
    with pytest.raises(ValidationError):
        rt.parse_props({"key_state": "Disabled"})
