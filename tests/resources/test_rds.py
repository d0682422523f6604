"""RDS: the subnet group and the PostgreSQL instance (read back, drift repaired, final snapshot on delete),
and the master password, which must appear nowhere mfprov keeps or prints."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.rds.models import RDSBackend, rds_backends

from provisioner.engine.compare import diff
from resources.base import resource_type
from resources.rds import DowngradeRefused
from tests.conftest import ACCOUNT
from tests.resources.drift import (
    WorldChange,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    read_back,
    vpc_with_subnets,
)


@pytest.fixture
def net(make_ctx: Callable[..., Any]) -> dict[str, Any]:
    """A VPC with two subnets, two security groups, a key and the password secret."""
    ec2 = boto3.client("ec2")
    vpc, subnets = vpc_with_subnets("abc", first=0)
    sgs = [ec2.create_security_group(GroupName=f"sg{i}", Description="x", VpcId=vpc)["GroupId"] for i in range(2)]
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    secret_rt: Any = resource_type("secretsmanager.secret")
    secret = secret_rt.create(
        make_ctx("secretsmanager.secret.db"), secret_rt.parse_props({"name": "mf-db", "username": "metaflow"})
    )
    return {"vpc": vpc, "subnets": subnets, "sgs": sgs, "key": key, "secret": secret}


@pytest.fixture
def fixed_modify_subnet_group(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's ModifyDBSubnetGroup pops the group and never puts it back (a moto bug, not AWS behaviour)."""
    original = RDSBackend.modify_db_subnet_group

    def modify(self: RDSBackend, subnet_name: str, description: str, subnets: list[Any]) -> Any:
        group = original(self, subnet_name, description, subnets)
        self.subnet_groups[subnet_name] = group
        return group

    monkeypatch.setattr(RDSBackend, "modify_db_subnet_group", modify)
    yield


def test_subnet_group_lifecycle(
    make_ctx: Callable[..., Any], net: dict[str, Any], fixed_modify_subnet_group: None
) -> None:
    rt: Any = resource_type("rds.db_subnet_group")
    ctx = make_ctx("rds.db_subnet_group.main")
    props = rt.parse_props({"name": "mf-main", "subnet_ids": list(reversed(net["subnets"][:2]))})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert changed_fields(rt, props, obs, ctx) == set()
    assert obs.props == read_back(rt, props, ctx) | {"subnet_ids": sorted(props.subnet_ids)}
    assert obs.attrs == {"id": "mf-main", "name": "mf-main", "arn": "arn:aws:rds:us-east-1:123456789012:subgrp:mf-main"}
    assert rt.find(ctx, props) == id

    rds = boto3.client("rds")
    rds.modify_db_subnet_group(DBSubnetGroupName=id, DBSubnetGroupDescription="edited", SubnetIds=net["subnets"])
    rds.remove_tags_from_resource(ResourceName=obs.attrs["arn"], TagKeys=["mfprov:stack"])
    drifted = rt.read(ctx, id)
    assert drifted.props["description"] == "edited" and len(drifted.props["subnet_ids"]) == 3
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"description", "subnet_ids", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None


def _db(rt: Any, net: dict[str, Any], **extra: Any) -> Any:
    rds = boto3.client("rds")
    if not rds.describe_db_subnet_groups()["DBSubnetGroups"]:
        rds.create_db_subnet_group(
            DBSubnetGroupName="mf-main", DBSubnetGroupDescription="x", SubnetIds=net["subnets"][:2]
        )
    return rt.parse_props(
        {
            "identifier": "mf-db",
            "kms_key_id": net["key"],
            "password_secret_arn": net["secret"],
            "subnet_group_name": "mf-main",
            "security_group_ids": [net["sgs"][0]],
            **extra,
        }
    )


def test_db_instance_lifecycle(make_ctx: Callable[..., Any], net: dict[str, Any]) -> None:
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    props = _db(rt, net)
    id = rt.create(ctx, props)
    assert id == "mf-db"
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.props["deletion_protection"] is True and obs.props["kms_key_id"] == net["key"]
    assert obs.attrs["arn"] == "arn:aws:rds:us-east-1:123456789012:db:mf-db"
    assert obs.attrs["port"] == 5432 and obs.attrs["endpoint"] == f"{obs.attrs['address']}:5432"
    assert rt.find(ctx, props) == id

    # out of band: smaller backups, another class, another security group, a tag gone
    rds = boto3.client("rds")
    rds.modify_db_instance(
        DBInstanceIdentifier=id,
        BackupRetentionPeriod=1,
        DBInstanceClass="db.t4g.micro",
        VpcSecurityGroupIds=[net["sgs"][1]],
        ApplyImmediately=True,
    )
    rds.remove_tags_from_resource(ResourceName=obs.attrs["arn"], TagKeys=["mfprov:address"])
    drifted = rt.read(ctx, id)
    assert drifted.props["backup_retention_days"] == 1 and drifted.props["instance_class"] == "db.t4g.micro"
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"backup_retention_days", "instance_class", "security_group_ids", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)

    # desired changes: a major version upgrade (allowed), more storage, autoscaling off, both security groups
    bigger = _db(rt, net, engine_version="17", allocated_storage=50, max_allocated_storage=None,
                 security_group_ids=list(reversed(net["sgs"])), allow_major_version_upgrade=True)  # fmt: skip
    obs = rt.read(ctx, id)
    changes = changed_fields(rt, bigger, obs, ctx)
    assert changes == {"engine_version", "allocated_storage", "max_allocated_storage", "security_group_ids"}
    rt.update(ctx, id, bigger, obs, changes)
    after = rt.read(ctx, id)
    assert changed_fields(rt, bigger, after, ctx) == set()
    assert after.props["max_allocated_storage"] is None

    # storage never shrinks (RDS refuses); the request is dropped, not sent
    smaller = _db(rt, net, engine_version="17", allocated_storage=20, max_allocated_storage=None,
                  security_group_ids=net["sgs"])  # fmt: skip
    rt.update(ctx, id, smaller, after, {"allocated_storage"})
    assert rt.read(ctx, id).props["allocated_storage"] == 50

    # delete: deletion protection is lifted, a final snapshot taken, the instance is gone
    rt.delete(ctx, id, after.attrs, bigger)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    snaps = rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snaps] == ["mf-db-final"]

    # the same stack again: the earlier final snapshot is kept, the new one gets a timestamp
    id = rt.create(ctx, props)
    rt.delete(ctx, id, {}, props)
    names = sorted(s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"])
    assert names[0] == "mf-db-final" and names[1].startswith("mf-db-final-") and len(names) == 2


def test_db_instance_skip_final_snapshot(make_ctx: Callable[..., Any], net: dict[str, Any]) -> None:
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    props = _db(rt, net, skip_final_snapshot=True, deletion_protection=False, final_snapshot_identifier="never")
    id = rt.create(ctx, props)
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)
    rt.delete(ctx, id, {}, props)
    assert rt.read(ctx, id) is None
    assert boto3.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] == []


def test_the_password_is_nowhere(
    make_ctx: Callable[..., Any], net: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Everything mfprov logs (botocore's own DEBUG wire log prints request bodies, as any AWS SDK does;
    # mfprov never turns it on).
    caplog.set_level(logging.DEBUG, logger="provisioner")
    caplog.set_level(logging.DEBUG, logger="resources")
    caplog.set_level(logging.INFO)
    progress: list[str] = []
    secret_rt: Any = resource_type("secretsmanager.secret")
    db_rt: Any = resource_type("rds.db_instance")
    sctx = make_ctx("secretsmanager.secret.other")
    sctx.on_progress = progress.append
    secret = secret_rt.create(sctx, secret_rt.parse_props({"name": "mf-other", "username": "metaflow"}))
    ctx = make_ctx("rds.db_instance.main")
    ctx.on_progress = progress.append
    props = _db(rt=db_rt, net=net | {"secret": secret})
    id = db_rt.create(ctx, props)
    observed = [secret_rt.read(sctx, secret), db_rt.read(ctx, id)]
    obs = db_rt.read(ctx, id)
    db_rt.update(ctx, id, props, obs, {"backup_retention_days", "tags"})
    password = json.loads(boto3.client("secretsmanager").get_secret_value(SecretId=secret)["SecretString"])["password"]
    assert len(password) == 40
    # the database was created with the secret's password (the one thing it is read for)
    assert rds_backends[ACCOUNT]["us-east-1"].databases[id]._master_user_password == password
    db_rt.delete(ctx, id, obs.attrs, props)

    texts = [caplog.text, *progress, props.model_dump_json(), repr(props)]
    for o in observed:
        assert o is not None
        texts += [repr(o), repr(o.props), repr(o.attrs), json.dumps(o.props, default=str), json.dumps(o.attrs)]
    for text in texts:
        assert password not in text


# ------------------------------------------------------------------ every field drifted out of band, one at a time

#: an out-of-band major version upgrade, which RDS cannot undo: the repair is refused, saying what to set instead
DOWNGRADE = {"engine_version": (DowngradeRefused, "runs major version 17, newer than engine_version '16'")}


def _rds() -> Any:
    return boto3.client("rds")


def _arn(kind: str, id: str) -> str:
    if kind == "cluster":
        return str(_rds().describe_db_clusters(DBClusterIdentifier=id)["DBClusters"][0]["DBClusterArn"])
    if kind == "group":
        return str(_rds().describe_db_subnet_groups(DBSubnetGroupName=id)["DBSubnetGroups"][0]["DBSubnetGroupArn"])
    return str(_rds().describe_db_instances(DBInstanceIdentifier=id)["DBInstances"][0]["DBInstanceArn"])


def _untag(kind: str, id: str) -> None:
    _rds().remove_tags_from_resource(ResourceName=_arn(kind, id), TagKeys=["mfprov:address"])


def _modify(id: str, **kw: Any) -> None:
    _rds().modify_db_instance(DBInstanceIdentifier=id, ApplyImmediately=True, **kw)


def _reset_left_undone(kind: str, id: str) -> None:
    """What a restore leaves when its run stops before the password reset: the tag that says it is to do."""
    tag = {"Key": "mfprov:password-reset", "Value": "pending"}
    _rds().add_tags_to_resource(ResourceName=_arn(kind, id), Tags=[tag])


def _modify_cluster(id: str, **kw: Any) -> None:
    _rds().modify_db_cluster(DBClusterIdentifier=id, ApplyImmediately=True, **kw)


def _other_group(w: dict[str, Any]) -> str:
    _rds().create_db_subnet_group(DBSubnetGroupName="mf-other", DBSubnetGroupDescription="x", SubnetIds=w["subnets"])
    return "mf-other"


#: rds.db_subnet_group: (field, out-of-band change)
GROUP_CASES = [
    pytest.param(
        "description",
        lambda w, id: _rds().modify_db_subnet_group(
            DBSubnetGroupName=id, DBSubnetGroupDescription="edited", SubnetIds=w["subnets"][:2]
        ),
        id="description",
    ),
    pytest.param(
        "subnet_ids",
        lambda w, id: _rds().modify_db_subnet_group(
            DBSubnetGroupName=id, DBSubnetGroupDescription="Managed by mfprov", SubnetIds=w["subnets"]
        ),
        id="subnet_ids",
    ),
    pytest.param("tags", lambda w, id: _untag("group", id), id="tags"),
]
#: rds.db_subnet_group fields RDS offers no call to change
GROUP_NO_CALL = {"name": "no rename of a subnet group"}


@pytest.mark.parametrize(("field", "change"), GROUP_CASES)
def test_subnet_group_field_drift(
    make_ctx: Callable[..., Any], net: dict[str, Any], fixed_modify_subnet_group: None, field: str, change: WorldChange
) -> None:
    rt: Any = resource_type("rds.db_subnet_group")
    ctx = make_ctx("rds.db_subnet_group.main")
    props = rt.parse_props({"name": "mf-main", "subnet_ids": net["subnets"][:2]})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(net, id))


#: rds.db_instance (multi-AZ, deletion protection on): (field, out-of-band change)
INSTANCE_CASES = [
    # the repair would be a downgrade, which RDS refuses: DowngradeRefused says what to set instead
    pytest.param(
        "engine_version",
        lambda w, id: _modify(id, EngineVersion="17.2", AllowMajorVersionUpgrade=True),
        id="engine_version-upgraded",
    ),
    pytest.param("instance_class", lambda w, id: _modify(id, DBInstanceClass="db.t4g.micro"), id="instance_class"),
    pytest.param("max_allocated_storage", lambda w, id: _modify(id, MaxAllocatedStorage=500), id="max_storage"),
    pytest.param("storage_type", lambda w, id: _modify(id, StorageType="gp2"), id="storage_type"),
    pytest.param(
        "subnet_group_name", lambda w, id: _modify(id, DBSubnetGroupName=_other_group(w)), id="subnet_group_name"
    ),
    pytest.param(
        "security_group_ids", lambda w, id: _modify(id, VpcSecurityGroupIds=[w["sgs"][1]]), id="security_groups"
    ),
    pytest.param("multi_az", lambda w, id: _modify(id, MultiAZ=False), id="multi_az"),
    pytest.param("backup_retention_days", lambda w, id: _modify(id, BackupRetentionPeriod=1), id="backups"),
    pytest.param("deletion_protection", lambda w, id: _modify(id, DeletionProtection=False), id="deletion_protection"),
    pytest.param("publicly_accessible", lambda w, id: _modify(id, PubliclyAccessible=True), id="publicly_accessible"),
    pytest.param("tags", lambda w, id: _untag("instance", id), id="tags"),
    pytest.param("password_reset_pending", lambda w, id: _reset_left_undone("instance", id), id="reset_pending"),
]
#: rds.db_instance fields no out-of-band call can drift
INSTANCE_NO_CALL = {
    "identifier": "a rename (NewDBInstanceIdentifier) makes it another id: this one then reads as gone",
    "engine": "no call changes an instance's engine",
    "kms_key_id": "no call changes the key of an encrypted instance",
    "db_name": "no call renames the database",
    "username": "no call renames the master user",
    "allocated_storage": "RDS never shrinks storage, and more than desired (autoscaling, or by hand) is no drift "
    "(grow_only): test_storage_grown_out_of_band_is_no_drift",
}


def _instance_props(rt: Any, net: dict[str, Any]) -> Any:
    return _db(rt, net, multi_az=True, max_allocated_storage=200)


@pytest.mark.parametrize(("field", "change"), INSTANCE_CASES)
def test_db_instance_field_drift(
    make_ctx: Callable[..., Any], net: dict[str, Any], field: str, change: WorldChange
) -> None:
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    props = _instance_props(rt, net)
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(net, id), refused=DOWNGRADE)


def test_storage_grown_out_of_band_is_no_drift(make_ctx: Callable[..., Any], net: dict[str, Any]) -> None:
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    props = _instance_props(rt, net)
    id = rt.create(ctx, props)
    _modify(id, AllocatedStorage=60)
    grown = rt.read(ctx, id)
    assert grown.props["allocated_storage"] == 60
    assert diff(rt, props.model_dump(mode="json"), grown.props, ctx.tags) == []


def test_downgrade_refused_after_the_other_changes(make_ctx: Callable[..., Any], net: dict[str, Any]) -> None:
    """An instance upgraded out of band, and its backups changed too: the backups are repaired, the version is
    refused with what to set instead (RDS has no downgrade); a desired major of "17.2" is the major "17"."""
    rt: Any = resource_type("rds.db_instance")
    ctx = make_ctx("rds.db_instance.main")
    props = _instance_props(rt, net)
    id = rt.create(ctx, props)
    _modify(id, EngineVersion="17.2", AllowMajorVersionUpgrade=True, BackupRetentionPeriod=1)
    drifted = rt.read(ctx, id)
    with pytest.raises(DowngradeRefused, match="set engine_version = '17'"):
        rt.update(ctx, id, props, drifted, {"engine_version", "backup_retention_days"})
    after = rt.read(ctx, id)
    assert after.props["backup_retention_days"] == 7 and after.props["engine_version"] == "17"
    seventeen = _db(rt, net, multi_az=True, max_allocated_storage=200, engine_version="17.2")
    assert seventeen.engine_version == "17"
    assert diff(rt, seventeen.model_dump(mode="json"), after.props, ctx.tags) == []


def _cluster_props(rt: Any, net: dict[str, Any]) -> Any:
    rds = boto3.client("rds")
    rds.create_db_subnet_group(DBSubnetGroupName="mf-main", DBSubnetGroupDescription="x", SubnetIds=net["subnets"][:2])
    return rt.parse_props(
        {
            "identifier": "mf-aurora",
            "kms_key_id": net["key"],
            "password_secret_arn": net["secret"],
            "subnet_group_name": "mf-main",
            "security_group_ids": [net["sgs"][0]],
            "serverless_min_capacity": 1.0,
            "serverless_max_capacity": 8.0,
        }
    )


def test_db_cluster_and_its_instance_lifecycle(make_ctx: Callable[..., Any], net: dict[str, Any]) -> None:
    rt: Any = resource_type("rds.db_cluster")
    ctx = make_ctx("rds.db_cluster.main")
    props = _cluster_props(rt, net)
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.attrs["arn"] == "arn:aws:rds:us-east-1:123456789012:cluster:mf-aurora"
    assert obs.attrs["endpoint"] == f"{obs.attrs['address']}:{obs.attrs['port']}"
    assert rt.find(ctx, props) == id

    member_rt: Any = resource_type("rds.db_cluster_instance")
    mctx = make_ctx("rds.db_cluster_instance.writer")
    member = member_rt.parse_props({"identifier": "mf-aurora-1", "cluster_identifier": id})
    mid = member_rt.create(mctx, member)
    mobs = member_rt.read(mctx, mid)
    assert mobs.props == read_back(member_rt, member, mctx)
    assert mobs.attrs == {"id": mid, "arn": "arn:aws:rds:us-east-1:123456789012:db:mf-aurora-1"}
    assert member_rt.find(mctx, member) == mid

    member_rt.delete(mctx, mid, mobs.attrs, member)
    assert member_rt.read(mctx, mid) is None
    rt.delete(ctx, id, obs.attrs, props)  # deletion protection lifted, a final snapshot taken
    assert rt.read(ctx, id) is None and rt.find(ctx, props) is None
    snaps = boto3.client("rds").describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in snaps] == ["mf-aurora-final"]


def _scaling(lo: float, hi: float) -> dict[str, float]:
    return {"MinCapacity": lo, "MaxCapacity": hi}


#: rds.db_cluster: (field, out-of-band change)
CLUSTER_CASES = [
    pytest.param(
        "engine_version",
        lambda w, id: _modify_cluster(id, EngineVersion="17.2", AllowMajorVersionUpgrade=True),
        id="engine_version-upgraded",
    ),
    pytest.param(
        "subnet_group_name",
        lambda w, id: _modify_cluster(id, DBSubnetGroupName=_other_group(w)),
        id="subnet_group_name",
    ),
    pytest.param(
        "security_group_ids",
        lambda w, id: _modify_cluster(id, VpcSecurityGroupIds=w["sgs"]),
        id="security_groups",
    ),
    pytest.param("backup_retention_days", lambda w, id: _modify_cluster(id, BackupRetentionPeriod=1), id="backups"),
    pytest.param(
        "deletion_protection", lambda w, id: _modify_cluster(id, DeletionProtection=False), id="deletion_protection"
    ),
    pytest.param(
        "serverless_min_capacity",
        lambda w, id: _modify_cluster(id, ServerlessV2ScalingConfiguration=_scaling(0.5, 8.0)),
        id="serverless_min",
    ),
    pytest.param(
        "serverless_max_capacity",
        lambda w, id: _modify_cluster(id, ServerlessV2ScalingConfiguration=_scaling(1.0, 64.0)),
        id="serverless_max",
    ),
    pytest.param("tags", lambda w, id: _untag("cluster", id), id="tags"),
    pytest.param("password_reset_pending", lambda w, id: _reset_left_undone("cluster", id), id="reset_pending"),
]
#: rds.db_cluster fields no out-of-band call can drift
CLUSTER_NO_CALL = {
    "identifier": "a rename (NewDBClusterIdentifier) makes it another id: this one then reads as gone",
    "engine": "no call changes a cluster's engine",
    "kms_key_id": "no call changes the key of an encrypted cluster",
    "db_name": "no call renames the database",
    "username": "no call renames the master user",
}


@pytest.mark.parametrize(("field", "change"), CLUSTER_CASES)
def test_db_cluster_field_drift(
    make_ctx: Callable[..., Any], net: dict[str, Any], field: str, change: WorldChange
) -> None:
    rt: Any = resource_type("rds.db_cluster")
    ctx = make_ctx("rds.db_cluster.main")
    props = _cluster_props(rt, net)
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(net, id), refused=DOWNGRADE)


#: rds.db_cluster_instance: (field, out-of-band change)
MEMBER_CASES = [
    pytest.param("instance_class", lambda w, id: _modify(id, DBInstanceClass="db.r6g.large"), id="instance_class"),
    pytest.param("tags", lambda w, id: _untag("instance", id), id="tags"),
]
#: rds.db_cluster_instance fields no out-of-band call can drift
MEMBER_NO_CALL = {
    "identifier": "a rename makes it another id: this one then reads as gone",
    "cluster_identifier": "no call moves an instance to another cluster",
    "engine": "an instance's engine is its cluster's",
}


@pytest.mark.parametrize(("field", "change"), MEMBER_CASES)
def test_db_cluster_instance_field_drift(
    make_ctx: Callable[..., Any], net: dict[str, Any], field: str, change: WorldChange
) -> None:
    cluster: Any = resource_type("rds.db_cluster")
    cluster_id = cluster.create(make_ctx("rds.db_cluster.main"), _cluster_props(cluster, net))
    rt: Any = resource_type("rds.db_cluster_instance")
    ctx = make_ctx("rds.db_cluster_instance.writer")
    props = rt.parse_props({"identifier": "mf-aurora-1", "cluster_identifier": cluster_id})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(net, id))


@pytest.mark.parametrize(
    ("kind", "cases", "no_call"),
    [
        ("rds.db_subnet_group", GROUP_CASES, GROUP_NO_CALL),
        ("rds.db_instance", INSTANCE_CASES, INSTANCE_NO_CALL),
        ("rds.db_cluster", CLUSTER_CASES, CLUSTER_NO_CALL),
        ("rds.db_cluster_instance", MEMBER_CASES, MEMBER_NO_CALL),
    ],
)
def test_every_managed_field_has_a_drift_case(kind: str, cases: list[Any], no_call: dict[str, str]) -> None:
    assert_every_managed_field_has_a_case(kind, cases, no_call)
