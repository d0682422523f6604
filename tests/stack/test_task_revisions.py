"""A changed container reaches the running service in the same `up`: a task definition's update registers a new
revision with a new ARN, so the service that runs it must be updated after it, not planned as unchanged."""

from __future__ import annotations

from pathlib import Path

import boto3

from provisioner.ops import app as core
from tests.stack.conftest import Stack
from tests.stack.test_mlflow_stack import grace_period_kept, mlflow_config  # noqa: F401  (an autouse fixture)


def running_revision(stack: Stack) -> tuple[str, str]:
    """(the service's task definition, the family's newest ACTIVE revision)."""
    state = stack.state().resources
    ecs = boto3.client("ecs")
    cluster, name = state["ecs.service.server"].id.split("|")  # a service's id is <cluster>|<name>
    service = ecs.describe_services(cluster=cluster, services=[name])["services"][0]
    family = state["ecs.task_definition.server"].id
    newest = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]["taskDefinitionArn"]
    return service["taskDefinition"], newest


def test_one_up_deploys_a_changed_container(moto_account: None, tmp_path: Path) -> None:
    config = mlflow_config(tmp_path / "m1")
    stack = Stack(config)
    stack.up()
    before, _ = running_revision(stack)

    config.write_text(config.read_text().replace("[mlflow.server.extra_env]", '[mlflow.server.extra_env]\nA = "1"', 1))
    plan = stack.run("plan", core.plan).value
    planned = {a.address: a.action for a in plan.actions}
    assert planned["ecs.task_definition.server"] == "update"
    assert planned["ecs.service.server"] == "update"  # told before the apply, not found by the next drift
    stack.up()

    running, newest = running_revision(stack)
    assert running == newest != before
    assert stack.drift().value == []
