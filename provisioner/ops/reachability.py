"""Whether every workload of a stack can reach what it needs to start, decided before anything is changed.

On AWS a task in a subnet without a way out never starts, and nothing says why for a long while: a Batch job
waits in RUNNABLE, an ECS service keeps replacing tasks that cannot pull their image. A workload gets out

- through a NAT gateway (or any other default route but an internet gateway: a transit gateway, an instance),
- through an internet gateway, but only with a public IP: an ECS task has one when its service asks for it
  (``network.assign_public_ip`` in the user's subnets); a Batch EC2 instance when its subnet hands one out on
  launch (``MapPublicIpOnLaunch``: Batch sets no address of its own); a Batch Fargate job always (Metaflow
  registers its job definitions with ``assignPublicIp = ENABLED``),
- or not at all, but with VPC endpoints for every service it calls: ECR's API and registry and S3 (where ECR
  keeps image layers) to pull an image, CloudWatch Logs for the ``awslogs`` driver, Secrets Manager for a
  task's secrets, the ECS endpoints for the agent on a Batch EC2 instance. Images from anywhere but this
  region's ECR (Docker Hub, ECR Public) need the internet.

The SageMaker notebook with direct internet access has SageMaker's own way out; without it, it needs one of
the above for S3 and Batch, which Metaflow calls from it. The migration Lambda reaches only the load balancer in
its own VPC (Lambda fetches its code and ships its logs outside the VPC), so it needs nothing.

Subnets mfprov makes are judged by the blueprint (their routes are known before they exist); the user's own are
read from AWS: their route table (the VPC's main one when none is associated), its default route, the subnet's
``MapPublicIpOnLaunch`` and the VPC's endpoints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint, Node
from provisioner.engine.reconcile import EngineError
from resources.base import Ref, error_code

#: what pulling an image from this region's ECR takes without the internet
_ECR = ("ecr.api", "ecr.dkr", "s3")
#: what the ECS agent on a Batch EC2 instance calls to join its cluster and run jobs
_ECS_AGENT = ("ecs", "ecs-agent", "ecs-telemetry")
#: endpoint states in which it serves, or will once made
_SERVING = {"available", "pending", "pendingacceptance"}


class Unreachable(EngineError):
    """Some workload cannot reach what it needs: one line per problem."""


@dataclass(frozen=True)
class Subnet:
    """What decides a subnet's way out."""

    #: how a message names it: its id, or its address for one mfprov will make
    name: str
    #: the VPC, as an id or the address of the VPC mfprov makes
    vpc: str
    map_public_ip: bool = False
    #: a default route to an internet gateway
    internet_gateway: bool = False
    #: a default route through something else (a NAT gateway, ...): a way out without a public IP
    egress: bool = False
    #: an S3 gateway endpoint on its route table
    s3_gateway: bool = False
    #: no such subnet
    missing: bool = False
    #: its availability zone, where AWS says (an interface endpoint takes one subnet per zone)
    zone: str = ""


@dataclass
class Network:
    subnets: dict[str, Subnet] = field(default_factory=dict)
    #: per VPC, the interface endpoints with private DNS (short names: ``ecr.api``, ``logs``, ...)
    endpoints: dict[str, set[str]] = field(default_factory=dict)
    #: the interface endpoints with private DNS AWS has in the user's VPCs: (VPC, short name, id, tags)
    existing: list[tuple[str, str, str, dict[str, str]]] = field(default_factory=list)

    def has(self, subnet: Subnet, service: str) -> bool:
        if service == "s3" and subnet.s3_gateway:
            return True
        return service in self.endpoints.get(subnet.vpc, set())


@dataclass(frozen=True)
class Workload:
    #: e.g. "batch compute environment cpu"
    name: str
    subnets: tuple[str, ...]
    #: whether it has a public IP where its subnet routes to an internet gateway (None: the subnet decides)
    public_ip: bool | None
    #: the endpoints it needs without a way out
    needs: tuple[str, ...]
    #: what fails without them
    consequence: str
    #: images it pulls that only the internet serves
    internet_images: tuple[str, ...] = ()
    #: it has a way out of its own (the notebook's direct internet access)
    own_way_out: bool = False


def _key(value: Any) -> str:
    return value.address if isinstance(value, Ref) else str(value)


def _short(service_name: str) -> str:
    """``com.amazonaws.us-east-1.ecr.api`` (or ``cn.com.amazonaws...``) -> ``ecr.api``."""
    return re.sub(r"^(cn\.)?com\.amazonaws\.[a-z0-9-]+\.", "", service_name)


def _label(node: Node) -> str:
    what = {
        "batch.compute_environment": "batch compute environment",
        "ecs.service": "ecs service",
        "sagemaker.notebook_instance": "sagemaker notebook",
    }[node.kind]
    return f"{what} {node.address.rsplit('.', 1)[-1]}"


def _private_ecr(image: str, facts: Facts) -> bool:
    region = re.escape(facts.region)
    return re.match(rf"^\d{{12}}\.dkr\.ecr(-fips)?\.{region}\.amazonaws\.com(\.cn)?/", image) is not None


def workloads(bp: Blueprint, facts: Facts) -> list[Workload]:
    """Everything of the blueprint that launches into subnets and needs something outside them."""
    found: list[Workload] = []
    for node in bp.nodes.values():
        p = node.props
        if node.kind == "batch.compute_environment":
            fargate = str(p.get("compute_type", "")).startswith("FARGATE")
            found.append(
                Workload(
                    name=_label(node),
                    subnets=tuple(_key(s) for s in p.get("subnets") or []),
                    public_ip=True if fargate else None,
                    needs=(*(() if fargate else _ECS_AGENT), *_ECR, "logs"),
                    consequence="jobs cannot pull images" if fargate else "instances cannot join or pull images",
                )
            )
        elif node.kind == "ecs.service":
            task = bp.nodes.get(_key(p.get("task_definition")))
            containers = task.props.get("containers", []) if task is not None else []
            images = [str(c.get("image", "")) for c in containers]
            needs: list[str] = []
            if any(_private_ecr(i, facts) for i in images):
                needs += _ECR
            if any(c.get("log_group") for c in containers):
                needs.append("logs")
            if any(c.get("secrets") for c in containers):
                needs.append("secretsmanager")
            found.append(
                Workload(
                    name=_label(node),
                    subnets=tuple(_key(s) for s in p.get("subnets") or []),
                    public_ip=bool(p.get("assign_public_ip")),
                    needs=tuple(needs),
                    consequence="tasks cannot start",
                    internet_images=tuple(i for i in images if not _private_ecr(i, facts)),
                )
            )
        elif node.kind == "sagemaker.notebook_instance" and p.get("subnet_id") is not None:
            found.append(
                Workload(
                    name=_label(node),
                    subnets=(_key(p["subnet_id"]),),
                    public_ip=False,  # SageMaker gives its interface in the subnet no public IP
                    needs=("s3", "batch"),
                    consequence="Metaflow in the notebook cannot reach S3 or Batch",
                    own_way_out=p.get("direct_internet_access", "Enabled") == "Enabled",
                )
            )
    return found


# ---------------------------------------------------------------- the network, as planned and as it is


def planned_network(bp: Blueprint) -> Network:
    """The subnets mfprov makes, with the routes and endpoints the blueprint gives them, and the interface
    endpoints it makes in any VPC."""
    net = Network()
    nodes = bp.nodes
    table_of: dict[str, str] = {}
    for node in nodes.values():
        if node.kind == "ec2.route_table_association":
            table_of[_key(node.props["subnet_id"])] = _key(node.props["route_table_id"])
    default_route: dict[str, str] = {}
    for node in nodes.values():
        if node.kind == "ec2.route" and node.props.get("destination_cidr_block") == "0.0.0.0/0":
            target = nodes.get(_key(node.props["gateway_id"]))
            default_route[_key(node.props["route_table_id"])] = target.kind if target else ""
    s3_tables: set[str] = set()
    for node in nodes.values():
        if node.kind != "ec2.vpc_endpoint":
            continue
        p = node.props
        if p.get("endpoint_type", "Gateway") == "Gateway":
            if _short(str(p["service_name"])) == "s3":
                s3_tables |= {_key(t) for t in p.get("route_table_ids") or []}
        elif p.get("private_dns_enabled", True):
            net.endpoints.setdefault(_key(p["vpc_id"]), set()).add(_short(str(p["service_name"])))
    for node in nodes.values():
        if node.kind != "ec2.subnet":
            continue
        table = table_of.get(node.address, "")
        route = default_route.get(table)
        net.subnets[node.address] = Subnet(
            name=node.address,
            vpc=_key(node.props["vpc_id"]),
            map_public_ip=bool(node.props.get("map_public_ip_on_launch")),
            internet_gateway=route == "ec2.internet_gateway",
            egress=route is not None and route != "ec2.internet_gateway",
            s3_gateway=table in s3_tables,
        )
    return net


def read_subnets(ec2: Any, ids: Iterable[str], net: Network) -> None:
    """The user's subnets as AWS has them: each one's route table (explicit, else the VPC's main one), that
    table's default route, ``MapPublicIpOnLaunch``, and the endpoints of their VPCs."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    found: list[dict[str, Any]] = []
    for sid in wanted:  # one by one: a subnet that does not exist fails only its own look-up
        try:
            found += ec2.describe_subnets(SubnetIds=[sid])["Subnets"]
        except ClientError as err:
            if error_code(err) != "InvalidSubnetID.NotFound":
                raise
            net.subnets[sid] = Subnet(name=sid, vpc="", missing=True)
    vpcs = sorted({s["VpcId"] for s in found})
    if not vpcs:
        return
    vpc_filter = [{"Name": "vpc-id", "Values": vpcs}]
    tables = [
        t
        for page in ec2.get_paginator("describe_route_tables").paginate(Filters=vpc_filter)
        for t in page["RouteTables"]
    ]
    endpoints = [
        e
        for page in ec2.get_paginator("describe_vpc_endpoints").paginate(Filters=vpc_filter)
        for e in page["VpcEndpoints"]
    ]
    explicit: dict[str, dict[str, Any]] = {}
    main: dict[str, dict[str, Any]] = {}
    for t in tables:
        for a in t.get("Associations") or []:
            if a.get("SubnetId"):
                explicit[a["SubnetId"]] = t
            if a.get("Main"):
                main[t["VpcId"]] = t
    s3_tables: set[str] = set()
    for e in endpoints:
        if str(e.get("State", "")).lower() not in _SERVING:
            continue
        short = _short(str(e.get("ServiceName", "")))
        if str(e.get("VpcEndpointType", "")).lower() == "gateway":
            if short == "s3":
                s3_tables |= set(e.get("RouteTableIds") or [])
        elif e.get("PrivateDnsEnabled"):
            net.endpoints.setdefault(e["VpcId"], set()).add(short)
            tags = {t["Key"]: t["Value"] for t in e.get("Tags") or []}
            net.existing.append((e["VpcId"], short, e["VpcEndpointId"], tags))
    for s in found:
        table = explicit.get(s["SubnetId"]) or main.get(s["VpcId"]) or {}
        default = [
            r
            for r in table.get("Routes") or []
            if r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("State", "active") != "blackhole"
        ]
        igw = any(str(r.get("GatewayId", "")).startswith("igw-") for r in default)
        net.subnets[s["SubnetId"]] = Subnet(
            name=s["SubnetId"],
            vpc=s["VpcId"],
            zone=str(s.get("AvailabilityZone", "")),
            map_public_ip=bool(s.get("MapPublicIpOnLaunch")),
            internet_gateway=igw,
            egress=any(not str(r.get("GatewayId", "")).startswith("igw-") for r in default),
            s3_gateway=table.get("RouteTableId") in s3_tables,
        )


# ---------------------------------------------------------------- the judgement


def _problems_of(w: Workload, sn: Subnet, net: Network) -> list[str]:
    if sn.missing:
        return [f"{w.name}: subnet {sn.name} does not exist"]
    if w.own_way_out or sn.egress:
        return []
    public_ip = sn.map_public_ip if w.public_ip is None else w.public_ip
    if sn.internet_gateway and public_ip:
        return []
    lacks = []
    missing = [s for s in w.needs if not net.has(sn, s)]
    if missing:
        names = ", ".join(f"{s} (a gateway endpoint on its route table)" if s == "s3" else s for s in missing)
        lacks.append(f"no VPC endpoints for {names}")
    # no endpoint serves Docker Hub or ECR Public
    lacks += [f"image {image} is not in this region's ECR" for image in w.internet_images]
    if not lacks:
        return []
    if not sn.internet_gateway:
        why = "no NAT gateway route, no internet gateway route"
        return [
            f"{w.name}: subnet {sn.name} has no route to the internet ({why}) and {' and '.join(lacks)}: "
            f"{w.consequence}"
        ]
    # only the public IP is lacking: the one fix worth naming
    if w.public_ip is None:
        fix = (
            "the subnet hands out none (MapPublicIpOnLaunch is false) and Batch instances take theirs from the "
            "subnet: turn it on, or use subnets behind a NAT gateway"
        )
    else:
        fix = "the tasks get none: set network.assign_public_ip = true"
    return [
        f"{w.name}: subnet {sn.name} has no route to the internet (no NAT gateway route; its internet gateway route "
        f"needs a public IP, and {fix}): {w.consequence}"
    ]


def judge(ws: list[Workload], net: Network) -> list[str]:
    """One line per problem: the workload, the subnet and what it lacks."""
    problems: list[str] = []
    for w in ws:
        for key in w.subnets:
            sn = net.subnets.get(key)
            if sn is not None:
                problems += _problems_of(w, sn, net)
    return problems


def endpoint_problems(bp: Blueprint, net: Network, owns: Callable[[str, dict[str, str]], bool]) -> list[str]:
    """What AWS would refuse of the interface endpoints mfprov makes in the user's VPC, said before any change:
    two subnets in one zone, or a service the VPC already has an endpoint with private DNS for (its name can
    answer for one endpoint only). ``owns(address, tags)``: whether a found endpoint is that node's."""
    found: list[str] = []
    for node in bp.nodes.values():
        p = node.props
        if node.kind != "ec2.vpc_endpoint" or p.get("endpoint_type") != "Interface" or isinstance(p["vpc_id"], Ref):
            continue
        short = _short(str(p["service_name"]))
        zones: dict[str, str] = {}
        for sid in p.get("subnet_ids") or []:
            sn = net.subnets.get(_key(sid))
            if sn is None or not sn.zone:
                continue
            if sn.zone in zones:
                found.append(
                    f"network.interface_endpoints {short}: subnets {zones[sn.zone]} and {sn.name} are both in "
                    f"{sn.zone}, and an interface endpoint takes one subnet per zone"
                )
            zones.setdefault(sn.zone, sn.name)
        if not p.get("private_dns_enabled", True):
            continue
        for vpc, service, id, tags in net.existing:
            if vpc == p["vpc_id"] and service == short and not owns(node.address, tags):
                found.append(
                    f"network.interface_endpoints {short}: VPC {vpc} already has an endpoint for it with private "
                    f"DNS ({id}), and AWS allows one: drop {short} from the list"
                )
    return found


def problems(
    bp: Blueprint, facts: Facts, ec2: Any, owns: Callable[[str, dict[str, str]], bool] | None = None
) -> list[str]:
    """What keeps the blueprint's workloads from reaching what they need (empty: nothing). Reads AWS only for
    subnets mfprov does not make."""
    ws = workloads(bp, facts)
    net = planned_network(bp)
    brought = {s for w in ws for s in w.subnets if s not in bp.nodes}
    read_subnets(ec2, brought, net)
    mine = owns or (lambda address, tags: False)
    return judge(ws, net) + endpoint_problems(bp, net, mine)


def refuse(found: list[str]) -> None:
    if found:
        raise Unreachable(
            f"{len(found)} way(s) a workload cannot reach what it needs (`mfprov check` lists them):\n  "
            + "\n  ".join(found)
        )
