"""The optional AWS Budgets alarm every stack can have (``[budget]`` of the config): one monthly cost budget that
emails when the month's actual spend passes 80% of the amount and when the forecast passes 100%."""

from __future__ import annotations

from provisioner.engine.graph import Blueprint
from provisioner.stacks.config_common import BudgetConfig

#: the node's address
ADDRESS = "budgets.budget.monthly"
#: the share of the amount (percent) at which each kind of spend sends the email
ACTUAL_PERCENT = 80.0
FORECASTED_PERCENT = 100.0


def add(bp: Blueprint, budget: BudgetConfig, name: str) -> None:
    """The budget node, only when ``budget.monthly_usd`` is set; ``name`` is unique in the account (budget names
    are account-wide), so the stack makes it from its prefix and suffix."""
    if budget.monthly_usd is None:
        return
    emails = list(budget.emails)
    bp.add(
        ADDRESS,
        "budgets.budget",
        name=name,
        monthly_usd=budget.monthly_usd,
        notifications=[
            {"type": "ACTUAL", "percent": ACTUAL_PERCENT, "emails": emails},
            {"type": "FORECASTED", "percent": FORECASTED_PERCENT, "emails": emails},
        ],
    )
