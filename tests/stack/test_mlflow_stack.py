"""The mlflow stack (a tracking server on Fargate, PostgreSQL, S3 artifacts, an ALB) against in-process moto: a
second up changes nothing, drift is clean after up, out-of-band changes (a listener rule, the bucket's
versioning, the database's backup retention, the scaling target's max) are reported field by field and repaired,
down keeps what holds data and ``--delete-protected`` leaves nothing, an interrupted up resumes without twins, two
stacks stand side by side and go without a trace (a copy with the same names is refused before it makes anything),
and the database password is in none of it. Then the config's
refusals and the blueprint's options without AWS, and one run of the CLI against the sandbox (a moto server).

moto gaps, worked around test-side only:
- ECS: CreateService drops ``healthCheckGracePeriodSeconds`` (UpdateService keeps it): ``grace_period_kept``
  puts it on the service moto made, as AWS keeps it from the create call;
- RDS: moto keeps an Aurora cluster's automated snapshot (``rds:<cluster>-<date>``) after the cluster is deleted
  (DeleteDBCluster deletes automated backups by default on AWS): ``left_after_down`` does not count it;
- ELBv2: an HTTPS listener needs a certificate moto's ACM knows, so the tests request one first (as a user would);
  Route 53: the alias record needs a hosted zone, made first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.cli.init_template_mlflow import TEMPLATE
from provisioner.core.context import Facts
from provisioner.core.session import ClientFactory
from provisioner.engine.reconcile import EngineError
from provisioner.ops import app as core
from provisioner.stacks import mlflow
from provisioner.stacks.config import ConfigError, parse_config
from tests.stack.conftest import Stack, leftovers
from tests.stack.test_personal_stack import FailAfter

#: the resources of the default mlflow stack (2 AZs, public subnets, RDS PostgreSQL, HTTP, no sign-in or DNS)
DEFAULT_COUNT = 28
ALLOW = "198.51.100.0/24"
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
FACTS = Facts(account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))


def mlflow_config(directory: Path, name: str = "m1", suffix: str = "abc12345", **replace: str) -> Path:
    """The starter file ``mfprov init --stack mlflow`` writes, with a tag, and replacements (each must exist)."""
    directory.mkdir(parents=True, exist_ok=True)
    text = TEMPLATE.format(name=name, stack="mlflow", preset="standard", suffix=suffix)
    text = text.replace("[tags]", '[tags]\nteam = "ml"', 1)
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path = directory / "mfprov.toml"
    path.write_text(text)
    return path


def left_after_down(stack: str) -> list[str]:
    """``leftovers`` less an Aurora cluster's automated snapshot, which moto keeps after the cluster is gone."""
    return [arn for arn in leftovers(stack) if ":cluster-snapshot:rds:" not in arn]


def final_snapshot(suffix: str = "abc12345") -> str:
    """The database's final snapshot, kept on purpose by ``down --delete-protected`` (it holds the data)."""
    return f"arn:aws:rds:us-east-1:123456789012:snapshot:mlflow-db-{suffix}-final"


@pytest.fixture(autouse=True)
def grace_period_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for a moto gap: its CreateService drops healthCheckGracePeriodSeconds (AWS keeps it)."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    original = EC2ContainerServiceResponse.create_service

    def create_service(self: Any) -> Any:
        result = original(self)
        grace = self._get_int_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service = self.ecs_backend._get_service(
                self._get_param("cluster", "default"), self._get_param("serviceName")
            )
            service.health_check_grace_period_seconds = grace
        return result

    monkeypatch.setattr(EC2ContainerServiceResponse, "create_service", create_service)


@pytest.fixture
def stack(moto_account: None, tmp_path: Path) -> Stack:
    return Stack(mlflow_config(tmp_path / "m1"))


def state_id(stack: Stack, address: str) -> str:
    return stack.state().resources[address].id


def password(stack: Stack) -> str:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=state_id(stack, "secretsmanager.secret.db"))
    return str(json.loads(secret["SecretString"])["password"])


# ------------------------------------------------------------------------------------------ in moto


def test_up_is_idempotent_in_sync_least_privilege_and_down_leaves_nothing(stack: Stack) -> None:
    first = stack.up()
    resources = stack.state().resources
    assert len(resources) == DEFAULT_COUNT
    assert all(r.status == "ready" for r in resources.values())
    assert first.mutating
    again = stack.up()
    assert again.value.plan.changes == [] and again.mutating == {}
    assert stack.drift().value == []

    # outputs: where MLflow is, where its artifacts go
    out = stack.state().outputs
    alb = boto3.client("elbv2").describe_load_balancers(Names=["mlflow-alb-abc12345"])["LoadBalancers"][0]
    assert alb["Scheme"] == "internal" and alb["Type"] == "application"
    assert out == {
        "tracking_uri": f"http://{alb['DNSName']}",
        "artifact_root": "s3://mlflow-artifacts-abc12345/mlflow",
        "artifact_bucket": "mlflow-artifacts-abc12345",
        "alb_name": "mlflow-alb-abc12345",
        "alb_dns_name": alb["DNSName"],
        "log_group": "/aws/ecs/mlflow-server-abc12345",
        "region": "us-east-1",
    }

    # the database: encrypted with the stack's key, backups on, deletion protection, reachable from the server only
    db = boto3.client("rds").describe_db_instances(DBInstanceIdentifier="mlflow-db-abc12345")["DBInstances"][0]
    key = boto3.client("kms").describe_key(KeyId=state_id(stack, "kms.key.mlflow"))["KeyMetadata"]["Arn"]
    assert db["StorageEncrypted"] and db["KmsKeyId"] == key and db["BackupRetentionPeriod"] == 7
    assert db["DeletionProtection"] and db["Engine"] == "postgres" and not db["PubliclyAccessible"]
    ec2 = boto3.client("ec2")
    groups = {
        a: ec2.describe_security_groups(GroupIds=[state_id(stack, f"ec2.security_group.{a}")])["SecurityGroups"][0]
        for a in ("alb", "server", "db")
    }
    vpc_cidr = "10.20.0.0/16"
    assert [(p["FromPort"], [r["CidrIp"] for r in p["IpRanges"]]) for p in groups["alb"]["IpPermissions"]] == [
        (80, [vpc_cidr])
    ]
    (server_in,) = groups["server"]["IpPermissions"]
    assert server_in["FromPort"] == 5000 and server_in["IpRanges"] == []
    assert [g["GroupId"] for g in server_in["UserIdGroupPairs"]] == [groups["alb"]["GroupId"]]
    (db_in,) = groups["db"]["IpPermissions"]
    assert db_in["FromPort"] == 5432 and [g["GroupId"] for g in db_in["UserIdGroupPairs"]] == [
        groups["server"]["GroupId"]
    ]
    assert groups["db"]["IpPermissionsEgress"] == []

    # the bucket: versioned, SSE-KMS with the stack's key, no public access
    s3 = boto3.client("s3")
    assert s3.get_bucket_versioning(Bucket="mlflow-artifacts-abc12345")["Status"] == "Enabled"
    sse = s3.get_bucket_encryption(Bucket="mlflow-artifacts-abc12345")["ServerSideEncryptionConfiguration"]
    assert sse["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == key
    assert all(
        s3.get_public_access_block(Bucket="mlflow-artifacts-abc12345")["PublicAccessBlockConfiguration"].values()
    )

    # the server: the password only by reference, the URI assembled in the container, nothing secret in the task
    ecs = boto3.client("ecs")
    td = ecs.describe_task_definition(taskDefinition=state_id(stack, "ecs.task_definition.server"))["taskDefinition"]
    (container,) = td["containerDefinitions"]
    secret_arn = boto3.client("secretsmanager").describe_secret(SecretId=state_id(stack, "secretsmanager.secret.db"))
    assert container["secrets"] == [{"name": "MLFLOW_DB_PASSWORD", "valueFrom": f"{secret_arn['ARN']}:password::"}]
    assert container["image"] == "ghcr.io/mlflow/mlflow:v3.10.0-full"
    assert container["command"][:2] == ["sh", "-c"] and "MLFLOW_BACKEND_STORE_URI" in container["command"][2]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["MLFLOW_DB_HOST"] == db["Endpoint"]["Address"]
    assert env["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://mlflow-artifacts-abc12345/mlflow"
    assert env["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] == "QueuePool" and env["MLFLOW_SQLALCHEMYSTORE_POOL_RECYCLE"]
    assert alb["DNSName"] in env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert "MLFLOW_BACKEND_STORE_URI" not in env
    secret = password(stack)
    assert secret.isalnum() and len(secret) >= 16
    assert secret not in json.dumps(td)
    service = ecs.describe_services(cluster="mlflow-cluster-abc12345", services=["mlflow-server-abc12345"])
    net = service["services"][0]["networkConfiguration"]["awsvpcConfiguration"]
    assert net["assignPublicIp"] == "ENABLED"  # public subnets, no NAT: the image comes over the internet gateway
    target = boto3.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in target["ScalableTargets"]] == [
        ("service/mlflow-cluster-abc12345/mlflow-server-abc12345", 1, 2)
    ]

    # least privilege: the execution role reads this secret only, the task role this bucket only
    iam = boto3.client("iam")
    execution = iam.get_role_policy(RoleName="mlflow-ecs-execution-abc12345", PolicyName="db_secret")
    statements = execution["PolicyDocument"]["Statement"]
    assert statements[0] == {
        "Effect": "Allow",
        "Action": "secretsmanager:GetSecretValue",
        "Resource": secret_arn["ARN"],
    }
    assert statements[1]["Condition"] == {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}}
    task = iam.get_role_policy(RoleName="mlflow-ecs-task-abc12345", PolicyName="artifacts")["PolicyDocument"]
    resources = {
        r for st in task["Statement"] for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    }
    assert resources == {
        "arn:aws:s3:::mlflow-artifacts-abc12345",
        "arn:aws:s3:::mlflow-artifacts-abc12345/mlflow/*",
        key,
    }
    assert iam.list_attached_role_policies(RoleName="mlflow-ecs-task-abc12345")["AttachedPolicies"] == []

    # down keeps what holds data (and what it needs); --delete-protected leaves nothing but the final snapshot
    kept = stack.down().value.kept
    assert {"rds.db_instance.mlflow", "s3.bucket.artifacts", "kms.key.mlflow", "secretsmanager.secret.db"} <= set(kept)
    assert not any(a.startswith(("ecs.", "elbv2.", "appscaling.", "iam.", "logs.")) for a in kept)
    assert boto3.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    stack.up()  # everything comes back around the same database and bucket
    assert stack.drift().value == []
    out = stack.down(delete_protected=True)
    assert any("final snapshot mlflow-db-abc12345-final" in e.message for e in out.events)
    assert leftovers("m1") == [final_snapshot()]
    assert boto3.client("rds").describe_db_instances()["DBInstances"] == []
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == []
    assert (
        boto3.client("application-autoscaling").describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]
        == []
    )


def _rule_opened_to_any_host(stack: Stack) -> None:
    boto3.client("elbv2").modify_rule(
        RuleArn=state_id(stack, "elbv2.listener_rule.server"),
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
    )


def _versioning_suspended(stack: Stack) -> None:
    boto3.client("s3").put_bucket_versioning(
        Bucket=state_id(stack, "s3.bucket.artifacts"), VersioningConfiguration={"Status": "Suspended"}
    )


def _backups_shortened(stack: Stack) -> None:
    boto3.client("rds").modify_db_instance(
        DBInstanceIdentifier=state_id(stack, "rds.db_instance.mlflow"), BackupRetentionPeriod=1, ApplyImmediately=True
    )


def _scaling_max_raised(stack: Stack) -> None:
    boto3.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs",
        ResourceId="service/mlflow-cluster-abc12345/mlflow-server-abc12345",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=10,
    )


def test_out_of_band_changes_are_reported_field_by_field_and_repaired(stack: Stack) -> None:
    stack.up()
    for change in (_rule_opened_to_any_host, _versioning_suspended, _backups_shortened, _scaling_max_raised):
        change(stack)
    items = stack.drift().value
    assert {(i.address, i.status, tuple(c.field for c in i.changes)) for i in items} == {
        ("elbv2.listener_rule.server", "changed", ("conditions",)),
        ("s3.bucket.artifacts", "changed", ("versioning",)),
        ("rds.db_instance.mlflow", "changed", ("backup_retention_days",)),
        ("appscaling.scalable_target.server", "changed", ("max_capacity",)),
    }
    assert stack.up().mutating
    assert stack.drift().value == []
    assert stack.up().mutating == {}
    rule = boto3.client("elbv2").describe_rules(RuleArns=[state_id(stack, "elbv2.listener_rule.server")])["Rules"][0]
    assert [c["Field"] for c in rule["Conditions"]] == ["host-header"]
    assert boto3.client("s3").get_bucket_versioning(Bucket="mlflow-artifacts-abc12345")["Status"] == "Enabled"


@pytest.mark.parametrize("n", [8, 30])
def test_interrupted_up_resumes_without_duplicates(stack: Stack, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    stack.path.write_text(stack.path.read_text().replace("parallelism = 8", "parallelism = 1"))
    hook = FailAfter(n, "after-call")
    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register("after-call", hook)

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    assert not stack.run("up", core.up).value.run.ok
    monkeypatch.setattr(ClientFactory, "__init__", original)
    assert 0 < len(stack.state().resources) < DEFAULT_COUNT
    stack.up()
    assert len(stack.state().resources) == DEFAULT_COUNT
    assert stack.drift().value == []
    assert len([v for v in boto3.client("ec2").describe_vpcs()["Vpcs"] if not v.get("IsDefault")]) == 1
    assert len(boto3.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 1
    assert len(boto3.client("elbv2").describe_target_groups()["TargetGroups"]) == 1
    assert len(boto3.client("rds").describe_db_instances()["DBInstances"]) == 1
    assert len(boto3.client("secretsmanager").list_secrets()["SecretList"]) == 1
    assert len(boto3.client("ecs").list_services(cluster="mlflow-cluster-abc12345")["serviceArns"]) == 1
    assert len(boto3.client("iam").list_roles()["Roles"]) == 2


def test_two_stacks_side_by_side_then_both_gone(moto_account: None, tmp_path: Path) -> None:
    """The second stack has every option on: Aurora Serverless v2 that may pause, HTTPS, Cognito sign-in with an
    API bypass, a Route 53 record, an internet-facing ALB with an allow-list, the CPU policy."""
    cert = boto3.client("acm").request_certificate(DomainName="mlflow.example.com")["CertificateArn"]
    zone = boto3.client("route53").create_hosted_zone(Name="example.com", CallerReference="mlflow-test")
    zone_id = zone["HostedZone"]["Id"].rsplit("/", 1)[-1]
    first = Stack(mlflow_config(tmp_path / "m1"))
    second = Stack(
        mlflow_config(
            tmp_path / "m2",
            name="m2",
            suffix="def67890",
            **{
                'engine = "postgres"': 'engine = "aurora-postgresql"',
                "internal = true": "internal = false",
                "allow_cidrs = []": f'allow_cidrs = ["{ALLOW}"]',
                'certificate_arn = ""': f'certificate_arn = "{cert}"',
                'type = "none"': 'type = "cognito"',
                "api_bypass_cidrs = []": 'api_bypass_cidrs = ["10.20.0.0/16"]',
                'zone_id = ""': f'zone_id = "{zone_id}"',
                'record_name = ""': 'record_name = "mlflow.example.com"',
                "# cpu_target = 60": "cpu_target = 60",
            },
        )
    )
    first.up()
    second.up()
    for s in (first, second):
        assert s.up().mutating == {}
        assert s.drift().value == []
    a, b = first.state().resources, second.state().resources
    shared = {(r.kind, r.id) for r in a.values()} & {(r.kind, r.id) for r in b.values()}
    assert shared == set(), "two stacks must share nothing"

    # the second stack's options, as AWS has them
    assert {"rds.db_cluster.mlflow", "rds.db_cluster_instance.mlflow_1", "cognito.user_pool.mlflow",
            "route53.record.mlflow", "elbv2.listener.https", "elbv2.listener_rule.api",
            "appscaling.scaling_policy.cpu"} <= set(b)  # fmt: skip
    cluster = boto3.client("rds").describe_db_clusters(DBClusterIdentifier="mlflow-db-def67890")["DBClusters"][0]
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.0, "MaxCapacity": 2.0}
    assert cluster["StorageEncrypted"] and cluster["DeletionProtection"] and cluster["BackupRetentionPeriod"] == 7
    elbv2 = boto3.client("elbv2")
    listeners = {
        listener["Port"]: listener
        for listener in elbv2.describe_listeners(LoadBalancerArn=state_id(second, "elbv2.load_balancer.alb"))[
            "Listeners"
        ]
    }
    assert listeners[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert listeners[443]["Certificates"][0]["CertificateArn"] == cert
    rules = {r["Priority"]: r for r in elbv2.describe_rules(ListenerArn=listeners[443]["ListenerArn"])["Rules"]}
    assert [x["Type"] for x in rules["100"]["Actions"]] == ["authenticate-cognito", "forward"]
    assert [x["Type"] for x in rules["10"]["Actions"]] == ["forward"]
    assert {c["Field"] for c in rules["10"]["Conditions"]} == {"path-pattern", "source-ip"}
    records = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    alias = next(r for r in records if r["Name"] == "mlflow.example.com." and r["Type"] == "A")
    assert alias["AliasTarget"]["DNSName"].rstrip(".").lower() == second.state().outputs["alb_dns_name"].lower()
    assert second.state().outputs["tracking_uri"] == "https://mlflow.example.com"
    assert second.state().outputs["cognito_user_pool_id"] == state_id(second, "cognito.user_pool.mlflow")
    td = boto3.client("ecs").describe_task_definition(taskDefinition=state_id(second, "ecs.task_definition.server"))
    env = {e["name"]: e["value"] for e in td["taskDefinition"]["containerDefinitions"][0]["environment"]}
    # a database that pauses: no pooled connection keeps it awake or goes stale while it sleeps
    assert env["MLFLOW_SQLALCHEMYSTORE_POOLCLASS"] == "NullPool" and "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE" not in env
    assert {"mlflow.example.com", "mlflow.example.com:*"} <= set(env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(","))
    policies = boto3.client("application-autoscaling").describe_scaling_policies(ServiceNamespace="ecs")
    assert [p["PolicyName"] for p in policies["ScalingPolicies"]] == ["mlflow-cpu-def67890"]

    # the scaling policy owns the second stack's task count: autoscaling moving it is no drift
    boto3.client("ecs").update_service(cluster="mlflow-cluster-def67890", service="mlflow-server-def67890",
                                       desiredCount=2)  # fmt: skip
    assert second.drift().value == []
    # without a policy the count is mfprov's: the same change on the first stack is drift, and up puts it back
    boto3.client("ecs").update_service(cluster="mlflow-cluster-abc12345", service="mlflow-server-abc12345",
                                       desiredCount=2)  # fmt: skip
    assert [(i.address, [c.field for c in i.changes]) for i in first.drift().value] == [
        ("ecs.service.server", ["desired_count"])
    ]
    first.up()
    assert first.drift().value == []

    # a copy of the first stack's config under another name (same suffix, so the same names) is refused before
    # anything is made, naming the owner
    copy = Stack(mlflow_config(tmp_path / "m3", name="m3"))
    with pytest.raises(EngineError, match="belongs to stack 'm1'"):
        copy.up()
    assert leftovers("m3") == []
    assert first.drift().value == []

    first.down(delete_protected=True)
    assert leftovers("m1") == [final_snapshot()]
    assert second.drift().value == []  # the other stack is untouched
    second.down(delete_protected=True)
    assert left_after_down("m2") == [final_snapshot("def67890").replace(":snapshot:", ":cluster-snapshot:")]
    assert boto3.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    assert boto3.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"] == []
    assert [r for r in boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            if r["Type"] == "A"] == []  # fmt: skip


def test_the_password_is_in_no_state_output_or_log(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from typer.testing import CliRunner

    from provisioner.cli.main import cli

    for logger in ("provisioner", "resources", "state"):
        caplog.set_level(logging.DEBUG, logger=logger)
    runner = CliRunner()
    args = ["--config", str(stack.path)]
    commands = [("plan", "-v"), ("up", "--yes"), ("drift", "--json"), ("outputs", "--json")]
    printed = [runner.invoke(cli, [*args, *command]).output for command in commands]
    shown = json.loads(printed[-1])
    assert shown["tracking_uri"].startswith("http://mlflow-alb-abc12345")
    secret = password(stack)
    state_dir = stack.path.parent / ".mfprov"
    texts = [*printed, caplog.text, *(p.read_text() for p in state_dir.iterdir() if p.is_file())]
    assert all(secret not in t for t in texts)


# --------------------------------------------------------------------------------- blueprints and config, no AWS


def _config(tmp_path: Path, **replace: str) -> Any:
    return parse_config(tomllib.loads(mlflow_config(tmp_path, **replace).read_text()))


def test_the_starter_file_is_the_defaults(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    assert cfg.mlflow.model_dump() == type(cfg.mlflow)().model_dump()
    bp = mlflow.build(cfg, FACTS)
    assert len(bp.nodes) == DEFAULT_COUNT
    bp.graph()


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"az_count = 2": "az_count = 1"}, "at least 2 availability zones"),
        ({'prefix = "mlflow"': 'prefix = "a-very-long-prefix-of-names"'}, "AWS allows 32"),
        ({"internal = true": "internal = false"}, "allow_cidrs is empty"),
        ({'type = "none"': 'type = "cognito"'}, "set load_balancer.certificate_arn"),
        ({'memory = "2048"': 'memory = "1024"'}, "does not go with cpu 1024"),
        ({"desired_count = 1": "desired_count = 3"}, "between autoscaling.min_tasks"),
        ({'version = "3.10.0"': 'version = "2.16.0"'}, "-full variant"),
        ({"serverless_min_capacity = 0 ": "serverless_min_capacity = 0.25 "}, "steps of 0.5 ACU"),
        ({"allowed_hosts = []": 'allowed_hosts = ["a.example.com", "b.example.com", "c.example.com"]'}, "at most"),
        ({"log_retention_days = 30": "log_retention_days = 31"}, "CloudWatch Logs keeps logs"),
        ({'prefix = "mlflow"': 'prefix = "9lives"'}, "must start with a letter"),
        ({"[mlflow.server.extra_env]": '[mlflow.server.extra_env]\nMLFLOW_DB_PASSWORD = "x"'}, "by reference"),
        ({'zone_id = ""': 'zone_id = "Z123"'}, "both zone_id and record_name"),
        ({"pool_size = 5": "pool_sise = 5"}, "unknown key"),
        (
            {'certificate_arn = ""': f'certificate_arn = "{CERT}"', 'type = "none"': 'type = "cognito"'},
            "needs a NAT gateway",
        ),
    ],
)
def test_bad_config_is_refused_before_any_aws_call(tmp_path: Path, replace: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(tmp_path, **replace)


def test_oidc_sign_in_reads_its_secret_by_reference_and_an_existing_bucket_is_granted_only(tmp_path: Path) -> None:
    cert = CERT
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:oidc-AbCdEf"
    key = "arn:aws:kms:us-east-1:123456789012:key/1234"
    cfg = _config(
        tmp_path,
        **{
            'certificate_arn = ""': f'certificate_arn = "{cert}"',
            'type = "none"': 'type = "oidc"',
            '# issuer = "https://idp.example.com"': 'issuer = "https://idp.example.com"',
            '# authorization_endpoint = "https://idp.example.com/authorize"':
                'authorization_endpoint = "https://idp.example.com/authorize"',
            '# token_endpoint = "https://idp.example.com/token"': 'token_endpoint = "https://idp.example.com/token"',
            '# user_info_endpoint = "https://idp.example.com/userinfo"':
                'user_info_endpoint = "https://idp.example.com/userinfo"',
            '# client_id = "..."': 'client_id = "mlflow"',
            '# client_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mlflow-oidc"':
                f'client_secret_arn = "{secret}"',
            '# existing_bucket = "my-bucket"': 'existing_bucket = "team-artifacts"',
            '# existing_bucket_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/..."':
                f'existing_bucket_kms_key_arn = "{key}"',
            "proxy = true": "proxy = false",
            "# private = true ": "private = true ",
        },
    )  # fmt: skip
    bp = mlflow.build(cfg, FACTS)
    assert "s3.bucket.artifacts" not in bp.nodes and "cognito.user_pool.mlflow" not in bp.nodes
    (sign_in, forward) = bp.nodes["elbv2.listener_rule.server"].props["actions"]
    assert sign_in["type"] == "authenticate-oidc" and sign_in["client_secret_arn"] == secret
    assert forward["type"] == "forward"
    task = bp.nodes["iam.role.ecs_task"].props["inline_policies"]["artifacts"]["Statement"]
    assert {json.dumps(st["Resource"]) for st in task} == {
        '"arn:aws:s3:::team-artifacts"', '"arn:aws:s3:::team-artifacts/mlflow/*"', f'"{key}"'
    }  # fmt: skip
    env = bp.nodes["ecs.task_definition.server"].props["containers"][0]["environment"]
    assert (
        env["MLFLOW_SERVE_ARTIFACTS"] == "false" and env["MLFLOW_DEFAULT_ARTIFACT_ROOT"] == "s3://team-artifacts/mlflow"
    )
    assert bp.outputs["artifact_bucket"] == "team-artifacts"
    # sign-in needs the ALB to reach the identity provider; nothing else leaves it but the server's port
    egress = bp.nodes["ec2.security_group.alb"].props["egress"]
    assert sorted((r["from_port"], r["cidr"]) for r in egress) == [(443, "0.0.0.0/0"), (5000, "10.20.0.0/16")]


def test_the_entry_point_puts_the_uri_on_no_command_line(tmp_path: Path) -> None:
    """The container's shell script, run here with a stand-in ``mlflow``: the URI reaches mlflow through its
    environment, the password variable is gone, and mlflow's command line holds neither."""
    fake = tmp_path / "bin" / "mlflow"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\necho "ARGS=$*"\necho "URI=$MLFLOW_BACKEND_STORE_URI"\necho "PW=${MLFLOW_DB_PASSWORD-unset}"\n'
    )
    fake.chmod(0o755)
    env = {
        "PATH": f"{fake.parent}:/usr/bin:/bin",
        "MLFLOW_DB_USER": "mlflow", "MLFLOW_DB_PASSWORD": "Secret123abc", "MLFLOW_DB_HOST": "db.example",
        "MLFLOW_DB_PORT": "5432", "MLFLOW_DB_NAME": "mlflow", "MLFLOW_PORT": "5000",
    }  # fmt: skip
    done = subprocess.run(["sh", "-c", mlflow.ENTRYPOINT], env=env, capture_output=True, text=True, check=True)
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert lines == {
        "ARGS": "server --host 0.0.0.0 --port 5000",
        "URI": "postgresql+psycopg2://mlflow:Secret123abc@db.example:5432/mlflow?sslmode=require",
        "PW": "unset",
    }


# --------------------------------------------------------------------------------- the CLI against the sandbox


@pytest.fixture
def sandbox_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METAFLOW_"))}
    env.update(
        MFPROV_HOME=str(tmp_path / "mfprov-home"),
        MFPROV_SANDBOX_PORT=str(4900 + os.getpid() % 90),
        HOME=str(tmp_path / "home"),
        PYTHONUNBUFFERED="1",
    )
    (tmp_path / "home").mkdir()
    yield env
    subprocess.run([sys.executable, "-m", "provisioner", "sandbox", "stop"], env=env, check=False)


def test_the_sandbox_runs_the_mlflow_stack_through_the_cli(sandbox_env: dict[str, str], tmp_path: Path) -> None:
    """init, up, up again, drift, outputs --json, down --delete-protected, each its own process; no container runs
    in the sandbox. (moto's CreateService drops the health-check grace period, so the config sets none here: a
    second up would otherwise put it back.)"""
    work = tmp_path / "work"
    work.mkdir()

    def mfprov(*args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "provisioner", "--sandbox", *args],
            cwd=work, env=sandbox_env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, f"mfprov {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
        return proc

    mfprov("init", "--stack", "mlflow", "--name", "sandbox-mlflow")
    config = work / "mfprov.toml"
    config.write_text(config.read_text().replace("health_check_grace_period = 120", "health_check_grace_period = 0"))
    mfprov("up", "--yes")
    assert "Up to date" in mfprov("up", "--yes").stderr
    mfprov("drift")
    outputs = json.loads(mfprov("outputs", "--json").stdout)
    assert outputs["tracking_uri"].startswith("http://") and outputs["artifact_root"].startswith("s3://")
    mfprov("down", "--yes", "--delete-protected")
