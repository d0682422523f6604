"""The CLI contract scripts rely on: spellings, confirmations, exit codes, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from provisioner.cli.main import cli
from tests.stack.conftest import Stack

#: terraform-aws-metaflow's metaflow_profile_json keys (§4.4) that a stack without a metadata service,
#: ECR or Fargate has
PERSONAL_PROFILE_KEYS = {
    "METAFLOW_DATASTORE_SYSROOT_S3",
    "METAFLOW_DATATOOLS_S3ROOT",
    "METAFLOW_BATCH_JOB_QUEUE",
    "METAFLOW_ECS_S3_ACCESS_IAM_ROLE",
    "METAFLOW_SFN_IAM_ROLE",
    "METAFLOW_SFN_STATE_MACHINE_PREFIX",
    "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE",
    "METAFLOW_SFN_DYNAMO_DB_TABLE",
    "METAFLOW_DEFAULT_DATASTORE",
    "METAFLOW_DEFAULT_METADATA",
}


def invoke(stack: Stack, *args: str) -> object:
    return CliRunner().invoke(cli, ["--config", str(stack.path), *args])


def test_up_and_down_without_a_terminal_refuse_unless_yes(stack: Stack) -> None:
    refused = invoke(stack, "up")
    assert refused.exit_code == 1
    assert "pass --yes" in refused.output
    assert stack.state().resources == {}

    assert invoke(stack, "up", "--yes").exit_code == 0
    refused_down = invoke(stack, "down")
    assert refused_down.exit_code == 1 and "pass --yes" in refused_down.output
    assert len(stack.state().resources) == 21

    done = invoke(stack, "down", "--yes")
    assert done.exit_code == 0, done.output
    assert "Destroy complete: 19 deleted" in done.output
    assert "Kept 2 protected resource(s) and what they need: kms.key.s3, s3.bucket.datastore" in done.output
    rest = invoke(stack, "down", "--yes", "--delete-protected")
    assert rest.exit_code == 0, rest.output
    assert "Destroy complete: 2 deleted" in rest.output and stack.state().resources == {}


def test_outputs_writes_the_metaflow_profile(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "mf"))
    assert invoke(stack, "outputs").exit_code == 1  # nothing yet
    stack.up()
    result = invoke(stack, "outputs", "--json", "--write-profile", "dev")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "mf" / "config_dev.json").read_text())
    assert set(written) == PERSONAL_PROFILE_KEYS
    state = stack.state()
    assert written["METAFLOW_BATCH_JOB_QUEUE"] == state.resources["batch.job_queue.main"].attrs["arn"]
    assert written["METAFLOW_ECS_S3_ACCESS_IAM_ROLE"] == state.resources["iam.role.batch_task"].attrs["arn"]
    assert written["METAFLOW_SFN_DYNAMO_DB_TABLE"] == state.resources["dynamodb.table.step_functions"].id
    assert written["METAFLOW_DATASTORE_SYSROOT_S3"] == f"s3://{state.resources['s3.bucket.datastore'].id}/metaflow"


def test_graph_prints_dot_and_mermaid(stack: Stack) -> None:
    dot = invoke(stack, "graph")
    assert dot.exit_code == 0
    assert '"ec2.vpc.main" -> "ec2.subnet.public_1";' in dot.output
    assert '"batch.compute_environment.cpu" -> "batch.job_queue.main";' in dot.output
    mermaid = invoke(stack, "graph", "--format", "mermaid")
    assert mermaid.output.startswith("flowchart LR")


def test_init_writes_a_valid_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--name", "team-ml"])
    assert first.exit_code == 0, first.output
    text = (tmp_path / "mfprov.toml").read_text()
    assert 'name = "team-ml"' in text
    again = runner.invoke(cli, ["init"])
    assert again.exit_code == 1 and "already exists" in again.output
    assert (tmp_path / "mfprov.toml").read_text() == text
    bad = runner.invoke(cli, ["--config", str(tmp_path / "other.toml"), "init", "--preset", "huge"])
    assert bad.exit_code == 1 and "known presets: personal" in bad.output
    assert not (tmp_path / "other.toml").exists()
