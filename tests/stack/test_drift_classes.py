"""Every class of drift, reported and repaired: unmanaged resources (the stack's tags, unknown to the state),
state-only problems (stale and incomplete records), protection, and a state written by an older mfprov."""

from __future__ import annotations

import json

import boto3
import pytest

from provisioner.core.identity import stack_identity
from provisioner.engine.reconcile import EngineError
from provisioner.ops import app as core
from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK, TAG_STACK_ID
from state.document import SCHEMA_VERSION
from tests.stack.conftest import Stack, inventory


def stack_tags(address: str, stack: str = "t1", stack_id: str | None = None) -> list[dict[str, str]]:
    """The tags mfprov gives ``address`` of a stack (of the test stack ``t1`` in us-east-1 by default)."""
    return [
        {"Key": TAG_STACK, "Value": stack},
        {"Key": TAG_STACK_ID, "Value": stack_id or stack_identity(stack, "metaflow", "abc12345", "us-east-1")},
        {"Key": TAG_ADDRESS, "Value": address},
        {"Key": TAG_MANAGED_BY, "Value": "mfprov"},
    ]


def twin_vpc(stack: str = "t1") -> str:
    """What a CreateVpc whose answer was lost leaves behind: a second VPC with the same tags."""
    ec2 = boto3.client("ec2")
    spec = [{"ResourceType": "vpc", "Tags": stack_tags("ec2.vpc.main", stack)}]
    return str(ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=spec)["Vpc"]["VpcId"])


def by_status(stack: Stack) -> dict[str, list[tuple[str, str | None]]]:
    out: dict[str, list[tuple[str, str | None]]] = {}
    for item in stack.drift().value:
        out.setdefault(item.status, []).append((item.address, item.id))
    return out


def test_an_unmanaged_twin_is_reported_deleted_by_up_and_swept_by_down(stack: Stack) -> None:
    stack.up()
    twin = twin_vpc()
    items = stack.drift().value
    assert [(i.address, i.status, i.id, i.drift_class, i.repair) for i in items] == [
        ("ec2.vpc.main", "unmanaged", twin, "unmanaged", "delete")
    ]
    plan = stack.run("plan", core.plan).value
    assert plan.unmanaged == [f"ec2.vpc.main {twin}"] and plan.changes == []

    repaired = stack.up()
    assert repaired.mutating == {"ec2:DeleteVpc": 1}
    assert twin not in inventory()["vpc"]
    assert stack.drift().value == []

    # down sweeps one too: a twin left inside the stack's own VPC would otherwise block its deletion.
    vpc = stack.state().resources["ec2.vpc.main"].id
    spec = [{"ResourceType": "subnet", "Tags": stack_tags("ec2.subnet.public_1")}]
    sub = boto3.client("ec2").create_subnet(VpcId=vpc, CidrBlock="10.20.200.0/24", TagSpecifications=spec)
    stack.down(delete_protected=True)
    assert sub["Subnet"]["SubnetId"] not in inventory()["subnet"]
    assert vpc not in inventory()["vpc"]


def test_an_unmanaged_key_is_scheduled_for_deletion_which_can_be_undone(stack: Stack) -> None:
    """A KMS key twin (CreateKey has no idempotency token) is swept like any twin: its deletion is only
    scheduled, so it can be cancelled for 30 days should the twin have been used after all."""
    stack.up()
    kms = boto3.client("kms")
    tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in stack_tags("kms.key.s3")]
    twin = kms.create_key(Description="a twin", Tags=tags)["KeyMetadata"]["KeyId"]
    items = stack.drift().value
    assert [(i.address, i.status, i.id, i.repair) for i in items] == [("kms.key.s3", "unmanaged", twin, "delete")]
    assert stack.up().mutating == {"kms:ScheduleKeyDeletion": 1}
    assert kms.describe_key(KeyId=twin)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert stack.drift().value == []


def test_an_unmanaged_thing_that_may_hold_data_is_left_alone(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """A twin of a type whose delete cannot be undone is reported, and up says it leaves it. (Buckets and
    databases have account-unique names, so a real twin cannot happen; the VPC type stands in for one.)"""
    from resources.base import REGISTRY

    stack.up()
    twin = twin_vpc()
    monkeypatch.setattr(type(REGISTRY["ec2.vpc"]), "stateful", True)
    items = stack.drift().value
    assert [(i.status, i.id) for i in items] == [("unmanaged", twin)]
    assert items[0].repair.startswith("none: it may hold data")
    out = stack.up()
    assert out.mutating == {} and [u.id for u in out.value.left_alone] == [twin]
    assert twin in inventory()["vpc"]


def test_another_stacks_resources_are_not_this_stacks_business(stack: Stack) -> None:
    stack.up()
    twin_vpc(stack="someone-else")
    assert stack.drift().value == []
    assert stack.up().mutating == {}


def test_a_released_resource_is_not_taken_for_a_leftover(stack: Stack) -> None:
    from typer.testing import CliRunner

    from provisioner.cli.main import cli

    stack.up()
    # Out of the config and out of the state: it keeps the stack's tags, but the user let go of it.
    stack.path.write_text(
        stack.path.read_text().replace("[step_functions]\nenabled = true", "[step_functions]\nenabled = false")
    )
    table = stack.state().resources["dynamodb.table.step_functions"].id
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "state", "rm", "dynamodb.table.step_functions"])
    assert result.exit_code == 0, result.output
    assert "dynamodb.table.step_functions" not in {i.address for i in stack.drift().value}
    stack.up()
    assert table in boto3.client("dynamodb").list_tables()["TableNames"]


def test_stale_and_incomplete_records_are_state_only_drift_that_up_mends(stack: Stack) -> None:
    stack.up()
    ws = stack.ws()
    store = ws.store()
    doc = store.load("t1")
    # A resource the config dropped and someone deleted by hand; and a create that never finished.
    doc.resources["ec2.security_group.old"] = doc.resources["ec2.security_group.batch"].model_copy(
        update={"id": "sg-00000000000000000"}
    )
    doc.resources["dynamodb.table.step_functions"].status = "creating"
    store.save(doc)

    items = {i.status: i for i in stack.drift().value}
    assert set(items) == {"stale", "incomplete"}
    assert items["stale"].address == "ec2.security_group.old" and items["stale"].drift_class == "state"
    assert items["incomplete"].address == "dynamodb.table.step_functions"

    assert stack.up().mutating == {}, "both are mended in the state alone"
    assert stack.drift().value == []
    assert "ec2.security_group.old" not in stack.state().resources
    assert stack.state().resources["dynamodb.table.step_functions"].status == "ready"


def test_a_protected_resource_the_config_dropped_is_not_deleted(stack: Stack) -> None:
    from provisioner.core.context import Facts
    from provisioner.engine.graph import Blueprint
    from provisioner.stacks import metaflow

    stack.up()
    original = metaflow.build

    def without_bucket(cfg: object, facts: Facts) -> Blueprint:
        bp = original(cfg, facts)  # type: ignore[arg-type]
        bp.nodes.pop("s3.bucket.datastore")
        bp.outputs = {}
        return bp

    core.STACK_BUILDERS["metaflow"] = without_bucket
    try:
        drift = {i.address: i for i in stack.drift().value}
        assert drift["s3.bucket.datastore"].status == "removed from config"
        assert drift["s3.bucket.datastore"].repair.startswith("none: it is protected")
        with pytest.raises(EngineError, match=r"s3\.bucket\.datastore \(delete\)"):
            stack.up()
    finally:
        core.STACK_BUILDERS["metaflow"] = original
    assert stack.state().resources["s3.bucket.datastore"].id in {
        b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]
    }


def test_a_state_written_by_schema_1_is_migrated_and_kept(stack: Stack) -> None:
    stack.up()
    path = stack.path.parent / ".mfprov" / "state.json"
    raw = json.loads(path.read_text())
    raw["schema_version"] = 1
    raw.pop("released")
    for r in raw["resources"].values():
        r.pop("protected")
    path.write_text(json.dumps(raw))

    assert stack.up().mutating == {}
    assert stack.drift().value == []
    state = stack.state()
    assert state.schema_version == SCHEMA_VERSION
    assert {a for a, r in state.resources.items() if r.protected} == {"kms.key.s3", "s3.bucket.datastore"}
    assert json.loads((path.parent / "state.v1.json").read_text())["schema_version"] == 1


def test_a_state_from_a_newer_mfprov_or_of_unknown_types_is_refused_clearly(stack: Stack) -> None:
    from state.local import StateError

    stack.up()
    path = stack.path.parent / ".mfprov" / "state.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "schema_version": 99}))
    with pytest.raises(StateError, match="schema version 99.*Upgrade mfprov"):
        stack.drift()
    raw["resources"]["future.thing.x"] = {"kind": "future.thing", "id": "x-1"}
    path.write_text(json.dumps(raw))
    with pytest.raises(EngineError, match=r"future\.thing\.x of type future\.thing, which this mfprov does not know"):
        stack.drift()
