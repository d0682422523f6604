"""Recovery paths (issue 13, item 6): `state restore` whatever the current state holds, an unreadable lock, and a
lock whose take-over and release are atomic, on the local store and on S3."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.sandbox import shims as sandbox_shims
from state.document import StateDocument
from state.local import LocalStateStore, StateLocked
from state.s3 import S3StateStore
from tests.stack.conftest import write_config

#: a pid above Linux's pid_max: never a live process
DEAD_PID = 2**22 + 3
ROUNDS = 40


def one_line_error(result: Any) -> str:
    """The command failed the way the CLI promises: exit 1, no traceback, one `error:` line."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return str(lines[0])


def stale_record() -> dict[str, Any]:
    return {"user": "u", "host": socket.gethostname(), "pid": DEAD_PID, "command": "up", "since": "earlier"}


@pytest.fixture
def s3_conditions_atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 performs a conditional request as one step; the sandbox's shim makes moto do the same."""
    sandbox_shims.s3_conditional_requests(lambda target, name, value: monkeypatch.setattr(target, name, value))


@pytest.fixture
def local_config(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def team_config(moto_account: None, tmp_path: Path, s3_conditions_atomic: None) -> Path:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="team-state")
    s3.put_bucket_versioning(Bucket="team-state", VersioningConfiguration={"Status": "Enabled"})
    path = write_config(tmp_path)
    path.write_text(path.read_text() + '\n[state]\nbackend = "s3"\nbucket = "team-state"\n')
    return path


def run(config: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def s3_store() -> S3StateStore:
    return S3StateStore(boto3.client("s3"), "team-state", "mfprov/t1/state.json")


# ------------------------------------------------------------------ restore


def test_s3_restore_works_while_the_current_state_is_damaged(team_config: Path) -> None:
    store = s3_store()
    store.save(StateDocument(stack="t1", outputs={"kept": "yes"}))
    good = store.history()[0]["version"]
    boto3.client("s3").put_object(Bucket="team-state", Key="mfprov/t1/state.json", Body=b"{ truncated")
    damaged = run(team_config, "state", "list")
    assert "state restore VERSION" in one_line_error(damaged)  # the message sends the user to restore

    restored = run(team_config, "state", "restore", good)
    assert restored.exit_code == 0, restored.output
    assert s3_store().load("t1").outputs == {"kept": "yes"}
    assert run(team_config, "state", "list").exit_code == 0


def test_s3_restore_of_an_unknown_version_is_one_line(team_config: Path) -> None:
    s3_store().save(StateDocument(stack="t1"))
    message = one_line_error(run(team_config, "state", "restore", "no-such-version"))
    assert "state history" in message


def test_s3_restore_refuses_another_stacks_version(team_config: Path) -> None:
    s3 = boto3.client("s3")
    other = json.dumps(StateDocument(stack="other").model_dump(mode="json")).encode()
    version = s3.put_object(Bucket="team-state", Key="mfprov/t1/state.json", Body=other)["VersionId"]
    mine = json.dumps(StateDocument(stack="t1", outputs={"mine": "1"}).model_dump(mode="json")).encode()
    s3.put_object(Bucket="team-state", Key="mfprov/t1/state.json", Body=mine)
    assert "'other'" in one_line_error(run(team_config, "state", "restore", version))
    assert s3_store().load("t1").outputs == {"mine": "1"}


def test_local_restore_bak_refuses_another_stacks_backup(local_config: Path) -> None:
    store = LocalStateStore(local_config.parent / ".mfprov")
    store.save(StateDocument(stack="t1", outputs={"mine": "1"}))
    store.backup.write_text(json.dumps(StateDocument(stack="other").model_dump(mode="json")))
    assert "'other'" in one_line_error(run(local_config, "state", "restore", "bak"))
    assert store.load("t1").outputs == {"mine": "1"}


def test_local_restore_bak_refuses_the_backup_of_another_stack_of_the_same_name(local_config: Path) -> None:
    """Two folders, two `init`, one name: a backup copied from the other folder carries the other identity."""
    store = LocalStateStore(local_config.parent / ".mfprov")
    store.save(StateDocument(stack="t1", stack_id="t1/metaflow/abc12345/us-east-1", outputs={"mine": "1"}))
    theirs = StateDocument(stack="t1", stack_id="t1/metaflow/ffff0000/us-east-1")
    store.backup.write_text(json.dumps(theirs.model_dump(mode="json")))
    assert "another stack named 't1'" in one_line_error(run(local_config, "state", "restore", "bak"))
    assert store.load("t1").outputs == {"mine": "1"}


def test_local_restore_bak_works_while_the_current_state_is_damaged(local_config: Path) -> None:
    store = LocalStateStore(local_config.parent / ".mfprov")
    store.save(StateDocument(stack="t1", outputs={"kept": "yes"}))
    store.save(StateDocument(stack="t1", outputs={"kept": "yes"}))
    store.path.write_text('{"schema_version": 0, "stack": "t1"}')  # a schema mfprov never wrote
    assert "damaged" in one_line_error(run(local_config, "state", "list"))
    assert run(local_config, "state", "restore", "bak").exit_code == 0
    assert store.load("t1").outputs == {"kept": "yes"}


@pytest.mark.parametrize(
    "content",
    ['{"schema_version": 0, "stack": "t1"}', '{"schema_version": "two", "stack": "t1"}', '{"schema_version": -1}'],
)
def test_a_state_file_of_no_known_schema_is_one_line(local_config: Path, content: str) -> None:
    state = local_config.parent / ".mfprov" / "state.json"
    state.parent.mkdir()
    state.write_text(content)
    assert str(state) in one_line_error(run(local_config, "state", "list"))


# ------------------------------------------------------------------ unreadable lock


@pytest.mark.parametrize("content", ["", '{"user": "u", "ho', "[]"])
def test_an_unreadable_local_lock_is_reported_and_force_unlock_removes_it(local_config: Path, content: str) -> None:
    lock = local_config.parent / ".mfprov" / "lock.json"
    lock.parent.mkdir()
    lock.write_text(content)  # a run killed between creating the lock file and writing it
    with_lock = one_line_error(run(local_config, "state", "rm", "ec2.vpc.main"))
    assert str(lock) in with_lock and "state unlock --force" in with_lock
    assert "state unlock --force" in one_line_error(run(local_config, "state", "unlock"))
    assert lock.exists()  # without --force, nothing is removed
    forced = run(local_config, "state", "unlock", "--force")
    assert forced.exit_code == 0, forced.output
    assert not lock.exists()


def test_an_unreadable_s3_lock_is_reported_and_force_unlock_removes_it(team_config: Path) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket="team-state", Key="mfprov/t1/state.json.lock", Body=b"")
    message = one_line_error(run(team_config, "state", "rm", "ec2.vpc.main"))
    assert "s3://team-state/mfprov/t1/state.json.lock" in message and "state unlock --force" in message
    assert run(team_config, "state", "unlock", "--force").exit_code == 0
    assert "Contents" not in s3.list_objects_v2(Bucket="team-state", Prefix="mfprov/t1/state.json.lock")


# ------------------------------------------------------------------ atomic take-over and release


def widen_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run, once it has read the stale lock, pauses before acting on it: the harness makes the two runs'
    steps interleave often, as two processes started together on a busy machine do."""
    import state.local

    alive = state.local._pid_alive

    def slow(pid: int) -> bool:
        time.sleep(0.005)
        return alive(pid)

    monkeypatch.setattr(state.local, "_pid_alive", slow)
    monkeypatch.setattr("state.s3._pid_alive", slow, raising=False)  # where an S3 store looked it up before


def both_take_over(make_store: Callable[[], Any], plant_stale_lock: Callable[[], None]) -> int:
    """Rounds in which two runs, starting together on one stale lock, both came away holding the lock."""
    doubled = 0
    for _ in range(ROUNDS):
        plant_stale_lock()
        stores = [make_store(), make_store()]
        start = threading.Barrier(2)
        held: list[bool] = [False, False]

        def take(i: int, start: threading.Barrier = start, stores: list[Any] = stores, held: list[bool] = held) -> None:
            start.wait()
            try:
                stores[i].acquire("up")
                held[i] = True
            except StateLocked:
                pass

        threads = [threading.Thread(target=take, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert any(held), "a stale lock must be taken over by one of them"
        doubled += all(held)
        for i in range(2):
            if held[i]:
                stores[i].release()
    return doubled


def test_two_runs_never_both_take_over_a_stale_local_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    widen_the_window(monkeypatch)
    lock = tmp_path / "lock.json"

    def plant() -> None:
        lock.write_text(json.dumps(stale_record()))

    assert both_take_over(lambda: LocalStateStore(tmp_path), plant) == 0


def test_two_runs_never_both_take_over_a_stale_s3_lock(
    moto_account: None, s3_conditions_atomic: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="team-state")
    s3.put_bucket_versioning(Bucket="team-state", VersioningConfiguration={"Status": "Enabled"})
    widen_the_window(monkeypatch)

    def plant() -> None:
        s3.put_object(Bucket="team-state", Key="mfprov/t1/state.json.lock", Body=json.dumps(stale_record()).encode())

    assert both_take_over(s3_store, plant) == 0


@pytest.fixture(params=["local", "s3"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    if request.param == "local":
        yield LocalStateStore(tmp_path), LocalStateStore(tmp_path)
        return
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="team-state")
        s3.put_bucket_versioning(Bucket="team-state", VersioningConfiguration={"Status": "Enabled"})
        yield s3_store(), s3_store()


def test_release_never_deletes_a_lock_that_is_no_longer_its_own(two_stores: tuple[Any, Any]) -> None:
    first, second = two_stores
    first.acquire("up")
    first.unlock()  # `state unlock --force` while it ran (someone thought it had died)
    second.acquire("up")
    first.release()  # the first run ends: the lock it would delete is the second one's
    assert second.holder() is not None and second.holder()["pid"] == os.getpid()
    with pytest.raises(StateLocked):  # and it still keeps a third run out
        type(first)(*store_args(first)).acquire("plan")
    second.release()
    assert second.holder() is None


def store_args(store: Any) -> tuple[Any, ...]:
    if isinstance(store, LocalStateStore):
        return (store.dir,)
    return (store.s3, store.bucket, store.key)
