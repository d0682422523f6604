"""CloudWatch Logs: log groups with retention and an optional KMS key.

Calls: CreateLogGroup, DescribeLogGroups, PutRetentionPolicy, DeleteRetentionPolicy, AssociateKmsKey,
DisassociateKmsKey, ListTagsForResource, TagResource, DeleteLogGroup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from resources.base import Observed, Props, Resource, arn_resource, register
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: a key whose policy was just written is not yet usable by CloudWatch Logs (eventual consistency)
KMS_NOT_YET = ("InvalidParameterException:KMS key", "AccessDeniedException:KMS")


class LogGroupProps(Props):
    name: str
    #: days; None keeps logs forever
    retention_days: int | None = 30
    #: the key ARN (CloudWatch Logs reads back the ARN); its key policy must allow logs.<region>.amazonaws.com
    kms_key_arn: str | None = None


@register
class LogGroup(Resource[LogGroupProps]):
    kind = "logs.log_group"
    service = "logs"
    Props = LogGroupProps
    replace_on: ClassVar = frozenset({"name"})
    duplicate_codes: ClassVar = frozenset({"ResourceAlreadyExistsException"})

    def id_from_arn(self, arn: str) -> str:
        # arn:...:log-group:<name>[:*]
        return arn_resource(arn).removeprefix("log-group:").removesuffix(":*")

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        # The prefix also matches longer names; the list is sorted by name, so the exact one comes first.
        pages = ctx.client("logs").get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name)
        for page in pages:
            for g in page["logGroups"]:
                if g["logGroupName"] == name:
                    return dict(g)
        return None

    @staticmethod
    def _arn(group: Mapping[str, Any]) -> str:
        # "logGroupArn" is the taggable ARN; older responses only have "arn", which ends in ":*"
        return str(group.get("logGroupArn") or str(group.get("arn", "")).removesuffix(":*"))

    def find(self, ctx: NodeContext, props: LogGroupProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        group = self._describe(ctx, id)
        if group is None:
            return None
        arn = self._arn(group)
        tags = ctx.client("logs").list_tags_for_resource(resourceArn=arn).get("tags", {})
        props = {
            "name": id,
            "retention_days": group.get("retentionInDays"),
            "kms_key_arn": group.get("kmsKeyId"),
            "tags": {k: v for k, v in tags.items() if not k.startswith("aws:")},
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": arn})

    def create(self, ctx: NodeContext, props: LogGroupProps) -> str:
        logs = ctx.client("logs")
        kw: dict[str, Any] = {"kmsKeyId": props.kms_key_arn} if props.kms_key_arn else {}
        ctx.call(logs.create_log_group, retry_on=KMS_NOT_YET, logGroupName=props.name, tags=dict(ctx.tags), **kw)
        ctx.created(props.name)
        if props.retention_days is not None:
            logs.put_retention_policy(logGroupName=props.name, retentionInDays=props.retention_days)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: LogGroupProps, observed: Observed, changes: set[str]) -> None:
        logs = ctx.client("logs")
        if "retention_days" in changes:
            if props.retention_days is not None:
                logs.put_retention_policy(logGroupName=id, retentionInDays=props.retention_days)
            else:
                logs.delete_retention_policy(logGroupName=id)
        if "kms_key_arn" in changes:
            if props.kms_key_arn:
                # Replaces any key already associated; new events are encrypted with it from now on.
                ctx.call(logs.associate_kms_key, retry_on=KMS_NOT_YET, logGroupName=id, kmsKeyId=props.kms_key_arn)
            else:
                logs.disassociate_kms_key(logGroupName=id)
        if "tags" in changes:
            logs.tag_resource(resourceArn=observed.attrs["arn"], tags=dict(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LogGroupProps | None) -> None:
        ctx.client("logs").delete_log_group(logGroupName=id)

    def monthly_cost(self, props: LogGroupProps, where: Where) -> list[CostLine]:
        return [usage_based("log ingestion and storage per GB")]
