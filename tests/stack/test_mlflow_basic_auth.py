"""MLflow's own users for scripts (``mlflow.auth.basic_auth``, issue 17 item 5), against in-process moto and
without AWS: the admin's password is made into a secret of the stack and reaches the container by reference only
(never the state, the outputs or the terminal); the container runs MLflow's basic-auth app with the config it
writes at start; with ALB sign-in on, requests carrying basic-auth credentials are forwarded to MLflow (which
checks them) by a rule evaluated before the sign-in, and only then; the execution role reads the stack's secrets
and no other; ``outputs`` says how to fetch the password; turning the option off takes it all away.

moto gaps, worked around test-side only (as in test_mlflow_stack): CreateService drops the health-check grace
period (``grace_period_kept``); an HTTPS listener needs a certificate moto's ACM knows (requested first).
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner.core.context import Facts
from provisioner.ops.permissions import policy_for
from provisioner.stacks import mlflow, mlflow_basic_auth
from provisioner.stacks.config import ConfigError, parse_config
from tests.stack.conftest import Stack
from tests.stack.test_mlflow_stack import grace_period_kept, mlflow_config  # noqa: F401 (an autouse fixture)

ALLOW = "198.51.100.0/24"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
FACTS = Facts(account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))
BASIC_AUTH = {"basic_auth = false": "basic_auth = true"}
#: an internet-facing ALB with HTTPS (sign-in needs both, or a NAT for an internal one)
PUBLIC_HTTPS = {"internal = true": "internal = false", "allow_cidrs = []": f'allow_cidrs = ["{ALLOW}"]'}


def _https(cert: str) -> dict[str, str]:
    return {**PUBLIC_HTTPS, 'certificate_arn = ""': f'certificate_arn = "{cert}"'}


def _config(tmp_path: Path, **replace: str) -> Any:
    return parse_config(tomllib.loads(mlflow_config(tmp_path, **replace).read_text()))


def _state_id(stack: Stack, address: str) -> str:
    return stack.state().resources[address].id


def _rules(stack: Stack) -> dict[str, dict[str, Any]]:
    elbv2 = boto3.client("elbv2")
    (listener,) = [
        x
        for x in elbv2.describe_listeners(LoadBalancerArn=_state_id(stack, "elbv2.load_balancer.alb"))["Listeners"]
        if x["Port"] == 443
    ]
    return {r["Priority"]: r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]}


def _container(stack: Stack) -> dict[str, Any]:
    td = boto3.client("ecs").describe_task_definition(taskDefinition=_state_id(stack, "ecs.task_definition.server"))
    (container,) = td["taskDefinition"]["containerDefinitions"]
    return dict(container)


def _readable_secrets(role: str) -> set[str]:
    """Every resource the role's inline policies allow secretsmanager:GetSecretValue on."""
    iam = boto3.client("iam")
    found: set[str] = set()
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        for st in iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]["Statement"]:
            actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
            if any(a in ("secretsmanager:GetSecretValue", "secretsmanager:*", "*") for a in actions):
                found |= {st["Resource"]} if isinstance(st["Resource"], str) else set(st["Resource"])
    return found


# ------------------------------------------------------------------------------------------ in moto


def test_basic_auth_behind_cognito_sign_in_then_turned_off(moto_account: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from provisioner.cli.main import cli

    cert = boto3.client("acm").request_certificate(DomainName="mlflow.example.com")["CertificateArn"]
    replace = {**_https(cert), 'type = "none"': 'type = "cognito"'}
    path = mlflow_config(tmp_path / "m1", **replace, **BASIC_AUTH)
    stack = Stack(path)
    runner = CliRunner()
    args = ["--config", str(path)]
    printed = [
        runner.invoke(cli, [*args, *command]).output
        for command in (("plan", "-v"), ("up", "--yes"), ("drift", "--json"), ("outputs",), ("outputs", "--json"))
    ]
    assert stack.up().mutating == {}
    assert stack.drift().value == []

    # the admin's secret: the stack's, encrypted with its key, a long random password
    sm = boto3.client("secretsmanager")
    arn = _state_id(stack, mlflow_basic_auth.SECRET)
    described = sm.describe_secret(SecretId=arn)
    assert described["Name"] == "mlflow-admin-abc12345"
    key = boto3.client("kms").describe_key(KeyId=_state_id(stack, "kms.key.mlflow"))["KeyMetadata"]["Arn"]
    assert described["KmsKeyId"] == key
    value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    password = value["password"]
    assert value["username"] == "admin" and password.isalnum() and len(password) >= 16

    # ... and nowhere else: not in the state, the outputs, anything printed, the task definition
    state_dir = path.parent / ".mfprov"
    texts = [*printed, *(p.read_text() for p in state_dir.iterdir() if p.is_file())]
    container = _container(stack)
    assert all(password not in t for t in [*texts, json.dumps(container)])

    # the container: the password by reference (its ARN), MLflow's basic-auth app in the command
    assert {"name": "MFPROV_ADMIN_PASSWORD", "valueFrom": f"{arn}:password::"} in container["secrets"]
    assert container["command"] == ["sh", "-c", mlflow_basic_auth.ENTRYPOINT]
    assert "exec mlflow server --app-name basic-auth " in container["command"][2]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["MFPROV_ADMIN_USERNAME"] == "admin" and env["MFPROV_AUTH_DEFAULT_PERMISSION"] == "READ"

    # the listener: basic-auth requests to this server go to it (MLflow checks them) before the sign-in rule
    rules = _rules(stack)
    tg = _state_id(stack, "elbv2.target_group.server")
    basic, server = rules[str(mlflow_basic_auth.RULE_PRIORITY)], rules["100"]
    assert mlflow_basic_auth.RULE_PRIORITY < 100
    conditions = {c["Field"]: c for c in basic["Conditions"]}
    assert conditions["http-header"]["HttpHeaderConfig"] == {"HttpHeaderName": "Authorization", "Values": ["Basic *"]}
    assert (
        conditions["host-header"]["HostHeaderConfig"]["Values"] == server["Conditions"][0]["HostHeaderConfig"]["Values"]
    )
    assert [(a["Type"], a.get("TargetGroupArn")) for a in basic["Actions"]] == [("forward", tg)]
    assert [a["Type"] for a in server["Actions"]] == ["authenticate-cognito", "forward"]

    # least privilege: the execution role reads the database's secret and the admin's, nothing else
    db_arn = _state_id(stack, "secretsmanager.secret.db")
    assert _readable_secrets("mlflow-ecs-execution-abc12345") == {db_arn, arn}
    assert _readable_secrets("mlflow-ecs-task-abc12345") == set()

    # outputs: how to fetch the password and set up a script, never the password
    outputs = json.loads(printed[-1])
    fetch = (
        f"aws secretsmanager get-secret-value --region us-east-1 --secret-id {arn} --query SecretString --output text"
    )
    assert outputs["mlflow_admin_secret_arn"] == arn and outputs["mlflow_admin_username"] == "admin"
    assert outputs["mlflow_password_command"].startswith(fetch + " | python3 -c ")
    assert outputs["mlflow_script_env"] == (
        f"export MLFLOW_TRACKING_URI={outputs['tracking_uri']} MLFLOW_TRACKING_USERNAME=admin "
        f'MLFLOW_TRACKING_PASSWORD="$({outputs["mlflow_password_command"]})"'
    )
    assert fetch in printed[-2]  # the people's view says it too
    assert outputs["mlflow_restart_command"] == (
        "aws ecs update-service --region us-east-1 --cluster mlflow-cluster-abc12345 --service mlflow-server-abc12345 "
        "--force-new-deployment"
    )

    # the fetch command's last step prints the password from what the AWS CLI would print
    cli_text = sm.get_secret_value(SecretId=arn)["SecretString"]
    extract = outputs["mlflow_password_command"].split(" | ", 1)[1]
    done = subprocess.run(["sh", "-c", extract], input=cli_text, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == password

    # the deployer's permissions catalogue covers the new secret by its name
    assert ":secret:mlflow-admin-abc12345-??????" in policy_for(stack.ws().config, "us-east-1").json()

    # off again: the secret, its reference, the rule and the outputs go; MLflow's plain app runs
    path.write_text(path.read_text().replace("basic_auth = true", "basic_auth = false"))
    stack.up()
    with pytest.raises(ClientError):
        sm.describe_secret(SecretId=arn)
    container = _container(stack)
    assert [s["name"] for s in container["secrets"]] == ["MLFLOW_DB_PASSWORD"]
    assert container["command"] == ["sh", "-c", mlflow.ENTRYPOINT]
    assert sorted(_rules(stack)) == ["100", "default"]
    assert _readable_secrets("mlflow-ecs-execution-abc12345") == {db_arn}
    assert not {k for k in stack.state().outputs if k.startswith("mlflow_")}


# --------------------------------------------------------------------------------- blueprints and config, no AWS


@pytest.mark.parametrize(
    ("replace", "rule"),
    [
        ({**_https(CERT), 'type = "none"': 'type = "cognito"', **BASIC_AUTH}, True),  # sign-in and basic auth
        ({**_https(CERT), **BASIC_AUTH}, False),  # basic auth, no sign-in: the server's rule forwards everything
        ({**_https(CERT), 'type = "none"': 'type = "cognito"'}, False),  # sign-in only: nothing gets past it
        ({}, False),
    ],
)
def test_the_basic_auth_rule_is_there_only_with_sign_in_and_basic_auth(
    tmp_path: Path, replace: dict[str, str], rule: bool
) -> None:
    bp = mlflow.build(_config(tmp_path, **replace), FACTS)
    assert (mlflow_basic_auth.RULE in bp.nodes) is rule
    if rule:
        # the service waits for every rule that forwards to its target group
        assert mlflow_basic_auth.RULE in bp.nodes["ecs.service.server"].after
    basic = "basic_auth = true" in replace.values()
    assert (mlflow_basic_auth.SECRET in bp.nodes) is basic
    secrets = bp.nodes["ecs.task_definition.server"].props["containers"][0]["secrets"]
    assert ("MFPROV_ADMIN_PASSWORD" in secrets) is basic
    assert ("mlflow_script_env" in bp.outputs) is basic


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        # MLflow before 3.6 kept its users' tables without a version table of their own: not beside the runs
        (
            {**BASIC_AUTH, 'image = "ghcr.io/mlflow/mlflow:v{version}-full"': 'image = "example.com/mlflow:{version}"',
             'version = "3.10.0"': 'version = "3.5.0"'},
            "MLflow 3.6.0 or later",
        ),
        # passwords in the clear over the internet
        ({**BASIC_AUTH, **PUBLIC_HTTPS}, "needs HTTPS"),
        ({"# admin_username = \"admin\"": 'admin_username = "root"'}, "apply to basic_auth = true only"),
        ({**BASIC_AUTH, "# admin_username = \"admin\"": 'admin_username = "a b"'}, "admin_username"),
        ({**BASIC_AUTH, "[mlflow.server.extra_env]": '[mlflow.server.extra_env]\nMFPROV_ADMIN_PASSWORD = "x"'},
         "by reference"),
    ],
)  # fmt: skip
def test_bad_basic_auth_config_is_refused(tmp_path: Path, replace: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, **replace)


# --------------------------------------------------------------------------------- the container's command


#: a stand-in for the image's ``mlflow`` CLI: what it was started with, its config file and its environment
FAKE_MLFLOW = """#!/bin/sh
echo "ARGS=$*"
echo "CONFIG=$MLFLOW_AUTH_CONFIG_PATH"
echo "FLASK_KEY=$MLFLOW_FLASK_SERVER_SECRET_KEY"
echo "ADMIN_PW=${MFPROV_ADMIN_PASSWORD-unset}"
echo "DB_PW=${MLFLOW_DB_PASSWORD-unset}"
"""

#: a stand-in for MLflow's auth store (the part the command calls): users in a JSON file, calls logged
FAKE_STORE = """
import json, os

USERS = os.environ["FAKE_USERS"]


class SqlAlchemyStore:
    def init_db(self, uri):
        self.uri = uri

    def _users(self):
        return json.load(open(USERS)) if os.path.exists(USERS) else {}

    def has_user(self, username):
        return username in self._users()

    def authenticate_user(self, username, password):
        return self._users().get(username) == password

    def update_user(self, username, password=None, is_admin=None):
        users = self._users()
        users[username] = password
        json.dump(users, open(USERS, "w"))
        with open(USERS + ".log", "a") as log:
            log.write(f"update_user {username} is_admin={is_admin} uri={self.uri}\\n")
"""


@pytest.fixture
def container_env(tmp_path: Path) -> dict[str, str]:
    """The container's environment as ECS would give it, with the stand-ins first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mlflow").write_text(FAKE_MLFLOW)
    (bin_dir / "mlflow").chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    store = tmp_path / "site" / "mlflow" / "server" / "auth"
    store.mkdir(parents=True)
    for package in (store.parent.parent, store.parent, store):
        (package / "__init__.py").write_text("")
    (store / "sqlalchemy_store.py").write_text(FAKE_STORE)
    (tmp_path / "tmp").mkdir()
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": str(tmp_path / "site"),
        "TMPDIR": str(tmp_path / "tmp"),
        "FAKE_USERS": str(tmp_path / "users.json"),
        "MLFLOW_DB_USER": "mlflow", "MLFLOW_DB_PASSWORD": "DbSecret123abc", "MLFLOW_DB_HOST": "db.example",
        "MLFLOW_DB_PORT": "5432", "MLFLOW_DB_NAME": "mlflow", "MLFLOW_PORT": "5000",
        "MFPROV_ADMIN_USERNAME": "admin", "MFPROV_ADMIN_PASSWORD": "AdminSecret456xyz",
        "MFPROV_AUTH_DEFAULT_PERMISSION": "READ",
    }  # fmt: skip


def _start(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(
        ["sh", "-c", mlflow_basic_auth.ENTRYPOINT], env=env, capture_output=True, text=True, check=True
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines())


def test_the_command_writes_mlflows_auth_config_and_starts_the_basic_auth_app(
    container_env: dict[str, str], tmp_path: Path
) -> None:
    seen = _start(container_env)
    uri = "postgresql+psycopg2://mlflow:DbSecret123abc@db.example:5432/mlflow?sslmode=require"
    assert seen["ARGS"] == "server --app-name basic-auth --host 0.0.0.0 --port 5000"
    # the config MLflow reads (MLFLOW_AUTH_CONFIG_PATH), as its own reader parses it: users in the stack's database
    config_path = Path(seen["CONFIG"])
    assert config_path.parent == tmp_path / "tmp"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o600
    parser = configparser.ConfigParser()
    parser.read(config_path)
    assert dict(parser["mlflow"]) == {
        "default_permission": "READ",
        "database_uri": uri,
        "admin_username": "admin",
        "admin_password": "AdminSecret456xyz",
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
    }
    # the passwords' variables are gone before mlflow starts; the Flask key is derived, the same in every task
    assert seen["ADMIN_PW"] == "unset" and seen["DB_PW"] == "unset"
    expected = hmac.new(mlflow_basic_auth.FLASK_KEY_LABEL.encode(), b"AdminSecret456xyz", hashlib.sha256)
    assert seen["FLASK_KEY"] == expected.hexdigest()
    assert _start(container_env)["FLASK_KEY"] == seen["FLASK_KEY"]
    # a first start leaves the admin's creation to MLflow: nothing updated
    assert not Path(container_env["FAKE_USERS"] + ".log").exists()


def test_the_secret_is_the_admins_password_of_record(container_env: dict[str, str]) -> None:
    """MLflow creates its admin only when absent: an admin left from before (the option off and on again, or a
    new secret value) gets the secret's password at the next start, and keeps it when it already matches."""
    users = Path(container_env["FAKE_USERS"])
    users.write_text(json.dumps({"admin": "an-older-password", "alice": "alices-password"}))
    _start(container_env)
    assert json.loads(users.read_text()) == {"admin": "AdminSecret456xyz", "alice": "alices-password"}
    log = Path(f"{users}.log")
    assert log.read_text().splitlines() == [
        "update_user admin is_admin=True uri=postgresql+psycopg2://mlflow:DbSecret123abc@db.example:5432/mlflow"
        "?sslmode=require"
    ]
    _start(container_env)
    assert len(log.read_text().splitlines()) == 1


def test_no_secret_reaches_a_command_line(container_env: dict[str, str], tmp_path: Path) -> None:
    """Each program the command runs, as ``ps`` would show it: a stand-in ``python3`` logs its arguments."""
    logged = tmp_path / "argv.log"
    wrapper = tmp_path / "bin" / "python3"
    wrapper.unlink()
    wrapper.write_text(f'#!/bin/sh\necho "python3 $*" >> {logged}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    seen = _start(container_env)
    argv = [*logged.read_text().splitlines(), f"mlflow {seen['ARGS']}"]
    assert len(argv) == 3  # the admin's sync, the Flask key, mlflow
    assert not any(secret in line for line in argv for secret in ("AdminSecret456xyz", "DbSecret123abc"))
