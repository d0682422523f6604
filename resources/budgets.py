"""AWS Budgets: a monthly cost budget that emails when the month's spend passes a share of it.

Calls: CreateBudget (with its notifications, their email subscribers and ResourceTags), DescribeBudget,
DescribeNotificationsForBudget, DescribeSubscribersForNotification, UpdateBudget, CreateNotification,
DeleteNotification, ListTagsForResource, TagResource, DeleteBudget.

A budget is an account's, not a region's: its name is unique in the account (the stack names it with its prefix
and suffix) and Budgets answers on one global endpoint, which botocore's endpoint rules pick from any region.
Tags on budgets: https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_CreateBudget.html
(``ResourceTags``) and API_budgets_ListTagsForResource.html.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from resources.base import Observed, Props, Resource, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext


class BudgetNotification(BaseModel):
    """Email ``emails`` when the month's ``type`` spend (ACTUAL so far, or FORECASTED for the whole month) is
    greater than ``percent`` of the budget."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["ACTUAL", "FORECASTED"]
    percent: float = Field(gt=0)
    #: AWS allows 10 email subscribers per notification
    emails: list[str] = Field(min_length=1, max_length=10)

    @field_validator("emails")
    @classmethod
    def _sorted(cls, v: list[str]) -> list[str]:
        return sorted(set(v))


class BudgetProps(Props):
    name: str
    monthly_usd: float = Field(gt=0)
    notifications: list[BudgetNotification] = []

    @field_validator("notifications")
    @classmethod
    def _in_order(cls, v: list[BudgetNotification]) -> list[BudgetNotification]:
        # one order, so the read-back compares equal whatever order AWS lists them in
        return sorted(v, key=lambda n: (n.type, n.percent, n.emails))


def _notification(n: Mapping[str, Any]) -> dict[str, Any]:
    """A notification as the Budgets API takes it."""
    return {
        "NotificationType": n["type"],
        "ComparisonOperator": "GREATER_THAN",
        "Threshold": float(n["percent"]),
        "ThresholdType": "PERCENTAGE",
    }


def _shape(n: Mapping[str, Any], emails: list[str]) -> dict[str, Any]:
    """A notification AWS lists, in the shape of :class:`BudgetNotification`. One that is not "greater than a
    percentage" (an absolute amount, LESS_THAN: someone else's) gets a type of its own, so it shows as drift."""
    kind = str(n.get("NotificationType"))
    if n.get("ComparisonOperator") != "GREATER_THAN" or n.get("ThresholdType", "PERCENTAGE") != "PERCENTAGE":
        kind = f"{kind}:{n.get('ComparisonOperator')}:{n.get('ThresholdType')}"
    return {"type": kind, "percent": float(n.get("Threshold", 0)), "emails": sorted(emails)}


def _subscribers(emails: list[str]) -> list[dict[str, str]]:
    return [{"SubscriptionType": "EMAIL", "Address": e} for e in emails]


@register
class Budget(Resource[BudgetProps]):
    kind = "budgets.budget"
    service = "budgets"
    Props = BudgetProps
    replace_on: ClassVar = frozenset({"name"})
    duplicate_codes: ClassVar = frozenset({"DuplicateRecordException"})

    @staticmethod
    def _arn(ctx: NodeContext, name: str) -> str:
        return ctx.facts.arn("budgets", f"budget/{name}", region="")

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        try:
            return dict(
                ctx.client("budgets").describe_budget(AccountId=ctx.facts.account_id, BudgetName=name)["Budget"]
            )
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def find(self, ctx: NodeContext, props: BudgetProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def _notifications(self, ctx: NodeContext, name: str) -> list[tuple[dict[str, Any], list[str]]]:
        """Every notification of the budget (as AWS answers it) with its email subscribers."""
        budgets = ctx.client("budgets")
        account = ctx.facts.account_id
        out = []
        listed = budgets.describe_notifications_for_budget(AccountId=account, BudgetName=name).get("Notifications")
        for n in listed or []:
            subs = budgets.describe_subscribers_for_notification(AccountId=account, BudgetName=name, Notification=n)
            emails = [s["Address"] for s in subs.get("Subscribers") or [] if s.get("SubscriptionType") == "EMAIL"]
            out.append((dict(n), sorted(emails)))
        return out

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        budget = self._describe(ctx, id)
        if budget is None:
            return None
        arn = self._arn(ctx, id)
        notifications = sorted(
            (_shape(n, emails) for n, emails in self._notifications(ctx, id)),
            key=lambda n: (n["type"], n["percent"], n["emails"]),
        )
        limit = budget.get("BudgetLimit") or {}
        tags = ctx.client("budgets").list_tags_for_resource(ResourceARN=arn).get("ResourceTags")
        props = {
            "name": id,
            "monthly_usd": float(limit.get("Amount", 0)),
            "notifications": notifications,
            "tags": tag_dict(tags),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": arn})

    @staticmethod
    def _budget(props: BudgetProps) -> dict[str, Any]:
        return {
            "BudgetName": props.name,
            "BudgetType": "COST",
            "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": f"{props.monthly_usd:.2f}", "Unit": "USD"},
        }

    def create(self, ctx: NodeContext, props: BudgetProps) -> str:
        ctx.client("budgets").create_budget(
            AccountId=ctx.facts.account_id,
            Budget=self._budget(props),
            NotificationsWithSubscribers=[
                {"Notification": _notification(n.model_dump()), "Subscribers": _subscribers(n.emails)}
                for n in props.notifications
            ],
            ResourceTags=tag_list(ctx.tags),
        )
        ctx.created(props.name)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: BudgetProps, observed: Observed, changes: set[str]) -> None:
        budgets = ctx.client("budgets")
        account = ctx.facts.account_id
        if "monthly_usd" in changes:
            budgets.update_budget(AccountId=account, NewBudget=self._budget(props))
        if "notifications" in changes:
            wanted = [n.model_dump() for n in props.notifications]
            # a changed notification is deleted and made again: it is its type and threshold, and its subscribers
            for n, emails in self._notifications(ctx, id):
                current = _shape(n, emails)
                if current in wanted:
                    wanted.remove(current)
                else:
                    budgets.delete_notification(AccountId=account, BudgetName=id, Notification=n)
            for w in wanted:
                budgets.create_notification(
                    AccountId=account,
                    BudgetName=id,
                    Notification=_notification(w),
                    Subscribers=_subscribers(w["emails"]),
                )
        if "tags" in changes:
            budgets.tag_resource(ResourceARN=observed.attrs["arn"], ResourceTags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: BudgetProps | None) -> None:
        ctx.client("budgets").delete_budget(AccountId=ctx.facts.account_id, BudgetName=id)
