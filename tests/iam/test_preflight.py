"""The permission preflight: `up` and `down` stop before their first change when the credentials lack a call the
run needs, and say which in one line.

The credentials are an IAM user's of the in-process sandbox holding the policy `mfprov permissions` prints (or that
policy less one statement); IAM's SimulatePrincipalPolicy is the sandbox's (``provisioner/sandbox/shims.py``),
and every call of the run is checked against the same policy the way AWS authorizes it (the guard of
``tests/iam/test_permissions.py``), so a run the preflight lets through must really be able to finish.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.core.session import is_mutating
from provisioner.ops import permissions as perms
from tests.conftest import ACCOUNT
from tests.iam.recording import Recording, record_calls
from tests.iam.test_permissions import Guard, generated
from tests.stack.conftest import write_config

USER = "ci"
POLICY = "mfprov-deployer"
PREFLIGHT = "iam:SimulatePrincipalPolicy"


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> tuple[Guard, Recording]:
    """Every call of the run checked against the policy in force (as in tests/iam/test_permissions.py)."""
    g = Guard()
    return g, record_calls(monkeypatch, hooks=[g])


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    from provisioner.sandbox import shims as sandbox_shims

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    sandbox_shims.install(lambda target, attr, value: monkeypatch.setattr(target, attr, value, raising=False))
    with mock_aws():
        yield


class Deployer:
    """An IAM user whose policy the test sets; its keys are the credentials of every command run."""

    def __init__(self, g: Guard, monkeypatch: pytest.MonkeyPatch) -> None:
        self.g = g
        self.iam = boto3.client("iam")
        self.iam.create_user(UserName=USER)
        keys = self.iam.create_access_key(UserName=USER)["AccessKey"]
        self.arn = f"arn:aws:iam::{ACCOUNT}:user/{USER}"
        self.monkeypatch = monkeypatch
        self.keys = keys

    def hold(self, policy: dict[str, Any]) -> None:
        """The user's only policy (inline), and the guard's."""
        self.g.on = False  # the test's own call, as an administrator
        self.iam.put_user_policy(UserName=USER, PolicyName=POLICY, PolicyDocument=json.dumps(policy))
        self.g.policy = policy
        self.g.on = True
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", self.keys["AccessKeyId"])
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", self.keys["SecretAccessKey"])


def run(path: Path, rec: Recording, *command: str) -> tuple[Any, list[str]]:
    """The command's result and the mutating calls it made."""
    start = len(rec.calls)
    result = CliRunner().invoke(cli, ["--config", str(path), *command])
    mutating = [f"{c.service}:{c.operation}" for c in rec.calls[start:] if is_mutating(c.operation)]
    return result, mutating


def without(policy: dict[str, Any], sid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads(json.dumps(policy))
    removed = next(st for st in doc["Statement"] if st["Sid"] == sid)
    doc["Statement"].remove(removed)
    return doc, removed


def refused_before_any_change(result: Any, mutating: list[str], removed: dict[str, Any]) -> None:
    assert result.exit_code == 1, result.output
    actions = "|".join(re.escape(a) for a in removed["Action"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # the preflight's line, or (a read the refresh makes first, before any plan) the refused call's
    said = re.compile(rf"the credentials in use lack ({actions}) on \S+")
    assert [line for line in lines if said.search(line)] and len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert mutating == []


def denied_calls(g: Guard) -> list[str]:
    return [f"{c.call.operation}: {d}" for c in g.checked for d in c.decisions if not d]


def preflight_statements(preset: str) -> list[str]:
    """The Sids of the generated policy of ``preset`` but the preflight's own (without it the check is skipped)."""
    import tempfile

    from provisioner.stacks.config import load_config

    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(write_config(Path(d), preset=preset))
    doc = perms.policy_for(cfg, "us-east-1", ACCOUNT, "aws").document()
    return [st["Sid"] for st in doc["Statement"] if PREFLIGHT not in st["Action"]]


def test_with_the_whole_policy_up_and_down_are_checked_and_run(
    guard: tuple[Guard, Recording], sandbox: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    g, rec = guard
    path = write_config(tmp_path)
    policy = generated(path)
    Deployer(g, monkeypatch).hold(policy)
    up, _ = run(path, rec, "up", "--yes")
    assert up.exit_code == 0, up.output
    assert "skipped" not in up.stderr
    down, _ = run(path, rec, "down", "--yes", "--delete-protected")
    assert down.exit_code == 0, down.output
    asked = [c for c in g.checked if c.call.operation == "SimulatePrincipalPolicy"]
    # each of them asked IAM about the user's own policies, and everything the runs did was allowed
    assert asked and {c.call.params["PolicySourceArn"] for c in asked} == {f"arn:aws:iam::{ACCOUNT}:user/{USER}"}
    assert denied_calls(g) == []


#: the presets whose every statement is taken away in turn: personal in the suite (13 statements, 30 s); standard
#: has 37 (6.5 min on 2 cores), run with
#: `MFPROV_PREFLIGHT_PRESETS=personal,standard python -m pytest tests/iam/test_preflight.py`
PREFLIGHT_PRESETS = os.environ.get("MFPROV_PREFLIGHT_PRESETS", "personal").split(",")


@pytest.mark.parametrize(
    ("preset", "sid"),
    [(preset, sid) for preset in PREFLIGHT_PRESETS for sid in preflight_statements(preset)],
)
def test_without_any_one_statement_up_and_down_stop_before_any_change(
    preset: str,
    sid: str,
    guard: tuple[Guard, Recording],
    sandbox: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """`up` from an empty account and `down` of a built stack either stop with the one line naming an action of
    the missing statement, having changed nothing, or (the statement is not needed for that command) finish
    with no call refused. One of the two stops."""
    g, rec = guard
    path = write_config(tmp_path, preset=preset)
    full = generated(path)
    reduced, removed = without(full, sid)
    user = Deployer(g, monkeypatch)
    user.hold(reduced)
    up, mutating = run(path, rec, "up", "--yes")
    stopped = []
    if up.exit_code == 0:
        assert denied_calls(g) == [], "the preflight let through an up that needs the statement"
    else:
        refused_before_any_change(up, mutating, removed)
        stopped.append("up")
        user.hold(full)
        built, _ = run(path, rec, "up", "--yes")
        assert built.exit_code == 0, built.output
        user.hold(reduced)
    g.checked.clear()
    down, mutating = run(path, rec, "down", "--yes", "--delete-protected")
    if down.exit_code == 0:
        assert denied_calls(g) == [], "the preflight let through a down that needs the statement"
    else:
        refused_before_any_change(down, mutating, removed)
        stopped.append("down")
    assert stopped, f"{sid} ({removed['Action']}) is needed by neither up nor down"


def test_credentials_that_may_not_simulate_are_told_the_check_was_skipped(
    guard: tuple[Guard, Recording], sandbox: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    g, rec = guard
    path = write_config(tmp_path)
    full = generated(path)
    sid = next(st["Sid"] for st in full["Statement"] if PREFLIGHT in st["Action"])
    reduced, _ = without(full, sid)
    Deployer(g, monkeypatch).hold(reduced)
    up, mutating = run(path, rec, "up", "--yes")
    assert up.exit_code == 0, up.output
    notice = [line for line in up.stderr.splitlines() if "permission check skipped" in line]
    assert len(notice) == 1 and f"lack {PREFLIGHT} on arn:aws:iam::{ACCOUNT}:user/{USER}" in notice[0], up.stderr
    assert mutating  # the run went on and built the stack
    down, _ = run(path, rec, "down", "--yes", "--delete-protected")
    assert down.exit_code == 0, down.output
    assert "permission check skipped" in down.stderr


def test_a_role_session_is_checked_against_its_role_path_included(
    guard: tuple[Guard, Recording], sandbox: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Credentials of an assumed role (``...:assumed-role/deployer/session``, which names no path): the role's
    ARN is found with iam:GetRole, and a missing statement stops `up` before any change."""
    g, rec = guard
    path = write_config(tmp_path)
    full = generated(path)
    reduced, removed = without(full, next(st["Sid"] for st in full["Statement"] if "s3:CreateBucket" in st["Action"]))
    reduced["Statement"].append(
        {"Sid": "OwnRole", "Effect": "Allow", "Action": "iam:GetRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}
    )
    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                                    "Action": "sts:AssumeRole"}]}  # fmt: skip
    role = iam.create_role(RoleName="deployer", Path="/ci/", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(RoleName="deployer", PolicyName=POLICY, PolicyDocument=json.dumps(reduced))
    creds = boto3.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="run")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    g.policy, g.on = reduced, True
    up, mutating = run(path, rec, "up", "--yes")
    refused_before_any_change(up, mutating, removed)
    asked = {c.call.params["PolicySourceArn"] for c in g.checked if c.call.operation == "SimulatePrincipalPolicy"}
    assert f"arn:aws:iam::{ACCOUNT}:role/ci/deployer" in asked


def test_a_pair_denied_only_for_want_of_a_call_time_condition_key_is_no_refusal() -> None:
    """SimulatePrincipalPolicy answers implicitDeny, listing MissingContextValues, where a policy conditions on a
    key only the real call carries (``ec2:CreateAction`` on CreateTags, the pattern AWS documents): AWS decides
    that at the call, so the preflight must not refuse it; a plain implicit deny it must."""
    from provisioner.ops.preflight import Need, denied

    pages = [
        {
            "EvaluationResults": [
                {
                    "EvalActionName": "ec2:CreateTags",
                    "EvalDecision": "implicitDeny",
                    "ResourceSpecificResults": [
                        {
                            "EvalResourceName": "arn:aws:ec2:us-east-1:123456789012:vpc/*",
                            "EvalResourceDecision": "implicitDeny",
                            "MissingContextValues": ["ec2:CreateAction"],
                        }
                    ],
                },
                {"EvalActionName": "ec2:DeleteVpc", "EvalDecision": "implicitDeny", "EvalResourceName": "*"},
            ]
        }
    ]

    class FakeIam:
        def get_paginator(self, name: str) -> Any:
            assert name == "simulate_principal_policy"
            return self

        def paginate(self, **_: Any) -> list[dict[str, Any]]:
            return pages

    undecided: list[tuple[str, str]] = []
    need = Need(("ec2:CreateTags", "ec2:DeleteVpc"), ("arn:aws:ec2:us-east-1:123456789012:vpc/*",))
    refused = denied(FakeIam(), "arn:aws:iam::123456789012:user/ci", [need], undecided)
    assert refused == [("ec2:DeleteVpc", "*")]
    assert undecided == [("ec2:CreateTags", "arn:aws:ec2:us-east-1:123456789012:vpc/*")]
