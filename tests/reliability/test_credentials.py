"""Missing, expired or wrong-account credentials: one clear message, before anything is changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.core.session import ClientFactory
from tests.stack.conftest import Stack, inventory


def invoke(stack: Stack, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(stack.path), *args])


def count_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS operation any ClientFactory attempts from now on."""
    calls: list[str] = []
    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register("before-call", lambda model=None, **_: calls.append(model.name))

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    return calls


def test_no_credentials_at_all(stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to find either
    calls = count_calls(monkeypatch)
    before = inventory_without_credentials(monkeypatch)

    for command in (["up", "--yes"], ["drift"], ["down", "--yes"], ["plan"]):
        result = invoke(stack, *command)
        assert result.exit_code == 1, (command, result.output)
        assert "no AWS credentials found" in result.output and "Traceback" not in result.output
        assert result.output.count("error:") == 1, "said once"
    assert calls == ["GetCallerIdentity"] * 4, "nothing but the identity check was attempted"
    assert not (stack.path.parent / ".mfprov" / "state.json").exists()
    assert inventory_without_credentials(monkeypatch) == before


def inventory_without_credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    with monkeypatch.context() as m:
        m.setenv("AWS_ACCESS_KEY_ID", "testing")
        m.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        return inventory()


def test_expired_credentials(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """STS answers an expired session token with ExpiredToken (400, query protocol)."""
    body = (
        b"<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code>"
        b"<Message>The security token included in the request is expired</Message></Error></ErrorResponse>"
    )

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield body

    def expired(request: Any = None, **_: Any) -> AWSResponse | None:
        if "sts." in str(getattr(request, "url", "")):
            return AWSResponse(request.url, 400, {}, Raw())  # type: ignore[arg-type]
        return None

    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register_first("before-send", expired)

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    before = inventory()
    result = invoke(stack, "up", "--yes")
    assert result.exit_code == 1
    assert "refused the credentials (ExpiredToken)" in result.output and "aws sso login" in result.output
    assert "Traceback" not in result.output
    assert inventory() == before


def test_credentials_of_another_account(stack: Stack) -> None:
    stack.up()
    state_file = stack.path.parent / ".mfprov" / "state.json"
    raw = json.loads(state_file.read_text())
    raw["account_id"] = "999999999999"  # the state was made with other credentials
    state_file.write_text(json.dumps(raw))
    before = inventory()
    for command in (["up", "--yes"], ["down", "--yes", "--delete-protected"], ["drift"]):
        result = invoke(stack, *command)
        assert result.exit_code == 1, result.output
        assert "belongs to account 999999999999" in result.output and "123456789012" in result.output
    assert inventory() == before
