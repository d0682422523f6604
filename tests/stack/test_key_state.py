"""A stack's KMS key disabled, or scheduled for deletion, makes what it encrypts unreadable: drift reports each such
key with its state, and `up` brings back the same keys (the deletion cancelled, the key enabled), never new ones."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from provisioner.sandbox import shims as sandbox_shims
from tests.stack.conftest import Stack, write_config
from tests.stack.test_mlflow_stack import grace_period_kept, mlflow_config  # noqa: F401 (an autouse fixture)


@pytest.fixture(autouse=True)
def key_states_as_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox_shims.kms_key_states(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))


def _lose(key: str, how: str) -> None:
    kms = boto3.client("kms")
    if how == "Disabled":
        kms.disable_key(KeyId=key)
    else:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)


@pytest.mark.parametrize("how", ["Disabled", "PendingDeletion"])
@pytest.mark.parametrize("which", ["metaflow", "mlflow"])
def test_every_key_of_the_stack_is_brought_back(moto_account: None, tmp_path: Path, which: str, how: str) -> None:
    path = write_config(tmp_path, preset="standard") if which == "metaflow" else mlflow_config(tmp_path)
    stack = Stack(path)
    stack.up()
    keys = {a: rs.id for a, rs in stack.state().resources.items() if rs.kind == "kms.key"}
    assert len(keys) == (2 if which == "metaflow" else 1)
    for key in keys.values():
        _lose(key, how)

    items = stack.drift().value
    assert {i.address: [(c.field, c.actual) for c in i.changes] for i in items} == {
        address: [("key_state", how)] for address in keys
    }
    assert {i.repair for i in items} == {"update in place"}

    stack.up()
    assert {a: rs.id for a, rs in stack.state().resources.items() if rs.kind == "kms.key"} == keys
    kms = boto3.client("kms")
    assert {kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] for key in keys.values()} == {"Enabled"}
    assert stack.drift().value == []
    assert stack.up().mutating == {}
