"""The generated-credential secret: only the username is read back, the password is kept across updates,
a secret scheduled for deletion counts as absent, delete frees the name at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from provisioner.compare import diff
from resources.base import resource_type
from resources.secretsmanager import ALPHABET, SecretShapeError, read_password


def _want(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    dump = props.model_dump(mode="json")
    return {k: v for k, v in dump.items() if k not in rt.behaviour_fields | rt.sensitive_fields} | {"tags": ctx.tags}


def _changes(rt: Any, props: Any, obs: Any, ctx: Any) -> set[str]:
    return {c.field for c in diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags)}


def _value(id: str) -> dict[str, Any]:
    return dict(json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=id)["SecretString"]))


def test_secret_lifecycle(make_ctx: Callable[..., Any]) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("secretsmanager.secret")
    ctx = make_ctx("secretsmanager.secret.db")
    props = rt.parse_props({"name": "mf-db", "description": "db creds", "kms_key_id": key, "username": "metaflow"})
    id = rt.create(ctx, props)
    assert id.startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:mf-db-")

    value = _value(id)
    password = value["password"]
    assert value["username"] == "metaflow"
    assert len(password) == 40 and set(password) <= set(ALPHABET)
    assert not set(password) & set('/"@ ')
    assert read_password(boto3.client("secretsmanager"), id) == password

    obs = rt.read(ctx, id)
    assert obs.props == _want(rt, props, ctx)
    assert "password_length" not in obs.props
    assert obs.attrs == {"id": id, "arn": id, "name": "mf-db"}
    assert password not in repr(obs)
    assert rt.find(ctx, props) == id

    # out of band: description, key and username changed, a tag removed
    sm = boto3.client("secretsmanager")
    sm.update_secret(SecretId=id, Description="edited", KmsKeyId="alias/aws/secretsmanager")
    sm.put_secret_value(SecretId=id, SecretString=json.dumps({"username": "someone", "password": password}))
    sm.untag_resource(SecretId=id, TagKeys=["managed-by"])
    drifted = rt.read(ctx, id)
    assert drifted.props["description"] == "edited"
    assert drifted.props["kms_key_id"] is None
    assert drifted.props["username"] == "someone"
    changes = _changes(rt, props, drifted, ctx)
    assert changes == {"description", "kms_key_id", "username", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == _want(rt, props, ctx)
    assert _value(id) == {"username": "metaflow", "password": password}  # the database still knows this one

    # back to the AWS managed key
    default = rt.parse_props(props.model_dump() | {"kms_key_id": None})
    obs = rt.read(ctx, id)
    rt.update(ctx, id, default, obs, _changes(rt, default, obs, ctx))
    assert rt.read(ctx, id).props["kms_key_id"] is None

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    # no recovery window: the name is free again at once (up after down)
    again = rt.create(ctx, props)
    assert _value(again)["password"] != password


def test_secret_scheduled_for_deletion_is_absent(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("secretsmanager.secret")
    ctx = make_ctx("secretsmanager.secret.db")
    props = rt.parse_props({"name": "mf-gone", "username": "u", "password_length": 16})
    id = rt.create(ctx, props)
    assert len(_value(id)["password"]) == 16
    assert rt.read(ctx, id).props == _want(rt, props, ctx)
    boto3.client("secretsmanager").delete_secret(SecretId=id, RecoveryWindowInDays=7)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None


def test_a_reshaped_secret_never_shows_its_value(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("secretsmanager.secret")
    ctx = make_ctx("secretsmanager.secret.db")
    props = rt.parse_props({"name": "mf-shape", "username": "u"})
    id = rt.create(ctx, props)
    sm = boto3.client("secretsmanager")
    text = "not-json-hunter2-secret-text"
    sm.put_secret_value(SecretId=id, SecretString=text)
    obs = rt.read(ctx, id)
    assert obs.props["username"] is None  # shown as drift
    assert text not in repr(obs)
    with pytest.raises(SecretShapeError) as err:
        read_password(sm, id)
    assert text not in str(err.value) and err.value.__cause__ is None and err.value.__context__ is None
    # changing the username of such a secret fails rather than inventing a password the database does not know
    with pytest.raises(SecretShapeError):
        rt.update(ctx, id, props, obs, {"username"})
    sm.put_secret_value(SecretId=id, SecretString=json.dumps({"username": "u"}))
    with pytest.raises(SecretShapeError, match="holds no password"):
        read_password(sm, id)
