"""RDS: DB subnet groups and PostgreSQL instances.

Calls: CreateDBSubnetGroup, DescribeDBSubnetGroups, ModifyDBSubnetGroup, DeleteDBSubnetGroup,
CreateDBInstance, DescribeDBInstances, ModifyDBInstance, DeleteDBInstance, DescribeDBSnapshots,
AddTagsToResource; Secrets Manager GetSecretValue (the master password, passed straight to RDS).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from provisioner.retry import WaitFailed
from resources.base import Observed, Props, Resource, is_not_found, register, tag_dict, tag_list
from resources.secretsmanager import read_password

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

_NOT_FOUND = frozenset({"DBSubnetGroupNotFoundFault", "DBInstanceNotFound", "DBInstanceNotFoundFault"})


class DbSubnetGroupProps(Props):
    name: str
    description: str = "Managed by mfprov"
    subnet_ids: list[str]


@register
class DbSubnetGroup(Resource[DbSubnetGroupProps]):
    kind = "rds.db_subnet_group"
    service = "rds"
    Props = DbSubnetGroupProps
    replace_on: ClassVar = frozenset({"name"})
    unordered: ClassVar = frozenset({"subnet_ids"})
    not_found_codes: ClassVar = _NOT_FOUND
    duplicate_codes: ClassVar = frozenset({"DBSubnetGroupAlreadyExists", "DBSubnetGroupAlreadyExistsFault"})

    def find(self, ctx: NodeContext, props: DbSubnetGroupProps) -> str | None:
        return props.name if self.read(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        rds = ctx.client("rds")
        try:
            group = rds.describe_db_subnet_groups(DBSubnetGroupName=id)["DBSubnetGroups"][0]
            tags = rds.list_tags_for_resource(ResourceName=group["DBSubnetGroupArn"])["TagList"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {
            "name": id,
            "description": group.get("DBSubnetGroupDescription", ""),
            "subnet_ids": sorted(s["SubnetIdentifier"] for s in group.get("Subnets", [])),
            "tags": tag_dict(tags),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": group["DBSubnetGroupArn"]})

    def create(self, ctx: NodeContext, props: DbSubnetGroupProps) -> str:
        ctx.client("rds").create_db_subnet_group(
            DBSubnetGroupName=props.name,
            DBSubnetGroupDescription=props.description,
            SubnetIds=props.subnet_ids,
            Tags=tag_list(ctx.tags),
        )
        ctx.created(props.name)
        return props.name

    def update(
        self, ctx: NodeContext, id: str, props: DbSubnetGroupProps, observed: Observed, changes: set[str]
    ) -> None:
        rds = ctx.client("rds")
        if changes & {"description", "subnet_ids"}:
            rds.modify_db_subnet_group(
                DBSubnetGroupName=id, DBSubnetGroupDescription=props.description, SubnetIds=props.subnet_ids
            )
        if "tags" in changes:
            rds.add_tags_to_resource(ResourceName=observed.attrs["arn"], Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: DbSubnetGroupProps | None) -> None:
        # The instance that used it may still be deleting for a moment.
        ctx.call(
            ctx.client("rds").delete_db_subnet_group, retry_on=("InvalidDBSubnetGroupStateFault",), DBSubnetGroupName=id
        )


class DbInstanceProps(Props):
    identifier: str
    engine: str = "postgres"
    #: the major version: AWS applies minor versions itself, so only the major is compared
    engine_version: str = "16"
    instance_class: str = "db.t4g.small"
    allocated_storage: int = 20
    max_allocated_storage: int | None = 100
    storage_type: str = "gp3"
    kms_key_id: str
    db_name: str = "metaflow"
    username: str = "metaflow"
    #: the secret holding the master password; read only to pass it to CreateDBInstance
    password_secret_arn: str
    subnet_group_name: str
    security_group_ids: list[str]
    multi_az: bool = False
    backup_retention_days: int = 7
    deletion_protection: bool = True
    publicly_accessible: bool = False
    #: off: deleting takes a final snapshot named ``final_snapshot_identifier``
    skip_final_snapshot: bool = False
    final_snapshot_identifier: str | None = None


def _describe_instance(ctx: NodeContext, id: str) -> dict[str, Any] | None:
    try:
        items = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=id)["DBInstances"]
    except ClientError as err:
        if is_not_found(err, _NOT_FOUND):
            return None
        raise
    return items[0] if items and items[0].get("DBInstanceStatus") != "deleting" else None


def _instance_available(ctx: NodeContext, id: str) -> bool | str:
    db = _describe_instance(ctx, id)
    status = db.get("DBInstanceStatus") if db else "absent"
    if status in ("failed", "incompatible-parameters", "incompatible-network", "storage-full"):
        raise WaitFailed(f"DB instance {id} is {status}")
    return True if status == "available" else str(status)


def _major(version: str | None) -> str | None:
    return version.split(".")[0] if version else version


@register
class DbInstance(Resource[DbInstanceProps]):
    kind = "rds.db_instance"
    service = "rds"
    Props = DbInstanceProps
    replace_on: ClassVar = frozenset({"identifier", "engine", "kms_key_id", "db_name", "username", "subnet_group_name"})
    unordered: ClassVar = frozenset({"security_group_ids"})
    behaviour_fields: ClassVar = frozenset({"password_secret_arn", "skip_final_snapshot", "final_snapshot_identifier"})
    not_found_codes: ClassVar = _NOT_FOUND
    duplicate_codes: ClassVar = frozenset({"DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"})
    stateful = True
    confirm_delete = True
    timeout = 3600.0

    def _describe(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        return _describe_instance(ctx, id)

    def find(self, ctx: NodeContext, props: DbInstanceProps) -> str | None:
        return props.identifier if self._describe(ctx, props.identifier) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        db = self._describe(ctx, id)
        if db is None:
            return None
        endpoint = db.get("Endpoint") or {}
        props = {
            "identifier": id,
            "engine": db.get("Engine"),
            "engine_version": _major(db.get("EngineVersion")),
            "instance_class": db.get("DBInstanceClass"),
            "allocated_storage": db.get("AllocatedStorage"),
            "max_allocated_storage": db.get("MaxAllocatedStorage"),
            "storage_type": db.get("StorageType"),
            "kms_key_id": db.get("KmsKeyId"),
            "db_name": db.get("DBName"),
            "username": db.get("MasterUsername"),
            "subnet_group_name": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "security_group_ids": sorted(g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", [])),
            "multi_az": bool(db.get("MultiAZ")),
            "backup_retention_days": db.get("BackupRetentionPeriod"),
            "deletion_protection": bool(db.get("DeletionProtection")),
            "publicly_accessible": bool(db.get("PubliclyAccessible")),
            "tags": tag_dict(db.get("TagList")),
        }
        attrs = {
            "id": id,
            "arn": db["DBInstanceArn"],
            "address": endpoint.get("Address"),
            "port": endpoint.get("Port"),
            "endpoint": f"{endpoint.get('Address')}:{endpoint.get('Port')}",
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _available(self, ctx: NodeContext, id: str) -> bool | str:
        return _instance_available(ctx, id)

    def create(self, ctx: NodeContext, props: DbInstanceProps) -> str:
        rds = ctx.client("rds")
        kw: dict[str, Any] = {}
        if props.max_allocated_storage:
            kw["MaxAllocatedStorage"] = props.max_allocated_storage
        rds.create_db_instance(
            DBInstanceIdentifier=props.identifier,
            Engine=props.engine,
            EngineVersion=props.engine_version,
            DBInstanceClass=props.instance_class,
            AllocatedStorage=props.allocated_storage,
            StorageType=props.storage_type,
            StorageEncrypted=True,
            KmsKeyId=props.kms_key_id,
            DBName=props.db_name,
            MasterUsername=props.username,
            MasterUserPassword=read_password(ctx.client("secretsmanager"), props.password_secret_arn),
            DBSubnetGroupName=props.subnet_group_name,
            VpcSecurityGroupIds=props.security_group_ids,
            MultiAZ=props.multi_az,
            BackupRetentionPeriod=props.backup_retention_days,
            DeletionProtection=props.deletion_protection,
            PubliclyAccessible=props.publicly_accessible,
            CopyTagsToSnapshot=True,
            Tags=tag_list(ctx.tags),
            **kw,
        )
        ctx.created(props.identifier)
        ctx.wait("DB instance available", lambda: self._available(ctx, props.identifier))
        return props.identifier

    def update(self, ctx: NodeContext, id: str, props: DbInstanceProps, observed: Observed, changes: set[str]) -> None:
        rds = ctx.client("rds")
        fields = {
            "engine_version": ("EngineVersion", props.engine_version),
            "instance_class": ("DBInstanceClass", props.instance_class),
            "allocated_storage": ("AllocatedStorage", props.allocated_storage),
            "max_allocated_storage": ("MaxAllocatedStorage", props.max_allocated_storage),
            "storage_type": ("StorageType", props.storage_type),
            "security_group_ids": ("VpcSecurityGroupIds", props.security_group_ids),
            "multi_az": ("MultiAZ", props.multi_az),
            "backup_retention_days": ("BackupRetentionPeriod", props.backup_retention_days),
            "deletion_protection": ("DeletionProtection", props.deletion_protection),
            "publicly_accessible": ("PubliclyAccessible", props.publicly_accessible),
        }
        kw = {api: value for field, (api, value) in fields.items() if field in changes}
        if "engine_version" in kw:
            kw["AllowMajorVersionUpgrade"] = True
        if kw:
            rds.modify_db_instance(DBInstanceIdentifier=id, ApplyImmediately=True, **kw)
            ctx.wait("DB instance available", lambda: self._available(ctx, id))
        if "tags" in changes:
            rds.add_tags_to_resource(ResourceName=observed.attrs["arn"], Tags=tag_list(ctx.tags))

    def final_snapshot_name(self, ctx: NodeContext, id: str, props: DbInstanceProps | None) -> str | None:
        """The snapshot ``delete`` takes, or None when skipping it."""
        if props is not None and props.skip_final_snapshot:
            return None
        name = (props.final_snapshot_identifier if props else None) or f"{id}-final"
        existing = ctx.client("rds").describe_db_snapshots(DBInstanceIdentifier=id, SnapshotType="manual")
        if any(s["DBSnapshotIdentifier"] == name for s in existing.get("DBSnapshots", [])):
            name = f"{name}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"  # never overwrite an earlier one
        return name

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: DbInstanceProps | None) -> None:
        rds = ctx.client("rds")
        db = self._describe(ctx, id)
        if db is None:
            return
        if db.get("DeletionProtection"):
            # `down` asked the user by name before getting here; protection is lifted only for this delete.
            rds.modify_db_instance(DBInstanceIdentifier=id, DeletionProtection=False, ApplyImmediately=True)
        snapshot = self.final_snapshot_name(ctx, id, props)
        if snapshot:
            ctx.on_progress(f"taking final snapshot {snapshot}")
            rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=snapshot)
        else:
            rds.delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True, DeleteAutomatedBackups=True)
        ctx.wait("DB instance deleted", lambda: self._describe(ctx, id) is None)


class DbClusterProps(Props):
    """An Aurora cluster; its instances are ``rds.db_cluster_instance`` nodes."""

    identifier: str
    engine: str = "aurora-postgresql"
    #: the major version, as for instances
    engine_version: str = "16"
    kms_key_id: str
    db_name: str = "metaflow"
    username: str = "metaflow"
    password_secret_arn: str
    subnet_group_name: str
    security_group_ids: list[str]
    backup_retention_days: int = 7
    deletion_protection: bool = True
    #: Serverless v2 capacity in ACUs; None for provisioned instances
    serverless_min_capacity: float | None = 0.5
    serverless_max_capacity: float | None = 4.0
    skip_final_snapshot: bool = False
    final_snapshot_identifier: str | None = None


@register
class DbCluster(Resource[DbClusterProps]):
    kind = "rds.db_cluster"
    service = "rds"
    Props = DbClusterProps
    replace_on: ClassVar = frozenset({"identifier", "engine", "kms_key_id", "db_name", "username", "subnet_group_name"})
    unordered: ClassVar = frozenset({"security_group_ids"})
    behaviour_fields: ClassVar = frozenset({"password_secret_arn", "skip_final_snapshot", "final_snapshot_identifier"})
    not_found_codes: ClassVar = frozenset({"DBClusterNotFoundFault"})
    duplicate_codes: ClassVar = frozenset({"DBClusterAlreadyExistsFault"})
    stateful = True
    confirm_delete = True
    timeout = 3600.0

    def _describe(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        try:
            items = ctx.client("rds").describe_db_clusters(DBClusterIdentifier=id)["DBClusters"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return items[0] if items and items[0].get("Status") != "deleting" else None

    def find(self, ctx: NodeContext, props: DbClusterProps) -> str | None:
        return props.identifier if self._describe(ctx, props.identifier) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        c = self._describe(ctx, id)
        if c is None:
            return None
        scaling = c.get("ServerlessV2ScalingConfiguration") or {}
        props = {
            "identifier": id,
            "engine": c.get("Engine"),
            "engine_version": _major(c.get("EngineVersion")),
            "kms_key_id": c.get("KmsKeyId"),
            "db_name": c.get("DatabaseName"),
            "username": c.get("MasterUsername"),
            "subnet_group_name": c.get("DBSubnetGroup"),
            "security_group_ids": sorted(g["VpcSecurityGroupId"] for g in c.get("VpcSecurityGroups", [])),
            "backup_retention_days": c.get("BackupRetentionPeriod"),
            "deletion_protection": bool(c.get("DeletionProtection")),
            "serverless_min_capacity": scaling.get("MinCapacity"),
            "serverless_max_capacity": scaling.get("MaxCapacity"),
            "tags": tag_dict(c.get("TagList")),
        }
        attrs = {
            "id": id,
            "arn": c["DBClusterArn"],
            "address": c.get("Endpoint"),
            "port": c.get("Port"),
            "endpoint": f"{c.get('Endpoint')}:{c.get('Port')}",
        }
        return Observed(id=id, props=props, attrs=attrs)

    def _available(self, ctx: NodeContext, id: str) -> bool | str:
        c = self._describe(ctx, id)
        status = c.get("Status") if c else "absent"
        return True if status == "available" else str(status)

    def _scaling(self, props: DbClusterProps) -> dict[str, Any]:
        if props.serverless_min_capacity is None or props.serverless_max_capacity is None:
            return {}
        return {
            "ServerlessV2ScalingConfiguration": {
                "MinCapacity": props.serverless_min_capacity,
                "MaxCapacity": props.serverless_max_capacity,
            }
        }

    def create(self, ctx: NodeContext, props: DbClusterProps) -> str:
        ctx.client("rds").create_db_cluster(
            DBClusterIdentifier=props.identifier,
            Engine=props.engine,
            EngineVersion=props.engine_version,
            StorageEncrypted=True,
            KmsKeyId=props.kms_key_id,
            DatabaseName=props.db_name,
            MasterUsername=props.username,
            MasterUserPassword=read_password(ctx.client("secretsmanager"), props.password_secret_arn),
            DBSubnetGroupName=props.subnet_group_name,
            VpcSecurityGroupIds=props.security_group_ids,
            BackupRetentionPeriod=props.backup_retention_days,
            DeletionProtection=props.deletion_protection,
            CopyTagsToSnapshot=True,
            Tags=tag_list(ctx.tags),
            **self._scaling(props),
        )
        ctx.created(props.identifier)
        ctx.wait("DB cluster available", lambda: self._available(ctx, props.identifier))
        return props.identifier

    def update(self, ctx: NodeContext, id: str, props: DbClusterProps, observed: Observed, changes: set[str]) -> None:
        rds = ctx.client("rds")
        kw: dict[str, Any] = {}
        if "engine_version" in changes:
            kw.update(EngineVersion=props.engine_version, AllowMajorVersionUpgrade=True)
        if "security_group_ids" in changes:
            kw["VpcSecurityGroupIds"] = props.security_group_ids
        if "backup_retention_days" in changes:
            kw["BackupRetentionPeriod"] = props.backup_retention_days
        if "deletion_protection" in changes:
            kw["DeletionProtection"] = props.deletion_protection
        if changes & {"serverless_min_capacity", "serverless_max_capacity"}:
            kw.update(self._scaling(props))
        if kw:
            rds.modify_db_cluster(DBClusterIdentifier=id, ApplyImmediately=True, **kw)
            ctx.wait("DB cluster available", lambda: self._available(ctx, id))
        if "tags" in changes:
            rds.add_tags_to_resource(ResourceName=observed.attrs["arn"], Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: DbClusterProps | None) -> None:
        rds = ctx.client("rds")
        c = self._describe(ctx, id)
        if c is None:
            return
        if c.get("DeletionProtection"):
            rds.modify_db_cluster(DBClusterIdentifier=id, DeletionProtection=False, ApplyImmediately=True)
        snapshot = None
        if props is None or not props.skip_final_snapshot:
            snapshot = (props.final_snapshot_identifier if props else None) or f"{id}-final"
            existing = rds.describe_db_cluster_snapshots(DBClusterIdentifier=id, SnapshotType="manual")
            if any(s["DBClusterSnapshotIdentifier"] == snapshot for s in existing.get("DBClusterSnapshots", [])):
                snapshot = f"{snapshot}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
        if snapshot:
            ctx.on_progress(f"taking final snapshot {snapshot}")
            rds.delete_db_cluster(DBClusterIdentifier=id, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=snapshot)
        else:
            rds.delete_db_cluster(DBClusterIdentifier=id, SkipFinalSnapshot=True)
        ctx.wait("DB cluster deleted", lambda: self._describe(ctx, id) is None)


class DbClusterInstanceProps(Props):
    identifier: str
    cluster_identifier: str
    engine: str = "aurora-postgresql"
    #: "db.serverless" for Serverless v2
    instance_class: str = "db.serverless"


@register
class DbClusterInstance(Resource[DbClusterInstanceProps]):
    kind = "rds.db_cluster_instance"
    service = "rds"
    Props = DbClusterInstanceProps
    replace_on: ClassVar = frozenset({"identifier", "cluster_identifier", "engine"})
    not_found_codes: ClassVar = _NOT_FOUND
    duplicate_codes: ClassVar = frozenset({"DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"})
    timeout = 3600.0

    def _describe(self, ctx: NodeContext, id: str) -> dict[str, Any] | None:
        return _describe_instance(ctx, id)

    def find(self, ctx: NodeContext, props: DbClusterInstanceProps) -> str | None:
        return props.identifier if self._describe(ctx, props.identifier) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        db = self._describe(ctx, id)
        if db is None:
            return None
        props = {
            "identifier": id,
            "cluster_identifier": db.get("DBClusterIdentifier"),
            "engine": db.get("Engine"),
            "instance_class": db.get("DBInstanceClass"),
            "tags": tag_dict(db.get("TagList")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": db["DBInstanceArn"]})

    def create(self, ctx: NodeContext, props: DbClusterInstanceProps) -> str:
        ctx.client("rds").create_db_instance(
            DBInstanceIdentifier=props.identifier,
            DBClusterIdentifier=props.cluster_identifier,
            Engine=props.engine,
            DBInstanceClass=props.instance_class,
            Tags=tag_list(ctx.tags),
        )
        ctx.created(props.identifier)
        ctx.wait("DB instance available", lambda: _instance_available(ctx, props.identifier))
        return props.identifier

    def update(
        self, ctx: NodeContext, id: str, props: DbClusterInstanceProps, observed: Observed, changes: set[str]
    ) -> None:
        rds = ctx.client("rds")
        if "instance_class" in changes:
            rds.modify_db_instance(DBInstanceIdentifier=id, DBInstanceClass=props.instance_class, ApplyImmediately=True)
            ctx.wait("DB instance available", lambda: _instance_available(ctx, id))
        if "tags" in changes:
            rds.add_tags_to_resource(ResourceName=observed.attrs["arn"], Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: DbClusterInstanceProps | None) -> None:
        ctx.client("rds").delete_db_instance(DBInstanceIdentifier=id, SkipFinalSnapshot=True)
        ctx.wait("DB instance deleted", lambda: self._describe(ctx, id) is None)
