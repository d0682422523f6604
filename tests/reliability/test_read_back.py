"""A field AWS did not take is an error, never a success (issue 14, section 6): after an update, and after the
settings a create could not take, the resource is read back and compared again."""

from __future__ import annotations

import pytest

from provisioner.engine import reconcile as engine
from provisioner.ops import app as core
from provisioner.sandbox import shims as sandbox_shims
from resources.base import resource_type
from tests.stack.conftest import Stack


def test_an_update_that_did_not_take_fails_the_resource_naming_the_field(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox_shims.ec2_launch_template_tags(
        lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False)
    )
    stack.up()
    # The call is accepted but the value does not stick (a stand-in AWS that drops it, a policy that reverts it).
    monkeypatch.setattr(type(resource_type("s3.bucket")), "update", lambda self, ctx, id, props, obs, changes: None)
    monkeypatch.setattr(engine, "READ_BACK_DEADLINE", 1.0)
    stack.path.write_text(stack.path.read_text().replace('team = "ml"', 'team = "ai"', 1))

    out = stack.run("up", core.up)
    run = out.value.run
    assert run is not None and not run.ok
    failed = {a: str(o.error) for a, o in run.failed.items()}
    assert list(failed) == ["s3.bucket.datastore"]
    assert "did not take tags" in failed["s3.bucket.datastore"]
    # everything else took the new tag
    assert [i.address for i in stack.drift().value] == ["s3.bucket.datastore"]


def test_a_setting_a_create_could_not_take_is_set_then_checked(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    table = type(resource_type("dynamodb.table"))
    create = table.create

    def create_that_drops_the_tags(self, ctx, props):  # type: ignore[no-untyped-def]
        id_ = create(self, ctx, props)
        ddb = boto3.client("dynamodb")
        arn = ddb.describe_table(TableName=id_)["Table"]["TableArn"]
        ddb.untag_resource(ResourceArn=arn, TagKeys=list(ctx.tags))
        return id_

    monkeypatch.setattr(table, "create", create_that_drops_the_tags)
    monkeypatch.setattr(engine, "READ_BACK_DEADLINE", 1.0)
    # The follow-up puts the tags on: one up converges.
    assert stack.up().value.run.ok
    assert stack.drift().value == []

    # A follow-up that does not take is an error naming the field.
    stack.down(delete_protected=True)
    monkeypatch.setattr(table, "update", lambda self, ctx, id, props, obs, changes: None)
    run = stack.run("up", core.up).value.run
    assert run is not None and "dynamodb.table.step_functions" in run.failed
    assert "did not take tags" in str(run.failed["dynamodb.table.step_functions"].error)
