"""import, and the state commands: list, show, rm, unlock."""

from __future__ import annotations

import json
import os
import socket

import boto3
from typer.testing import CliRunner

from provisioner.cli.main import cli
from tests.stack.conftest import Stack


def invoke(stack: Stack, *args: str) -> object:
    return CliRunner().invoke(cli, ["--config", str(stack.path), *args])


def test_import_adopts_an_existing_bucket_after_checking_it(stack: Stack) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="metaflow-s3-abc12345")
    s3.put_object(Bucket="metaflow-s3-abc12345", Key="data/keep-me", Body=b"precious")

    refused = invoke(stack, "up", "--yes")  # a bucket with data and without our tags is not taken silently
    assert refused.exit_code == 1 and "will not take it over" in refused.output

    wrong = invoke(stack, "import", "s3.bucket.datastore", "some-other-bucket")
    assert wrong.exit_code == 1
    s3.create_bucket(Bucket="other-bucket-x1")
    mismatch = invoke(stack, "import", "s3.bucket.datastore", "other-bucket-x1")
    assert mismatch.exit_code == 1 and "is not s3.bucket.datastore" in mismatch.output

    ok = invoke(stack, "import", "s3.bucket.datastore", "metaflow-s3-abc12345")
    assert ok.exit_code == 0, ok.output
    assert "kms_key_arn" in ok.output or "tags" in ok.output  # it says what up will put right

    done = invoke(stack, "up", "--yes")
    assert done.exit_code == 0, done.output
    assert stack.drift().value == []
    assert s3.get_object(Bucket="metaflow-s3-abc12345", Key="data/keep-me")["Body"].read() == b"precious"


def test_state_list_show_rm(stack: Stack) -> None:
    stack.up()
    listed = invoke(stack, "state", "list")
    assert listed.exit_code == 0 and "ec2.vpc.main" in listed.output and "21 resources" in listed.output
    shown = invoke(stack, "state", "show", "iam.role.batch_task", "--json")
    assert json.loads(shown.stdout)["id"] == "metaflow-batch_s3_task_role-abc12345"
    assert invoke(stack, "state", "rm", "kms.alias.s3").exit_code == 0
    assert "kms.alias.s3" not in stack.state().resources
    # Released, not deleted: up neither takes it back nor makes a second one beside it, until `import` does.
    refused = invoke(stack, "up", "--yes")
    assert refused.exit_code == 1 and "released" in refused.output, refused.output
    assert "kms.alias.s3" not in stack.state().resources
    assert invoke(stack, "import", "kms.alias.s3", "alias/metaflow-s3-abc12345").exit_code == 0
    assert stack.up().mutating == {}
    assert "kms.alias.s3" in stack.state().resources


def test_unlock_refuses_a_live_holder_and_clears_a_dead_one(stack: Stack) -> None:
    lock = stack.path.parent / ".mfprov" / "lock.json"
    lock.parent.mkdir(exist_ok=True)
    lock.write_text(json.dumps({"user": "u", "host": socket.gethostname(), "pid": os.getpid(), "command": "up"}))
    live = invoke(stack, "state", "unlock")
    assert live.exit_code == 1 and "still alive" in live.output and lock.exists()
    blocked = invoke(stack, "up", "--yes")
    assert blocked.exit_code == 1 and "running `up`" in blocked.output
    lock.write_text(json.dumps({"user": "u", "host": socket.gethostname(), "pid": 2**22 + 3, "command": "up"}))
    assert invoke(stack, "state", "unlock").exit_code == 0
    assert not lock.exists()


def test_a_saved_plan_is_refused_once_the_world_changed(stack: Stack, tmp_path: object) -> None:
    from pathlib import Path

    plan_file = Path(str(tmp_path)) / "reviewed.plan"
    stack.up()
    boto3.client("ec2").create_tags(
        Resources=[stack.state().resources["ec2.vpc.main"].id], Tags=[{"Key": "team", "Value": "x"}]
    )
    made = invoke(stack, "plan", "--out", str(plan_file))
    assert made.exit_code == 0 and "1 to update" in made.output
    # Someone else repairs it meanwhile, differently: the reviewed plan no longer describes what would happen.
    boto3.client("ec2").create_tags(
        Resources=[stack.state().resources["ec2.vpc.main"].id], Tags=[{"Key": "team", "Value": "y"}]
    )
    stale = invoke(stack, "up", "--yes", "--plan", str(plan_file))
    assert stale.exit_code == 1 and "changed since" in stale.output and "ec2.vpc.main" in stale.output
    assert invoke(stack, "plan", "--out", str(plan_file)).exit_code == 0
    applied = invoke(stack, "up", "--yes", "--plan", str(plan_file))
    assert applied.exit_code == 0, applied.output
    assert stack.drift().value == []
    stack.path.write_text(stack.path.read_text().replace("max_vcpus = 64", "max_vcpus = 32"))
    changed_config = invoke(stack, "up", "--yes", "--plan", str(plan_file))
    assert changed_config.exit_code == 1 and "config changed" in changed_config.output


def test_a_damaged_state_says_so_and_the_previous_one_brings_the_stack_back(stack: Stack) -> None:
    stack.up()
    path = stack.path.parent / ".mfprov" / "state.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])  # truncated, as by a full disk
    for command in (["drift"], ["up", "--yes"], ["state", "list"]):
        broken = invoke(stack, *command)
        assert broken.exit_code == 1 and "is damaged" in broken.output and "state restore bak" in broken.output
        assert "Traceback" not in broken.output
    restored = invoke(stack, "state", "restore", "bak")
    assert restored.exit_code == 0, restored.output
    # The backup is one save behind; whatever it lacks is found again by name and tags.
    assert stack.up().mutating == {}
    assert len(stack.state().resources) == 21
    assert stack.drift().value == []

    hand_edited = json.loads(path.read_text())
    hand_edited["resources"]["ec2.vpc.main"]["depends_on"] = "not a list"
    path.write_text(json.dumps(hand_edited))
    broken = invoke(stack, "drift")
    assert broken.exit_code == 1 and "is damaged" in broken.output and "depends_on" in broken.output
