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

from provisioner.compare import diff
from resources.base import resource_type
from tests.conftest import ACCOUNT


def _want(rt: Any, props: Any, ctx: Any) -> dict[str, Any]:
    dump = props.model_dump(mode="json")
    return {k: v for k, v in dump.items() if k not in rt.behaviour_fields | rt.sensitive_fields} | {"tags": ctx.tags}


def _changes(rt: Any, props: Any, obs: Any, ctx: Any) -> set[str]:
    return {c.field for c in diff(rt, props.model_dump(mode="json"), obs.props, ctx.tags)}


@pytest.fixture
def net(make_ctx: Callable[..., Any]) -> dict[str, Any]:
    """A VPC with two subnets, two security groups, a key and the password secret."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{az}")["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate("abc")
    ]
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
    assert _changes(rt, props, obs, ctx) == set()
    assert obs.props == _want(rt, props, ctx) | {"subnet_ids": sorted(props.subnet_ids)}
    assert obs.attrs == {"id": "mf-main", "name": "mf-main", "arn": "arn:aws:rds:us-east-1:123456789012:subgrp:mf-main"}
    assert rt.find(ctx, props) == id

    rds = boto3.client("rds")
    rds.modify_db_subnet_group(DBSubnetGroupName=id, DBSubnetGroupDescription="edited", SubnetIds=net["subnets"])
    rds.remove_tags_from_resource(ResourceName=obs.attrs["arn"], TagKeys=["mfprov:stack"])
    drifted = rt.read(ctx, id)
    assert drifted.props["description"] == "edited" and len(drifted.props["subnet_ids"]) == 3
    changes = _changes(rt, props, drifted, ctx)
    assert changes == {"description", "subnet_ids", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert _changes(rt, props, rt.read(ctx, id), ctx) == set()

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
    assert obs.props == _want(rt, props, ctx)
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
    changes = _changes(rt, props, drifted, ctx)
    assert changes == {"backup_retention_days", "instance_class", "security_group_ids", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == _want(rt, props, ctx)

    # desired changes: a major version upgrade, more storage, autoscaling off, both security groups
    bigger = _db(rt, net, engine_version="17", allocated_storage=50, max_allocated_storage=None,
                 security_group_ids=list(reversed(net["sgs"])))  # fmt: skip
    obs = rt.read(ctx, id)
    changes = _changes(rt, bigger, obs, ctx)
    assert changes == {"engine_version", "allocated_storage", "max_allocated_storage", "security_group_ids"}
    rt.update(ctx, id, bigger, obs, changes)
    after = rt.read(ctx, id)
    assert _changes(rt, bigger, after, ctx) == set()
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
    assert rt.read(ctx, id).props == _want(rt, props, ctx)
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
