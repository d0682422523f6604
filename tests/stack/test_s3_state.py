"""The shared state on S3: conditional-write lock naming its holder, history, restore."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.core.session import ClientFactory
from provisioner.ops import app as core
from state.local import StateLocked
from tests.stack.conftest import Stack, write_config


@pytest.fixture
def team_stack(moto_account: None, tmp_path: Path) -> Stack:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="team-state")
    s3.put_bucket_versioning(Bucket="team-state", VersioningConfiguration={"Status": "Enabled"})
    path = write_config(tmp_path)
    path.write_text(path.read_text() + '\n[state]\nbackend = "s3"\nbucket = "team-state"\n')
    return Stack(path)


def test_state_lives_on_s3_with_history(team_stack: Stack) -> None:
    team_stack.up()
    body = boto3.client("s3").get_object(Bucket="team-state", Key="mfprov/t1/state.json")["Body"].read()
    assert len(json.loads(body)["resources"]) == 21
    assert not (team_stack.path.parent / ".mfprov" / "state.json").exists()
    versions = team_stack.ws().store().history()
    assert len(versions) > 21  # a version per resource saved
    assert team_stack.up().mutating == {}
    assert team_stack.drift().value == []


def test_two_ups_at_once_one_is_refused_with_the_holder_named(
    team_stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    inside, release = threading.Event(), threading.Event()

    def hold(model: Any = None, **_: Any) -> None:
        if model is not None and model.name == "CreateVpc":
            inside.set()
            assert release.wait(30)

    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register("before-call", hold)

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    results: dict[str, Any] = {}
    first = threading.Thread(target=lambda: results.setdefault("first", team_stack.run("up", core.up)))
    first.start()
    assert inside.wait(30), "the first up never reached CreateVpc"
    with pytest.raises(StateLocked, match=r"running `up` since .*state unlock"):
        team_stack.run("up", core.up)
    release.set()
    first.join(60)
    assert results["first"].value.run.ok
    monkeypatch.setattr(ClientFactory, "__init__", original)
    assert len(team_stack.state().resources) == 21  # nothing corrupted
    assert team_stack.drift().value == []


def test_a_lost_update_is_refused_not_overwritten(team_stack: Stack) -> None:
    team_stack.up()
    ws = team_stack.ws()
    mine, theirs = ws.store(), ws.store()
    doc = mine.load("t1")
    other = theirs.load("t1")
    other.outputs["x"] = "theirs"
    theirs.save(other)
    from state.local import StateError

    with pytest.raises(StateError, match="written by someone else"):
        mine.save(doc)


def test_restore_an_earlier_version(team_stack: Stack) -> None:
    from typer.testing import CliRunner

    from provisioner.cli.main import cli

    team_stack.up()
    history = team_stack.ws().store().history()
    oldest = history[-1]["version"]
    result = CliRunner().invoke(cli, ["--config", str(team_stack.path), "state", "restore", oldest])
    assert result.exit_code == 0, result.output
    assert len(team_stack.state().resources) < 21
    # The next up finds the rest by tags and names again.
    assert team_stack.up().mutating == {}
    assert len(team_stack.state().resources) == 21
