"""`mfprov cost` and the cost line of `plan`: what each preset bills while idle, per resource and region."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.engine.reconcile import EngineError
from provisioner.ops import cost
from provisioner.sandbox import shims as sandbox_shims
from provisioner.stacks.config import ConfigError, parse_config
from resources.pricing import HOURS_PER_MONTH, PRICES, PRICES_DATE
from tests.stack.conftest import Stack


@pytest.fixture(autouse=True)
def aws_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto with what AWS documents and moto lacks: SageMaker's notebook updates, Budgets' tags, UpdateBudget and
    subscribers (provisioner/sandbox/shims.py)."""
    sandbox_shims.install(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))


def estimate(preset: str | None, region: str = "us-east-1", stack: str = "metaflow", **extra: Any) -> cost.Estimate:
    data: dict[str, Any] = {"name": "t1", "stack": stack, "region": region, "suffix": "abc12345", **extra}
    if preset:
        data["preset"] = preset
    cfg = parse_config(data)
    return cost.of_blueprint(cost.offline_blueprint(cfg, region), region)


def lines_of(est: cost.Estimate) -> dict[str, dict[str, float | None]]:
    return {r.address: {line.what: line.usd_month for line in r.lines} for r in est.resources}


def hourly(item: str, region: str = "us-east-1", size: str | None = None) -> float:
    price = PRICES[item]
    table = price.by_size[size] if size else price.by_region
    return round(table[region] * HOURS_PER_MONTH, 2)


def billed(est: cost.Estimate) -> set[str]:
    """The addresses with a charge while idle."""
    return {r.address for r in est.resources if r.usd_month > 0}


def test_personal_bills_only_its_key_while_idle() -> None:
    est = estimate("personal")
    assert billed(est) == {"kms.key.s3"}
    assert est.usd_month == PRICES["kms_key"].by_region["us-east-1"]
    lines = lines_of(est)
    # what bills by use is listed, at $0
    assert lines["s3.bucket.datastore"] == {"storage per GB (old versions too) and requests": 0.0}
    assert all(v == 0.0 for v in lines["batch.compute_environment.cpu"].values())
    assert "iam.role.batch_task" in est.free and "ec2.vpc.main" in est.free


def test_standard_adds_the_database_the_load_balancer_and_the_service() -> None:
    est = estimate("standard")
    lines = lines_of(est)
    assert billed(est) == {
        "kms.key.s3",
        "kms.key.rds",
        "rds.db_instance.main",
        "elbv2.load_balancer.nlb",
        "ecs.service.metadata",
        "secretsmanager.secret.db",
    }
    db = lines["rds.db_instance.main"]
    assert db["db.t4g.small instance hours, Single-AZ"] == hourly("rds_postgres", size="db.t4g.small")
    assert db["gp3 storage, 20 GB"] == round(20 * PRICES["rds_gp3_storage"].by_region["us-east-1"], 2)
    assert lines["elbv2.load_balancer.nlb"]["network load balancer hours"] == hourly("nlb")
    # the metadata service: one task of 0.5 vCPU and 1 GB (the config's defaults)
    svc = lines["ecs.service.metadata"]
    assert svc["Fargate vCPU, 1 task(s) of 0.5 vCPU"] == round(0.5 * hourly("fargate_vcpu_x86_64"), 2)
    assert svc["Fargate memory, 1 task(s) of 1 GB"] == hourly("fargate_gb_x86_64")


def test_full_adds_the_nat_gateway_its_address_and_the_notebook() -> None:
    standard, full = estimate("standard"), estimate("full")
    lines = lines_of(full)
    assert billed(full) - billed(standard) == {
        "ec2.nat_gateway.nat_1",
        "ec2.eip.nat_1",
        "sagemaker.notebook_instance.notebook",
    }
    assert lines["ec2.nat_gateway.nat_1"]["NAT gateway hours"] == hourly("nat_gateway") == 32.85
    assert lines["ec2.eip.nat_1"]["public IPv4 address"] == hourly("public_ipv4") == 3.65
    notebook = lines["sagemaker.notebook_instance.notebook"]
    assert notebook == {"ml.t3.medium notebook instance hours": hourly("sagemaker_notebook", size="ml.t3.medium")}


def test_options_that_bill_are_counted() -> None:
    per_az = estimate("full", network={"nat": "per_az", "az_count": 3})
    assert {a for a in billed(per_az) if a.startswith(("ec2.nat_gateway", "ec2.eip"))} == {
        f"ec2.{k}.nat_{i}" for k in ("nat_gateway", "eip") for i in (1, 2, 3)
    }
    multi = lines_of(estimate("standard", metadata={"database": {"multi_az": True, "allocated_storage": 50}}))
    db = multi["rds.db_instance.main"]
    assert db["db.t4g.small instance hours, Multi-AZ"] == round(2 * hourly("rds_postgres", size="db.t4g.small"), 2)
    assert db["gp3 storage, 100 GB"] == round(100 * PRICES["rds_gp3_storage"].by_region["us-east-1"], 2)
    endpoints = lines_of(estimate("personal", network={"interface_endpoints": ["ecr.api", "logs"]}))
    # one network interface per zone (2 by default), each billed by the hour
    assert endpoints["ec2.vpc_endpoint.ecr_api"]["interface endpoint in 2 zone(s)"] == round(
        2 * hourly("interface_endpoint"), 2
    )
    assert "ec2.vpc_endpoint.logs" in endpoints


def test_aurora_serverless_bills_its_minimum_capacity_and_nothing_at_zero() -> None:
    aurora = {"database": {"engine": "aurora-postgresql", "serverless_min_capacity": 1.0}}
    lines = lines_of(estimate("standard", metadata=aurora))
    instance = next(v for a, v in lines.items() if a.startswith("rds.db_cluster_instance."))
    assert instance == {"Serverless v2 minimum capacity, 1 ACUs": hourly("aurora_acu")}
    paused = {"database": {"engine": "aurora-postgresql", "serverless_min_capacity": 0}}
    instance = next(v for a, v in lines_of(estimate("standard", metadata=paused)).items() if "cluster_instance" in a)
    assert instance == {"Serverless v2 capacity": 0.0}


def test_the_mlflow_stack_is_priced_too() -> None:
    est = estimate(None, stack="mlflow")
    assert {"rds.db_instance.mlflow", "ecs.service.server", "elbv2.load_balancer.alb"} <= billed(est)
    assert lines_of(est)["elbv2.load_balancer.alb"]["application load balancer hours"] == hourly("alb")


def test_prices_differ_by_region() -> None:
    east, frankfurt = estimate("full"), estimate("full", region="eu-central-1")
    nat = "ec2.nat_gateway.nat_1"
    assert lines_of(frankfurt)[nat]["NAT gateway hours"] == hourly("nat_gateway", "eu-central-1")
    assert lines_of(frankfurt)[nat]["NAT gateway hours"] > lines_of(east)[nat]["NAT gateway hours"]
    assert frankfurt.usd_month > east.usd_month
    for region in ("us-west-2", "eu-west-1", "ap-southeast-2"):
        assert estimate("full", region=region).unpriced == []


def test_a_region_without_prices_says_so_per_line_and_guesses_nothing() -> None:
    est = estimate("full", region="sa-east-1")
    lines = {(r.address, line.what): line for r in est.resources for line in r.lines}
    nat = lines[("ec2.nat_gateway.nat_1", "NAT gateway hours")]
    assert nat.usd_month is None and nat.detail == "no price for region sa-east-1"
    assert "ec2.nat_gateway.nat_1: NAT gateway hours (no price for region sa-east-1)" in est.unpriced
    # nothing of the unpriced lines enters the total; what bills by use still shows $0
    assert est.usd_month == 0.0
    assert lines[("s3.bucket.datastore", "storage per GB (old versions too) and requests")].usd_month == 0.0


def test_an_instance_class_without_a_price_is_said_not_guessed() -> None:
    est = estimate("standard", metadata={"database": {"instance_class": "db.x2g.large"}})
    line = next(line for r in est.resources if r.address == "rds.db_instance.main" for line in r.lines)
    assert line.usd_month is None
    assert "db.x2g.large" in line.detail


@pytest.mark.parametrize("preset", ["personal", "standard", "full"])
def test_totals_are_the_sum_of_the_lines(preset: str) -> None:
    est = estimate(preset)
    assert est.usd_month == round(sum(line.usd_month or 0 for r in est.resources for line in r.lines), 2)
    for r in est.resources:
        assert r.usd_month == round(sum(line.usd_month or 0 for line in r.lines), 2)


# ------------------------------------------------------------------------------------------------ the CLI


def invoke(stack: Stack, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(stack.path), *args])


def edit(stack: Stack, old: str, new: str) -> None:
    text = stack.path.read_text()
    assert old in text
    stack.path.write_text(text.replace(old, new, 1))


NOTEBOOK_OFF = '# enabled = true            # by preset (full: true)\ninstance_type = "ml.t3.medium"'
NOTEBOOK_ON = 'enabled = true\ninstance_type = "ml.t3.medium"'
PRIVATE_OFF = "# private = true"
PRIVATE_ON = "private = true"


def test_cost_json_before_up_needs_no_aws(stack: Stack) -> None:
    result = invoke(stack, "cost", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "mfprov.cost/1" and doc["stack"] == "t1" and doc["region"] == "us-east-1"
    assert doc["prices_date"] == PRICES_DATE and doc["currency"] == "USD"
    assert doc["total_usd_month"] == sum(r["usd_month"] for r in doc["resources"])
    key = next(r for r in doc["resources"] if r["address"] == "kms.key.s3")
    assert key["kind"] == "kms.key" and key["usd_month"] == 1.0
    assert {"what", "usd_month", "detail", "usage_based"} <= set(key["lines"][0])
    assert stack.state().resources == {}  # nothing was made or recorded


def test_cost_table_and_region_option(stack: Stack) -> None:
    edit(stack, NOTEBOOK_OFF, NOTEBOOK_ON)
    result = invoke(stack, "cost")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("sagemaker.notebook_instance"))
    assert "ml.t3.medium notebook instance hours" in row and row.endswith(
        f"{hourly('sagemaker_notebook', size='ml.t3.medium'):.2f}"
    )
    elsewhere = invoke(stack, "cost", "--region", "eu-central-1", "--json")
    assert json.loads(elsewhere.stdout)["region"] == "eu-central-1"
    unknown = invoke(stack, "cost", "--region", "sa-east-1")
    assert unknown.exit_code == 0
    assert "no price for region sa-east-1" in unknown.stdout


def plan_cost(stack: Stack, exit_code: int = 0) -> dict[str, Any]:
    result = invoke(stack, "plan", "--json")
    assert result.exit_code == exit_code, result.output
    return dict(json.loads(result.stdout)["monthly_cost"])


def test_plan_shows_the_change_in_monthly_cost(stack: Stack) -> None:
    before = plan_cost(stack)
    assert before["current_usd"] == 0.0 and before["planned_usd"] == before["delta_usd"] == 1.0
    stack.up()
    assert plan_cost(stack)["delta_usd"] == 0.0

    notebook = hourly("sagemaker_notebook", size="ml.t3.medium")
    edit(stack, NOTEBOOK_OFF, NOTEBOOK_ON)
    added = plan_cost(stack)
    assert added["delta_usd"] == notebook and added["planned_usd"] == round(added["current_usd"] + notebook, 2)
    text = invoke(stack, "plan")
    assert text.stdout.rstrip().splitlines()[-1].startswith("Monthly cost while idle: $1.00 → $")
    assert f"(+${notebook:,.2f}" in text.stdout

    stack.up()
    edit(stack, NOTEBOOK_ON, NOTEBOOK_OFF)
    # the notebook holds data: `up` would refuse to delete it (exit 3), and the plan still prices the change
    assert plan_cost(stack, exit_code=3)["delta_usd"] == -notebook


def test_plan_counts_an_added_and_a_removed_nat_gateway(stack: Stack) -> None:
    stack.up()
    edit(stack, PRIVATE_OFF, PRIVATE_ON)
    nat = round(hourly("nat_gateway") + hourly("public_ipv4"), 2)
    assert plan_cost(stack)["delta_usd"] == nat
    stack.up()
    assert plan_cost(stack)["delta_usd"] == 0.0
    edit(stack, PRIVATE_ON, PRIVATE_OFF)
    assert plan_cost(stack)["delta_usd"] == -nat


def test_cost_of_the_state_matches_the_blueprint_after_up(stack: Stack) -> None:
    edit(stack, NOTEBOOK_OFF, NOTEBOOK_ON)
    stack.up()
    state = stack.state()
    ws = stack.ws()
    recorded = cost.of_state(state, "us-east-1")
    desired = cost.of_blueprint(cost.offline_blueprint(ws.config, "us-east-1"), "us-east-1")
    assert lines_of(recorded) == lines_of(desired)


# ------------------------------------------------------------------------------------------ the budget alarm

BUDGET = '\n[budget]\nmonthly_usd = 150.0\nemails = ["ml@example.com"]\n'
ACCOUNT = "123456789012"  # moto's


def with_budget(stack: Stack, text: str = BUDGET) -> str:
    stack.path.write_text(stack.path.read_text() + text)
    return str(stack.ws().config.named("budget"))


def notifications(name: str) -> dict[tuple[str, float], list[str]]:
    """Each notification of the budget (type, threshold; GREATER_THAN a percentage) -> its email subscribers."""
    budgets = boto3.client("budgets")
    out = {}
    for n in budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=name)["Notifications"]:
        assert (n["ComparisonOperator"], n.get("ThresholdType")) == ("GREATER_THAN", "PERCENTAGE")
        subs = budgets.describe_subscribers_for_notification(AccountId=ACCOUNT, BudgetName=name, Notification=n)
        out[(n["NotificationType"], n["Threshold"])] = sorted(s["Address"] for s in subs["Subscribers"])
    return out


def test_no_budget_unless_an_amount_is_set(stack: Stack) -> None:
    stack.up()
    assert boto3.client("budgets").describe_budgets(AccountId=ACCOUNT).get("Budgets", []) == []
    assert not any(kind == "budgets.budget" for kind in (rs.kind for rs in stack.state().resources.values()))


def test_budget_created_read_back_updated_and_deleted_by_down(stack: Stack) -> None:
    name = with_budget(stack)
    assert name == "metaflow-budget-abc12345"
    stack.up()
    budgets = boto3.client("budgets")
    b = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]
    assert (b["BudgetType"], b["TimeUnit"], float(b["BudgetLimit"]["Amount"])) == ("COST", "MONTHLY", 150.0)
    assert notifications(name) == {("ACTUAL", 80.0): ["ml@example.com"], ("FORECASTED", 100.0): ["ml@example.com"]}
    arn = f"arn:aws:budgets::{ACCOUNT}:budget/{name}"
    tags = {t["Key"]: t["Value"] for t in budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]}
    assert tags["mfprov:address"] == "budgets.budget.monthly" and tags["mfprov:stack"] == "t1"
    again = stack.up()
    assert not [c for c in again.mutating if c.startswith("budgets:")]
    assert stack.drift().value == []

    edit(stack, "monthly_usd = 150.0", "monthly_usd = 200.0")
    edit(stack, 'emails = ["ml@example.com"]', 'emails = ["ml@example.com", "lead@example.com"]')
    stack.up()
    assert float(budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]["BudgetLimit"]["Amount"]) == 200
    both = ["lead@example.com", "ml@example.com"]
    assert notifications(name) == {("ACTUAL", 80.0): both, ("FORECASTED", 100.0): both}
    assert stack.drift().value == []

    stack.down()
    with pytest.raises(ClientError) as gone:
        budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)
    assert gone.value.response["Error"]["Code"] == "NotFoundException"


def test_drift_sees_a_console_change_and_up_puts_it_back(stack: Stack) -> None:
    name = with_budget(stack)
    stack.up()
    budgets = boto3.client("budgets")
    # in the console: the 80% alarm moved to 95%, and the amount raised
    actual = next(
        n
        for n in budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=name)["Notifications"]
        if n["NotificationType"] == "ACTUAL"
    )
    budgets.delete_notification(AccountId=ACCOUNT, BudgetName=name, Notification=actual)
    budgets.create_notification(
        AccountId=ACCOUNT,
        BudgetName=name,
        Notification={**actual, "Threshold": 95.0},
        Subscribers=[{"SubscriptionType": "EMAIL", "Address": "ml@example.com"}],
    )
    b = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]
    budgets.update_budget(AccountId=ACCOUNT, NewBudget={**b, "BudgetLimit": {"Amount": "999", "Unit": "USD"}})

    items = stack.drift().value
    fields = {c.field for item in items if item.address == "budgets.budget.monthly" for c in item.changes}
    assert fields == {"monthly_usd", "notifications"}
    stack.up()
    assert notifications(name) == {("ACTUAL", 80.0): ["ml@example.com"], ("FORECASTED", 100.0): ["ml@example.com"]}
    assert float(budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]["BudgetLimit"]["Amount"]) == 150
    assert stack.drift().value == []


def someone_elses_budget(budgets: Any, name: str, **extra: Any) -> None:
    """A $5 monthly cost budget made by hand, as a neighbour in the account would."""
    limit = {"Amount": "5", "Unit": "USD"}
    budget = {"BudgetName": name, "BudgetType": "COST", "TimeUnit": "MONTHLY", "BudgetLimit": limit}
    budgets.create_budget(AccountId=ACCOUNT, Budget=budget, **extra)


def test_a_neighbours_budget_of_a_similar_name_is_never_touched(stack: Stack) -> None:
    name = with_budget(stack)
    budgets = boto3.client("budgets")
    neighbours = [f"{name}-old", name[:-1], f"other-{name}"]
    for other in neighbours:
        someone_elses_budget(budgets, other, ResourceTags=[{"Key": "mfprov:stack", "Value": "t1"}])
    stack.up()
    assert stack.drift().value == []
    stack.down()
    left = {b["BudgetName"]: b["BudgetLimit"]["Amount"] for b in budgets.describe_budgets(AccountId=ACCOUNT)["Budgets"]}
    assert left == {other: "5" for other in neighbours}


def test_a_budget_of_the_stacks_name_that_is_not_its_own_is_refused(stack: Stack) -> None:
    name = with_budget(stack)
    budgets = boto3.client("budgets")
    someone_elses_budget(budgets, name)
    with pytest.raises(EngineError, match="already exists and belongs to nothing mfprov manages"):
        stack.up()
    assert budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]["BudgetLimit"]["Amount"] == "5"
    stack.down()
    assert budgets.describe_budget(AccountId=ACCOUNT, BudgetName=name)["Budget"]["BudgetLimit"]["Amount"] == "5"


def test_update_budget_keeps_the_dates_it_does_not_name_and_changes_those_it_does(moto_account: None) -> None:
    """The sandbox's UpdateBudget (a shim): NewBudget replaces the budget, but the dates stay unless it names
    new ones, as AWS documents (API_budgets_TimePeriod.html)."""
    budgets = boto3.client("budgets")
    someone_elses_budget(budgets, "dated")
    dates = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="dated")["Budget"]["TimePeriod"]
    new = {"BudgetName": "dated", "BudgetType": "COST", "TimeUnit": "MONTHLY"}
    budgets.update_budget(AccountId=ACCOUNT, NewBudget={**new, "BudgetLimit": {"Amount": "7", "Unit": "USD"}})
    kept = budgets.describe_budget(AccountId=ACCOUNT, BudgetName="dated")["Budget"]
    assert (kept["BudgetLimit"]["Amount"], kept["TimePeriod"]) == ("7", dates)
    later = {"Start": dates["Start"], "End": datetime(2030, 1, 1, tzinfo=UTC)}
    budgets.update_budget(AccountId=ACCOUNT, NewBudget={**new, "TimePeriod": later})
    assert budgets.describe_budget(AccountId=ACCOUNT, BudgetName="dated")["Budget"]["TimePeriod"]["End"] == later["End"]


def test_the_budget_is_in_the_permissions_policy(stack: Stack) -> None:
    with_budget(stack)
    result = invoke(stack, "permissions", "--json", "--account", ACCOUNT)
    assert result.exit_code == 0, result.output
    actions = {
        a
        for s in json.loads(result.stdout)["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {
        "budgets:ModifyBudget",
        "budgets:ViewBudget",
        "budgets:TagResource",
        "budgets:ListTagsForResource",
    } <= actions


@pytest.mark.parametrize("stack_kind", ["metaflow", "mlflow"])
def test_both_stacks_add_the_budget_only_when_an_amount_is_set(stack_kind: str) -> None:
    base = {"name": "t1", "stack": stack_kind, "region": "us-east-1", "suffix": "abc12345"}
    assert "budgets.budget.monthly" not in cost.offline_blueprint(parse_config(base), "us-east-1").nodes
    cfg = parse_config({**base, "budget": {"monthly_usd": 40.0, "emails": ["ml@example.com"]}})
    node = cost.offline_blueprint(cfg, "us-east-1").nodes["budgets.budget.monthly"]
    assert node.props["name"] == cfg.named("budget") and node.props["monthly_usd"] == 40.0
    assert [(n["type"], n["percent"]) for n in node.props["notifications"]] == [("ACTUAL", 80.0), ("FORECASTED", 100.0)]


@pytest.mark.parametrize(
    ("budget", "words"),
    [
        ({"monthly_usd": 40.0}, "needs at least one address in budget.emails"),
        ({"monthly_usd": 40.0, "emails": ["not-an-address"]}, "not an email address: not-an-address"),
        ({"monthly_usd": 0.0, "emails": ["ml@example.com"]}, "greater than 0"),
    ],
)
def test_a_budget_that_cannot_work_is_refused_before_any_call(budget: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_config({"name": "t1", "suffix": "abc12345", "budget": budget})
