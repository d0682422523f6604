"""The full Metaflow stack (standard + private networking, the spot fallback, ECR, the SageMaker notebook, the user
role and the UI) against in-process moto: a second up changes nothing, drift is clean after up, out-of-band
changes are reported field by field and repaired, down leaves nothing, an interrupted up resumes, a lost state is
rebuilt from tags. Pure blueprint checks (no AWS): every ARN in the account's partition, the options of the
network and of Batch, and the config's refusals.

moto gaps, worked around test-side only:
- SageMaker: ``sagemaker_gaps`` (tests/conftest.py) stands in for the notebook and lifecycle-config calls moto
  lacks or breaks (UpdateNotebookInstance, tags of a lifecycle configuration, PlatformIdentifier);
- Batch: moto accepts UpdateComputeEnvironment but ignores its computeResources, so the out-of-band change of a
  compute environment's subnets is made on moto's model directly (as someone's UpdateComputeEnvironment would);
- ELBv2: an HTTPS listener needs a certificate moto's ACM knows, so the tests request one first (as a user would).
"""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.cli.init_template import TEMPLATE
from provisioner.core.context import Facts
from provisioner.core.session import ClientFactory
from provisioner.engine.graph import Blueprint, Concat, SecretOutput
from provisioner.engine.outputs import profile_of
from provisioner.ops import app as core
from provisioner.stacks import metaflow
from provisioner.stacks.config import ConfigError, parse_config
from resources.base import Ref
from tests.stack.conftest import Stack, leftovers, write_config
from tests.stack.test_personal_stack import FailAfter

#: the resources of `full` with its defaults and the UI on (2 AZs, one NAT gateway, spot with its fallback)
FULL_COUNT = 83
#: terraform-aws-metaflow's metaflow_profile_json keys with ECR, the metadata service, API Gateway and basic auth
#: on (§4.4: A + B + D); Fargate adds METAFLOW_ECS_FARGATE_EXECUTION_ROLE (C)
PROFILE_KEYS = {
    "METAFLOW_BATCH_CONTAINER_REGISTRY", "METAFLOW_BATCH_CONTAINER_IMAGE",
    "METAFLOW_DATASTORE_SYSROOT_S3", "METAFLOW_DATATOOLS_S3ROOT", "METAFLOW_BATCH_JOB_QUEUE",
    "METAFLOW_ECS_S3_ACCESS_IAM_ROLE", "METAFLOW_SERVICE_URL", "METAFLOW_SERVICE_INTERNAL_URL",
    "METAFLOW_SFN_IAM_ROLE", "METAFLOW_SFN_STATE_MACHINE_PREFIX", "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE",
    "METAFLOW_SFN_DYNAMO_DB_TABLE", "METAFLOW_DEFAULT_DATASTORE", "METAFLOW_DEFAULT_METADATA",
    "METAFLOW_SERVICE_AUTH_KEY", "METAFLOW_UI_URL",
}  # fmt: skip
ALLOW = "198.51.100.0/24"


def full_config(directory: Path, certificate_arn: str, preset: str = "full", **replace: str) -> Path:
    """The starter file of a preset (full unless said) with the UI on (a certificate and an allow-list), plus
    replacements."""
    path = write_config(directory, preset=preset)
    text = path.read_text()
    edits = {
        'certificate_arn = ""': f'certificate_arn = "{certificate_arn}"',
        "\nallow_cidrs = []  ": f'\nallow_cidrs = ["{ALLOW}"]  ',
        **replace,
    }
    for old, new in edits.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text)
    return path


@pytest.fixture
def certificate(moto_account: None, sagemaker_gaps: None) -> str:
    arn = boto3.client("acm").request_certificate(DomainName="metaflow.example.com")["CertificateArn"]
    return str(arn)


@pytest.fixture
def full(certificate: str, tmp_path: Path) -> Stack:
    return Stack(full_config(tmp_path, certificate))


def state_id(stack: Stack, address: str) -> str:
    return stack.state().resources[address].id


def left_after_down(stack: str = "t1") -> list[str]:
    """``leftovers`` less what AWS itself keeps showing for a while, billing nothing: a deleted NAT gateway (listed
    as ``deleted`` for about an hour). The database's final snapshot is kept on purpose (it holds the data)."""
    ec2 = boto3.client("ec2")
    out = []
    for arn in leftovers(stack):
        if ":natgateway/" in arn:
            nat = ec2.describe_nat_gateways(NatGatewayIds=[arn.rsplit("/", 1)[1]])["NatGateways"]
            if all(g["State"] == "deleted" for g in nat):
                continue
        out.append(arn)
    return out


FINAL_SNAPSHOT = "arn:aws:rds:us-east-1:123456789012:snapshot:metaflow-metaflow-abc12345-final"


# ------------------------------------------------------------------------------------------ in moto


def test_full_up_is_idempotent_in_sync_private_and_leaves_nothing(full: Stack, tmp_path: Path) -> None:
    first = full.up()
    resources = full.state().resources
    assert len(resources) == FULL_COUNT
    assert all(r.status == "ready" for r in resources.values())
    assert first.mutating
    again = full.up()
    assert again.value.plan.changes == [] and again.mutating == {}
    assert full.drift().value == []

    ec2 = boto3.client("ec2")
    private = {state_id(full, f"ec2.subnet.private_{i}") for i in (1, 2)}
    public = {state_id(full, f"ec2.subnet.public_{i}") for i in (1, 2)}
    nat = state_id(full, "ec2.nat_gateway.nat_1")
    # private route table: the internet through the NAT gateway, S3 through the gateway endpoint
    table = ec2.describe_route_tables(RouteTableIds=[state_id(full, "ec2.route_table.private_1")])["RouteTables"][0]
    assert {a["SubnetId"] for a in table["Associations"] if "SubnetId" in a} == private
    assert any(r.get("NatGatewayId") == nat and r["DestinationCidrBlock"] == "0.0.0.0/0" for r in table["Routes"])
    assert any(r.get("GatewayId", "").startswith("vpce-") for r in table["Routes"])
    assert ec2.describe_nat_gateways(NatGatewayIds=[nat])["NatGateways"][0]["SubnetId"] in public

    # compute, services, the database and the notebook in the private subnets, without public addresses
    batch = boto3.client("batch")
    for ce in batch.describe_compute_environments()["computeEnvironments"]:
        assert set(ce["computeResources"]["subnets"]) == private
    order = batch.describe_job_queues()["jobQueues"][0]["computeEnvironmentOrder"]
    types = {
        c["computeEnvironmentArn"]: c["computeResources"]["type"]
        for c in batch.describe_compute_environments()["computeEnvironments"]
    }
    assert [types[o["computeEnvironment"]] for o in sorted(order, key=lambda o: o["order"])] == ["SPOT", "EC2"]
    ecs = boto3.client("ecs")
    cluster = state_id(full, "ecs.cluster.main")
    names = [state_id(full, a).split("|")[1] for a in ("ecs.service.metadata", "ecs.service.ui_backend")]
    for svc in ecs.describe_services(cluster=cluster, services=names)["services"]:
        vpc = svc["networkConfiguration"]["awsvpcConfiguration"]
        assert set(vpc["subnets"]) == private and vpc["assignPublicIp"] == "DISABLED"
    notebook = boto3.client("sagemaker").describe_notebook_instance(
        NotebookInstanceName=state_id(full, "sagemaker.notebook_instance.notebook")
    )
    assert notebook["SubnetId"] in private and notebook["DirectInternetAccess"] == "Disabled"

    # the UI: 443 and 80 from the allow-list only; the services admit the ALB's group only, on their ports
    alb_sg = state_id(full, "ec2.security_group.alb")
    groups = {
        g["GroupId"]: g
        for g in ec2.describe_security_groups(GroupIds=[alb_sg, state_id(full, "ec2.security_group.ui")])[
            "SecurityGroups"
        ]
    }
    ingress = {(p["FromPort"], r["CidrIp"]) for p in groups[alb_sg]["IpPermissions"] for r in p["IpRanges"]}
    assert ingress == {(443, ALLOW), (80, ALLOW)}
    ui_rules = groups[state_id(full, "ec2.security_group.ui")]["IpPermissions"]
    assert {(p["FromPort"], g["GroupId"]) for p in ui_rules for g in p["UserIdGroupPairs"]} == {
        (8083, alb_sg),
        (3000, alb_sg),
    }
    assert all(not p["IpRanges"] for p in ui_rules)
    elbv2 = boto3.client("elbv2")
    listeners = elbv2.describe_listeners(LoadBalancerArn=state_id(full, "elbv2.load_balancer.alb"))["Listeners"]
    by_port = {ln["Port"]: ln for ln in listeners}
    assert by_port[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert [a["Type"] for a in by_port[443]["DefaultActions"]] == ["authenticate-cognito", "forward"]
    rule = elbv2.describe_rules(RuleArns=[state_id(full, "elbv2.listener_rule.ui_backend")])["Rules"][0]
    assert [a["Type"] for a in sorted(rule["Actions"], key=lambda a: a["Order"])] == ["authenticate-cognito", "forward"]

    # the profile: the module's keys (ECR's too), and the Cognito client's secret kept out of the state
    profile = full.state().outputs
    assert set(profile_of(profile)) | {"METAFLOW_SERVICE_AUTH_KEY"} == PROFILE_KEYS
    assert profile["METAFLOW_BATCH_CONTAINER_REGISTRY"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert profile["METAFLOW_BATCH_CONTAINER_IMAGE"] == state_id(full, "ecr.repository.batch")
    pool, client = state_id(full, "cognito.user_pool.ui"), state_id(full, "cognito.user_pool_client.ui")
    described = boto3.client("cognito-idp").describe_user_pool_client(UserPoolId=pool, ClientId=client.split("|")[-1])[
        "UserPoolClient"
    ]
    assert described["ClientSecret"]
    for file in (full.path.parent / ".mfprov").iterdir():
        assert described["ClientSecret"] not in file.read_text()

    # down --delete-protected: nothing of the stack is left, the protected notebook, pool and repository included
    full.down(delete_protected=True)
    assert left_after_down() == [FINAL_SNAPSHOT]
    assert boto3.client("sagemaker").list_notebook_instances()["NotebookInstances"] == []
    assert [g for g in ec2.describe_nat_gateways()["NatGateways"] if g["State"] not in ("deleted", "deleting")] == []
    assert ec2.describe_addresses()["Addresses"] == []
    assert [e for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e["State"].lower() != "deleted"] == []
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []


def _fargate_subnets_moved(stack: Stack) -> None:
    """Stand-in for UpdateComputeEnvironment(subnets=...), which moto accepts but ignores: its model, changed."""
    from moto.batch.models import batch_backends

    ce = batch_backends["123456789012"]["us-east-1"].get_compute_environment(
        state_id(stack, "batch.compute_environment.cpu")
    )
    assert ce is not None
    ce.compute_resources["subnets"] = [state_id(stack, "ec2.subnet.public_1")]


def _nat_route_to_igw(stack: Stack) -> None:
    boto3.client("ec2").replace_route(
        RouteTableId=state_id(stack, "ec2.route_table.private_1"),
        DestinationCidrBlock="0.0.0.0/0",
        GatewayId=state_id(stack, "ec2.internet_gateway.main"),
    )


def _rule_path_widened(stack: Stack) -> None:
    boto3.client("elbv2").modify_rule(
        RuleArn=state_id(stack, "elbv2.listener_rule.ui_backend"),
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
    )


def _notebook_resized(stack: Stack) -> None:
    sm = boto3.client("sagemaker")
    name = state_id(stack, "sagemaker.notebook_instance.notebook")
    sm.stop_notebook_instance(NotebookInstanceName=name)
    sm.update_notebook_instance(NotebookInstanceName=name, InstanceType="ml.m5.xlarge")
    sm.start_notebook_instance(NotebookInstanceName=name)


def test_fargate_full_stack_drift_is_reported_field_by_field_and_repaired(certificate: str, tmp_path: Path) -> None:
    # Fargate Spot with its on-demand Fargate fallback, and a GPU environment (EC2, in a queue of its own)
    path = full_config(
        tmp_path,
        certificate,
        **{
            'compute_type = "spot"  ': 'compute_type = "fargate_spot"  ',
            "enabled = false             # a second compute": "enabled = true             # a second compute",
        },
    )
    stack = Stack(path)
    stack.up()
    assert stack.drift().value == []
    batch = boto3.client("batch")
    types = {
        c["computeEnvironmentName"]: c["computeResources"]["type"]
        for c in batch.describe_compute_environments()["computeEnvironments"]
    }
    assert sorted(types.values()) == ["FARGATE", "FARGATE_SPOT", "SPOT"]
    queues = {q["jobQueueName"]: q for q in batch.describe_job_queues()["jobQueues"]}
    assert set(queues) == {"metaflow-abc12345", "metaflow-abc12345-gpu"}
    profile = stack.state().outputs
    role = profile["METAFLOW_ECS_FARGATE_EXECUTION_ROLE"]
    assert (
        role == boto3.client("iam").get_role(RoleName="metaflow-batch-fargate-execution-role-abc12345")["Role"]["Arn"]
    )
    fargate_keys = PROFILE_KEYS | {"METAFLOW_ECS_FARGATE_EXECUTION_ROLE"}
    assert set(profile_of(profile)) | {"METAFLOW_SERVICE_AUTH_KEY"} == fargate_keys

    for change in (_fargate_subnets_moved, _nat_route_to_igw, _rule_path_widened, _notebook_resized):
        change(stack)
    items = stack.drift().value
    direct = {
        (i.address, i.status, tuple(c.field for c in i.changes if not c.field.startswith("(depends on")))
        for i in items
        if any(not c.field.startswith("(depends on") for c in i.changes)
    }
    assert direct == {
        ("batch.compute_environment.cpu", "changed", ("subnets",)),
        ("ec2.route.private_nat_1", "changed", ("gateway_id",)),
        ("elbv2.listener_rule.ui_backend", "changed", ("conditions",)),
        ("sagemaker.notebook_instance.notebook", "changed", ("instance_type",)),
    }
    # a new compute environment takes its queue with it (the queue holds it); the roles whose policies name the
    # queue are not replaced, only looked at again after it
    cascaded = {i.address for i in items} - {d[0] for d in direct}
    assert cascaded == {"batch.job_queue.main"}
    assert all(
        [c.field for c in i.changes] == ["(depends on batch.compute_environment.cpu)"]
        for i in items
        if i.address in cascaded
    )
    repaired = stack.up()
    assert repaired.mutating
    assert stack.drift().value == []
    assert stack.up().mutating == {}
    private = {state_id(stack, f"ec2.subnet.private_{i}") for i in (1, 2)}
    ce = batch.describe_compute_environments(computeEnvironments=[state_id(stack, "batch.compute_environment.cpu")])
    assert set(ce["computeEnvironments"][0]["computeResources"]["subnets"]) == private
    name = state_id(stack, "sagemaker.notebook_instance.notebook")
    notebook = boto3.client("sagemaker").describe_notebook_instance(NotebookInstanceName=name)
    assert notebook["InstanceType"] == "ml.t3.medium" and notebook["NotebookInstanceStatus"] == "InService"


def test_interrupted_full_up_resumes_without_duplicates(full: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    full.path.write_text(full.path.read_text().replace("parallelism = 8", "parallelism = 1"))
    hook = FailAfter(90, "after-call")
    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register("after-call", hook)

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    assert not full.run("up", core.up).value.run.ok
    monkeypatch.setattr(ClientFactory, "__init__", original)
    assert 0 < len(full.state().resources) < FULL_COUNT
    full.up()
    assert len(full.state().resources) == FULL_COUNT
    assert full.drift().value == []
    _one_of_each()


def _one_of_each() -> None:
    ec2 = boto3.client("ec2")
    assert len([v for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]) == 1
    assert len([g for g in ec2.describe_nat_gateways()["NatGateways"] if g["State"] == "available"]) == 1
    assert len(ec2.describe_addresses()["Addresses"]) == 1
    assert len(boto3.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 2
    assert len(boto3.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]) == 1
    assert len(boto3.client("sagemaker").list_notebook_instances()["NotebookInstances"]) == 1
    assert len(boto3.client("ecr").describe_repositories()["repositories"]) == 1


def test_lost_state_is_rebuilt_from_tags_and_names(full: Stack) -> None:
    full.up()
    shutil.rmtree(full.path.parent / ".mfprov")
    again = full.up()
    assert again.mutating == {}, "adopting what exists must change nothing"
    assert len(full.state().resources) == FULL_COUNT
    _one_of_each()
    assert full.drift().value == []
    shutil.rmtree(full.path.parent / ".mfprov")
    full.down(delete_protected=True)
    assert left_after_down() == [FINAL_SNAPSHOT]


def test_private_networking_with_a_nat_per_az_in_the_standard_preset(moto_account: None, tmp_path: Path) -> None:
    """An option of full in another preset: standard with private subnets, one NAT gateway per AZ."""
    path = write_config(tmp_path, preset="standard")
    text = (
        path.read_text()
        .replace("# private = true ", "private = true   ", 1)
        .replace('nat = "single"', 'nat = "per_az"')
    )
    path.write_text(text)
    stack = Stack(path)
    stack.up()
    assert stack.up().mutating == {}
    assert stack.drift().value == []
    ec2 = boto3.client("ec2")
    for i in (1, 2):
        subnet = state_id(stack, f"ec2.subnet.private_{i}")
        nat = ec2.describe_nat_gateways(NatGatewayIds=[state_id(stack, f"ec2.nat_gateway.nat_{i}")])["NatGateways"][0]
        # each AZ's private subnet leaves through the NAT gateway in the same AZ's public subnet
        assert nat["SubnetId"] == state_id(stack, f"ec2.subnet.public_{i}")
        table = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])[
            "RouteTables"
        ]
        routes = {
            r["DestinationCidrBlock"]: r.get("NatGatewayId") for r in table[0]["Routes"] if "DestinationCidrBlock" in r
        }
        assert routes["0.0.0.0/0"] == nat["NatGatewayId"]
    db = boto3.client("rds").describe_db_subnet_groups()["DBSubnetGroups"][0]
    assert {s["SubnetIdentifier"] for s in db["Subnets"]} == {
        state_id(stack, f"ec2.subnet.private_{i}") for i in (1, 2)
    }
    public = ec2.describe_subnets(SubnetIds=[state_id(stack, "ec2.subnet.public_1")])["Subnets"][0]
    assert public["MapPublicIpOnLaunch"] is False  # nothing there but the NAT gateways


# --------------------------------------------------------------------------------- blueprints only

ZONES = {
    "aws": ("us-east-1", ("us-east-1a", "us-east-1b", "us-east-1c")),
    "aws-us-gov": ("us-gov-west-1", ("us-gov-west-1a", "us-gov-west-1b", "us-gov-west-1c")),
    "aws-cn": ("cn-north-1", ("cn-north-1a", "cn-north-1b", "cn-north-1d")),
}


def _texts(value: Any) -> Iterator[str]:
    """Every string in a blueprint value (refs and secrets have none of their own)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Concat):
        for p in value.parts:
            yield from _texts(p)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _texts(k)
            yield from _texts(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _texts(v)
    else:
        assert value is None or isinstance(value, int | float | bool | Ref | SecretOutput), type(value)


def _full_blueprint(partition: str, **sections: dict[str, Any]) -> Blueprint:
    region, zones = ZONES[partition]
    data = tomllib.loads(TEMPLATE.format(name="t1", stack="metaflow", preset="full", suffix="abc12345"))
    data["region"] = region
    data["ui"] = {
        "certificate_arn": f"arn:{partition}:acm:{region}:123456789012:certificate/0a1b",
        "allow_cidrs": [ALLOW],
    }
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    cfg = parse_config(data)
    facts = Facts(account_id="123456789012", region=region, partition=partition, availability_zones=zones)
    bp = metaflow.build(cfg, facts)
    bp.graph()  # no cycle, no dangling reference
    return bp


@pytest.mark.parametrize("partition", list(ZONES))
def test_every_arn_and_name_is_of_the_accounts_partition(partition: str) -> None:
    # the richest variant: Fargate and a GPU environment too, so every role and environment is there
    bp = _full_blueprint(partition, batch={"compute_type": "fargate_spot", "gpu": {"enabled": True}})
    texts = [t for node in bp.nodes.values() for t in _texts(node.props)] + list(_texts(bp.outputs))
    arns = {m.group(1) for t in texts for m in re.finditer(r"\barn:([a-z-]+):", t)}
    assert arns == {partition}
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    # DNS names carry the partition's suffix; service principals are <service>.amazonaws.com everywhere (in
    # China too, bar a few services this stack does not use)
    profile = bp.outputs
    assert profile["METAFLOW_BATCH_CONTAINER_REGISTRY"].endswith(f".dkr.ecr.{ZONES[partition][0]}.{suffix}")
    endpoint = bp.nodes["ec2.vpc_endpoint.s3"].props["service_name"]
    assert endpoint == ("cn.com.amazonaws" if partition == "aws-cn" else "com.amazonaws") + f".{ZONES[partition][0]}.s3"
    principals = {
        s
        for node in bp.nodes.values()
        if node.kind == "iam.role"
        for st in node.props["assume_role_policy"]["Statement"]
        for s in st["Principal"].get("Service", [])
    }
    # (no Batch service role: Batch's service-linked role by default)
    assert principals == {f"{s}.amazonaws.com" for s in ("ec2", "ecs-tasks", "states", "events", "lambda", "sagemaker")}


def _addresses(**sections: dict[str, Any]) -> set[str]:
    return set(_full_blueprint("aws", **sections).nodes)


def test_network_options() -> None:
    per_az = _addresses(network={"nat": "per_az", "az_count": 3})
    assert {f"ec2.nat_gateway.nat_{i}" for i in (1, 2, 3)} <= per_az
    assert {f"ec2.route.private_nat_{i}" for i in (1, 2, 3)} <= per_az
    bp = _full_blueprint("aws", network={"nat": "per_az", "az_count": 3})
    for i in (1, 2, 3):
        assoc = bp.nodes[f"ec2.route_table_association.private_{i}"].props["route_table_id"]
        assert assoc == Ref(address=f"ec2.route_table.private_{i}")
    assert bp.nodes["ec2.vpc_endpoint.s3"].props["route_table_ids"] == [
        Ref(address=f"ec2.route_table.private_{i}") for i in (1, 2, 3)
    ]

    public = _addresses(network={"private": False})
    assert not any(
        a.startswith(("ec2.nat_gateway", "ec2.eip", "ec2.subnet.private", "ec2.vpc_endpoint")) for a in public
    )

    existing = _full_blueprint(
        "aws",
        network={
            "create": False,
            "vpc_id": "vpc-0abc",
            "subnet_ids": ["subnet-pub1", "subnet-pub2"],
            "private_subnet_ids": ["subnet-priv1", "subnet-priv2"],
        },
    )
    assert not any(a.startswith(("ec2.vpc.", "ec2.subnet.", "ec2.nat_gateway")) for a in existing.nodes)
    assert existing.nodes["batch.compute_environment.cpu"].props["subnets"] == ["subnet-priv1", "subnet-priv2"]
    assert existing.nodes["rds.db_subnet_group.main"].props["subnet_ids"] == ["subnet-priv1", "subnet-priv2"]
    assert existing.nodes["elbv2.load_balancer.alb"].props["subnets"] == ["subnet-pub1", "subnet-pub2"]
    assert existing.nodes["ecs.service.ui_static"].props["assign_public_ip"] is False


def test_options_reach_the_other_presets() -> None:
    """A preset changes defaults only: private networking, Fargate, ECR, the notebook work in personal too."""
    data = tomllib.loads(TEMPLATE.format(name="t1", stack="metaflow", preset="personal", suffix="abc12345"))
    data["network"]["private"] = True
    data["batch"]["compute_type"] = "fargate"
    data["ecr"]["enabled"] = data["notebook"]["enabled"] = True
    data["batch"]["additional_security_group_ids"] = ["sg-0123456789abcdef0"]
    data["batch"]["job_policy_arns"] = ["arn:aws:iam::123456789012:policy/read-reference-data"]
    cfg = parse_config(data)
    facts = Facts(account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))
    bp = metaflow.build(cfg, facts)
    bp.graph()
    assert "ec2.nat_gateway.nat_1" in bp.nodes and "ecr.repository.batch" in bp.nodes
    ce = bp.nodes["batch.compute_environment.cpu"].props
    assert ce["compute_type"] == "FARGATE"
    assert ce["security_group_ids"] == [Ref(address="ec2.security_group.batch"), "sg-0123456789abcdef0"]
    job_role = bp.nodes["iam.role.batch_task"].props
    assert job_role["managed_policy_arns"] == ["arn:aws:iam::123456789012:policy/read-reference-data"]
    # no EC2 anywhere: no launch template, no instance role
    assert not {"ec2.launch_template.cpu", "iam.role.ecs_instance", "iam.instance_profile.ecs_instance"} & set(bp.nodes)
    script = bp.nodes["sagemaker.notebook_lifecycle_config.notebook"].props["on_start"]
    assert "METAFLOW_DEFAULT_METADATA=local" in "".join(t for t in _texts(script))
    assert "METAFLOW_ECS_FARGATE_EXECUTION_ROLE" in bp.outputs and "METAFLOW_BATCH_CONTAINER_IMAGE" in bp.outputs
    # and full's defaults can be turned off
    quiet = _addresses(
        notebook={"enabled": False},
        ecr={"enabled": False},
        user_role={"enabled": False},
        batch={"on_demand_fallback": False},
    )
    assert not any(
        a.startswith(("sagemaker.", "ecr.", "iam.role.metaflow_user", "batch.compute_environment.cpu_on"))
        for a in quiet
    )


def test_user_role_reaches_only_this_stack() -> None:
    bp = _full_blueprint("aws")
    role = bp.nodes["iam.role.metaflow_user"].props
    assert role["assume_role_policy"]["Statement"][0]["Principal"] == {"AWS": ["arn:aws:iam::123456789012:root"]}
    statements = [st for policy in role["inline_policies"].values() for st in policy["Statement"]]
    for st in statements:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in resources:
            if isinstance(r, str) and r != "*":
                # every named resource is this stack's: its bucket, prefix, notebook, or Batch's shared kinds
                assert any(
                    mark in r
                    for mark in (
                        "metaflow-s3-abc12345",
                        ":stateMachine:metaflow-abc12345",
                        ":execution:metaflow-abc12345",
                        ":rule/metaflow-abc12345",
                        "metaflow-notebook",
                        ":job-definition/metaflow_*",
                        ":job/*",
                        ":log-group:/aws/batch/job:",
                    )
                ), r
            elif r == "*":
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                assert all(a.split(":")[1].startswith(("Describe", "List", "Register", "Terminate")) for a in actions)
    passed = {
        r.address: st["Condition"]["StringEquals"]["iam:PassedToService"]
        for st in statements
        if st["Action"] == "iam:PassRole"
        for r in st["Resource"]
    }
    assert passed == {
        "iam.role.batch_task": "ecs-tasks.amazonaws.com",
        "iam.role.step_functions": "states.amazonaws.com",
        "iam.role.eventbridge": "events.amazonaws.com",
    }


CERT = "arn:aws:acm:us-east-1:123456789012:certificate/x"
EXISTING = {"create": False, "vpc_id": "vpc-1", "subnet_ids": ["subnet-1"]}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"preset": "personal", "ui": {"certificate_arn": CERT}}, "'standard' or 'full'"),
        ({"ui": {"certificate_arn": CERT}}, "ui.allow_cidrs is empty"),
        ({"ui": {"certificate_arn": "not-an-arn"}}, "is not a certificate ARN"),
        ({"ui": {"allow_cidrs": ["10.0.0.0/33"]}}, "not a CIDR block"),
        ({"ui": {"cognito_domain": "my-aws-ui"}}, "may not contain 'aws'"),
        ({"batch": {"compute_type": "ec2", "on_demand_fallback": True}}, "is on-demand"),
        ({"batch": {"compute_type": "fargate", "min_vcpus": 2, "desired_vcpus": 2}}, "Fargate picks and sizes"),
        ({"batch": {"compute_type": "fargate_spot", "bid_percentage": 50}}, "'spot' only"),
        ({"network": {"vpc_cidr": "10.20.0.0/22", "az_count": 3}}, "too small for 3 public and 3 private"),
        ({"network": {"private_subnet_cidrs": ["10.20.0.0/20", "10.20.64.0/20"]}}, "overlap"),
        ({"network": {**EXISTING, "private": True}}, "private_subnet_ids"),
        ({"notebook": {"instance_type": "t3.medium"}}, "notebook instance type"),
        ({"user_role": {"trusted_principals": ["alice"]}}, "not an account id or an IAM ARN"),
        ({"batch": {"job_policy_arns": ["AmazonS3ReadOnlyAccess"]}}, "not a managed policy ARN"),
        ({"batch": {"additional_security_group_ids": ["default"]}}, "not a security group id"),
        ({"prefix": "a-much-longer-prefix", "ui": {"certificate_arn": CERT, "allow_cidrs": [ALLOW]}}, "AWS allows 32"),
    ],
)  # fmt: skip
def test_full_config_refusals(data: dict[str, Any], words: str) -> None:
    base = {"name": "t1", "preset": "full", "suffix": "abc12345"}
    with pytest.raises(ConfigError) as info:
        parse_config({**base, **data})
    assert words in str(info.value), str(info.value)


def test_full_starter_file() -> None:
    cfg = parse_config(tomllib.loads(TEMPLATE.format(name="t1", stack="metaflow", preset="full", suffix="abc12345")))
    assert cfg.network.private and cfg.network.s3_endpoint and cfg.batch.on_demand_fallback
    assert cfg.ecr.enabled and cfg.notebook.enabled and cfg.user_role.enabled
    assert not cfg.ui.enabled  # on only with a certificate
    personal = parse_config({"name": "t1", "suffix": "abc12345"})
    assert not (personal.network.private or personal.ecr.enabled or personal.notebook.enabled)
    assert json.loads(personal.model_dump_json())["network"]["private"] is False
