"""Input that escapes (issue 13, item 7; issue 14, section 6): values written where they belong and nowhere else,
private files private from their creation, values AWS would refuse mid-apply refused before any call, and every
error one line with exit 1."""

from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from provisioner.cli.main import cli
from tests.stack.conftest import Stack, write_config


def run(config: Path, *args: str, **env: str) -> Any:
    return CliRunner().invoke(cli, ["--config", str(config), *args], env=env or None)


def refused(result: Any) -> str:
    """Exit 1 and one `error:` message, no traceback (a config error lists its fields under that one message)."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.output.count("error:") == 1 and "Traceback" not in result.output, result.output
    return str(result.output)


def one_line(result: Any) -> str:
    text = refused(result)
    assert len([line for line in text.splitlines() if line.strip()]) == 1, text
    return text


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)  # the usual one: what is not made private is world-readable
    yield
    os.umask(old)


# ------------------------------------------------------------------ init writes values as TOML strings


def test_init_name_cannot_add_a_key_to_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    injected = 'team-ml"\nregion = "eu-west-1'
    result = CliRunner().invoke(cli, ["init", "--name", injected])
    assert "name" in refused(result)
    assert not (tmp_path / "mfprov.toml").exists()
    preset = CliRunner().invoke(cli, ["init", "--preset", 'personal"\nregion = "eu-west-1'])
    refused(preset)
    assert not (tmp_path / "mfprov.toml").exists()


@pytest.mark.parametrize(
    "value",
    ['a"b', 'x"\nregion = "eu-west-1', "back\\slash\\", "del\x7f", "ctl\x01\x1f\b\f\r\t", "é😀", "'''", "{suffix}"],
)
def test_init_values_read_back_exactly(value: str) -> None:
    from provisioner.cli.init_template import render_template

    for stack in ("metaflow", "mlflow"):
        data = tomllib.loads(render_template(stack, name=value, preset=value, suffix=value))
        assert (data["name"], data["preset"], data["suffix"]) == (value, value, value)
        assert "region" not in data


# ------------------------------------------------------------------ the profile stays in METAFLOW_HOME, private


@pytest.mark.parametrize("name", ["../../../escaped", "sub/dev", "..", ".hidden", "a/../../b", "x\\y", ""])
def test_write_profile_refuses_a_name_that_leaves_metaflow_home(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    home = tmp_path / "a" / "b" / "mf"
    monkeypatch.setenv("METAFLOW_HOME", str(home))
    stack.up()
    assert "profile name" in one_line(run(stack.path, "outputs", "--write-profile", name))
    assert not list(tmp_path.rglob("config_*")), "no profile may be written, least of all outside METAFLOW_HOME"


def test_profile_state_and_plan_are_private_from_their_creation(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "mf"))
    chmods: list[Any] = []
    monkeypatch.setattr(os, "chmod", lambda *a, **k: chmods.append(a))  # no mending afterwards: born private
    assert run(stack.path, "up", "--yes").exit_code == 0
    assert run(stack.path, "outputs", "--write-profile", "dev").exit_code == 0
    assert run(stack.path, "plan", "--out", str(tmp_path / "reviewed.plan")).exit_code == 0
    state = stack.path.parent / ".mfprov"
    for path in (tmp_path / "mf" / "config_dev.json", state / "state.json", state / "state.json.bak",
                 tmp_path / "reviewed.plan"):  # fmt: skip
        assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"


# ------------------------------------------------------------------ sandbox stop kills only its own server


class _Answers(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's spelling)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_sandbox_stop_kills_only_its_own_moto_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answers)  # something answers on the recorded port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        monkeypatch.setenv("MFPROV_HOME", str(tmp_path))
        record = {"pid": bystander.pid, "port": server.server_address[1], "started": "earlier", "log": "x"}
        (tmp_path / "sandbox.json").write_text(json.dumps(record))  # the pid now belongs to someone else
        assert "not the sandbox's moto server" in one_line(CliRunner().invoke(cli, ["sandbox", "stop"]))
        assert bystander.poll() is None, "sandbox stop killed a process that is not its server"
    finally:
        bystander.kill()
        bystander.wait()
        server.shutdown()


# ------------------------------------------------------------------ refused before any AWS call


TAGS_46 = "\n".join(f'tag{i} = "v"' for i in range(46))


@pytest.mark.parametrize(
    ("edits", "words"),
    [
        ([('[tags]\nteam = "ml"', f'[tags]\nteam = "ml"\n{TAGS_46}')], "at most 46"),
        ([('[tags]\nteam = "ml"', '[tags]\nteam = "<ml>"')], "letters, digits"),
        ([("# bucket_name = ", 'bucket_name = "xn--metaflow-data" #')], "'xn--' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "sthree-metaflow" #')], "'sthree-' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "amzn-s3-demo-data" #')], "'amzn-s3-demo-' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "metaflow-s3alias" #')], "'-s3alias' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "metaflow--ol-s3" #')], "'--ol-s3' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "metaflow.mrap" #')], "'.mrap' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "metaflow--x-s3" #')], "'--x-s3' is reserved"),
        ([("# bucket_name = ", 'bucket_name = "192.168.5.4" #')], "IP address"),
        ([('suffix = "abc12345"', 'suffix = ""')], "suffix is empty"),
        ([('suffix = "abc12345"', 'suffix = "-"')], "suffix is empty"),
        (
            [
                ('suffix = "abc12345"', 'suffix = ""'),
                ("# bucket_name = ", 'bucket_name = "acme-metaflow-data" #'),
                ('preset = "personal"', 'preset = "standard"'),
                ('certificate_arn = ""', 'certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b"'),
                ("allow_cidrs = []            #", 'allow_cidrs = ["203.0.113.0/24"] #'),
            ],
            "the Cognito domain would be 'metaflow-ui'",
        ),
        ([("max_vcpus = 64", "max_vcpus = true")], "batch.max_vcpus: Input should be a valid integer"),
        ([("parallelism = 8", "parallelism = false")], "parallelism: Input should be a valid integer"),
        ([('egress_cidr_blocks = ["0.0.0.0/0"]', 'egress_cidr_blocks = ["not-a-cidr"]')], "'not-a-cidr' is not a CIDR"),
        ([("api_allow_cidrs = []", 'api_allow_cidrs = ["10.0.0.0/33"]')], "is not a CIDR"),
        ([("create = true", 'create = false\nvpc_id = "my-vpc"\nsubnet_ids = ["subnet-0a1b2c3d"]\n#')], "not a VPC id"),
        (
            [("create = true", 'create = false\nvpc_id = "vpc-0a1b2c3d"\nsubnet_ids = ["10.0.1.0/24"]\n#')],
            "not a subnet id",
        ),
        ([('instance_types = ["optimal"]', 'instance_types = ["c5 large"]')], "not an instance type"),
        ([('image = "netflixoss/', 'image = "netflixoss/metaflow service ')], "not a container image"),
        ([('static_image = "public.ecr', 'static_image = "public ecr')], "not a container image"),
        ([('# ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"', 'ssl_policy = "TLS1.3"')], "not an ELB security"),
        (
            [('prefix = "metaflow"', 'prefix = "meta--flow"'), ('preset = "personal"', 'preset = "standard"')],
            "RDS identifier",
        ),
    ],
)
def test_values_aws_would_refuse_mid_apply_are_refused_before_any_call(
    moto_account: None, tmp_path: Path, edits: list[tuple[str, str]], words: str
) -> None:
    path = write_config(tmp_path)
    text = path.read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    path.write_text(text)
    assert words in refused(run(path, "plan"))
    assert not (tmp_path / ".mfprov").exists()
    assert [v for v in boto3.client("ec2").describe_vpcs()["Vpcs"] if not v.get("IsDefault")] == []


def test_46_tags_of_the_users_own_are_accepted(moto_account: None, tmp_path: Path) -> None:
    path = write_config(tmp_path)
    tags = "\n".join(f'tag{i} = "v"' for i in range(45))
    path.write_text(path.read_text().replace('[tags]\nteam = "ml"', f'[tags]\nteam = "ml"\n{tags}'))
    planned = run(path, "plan")
    assert planned.exit_code == 0, planned.output


# ------------------------------------------------------------------ every error one line, exit 1


def test_config_naming_a_folder_is_one_line(tmp_path: Path) -> None:
    assert "is a folder" in one_line(run(tmp_path, "plan"))


def test_a_tampered_plan_file_is_one_line(stack: Stack, tmp_path: Path) -> None:
    stack.up()
    plan = tmp_path / "reviewed.plan"
    assert run(stack.path, "plan", "--out", str(plan)).exit_code == 0
    doc = json.loads(plan.read_text())
    for tampered in ({**doc, "observed": ["ec2.vpc.main"]}, {k: v for k, v in doc.items() if k != "observed"}, [doc]):
        plan.write_text(json.dumps(tampered))
        assert str(plan) in one_line(run(stack.path, "up", "--yes", "--plan", str(plan)))


@pytest.mark.parametrize("command", [["drift"], ["state", "list"], ["state", "history"]])
def test_a_missing_s3_state_bucket_is_one_line(moto_account: None, tmp_path: Path, command: list[str]) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text() + '\n[state]\nbackend = "s3"\nbucket = "no-such-state-bucket"\n')
    assert "no-such-state-bucket does not exist" in one_line(run(path, *command))


def test_an_unexpected_error_after_a_successful_apply_is_one_line(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look-up for twins after an apply (the tagging API) is refused: one line, exit 1; the traceback is there
    for whoever sets MFPROV_DEBUG."""
    from provisioner.engine.reconcile import Runner

    sweep = Runner.sweep
    calls: list[int] = []

    def refused_after_apply(self: Runner, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > 1:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetResources")
        return sweep(self, *args, **kwargs)

    monkeypatch.setattr(Runner, "sweep", refused_after_apply)
    message = refused(run(stack.path, "up", "--yes")).strip().splitlines()[-1]  # after the progress lines
    assert message.startswith("error:") and "AccessDenied" in message and "GetResources" in message
    assert "MFPROV_DEBUG=1" in message
    calls[:] = [1]  # the next look-up is refused too
    debug = run(stack.path, "up", "--yes", MFPROV_DEBUG="1")
    assert isinstance(debug.exception, ClientError)  # the developer gets the real exception and its traceback
