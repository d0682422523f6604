"""Restore: `snapshot_identifier` in a stack's database section creates the database from a snapshot (the final
one `down --delete-protected` took and printed), with the snapshot's data and the stack's security group, and
the master password reset to the stack's secret; the field is create-only: it never replaces a live database.

AWS: RestoreDBInstanceFromDBSnapshot takes no key or version (the snapshot's), and an unset security group falls
back to the VPC's default; RestoreDBClusterFromSnapshot makes only the cluster (aws-semantics.md section 10).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto.core import DEFAULT_ACCOUNT_ID
from moto.rds.models import rds_backends
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.ops import app as core
from tests.stack.conftest import Stack, write_config

_RESTORES = ("RestoreDBInstanceFromDBSnapshot", "RestoreDBClusterFromSnapshot", "CopyDBSnapshot")


@pytest.fixture
def restore_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The parameters of every restore (and snapshot copy) call mfprov sends."""
    calls: list[tuple[str, dict[str, Any]]] = []
    real = BaseClient._make_api_call

    def record(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation in _RESTORES:
            calls.append((operation, dict(params)))
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    yield calls


def cli_run(stack: Stack, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--config", str(stack.path), *args])
    assert result.exit_code == 0, result.output
    return result


def set_in_database_section(stack: Stack, line: str) -> None:
    """Add ``line`` to the stack's database section (metadata.database or mlflow.database)."""
    text = stack.path.read_text()
    text, n = re.subn(r"^(\[(?:metadata|mlflow)\.database\][^\n]*\n)", rf"\g<1>{line}\n", text, count=1, flags=re.M)
    assert n == 1
    stack.path.write_text(text)


def stack_password(stack: Stack, address: str) -> str:
    arn = stack.state().resources[address].attrs["arn"]
    value = boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    return str(json.loads(value)["password"])


def master_password(db_id: str, cluster: bool = False) -> str:
    backend = rds_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    # moto keeps what RDS was last told; its public property refuses to say it, as RDS does
    return str((backend.clusters if cluster else backend.databases)[db_id]._master_user_password)


def drop_automated_cluster_snapshots() -> None:
    """moto keeps a deleted cluster's automated snapshot (rds:<cluster>-<minute>), and then refuses to make the
    restored cluster's own under the same name in the same minute. AWS deletes automated backups with the cluster
    (DeleteDBCluster, DeleteAutomatedBackups defaults to true:
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBCluster.html)."""
    snapshots = rds_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].cluster_snapshots
    for name in [n for n in snapshots if n.startswith("rds:")]:
        del snapshots[name]


def secret_address(stack: Stack) -> str:
    found = [a for a in stack.state().resources if a.startswith("secretsmanager.secret.")]
    assert len(found) == 1, found
    return found[0]


def test_a_standard_stack_is_restored_from_the_final_snapshot_down_printed(
    moto_account: None, tmp_path: Path, restore_calls: list[Any]
) -> None:
    stack = Stack(write_config(tmp_path, preset="standard"))
    stack.up()
    db_id = stack.state().resources["rds.db_instance.main"].id
    old_secret = stack_password(stack, secret_address(stack))

    gone = cli_run(stack, "down", "--yes", "--delete-protected")
    snapshot = f"{db_id}-final"
    assert snapshot in gone.output  # `down` names the snapshot to restore from
    assert boto3.client("rds").describe_db_snapshots(DBSnapshotIdentifier=snapshot)["DBSnapshots"]

    set_in_database_section(stack, f'snapshot_identifier = "{snapshot}"')
    stack.up()

    resources = stack.state().resources
    assert resources["rds.db_instance.main"].id == db_id
    [(copy_op, copied), (op, params)] = restore_calls
    assert (copy_op, op) == ("CopyDBSnapshot", "RestoreDBInstanceFromDBSnapshot")
    assert params["DBInstanceIdentifier"] == db_id
    # the snapshot's key was the old stack's (deleted with it): restored from a copy under the new stack's key
    assert copied["SourceDBSnapshotIdentifier"].endswith(f":snapshot:{snapshot}")
    assert copied["KmsKeyId"] == resources["kms.key.rds"].attrs["arn"]
    assert params["DBSnapshotIdentifier"] == copied["TargetDBSnapshotIdentifier"] == f"{db_id}-restore-source"
    # tagged as the database's node: only a copy with those tags is used again or deleted (AWS copies no tag
    # unless told, CopyTags defaults to false: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBSnapshot.html)
    node_tags = boto3.client("rds").describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]["TagList"]
    assert sorted(map(str, copied["Tags"])) == sorted(map(str, node_tags))
    # the stack's security group, passed (unset, RDS would put the VPC's default one)
    sg = resources["ec2.security_group.rds"].id
    assert params["VpcSecurityGroupIds"] == [sg]
    db = boto3.client("rds").describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [sg]
    assert params["DBSubnetGroupName"] == resources["rds.db_subnet_group.main"].id
    # the restored instance is under the new stack's key, and the copy made for that is gone; the snapshot is kept
    assert db["KmsKeyId"] == resources["kms.key.rds"].attrs["arn"]
    kept = {s["DBSnapshotIdentifier"] for s in boto3.client("rds").describe_db_snapshots()["DBSnapshots"]}
    assert snapshot in kept and f"{db_id}-restore-source" not in kept
    # the password: the new stack's secret, not the one the snapshot came with
    new_secret = stack_password(stack, secret_address(stack))
    assert new_secret != old_secret
    assert master_password(db_id) == new_secret

    assert stack.drift().value == []
    again = stack.up()
    assert again.mutating == {}

    # create-only: another snapshot named later replaces nothing
    text = stack.path.read_text().replace(f'snapshot_identifier = "{snapshot}"', 'snapshot_identifier = "other"')
    stack.path.write_text(text)
    assert stack.drift().value == []
    assert stack.up().mutating == {}
    assert len(restore_calls) == 2


def test_a_snapshot_of_the_copys_name_made_by_someone_else_is_neither_used_nor_deleted(
    moto_account: None, tmp_path: Path, restore_calls: list[Any]
) -> None:
    """A shared account: someone keeps a snapshot under the name the restore's copy would take. The restore stops
    with one line naming it; that snapshot is not restored from and is still there."""
    stack = Stack(write_config(tmp_path, preset="standard"))
    stack.up()
    db_id = stack.state().resources["rds.db_instance.main"].id
    cli_run(stack, "down", "--yes", "--delete-protected")
    rds = boto3.client("rds")
    theirs = f"{db_id}-restore-source"
    rds.copy_db_snapshot(
        SourceDBSnapshotIdentifier=f"{db_id}-final", TargetDBSnapshotIdentifier=theirs,
        Tags=[{"Key": "team", "Value": "someone-else"}],
    )  # fmt: skip
    restore_calls.clear()  # that copy was theirs

    set_in_database_section(stack, f'snapshot_identifier = "{db_id}-final"')
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "up", "--yes"])
    assert result.exit_code == 1
    assert theirs in result.output and "this stack did not make it" in result.output, result.output
    assert [op for op, _ in restore_calls] == []
    assert rds.describe_db_snapshots(DBSnapshotIdentifier=theirs)["DBSnapshots"][0]["TagList"] == [
        {"Key": "team", "Value": "someone-else"}
    ]
    assert rds.describe_db_instances()["DBInstances"] == []


def test_a_missing_snapshot_is_one_line_and_nothing_is_made(
    moto_account: None, tmp_path: Path, restore_calls: list[Any]
) -> None:
    stack = Stack(write_config(tmp_path, preset="standard"))
    set_in_database_section(stack, 'snapshot_identifier = "no-such-snapshot"')
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "up", "--yes"])
    assert result.exit_code == 1
    assert "no-such-snapshot" in result.output and "Traceback" not in result.output
    assert restore_calls == []
    assert boto3.client("rds").describe_db_instances()["DBInstances"] == []


def test_a_snapshot_identifier_that_is_not_one_is_refused_by_the_config(tmp_path: Path) -> None:
    stack = Stack(write_config(tmp_path, preset="standard"))
    set_in_database_section(stack, 'snapshot_identifier = "1-not--a-name"')
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "plan"])
    assert result.exit_code != 0
    assert "not an RDS snapshot name" in result.output and "Traceback" not in result.output


def test_an_aurora_mlflow_database_is_restored_from_its_final_cluster_snapshot(
    moto_account: None, tmp_path: Path, restore_calls: list[Any]
) -> None:
    from tests.stack.test_mlflow_stack import mlflow_config

    stack = Stack(mlflow_config(tmp_path, **{'engine = "postgres"': 'engine = "aurora-postgresql"'}))
    stack.up()
    cluster_id = stack.state().resources["rds.db_cluster.mlflow"].id
    old_secret = stack_password(stack, "secretsmanager.secret.db")

    gone = cli_run(stack, "down", "--yes", "--delete-protected")
    snapshot = f"{cluster_id}-final"
    assert snapshot in gone.output
    rds = boto3.client("rds")
    assert rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"]
    drop_automated_cluster_snapshots()

    set_in_database_section(stack, f'snapshot_identifier = "{snapshot}"')
    stack.up()

    resources = stack.state().resources
    [(op, params)] = restore_calls
    assert op == "RestoreDBClusterFromSnapshot"
    assert params["DBClusterIdentifier"] == cluster_id and params["SnapshotIdentifier"] == snapshot
    # an Aurora restore takes the key: the new stack's (the old one went with `down`)
    assert params["KmsKeyId"] == resources["kms.key.mlflow"].attrs["arn"]
    assert params["VpcSecurityGroupIds"] == [resources["ec2.security_group.db"].id]
    cluster = rds.describe_db_clusters(DBClusterIdentifier=cluster_id)["DBClusters"][0]
    assert [g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]] == [resources["ec2.security_group.db"].id]
    # the restore made only the cluster; its instance is the stack's own node, created after
    instance = resources["rds.db_cluster_instance.mlflow_1"].id
    assert rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]["DBClusterIdentifier"] == (
        cluster_id
    )
    new_secret = stack_password(stack, "secretsmanager.secret.db")
    assert new_secret != old_secret
    assert master_password(cluster_id, cluster=True) == new_secret

    assert stack.drift().value == []
    assert stack.up().mutating == {}


def test_permissions_grant_the_restore_from_the_named_snapshot_only_when_one_is_named(
    moto_account: None, tmp_path: Path
) -> None:
    stack = Stack(write_config(tmp_path, preset="standard"))

    def restore_statements() -> list[dict[str, Any]]:
        result = CliRunner().invoke(cli, ["--config", str(stack.path), "permissions", "--json"])
        assert result.exit_code == 0, result.output
        return [
            st
            for st in json.loads(result.stdout)["Statement"]
            if "rds:RestoreDBInstanceFromDBSnapshot" in (st["Action"] if isinstance(st["Action"], list) else [])
        ]

    assert restore_statements() == []
    set_in_database_section(stack, 'snapshot_identifier = "old-metaflow-final"')
    [statement] = restore_statements()
    assert {"rds:CopyDBSnapshot", "rds:DeleteDBSnapshot"} <= set(statement["Action"])
    assert "arn:aws:rds:us-east-1:123456789012:snapshot:old-metaflow-final" in statement["Resource"]


def test_a_restore_stopped_before_its_password_reset_is_finished_by_the_next_up(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The restored database answers to the snapshot's old password until the reset: a run that dies between
    the restore and the reset must not leave it so. AWS remembers what is still to do (a tag on the database),
    drift says so, and the next `up` resets the password."""
    stack = Stack(write_config(tmp_path, preset="standard"))
    stack.up()
    db_id = stack.state().resources["rds.db_instance.main"].id
    cli_run(stack, "down", "--yes", "--delete-protected")
    set_in_database_section(stack, f'snapshot_identifier = "{db_id}-final"')

    real = BaseClient._make_api_call

    def dies_at_the_reset(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        if operation == "ModifyDBInstance" and "MasterUserPassword" in params:
            raise ConnectionError("the network went away")  # the run stops right before the reset
        return real(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", dies_at_the_reset)
    stopped = stack.run("up", core.up).value.run
    assert not stopped.ok and "rds.db_instance.main" in stopped.failed
    monkeypatch.setattr(BaseClient, "_make_api_call", real)
    new_secret = stack_password(stack, secret_address(stack))
    assert master_password(db_id) != new_secret  # the snapshot's password, still

    found = [d for d in stack.drift().value if d.address == "rds.db_instance.main"]
    assert [c.field for d in found for c in d.changes] == ["password_reset_pending"]
    stack.up()
    assert master_password(db_id) == new_secret
    tags = boto3.client("rds").describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]["TagList"]
    assert "mfprov:password-reset" not in {t["Key"] for t in tags}
    # the copy made under the new stack's key (the old key went with `down`) is not left behind to bill
    kept = {s["DBSnapshotIdentifier"] for s in boto3.client("rds").describe_db_snapshots()["DBSnapshots"]}
    assert f"{db_id}-final" in kept and f"{db_id}-restore-source" not in kept
    assert stack.drift().value == []
