"""The Metaflow UI's sign-in through the user's own OIDC provider or Cognito, and its Route 53 record (issue 17,
item 6), against in-process moto on the standard preset with the UI on.

What a user running the UI cares about:
- with ``[ui.auth] type = "oidc"`` the load balancer signs people in at their own provider (issuer and endpoints as
  configured), the client secret is read from Secrets Manager by reference and appears in no state file, no
  output and no log; no Cognito user pool is made;
- moving from Cognito to OIDC changes the listener and the rule in place (same ARNs: the UI stays up) and removes
  the user pool, its domain and its client, once the pool (it holds the users) is unprotected;
- ``[ui.dns]`` makes an alias record to the load balancer, which `outputs` and the Metaflow profile then use;
  ``down`` deletes that record and nothing else of the zone; a record of the same name that is the user's own is
  neither repointed nor deleted;
- drift is clean after ``up`` and names a console change of the sign-in;
- a config that cannot work is refused in one line before any AWS call;
- ``mfprov permissions`` grants what the new pieces need, and nothing is denied under that policy alone.

moto gaps, worked around test-side: an HTTPS listener needs a certificate moto's ACM knows (one is requested
first, as a user would); moto's DescribeListeners returns the OIDC client secret AWS never returns, which makes
the check that it is sent (and never kept) possible.
"""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.engine.reconcile import EngineError
from provisioner.ops import app as core
from provisioner.stacks.config import ConfigError, parse_config
from tests.iam.recording import record_calls
from tests.iam.test_permissions import Guard, generated, lifecycle
from tests.stack.conftest import Stack
from tests.stack.test_full_stack import ALLOW, full_config

SECRET_VALUE = "ui-oidc-s3cr3t-Zq8Lm2"
ISSUER = "https://idp.example.com"
RECORD = "metaflow.example.com"
OIDC = {
    'type = "cognito"': 'type = "oidc"',
    '# issuer = "https://idp.example.com"': f'issuer = "{ISSUER}"',
    '# authorization_endpoint = "https://idp.example.com/authorize"':
        f'authorization_endpoint = "{ISSUER}/authorize"',
    '# token_endpoint = "https://idp.example.com/token"': f'token_endpoint = "{ISSUER}/token"',
    '# user_info_endpoint = "https://idp.example.com/userinfo"': f'user_info_endpoint = "{ISSUER}/userinfo"',
    '# client_id = "..."': 'client_id = "metaflow-ui"',
    '# client_secret_key = "client_secret"': 'client_secret_key = "client_secret"',
}  # fmt: skip


def ui_config(directory: Path, certificate: str, **replace: str) -> Path:
    """The starter file of preset standard with the UI on (a certificate and an allow-list), plus replacements."""
    return full_config(directory, certificate, preset="standard", **replace)


def oidc(secret_arn: str) -> dict[str, str]:
    return {
        **OIDC,
        '# client_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:metaflow-ui-oidc"':
            f'client_secret_arn = "{secret_arn}"',
    }  # fmt: skip


def dns(zone: str) -> dict[str, str]:
    return {'zone_id = ""': f'zone_id = "{zone}"', 'record_name = ""': f'record_name = "{RECORD}"'}


@pytest.fixture
def certificate(moto_account: None) -> str:
    return str(boto3.client("acm").request_certificate(DomainName=RECORD)["CertificateArn"])


@pytest.fixture
def secret_arn(moto_account: None) -> str:
    """The user's own secret holding the client secret their identity provider issued for the load balancer."""
    value = json.dumps({"client_secret": SECRET_VALUE})
    return str(boto3.client("secretsmanager").create_secret(Name="metaflow-ui-oidc", SecretString=value)["ARN"])


@pytest.fixture
def zone(moto_account: None) -> str:
    """The user's hosted zone, with a neighbour's record of another name in it."""
    r53 = boto3.client("route53")
    zone_id = r53.create_hosted_zone(Name="example.com", CallerReference="users-zone")["HostedZone"]["Id"]
    zone_id = zone_id.rsplit("/", 1)[-1]
    change(zone_id, "CREATE", "wiki.example.com", "192.0.2.20")
    return str(zone_id)


def change(zone_id: str, action: str, name: str, value: str) -> None:
    rrset = {"Name": f"{name}.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": value}]}
    boto3.client("route53").change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": rrset}]}
    )


def records(zone_id: str) -> dict[str, dict[str, Any]]:
    """The zone's A records by name (no trailing dot)."""
    listed = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return {r["Name"].rstrip("."): r for r in listed if r["Type"] == "A"}


def state_id(stack: Stack, address: str) -> str:
    return str(stack.state().resources[address].id)


def https_listener(stack: Stack) -> dict[str, Any]:
    arn = state_id(stack, "elbv2.listener.ui_https")
    return dict(boto3.client("elbv2").describe_listeners(ListenerArns=[arn])["Listeners"][0])


def api_rule(stack: Stack) -> dict[str, Any]:
    arn = state_id(stack, "elbv2.listener_rule.ui_backend")
    return dict(boto3.client("elbv2").describe_rules(RuleArns=[arn])["Rules"][0])


def auth_of(actions: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(a["Type"], a) for a in actions if a["Type"].startswith("authenticate-")]


def user_pools() -> list[str]:
    return [p["Name"] for p in boto3.client("cognito-idp").list_user_pools(MaxResults=60)["UserPools"]]


# ------------------------------------------------------------------------------------------------------ in moto


def test_oidc_sign_in_reads_the_client_secret_by_reference_only(
    certificate: str, secret_arn: str, zone: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for logger in ("provisioner", "resources", "state"):
        caplog.set_level(logging.DEBUG, logger=logger)
    stack = Stack(ui_config(tmp_path, certificate, **oidc(secret_arn), **dns(zone)))
    runner = CliRunner()
    args = ["--config", str(stack.path)]
    printed = []
    for command in (("plan", "-v"), ("up", "--yes"), ("drift", "--json"), ("outputs", "--json")):
        result = runner.invoke(cli, [*args, *command])
        assert result.exit_code == 0, result.output
        printed.append(result.output)

    # the listener and the /api/* rule sign people in at the user's provider, with its own endpoints
    for actions in (https_listener(stack)["DefaultActions"], api_rule(stack)["Actions"]):
        ((kind, action),) = auth_of(actions)
        config = action["AuthenticateOidcConfig"]
        assert kind == "authenticate-oidc"
        assert (config["Issuer"], config["ClientId"]) == (ISSUER, "metaflow-ui")
        assert (config["AuthorizationEndpoint"], config["TokenEndpoint"], config["UserInfoEndpoint"]) == (
            f"{ISSUER}/authorize", f"{ISSUER}/token", f"{ISSUER}/userinfo"
        )  # fmt: skip
        # what the load balancer was given is the secret's value (moto shows it; AWS never returns it)
        assert config["ClientSecret"] == SECRET_VALUE
    assert user_pools() == [] and not [a for a in stack.state().resources if a.startswith("cognito.")]

    # the record is an alias to the UI's load balancer, and the UI's address is that name
    alb = boto3.client("elbv2").describe_load_balancers(Names=["metaflow-alb-abc12345"])["LoadBalancers"][0]
    alias = records(zone)[RECORD]["AliasTarget"]
    assert alias["DNSName"].rstrip(".").lower() == alb["DNSName"].lower()
    assert alias["HostedZoneId"] == alb["CanonicalHostedZoneId"]
    shown = json.loads(printed[-1])
    assert shown["ui_url"] == shown["METAFLOW_UI_URL"] == f"https://{RECORD}"
    assert shown["ui_oidc_redirect_uri"] == f"https://{RECORD}/oauth2/idpresponse"
    assert "cognito_user_pool_id" not in shown
    assert json.loads(printed[2])["items"] == []  # drift

    # the value is nowhere: not in the state (nor its backups), not printed, not logged
    state_dir = stack.path.parent / ".mfprov"
    texts = [*printed, caplog.text, *(p.read_text() for p in state_dir.rglob("*") if p.is_file())]
    assert all(SECRET_VALUE not in t for t in texts)

    # a second up changes nothing (the secret is not read again to compare: AWS never shows it)
    assert stack.up().mutating == {}


def test_cognito_to_oidc_changes_the_listener_in_place_and_removes_the_user_pool(
    certificate: str, secret_arn: str, tmp_path: Path
) -> None:
    stack = Stack(ui_config(tmp_path, certificate))
    stack.up()
    listener, rule = state_id(stack, "elbv2.listener.ui_https"), state_id(stack, "elbv2.listener_rule.ui_backend")
    assert [k for k, _ in auth_of(https_listener(stack)["DefaultActions"])] == ["authenticate-cognito"]
    assert user_pools() == ["metaflow-ui-abc12345"]

    text = stack.path.read_text()
    for old, new in oidc(secret_arn).items():
        text = text.replace(old, new, 1)
    stack.path.write_text(text)
    # the pool holds the users: it is protected, so the switch is refused before any change until the user says so
    with pytest.raises(core.ProtectedRefused, match=r"cognito\.user_pool\.ui"):
        stack.up()
    assert [k for k, _ in auth_of(https_listener(stack)["DefaultActions"])] == ["authenticate-cognito"]
    assert user_pools() == ["metaflow-ui-abc12345"]
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "state", "unprotect", "cognito.user_pool.ui"])
    assert result.exit_code == 0, result.output
    out = stack.up()

    # in place: the same listener and rule, now with the OIDC action; nothing of the load balancer replaced
    assert state_id(stack, "elbv2.listener.ui_https") == listener
    assert state_id(stack, "elbv2.listener_rule.ui_backend") == rule
    assert not {k for k in out.mutating if k.startswith("elasticloadbalancing:Delete")}
    assert [k for k, _ in auth_of(https_listener(stack)["DefaultActions"])] == ["authenticate-oidc"]
    assert [k for k, _ in auth_of(api_rule(stack)["Actions"])] == ["authenticate-oidc"]
    # Cognito's pieces are gone from the account and the state
    assert user_pools() == []
    assert not [a for a in stack.state().resources if a.startswith("cognito.")]
    # the load balancer still reaches out on 443 (now to the user's provider)
    group = state_id(stack, "ec2.security_group.alb")
    egress = boto3.client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissionsEgress"]
    assert any(p.get("FromPort") == 443 and {"CidrIp": "0.0.0.0/0"} in [
        {"CidrIp": r["CidrIp"]} for r in p.get("IpRanges", [])
    ] for p in egress)  # fmt: skip
    assert stack.drift().value == []
    assert stack.up().mutating == {}


def test_the_record_is_made_read_back_repaired_and_deleted_and_the_zone_is_otherwise_untouched(
    certificate: str, zone: str, tmp_path: Path
) -> None:
    neighbour = records(zone)["wiki.example.com"]
    stack = Stack(ui_config(tmp_path, certificate, **dns(zone)))
    stack.up()
    assert state_id(stack, "route53.record.ui") == f"{zone}|{RECORD}|A"
    assert RECORD in records(zone)
    # read back: in sync, and the profile points at the record
    assert stack.drift().value == []
    assert stack.state().outputs["METAFLOW_UI_URL"] == f"https://{RECORD}"
    # the Cognito client admits the record's name as a callback (the ALB sends the browser back to it)
    client = boto3.client("cognito-idp").describe_user_pool_client(
        UserPoolId=state_id(stack, "cognito.user_pool.ui"),
        ClientId=state_id(stack, "cognito.user_pool_client.ui").split("|")[-1],
    )["UserPoolClient"]
    assert f"https://{RECORD}/oauth2/idpresponse" in client["CallbackURLs"]
    # someone repoints the stack's record by hand: drift says so, up points it back at the load balancer
    alias = records(zone)[RECORD]["AliasTarget"]
    change(zone, "UPSERT", RECORD, "192.0.2.99")
    assert [(i.address, i.status) for i in stack.drift().value] == [("route53.record.ui", "changed")]
    stack.up()
    assert records(zone)[RECORD]["AliasTarget"] == alias and stack.drift().value == []

    stack.down()
    assert RECORD not in records(zone)
    assert records(zone)["wiki.example.com"] == neighbour


def test_the_users_own_record_of_the_same_name_is_neither_repointed_nor_deleted(
    certificate: str, zone: str, tmp_path: Path
) -> None:
    change(zone, "CREATE", RECORD, "192.0.2.10")  # the old UI, say
    theirs = records(zone)[RECORD]
    stack = Stack(ui_config(tmp_path, certificate, **dns(zone)))
    # The alias points at the load balancer, unknown before it exists: the record's turn comes after it.
    run = stack.run("up", core.up).value.run
    assert run is not None and list(run.failed) == ["route53.record.ui"]
    assert "not this stack's" in str(run.failed["route53.record.ui"].error)
    assert records(zone)[RECORD] == theirs
    # now the target is known: up refuses before any change
    with pytest.raises(EngineError, match=r"route53\.record\.ui: .*not this stack's"):
        stack.up()
    stack.down()
    assert records(zone)[RECORD] == theirs and "route53.record.ui" not in stack.state().resources


def test_drift_names_a_console_change_of_the_sign_in_and_up_repairs_it(
    certificate: str, secret_arn: str, tmp_path: Path
) -> None:
    stack = Stack(ui_config(tmp_path, certificate, **oidc(secret_arn)))
    stack.up()
    assert stack.drift().value == []
    listener = https_listener(stack)
    # someone points the sign-in at another provider in the console
    actions = []
    for a in listener["DefaultActions"]:
        if a["Type"] == "authenticate-oidc":
            a = {**a, "AuthenticateOidcConfig": {**a["AuthenticateOidcConfig"], "Issuer": "https://evil.example.net"}}
        actions.append(a)
    boto3.client("elbv2").modify_listener(ListenerArn=listener["ListenerArn"], DefaultActions=actions)

    items = stack.drift().value
    assert [(i.address, i.status, [c.field for c in i.changes]) for i in items] == [
        ("elbv2.listener.ui_https", "changed", ["default_actions"])
    ]
    assert stack.up().mutating
    ((_, action),) = auth_of(https_listener(stack)["DefaultActions"])
    assert action["AuthenticateOidcConfig"]["Issuer"] == ISSUER
    assert stack.drift().value == []


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Guard:
    """Every AWS call of the test checked against ``guard.policy`` once ``guard.on`` (tests/iam)."""
    g = Guard()
    record_calls(monkeypatch, hooks=[g])
    return g


def test_the_generated_policy_is_enough_for_oidc_and_the_record(
    guard: Guard, certificate: str, secret_arn: str, zone: str, tmp_path: Path
) -> None:
    """`mfprov permissions` for the UI with OIDC and a record: the secret (read only) and the zone are granted,
    no Cognito, and up, drift, a second up and down run under that policy alone."""
    g = guard
    path = ui_config(tmp_path, certificate, **oidc(secret_arn), **dns(zone))
    g.policy = generated(path)
    def listed(v: str | list[str]) -> list[str]:
        return [v] if isinstance(v, str) else v

    granted = {(a, r) for st in g.policy["Statement"] for a in listed(st["Action"]) for r in listed(st["Resource"])}
    assert ("secretsmanager:GetSecretValue", secret_arn) in granted
    assert not any(a == "secretsmanager:PutSecretValue" and r == secret_arn for a, r in granted)
    assert ("route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{zone}") in granted
    assert not any(a.startswith("cognito-idp:") for a, _ in granted)
    g.on = True
    lifecycle(Stack(path))
    assert [f"{c.call.operation}: {d}" for c in g.checked for d in c.decisions if not d] == []
    assert {c.call.operation for c in g.checked} >= {"GetSecretValue", "ChangeResourceRecordSets"}


# --------------------------------------------------------------------------------------------- config, no AWS

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:metaflow-ui-oidc-AbCdEf"
COMPLETE = {
    "type": "oidc",
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "user_info_endpoint": f"{ISSUER}/userinfo",
    "client_id": "metaflow-ui",
    "client_secret_arn": SECRET,
}


def ui(**settings: Any) -> dict[str, Any]:
    return {"name": "t1", "preset": "standard", "suffix": "abc12345",
            "ui": {"certificate_arn": CERT, "allow_cidrs": [ALLOW], **settings}}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            ui(auth={"type": "oidc", "issuer": ISSUER, "client_id": "x"}),
            "ui.auth: type = 'oidc' needs authorization_endpoint, token_endpoint, user_info_endpoint, "
            "client_secret_arn",
        ),
        (ui(cognito=True, auth=COMPLETE), "ui: cognito = true and auth.type = 'oidc' choose two sign-ins"),
        (ui(dns={"record_name": RECORD}), "ui.dns: give both zone_id and record_name, or neither"),
        (ui(dns={"zone_id": "Z123"}), "ui.dns: give both zone_id and record_name, or neither"),
        (ui(auth={**COMPLETE, "issuer": "http://idp.example.com"}), "ui.auth: issuer must be an https:// URL"),
        (ui(auth={**COMPLETE, "client_secret_arn": "s3cr3t"}), "is not a Secrets Manager secret ARN"),
        (ui(auth={"type": "cognito", "client_id": "x"}), "ui.auth: client_id apply to type = 'oidc' only"),
        (ui(auth={**COMPLETE, "cognito_domain": "my-ui"}), "cognito_domain applies to type = 'cognito' only"),
        (ui(cognito_domain="my-ui", auth=COMPLETE), "cognito_domain applies to type = 'cognito' only"),
        (
            ui(public_domain="ui.example.com", dns={"zone_id": "Z123", "record_name": RECORD}),
            "ui: dns.record_name 'metaflow.example.com' and public_domain 'ui.example.com' differ",
        ),
        (ui(internal=True, auth=COMPLETE), "needs a NAT gateway"),
    ],
)
def test_a_config_that_cannot_work_is_refused_in_one_line(data: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    problems = str(info.value).splitlines()[1:]
    assert len(problems) == 1 and line in problems[0], str(info.value)


def test_the_older_cognito_switch_still_means_what_it_did() -> None:
    assert parse_config(ui(cognito=False)).ui.auth.type == "none"
    assert parse_config(ui(cognito=True)).ui.auth.type == "cognito"
    assert parse_config(ui()).ui.auth.type == "cognito"  # the UI's default, as before
    assert parse_config(ui(cognito=False, auth={"type": "none"})).ui.auth.type == "none"
    legacy = parse_config(ui(cognito_domain="my-ui"))
    assert legacy.cognito_domain == "my-ui" and legacy.ui.auth.cognito_domain == "my-ui"


def test_an_internal_ui_signs_in_through_the_nat_of_a_private_network() -> None:
    cfg = parse_config({**ui(internal=True, auth=COMPLETE), "network": {"private": True}})
    assert cfg.ui.auth.type == "oidc" and cfg.ui.internal


def test_the_starter_file_offers_every_sign_in_and_dns_key() -> None:
    from provisioner.cli.init_template import TEMPLATE

    data = tomllib.loads(TEMPLATE.format(name="t1", stack="metaflow", preset="standard", suffix="abc12345"))
    assert data["ui"]["auth"]["type"] == "cognito" and set(data["ui"]["dns"]) == {"zone_id", "record_name"}
    text = TEMPLATE.split("[ui.auth]", 1)[1].split("[timeouts]", 1)[0]
    for key in COMPLETE:
        assert f"{key} = " in text, key
