"""CloudWatch Logs: log groups with retention.

Calls: CreateLogGroup, DescribeLogGroups, PutRetentionPolicy, DeleteRetentionPolicy, ListTagsLogGroup,
TagLogGroup, DeleteLogGroup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from resources.base import Observed, Props, Resource, register

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext


class LogGroupProps(Props):
    name: str
    #: days; None keeps logs forever
    retention_days: int | None = 30


@register
class LogGroup(Resource[LogGroupProps]):
    kind = "logs.log_group"
    service = "logs"
    Props = LogGroupProps
    replace_on: ClassVar = frozenset({"name"})
    duplicate_codes: ClassVar = frozenset({"ResourceAlreadyExistsException"})

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        return next((g for g in groups if g["logGroupName"] == name), None)

    def find(self, ctx: NodeContext, props: LogGroupProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        group = self._describe(ctx, id)
        if group is None:
            return None
        tags = ctx.client("logs").list_tags_log_group(logGroupName=id).get("tags", {})
        props = {
            "name": id,
            "retention_days": group.get("retentionInDays"),
            "tags": {k: v for k, v in tags.items() if not k.startswith("aws:")},
        }
        arn = str(group.get("arn", "")).removesuffix(":*")
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": arn})

    def create(self, ctx: NodeContext, props: LogGroupProps) -> str:
        logs = ctx.client("logs")
        logs.create_log_group(logGroupName=props.name, tags=dict(ctx.tags))
        ctx.created(props.name)
        if props.retention_days:
            logs.put_retention_policy(logGroupName=props.name, retentionInDays=props.retention_days)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: LogGroupProps, observed: Observed, changes: set[str]) -> None:
        logs = ctx.client("logs")
        if "retention_days" in changes:
            if props.retention_days:
                logs.put_retention_policy(logGroupName=id, retentionInDays=props.retention_days)
            else:
                logs.delete_retention_policy(logGroupName=id)
        if "tags" in changes:
            logs.tag_log_group(logGroupName=id, tags=dict(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: LogGroupProps | None) -> None:
        ctx.client("logs").delete_log_group(logGroupName=id)
