"""`mfprov permissions`: the policy it prints is enough for `up`, `drift` and `down`, and no statement is spare.

Every AWS call of a run in the in-process sandbox is checked, before it is sent, the way AWS authorizes it
(``tests/iam/provisioning_calls.py``: action, resource ARN from the call's parameters, a role passed, tags given
at create; ``tests/iam/evaluator.py``: identity-policy evaluation), against only the policy ``mfprov permissions``
generates for the same config; a denied call is answered with AWS's AccessDenied.

What the sandbox cannot show: the checks AWS makes that no call of this run exercises (a service-linked role AWS
creates on first use, KMS grants an integrated service makes, calls only an update or a failure path makes).
``test_every_statement_is_needed`` names them instead of passing over them.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.core.session import is_mutating, service_model, shared_loader
from provisioner.ops import permissions as perms
from resources import load_all
from resources.base import REGISTRY
from tests.conftest import ACCOUNT
from tests.iam.calls import Check, Env
from tests.iam.evaluator import Decision, Evaluator
from tests.iam.provisioning_calls import provisioning_checks
from tests.iam.recording import ENGINE, Call, Recording, record_calls
from tests.stack.conftest import Stack, write_config

PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/ci"


@dataclass
class Checked:
    call: Call
    checks: list[Check]
    decisions: list[Decision]


@dataclass
class Guard:
    """The policy in force, and every call checked against it."""

    policy: dict[str, Any] = field(default_factory=dict)
    env: Env = field(default_factory=lambda: Env(account=ACCOUNT, principal_arn=PRINCIPAL))
    checked: list[Checked] = field(default_factory=list)
    on: bool = False

    @functools.cached_property
    def unwatched_iam(self) -> Any:
        """The moto backend, through a session the guard does not watch (``record_calls`` hooks every session
        ``botocore.session.get_session`` makes), sharing the process's parsed models."""
        core = botocore.session.Session()
        core.register_component("data_loader", shared_loader())
        return boto3.session.Session(botocore_session=core).client("iam")

    def role_of_profile(self, profile_arn: str) -> str:
        name = profile_arn.rsplit("/", 1)[1]
        roles = self.unwatched_iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
        return str(roles[0]["Arn"]) if roles else f"arn:aws:iam::{ACCOUNT}:role/(none)"

    def __call__(self, call: Call) -> None:
        if not self.on:
            return
        checks = provisioning_checks(call.service, call.operation, call.params, self.env, self.role_of_profile)
        decisions = Evaluator([self.policy]).authorize(checks)
        self.checked.append(Checked(call, checks, decisions))
        denied = next((d for d in decisions if not d), None)
        if denied is not None:
            code = {"s3": "AccessDenied", "ec2": "UnauthorizedOperation"}.get(call.service, "AccessDeniedException")
            raise ClientError(
                {
                    "Error": {
                        "Code": code,
                        "Message": f"User: {PRINCIPAL} is not authorized to perform: {denied.action} on resource: "
                        f"{denied.resource} because no identity-based policy allows the {denied.action} action",
                    }
                },
                call.operation,
            )


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Guard, Recording]]:
    g = Guard()
    rec = record_calls(monkeypatch, hooks=[g])
    yield g, rec


def generated(path: Path) -> dict[str, Any]:
    """What `mfprov permissions --json` prints for the config at ``path`` (credentials: moto's account)."""
    result = CliRunner().invoke(cli, ["--config", str(path), "permissions", "--json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def full_ui_config(directory: Path) -> Path:
    from tests.stack.test_full_stack import full_config

    arn = boto3.client("acm").request_certificate(DomainName="metaflow.example.com")["CertificateArn"]
    return full_config(directory, arn)


def config_of(name: str, directory: Path) -> Path:
    from tests.stack.test_mlflow_stack import ALLOW, mlflow_config

    if name == "mlflow":
        return mlflow_config(directory / "m1")
    if name == "mlflow-every-option":  # Aurora, HTTPS, Cognito sign-in, a Route 53 record, the CPU policy
        cert = boto3.client("acm").request_certificate(DomainName="mlflow.example.com")["CertificateArn"]
        zone = boto3.client("route53").create_hosted_zone(Name="example.com", CallerReference="permissions")
        return mlflow_config(
            directory / "m2",
            **{
                'engine = "postgres"': 'engine = "aurora-postgresql"',
                "internal = true": "internal = false",
                "allow_cidrs = []": f'allow_cidrs = ["{ALLOW}"]',
                'certificate_arn = ""': f'certificate_arn = "{cert}"',
                'type = "none"': 'type = "cognito"',
                'zone_id = ""': f'zone_id = "{zone["HostedZone"]["Id"].rsplit("/", 1)[-1]}"',
                'record_name = ""': 'record_name = "mlflow.example.com"',
                "# cpu_target = 60": "cpu_target = 60",
            },
        )
    if name == "full":
        return full_ui_config(directory)
    return write_config(directory, preset=name)


def sandbox_gaps(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's gaps the stack tests fill the same way (tests/conftest.py, tests/stack/test_mlflow_stack.py)."""
    from provisioner.sandbox import shims as sandbox_shims

    sandbox_shims.install(lambda target, attr, value: monkeypatch.setattr(target, attr, value, raising=False))
    if name.startswith("mlflow"):
        from tests.stack import test_mlflow_stack

        test_mlflow_stack.grace_period_kept.__wrapped__(monkeypatch)  # type: ignore[attr-defined]


def lifecycle(stack: Stack) -> None:
    """up, drift (in sync), a second up (nothing to do), down of everything."""
    stack.up()
    assert stack.drift().value == []
    assert stack.up().value.plan.empty
    stack.down(delete_protected=True)


PRESETS = ["personal", "standard", "full", "mlflow", "mlflow-every-option"]


def test_every_registered_kind_has_an_entry() -> None:
    load_all()
    assert set(REGISTRY) - set(perms.KIND_GRANTS) == set(), "resource kinds without IAM grants"
    assert set(perms.KIND_GRANTS) - set(REGISTRY) == set(), "grants for kinds that no longer exist"


@pytest.mark.parametrize("name", PRESETS)
def test_up_drift_down_need_nothing_more(
    name: str,
    guard: tuple[Guard, Recording],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    moto_account: None,
) -> None:
    """The run needs nothing beyond the generated policy, and (every_statement_is_needed) nothing in it is spare."""
    g, rec = guard
    sandbox_gaps(name, monkeypatch)
    path = config_of(name, tmp_path)
    g.policy = generated(path)
    assert ACCOUNT in json.dumps(g.policy)  # the credentials' account, from STS
    g.on = True
    lifecycle(Stack(path))
    denied = [f"{c.call.service}:{c.call.operation}: {d}" for c in g.checked for d in c.decisions if not d]
    assert denied == []
    # Every call a resource kind's hooks make is among its kind's grants (the engine's among the engine's).
    missing = set()
    for c in g.checked:
        grants = perms.ENGINE_GRANTS if c.call.kind == ENGINE else perms.grants_of(c.call.kind)
        listed = {a for gr in grants for a in gr.actions}
        missing |= {(c.call.kind, ch.action) for ch in c.checks if ch.action not in listed}
    assert missing == set()
    every_statement_is_needed(name, g.policy, g.checked)


def every_statement_is_needed(name: str, policy: dict[str, Any], checked: list[Checked]) -> None:
    """Removing any statement denies some call of the run, unless the statement holds only checks no call of the
    sandbox run makes (listed: AWS makes them, the sandbox cannot). Checked within each preset's own run, so no
    test depends on another having run in the same worker."""
    sole: set[str] = set()
    exercised: set[str] = set()
    for c in checked:
        for d in c.decisions:
            exercised |= set(d.statements)
            if len(d.statements) == 1:
                sole |= set(d.statements)
    sids = {st["Sid"] for st in policy["Statement"]}
    spare = sids & exercised - sole
    assert spare == set(), f"{name}: statements that other statements make redundant"
    unexercised = sids - exercised
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    actions = {a for s in unexercised for a in by_sid[s]["Action"]}
    # Only what the sandbox cannot show: roles AWS creates, KMS grants services make, calls of update paths.
    assert all(a.split(":", 1)[0] in UNEXERCISED_SERVICES or a in UNEXERCISED_ACTIONS for a in actions), (
        name,
        sorted(actions - UNEXERCISED_ACTIONS),
    )


#: statements of these services hold only checks AWS makes behind the call (a service-linked role, a KMS grant, a
#: CloudWatch alarm of a scaling policy) or calls the sandbox run does not make
UNEXERCISED_SERVICES = {"cloudwatch"}
UNEXERCISED_ACTIONS = {
    "iam:CreateServiceLinkedRole",
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:RetireGrant",
    # the preflight's: moto's default caller (sts ...:user/moto) is no IAM user, so it is skipped here; the IAM
    # user of tests/iam/test_preflight.py exercises it
    "iam:SimulatePrincipalPolicy",
    # API Gateway makes a VPC endpoint service of the NLB for a VPC link, as the caller
    "ec2:CreateVpcEndpointServiceConfiguration",
    "ec2:DeleteVpcEndpointServiceConfigurations",
    "ec2:DescribeVpcEndpointServiceConfigurations",
    "ec2:ModifyVpcEndpointServicePermissions",
}


def personal_statements() -> list[str]:
    """The Sids of the personal stack's policy (the account does not change them)."""
    import tempfile

    from provisioner.stacks.config import load_config

    with tempfile.TemporaryDirectory() as d:
        cfg = load_config(write_config(Path(d)))
    doc = perms.policy_for(cfg, "us-east-1", ACCOUNT, "aws").document()
    return [
        st["Sid"]
        for st in doc["Statement"]
        if not all(a.split(":", 1)[0] in UNEXERCISED_SERVICES or a in UNEXERCISED_ACTIONS for a in st["Action"])
    ]


def test_rotate_needs_nothing_more(
    guard: tuple[Guard, Recording], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_account: None
) -> None:
    """`mfprov rotate db-password` and `rotate api-key` under the policy `mfprov permissions` prints: nothing is
    denied, and the one action rotation adds (moving the secret's staging labels) is used."""
    g, _ = guard
    sandbox_gaps("standard", monkeypatch)
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "metaflowconfig"))
    path = config_of("standard", tmp_path)
    g.policy = generated(path)
    Stack(path).up()
    g.on = True
    for what in ("db-password", "api-key"):
        result = CliRunner().invoke(cli, ["--config", str(path), "rotate", what])
        assert result.exit_code == 0, result.output
    denied = [f"{c.call.service}:{c.call.operation}: {d}" for c in g.checked for d in c.decisions if not d]
    assert denied == []
    used = {ch.action for c in g.checked for ch in c.checks}
    assert {"secretsmanager:UpdateSecretVersionStage", "rds:ModifyDBInstance", "ecs:UpdateService"} <= used


@pytest.mark.parametrize("sid", personal_statements())
def test_without_any_one_statement_up_stops_with_one_line(
    sid: str, guard: tuple[Guard, Recording], moto_account: None, tmp_path: Path
) -> None:
    g, _ = guard
    path = write_config(tmp_path)
    policy = generated(path)
    removed = next(st for st in policy["Statement"] if st["Sid"] == sid)
    policy["Statement"].remove(removed)
    g.policy, g.on = policy, True
    # up, drift and down, until one of them stops (a batched read is needed only once the state knows 3 roles)
    for command in (["up", "--yes"], ["drift"], ["down", "--yes", "--delete-protected"]):
        result = CliRunner().invoke(cli, ["--config", str(path), *command])
        if result.exit_code != 0:
            break
    assert result.exit_code == 1, f"{command} did not stop"
    actions = "|".join(re.escape(a) for a in removed["Action"])
    said = re.compile(rf"the credentials in use lack ({actions}) on \S+$")
    assert any(said.search(line) for line in result.stderr.splitlines()), result.stderr
    assert "not authorized" not in result.stderr


def test_a_missing_read_permission_stops_up_before_any_change(
    guard: tuple[Guard, Recording], moto_account: None, tmp_path: Path
) -> None:
    g, _ = guard
    path = write_config(tmp_path)
    policy = generated(path)
    roles = next(st for st in policy["Statement"] if "iam:CreateRole" in st["Action"])
    policy["Statement"].remove(roles)
    g.policy, g.on = policy, True
    result = CliRunner().invoke(cli, ["--config", str(path), "up", "--yes"])
    assert result.exit_code == 1
    said = re.compile(rf"the credentials in use lack iam:\w+ on arn:aws:iam::{ACCOUNT}:role/metaflow-[\w-]+$")
    assert any(said.search(line) for line in result.stderr.splitlines()), result.stderr
    # it stopped while looking (refresh reads every role first): nothing was created, changed or deleted
    assert [c.call.operation for c in g.checked if is_mutating(c.call.operation)] == []


def test_permissions_without_credentials_writes_placeholders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = write_config(tmp_path, preset="standard")
    result = CliRunner().invoke(cli, ["--config", str(path), "permissions"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    text = json.dumps(doc)
    assert perms.ACCOUNT_PLACEHOLDER in text and perms.PARTITION_PLACEHOLDER in text
    roles = next(st for st in doc["Statement"] if "iam:CreateRole" in st["Action"])
    assert "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/metaflow-batch_s3_task_role-abc12345" in roles["Resource"]
    # every `*` is said, with its reason, on stderr
    unscoped = {a for st in doc["Statement"] if st["Resource"] == "*" for a in st["Action"]}
    assert unscoped and all(a in result.stderr for a in unscoped)
    assert "On * (" in result.stderr


def test_only_the_stack_s_own_names_are_granted(moto_account: None, tmp_path: Path) -> None:
    """Two stacks of one account: neither policy lets its holder touch the other's bucket, roles or table."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = generated(write_config(tmp_path / "a", name="aa"))
    other = write_config(tmp_path / "b", name="bb")
    other.write_text(other.read_text().replace("abc12345", "zzz99999"))
    second = generated(other)
    ev = Evaluator([first])
    env = Env(account=ACCOUNT)
    for service, op, params in (
        ("s3", "DeleteBucket", {"Bucket": "metaflow-s3-zzz99999"}),
        ("iam", "DeleteRole", {"RoleName": "metaflow-batch_s3_task_role-zzz99999"}),
        ("iam", "PutRolePolicy", {"RoleName": "metaflow-batch_s3_task_role-zzz99999"}),
        ("dynamodb", "DeleteTable", {"TableName": "metaflow-step_functions_state-zzz99999"}),
        ("batch", "DeleteJobQueue", {"jobQueue": "metaflow-zzz99999"}),
    ):
        checks = provisioning_checks(service, op, params, env, lambda arn: arn)
        assert ev.first_denied(checks) is not None, (service, op)
        assert Evaluator([second]).first_denied(checks) is None, (service, op)


def test_with_the_state_on_s3_the_state_object_is_granted_and_nothing_else_of_its_bucket(
    guard: tuple[Guard, Recording], moto_account: None, tmp_path: Path
) -> None:
    g, _ = guard
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="team-states")
    s3.put_bucket_versioning(Bucket="team-states", VersioningConfiguration={"Status": "Enabled"})
    path = write_config(tmp_path)
    path.write_text(path.read_text() + '\n[state]\nbackend = "s3"\nbucket = "team-states"\n')
    g.policy = generated(path)
    g.on = True
    lifecycle(Stack(path))
    state_calls = {c.call.operation for c in g.checked if c.call.params.get("Bucket") == "team-states"}
    assert {"GetObject", "PutObject", "DeleteObject"} <= state_calls  # the state, and its lock, were used
    assert [d for c in g.checked for d in c.decisions if not d] == []
    env = Env(account=ACCOUNT)
    other = provisioning_checks(
        "s3", "PutObject", {"Bucket": "team-states", "Key": "mfprov/other/state.json"}, env, lambda a: a
    )
    assert Evaluator([g.policy]).first_denied(other) is not None


@pytest.fixture
def moto_account() -> Iterator[None]:
    from moto import mock_aws

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (
            f"User: {PRINCIPAL} is not authorized to perform: iam:CreateRole on resource: "
            f"arn:aws:iam::{ACCOUNT}:role/r because no identity-based policy allows the iam:CreateRole action",
            f"the credentials in use lack iam:CreateRole on arn:aws:iam::{ACCOUNT}:role/r",
        ),
        (  # EC2's UnauthorizedOperation, with its encoded message
            "You are not authorized to perform this operation. User: arn:aws:sts::123456789012:assumed-role/ci/s is "
            "not authorized to perform: ec2:CreateVpc on resource: arn:aws:ec2:us-east-1:123456789012:vpc/* because "
            "no identity-based policy allows the ec2:CreateVpc action. Encoded authorization failure message: Xy1",
            "the credentials in use lack ec2:CreateVpc on arn:aws:ec2:us-east-1:123456789012:vpc/*",
        ),
        (  # S3 quotes the resource; an SCP's deny says so
            f'User: {PRINCIPAL} is not authorized to perform: s3:CreateBucket on resource: "arn:aws:s3:::b" with an '
            "explicit deny in a service control policy",
            "the credentials in use lack s3:CreateBucket on arn:aws:s3:::b",
        ),
        (
            "s3.bucket.datastore: CreateBucket failed: AccessDenied: User: x is not authorized to perform: "
            "s3:CreateBucket on resource: arn:aws:s3:::b because no identity-based policy allows it - hint",
            "s3.bucket.datastore: the credentials in use lack s3:CreateBucket on arn:aws:s3:::b",
        ),
        ("BucketAlreadyExists: the name is taken", "BucketAlreadyExists: the name is taken"),
    ],
)
def test_a_refusal_is_said_as_what_is_missing(message: str, said: str) -> None:
    assert perms.explain_denied(message) == said


#: IAM actions that are no API operation of their own (permission-only actions, S3's own names for its calls)
#: Budgets authorizes its calls as these two (Service Authorization Reference, "Amazon Budget Service")
NOT_OPERATIONS = {"iam:PassRole", "budgets:ModifyBudget", "budgets:ViewBudget"}


def test_every_granted_action_is_an_operation_of_its_service() -> None:
    """Action names are botocore operation names under the service's IAM prefix (its signing name): a typo, or an
    operation renamed, would grant nothing."""
    operations: dict[str, set[str]] = {}
    for name in (*perms.SERVICES_USED, "cloudwatch"):
        model = service_model(name)
        prefix = {"tagging": "tag", "monitoring": "cloudwatch"}.get(model.signing_name, model.signing_name)
        operations.setdefault(prefix, set()).update(model.operation_names)
    load_all()
    grants = [g for kind in REGISTRY for g in perms.grants_of(kind)] + list(perms.ENGINE_GRANTS)
    unknown = {
        a
        for g in grants
        for a in g.actions
        if a not in NOT_OPERATIONS
        and not a.startswith(("s3:", "apigateway:"))  # S3 names its actions apart; API Gateway's are HTTP verbs
        and a.split(":", 1)[1] not in operations.get(a.split(":", 1)[0], set())
    }
    assert unknown == set()
