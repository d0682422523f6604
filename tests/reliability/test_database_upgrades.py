"""Database upgrades as RDS does them: a new major version only when allowed (`allow_major_version_upgrade`),
both flags sent on every ModifyDBInstance / ModifyDBCluster, and changes queued when `apply_immediately = false`.

moto makes a major jump without AllowMajorVersionUpgrade; the sandbox's shim (``rds_major_upgrade``) refuses it
as AWS does, and these tests run with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.sandbox import shims as sandbox_shims
from resources.base import resource_type
from resources.rds import MajorUpgradeRefused
from tests.resources.test_rds import _cluster_props, _db, net  # noqa: F401 (fixture)
from tests.stack.conftest import Stack, write_config


@pytest.fixture
def rds_as_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox_shims.rds_major_upgrade(lambda target, name, value: monkeypatch.setattr(target, name, value))


@pytest.fixture
def modify_calls(aws: Any) -> list[tuple[str, dict[str, Any]]]:
    """The parameters of every ModifyDBInstance / ModifyDBCluster mfprov sends."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((model.name, dict(params)))

    for op in ("ModifyDBInstance", "ModifyDBCluster"):
        aws.session.events.register(f"before-parameter-build.rds.{op}", record)
    return calls


def rds() -> Any:
    return boto3.client("rds")


# ------------------------------------------------------------------ the shim: AWS refuses an unflagged major jump


def test_the_sandbox_refuses_a_major_upgrade_without_the_flag(rds_as_aws: None, aws: Any) -> None:
    rds().create_db_instance(DBInstanceIdentifier="db", Engine="postgres", EngineVersion="16.4",
                             DBInstanceClass="db.t4g.small", AllocatedStorage=20, MasterUsername="u",
                             MasterUserPassword="password1234")  # fmt: skip
    rds().create_db_cluster(DBClusterIdentifier="cl", Engine="aurora-postgresql", EngineVersion="16.4",
                            MasterUsername="u", MasterUserPassword="password1234")  # fmt: skip

    for call in (
        lambda **kw: rds().modify_db_instance(DBInstanceIdentifier="db", **kw),
        lambda **kw: rds().modify_db_cluster(DBClusterIdentifier="cl", **kw),
    ):
        with pytest.raises(ClientError) as refused:
            call(EngineVersion="17.2", ApplyImmediately=True)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"
        assert "AllowMajorVersionUpgrade" in refused.value.response["Error"]["Message"]
        with pytest.raises(ClientError):
            call(EngineVersion="17.2", ApplyImmediately=True, AllowMajorVersionUpgrade=False)
        call(EngineVersion="16.6", ApplyImmediately=True)  # a minor upgrade needs no flag
        call(EngineVersion="17.2", ApplyImmediately=True, AllowMajorVersionUpgrade=True)

    assert rds().describe_db_instances(DBInstanceIdentifier="db")["DBInstances"][0]["EngineVersion"] == "17.2"
    assert rds().describe_db_clusters(DBClusterIdentifier="cl")["DBClusters"][0]["EngineVersion"] == "17.2"


# ------------------------------------------------------------------ the resources


def test_a_major_upgrade_is_refused_unless_allowed_the_other_changes_are_made(
    rds_as_aws: None, make_ctx: Callable[..., Any], net: dict[str, Any], modify_calls: list[Any]  # noqa: F811
) -> None:
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    id = rt.create(ctx, _db(rt, net))
    seventeen = _db(rt, net, engine_version="17", backup_retention_days=14)

    with pytest.raises(MajorUpgradeRefused, match="set allow_major_version_upgrade = true"):
        rt.update(ctx, id, seventeen, rt.read(ctx, id), {"engine_version", "backup_retention_days"})

    after = rt.read(ctx, id)
    assert after.props["engine_version"] == "16", "no outage the user did not allow"
    assert after.props["backup_retention_days"] == 14
    assert [params.get("EngineVersion") for _, params in modify_calls] == [None]

    allowed = _db(rt, net, engine_version="17", backup_retention_days=14, allow_major_version_upgrade=True)
    rt.update(ctx, id, allowed, after, {"engine_version"})
    assert rt.read(ctx, id).props["engine_version"] == "17"
    assert modify_calls[-1] == (
        "ModifyDBInstance",
        {"DBInstanceIdentifier": id, "EngineVersion": "17", "ApplyImmediately": True, "AllowMajorVersionUpgrade": True},
    )


def test_both_flags_are_always_sent(
    make_ctx: Callable[..., Any], net: dict[str, Any], modify_calls: list[Any]  # noqa: F811
) -> None:
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    id = rt.create(ctx, _db(rt, net))
    bigger = _db(rt, net, instance_class="db.t4g.medium")

    rt.update(ctx, id, bigger, rt.read(ctx, id), {"instance_class"})

    (op, params), = modify_calls
    assert params["ApplyImmediately"] is True and params["AllowMajorVersionUpgrade"] is False


def test_apply_immediately_false_queues_and_does_not_wait(
    make_ctx: Callable[..., Any],
    net: dict[str, Any],  # noqa: F811
    modify_calls: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt: Any = resource_type("rds.db_instance")
    progress: list[str] = []
    ctx = make_ctx("rds.db_instance.main")
    id = rt.create(ctx, _db(rt, net))
    monkeypatch.setattr(ctx, "on_progress", progress.append)
    waits: list[str] = []
    monkeypatch.setattr(ctx, "wait", lambda what, check, *a, **k: waits.append(what))
    later = _db(rt, net, instance_class="db.t4g.medium", apply_immediately=False)

    rt.update(ctx, id, later, rt.read(ctx, id), {"instance_class"})

    (_, params), = modify_calls
    assert params["ApplyImmediately"] is False
    assert "DB instance available" not in waits, "a maintenance window may be days away"
    assert any("DBInstanceClass queued for the next maintenance window" in p for p in progress), progress


def test_an_aurora_major_upgrade_is_refused_unless_allowed(
    rds_as_aws: None, make_ctx: Callable[..., Any], net: dict[str, Any], modify_calls: list[Any]  # noqa: F811
) -> None:
    rt: Any = resource_type("rds.db_cluster")
    ctx = make_ctx("rds.db_cluster.main")
    props = _cluster_props(rt, net)
    id = rt.create(ctx, props)
    wanted = props.model_dump() | {"engine_version": "17"}

    with pytest.raises(MajorUpgradeRefused):
        rt.update(ctx, id, rt.parse_props(wanted), rt.read(ctx, id), {"engine_version"})
    assert rt.read(ctx, id).props["engine_version"] == props.engine_version and modify_calls == []

    rt.update(ctx, id, rt.parse_props(wanted | {"allow_major_version_upgrade": True}), rt.read(ctx, id),
              {"engine_version"})  # fmt: skip
    assert rt.read(ctx, id).props["engine_version"] == "17"
    (op, params), = modify_calls
    assert op == "ModifyDBCluster" and params["AllowMajorVersionUpgrade"] is True and params["ApplyImmediately"]


# ------------------------------------------------------------------ the config keys, end to end


def test_the_database_section_decides_major_upgrades(
    rds_as_aws: None, moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(write_config(tmp_path, preset="standard"))
    stack.up()

    def up() -> Any:
        return CliRunner().invoke(cli, ["--config", str(stack.path), "up", "--yes"])

    text = stack.path.read_text()
    stack.path.write_text(text.replace('engine_version = "16"', 'engine_version = "17"', 1))
    refused = up()
    assert refused.exit_code == 1, refused.output
    assert "allow_major_version_upgrade = true" in refused.output and "Traceback" not in refused.output
    db = stack.state().resources["rds.db_instance.main"].id
    assert rds().describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]["EngineVersion"].startswith("16")

    text = stack.path.read_text()
    stack.path.write_text(text.replace("allow_major_version_upgrade = false", "allow_major_version_upgrade = true", 1))
    allowed = up()
    assert allowed.exit_code == 0, allowed.output
    assert rds().describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]["EngineVersion"].startswith("17")


def test_a_queued_change_reads_as_made_so_the_next_up_neither_resends_nor_fails(
    make_ctx: Callable[..., Any], net: dict[str, Any], monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """With `apply_immediately = false` AWS queues the change in PendingModifiedValues until the maintenance window
    (moto applies it at once, so the answer is made AWS's here): it reads as the config asked, so the engine's
    read-back after the update takes it, and drift shows nothing until the window, while attrs show it queued."""
    import resources.rds as rds_module
    from provisioner.engine.compare import diff

    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    id = rt.create(ctx, _db(rt, net))
    describe = rds_module._describe_instance

    def queued(ctx: Any, id: str) -> Any:
        db = describe(ctx, id)
        return db and {**db, "PendingModifiedValues": {"DBInstanceClass": "db.t4g.medium"}}

    monkeypatch.setattr(rds_module, "_describe_instance", queued)
    obs = rt.read(ctx, id)
    later = _db(rt, net, instance_class="db.t4g.medium", apply_immediately=False)
    assert obs.props["instance_class"] == "db.t4g.medium"
    assert obs.attrs["pending"] == {"DBInstanceClass": "db.t4g.medium"}
    assert diff(rt, later.model_dump(mode="json"), obs.props, ctx.tags) == []
