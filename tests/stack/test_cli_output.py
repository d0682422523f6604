"""Output a person can pipe, read whole and script (issue 16): results on stdout and the rest on stderr, values
whole when piped and wrapped (never cut) in a terminal, ``--json`` with a schema, options after the command, the
plan's refusal of a protected change, what ``outputs`` gives people, and what a plain ``down`` keeps and why."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from rich.console import Console
from typer.testing import CliRunner

from provisioner.cli import main as cli_module
from provisioner.cli.main import cli
from tests.stack.conftest import Stack
from tests.stack.test_full_stack import certificate, full  # noqa: F401  (fixtures)

#: where the docs say what a plain `down` of `full` keeps (docs/stacks.md, the full stack)
STACKS_DOC = Path(__file__).resolve().parents[2] / "docs" / "stacks.md"
BOX = re.compile(r"[│┃┏┓┗┛━─┡┩╇┼┬┴╭╮╰╯]")
LONG = "opened by the on-call engineer for ticket " + "X" * 140  # longer than any terminal line


def run(stack: Stack, *args: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(stack.path), *args])


def open_a_long_rule(stack: Stack) -> str:
    group = stack.state().resources["ec2.security_group.batch"].id
    boto3.client("ec2").authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": LONG}],
            }
        ],
    )
    return group


# ---------------------------------------------------------------- 1, 2: stdout, whole values


def test_results_go_to_stdout_whole_and_plain_when_piped(stack: Stack) -> None:
    planned = run(stack, "plan")
    assert planned.exit_code == 0, planned.output
    assert "Plan: 21 to create" in planned.stdout and "   + ec2.vpc.main" in planned.stdout
    assert "Plan:" not in planned.stderr and "AWS calls" in planned.stderr  # the run's figures are no result

    assert run(stack, "up", "--yes").exit_code == 0
    open_a_long_rule(stack)
    drift = run(stack, "drift")
    assert drift.exit_code == 2
    assert "drift item(s)" in drift.stderr and "Drift in stack" in drift.stderr  # messages and the title
    assert not BOX.search(drift.stdout) and "…" not in drift.stdout
    # the changed rule is on one line with its resource and field: `grep` finds it, description whole
    lines = [line for line in drift.stdout.splitlines() if LONG in line]
    assert len(lines) == 1 and lines[0].startswith("ec2.security_group.batch") and " ingress " in lines[0]

    listed = run(stack, "state", "list")
    state = stack.state()
    assert not BOX.search(listed.stdout) and "21 resources" in listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == set(state.resources)
    for address, rs in state.resources.items():
        assert rows[address][1:3] == [rs.kind, rs.id]  # each address with its kind and id, whole, on its line
    assert rows["s3.bucket.datastore"][-1] == "yes"  # protected

    shown = run(stack, "state", "show", "iam.role.batch_task")
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert fields["id"] == state.resources["iam.role.batch_task"].id
    assert fields["attrs.arn"] == state.resources["iam.role.batch_task"].attrs["arn"]
    assert "iam.role.batch_task" in shown.stderr  # the title

    graph = run(stack, "graph")
    assert graph.stdout.startswith("digraph") and graph.stderr == ""


def test_in_a_terminal_a_long_value_wraps_and_is_not_cut(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    stack.up()
    open_a_long_rule(stack)
    screen = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=screen, force_terminal=True, width=80, soft_wrap=True))
    assert run(stack, "drift").exit_code == 2
    text = screen.getvalue()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    assert all(len(line) <= 80 for line in plain.splitlines())
    assert "…" not in plain and BOX.search(plain)  # a table, and nothing cut from it
    cells = [line.split("│")[1:-1] for line in plain.splitlines() if line.startswith("│")]
    columns = ["".join(row[i] for row in cells if len(row) == 6) for i in range(6)]
    assert any(LONG.replace(" ", "") in re.sub(r"\s", "", column) for column in columns)  # whole, over lines


# ---------------------------------------------------------------- 3: --json


def test_plan_state_list_and_state_show_speak_json(stack: Stack) -> None:
    planned = json.loads(run(stack, "plan", "--json").stdout)
    assert planned["schema"] == "mfprov.plan/1" and planned["stack"] == "t1" and not planned["empty"]
    assert planned["counts"]["create"] == 21 and planned["refused"] == []
    vpc = next(a for a in planned["actions"] if a["address"] == "ec2.vpc.main")
    assert (
        vpc["action"] == "create"
        and {"field": "cidr_block", "expected": "10.20.0.0/16", "actual": None}.items()
        <= next(c for c in vpc["changes"] if c["field"] == "cidr_block").items()
    )

    stack.up()
    open_a_long_rule(stack)
    group = json.loads(run(stack, "plan", "--json").stdout)
    [update] = group["actions"]
    assert update["address"] == "ec2.security_group.batch" and update["action"] == "update"
    assert LONG in json.dumps(update["changes"])

    listed = json.loads(run(stack, "state", "list", "--json").stdout)
    assert listed["schema"] == "mfprov.state-view/1" and listed["stack"] == "t1"
    by_address = {r["address"]: r for r in listed["resources"]}
    assert by_address["s3.bucket.datastore"]["protected"] is True and by_address["ec2.vpc.main"]["protected"] is False
    assert by_address["ec2.vpc.main"]["id"] == stack.state().resources["ec2.vpc.main"].id

    shown = json.loads(run(stack, "state", "show", "kms.key.s3", "--json").stdout)
    assert shown["schema"] == "mfprov.state-view/1" and shown["address"] == "kms.key.s3"
    assert shown["id"] == stack.state().resources["kms.key.s3"].id and shown["protected"] is True


# ---------------------------------------------------------------- 4: options after the command


def test_config_is_taken_after_the_command_too(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no mfprov.toml here: only the option finds it
    for args in (["plan", "--config", str(stack.path)], ["plan", "-c", str(stack.path), "--json"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["state", "list", "--config", str(stack.path)])
    assert listed.exit_code == 0, listed.output
    wrong = CliRunner().invoke(cli, ["--config", str(tmp_path / "none.toml"), "plan", "--config", str(stack.path)])
    assert wrong.exit_code == 0, wrong.output  # the one after the command wins


# ---------------------------------------------------------------- 5: the plan refuses what up would


def test_plan_marks_a_protected_replacement_refused_and_exits_3(stack: Stack) -> None:
    stack.up()
    text = stack.path.read_text().replace('# bucket_name = "my-metaflow-bucket"', 'bucket_name = "other-name-x1"')
    stack.path.write_text(text)
    planned = run(stack, "plan")
    assert planned.exit_code == 3, planned.output
    [line] = [line for line in planned.stdout.splitlines() if "s3.bucket.datastore" in line]
    assert "-/+" in line and "REFUSED: protected" in line
    assert "Refused" in planned.stderr and "state unprotect" in planned.stderr
    as_json = run(stack, "plan", "--json")
    assert as_json.exit_code == 3
    doc = json.loads(as_json.stdout)
    assert doc["refused"] == ["s3.bucket.datastore"]
    assert [a["address"] for a in doc["actions"] if a["refused"]] == ["s3.bucket.datastore"]
    # lifted deliberately, the same plan is an ordinary one
    assert run(stack, "state", "unprotect", "s3.bucket.datastore").exit_code == 0
    assert run(stack, "plan").exit_code == 0


# ---------------------------------------------------------------- 6, 7: outputs for people; what down keeps


def readme_kept_list() -> set[str]:
    """The addresses docs/stacks.md says a plain `down` of `full` keeps."""
    text = STACKS_DOC.read_text()
    match = re.search(r"A plain `down` of `full` keeps exactly these.*?\n\n", text, re.S)
    assert match, "docs/stacks.md says what a plain down of full keeps"
    return set(re.findall(r"`([a-z0-9]+\.[a-z_0-9]+\.[a-z_0-9]+)`", match.group(0)))


def test_full_outputs_say_what_people_need_and_down_keeps_only_what_holds_data(
    full: Stack,  # noqa: F811  (the fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "mf"))
    full.up()
    state = full.state().resources
    alb = state["elbv2.load_balancer.alb"].attrs["dns_name"]
    pool = state["cognito.user_pool.ui"].id

    shown = run(full, "outputs")
    assert shown.exit_code == 0, shown.output
    values = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert values["ui_url"] == f"https://{alb}" == values["METAFLOW_UI_URL"]
    assert values["api_url"] == values["METAFLOW_SERVICE_URL"]
    assert values["user_role_arn"] == state["iam.role.metaflow_user"].attrs["arn"]
    assert values["cognito_user_pool_id"] == pool
    assert values["cognito_add_user"].startswith(
        f"aws cognito-idp admin-create-user --region us-east-1 --user-pool-id {pool} "
    )
    assert values["notebook_url"] == state["sagemaker.notebook_instance.notebook"].attrs["url"]
    assert "--notebook-instance-name metaflow-notebook-abc12345" in values["notebook_open"]
    assert "Masked: METAFLOW_SERVICE_AUTH_KEY" in shown.stderr and "--show-secrets" in shown.stderr
    assert "For people" in shown.stderr and "Metaflow profile" in shown.stderr

    doc = json.loads(run(full, "outputs", "--json").stdout)
    assert (
        set(doc["masked"]) == {"METAFLOW_SERVICE_AUTH_KEY"}
        and "--show-secrets" in doc["masked"]["METAFLOW_SERVICE_AUTH_KEY"]
    )
    assert doc["ui_url"] == f"https://{alb}"
    assert json.loads(run(full, "outputs", "--json", "--show-secrets").stdout)["masked"] == {}
    assert run(full, "outputs", "--write-profile", "full").exit_code == 0
    written = json.loads((tmp_path / "mf" / "config_full.json").read_text())
    assert written["METAFLOW_UI_URL"] == f"https://{alb}"
    assert all(k.startswith("METAFLOW_") for k in written)  # the profile holds Metaflow's keys only

    done = run(full, "down", "--yes")
    assert done.exit_code == 0, done.output
    kept = set(full.state().resources)
    for hourly in ("ec2.nat_gateway.nat_1", "ec2.eip.nat_1", "elbv2.load_balancer.nlb", "elbv2.load_balancer.alb"):
        assert hourly not in kept
    protected = {
        "s3.bucket.datastore", "kms.key.s3", "kms.key.rds", "rds.db_instance.main", "ecr.repository.batch",
        "sagemaker.notebook_instance.notebook", "cognito.user_pool.ui",
    }  # fmt: skip
    assert protected <= kept
    assert kept == readme_kept_list()
    # each kept resource on a line of its own, with why
    reasons = dict(re.findall(r"^  kept (\S+)  (.+)$", done.stderr, re.M))
    assert set(reasons) == kept
    assert all(reasons[a].startswith("protected") for a in protected)
    assert reasons["rds.db_subnet_group.main"] == "needed by rds.db_instance.main"
    assert "sagemaker.notebook_instance.notebook" in reasons["ec2.security_group.notebook"]


# ---------------------------------------------------------------- 8: version and completion


def test_version_and_shell_completion() -> None:
    from importlib.metadata import version

    shown = CliRunner().invoke(cli, ["--version"])
    assert shown.exit_code == 0 and shown.stdout == f"mfprov {version('mfprov')}\n"
    script = CliRunner().invoke(cli, ["--show-completion", "bash"], prog_name="mfprov")
    said = (script.output, script.exception)
    assert script.exit_code == 0 and "_MFPROV_COMPLETE=complete_bash" in script.stdout, said


def test_mlflow_outputs_say_how_to_add_a_user_to_its_sign_in(tmp_path: Path) -> None:
    from provisioner.engine.graph import resolve
    from provisioner.stacks import mlflow
    from tests.stack.test_mlflow_stack import ALLOW, CERT, FACTS, _config

    cfg = _config(
        tmp_path,
        **{
            "internal = true": "internal = false",
            "allow_cidrs = []": f'allow_cidrs = ["{ALLOW}"]',
            'certificate_arn = ""': f'certificate_arn = "{CERT}"',
            'type = "none"': 'type = "cognito"',
        },
    )
    outputs = mlflow.build(cfg, FACTS).outputs
    found = {"cognito.user_pool.mlflow": {"id": "us-east-1_AbC"}, "elbv2.load_balancer.alb": {"dns_name": "a.b"}}
    assert resolve(outputs["cognito_add_user"], found) == (
        "aws cognito-idp admin-create-user --region us-east-1 --user-pool-id us-east-1_AbC --username EMAIL"
    )
    assert resolve(outputs["tracking_uri"], found) == "https://a.b"  # the MLflow URL
