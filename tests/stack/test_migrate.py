"""`mfprov migrate` invokes the metadata service's migration Lambda, prints its answer and exits by it; `up` runs
it after the service's image changed, unless `metadata.migrate_on_image_change = false`.

moto runs no Lambda container, so each test answers the Invoke itself, at the botocore level (a ``before-call``
hook on the factory's session, which every client of it inherits): the request is checked as AWS would get it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.core.session import ClientFactory
from tests.stack.conftest import Stack, write_config

UP_TO_DATE = {
    "init-status": {"is_up_to_date": False, "current_version": "20230118020300", "unapplied_migrations": ["x.sql"]},
    "upgrade-result": "upgrade success",
    "final-status": {"is_up_to_date": True, "current_version": "20240509201906", "unapplied_migrations": []},
}


class LambdaAnswers:
    """Answers lambda:Invoke with the given payload (and function error); records each request."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, payload: Any, function_error: str | None = None) -> None:
        self.payload, self.function_error = payload, function_error
        self.requests: list[dict[str, Any]] = []
        original = ClientFactory.__init__

        def patched(factory: ClientFactory, *a: Any, **k: Any) -> None:
            original(factory, *a, **k)
            factory.session.events.register("before-parameter-build.lambda.Invoke", self.record)
            factory.session.events.register("before-call.lambda.Invoke", self.answer)

        monkeypatch.setattr(ClientFactory, "__init__", patched)

    def record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(dict(params))

    def answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        body = json.dumps(self.payload).encode()
        parsed: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(body), len(body))}
        if self.function_error:
            parsed["FunctionError"] = self.function_error
        return AWSResponse("https://lambda.invalid", 200, {}, None), parsed


@pytest.fixture
def standard(moto_account: None, tmp_path: Path) -> Stack:
    return Stack(write_config(tmp_path, preset="standard"))


def invoke(stack: Stack, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(stack.path), *args])


def edit(stack: Stack, old: str, new: str) -> None:
    text = stack.path.read_text()
    assert old in text, old
    stack.path.write_text(text.replace(old, new, 1))


def last_json(text: str) -> Any:
    """The last JSON object printed (``up`` may print its plan on stdout before it)."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")
    return json.loads("\n".join(lines[start:]))


def function_name(stack: Stack) -> str:
    return str(stack.state().resources["lambda.function.db_migrate"].id)


def test_migrate_invokes_the_lambda_and_prints_its_answer(standard: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    lam = LambdaAnswers(monkeypatch, UP_TO_DATE)
    standard.up()
    assert lam.requests == [], "a first up migrates nothing: the service sets up an empty database itself"

    result = invoke(standard, "migrate")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == UP_TO_DATE
    assert "Schema migrated" in result.stderr
    assert len(lam.requests) == 1
    request = lam.requests[0]
    assert request["FunctionName"] == function_name(standard) and "-db_migrate-" in function_name(standard)
    assert request.get("InvocationType", "RequestResponse") == "RequestResponse", "waits for the answer"


@pytest.mark.parametrize(
    ("payload", "function_error", "said"),
    [
        pytest.param(
            {"errorMessage": "HTTP Error 500: Internal Server Error", "errorType": "HTTPError"},
            "Unhandled",
            "the migration Lambda failed (Unhandled): HTTP Error 500: Internal Server Error",
            id="function-error",
        ),
        pytest.param(
            {**UP_TO_DATE, "upgrade-result": "upgrade failed", "final-status": UP_TO_DATE["init-status"]},
            None,
            "the schema is still not up to date after the upgrade (1 migration(s) not applied)",
            id="still-behind",
        ),
        pytest.param(
            "Simple Lambda happy path OK",  # what moto's Lambda answers: no migration ran
            None,
            'its answer holds no final schema status: "Simple Lambda happy path OK"',
            id="no-status",
        ),
    ],
)
def test_migrate_exits_1_when_the_migration_failed(
    standard: Stack, monkeypatch: pytest.MonkeyPatch, payload: Any, function_error: str | None, said: str
) -> None:
    lam = LambdaAnswers(monkeypatch, payload, function_error)
    standard.up()

    result = invoke(standard, "migrate")

    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout) == payload, "the answer is printed, failed or not"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and said in errors[0], result.stderr
    assert "Traceback" not in result.output
    assert len(lam.requests) == 1


def test_migrate_on_a_stack_without_metadata_service_is_one_line(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lam = LambdaAnswers(monkeypatch, UP_TO_DATE)
    personal = Stack(write_config(tmp_path, preset="personal"))

    result = invoke(personal, "migrate")

    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "has no metadata service" in result.output
    assert lam.requests == []


NEW_IMAGE = "netflixoss/metaflow_metadata_service:v2.4.13"


def service_images(stack: Stack) -> set[str]:
    """The images the metadata service's tasks run, asked of ECS."""
    ecs = boto3.client("ecs")
    cluster, name = stack.state().resources["ecs.service.metadata"].id.split("|")
    arn = ecs.describe_services(cluster=cluster, services=[name])["services"][0]["taskDefinition"]
    described = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return {c["image"] for c in described["containerDefinitions"]}


def roll_out(stack: Stack, lam: LambdaAnswers) -> list[tuple[Any, bool, int]]:
    """`up --yes` until the service runs the new image (at most twice: the engine may re-point the service at the
    new task definition only on the next run); per run, its result, whether the service's image changed in it, and
    how many migrations it made."""
    runs = []
    while NEW_IMAGE not in service_images(stack) and len(runs) < 2:
        before, invoked = service_images(stack), len(lam.requests)
        result = invoke(stack, "up", "--yes")
        runs.append((result, service_images(stack) != before, len(lam.requests) - invoked))
    assert service_images(stack) == {NEW_IMAGE}
    return runs


def test_up_migrates_after_the_image_changed_and_only_then(standard: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    lam = LambdaAnswers(monkeypatch, UP_TO_DATE)
    standard.up()

    edit(standard, 'memory = "1024"', 'memory = "2048"')  # the task changes, its image does not
    result = invoke(standard, "up", "--yes")
    assert result.exit_code == 0, result.output
    assert lam.requests == []

    edit(standard, "metaflow_metadata_service:v2.4.12", NEW_IMAGE.split("/")[1])
    runs = roll_out(standard, lam)
    for result, image_changed, migrations in runs:
        assert result.exit_code == 0, result.output
        assert migrations == (1 if image_changed else 0), "migrated in the run that changed the service's image"
    result = runs[-1][0]
    assert [r["FunctionName"] for r in lam.requests] == [function_name(standard)]
    assert "Schema migrated" in result.stderr and last_json(result.stdout) == UP_TO_DATE

    result = invoke(standard, "up", "--yes")  # nothing changed: nothing migrated
    assert result.exit_code == 0 and len(lam.requests) == 1


def test_up_does_not_migrate_when_switched_off(standard: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    lam = LambdaAnswers(monkeypatch, UP_TO_DATE)
    standard.up()
    edit(standard, "migrate_on_image_change = true", "migrate_on_image_change = false")
    edit(standard, "metaflow_metadata_service:v2.4.12", NEW_IMAGE.split("/")[1])

    runs = roll_out(standard, lam)

    assert all(result.exit_code == 0 for result, _, _ in runs), [r.output for r, _, _ in runs]
    assert runs[-1][1], "the service's image changed"
    assert lam.requests == []


def test_up_fails_when_the_migration_after_a_new_image_fails(
    standard: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    lam = LambdaAnswers(monkeypatch, {"errorMessage": "timed out", "errorType": "URLError"}, "Unhandled")
    standard.up()
    edit(standard, "metaflow_metadata_service:v2.4.12", NEW_IMAGE.split("/")[1])

    result, image_changed, migrations = roll_out(standard, lam)[-1]

    assert image_changed and migrations == 1
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "schema migration by" in errors[0] and "`mfprov migrate` runs it again" in errors[0]
