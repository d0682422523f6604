"""The metadata API's stage serves a deployment, a snapshot of the API taken when it was made (the sandbox's shim
keeps that snapshot as AWS does): every change of the API, from the config or repaired after an out-of-band change,
is followed in the same `up` by a new deployment the stage serves; a stage serving an older one is drift."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.ops import app as core
from provisioner.sandbox import shims as sandbox_shims
from tests.stack.conftest import Stack, write_config

STAGE = "apigateway.stage.api"
API = "apigateway.rest_api.metadata"


@pytest.fixture
def standard(moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    sandbox_shims.apigateway(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))
    yield Stack(write_config(tmp_path, preset="standard"))


def allow(stack: Stack, cidrs: list[str]) -> None:
    text = stack.path.read_text()
    line = next(x for x in text.splitlines() if x.startswith("api_allow_cidrs = "))
    stack.path.write_text(text.replace(line, f"api_allow_cidrs = {json.dumps(cidrs)}"))


def served(stack: Stack) -> dict[str, Any]:
    return dict(sandbox_shims.stage_serves(stack.state().resources[API].id, "api"))


def allowed(policy: dict[str, Any] | None) -> list[str] | None:
    """The source CIDRs the served resource policy lets through (None: no policy, any source)."""
    if policy is None:
        return None
    deny = next(s for s in policy["Statement"] if s["Effect"] == "Deny")
    return sorted(deny["Condition"]["NotIpAddress"]["aws:SourceIp"])


def test_a_changed_allow_list_is_served_after_the_same_up(standard: Stack) -> None:
    standard.up()
    assert allowed(served(standard)["policy"]) is None

    allow(standard, ["203.0.113.0/24"])
    plan = standard.run("plan", core.plan).value
    stage = next(a for a in plan.actions if a.address == STAGE)
    assert stage.action == "update" and [c.field for c in stage.changes] == ["serves"]
    standard.up()
    assert allowed(served(standard)["policy"]) == ["203.0.113.0/24"]

    allow(standard, ["198.51.100.7/32"])  # tightened: the old range must no longer be let through
    standard.up()
    assert allowed(served(standard)["policy"]) == ["198.51.100.7/32"]
    assert standard.drift().value == []
    assert standard.up().mutating == {}
    # one deployment left: those the redeploys replaced are gone
    api = standard.state().resources[API].id
    assert len(boto3.client("apigateway").get_deployments(restApiId=api)["items"]) == 1


def _policy_opened_out_of_band(stack: Stack) -> None:
    ag = boto3.client("apigateway")
    api = stack.state().resources[API].id
    doc = json.loads(ag.get_rest_api(restApiId=api)["policy"].replace('\\"', '"'))
    for st in doc["Statement"]:
        if st["Effect"] == "Deny":
            st["Condition"]["NotIpAddress"]["aws:SourceIp"] = ["0.0.0.0/0"]
    ag.update_rest_api(restApiId=api, patchOperations=[{"op": "replace", "path": "/policy", "value": json.dumps(doc)}])


def _deployed_from_the_console(stack: Stack) -> None:
    """The policy opened, then "Deploy API" to the stage: the stage now serves the opened policy."""
    _policy_opened_out_of_band(stack)
    ag = boto3.client("apigateway")
    api = stack.state().resources[API].id
    deployment = ag.create_deployment(restApiId=api, description="hotfix")["id"]
    repoint = [{"op": "replace", "path": "/deploymentId", "value": deployment}]
    ag.update_stage(restApiId=api, stageName="api", patchOperations=repoint)


def _integration_repointed(stack: Stack) -> None:
    ag = boto3.client("apigateway")
    api = stack.state().resources[API].id
    res = stack.state().resources["apigateway.method.db"].id.split("|")[1]
    ag.put_integration(
        restApiId=api, resourceId=res, httpMethod="GET", type="HTTP_PROXY", integrationHttpMethod="GET",
        uri="http://elsewhere.example:8082/db_schema_status",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "drifted", "stage_reads"),
    [
        pytest.param(_policy_opened_out_of_band, API, "made before the API's last change", id="policy"),
        pytest.param(_deployed_from_the_console, API, "not made by mfprov", id="policy-deployed"),
        pytest.param(_integration_repointed, "apigateway.method.db", "made before the API's last change", id="uri"),
    ],
)
def test_an_out_of_band_change_is_repaired_and_deployed(
    standard: Stack, change: Any, drifted: str, stage_reads: str
) -> None:
    allow(standard, ["203.0.113.0/24"])
    standard.up()
    want = served(standard)
    change(standard)

    items = {i.address: i for i in standard.drift().value}
    assert set(items) == {drifted, STAGE}
    assert [c.field for c in items[STAGE].changes] == ["serves"]
    assert stage_reads in items[STAGE].changes[0].actual

    standard.up()
    assert served(standard) == want
    assert allowed(served(standard)["policy"]) == ["203.0.113.0/24"]
    assert standard.drift().value == []
    assert standard.up().mutating == {}
