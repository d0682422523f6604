"""DynamoDB: the Step Functions state table (on-demand, encrypted, TTL).

Calls: CreateTable, DescribeTable, UpdateTable, DescribeTimeToLive, UpdateTimeToLive,
DescribeContinuousBackups, UpdateContinuousBackups, ListTagsOfResource, TagResource, DeleteTable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from resources.base import Observed, Props, Resource, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext


_TTL_ON = ("ENABLED", "ENABLING")


class TableProps(Props):
    name: str
    hash_key: str = "pathspec"
    hash_key_type: str = "S"
    billing_mode: str = "PAY_PER_REQUEST"
    #: encryption with the AWS-managed aws/dynamodb key (as terraform-aws-metaflow has it)
    sse_enabled: bool = True
    ttl_attribute: str | None = "ttl"
    point_in_time_recovery: bool = False
    deletion_protection: bool = False


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
        try:
            table: dict[str, Any] = ctx.client("dynamodb").describe_table(TableName=name)["Table"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return None if table.get("TableStatus") == "DELETING" else table

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
            if self.missing(err):
                return None
            raise
        hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
        key_type = next(a["AttributeType"] for a in table["AttributeDefinitions"] if a["AttributeName"] == hash_key)
        sse = table.get("SSEDescription") or {}
        props = {
            "name": id,
            "hash_key": hash_key,
            "hash_key_type": key_type,
            "billing_mode": (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
            "sse_enabled": sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING"),
            "ttl_attribute": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in _TTL_ON else None,
            "point_in_time_recovery": (pitr.get("PointInTimeRecoveryDescription") or {}).get(
                "PointInTimeRecoveryStatus"
            ) == "ENABLED",
            "deletion_protection": bool(table.get("DeletionProtectionEnabled", False)),
            "tags": tag_dict(tags),
        }  # fmt: skip
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": table["TableArn"]})

    def create(self, ctx: NodeContext, props: TableProps) -> str:
        ddb = ctx.client("dynamodb")
        sse: dict[str, Any] = {"Enabled": props.sse_enabled}
        ddb.create_table(
            TableName=props.name,
            KeySchema=[{"AttributeName": props.hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": props.hash_key, "AttributeType": props.hash_key_type}],
            BillingMode=props.billing_mode,
            SSESpecification=sse,
            DeletionProtectionEnabled=props.deletion_protection,
            Tags=tag_list(ctx.tags),
        )
        ctx.created(props.name)
        ctx.wait("table ACTIVE", lambda: self._status(ctx, props.name) == "ACTIVE" or self._status(ctx, props.name))
        if props.ttl_attribute:
            ddb.update_time_to_live(
                TableName=props.name, TimeToLiveSpecification={"Enabled": True, "AttributeName": props.ttl_attribute}
            )
        if props.point_in_time_recovery:
            ddb.update_continuous_backups(
                TableName=props.name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        return props.name

    def _status(self, ctx: NodeContext, name: str) -> str:
        table = self._describe(ctx, name)
        return str(table["TableStatus"]) if table else "ABSENT"

    def update(self, ctx: NodeContext, id: str, props: TableProps, observed: Observed, changes: set[str]) -> None:
        ddb = ctx.client("dynamodb")
        if "billing_mode" in changes:
            ddb.update_table(TableName=id, BillingMode=props.billing_mode)
        if "sse_enabled" in changes:
            sse: dict[str, Any] = {"Enabled": props.sse_enabled}
            if props.sse_enabled:
                sse["SSEType"] = "KMS"
            ddb.update_table(TableName=id, SSESpecification=sse)
        if "deletion_protection" in changes:
            ddb.update_table(TableName=id, DeletionProtectionEnabled=props.deletion_protection)
        if "ttl_attribute" in changes:
            old = observed.props.get("ttl_attribute")
            if old and old != props.ttl_attribute:
                ddb.update_time_to_live(TableName=id, TimeToLiveSpecification={"Enabled": False, "AttributeName": old})
            if props.ttl_attribute:
                ddb.update_time_to_live(
                    TableName=id, TimeToLiveSpecification={"Enabled": True, "AttributeName": props.ttl_attribute}
                )
        if "point_in_time_recovery" in changes:
            ddb.update_continuous_backups(
                TableName=id,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": props.point_in_time_recovery},
            )
        if "tags" in changes:
            ddb.tag_resource(ResourceArn=observed.attrs["arn"], Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: TableProps | None) -> None:
        ctx.client("dynamodb").delete_table(TableName=id)
        ctx.wait("table deleted", lambda: self._describe(ctx, id) is None)
