"""The personal Metaflow stack against moto: idempotence, drift, repair, teardown, resumption."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from provisioner.core.session import ClientFactory
from provisioner.ops import app as core
from tests.stack.conftest import Stack, inventory

EXPECTED = {
    "kms.key.s3", "kms.alias.s3", "s3.bucket.datastore",
    "ec2.vpc.main", "ec2.internet_gateway.main", "ec2.route_table.public", "ec2.route.public_internet",
    "ec2.subnet.public_1", "ec2.subnet.public_2",
    "ec2.route_table_association.public_1", "ec2.route_table_association.public_2",
    "ec2.security_group.batch", "ec2.launch_template.cpu",
    "iam.role.ecs_instance", "iam.instance_profile.ecs_instance", "iam.role.batch_task",
    "iam.role.step_functions", "iam.role.eventbridge",
    "batch.compute_environment.cpu", "batch.job_queue.main", "dynamodb.table.step_functions",
}  # fmt: skip


def test_up_builds_the_stack_and_a_second_up_makes_no_mutating_call(stack: Stack) -> None:
    first = stack.up()
    state = stack.state()
    assert set(state.resources) == EXPECTED
    assert all(r.status == "ready" for r in state.resources.values())
    assert first.mutating, "the first up must have created things"

    second = stack.up()
    assert second.value.plan.changes == []
    assert second.mutating == {}
    assert second.calls, "the second up must have read AWS"


def test_drift_is_clean_right_after_up(stack: Stack) -> None:
    stack.up()
    assert stack.drift().value == []


def _state_id(stack: Stack, address: str) -> str:
    return stack.state().resources[address].id


def add_ssh_rule(stack: Stack) -> None:
    boto3.client("ec2").authorize_security_group_ingress(
        GroupId=_state_id(stack, "ec2.security_group.batch"),
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )


def bucket_to_sse_s3(stack: Stack) -> None:
    boto3.client("s3").put_bucket_encryption(
        Bucket=_state_id(stack, "s3.bucket.datastore"),
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )


def open_public_access(stack: Stack) -> None:
    boto3.client("s3").put_public_access_block(
        Bucket=_state_id(stack, "s3.bucket.datastore"),
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": False,
            "RestrictPublicBuckets": True,
        },
    )


def remove_inline_policy(stack: Stack) -> None:
    boto3.client("iam").delete_role_policy(
        RoleName=_state_id(stack, "iam.role.batch_task"), PolicyName="deny_presigned"
    )


def attach_admin(stack: Stack) -> None:
    boto3.client("iam").attach_role_policy(
        RoleName=_state_id(stack, "iam.role.batch_task"), PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"
    )


def delete_table(stack: Stack) -> None:
    ddb = boto3.client("dynamodb")
    ddb.delete_table(TableName=_state_id(stack, "dynamodb.table.step_functions"))


def delete_route(stack: Stack) -> None:
    boto3.client("ec2").delete_route(
        RouteTableId=_state_id(stack, "ec2.route_table.public"), DestinationCidrBlock="0.0.0.0/0"
    )


def remove_tag(stack: Stack) -> None:
    boto3.client("ec2").delete_tags(Resources=[_state_id(stack, "ec2.vpc.main")], Tags=[{"Key": "team"}])


OUT_OF_BAND: list[tuple[Callable[[Stack], Any], str, str, str | None]] = [
    (add_ssh_rule, "ec2.security_group.batch", "changed", "ingress"),
    (bucket_to_sse_s3, "s3.bucket.datastore", "changed", "kms_key_arn"),
    (open_public_access, "s3.bucket.datastore", "changed", "block_public_access"),
    (remove_inline_policy, "iam.role.batch_task", "changed", "inline_policies"),
    (attach_admin, "iam.role.batch_task", "changed", "managed_policy_arns"),
    (delete_table, "dynamodb.table.step_functions", "missing", None),
    (delete_route, "ec2.route.public_internet", "missing", None),
    (remove_tag, "ec2.vpc.main", "changed", "tags"),
]


@pytest.mark.parametrize(
    ("change", "address", "status", "field"), OUT_OF_BAND, ids=[c[0].__name__ for c in OUT_OF_BAND]
)
def test_out_of_band_change_is_reported_and_repaired(
    stack: Stack, change: Callable[[Stack], Any], address: str, status: str, field: str | None
) -> None:
    stack.up()
    change(stack)

    items = stack.drift().value
    assert [(i.address, i.status) for i in items] == [(address, status)]
    if field is not None:
        assert [c.field for c in items[0].changes] == [field]

    repaired = stack.up()
    assert repaired.mutating, "up must have changed something to repair the drift"
    assert stack.drift().value == []
    assert stack.up().mutating == {}


def test_drift_cli_exit_codes_and_json(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from typer.testing import CliRunner

    from provisioner.cli.main import cli

    stack.up()
    runner = CliRunner()
    args = ["--config", str(stack.path), "drift", "--json"]
    clean = runner.invoke(cli, args)
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.stdout)["in_sync"] is True
    add_ssh_rule(stack)
    drifted = runner.invoke(cli, args)
    assert drifted.exit_code == 2, drifted.output
    report = json.loads(drifted.stdout)
    assert report["schema"] == "mfprov.drift/2"
    assert [(i["address"], i["class"], i["changes"][0]["field"], i["repair"]) for i in report["items"]] == [
        ("ec2.security_group.batch", "changed", "ingress", "update in place")
    ]


def test_down_leaves_nothing_behind(stack: Stack) -> None:
    before = inventory()
    stack.up()
    during = inventory()
    assert all(during[k] - before[k] for k in before), "up made something of every type"
    result = stack.down(delete_protected=True).value
    assert result.present == len(EXPECTED) and result.run is not None and result.run.ok
    assert inventory() == before
    assert stack.state().resources == {}
    # A second down has nothing to do.
    again = stack.down(delete_protected=True).value
    assert (again.present, again.run) == (0, None)


def buckets() -> set[str]:
    return {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]}


def test_down_keeps_the_protected_datastore_until_told(stack: Stack) -> None:
    stack.up()
    bucket = _state_id(stack, "s3.bucket.datastore")
    boto3.client("s3").put_object(Bucket=bucket, Key="metaflow/data", Body=b"x")
    protected = {a for a, r in stack.state().resources.items() if r.protected}
    assert protected == {"s3.bucket.datastore", "kms.key.s3"}, "what holds data is protected from the start"

    kept = stack.down().value
    assert kept.kept == ["kms.key.s3", "s3.bucket.datastore"]
    assert set(stack.state().resources) == {"kms.key.s3", "s3.bucket.datastore"}
    assert boto3.client("s3").get_object(Bucket=bucket, Key="metaflow/data")["Body"].read() == b"x"
    assert inventory()["vpc"] == {v["VpcId"] for v in boto3.client("ec2").describe_vpcs()["Vpcs"] if v["IsDefault"]}

    # Lifted for one run, the bucket still refuses to lose its data: force_destroy decides that.
    out = stack.run("down", lambda s: core.down(s, delete_protected=True))
    assert not out.value.run.ok and "s3.bucket.datastore" in out.value.run.failed
    assert bucket in buckets() and "kms.key.s3" in stack.state().resources

    stack.path.write_text(stack.path.read_text().replace("force_destroy = false", "force_destroy = true"))
    stack.up()
    assert stack.down(delete_protected=True).value.run.ok
    assert bucket not in buckets()


def test_protection_refuses_a_replacement_until_lifted(stack: Stack) -> None:
    from typer.testing import CliRunner

    from provisioner.cli.main import cli
    from provisioner.engine.reconcile import EngineError

    stack.up()
    old = _state_id(stack, "s3.bucket.datastore")
    text = stack.path.read_text().replace('# bucket_name = "my-metaflow-bucket"', 'bucket_name = "other-name-x1"')
    stack.path.write_text(text)
    with pytest.raises(EngineError, match=r"protected.*s3\.bucket\.datastore \(replace, forced by name\)"):
        stack.up()
    assert old in buckets()

    result = CliRunner().invoke(cli, ["--config", str(stack.path), "state", "unprotect", "s3.bucket.datastore"])
    assert result.exit_code == 0, result.output
    assert stack.state().resources["s3.bucket.datastore"].protected is False
    stack.up()
    assert old not in buckets() and "other-name-x1" in buckets()
    assert stack.state().resources["s3.bucket.datastore"].protected is True, "the new bucket is protected anew"


class FailAfter:
    """A botocore hook that raises once ``n`` create calls have gone through (a crash mid-apply)."""

    def __init__(self, n: int, when: str) -> None:
        self.n, self.when, self.seen = n, when, 0

    def __call__(self, model: Any = None, **_: Any) -> None:
        if model is None or not model.name.startswith(("Create", "Put", "Attach", "Authorize")):
            return
        self.seen += 1
        if self.seen > self.n:
            raise RuntimeError(f"injected failure at {model.name}")


@pytest.mark.parametrize("n", [2, 9, 25])
@pytest.mark.parametrize("when", ["before-call", "after-call"])
def test_interrupted_up_is_completed_without_duplicates(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, n: int, when: str
) -> None:
    # One worker, so which call fails is the same on every run.
    stack.path.write_text(stack.path.read_text().replace("parallelism = 8", "parallelism = 1"))
    before = inventory()
    hook = FailAfter(n, when)
    original = ClientFactory.__init__

    def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
        original(self, *a, **k)
        self.session.events.register(when, hook)

    monkeypatch.setattr(ClientFactory, "__init__", patched)
    out = stack.run("up", core.up)
    assert out.value.run is not None and not out.value.run.ok
    monkeypatch.setattr(ClientFactory, "__init__", original)

    stack.up()
    assert set(stack.state().resources) == EXPECTED
    assert stack.drift().value == []
    made = {k: inventory()[k] - before[k] for k in before}
    # exactly one of each, except the per-AZ pairs
    assert {k: len(v) for k, v in made.items()} == {
        "vpc": 1, "subnet": 2, "igw": 1, "route_table": 2, "security_group": 2, "launch_template": 1,
        "role": 4, "instance_profile": 1, "kms_key": 1, "kms_alias": 1, "bucket": 1, "table": 1,
        "compute_environment": 1, "job_queue": 1,
    }  # fmt: skip


def test_a_change_that_forces_replacement_replaces_dependents_too(stack: Stack) -> None:
    stack.up()
    old_ce_arn = stack.state().resources["batch.compute_environment.cpu"].attrs["arn"]
    stack.path.write_text(stack.path.read_text().replace('compute_type = "spot"', 'compute_type = "ec2"'))

    plan = stack.run("plan", core.plan).value
    replaced = {a.address: a.replace_reasons for a in plan.changes if a.action == "replace"}
    # The queue holds the compute environment; the role's policy only names the queue: looked at again after.
    assert set(replaced) == {"batch.compute_environment.cpu", "batch.job_queue.main"}
    assert "compute_type" in replaced["batch.compute_environment.cpu"]
    assert {a.address for a in plan.changes if a.action == "update"} == {"iam.role.step_functions"}

    stack.up()
    name = _state_id(stack, "batch.compute_environment.cpu")
    ce = boto3.client("batch").describe_compute_environments(computeEnvironments=[name])["computeEnvironments"]
    assert [c["computeResources"]["type"] for c in ce] == ["EC2"]
    assert ce[0]["computeEnvironmentArn"] == old_ce_arn  # same name, so the same ARN: a new CE nonetheless
    queue = boto3.client("batch").describe_job_queues(jobQueues=[_state_id(stack, "batch.job_queue.main")])
    assert [o["computeEnvironment"] for o in queue["jobQueues"][0]["computeEnvironmentOrder"]] == [old_ce_arn]
    assert stack.drift().value == []


def test_an_existing_vpc_is_used_and_left_alone(stack: Stack) -> None:
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.50.{i * 16}.0/20", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    # public subnets, as Batch needs them without NAT: an internet gateway on the main route table, public IPs
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"][0]["RouteTableId"]
    ec2.create_route(RouteTableId=main, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    for subnet in subnets:
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    text = stack.path.read_text().replace("create = true ", "create = false")
    text = text.replace("[network]", f'[network]\nvpc_id = "{vpc}"\nsubnet_ids = {json.dumps(subnets)}', 1)
    stack.path.write_text(text)

    stack.up()
    addresses = set(stack.state().resources)
    assert not any(a.startswith(("ec2.vpc.", "ec2.subnet.", "ec2.route", "ec2.internet_gateway")) for a in addresses)
    ce = boto3.client("batch").describe_compute_environments(
        computeEnvironments=[_state_id(stack, "batch.compute_environment.cpu")]
    )["computeEnvironments"][0]
    assert sorted(ce["computeResources"]["subnets"]) == sorted(subnets)
    sg = ec2.describe_security_groups(GroupIds=[_state_id(stack, "ec2.security_group.batch")])["SecurityGroups"][0]
    assert sg["VpcId"] == vpc
    assert stack.drift().value == []

    stack.down(delete_protected=True)
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"], "the user's VPC must survive down"
    assert len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == 2


def test_gpu_compute_environment_sits_behind_the_same_queue(stack: Stack) -> None:
    stack.path.write_text(stack.path.read_text().replace("[batch.gpu]\nenabled = false", "[batch.gpu]\nenabled = true"))
    stack.up()
    state = stack.state().resources
    order = boto3.client("batch").describe_job_queues(jobQueues=[state["batch.job_queue.main"].id])["jobQueues"][0]
    arns = [o["computeEnvironment"] for o in sorted(order["computeEnvironmentOrder"], key=lambda o: o["order"])]
    assert arns == [
        state["batch.compute_environment.cpu"].attrs["arn"],
        state["batch.compute_environment.gpu"].attrs["arn"],
    ]
    gpu = boto3.client("batch").describe_compute_environments(
        computeEnvironments=[state["batch.compute_environment.gpu"].id]
    )
    assert "g4dn.xlarge" in gpu["computeEnvironments"][0]["computeResources"]["instanceTypes"]
    assert stack.up().mutating == {}
