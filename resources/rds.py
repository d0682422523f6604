"""RDS: DB subnet groups, PostgreSQL instances, Aurora clusters and their instances.

Calls: CreateDBSubnetGroup, DescribeDBSubnetGroups, ModifyDBSubnetGroup, DeleteDBSubnetGroup,
ListTagsForResource, AddTagsToResource; CreateDBInstance, DescribeDBInstances, ModifyDBInstance,
DeleteDBInstance, DescribeDBSnapshots, RestoreDBInstanceFromDBSnapshot, CopyDBSnapshot, DeleteDBSnapshot (the
re-encrypted copy a restore makes and drops); CreateDBCluster, DescribeDBClusters, ModifyDBCluster, DeleteDBCluster,
DescribeDBClusterSnapshots, RestoreDBClusterFromSnapshot; KMS DescribeKey (is the instance's key the AWS managed one);
Secrets Manager GetSecretValue (the master password, passed straight to RDS, never kept).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import field_validator

from provisioner.core.retry import WaitFailed
from resources.base import Observed, Props, Resource, is_not_found, register, tag_dict, tag_list
from resources.kms import describe_key
from resources.pricing import CostLine, Where, hourly, monthly, usage_based
from resources.secretsmanager import read_password

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

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
    #: the storage autoscaling ceiling in GiB; None turns autoscaling off
    max_allocated_storage: int | None = 100
    storage_type: str = "gp3"
    #: the key ARN (RDS reads back the ARN); None: the account's AWS managed key aws/rds. Always encrypted.
    kms_key_id: str | None = None
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
    #: default ``<identifier>-final``; a UTC timestamp is appended when that snapshot already exists
    final_snapshot_identifier: str | None = None
    #: a newer major ``engine_version`` upgrades the database in place (an outage); off, such a change is refused
    allow_major_version_upgrade: bool = False
    #: off: AWS queues modifications for the next maintenance window instead of making them now
    apply_immediately: bool = True
    #: create by restoring this DB snapshot (name or ARN); create-only: changing it later replaces nothing
    snapshot_identifier: str | None = None
    #: read: a restore's reset of the master password to the secret's is still to do (TAG_PASSWORD_RESET);
    #: wanted: never, so a reset an interrupted run left undone is finished by the next one
    password_reset_pending: bool = False

    @field_validator("engine_version")
    @classmethod
    def _major_only(cls, v: str) -> str:
        # Only the major is compared, and read reports only the major: "16.4" would be drift for ever.
        return v.split(".")[0]


#: statuses an instance passes through on its own; a delete or modify must wait them out
_BUSY = frozenset(
    (
        "creating backing-up modifying upgrading rebooting renaming starting stopping "
        "resetting-master-credentials configuring-enhanced-monitoring configuring-iam-database-auth "
        "configuring-log-exports maintenance moving-to-vpc"
    ).split()
)
#: usable: storage-optimization follows a storage change and may last hours, with the database serving
_READY = frozenset({"available", "storage-optimization"})
_FAILED = frozenset(
    (
        "failed incompatible-parameters incompatible-network incompatible-option-group "
        "incompatible-restore inaccessible-encryption-credentials"
    ).split()
)


#: on a database restored from a snapshot until its master password is the stack's: a run that stops between the
#: restore and the reset leaves the tag, so the next run reads the reset as still to do and finishes it
TAG_PASSWORD_RESET = "mfprov:password-reset"


def _reset_pending(tags: Any) -> bool:
    return any(t.get("Key") == TAG_PASSWORD_RESET for t in tags or [])


def _copy_name(identifier: str) -> str:
    """The copy of a snapshot a restore makes under the instance's key."""
    return f"{identifier}-restore-source"


def _restorable(placement: Mapping[str, Any]) -> dict[str, Any]:
    """What a create takes, as a restore takes it: no BackupRetentionPeriod (RestoreDBInstanceFromDBSnapshot and
    RestoreDBClusterFromSnapshot have it only in recent botocore; it is set after), and the tag that says the
    password reset is still to do."""
    out = {k: v for k, v in placement.items() if k != "BackupRetentionPeriod"}
    out["Tags"] = [*placement["Tags"], {"Key": TAG_PASSWORD_RESET, "Value": "pending"}]
    return out


def _describe_instance(ctx: NodeContext, id: str, *, deleting: bool = False) -> dict[str, Any] | None:
    """The instance, or None when absent; one being deleted counts as absent unless ``deleting``."""
    try:
        items = ctx.client("rds").describe_db_instances(DBInstanceIdentifier=id)["DBInstances"]
    except ClientError as err:
        if is_not_found(err, _NOT_FOUND):
            return None
        raise
    if not items or (items[0].get("DBInstanceStatus") == "deleting" and not deleting):
        return None
    return dict(items[0])


def _instance_available(ctx: NodeContext, id: str, pending: frozenset[str] = frozenset()) -> bool | str:
    """Done when usable and none of the ``pending`` ModifyDBInstance parameters is still pending.

    Right after a modify the status can still read "available" for a moment: the pending values show it is
    not yet applied.
    """
    db = _describe_instance(ctx, id)
    status = str(db.get("DBInstanceStatus")) if db else "absent"
    if status in _FAILED:
        raise WaitFailed(f"DB instance {id} is {status}")
    waiting = sorted(pending & set((db or {}).get("PendingModifiedValues") or {}))
    if status in _READY and not waiting:
        return True
    return f"{status} (pending: {', '.join(waiting)})" if waiting else status


def _major(version: str | None) -> str | None:
    return version.split(".")[0] if version else version


class DowngradeRefused(Exception):
    """The database runs a newer major version than the desired one (upgraded out of band): RDS upgrades a major
    version but never goes back."""


class MajorUpgradeRefused(Exception):
    """A newer major version is wanted, but major upgrades (an outage, no way back) are not allowed."""


def _version_change(
    what: str, id: str, have: Any, want: str, allowed: bool
) -> DowngradeRefused | MajorUpgradeRefused | None:
    """The error for going from major version ``have`` to ``want``: back (never possible) or up without
    ``allow_major_version_upgrade``; None when the change may be made."""
    if not (isinstance(have, str) and have.isdigit() and want.isdigit()) or have == want:
        return None
    if int(have) > int(want):
        return DowngradeRefused(
            f"{what} {id} runs major version {have}, newer than engine_version {want!r}, and RDS cannot go back to "
            f"an older major version: set engine_version = {have!r}"
        )
    if not allowed:
        return MajorUpgradeRefused(
            f"{what} {id} runs PostgreSQL {have}; engine_version {want!r} is a major upgrade (an outage, and no way "
            f"back): set allow_major_version_upgrade = true in the database section to make it, or engine_version = "
            f"{have!r}"
        )
    return None


def _queued(what: str, fields: list[str]) -> str:
    return f"{what}: {', '.join(fields)} queued for the next maintenance window (apply_immediately = false)"


def _snapshot_exists(ctx: NodeContext, name: str, cluster: bool = False) -> bool:
    rds = ctx.client("rds")
    try:
        if cluster:
            return bool(rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=name)["DBClusterSnapshots"])
        return bool(rds.describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"])
    except ClientError as err:
        if is_not_found(err, {"DBSnapshotNotFound", "DBSnapshotNotFoundFault", "DBClusterSnapshotNotFoundFault"}):
            return False
        raise


class SnapshotNotFound(Exception):
    """The snapshot to restore from does not exist (or is not visible to this account and region)."""


class SnapshotNotTheStacks(Exception):
    """A snapshot has the name of the copy a restore makes, and its tags say someone else made it."""


def _restore_copy(ctx: NodeContext, name: str) -> bool | None:
    """Whether the DB snapshot ``name`` is the copy this node's restore made (its tags say so); None when there is
    no snapshot of that name."""
    try:
        found = ctx.client("rds").describe_db_snapshots(DBSnapshotIdentifier=name)["DBSnapshots"]
    except ClientError as err:
        if not is_not_found(err, {"DBSnapshotNotFound", "DBSnapshotNotFoundFault"}):
            raise
        found = []
    return ctx.owns(tag_dict(found[0].get("TagList"))) if found else None


def _db_snapshot(ctx: NodeContext, id: str) -> dict[str, Any]:
    try:
        items = ctx.client("rds").describe_db_snapshots(DBSnapshotIdentifier=id)["DBSnapshots"]
    except ClientError as err:
        if not is_not_found(err, {"DBSnapshotNotFound", "DBSnapshotNotFoundFault"}):
            raise
        items = []
    if not items:
        raise SnapshotNotFound(
            f"DB snapshot {id!r} (snapshot_identifier) not found in this account and region; "
            "`aws rds describe-db-snapshots` lists them"
        )
    return dict(items[0])


def _snapshot_available(ctx: NodeContext, id: str) -> bool | str:
    snapshot = _db_snapshot(ctx, id)
    status = str(snapshot.get("Status"))
    if status == "failed":
        raise WaitFailed(f"DB snapshot {id} failed")
    return True if status == "available" else status


def final_snapshot_name(ctx: NodeContext, id: str, skip: bool, name: str | None, cluster: bool = False) -> str | None:
    """The final snapshot a delete takes, or None when skipping it. Snapshot names are unique per account and
    region: an existing one (an earlier `down` of the same stack) is never overwritten, a timestamp is added."""
    if skip:
        return None
    name = name or f"{id}-final"
    if _snapshot_exists(ctx, name, cluster):
        name = f"{name}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}"
    return name


def _aws_managed_key(ctx: NodeContext, key_id: str) -> bool:
    """Whether ``key_id`` is an AWS managed key (aws/rds), which is what ``kms_key_id=None`` means."""
    try:
        return describe_key(ctx, key_id).get("KeyManager") == "AWS"
    except ClientError:
        return False  # not visible to us: report the ARN as it is


#: ModifyDBInstance parameter for each field update may change
_MODIFY = {
    "engine_version": "EngineVersion",
    "instance_class": "DBInstanceClass",
    "allocated_storage": "AllocatedStorage",
    "max_allocated_storage": "MaxAllocatedStorage",
    "storage_type": "StorageType",
    "security_group_ids": "VpcSecurityGroupIds",
    "multi_az": "MultiAZ",
    "backup_retention_days": "BackupRetentionPeriod",
    "deletion_protection": "DeletionProtection",
    "publicly_accessible": "PubliclyAccessible",
}


def _overlay_pending(props: dict[str, Any], pending: Mapping[str, Any], fields: Mapping[str, str]) -> None:
    """A change AWS has queued for the maintenance window (``apply_immediately = false``) reads as made: it is
    what the config asked for, and sending it again would change nothing. ``attrs["pending"]`` still shows it."""
    for field, api in fields.items():
        if api in pending and field in props:
            props[field] = _major(pending[api]) if field == "engine_version" else pending[api]


@register
class DbInstance(Resource[DbInstanceProps]):
    """An encrypted RDS instance; its id is the identifier. The master password goes from the secret straight
    into CreateDBInstance and is never returned, stored or logged."""

    kind = "rds.db_instance"
    arn_type = "db"  # its snapshots / tasks carry its tags too
    service = "rds"
    Props = DbInstanceProps
    replace_on: ClassVar = frozenset({"identifier", "engine", "kms_key_id", "db_name", "username", "subnet_group_name"})
    #: storage autoscaling raises it up to max_allocated_storage
    grow_only: ClassVar = frozenset({"allocated_storage"})
    unordered: ClassVar = frozenset({"security_group_ids"})
    behaviour_fields: ClassVar = frozenset(
        {
            "password_secret_arn",
            "skip_final_snapshot",
            "final_snapshot_identifier",
            "allow_major_version_upgrade",
            "apply_immediately",
            # what the database was made from, not what it is: a live database is never replaced for it
            "snapshot_identifier",
        }
    )
    not_found_codes: ClassVar = _NOT_FOUND
    duplicate_codes: ClassVar = frozenset({"DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"})
    stateful = True
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
        kms = db.get("KmsKeyId")
        props = {
            "identifier": id,
            "engine": db.get("Engine"),
            "engine_version": _major(db.get("EngineVersion")),
            "instance_class": db.get("DBInstanceClass"),
            "allocated_storage": db.get("AllocatedStorage"),
            "max_allocated_storage": db.get("MaxAllocatedStorage"),
            "storage_type": db.get("StorageType"),
            "kms_key_id": None if kms and _aws_managed_key(ctx, kms) else kms,
            "db_name": db.get("DBName"),
            "username": db.get("MasterUsername"),
            "subnet_group_name": (db.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
            "security_group_ids": sorted(
                g["VpcSecurityGroupId"] for g in db.get("VpcSecurityGroups", []) if g.get("Status") != "removing"
            ),
            "multi_az": bool(db.get("MultiAZ")),
            "backup_retention_days": db.get("BackupRetentionPeriod"),
            "deletion_protection": bool(db.get("DeletionProtection")),
            "publicly_accessible": bool(db.get("PubliclyAccessible")),
            "password_reset_pending": _reset_pending(db.get("TagList")),
            "tags": tag_dict(db.get("TagList")),
        }
        address, port = endpoint.get("Address"), endpoint.get("Port")
        attrs = {
            "id": id,
            "arn": db["DBInstanceArn"],
            "address": address,
            "port": port,
            "endpoint": f"{address}:{port}" if address else None,  # no endpoint while still creating
            #: what AWS has queued (ModifyDBInstance without ApplyImmediately): API name -> value
            "pending": dict(db.get("PendingModifiedValues") or {}),
        }
        _overlay_pending(props, attrs["pending"], _MODIFY)
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: DbInstanceProps) -> str:
        if props.snapshot_identifier:
            return self._restore(ctx, props, props.snapshot_identifier)
        rds = ctx.client("rds")
        kw: dict[str, Any] = {}
        if props.max_allocated_storage:
            kw["MaxAllocatedStorage"] = props.max_allocated_storage
        if props.kms_key_id:
            kw["KmsKeyId"] = props.kms_key_id
        ctx.call(
            rds.create_db_instance,
            # a key created moments ago may not be usable by RDS yet
            retry_on=("KMSKeyNotAccessibleFault",),
            Engine=props.engine,
            EngineVersion=props.engine_version,
            AllocatedStorage=props.allocated_storage,
            StorageEncrypted=True,
            DBName=props.db_name,
            MasterUsername=props.username,
            # passed inline: no variable of ours ever holds it
            MasterUserPassword=read_password(ctx.client("secretsmanager"), props.password_secret_arn),
            **self._placement(ctx, props),
            **kw,
        )
        ctx.created(props.identifier)
        ctx.wait("DB instance available", lambda: _instance_available(ctx, props.identifier))
        return props.identifier

    def _finish_reset(self, ctx: NodeContext, id: str, props: DbInstanceProps, arn: str | None = None) -> None:
        """The restored database's master password becomes the stack's secret's (the snapshot's is not), then the
        tag that says it is still to do goes (``arn``: when the caller has read it already)."""
        set_master_password(ctx, self.kind, id, props.password_secret_arn, "AWSCURRENT")
        arn = arn or (_describe_instance(ctx, id) or {}).get("DBInstanceArn")
        if arn:
            ctx.client("rds").remove_tags_from_resource(ResourceName=arn, TagKeys=[TAG_PASSWORD_RESET])
        # the copy of the snapshot the restore made under the stack's key, if it made one; the user's is kept
        copy = _copy_name(id)
        if _restore_copy(ctx, copy):
            ctx.client("rds").delete_db_snapshot(DBSnapshotIdentifier=copy)

    def update(self, ctx: NodeContext, id: str, props: DbInstanceProps, observed: Observed, changes: set[str]) -> None:
        if "password_reset_pending" in changes:
            ctx.on_progress("finishing the restore: the master password becomes the stack's secret's")
            self._finish_reset(ctx, id, props, observed.attrs.get("arn"))
        rds = ctx.client("rds")
        values = props.model_dump()
        kw = {api: values[field] for field, api in _MODIFY.items() if field in changes}
        if "MaxAllocatedStorage" in kw and kw["MaxAllocatedStorage"] is None:
            # The API turns storage autoscaling off when the ceiling equals the allocated storage.
            kw["MaxAllocatedStorage"] = max(props.allocated_storage, observed.props.get("allocated_storage") or 0)
        have_storage = observed.props.get("allocated_storage")
        if "AllocatedStorage" in kw and isinstance(have_storage, int) and props.allocated_storage < have_storage:
            # Storage only grows (autoscaling may have grown it past the desired size); RDS refuses to shrink.
            ctx.on_progress(f"allocated storage is {have_storage} GiB, more than {props.allocated_storage}: kept")
            del kw["AllocatedStorage"]
        have_version = observed.props.get("engine_version")
        refused = (
            _version_change("DB instance", id, have_version, props.engine_version, props.allow_major_version_upgrade)
            if "EngineVersion" in kw
            else None
        )
        if refused:
            del kw["EngineVersion"]  # the other changes are still made; then the refusal is raised
        if not props.apply_immediately:
            # what AWS holds queued already is not sent again (every `up` would queue it anew)
            queued = observed.attrs.get("pending") or {}
            kw = {k: v for k, v in kw.items() if k not in queued or _major(str(queued[k])) != _major(str(v))}
        if kw:
            ctx.wait("DB instance not busy", lambda: self._settled(ctx, id))
            # Both flags always sent: AWS's defaults (queue; no major upgrade) are not left to chance.
            rds.modify_db_instance(
                DBInstanceIdentifier=id,
                ApplyImmediately=props.apply_immediately,
                AllowMajorVersionUpgrade=props.allow_major_version_upgrade,
                **kw,
            )
            pending = frozenset(kw) - {"DeletionProtection", "VpcSecurityGroupIds"}
            if props.apply_immediately:
                ctx.wait("DB instance available", lambda: _instance_available(ctx, id, pending))
            elif pending:
                ctx.on_progress(_queued("DB instance", sorted(pending)))
        if "tags" in changes:
            rds.add_tags_to_resource(ResourceName=observed.attrs["arn"], Tags=tag_list(ctx.tags))
        if refused:
            raise refused

    @staticmethod
    def _placement(ctx: NodeContext, props: DbInstanceProps) -> dict[str, Any]:
        """What CreateDBInstance and RestoreDBInstanceFromDBSnapshot both take from the config."""
        return {
            "DBInstanceIdentifier": props.identifier,
            "DBInstanceClass": props.instance_class,
            "StorageType": props.storage_type,
            "DBSubnetGroupName": props.subnet_group_name,
            "VpcSecurityGroupIds": props.security_group_ids,
            "MultiAZ": props.multi_az,
            "BackupRetentionPeriod": props.backup_retention_days,
            "DeletionProtection": props.deletion_protection,
            "PubliclyAccessible": props.publicly_accessible,
            "CopyTagsToSnapshot": True,
            "Tags": tag_list(ctx.tags),
        }

    def _restore(self, ctx: NodeContext, props: DbInstanceProps, snapshot_id: str) -> str:
        """Create the instance from a DB snapshot, with its data: RestoreDBInstanceFromDBSnapshot takes no key,
        encryption or version (they come from the snapshot) and falls back to the default security group when
        none is given, so the security groups are passed; then the master password is reset to the stack's secret
        and what the restore cannot take (storage autoscaling) is set. The engine reads all back."""
        rds = ctx.client("rds")
        snapshot = _db_snapshot(ctx, snapshot_id)
        source = snapshot_id
        if not self._key_matches(ctx, props, snapshot):
            # The instance takes the snapshot's key; only a copy can change it (else the key would read as drift
            # that replaces the database). https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBSnapshot.html
            source = self._copy_with_key(ctx, props, snapshot)  # deleted once the password is reset
        ctx.on_progress(f"restoring from snapshot {snapshot_id}")
        ctx.call(
            rds.restore_db_instance_from_db_snapshot,
            retry_on=("KMSKeyNotAccessibleFault",),
            DBSnapshotIdentifier=source,
            # at least the snapshot's size: RDS refuses less
            AllocatedStorage=max(props.allocated_storage, int(snapshot.get("AllocatedStorage") or 0)),
            # unset, the security groups fall back to the VPC's default one
            **_restorable(self._placement(ctx, props)),
        )
        ctx.created(props.identifier)
        ctx.wait("DB instance available", lambda: _instance_available(ctx, props.identifier))
        # what the restore call cannot take (in every botocore mfprov supports): the backups, the storage ceiling
        later: dict[str, Any] = {"BackupRetentionPeriod": props.backup_retention_days}
        if props.max_allocated_storage:
            later["MaxAllocatedStorage"] = max(props.max_allocated_storage, props.allocated_storage)
        rds.modify_db_instance(DBInstanceIdentifier=props.identifier, ApplyImmediately=True, **later)
        ctx.wait(
            "DB instance backups and storage",
            lambda: _instance_available(ctx, props.identifier, frozenset(later)),
        )
        self._finish_reset(ctx, props.identifier, props)
        return props.identifier

    @staticmethod
    def _key_matches(ctx: NodeContext, props: DbInstanceProps, snapshot: Mapping[str, Any]) -> bool:
        key = snapshot.get("KmsKeyId")
        if not snapshot.get("Encrypted") or not key:
            return False
        return key == props.kms_key_id if props.kms_key_id else _aws_managed_key(ctx, str(key))

    @staticmethod
    def _copy_with_key(ctx: NodeContext, props: DbInstanceProps, snapshot: Mapping[str, Any]) -> str:
        """A copy of ``snapshot`` under the instance's key, named after the instance and tagged as the node; one
        left by an interrupted run is used again, one of that name made by anyone else never."""
        name = _copy_name(props.identifier)
        ours = _restore_copy(ctx, name)
        if ours is False:
            raise SnapshotNotTheStacks(
                f"DB snapshot {name!r} is in the way of the restore's copy under the stack's key, and its tags say "
                "this stack did not make it; mfprov neither restores from it nor deletes it: rename or delete it"
            )
        if ours is None:
            ctx.on_progress(f"copying snapshot {snapshot['DBSnapshotIdentifier']} to {name} under the stack's key")
            ctx.call(
                ctx.client("rds").copy_db_snapshot,
                retry_on=("KMSKeyNotAccessibleFault",),
                SourceDBSnapshotIdentifier=snapshot["DBSnapshotArn"],
                TargetDBSnapshotIdentifier=name,
                KmsKeyId=props.kms_key_id or "alias/aws/rds",
                Tags=tag_list(ctx.tags),
            )
        ctx.wait("DB snapshot copy available", lambda: _snapshot_available(ctx, name))
        return name

    @staticmethod
    def _settled(ctx: NodeContext, id: str) -> bool | str:
        db = _describe_instance(ctx, id)
        status = str(db.get("DBInstanceStatus")) if db else "absent"
        return True if status not in _BUSY else status

    def final_snapshot_name(self, ctx: NodeContext, id: str, props: DbInstanceProps | None) -> str | None:
        """The snapshot ``delete`` takes, or None when skipping it (no props: take one, to be safe)."""
        if props is None:
            return final_snapshot_name(ctx, id, False, None)
        return final_snapshot_name(ctx, id, props.skip_final_snapshot, props.final_snapshot_identifier)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: DbInstanceProps | None) -> None:
        rds = ctx.client("rds")
        if self._describe(ctx, id) is None:
            return
        # RDS refuses to modify or delete an instance in the middle of something (creating, backing-up...).
        ctx.wait("DB instance not busy", lambda: self._settled(ctx, id))
        db = self._describe(ctx, id)
        if db is None:
            return
        if db.get("DeletionProtection"):
            # `down` asked the user by name before getting here; protection is lifted only for this delete.
            rds.modify_db_instance(DBInstanceIdentifier=id, DeletionProtection=False, ApplyImmediately=True)
        snapshot = self.final_snapshot_name(ctx, id, props)
        kw: dict[str, Any] = {"SkipFinalSnapshot": True, "DeleteAutomatedBackups": True}
        if snapshot:
            ctx.on_progress(f"taking final snapshot {snapshot}")
            kw = {"SkipFinalSnapshot": False, "FinalDBSnapshotIdentifier": snapshot}
        ctx.call(
            rds.delete_db_instance,
            retry_on=("InvalidDBInstanceState", "InvalidDBInstanceStateFault", "InvalidParameterCombination:protect"),
            DBInstanceIdentifier=id,
            **kw,
        )
        # Gone, not just "deleting": the subnet group, security group and key cannot go before.
        ctx.wait("DB instance deleted", lambda: _describe_instance(ctx, id, deleting=True) is None)

    def monthly_cost(self, props: DbInstanceProps, where: Where) -> list[CostLine]:
        # Multi-AZ keeps a standby: twice the instance hours and the storage
        copies, az = (2, "Multi-AZ") if props.multi_az else (1, "Single-AZ")
        cls, gb = props.instance_class, props.allocated_storage * copies
        if props.engine != "postgres":
            return [CostLine(f"{cls} instance hours", None, f"no price for engine {props.engine} in the table")]
        return [
            hourly("rds_postgres", where.region, f"{cls} instance hours, {az}", count=copies, size=cls),
            monthly(f"rds_{props.storage_type}_storage", where.region, f"{props.storage_type} storage, {gb} GB", gb),
            usage_based("backup storage beyond the database's size"),
        ]


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
    #: as for instances
    allow_major_version_upgrade: bool = False
    apply_immediately: bool = True
    #: create by restoring this DB cluster snapshot (name or ARN); create-only, as for instances
    snapshot_identifier: str | None = None
    #: as for instances
    password_reset_pending: bool = False

    @field_validator("engine_version")
    @classmethod
    def _major_only(cls, v: str) -> str:
        return v.split(".")[0]  # as for instances


@register
class DbCluster(Resource[DbClusterProps]):
    kind = "rds.db_cluster"
    arn_type = "cluster"  # its snapshots / tasks carry its tags too
    service = "rds"
    Props = DbClusterProps
    replace_on: ClassVar = frozenset({"identifier", "engine", "kms_key_id", "db_name", "username", "subnet_group_name"})
    unordered: ClassVar = frozenset({"security_group_ids"})
    behaviour_fields: ClassVar = frozenset(
        {
            "password_secret_arn",
            "skip_final_snapshot",
            "final_snapshot_identifier",
            "allow_major_version_upgrade",
            "apply_immediately",
            "snapshot_identifier",  # as for instances
        }
    )
    not_found_codes: ClassVar = frozenset({"DBClusterNotFoundFault"})
    duplicate_codes: ClassVar = frozenset({"DBClusterAlreadyExistsFault"})
    stateful = True
    timeout = 3600.0

    def _describe(self, ctx: NodeContext, id: str, *, deleting: bool = False) -> dict[str, Any] | None:
        """The cluster, or None when absent; one being deleted counts as absent unless ``deleting``."""
        try:
            items = ctx.client("rds").describe_db_clusters(DBClusterIdentifier=id)["DBClusters"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        if not items or (items[0].get("Status") == "deleting" and not deleting):
            return None
        return dict(items[0])

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
            "password_reset_pending": _reset_pending(c.get("TagList")),
            "tags": tag_dict(c.get("TagList")),
        }
        attrs = {
            "id": id,
            "arn": c["DBClusterArn"],
            "address": c.get("Endpoint"),
            "port": c.get("Port"),
            "endpoint": f"{c.get('Endpoint')}:{c.get('Port')}",
            "pending": dict(c.get("PendingModifiedValues") or {}),
        }
        _overlay_pending(props, attrs["pending"], _MODIFY)
        return Observed(id=id, props=props, attrs=attrs)

    def _available(self, ctx: NodeContext, id: str, pending: frozenset[str] = frozenset()) -> bool | str:
        """Done when available and none of the ``pending`` ModifyDBCluster parameters is still pending."""
        c = self._describe(ctx, id)
        status = str(c.get("Status")) if c else "absent"
        waiting = sorted(pending & set((c or {}).get("PendingModifiedValues") or {}))
        if status == "available" and not waiting:
            return True
        return f"{status} (pending: {', '.join(waiting)})" if waiting else status

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
        if props.snapshot_identifier:
            return self._restore(ctx, props, props.snapshot_identifier)
        ctx.client("rds").create_db_cluster(
            StorageEncrypted=True,
            DatabaseName=props.db_name,
            MasterUsername=props.username,
            MasterUserPassword=read_password(ctx.client("secretsmanager"), props.password_secret_arn),
            **self._placement(ctx, props),
        )
        ctx.created(props.identifier)
        ctx.wait("DB cluster available", lambda: self._available(ctx, props.identifier))
        return props.identifier

    def _placement(self, ctx: NodeContext, props: DbClusterProps) -> dict[str, Any]:
        """What CreateDBCluster and RestoreDBClusterFromSnapshot both take from the config."""
        return {
            "DBClusterIdentifier": props.identifier,
            "Engine": props.engine,
            "EngineVersion": props.engine_version,
            "KmsKeyId": props.kms_key_id,
            "DBSubnetGroupName": props.subnet_group_name,
            "VpcSecurityGroupIds": props.security_group_ids,
            "BackupRetentionPeriod": props.backup_retention_days,
            "DeletionProtection": props.deletion_protection,
            "CopyTagsToSnapshot": True,
            "Tags": tag_list(ctx.tags),
            **self._scaling(props),
        }

    def _restore(self, ctx: NodeContext, props: DbClusterProps, snapshot_id: str) -> str:
        """Create the cluster from a DB cluster snapshot, with its data. RestoreDBClusterFromSnapshot takes the key
        and version (unlike an instance restore) but makes only the cluster: its instance is the stack's
        ``rds.db_cluster_instance`` node, created after. The master password is then reset to the stack's secret."""
        rds = ctx.client("rds")
        try:
            found = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier=snapshot_id)["DBClusterSnapshots"]
        except ClientError as err:
            if not is_not_found(err, {"DBClusterSnapshotNotFoundFault"}):
                raise
            found = []
        if not found:
            raise SnapshotNotFound(
                f"DB cluster snapshot {snapshot_id!r} (snapshot_identifier) not found in this account and region; "
                "`aws rds describe-db-cluster-snapshots` lists them"
            )
        ctx.on_progress(f"restoring from cluster snapshot {snapshot_id}")
        ctx.call(
            rds.restore_db_cluster_from_snapshot,
            retry_on=("KMSKeyNotAccessibleFault",),
            SnapshotIdentifier=snapshot_id,
            # unset, RDS falls back to the VPC's default security group
            **_restorable(self._placement(ctx, props)),
        )
        ctx.created(props.identifier)
        ctx.wait("DB cluster available", lambda: self._available(ctx, props.identifier))
        # as for instances: the backups are set after the restore
        backups = props.backup_retention_days
        rds.modify_db_cluster(
            DBClusterIdentifier=props.identifier, ApplyImmediately=True, BackupRetentionPeriod=backups
        )
        ctx.wait(
            "DB cluster backups",
            lambda: self._available(ctx, props.identifier, frozenset({"BackupRetentionPeriod"})),
        )
        self._finish_reset(ctx, props.identifier, props)
        return props.identifier

    def _finish_reset(self, ctx: NodeContext, id: str, props: DbClusterProps, arn: str | None = None) -> None:
        """As for instances: the stack's password, then the tag goes."""
        set_master_password(ctx, self.kind, id, props.password_secret_arn, "AWSCURRENT")
        arn = arn or (self._describe(ctx, id) or {}).get("DBClusterArn")
        if arn:
            ctx.client("rds").remove_tags_from_resource(ResourceName=arn, TagKeys=[TAG_PASSWORD_RESET])

    def update(self, ctx: NodeContext, id: str, props: DbClusterProps, observed: Observed, changes: set[str]) -> None:
        if "password_reset_pending" in changes:
            ctx.on_progress("finishing the restore: the master password becomes the stack's secret's")
            self._finish_reset(ctx, id, props, observed.attrs.get("arn"))
        rds = ctx.client("rds")
        kw: dict[str, Any] = {}
        refused = None
        if "engine_version" in changes:
            # as for instances: the other changes are still made; then the refusal is raised
            have = observed.props.get("engine_version")
            refused = _version_change("DB cluster", id, have, props.engine_version, props.allow_major_version_upgrade)
            if not refused:
                kw["EngineVersion"] = props.engine_version
        if "security_group_ids" in changes:
            kw["VpcSecurityGroupIds"] = props.security_group_ids
        if "backup_retention_days" in changes:
            kw["BackupRetentionPeriod"] = props.backup_retention_days
        if "deletion_protection" in changes:
            kw["DeletionProtection"] = props.deletion_protection
        if changes & {"serverless_min_capacity", "serverless_max_capacity"}:
            kw.update(self._scaling(props))
        if kw:
            rds.modify_db_cluster(
                DBClusterIdentifier=id,
                ApplyImmediately=props.apply_immediately,
                AllowMajorVersionUpgrade=props.allow_major_version_upgrade,
                **kw,
            )
            if props.apply_immediately:
                ctx.wait("DB cluster available", lambda: self._available(ctx, id, frozenset(kw)))
            else:
                ctx.on_progress(_queued("DB cluster", sorted(kw)))
        if "tags" in changes:
            rds.add_tags_to_resource(ResourceName=observed.attrs["arn"], Tags=tag_list(ctx.tags))
        if refused:
            raise refused

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: DbClusterProps | None) -> None:
        rds = ctx.client("rds")
        c = self._describe(ctx, id)
        if c is None:
            return
        if c.get("DeletionProtection"):
            rds.modify_db_cluster(DBClusterIdentifier=id, DeletionProtection=False, ApplyImmediately=True)
        skip = props is not None and props.skip_final_snapshot
        snapshot = final_snapshot_name(ctx, id, skip, props.final_snapshot_identifier if props else None, cluster=True)
        if snapshot:
            ctx.on_progress(f"taking final snapshot {snapshot}")
            rds.delete_db_cluster(DBClusterIdentifier=id, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=snapshot)
        else:
            rds.delete_db_cluster(DBClusterIdentifier=id, SkipFinalSnapshot=True)
        # Gone, not just "deleting": the subnet group, security group and key cannot go before.
        ctx.wait("DB cluster deleted", lambda: self._describe(ctx, id, deleting=True) is None)

    def monthly_cost(self, props: DbClusterProps, where: Where) -> list[CostLine]:
        # capacity bills on the cluster's instances; storage by the GB the database holds, not allocated
        return [usage_based("Aurora storage per GB stored, and I/O")]


class DbClusterInstanceProps(Props):
    identifier: str
    cluster_identifier: str
    engine: str = "aurora-postgresql"
    #: "db.serverless" for Serverless v2
    instance_class: str = "db.serverless"


@register
class DbClusterInstance(Resource[DbClusterInstanceProps]):
    kind = "rds.db_cluster_instance"
    arn_type = "db"  # its snapshots / tasks carry its tags too
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
        ctx.wait("DB instance deleted", lambda: _describe_instance(ctx, id, deleting=True) is None)

    def monthly_cost(self, props: DbClusterInstanceProps, where: Where) -> list[CostLine]:
        cls = props.instance_class
        if cls != "db.serverless":
            return [hourly("aurora_postgres", where.region, f"{cls} instance hours", size=cls)]
        cluster = where.props_of(props.cluster_identifier) or {}
        acus = cluster.get("serverless_min_capacity")
        if acus is None:
            return [CostLine("Serverless v2 minimum capacity", None, "the cluster's minimum capacity is not known")]
        if not acus:
            return [CostLine("Serverless v2 capacity", 0.0, "minimum 0 ACUs: it pauses while idle")]
        return [hourly("aurora_acu", where.region, f"Serverless v2 minimum capacity, {acus:g} ACUs", count=acus)]


def set_master_password(ctx: NodeContext, kind: str, id: str, secret_arn: str, version_stage: str) -> None:
    """Make the master password of the instance or cluster ``id`` the one the secret holds under ``version_stage``
    now (ApplyImmediately, whatever the config's apply_immediately says), and wait until RDS has applied it. The
    value goes from Secrets Manager straight into the call. Setting the same password again is harmless: a
    rotation that stopped here does it again."""
    rds = ctx.client("rds")
    sm = ctx.client("secretsmanager")
    if kind == DbCluster.kind:
        cluster = DbCluster()
        ctx.wait("DB cluster available", lambda: cluster._available(ctx, id))
        rds.modify_db_cluster(
            DBClusterIdentifier=id,
            ApplyImmediately=True,
            MasterUserPassword=read_password(sm, secret_arn, version_stage),
        )
        ctx.wait("DB cluster password set", lambda: cluster._available(ctx, id, frozenset({"MasterUserPassword"})))
        return
    ctx.wait("DB instance not busy", lambda: DbInstance._settled(ctx, id))
    rds.modify_db_instance(
        DBInstanceIdentifier=id,
        ApplyImmediately=True,
        MasterUserPassword=read_password(sm, secret_arn, version_stage),
    )
    ctx.wait("DB instance password set", lambda: _instance_available(ctx, id, frozenset({"MasterUserPassword"})))
