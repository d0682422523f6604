"""The standard Metaflow stack (personal + the metadata service) against moto."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from provisioner.cli.main import cli
from provisioner.ops import app as core
from tests.stack.conftest import Stack, inventory, write_config

#: terraform-aws-metaflow's metaflow_profile_json keys with the metadata service, API Gateway and basic auth
#: on, and no ECR or Fargate (§4.4: B + D)
TERRAFORM_PROFILE_KEYS = {
    "METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_DATATOOLS_S3ROOT", "METAFLOW_BATCH_JOB_QUEUE",
    "METAFLOW_ECS_S3_ACCESS_IAM_ROLE", "METAFLOW_SERVICE_URL", "METAFLOW_SERVICE_INTERNAL_URL",
    "METAFLOW_SFN_IAM_ROLE", "METAFLOW_SFN_STATE_MACHINE_PREFIX", "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE",
    "METAFLOW_SFN_DYNAMO_DB_TABLE", "METAFLOW_DEFAULT_DATASTORE", "METAFLOW_DEFAULT_METADATA",
    "METAFLOW_SERVICE_AUTH_KEY",
}  # fmt: skip


@pytest.fixture
def standard(moto_account: None, tmp_path: Path) -> Stack:
    return Stack(write_config(tmp_path, preset="standard"))


def state_id(stack: Stack, address: str) -> str:
    return stack.state().resources[address].id


def test_standard_up_is_idempotent_and_in_sync(standard: Stack) -> None:
    standard.up()
    resources = standard.state().resources
    assert len(resources) == 50
    assert standard.up().mutating == {}
    assert standard.drift().value == []


def db_backup_retention(stack: Stack) -> None:
    boto3.client("rds").modify_db_instance(
        DBInstanceIdentifier=state_id(stack, "rds.db_instance.main"), BackupRetentionPeriod=1, ApplyImmediately=True
    )


def rds_ingress_opened(stack: Stack) -> None:
    boto3.client("ec2").authorize_security_group_ingress(
        GroupId=state_id(stack, "ec2.security_group.rds"),
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )


def log_retention(stack: Stack) -> None:
    boto3.client("logs").put_retention_policy(
        logGroupName=state_id(stack, "logs.log_group.metadata"), retentionInDays=1
    )


def api_key_disabled(stack: Stack) -> None:
    boto3.client("apigateway").update_api_key(
        apiKey=state_id(stack, "apigateway.api_key.metadata"),
        patchOperations=[{"op": "replace", "path": "/enabled", "value": "false"}],
    )


def throttle_changed(stack: Stack) -> None:
    boto3.client("apigateway").update_usage_plan(
        usagePlanId=state_id(stack, "apigateway.usage_plan.metadata"),
        patchOperations=[{"op": "replace", "path": "/throttle/rateLimit", "value": "9999"}],
    )


def desired_count(stack: Stack) -> None:
    cluster, name = state_id(stack, "ecs.service.metadata").split("|")
    boto3.client("ecs").update_service(cluster=cluster, service=name, desiredCount=4)


OUT_OF_BAND: list[tuple[Callable[[Stack], Any], str, str]] = [
    (db_backup_retention, "rds.db_instance.main", "backup_retention_days"),
    (rds_ingress_opened, "ec2.security_group.rds", "ingress"),
    (log_retention, "logs.log_group.metadata", "retention_days"),
    (api_key_disabled, "apigateway.api_key.metadata", "enabled"),
    (throttle_changed, "apigateway.usage_plan.metadata", "throttle_rate_limit"),
    (desired_count, "ecs.service.metadata", "desired_count"),
]


@pytest.mark.parametrize(("change", "address", "field"), OUT_OF_BAND, ids=[c[0].__name__ for c in OUT_OF_BAND])
def test_out_of_band_change_is_reported_and_repaired(
    standard: Stack, change: Callable[[Stack], Any], address: str, field: str
) -> None:
    standard.up()
    change(standard)
    items = standard.drift().value
    assert [(i.address, [c.field for c in i.changes]) for i in items] == [(address, [field])]
    standard.up()
    assert standard.drift().value == []


def test_profile_has_the_terraform_keys_and_the_real_api_key(
    standard: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METAFLOW_HOME", str(tmp_path / "mf"))
    standard.up()
    result = CliRunner().invoke(cli, ["--config", str(standard.path), "outputs", "--write-profile", "std"])
    assert result.exit_code == 0, result.output
    profile = json.loads((tmp_path / "mf" / "config_std.json").read_text())
    assert set(profile) == TERRAFORM_PROFILE_KEYS
    key_id = state_id(standard, "apigateway.api_key.metadata")
    assert (
        profile["METAFLOW_SERVICE_AUTH_KEY"]
        == boto3.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
    )
    assert profile["METAFLOW_DEFAULT_METADATA"] == "service"
    api = state_id(standard, "apigateway.rest_api.metadata")
    assert profile["METAFLOW_SERVICE_URL"] == f"https://{api}.execute-api.us-east-1.amazonaws.com/api/"
    assert profile["METAFLOW_SERVICE_INTERNAL_URL"].startswith("http://") and profile[
        "METAFLOW_SERVICE_INTERNAL_URL"
    ].endswith("/")

    # On the console the key is masked unless asked for.
    shown = CliRunner().invoke(cli, ["--config", str(standard.path), "outputs", "--json"])
    assert profile["METAFLOW_SERVICE_AUTH_KEY"] not in shown.output
    clear = CliRunner().invoke(cli, ["--config", str(standard.path), "outputs", "--json", "--show-secrets"])
    assert json.loads(clear.stdout)["METAFLOW_SERVICE_AUTH_KEY"] == profile["METAFLOW_SERVICE_AUTH_KEY"]


def test_the_db_password_is_nowhere(standard: Stack, caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    import logging

    # Everything mfprov logs, at every level it uses (botocore's own DEBUG wire log prints request bodies, as
    # for any AWS SDK; mfprov never turns it on).
    caplog.set_level(logging.DEBUG, logger="provisioner")
    caplog.set_level(logging.INFO)
    runner = CliRunner()
    args = ["--config", str(standard.path)]
    texts = [runner.invoke(cli, [*args, "plan", "-v"]).output, runner.invoke(cli, [*args, "up", "--yes"]).output]
    texts.append(runner.invoke(cli, [*args, "outputs", "--json"]).output)
    texts.append(runner.invoke(cli, [*args, "drift", "--json"]).output)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=state_id(standard, "secretsmanager.secret.db"))
    password = json.loads(secret["SecretString"])["password"]
    assert len(password) >= 16
    state_dir = standard.path.parent / ".mfprov"
    texts += [p.read_text() for p in state_dir.iterdir() if p.is_file()]
    texts.append(caplog.text)
    td = boto3.client("ecs").describe_task_definition(taskDefinition=state_id(standard, "ecs.task_definition.metadata"))
    container = td["taskDefinition"]["containerDefinitions"][0]
    texts.append(json.dumps(container["environment"]))
    assert [s["name"] for s in container["secrets"]] == ["MF_METADATA_DB_PSWD"]
    for text in texts:
        assert password not in text


def test_down_keeps_the_database_until_told_and_takes_a_final_snapshot(standard: Stack) -> None:
    before = inventory()
    standard.up()
    kept = standard.down().value.kept
    # The database, and what it cannot live without; the service, its load balancer and API are gone.
    assert "rds.db_instance.main" in kept and "rds.db_subnet_group.main" in kept and "kms.key.rds" in kept
    assert not any(a.startswith(("ecs.", "elbv2.", "apigateway.", "lambda.")) for a in kept)
    assert boto3.client("rds").describe_db_instances()["DBInstances"]
    assert boto3.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    standard.up()  # everything comes back around the same database
    assert standard.drift().value == []
    out = standard.down(delete_protected=True)
    assert any("final snapshot metaflow-metaflow-abc12345-final" in e.message for e in out.events)
    snaps = boto3.client("rds").describe_db_snapshots()["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snaps] == ["metaflow-metaflow-abc12345-final"]
    assert inventory() == before
    assert boto3.client("rds").describe_db_instances()["DBInstances"] == []
    assert boto3.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert boto3.client("ecs").list_clusters()["clusterArns"] == [] or all(
        c["status"] == "INACTIVE"
        for c in boto3.client("ecs").describe_clusters(clusters=boto3.client("ecs").list_clusters()["clusterArns"])[
            "clusters"
        ]
    )
    assert boto3.client("apigateway").get_rest_apis()["items"] == []
    assert boto3.client("lambda").list_functions()["Functions"] == []
    assert [s for s in boto3.client("secretsmanager").list_secrets()["SecretList"]] == []


def test_changing_the_instance_class_modifies_in_place(standard: Stack) -> None:
    standard.up()
    text = standard.path.read_text().replace('instance_class = "db.t4g.small"', 'instance_class = "db.m7g.large"')
    standard.path.write_text(text)
    plan = standard.run("plan", core.plan).value
    assert [(a.address, a.action) for a in plan.changes] == [("rds.db_instance.main", "update")]
    standard.up()
    db = boto3.client("rds").describe_db_instances()["DBInstances"][0]
    assert db["DBInstanceClass"] == "db.m7g.large"
    assert standard.drift().value == []


@pytest.mark.parametrize("n", [5, 30])
def test_interrupted_standard_up_resumes_without_duplicates(
    standard: Stack, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    from provisioner.core.session import ClientFactory
    from tests.stack.test_personal_stack import FailAfter

    standard.path.write_text(standard.path.read_text().replace("parallelism = 8", "parallelism = 1"))
    hook = FailAfter(n, "after-call")
    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register("after-call", hook)

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    assert not standard.run("up", core.up).value.run.ok
    monkeypatch.setattr(ClientFactory, "__init__", original)
    standard.up()
    assert len(standard.state().resources) == 50
    assert standard.drift().value == []
    assert len(boto3.client("rds").describe_db_instances()["DBInstances"]) == 1
    assert len(boto3.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 1
    assert len(boto3.client("apigateway").get_rest_apis()["items"]) == 1
    assert len(boto3.client("secretsmanager").list_secrets()["SecretList"]) == 1


def test_aurora_serverless_v2_option(moto_account: None, tmp_path: Path) -> None:
    path = write_config(tmp_path, preset="standard")
    path.write_text(path.read_text().replace('engine = "postgres"  ', 'engine = "aurora-postgresql"  ', 1))
    stack = Stack(path)
    stack.up()
    addresses = set(stack.state().resources)
    assert {"rds.db_cluster.main", "rds.db_cluster_instance.main_1"} <= addresses
    assert "rds.db_instance.main" not in addresses
    cluster = boto3.client("rds").describe_db_clusters()["DBClusters"][0]
    assert cluster["Engine"] == "aurora-postgresql" and cluster["StorageEncrypted"]
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4.0}
    assert stack.up().mutating == {}
    assert stack.drift().value == []
    stack.down(delete_protected=True)
    assert boto3.client("rds").describe_db_clusters()["DBClusters"] == []
    snapshots = boto3.client("rds").describe_db_cluster_snapshots(SnapshotType="manual")["DBClusterSnapshots"]
    assert [s["DBClusterSnapshotIdentifier"] for s in snapshots] == ["metaflow-metaflow-abc12345-final"]


@pytest.mark.parametrize(
    ("metadata", "has_api"),
    [
        (("api_allow_cidrs = []", 'api_allow_cidrs = ["203.0.113.0/24"]'), True),
        (("api_gateway = true", "api_gateway = false"), False),
    ],
    ids=["allow-list", "no-api-gateway"],
)
def test_api_gateway_options(moto_account: None, tmp_path: Path, metadata: tuple[str, str], has_api: bool) -> None:
    path = write_config(tmp_path, preset="standard")
    text = path.read_text()
    assert metadata[0] in text
    path.write_text(text.replace(metadata[0], metadata[1], 1))
    stack = Stack(path)
    stack.up()
    assert stack.up().mutating == {}
    assert stack.drift().value == []
    apis = boto3.client("apigateway").get_rest_apis()["items"]
    profile = stack.state().outputs
    if has_api:
        policy = apis[0]["policy"]
        assert "203.0.113.0/24" in policy and "NotIpAddress" in policy
        assert profile["METAFLOW_SERVICE_URL"].startswith("https://")
    else:
        assert apis == []
        assert profile["METAFLOW_SERVICE_URL"] == ""
        assert not any(a.startswith("apigateway.") for a in stack.state().resources)


def test_lost_state_is_rebuilt_from_tags_and_names(standard: Stack) -> None:
    import shutil

    before = inventory()
    standard.up()
    made = {k: len(v) for k, v in inventory().items()}
    shutil.rmtree(standard.path.parent / ".mfprov")

    again = standard.up()
    assert again.mutating == {}, "adopting what exists must change nothing"
    assert len(standard.state().resources) == 50
    assert {k: len(v) for k, v in inventory().items()} == made  # no duplicates
    assert standard.drift().value == []

    shutil.rmtree(standard.path.parent / ".mfprov")
    standard.down(delete_protected=True)
    assert inventory() == before


def test_drift_reads_in_batches(standard: Stack) -> None:
    """A drift of the standard stack reads each type with as few calls as its API allows: the IAM roles in two
    account-wide reads, the load balancers' and their parts' tags in one call, API Gateway's resources and
    methods in one listing, no zone lookup (the state keeps them)."""
    standard.up()
    calls = standard.drift().calls
    assert calls["iam:GetAccountAuthorizationDetails"] == 1 and calls["iam:ListRoles"] == 1
    assert "iam:GetRole" not in calls and "iam:GetRolePolicy" not in calls
    assert calls["elbv2:DescribeTags"] == 1
    assert calls["apigateway:GetResources"] == 1 and "apigateway:GetMethod" not in calls
    assert "ec2:DescribeAvailabilityZones" not in calls
    assert sum(calls.values()) <= len(standard.state().resources) * 1.3
