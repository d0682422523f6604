"""DynamoDB: the Step Functions state table (on-demand, encrypted, TTL).

Calls: CreateTable, DescribeTable, UpdateTable, DescribeTimeToLive, UpdateTimeToLive,
DescribeContinuousBackups, UpdateContinuousBackups, ListTagsOfResource, TagResource, DeleteTable,
and KMS DescribeKey (to tell the AWS-managed aws/dynamodb key from a key of the user's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import model_validator

from resources.base import Observed, Props, Resource, error_code, error_message, register, tag_dict, tag_list
from resources.kms import describe_key
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: the AWS-managed key a table encrypted with SSE-KMS and no key of its own uses
AWS_MANAGED_KEY = "alias/aws/dynamodb"
_TTL_ON = ("ENABLED", "ENABLING")
_SSE_ON = ("ENABLED", "ENABLING", "UPDATING")
#: just after CreateTable, PITR may answer "backups are being enabled, retry later"
_PITR_NOT_YET = ("ContinuousBackupsUnavailableException",)
#: a table still UPDATING refuses another UpdateTable / DeleteTable
_TABLE_BUSY = ("ResourceInUseException",)


class TtlChangeRefused(Exception):
    """DynamoDB allows one TTL change per table in about an hour."""


class TableProps(Props):
    name: str
    hash_key: str = "pathspec"
    hash_key_type: str = "S"
    #: mfprov manages no capacity settings, so only on-demand
    billing_mode: str = "PAY_PER_REQUEST"
    #: SSE-KMS; with no ``kms_key_arn`` the AWS-managed aws/dynamodb key (as terraform-aws-metaflow has it).
    #: False means the default AWS-owned key.
    sse_enabled: bool = True
    kms_key_arn: str | None = None
    ttl_attribute: str | None = "ttl"
    point_in_time_recovery: bool = False
    deletion_protection: bool = False

    @model_validator(mode="after")
    def _check(self) -> TableProps:
        if self.hash_key_type not in ("S", "N", "B"):
            raise ValueError(f"hash_key_type {self.hash_key_type!r} is not S, N or B")
        if self.billing_mode != "PAY_PER_REQUEST":
            raise ValueError(
                f"billing_mode {self.billing_mode!r}: only PAY_PER_REQUEST is supported (mfprov sets no capacity)"
            )
        if self.kms_key_arn and not self.sse_enabled:
            raise ValueError("kms_key_arn needs sse_enabled = true")
        return self

    def sse_specification(self) -> dict[str, Any]:
        if not self.sse_enabled:
            return {"Enabled": False}
        sse: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
        if self.kms_key_arn:
            sse["KMSMasterKeyId"] = self.kms_key_arn
        return sse


@register
class Table(Resource[TableProps]):
    kind = "dynamodb.table"
    service = "dynamodb"
    Props = TableProps
    replace_on: ClassVar = frozenset({"name", "hash_key", "hash_key_type"})
    not_found_codes: ClassVar = frozenset({"ResourceNotFoundException"})
    duplicate_codes: ClassVar = frozenset({"ResourceInUseException"})

    def find(self, ctx: NodeContext, props: TableProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        """The table, or None when it does not exist or is being deleted."""
        try:
            table: dict[str, Any] = ctx.client("dynamodb").describe_table(TableName=name)["Table"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return None if table.get("TableStatus") == "DELETING" else table

    def _status(self, ctx: NodeContext, name: str) -> bool | str:
        """A wait check: True once ACTIVE, the status text otherwise."""
        table = self._describe(ctx, name)
        status = str(table["TableStatus"]) if table else "absent"
        return True if status == "ACTIVE" else status

    def _customer_key(self, ctx: NodeContext, key_arn: str | None) -> str | None:
        """The table's KMS key as ``kms_key_arn`` states it: None for the AWS-managed aws/dynamodb key."""
        if not key_arn:
            return None
        try:
            managed = describe_key(ctx, AWS_MANAGED_KEY)["Arn"]  # once per refresh, however many tables
        except ClientError as err:
            if self.missing(err):  # no aws/dynamodb key in this account: this one is the user's
                return key_arn
            raise
        return None if key_arn == managed else key_arn

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        ddb = ctx.client("dynamodb")
        table = self._describe(ctx, id)
        if table is None:
            return None
        try:
            ttl = ddb.describe_time_to_live(TableName=id)["TimeToLiveDescription"]
            pitr = ddb.describe_continuous_backups(TableName=id)["ContinuousBackupsDescription"]
            tags = ddb.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
        except ClientError as err:
            if self.missing(err):  # deleted between the calls
                return None
            raise
        hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
        key_type = next(a["AttributeType"] for a in table["AttributeDefinitions"] if a["AttributeName"] == hash_key)
        sse = table.get("SSEDescription") or {}
        sse_on = sse.get("Status") in _SSE_ON
        pitr_status = (pitr.get("PointInTimeRecoveryDescription") or {}).get("PointInTimeRecoveryStatus")
        props = {
            "name": id,
            "hash_key": hash_key,
            "hash_key_type": key_type,
            # tables made before on-demand existed have no summary: they are provisioned
            "billing_mode": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
            "sse_enabled": sse_on,
            "kms_key_arn": self._customer_key(ctx, sse.get("KMSMasterKeyArn")) if sse_on else None,
            "ttl_attribute": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in _TTL_ON else None,
            "point_in_time_recovery": pitr_status == "ENABLED",
            "deletion_protection": bool(table.get("DeletionProtectionEnabled", False)),
            "tags": tag_dict(tags),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": table["TableArn"]})

    def create(self, ctx: NodeContext, props: TableProps) -> str:
        ddb = ctx.client("dynamodb")
        ddb.create_table(
            TableName=props.name,
            KeySchema=[{"AttributeName": props.hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": props.hash_key, "AttributeType": props.hash_key_type}],
            BillingMode=props.billing_mode,
            SSESpecification=props.sse_specification(),
            DeletionProtectionEnabled=props.deletion_protection,
            Tags=tag_list(ctx.tags),
        )
        ctx.created(props.name)
        ctx.wait("table ACTIVE", lambda: self._status(ctx, props.name))
        if props.ttl_attribute:
            self._set_ttl(ctx, props.name, props.ttl_attribute, True)
        if props.point_in_time_recovery:
            self._set_pitr(ctx, props.name, True)
        return props.name

    @staticmethod
    def _set_ttl(ctx: NodeContext, name: str, attribute: str, enabled: bool) -> None:
        spec = {"Enabled": enabled, "AttributeName": attribute}
        ctx.client("dynamodb").update_time_to_live(TableName=name, TimeToLiveSpecification=spec)

    @staticmethod
    def _set_pitr(ctx: NodeContext, name: str, enabled: bool) -> None:
        ctx.call(
            ctx.client("dynamodb").update_continuous_backups,
            retry_on=_PITR_NOT_YET,
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled},
        )

    def _update_table(self, ctx: NodeContext, name: str, **kwargs: Any) -> None:
        """One UpdateTable, then wait: a table that is UPDATING refuses the next one."""
        ctx.call(ctx.client("dynamodb").update_table, retry_on=_TABLE_BUSY, TableName=name, **kwargs)
        ctx.wait("table ACTIVE after update", lambda: self._status(ctx, name))

    def update(self, ctx: NodeContext, id: str, props: TableProps, observed: Observed, changes: set[str]) -> None:
        if "billing_mode" in changes:
            self._update_table(ctx, id, BillingMode=props.billing_mode)
        if changes & {"sse_enabled", "kms_key_arn"}:
            sse = props.sse_specification()
            if props.sse_enabled and not props.kms_key_arn:
                # Back from a key of the user's to the AWS-managed one: it has to be named.
                sse["KMSMasterKeyId"] = AWS_MANAGED_KEY
            self._update_table(ctx, id, SSESpecification=sse)
        if "deletion_protection" in changes:
            self._update_table(ctx, id, DeletionProtectionEnabled=props.deletion_protection)
        if "ttl_attribute" in changes:
            self._update_ttl(ctx, id, observed.props.get("ttl_attribute"), props.ttl_attribute)
        if "point_in_time_recovery" in changes:
            self._set_pitr(ctx, id, props.point_in_time_recovery)
        if "tags" in changes:
            ctx.client("dynamodb").tag_resource(ResourceArn=observed.attrs["arn"], Tags=tag_list(ctx.tags))

    def _update_ttl(self, ctx: NodeContext, id: str, old: str | None, new: str | None) -> None:
        switched_off = False
        try:
            # TTL on another attribute must be switched off before the new one can be switched on.
            if old:
                self._set_ttl(ctx, id, old, False)
                switched_off = True
            if new:
                self._set_ttl(ctx, id, new, True)
        except ClientError as err:
            # Refused within the hour after a change: ours just now, or one made out of band (TTL switched off
            # by hand, which `up` then switches on again). AWS says "...modified multiple times within a fixed
            # interval".
            if error_code(err) == "ValidationException" and (switched_off or "multiple times" in error_message(err)):
                done = f"TTL was switched off on {old!r}, but" if switched_off else "TTL was changed recently, and"
                todo = f"switch it on for {new!r}" if new else f"switch it off on {old!r}"
                raise TtlChangeRefused(
                    f"table {id}: {done} DynamoDB allows one TTL change per table in about an hour; run `up` "
                    f"again later to {todo}"
                ) from err
            raise

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: TableProps | None) -> None:
        # With deletion protection on, DeleteTable refuses (ValidationException): that error is the answer.
        ctx.call(ctx.client("dynamodb").delete_table, retry_on=_TABLE_BUSY, TableName=id)
        ctx.wait("table deleted", lambda: self._describe(ctx, id) is None)

    def monthly_cost(self, props: TableProps, where: Where) -> list[CostLine]:
        return [usage_based("on-demand reads and writes, storage per GB")]
