"""Workloads that could never start on AWS are refused before any change: a task in a public subnet without a public
IP, a Batch instance in a public subnet that hands out none, anything in a private subnet with neither a NAT
gateway route nor the VPC endpoints it needs. The user's own subnets are made with plain boto3 in moto; the
subnets mfprov makes are judged from the blueprint."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from provisioner.cli.init_template import TEMPLATE
from provisioner.cli.main import cli
from provisioner.core.context import Facts
from provisioner.ops import app as core
from provisioner.ops import reachability
from provisioner.stacks import metaflow, mlflow
from provisioner.stacks.config import ConfigError, parse_config
from tests.stack.conftest import Stack

ECR_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/metaflow-service:v2.4.12"
ENDPOINTS = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "ecs", "ecs-agent", "ecs-telemetry"]


def _toml(data: dict[str, Any]) -> str:
    """Top-level keys, then one table per dict (JSON's strings, lists and booleans are TOML's too)."""
    lines = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, values in data.items():
        if isinstance(values, dict):
            lines += [f"[{table}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def _stack(tmp_path: Path, preset: str, network: dict[str, Any], **sections: dict[str, Any]) -> Stack:
    path = tmp_path / "mfprov.toml"
    data = {"name": "t1", "preset": preset, "suffix": "abc12345", "network": {"create": False, **network}}
    path.write_text(_toml({**data, **sections}))
    return Stack(path)


def _vpc(*, internet: bool, map_public_ip: bool = False, explicit_table: bool = False) -> tuple[str, list[str]]:
    """The user's VPC with two subnets; ``internet``: an internet gateway as the default route, on the VPC's main
    route table (the subnets have no table of their own) unless ``explicit_table``."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{i * 16}.0/20", AvailabilityZone=az)["Subnet"]["SubnetId"]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    for s in subnets:
        ec2.modify_subnet_attribute(SubnetId=s, MapPublicIpOnLaunch={"Value": map_public_ip})
    if internet:
        igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
        if explicit_table:
            table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
            for s in subnets:
                ec2.associate_route_table(RouteTableId=table, SubnetId=s)
        else:
            table = _main_table(vpc)
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    return vpc, subnets


def _main_table(vpc: str) -> str:
    tables = boto3.client("ec2").describe_route_tables(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "association.main", "Values": ["true"]}]
    )["RouteTables"]
    return str(tables[0]["RouteTableId"])


def _private_subnets(vpc: str, *, nat: bool = False, first: int = 128) -> tuple[list[str], str]:
    """Two more subnets of ``vpc`` with a route table of their own: no default route, or one to a NAT gateway."""
    ec2 = boto3.client("ec2")
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{first + i * 16}.0/20", AvailabilityZone=az)["Subnet"][
            "SubnetId"
        ]
        for i, az in enumerate(("us-east-1a", "us-east-1b"))
    ]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    for s in subnets:
        ec2.associate_route_table(RouteTableId=table, SubnetId=s)
    if nat:
        eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
        gw = ec2.create_nat_gateway(SubnetId=subnets[0], AllocationId=eip)["NatGateway"]["NatGatewayId"]
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=gw)
    return subnets, table


def _check(stack: Stack) -> list[str]:
    return list(stack.run("check", core.check).value)


def _refused_before_any_change(stack: Stack, fn: Any) -> str:
    with core.session(stack.ws(), "up", lambda e: None) as s:
        with pytest.raises(reachability.Unreachable) as refused:
            fn(s)
        assert s.clients.recorder.mutating() == {}
    assert stack.state().resources == {}
    return str(refused.value)


# ------------------------------------------------------------------ public subnets of the user's


def test_brought_public_subnets_refuse_services_without_a_public_ip(moto_account: None, tmp_path: Path) -> None:
    """The seed's minimal layout: public subnets (auto-assigned public IPs) behind an internet gateway on the main
    route table. The metadata service's tasks get no public IP unless asked for: refused, per subnet."""
    vpc, subnets = _vpc(internet=True, map_public_ip=True)
    stack = _stack(tmp_path, "standard", {"vpc_id": vpc, "subnet_ids": subnets})
    found = _check(stack)
    assert len(found) == 2, found
    for subnet, line in zip(subnets, found, strict=True):
        assert line.startswith(f"ecs service metadata: subnet {subnet} has no route to the internet")
        assert line == (
            f"ecs service metadata: subnet {subnet} has no route to the internet (no NAT gateway route; its internet "
            "gateway route needs a public IP, and the tasks get none: set network.assign_public_ip = true): tasks "
            "cannot start"
        )
    # Batch instances take the subnets' auto-assigned IPs: nothing said of the compute environment
    assert not any("batch" in line for line in found)

    for fn in (core.plan, core.up):
        message = _refused_before_any_change(stack, fn)
        assert all(line in message for line in found)

    result = CliRunner().invoke(cli, ["--config", str(stack.path), "check", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {"stack": "t1", "problems": found}


def test_the_public_ip_option_lets_them_start(moto_account: None, tmp_path: Path) -> None:
    vpc, subnets = _vpc(internet=True, map_public_ip=True, explicit_table=True)
    network = {"vpc_id": vpc, "subnet_ids": subnets, "assign_public_ip": True}
    stack = _stack(tmp_path, "standard", network, metadata={"api_gateway": False})
    assert _check(stack) == []
    result = CliRunner().invoke(cli, ["--config", str(stack.path), "check"])
    assert result.exit_code == 0 and result.stdout == ""

    stack.up()
    cluster, name = stack.state().resources["ecs.service.metadata"].id.split("|")
    described = boto3.client("ecs").describe_services(cluster=cluster, services=[name])["services"][0]
    network = described["networkConfiguration"]["awsvpcConfiguration"]
    assert network["assignPublicIp"] == "ENABLED" and sorted(network["subnets"]) == sorted(subnets)


def test_batch_instances_need_subnets_that_hand_out_public_ips(moto_account: None, tmp_path: Path) -> None:
    """Batch sets no public IP on its instances: in a public subnet that assigns none, no option helps. Fargate
    jobs get theirs from Metaflow's job definitions."""
    vpc, subnets = _vpc(internet=True, map_public_ip=False)
    stack = _stack(tmp_path, "personal", {"vpc_id": vpc, "subnet_ids": subnets, "assign_public_ip": True})
    found = _check(stack)
    assert [line.split(" has ")[0] for line in found] == [f"batch compute environment cpu: subnet {s}" for s in subnets]
    assert found[0] == (
        f"batch compute environment cpu: subnet {subnets[0]} has no route to the internet (no NAT gateway route; its "
        "internet gateway route needs a public IP, and the subnet hands out none (MapPublicIpOnLaunch is false) and "
        "Batch instances take theirs from the subnet: turn it on, or use subnets behind a NAT gateway): instances "
        "cannot join or pull images"
    )
    _refused_before_any_change(stack, core.up)

    fargate = _stack(tmp_path, "personal", {"vpc_id": vpc, "subnet_ids": subnets}, batch={"compute_type": "fargate"})
    assert _check(fargate) == []


# ------------------------------------------------------------------ private subnets of the user's


def test_private_subnets_without_nat_or_endpoints_are_refused(moto_account: None, tmp_path: Path) -> None:
    vpc, public = _vpc(internet=True, map_public_ip=True)
    private, _ = _private_subnets(vpc)
    network = {"vpc_id": vpc, "subnet_ids": public, "private_subnet_ids": private}
    stack = _stack(tmp_path, "standard", network, notebook={"enabled": True})
    found = _check(stack)
    batch = [line for line in found if line.startswith("batch compute environment cpu: ")]
    service = [line for line in found if line.startswith("ecs service metadata: ")]
    assert len(batch) == 2 and len(service) == 2 and len(found) == 5, found
    # the notebook in a private subnet has no direct internet access of SageMaker's: Metaflow there needs a way out
    assert (
        f"sagemaker notebook notebook: subnet {private[0]} has no route to the internet (no NAT gateway route, no "
        "internet gateway route) and no VPC endpoints for s3 (a gateway endpoint on its route table), batch: Metaflow "
        "in the notebook cannot reach S3 or Batch"
    ) in found
    for s in private:
        assert (
            f"batch compute environment cpu: subnet {s} has no route to the internet (no NAT gateway route, no "
            "internet gateway route) and no VPC endpoints for ecs, ecs-agent, ecs-telemetry, ecr.api, ecr.dkr, s3 "
            "(a gateway endpoint on its route table), logs: instances cannot join or pull images"
        ) in found
        # the service's image is on Docker Hub: no endpoint brings it
        assert (
            f"ecs service metadata: subnet {s} has no route to the internet (no NAT gateway route, no internet "
            "gateway route) and no VPC endpoints for logs, secretsmanager and image "
            "netflixoss/metaflow_metadata_service:v2.4.12 is not in this region's ECR: tasks cannot start"
        ) in service
    _refused_before_any_change(stack, core.up)

    # the same subnets behind the user's NAT gateway are fine
    behind_nat, _ = _private_subnets(vpc, nat=True, first=192)
    network = {"vpc_id": vpc, "subnet_ids": public, "private_subnet_ids": behind_nat}
    nat = _stack(tmp_path, "standard", network, notebook={"enabled": True})
    assert _check(nat) == []


def test_interface_endpoints_make_private_subnets_without_nat_work(moto_account: None, tmp_path: Path) -> None:
    vpc, public = _vpc(internet=True, map_public_ip=True)
    private, table = _private_subnets(vpc)
    ec2 = boto3.client("ec2")
    network = {"vpc_id": vpc, "subnet_ids": public, "private_subnet_ids": private, "interface_endpoints": ENDPOINTS}
    service = _stack(tmp_path, "standard", network, metadata={"image": ECR_IMAGE})
    # the S3 gateway endpoint on the user's route table is the user's to add: still missing
    assert {line.split(" has ")[0] for line in _check(service)} == {
        f"{w}: subnet {s}" for w in ("batch compute environment cpu", "ecs service metadata") for s in private
    }
    assert all("no VPC endpoints for s3 (a gateway endpoint on its route table):" in line for line in _check(service))
    ec2.create_vpc_endpoint(
        VpcEndpointType="Gateway", VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", RouteTableIds=[table]
    )
    # the interface endpoints mfprov will make count before they exist
    assert _check(service) == []

    stack = _stack(tmp_path, "personal", network)
    assert _check(stack) == []
    stack.up()
    made = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-endpoint-type", "Values": ["Interface"]}])["VpcEndpoints"]
    assert sorted(e["ServiceName"] for e in made) == sorted(f"com.amazonaws.us-east-1.{s}" for s in ENDPOINTS)
    group = stack.state().resources["ec2.security_group.endpoints"].id
    for e in made:
        assert e["PrivateDnsEnabled"] is True and sorted(e["SubnetIds"]) == sorted(private)
        assert [g["GroupId"] for g in e["Groups"]] == [group]
    rules = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"]
    assert [(r["IpProtocol"], r["FromPort"], r["ToPort"], r["IpRanges"][0]["CidrIp"]) for r in rules] == [
        ("tcp", 443, 443, "10.20.0.0/16")
    ]
    # read from AWS now that they exist, they still count
    assert _check(stack) == []


def test_interface_endpoints_aws_would_refuse_are_said_before_any_change(moto_account: None, tmp_path: Path) -> None:
    """An interface endpoint takes one subnet per zone, and a VPC one endpoint with private DNS per service."""
    vpc, public = _vpc(internet=True, map_public_ip=True)
    private, table = _private_subnets(vpc)
    ec2 = boto3.client("ec2")
    third = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.224.0/20", AvailabilityZone="us-east-1a")["Subnet"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=third["SubnetId"])
    theirs = ec2.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpc,
        ServiceName="com.amazonaws.us-east-1.logs",
        SubnetIds=[private[0]],
        PrivateDnsEnabled=True,
    )["VpcEndpoint"]["VpcEndpointId"]
    network = {
        "vpc_id": vpc,
        "subnet_ids": public,
        "private_subnet_ids": [*private, third["SubnetId"]],
        "interface_endpoints": ["ecr.api", "logs"],
    }
    stack = _stack(tmp_path, "personal", network)
    found = [line for line in _check(stack) if line.startswith("network.interface_endpoints")]
    assert found == [
        f"network.interface_endpoints ecr.api: subnets {private[0]} and {third['SubnetId']} are both in us-east-1a, "
        "and an interface endpoint takes one subnet per zone",
        f"network.interface_endpoints logs: subnets {private[0]} and {third['SubnetId']} are both in us-east-1a, "
        "and an interface endpoint takes one subnet per zone",
        f"network.interface_endpoints logs: VPC {vpc} already has an endpoint for it with private DNS ({theirs}), "
        "and AWS allows one: drop logs from the list",
    ]
    _refused_before_any_change(stack, core.up)


# ------------------------------------------------------------------ what mfprov makes itself


FACTS = Facts(
    account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b", "us-east-1c")
)
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/x"


class _NoAws:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the network mfprov makes is judged without AWS, yet {name} was called")


@pytest.mark.parametrize(
    ("stack", "preset", "changes"),
    [
        ("metaflow", "personal", {}),
        ("metaflow", "personal", {"batch": {"compute_type": "fargate"}}),
        ("metaflow", "standard", {}),
        ("metaflow", "full", {"ui": {"certificate_arn": CERT, "allow_cidrs": ["10.0.0.0/8"]}}),
        ("metaflow", "full", {"network": {"private": False}, "notebook": {"enabled": True}}),
        ("metaflow", "full", {"network": {"nat": "per_az", "az_count": 3}}),
        ("mlflow", "standard", {}),
    ],
)
def test_the_networks_mfprov_makes_pass(stack: str, preset: str, changes: dict[str, Any]) -> None:
    data = tomllib.loads(TEMPLATE.format(name="t1", stack="metaflow", preset="personal", suffix="abc12345"))
    data = {"name": "t1", "stack": stack, "preset": preset, "suffix": "abc12345"} if stack == "mlflow" else data
    data["preset"] = preset
    for section, values in changes.items():
        data.setdefault(section, {}).update(values)
    cfg = parse_config(data)
    bp = (metaflow if stack == "metaflow" else mlflow).build(cfg, FACTS)
    workloads = reachability.workloads(bp, FACTS)
    assert workloads, "nothing was looked at"
    assert reachability.problems(bp, FACTS, _NoAws()) == []


@pytest.mark.parametrize(
    ("network", "words"),
    [
        ({"assign_public_ip": True}, "for your own subnets (create = false)"),
        (
            {"create": False, "vpc_id": "vpc-1", "subnet_ids": ["subnet-1"], "private_subnet_ids": ["subnet-2"],
             "assign_public_ip": True},
            "with private_subnet_ids they run there",
        ),
        ({"interface_endpoints": ["ecr"]}, "'ecr' is not an interface endpoint mfprov knows: ecr.api, ecr.dkr"),
        ({"interface_endpoints": ["logs", "logs"]}, "names a service twice"),
    ],
)  # fmt: skip
def test_the_network_options_are_checked_before_any_call(network: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)):
        parse_config({"name": "t1", "network": network})


@pytest.mark.parametrize("assign", [True, False])
def test_the_public_ip_option_reaches_every_service(assign: bool) -> None:
    """The metadata service, the UI's two services and the MLflow server: all in the user's public subnets."""
    network = {"create": False, "vpc_id": "vpc-1", "subnet_ids": ["subnet-1", "subnet-2"], "assign_public_ip": assign}
    ui = {"certificate_arn": CERT, "allow_cidrs": ["10.0.0.0/8"]}
    full = metaflow.build(
        parse_config({"name": "t1", "preset": "full", "suffix": "x1", "network": network, "ui": ui}), FACTS
    )
    server = mlflow.build(parse_config({"name": "t1", "stack": "mlflow", "suffix": "x1", "network": network}), FACTS)
    services = {a: n.props for bp in (full, server) for a, n in bp.nodes.items() if n.kind == "ecs.service"}
    assert set(services) == {
        "ecs.service.metadata",
        "ecs.service.ui_backend",
        "ecs.service.ui_static",
        "ecs.service.server",
    }
    assert {a: p["assign_public_ip"] for a, p in services.items()} == dict.fromkeys(services, assign)
