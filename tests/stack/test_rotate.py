"""``mfprov rotate db-password`` and ``mfprov rotate api-key`` on a standard stack in an in-process moto account.

Each rotation is checked as AWS and the users would see it: the database's master password is the secret's
AWSCURRENT (moto cannot check a password: its RDS backend keeps the last one ModifyDBInstance set, which is what
the database would accept), the services had a new deployment after the change, the old API key is gone, the
profile holds the new one, the state names it, and `drift` and `up` find nothing to do. A rotation stopped at its
Nth AWS call, for every N up to the one past its last, is finished by the next run into that same state, with
exactly one new value.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.core.retry import WaitFailed
from provisioner.core.session import ClientFactory
from provisioner.ops import rotate as rotation
from provisioner.ops import workspace
from provisioner.sandbox import shims as sandbox_shims
from tests.conftest import ACCOUNT
from tests.stack.conftest import Stack, write_config

DB = "rds.db_instance.main"
SECRET = "secretsmanager.secret.db"
SERVICE = "ecs.service.metadata"
KEY = "apigateway.api_key.metadata"
MEMBERSHIP = "apigateway.usage_plan_key.metadata"
PROFILE = "std"


@pytest.fixture
def standard(moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """The standard preset, up, with its Metaflow profile written."""
    patch = lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False)  # noqa: E731
    sandbox_shims.secretsmanager_current_label(patch)  # GetSecretValue follows AWSCURRENT, as on AWS
    sandbox_shims.apigateway(patch)  # the tagging API lists API keys, as on AWS: the sweep sees a leftover key
    sandbox_shims.ecs_tasks_run(patch)  # a service's tasks run and its deployments complete
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "metaflowconfig"))
    (tmp_path / "stack").mkdir()
    stack = Stack(write_config(tmp_path / "stack", preset="standard"))
    stack.up()
    written = CliRunner().invoke(cli, ["--config", str(stack.path), "outputs", "--write-profile", PROFILE])
    assert written.exit_code == 0, written.output
    yield stack


def state_id(stack: Stack, address: str) -> str:
    return str(stack.state().resources[address].id)


def rotate(stack: Stack, what: str, calls: Counter[str] | None = None) -> rotation.Rotation:
    """``mfprov rotate`` as the CLI runs it (under the state's lock); ``calls`` counts its AWS calls."""
    with workspace.session(stack.ws(), "rotate", lambda e: None, lock=True) as s:
        try:
            return rotation.rotate(s, what)
        finally:
            if calls is not None:
                calls.update(s.clients.recorder.calls)


def profile_key(tmp_path: Path) -> str:
    profile = json.loads((tmp_path / "metaflowconfig" / f"config_{PROFILE}.json").read_text())
    return str(profile["METAFLOW_SERVICE_AUTH_KEY"])


# ------------------------------------------------------------------ what AWS shows


def secret_versions(stack: Stack) -> dict[str, list[str]]:
    sm = boto3.client("secretsmanager")
    listed = sm.list_secret_version_ids(SecretId=state_id(stack, SECRET), IncludeDeprecated=True)["Versions"]
    return {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in listed}


def current_password(stack: Stack) -> str:
    sm = boto3.client("secretsmanager")
    return str(json.loads(sm.get_secret_value(SecretId=state_id(stack, SECRET))["SecretString"])["password"])


def database_password(stack: Stack, address: str = DB) -> str:
    """What the database would accept: moto's RDS keeps the password the last create or modify set."""
    from moto.rds.models import rds_backends

    return str(rds_backends[ACCOUNT]["us-east-1"].databases[state_id(stack, address)]._master_user_password)


def deployment(stack: Stack) -> str:
    cluster, name = state_id(stack, SERVICE).split("|")
    svc = boto3.client("ecs").describe_services(cluster=cluster, services=[name])["services"][0]
    return str(next(d["id"] for d in svc["deployments"] if d["status"] == "PRIMARY"))


def keys_named(stack: Stack) -> list[str]:
    name = stack.state().resources[KEY].props["name"]
    return sorted(k["id"] for k in boto3.client("apigateway").get_api_keys(nameQuery=name)["items"])


def key_value(key_id: str) -> str:
    return str(boto3.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"])


def assert_in_sync(stack: Stack) -> None:
    assert stack.drift().value == []
    assert stack.up().mutating == {}


def assert_db_rotated(stack: Stack, old_password: str, old_deployment: str) -> None:
    new = current_password(stack)
    assert new != old_password
    assert database_password(stack) == new
    # no AWSPENDING left; earlier rotations' versions carry no label (deprecated)
    assert sorted(v for v in secret_versions(stack).values() if v) == [["AWSCURRENT"], ["AWSPREVIOUS"]]
    assert deployment(stack) != old_deployment


def assert_key_rotated(stack: Stack, tmp_path: Path, old_key: str) -> str:
    new = state_id(stack, KEY)
    assert new != old_key
    assert keys_named(stack) == [new]  # the old key is deleted, no twin left
    with pytest.raises(ClientError, match="NotFound"):
        boto3.client("apigateway").get_api_key(apiKey=old_key)
    assert profile_key(tmp_path) == key_value(new)
    plan = state_id(stack, "apigateway.usage_plan.metadata")
    assert state_id(stack, MEMBERSHIP) == f"{plan}|{new}"
    members = boto3.client("apigateway").get_usage_plan_keys(usagePlanId=plan)["items"]
    assert [m["id"] for m in members] == [new]
    return new


# ------------------------------------------------------------------ whole rotations


def test_db_password_rotation(standard: Stack) -> None:
    old_password, old_deployment = current_password(standard), deployment(standard)
    assert database_password(standard) == old_password
    done = rotate(standard, "db-password")
    assert not done.resumed
    assert done.details["databases"][0]["restarted"] == [SERVICE]
    assert_db_rotated(standard, old_password, old_deployment)
    assert_in_sync(standard)


def test_aurora_password_rotation(moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An Aurora cluster's master password is set with ModifyDBCluster."""
    from moto.rds.models import rds_backends

    patch = lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False)  # noqa: E731
    sandbox_shims.secretsmanager_current_label(patch)
    sandbox_shims.ecs_tasks_run(patch)
    path = write_config(tmp_path, preset="standard")
    path.write_text(path.read_text().replace('engine = "postgres"  ', 'engine = "aurora-postgresql"  ', 1))
    stack = Stack(path)
    stack.up()
    old = current_password(stack)
    done = rotate(stack, "db-password")
    assert done.details["databases"][0]["database"] == "rds.db_cluster.main"
    cluster = rds_backends[ACCOUNT]["us-east-1"].clusters[state_id(stack, "rds.db_cluster.main")]
    assert current_password(stack) != old
    assert cluster._master_user_password == current_password(stack)
    assert_in_sync(stack)


def test_mlflow_password_rotation(moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MLflow stack's database: a letters-and-digits password (it goes into a URI), the server redeployed;
    the stack has no API key to rotate."""
    from tests.stack.test_mlflow_stack import grace_period_kept, mlflow_config

    patch = lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False)  # noqa: E731
    sandbox_shims.secretsmanager_current_label(patch)
    sandbox_shims.ecs_tasks_run(patch)
    grace_period_kept.__wrapped__(monkeypatch)  # type: ignore[attr-defined]
    stack = Stack(mlflow_config(tmp_path / "m1"))
    stack.up()
    old = current_password(stack)
    done = rotate(stack, "db-password")
    assert done.details["databases"][0]["restarted"] == ["ecs.service.server"]
    new = current_password(stack)
    assert new != old and new.isalnum() and len(new) == len(old)
    assert database_password(stack, "rds.db_instance.mlflow") == new
    assert_in_sync(stack)
    with pytest.raises(rotation.RotateRefused, match="no API key"):
        rotate(stack, "api-key")


def test_api_key_rotation(standard: Stack, tmp_path: Path) -> None:
    old_key = state_id(standard, KEY)
    assert profile_key(tmp_path) == key_value(old_key)
    done = rotate(standard, "api-key")
    assert done.details["keys"][0]["deleted"] == [old_key]
    assert done.details["keys"][0]["profiles"] == [str(tmp_path / "metaflowconfig" / f"config_{PROFILE}.json")]
    new = assert_key_rotated(standard, tmp_path, old_key)
    assert_in_sync(standard)
    assert keys_named(standard) == [new]  # `up` made no key again


# ------------------------------------------------------------------ interrupted at every call


class Interrupted(WaitFailed):
    """Stands for the process dying at one AWS call: raised before the call is sent. A WaitFailed, so that a
    poll does not take it for a passing error and poll on (as it would for an AWS error)."""


@pytest.fixture
def interrupt_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], list[str]]:
    """``interrupt_at(n)``: the next run's clients fail their nth AWS call; returns the calls made, by name."""
    original = ClientFactory.__init__
    calls: list[str] = []

    def arm(n: int) -> list[str]:
        calls.clear()

        def hook(model: Any = None, **_: Any) -> None:
            calls.append(f"{model.service_model.service_name}:{model.name}")
            if len(calls) == n:
                raise Interrupted(f"interrupted at call {n} ({calls[-1]})")

        def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
            original(self, *a, **k)
            self.session.events.register("before-call", hook)

        monkeypatch.setattr(ClientFactory, "__init__", patched)
        return calls

    return arm


def run_interrupted(
    stack: Stack, what: str, n: int, arm: Callable[[int], list[str]], monkeypatch: Any, sent: Counter[str]
) -> str | None:
    """Rotate with the nth call failing; the call it stopped at, or None when the rotation had fewer calls. The
    calls sent (the failing one is not) are added to ``sent``."""
    original = ClientFactory.__init__
    calls = arm(n)
    try:
        rotate(stack, what)
        stopped = None
    except Interrupted:
        stopped = calls.pop()
    sent.update(calls)
    monkeypatch.setattr(ClientFactory, "__init__", original)
    return stopped


def test_db_password_rotation_interrupted_at_every_call_is_finished_by_the_next_run(
    standard: Stack, interrupt_at: Callable[[int], list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stopped_at = []
    for n in itertools.count(1):
        old_password, old_deployment = current_password(standard), deployment(standard)
        versions_before = set(secret_versions(standard))
        sent: Counter[str] = Counter()
        stopped = run_interrupted(standard, "db-password", n, interrupt_at, monkeypatch, sent)
        if stopped is None:
            break  # n is past the rotation's last call: it ran whole
        stopped_at.append(stopped)
        pending = any("AWSPENDING" in labels for labels in secret_versions(standard).values())
        done = rotate(standard, "db-password", sent)  # the next run finishes it
        assert done.resumed == pending, stopped
        assert_db_rotated(standard, old_password, old_deployment)
        # exactly one new value: one version made by the interrupted run and the one that finished it together
        assert len(set(secret_versions(standard)) - versions_before) == 1, stopped
        assert sent["secretsmanager:PutSecretValue"] == 1, stopped
    # every step was interrupted: the new version, the database, the labels, the deployment and its wait
    for call in ("PutSecretValue", "ModifyDBInstance", "UpdateSecretVersionStage", "UpdateService",
                 "DescribeServices", "DescribeDBInstances"):  # fmt: skip
        assert any(c.endswith(":" + call) for c in stopped_at), call
    assert_in_sync(standard)


def test_api_key_rotation_interrupted_at_every_call_is_finished_by_the_next_run(
    standard: Stack,
    tmp_path: Path,
    interrupt_at: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stopped_at = []
    for n in itertools.count(1):
        old_key = state_id(standard, KEY)
        sent: Counter[str] = Counter()
        stopped = run_interrupted(standard, "api-key", n, interrupt_at, monkeypatch, sent)
        if stopped is None:
            break
        stopped_at.append(stopped)
        rotate(standard, "api-key", sent)
        assert_key_rotated(standard, tmp_path, old_key)
        assert sent["apigateway:CreateApiKey"] == 1, stopped  # one new key, however far the first run got
    for call in ("CreateApiKey", "CreateUsagePlanKey", "GetUsagePlanKey", "DeleteUsagePlanKey", "DeleteApiKey"):
        assert any(c.endswith(":" + call) for c in stopped_at), call
    assert_in_sync(standard)


@pytest.mark.parametrize("n", [1, 2])
def test_api_key_rotation_stopped_between_its_state_writes_is_finished_by_the_next_run(
    standard: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    """The state names the key and its plan membership in two writes: a run that stops after either (the key
    moved, its membership not yet) is finished as well, with the membership moved too."""
    from state.local import LocalStateStore

    old_key = state_id(standard, KEY)
    save = LocalStateStore.save
    saves: list[int] = []

    def stopping(self: LocalStateStore, doc: Any) -> None:
        saves.append(1)
        if len(saves) == n:
            raise Interrupted(f"interrupted at state write {n}")
        save(self, doc)

    monkeypatch.setattr(LocalStateStore, "save", stopping)
    with pytest.raises(Interrupted):
        rotate(standard, "api-key")
    monkeypatch.setattr(LocalStateStore, "save", save)
    assert rotate(standard, "api-key").resumed
    assert_key_rotated(standard, tmp_path, old_key)
    assert_in_sync(standard)


# ------------------------------------------------------------------ refusals and the command


def test_refused_when_the_stack_has_no_such_secret(moto_account: None, tmp_path: Path) -> None:
    path = write_config(tmp_path)  # personal: no database, no API
    runner = CliRunner()
    Stack(path).up()
    for what in ("db-password", "api-key"):
        result = runner.invoke(cli, ["rotate", what, "--config", str(path)])
        assert result.exit_code == 1
        assert "nothing to rotate" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_refused_when_the_stack_is_not_up(moto_account: None, tmp_path: Path) -> None:
    path = write_config(tmp_path, preset="standard")
    result = CliRunner().invoke(cli, ["rotate", "db-password", "--config", str(path)])
    assert result.exit_code == 1
    assert "run `mfprov up` first" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []


def test_the_command_prints_no_value_anywhere(
    standard: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for logger in ("provisioner", "resources", "state"):
        caplog.set_level(logging.DEBUG, logger=logger)
    caplog.set_level(logging.INFO)
    old_values = [current_password(standard), key_value(state_id(standard, KEY))]
    runner = CliRunner()
    printed = []
    for what in ("db-password", "api-key"):
        for extra in ([], ["--json"]):
            result = runner.invoke(cli, ["rotate", what, "--config", str(standard.path), *extra])
            assert result.exit_code == 0, result.output
            printed += [result.stdout, result.stderr]
            if extra:
                assert json.loads(result.stdout)["rotated"] == what
    values = [*old_values, current_password(standard), key_value(state_id(standard, KEY))]
    state_files = [p.read_text() for p in (standard.path.parent / ".mfprov").iterdir() if p.is_file()]
    for value in values:
        for text in [*printed, *state_files, caplog.text]:
            assert value not in text
    assert profile_key(tmp_path) == values[-1]
