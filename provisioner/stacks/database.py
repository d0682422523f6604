"""A stack's PostgreSQL: its subnet group, and one RDS instance or an Aurora cluster with its instance. The
stack brings the key, the secret holding the password and the security group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from provisioner.engine.graph import Blueprint
from provisioner.stacks.config_common import PostgresConfig
from resources.base import Ref


@dataclass(frozen=True)
class Database:
    #: the address whose endpoint (``address`` attr) clients connect to
    address: str
    #: the address clients must be created after (the Aurora cluster's instance: the cluster alone serves nobody)
    ready: str


def addresses(name: str, db: PostgresConfig) -> Database:
    """Where ``add`` puts the database of ``name``: what another part of the stack refers to."""
    if db.engine == "aurora-postgresql":
        return Database(f"rds.db_cluster.{name}", f"rds.db_cluster_instance.{name}_1")
    return Database(f"rds.db_instance.{name}", f"rds.db_instance.{name}")


def add(
    bp: Blueprint,
    db: PostgresConfig,
    *,
    name: str,
    identifier: str,
    subnet_group: str,
    description: str,
    subnets: list[Any],
    key_arn: Any,
    secret_arn: Any,
    security_group: Any,
    db_name: str,
    username: str,
) -> Database:
    """Addresses ``rds.db_subnet_group.<name>``, ``rds.db_instance.<name>`` or ``rds.db_cluster.<name>`` +
    ``rds.db_cluster_instance.<name>_1``."""
    bp.add(
        f"rds.db_subnet_group.{name}",
        "rds.db_subnet_group",
        name=subnet_group,
        description=description,
        subnet_ids=subnets,
    )
    common: dict[str, Any] = dict(
        identifier=identifier,
        engine=db.engine,
        engine_version=db.engine_version,
        kms_key_id=key_arn,
        db_name=db_name,
        username=username,
        password_secret_arn=secret_arn,
        subnet_group_name=Ref(address=f"rds.db_subnet_group.{name}", attr="name"),
        security_group_ids=[security_group],
        backup_retention_days=db.backup_retention_days,
        deletion_protection=db.deletion_protection,
        skip_final_snapshot=db.skip_final_snapshot,
        final_snapshot_identifier=f"{identifier}-final",
        allow_major_version_upgrade=db.allow_major_version_upgrade,
        apply_immediately=db.apply_immediately,
        snapshot_identifier=db.snapshot_identifier,
    )
    where = addresses(name, db)
    if db.engine == "aurora-postgresql":
        bp.add(
            where.address,
            "rds.db_cluster",
            serverless_min_capacity=db.serverless_min_capacity if db.serverless else None,
            serverless_max_capacity=db.serverless_max_capacity if db.serverless else None,
            **common,
        )
        bp.add(
            where.ready,
            "rds.db_cluster_instance",
            identifier=f"{identifier}-1",
            cluster_identifier=Ref(address=where.address),
            engine=db.engine,
            instance_class=db.aurora_instance_class,
        )
        return where
    bp.add(
        where.address,
        "rds.db_instance",
        instance_class=db.instance_class,
        allocated_storage=db.allocated_storage,
        max_allocated_storage=db.max_allocated_storage,
        multi_az=db.multi_az,
        **common,
    )
    return where
