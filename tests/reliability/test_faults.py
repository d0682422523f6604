"""Under injected faults — dropped connections, throttling, 5xx, lost answers, eventual-consistency errors —
up / drift / down converge: exactly one of each resource, drift clean, nothing left after down.

More seeds: ``MFPROV_FAULT_SEEDS=20 python -m pytest tests/reliability -s`` (each run prints what it injected).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.sandbox import shims as sandbox_shims
from tests.reliability.faults import ALL_MODES, FaultInjector
from tests.stack.conftest import Stack, inventory, write_config

SEEDS = range(int(os.environ.get("MFPROV_FAULT_SEEDS", "3")))
ONE_OF_EACH = {
    "vpc": 1, "subnet": 2, "igw": 1, "route_table": 2, "security_group": 2, "launch_template": 1, "role": 4,
    "instance_profile": 1, "kms_key": 1, "kms_alias": 1, "bucket": 1, "table": 1, "compute_environment": 1,
    "job_queue": 1,
}  # fmt: skip


def converge(stack: Stack, before: dict[str, set[str]], faults: FaultInjector) -> None:
    stack.up()
    assert stack.drift().value == [], "one up, under faults, must leave the stack in sync"
    made = {k: len(v - before[k]) for k, v in inventory().items()}
    assert made == ONE_OF_EACH
    assert stack.up().mutating == {}
    stack.down(delete_protected=True)
    assert inventory() == before, "down must leave nothing behind"


@pytest.mark.parametrize("seed", SEEDS)
def test_runs_converge_under_every_kind_of_fault(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    before = inventory()
    stack = Stack(write_config(tmp_path))
    faults = FaultInjector(seed, rate=0.05, modes=ALL_MODES)
    faults.install(monkeypatch)
    converge(stack, before, faults)
    assert set(faults.injected) >= {"consistency"} and sum(faults.injected.values()) > 10
    print(f"seed {seed}: injected {dict(sorted(faults.injected.items()))}")


@pytest.mark.parametrize("seed", SEEDS)
def test_lost_answers_leave_no_twin(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A create whose answer is lost is retried by botocore and made twice; the twin carries the stack's tags,
    so the same `up` finds it and removes it."""
    before = inventory()
    stack = Stack(write_config(tmp_path))
    faults = FaultInjector(seed, rate=0.08, modes=("lost",))
    faults.install(monkeypatch)
    converge(stack, before, faults)
    assert faults.injected["lost"] > 0
    print(f"seed {seed}: lost {faults.injected['lost']} answers")


#: every create of the metadata API (preset standard), as botocore names the operations
APIGW_CREATES = {
    ("apigateway", op)
    for op in (
        "CreateVpcLink", "CreateRestApi", "CreateResource", "PutMethod", "PutIntegration", "CreateDeployment",
        "CreateStage", "CreateApiKey", "CreateUsagePlan", "CreateUsagePlanKey",
    )
}  # fmt: skip


def api_gateway_of(stack: str) -> dict[str, int]:
    """How many of each API Gateway thing carry the stack's tags (stages, deployments and paths: of its APIs)."""
    ag = boto3.client("apigateway")

    def ours(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [i for i in items if (i.get("tags") or {}).get("mfprov:stack") == stack]

    apis = ours(ag.get_rest_apis(limit=500)["items"])
    return {
        "rest_api": len(apis),
        "stage": sum(len(ag.get_stages(restApiId=a["id"])["item"]) for a in apis),
        "deployment": sum(len(ag.get_deployments(restApiId=a["id"])["items"]) for a in apis),
        "path": sum(len(ag.get_resources(restApiId=a["id"])["items"]) for a in apis),
        "api_key": len(ours(ag.get_api_keys(limit=500)["items"])),
        "usage_plan": len(ours(ag.get_usage_plans(limit=500)["items"])),
        "vpc_link": len(ours(ag.get_vpc_links(limit=500)["items"])),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_lost_answers_on_every_api_gateway_create_leave_no_twin(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """The first answer of every API Gateway create is lost (and, by seed, more answers of creates): botocore's retry
    makes a twin REST API, key, plan or VPC link (names are not unique), a spare deployment, or meets the resource,
    method or stage it made (ConflictException). One `up` ends with one of each and in sync; `down` leaves none."""
    sandbox_shims.apigateway(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))
    stack = Stack(write_config(tmp_path, preset="standard"))
    name = stack.ws().config.name
    faults = FaultInjector(seed, rate=0.3, modes=("lost",), operations=APIGW_CREATES, lose_first=APIGW_CREATES)
    faults.install(monkeypatch)
    stack.up()
    assert faults.lost_first == APIGW_CREATES
    assert api_gateway_of(name) == {
        "rest_api": 1, "stage": 1, "deployment": 1, "path": 3, "api_key": 1, "usage_plan": 1, "vpc_link": 1,
    }  # fmt: skip
    assert stack.drift().value == []
    assert stack.up().mutating == {}
    stack.down(delete_protected=True)
    assert set(api_gateway_of(name).values()) == {0}
    print(f"seed {seed}: lost {faults.injected['lost']} answers")
