"""The network every stack stands in.

- The default: a VPC with one public subnet per AZ behind an internet gateway, no NAT (nothing billed while idle).
- ``network.private``: private subnets as well, one per AZ, whose route tables send the internet through a NAT
  gateway (one shared, or one per AZ), with an S3 gateway endpoint on them; compute, services and the database
  go there, the public subnets keep only the NAT gateways and an internet-facing load balancer.
- ``network.create = false``: the user's own VPC and subnets (public ``subnet_ids`` and, optionally, private
  ``private_subnet_ids`` behind their own NAT).

Stacks get a :class:`Network` and never build subnets themselves, so every stack gains what this module learns
at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint
from provisioner.stacks.config import NetworkConfig


@dataclass
class Network:
    #: the VPC: a Ref when created, the user's id otherwise
    vpc: Any
    #: subnets that reach the internet directly (an internet gateway; tasks there need a public IP)
    public_subnets: list[Any]
    #: addresses whatever launches instances or tasks into ``public_subnets`` must come after (their routes)
    public_ready: tuple[str, ...] = ()
    #: whether tasks in ``public_subnets`` need a public IP to pull images (true when mfprov made them)
    public_ip: bool = True
    #: subnets that reach the internet through NAT (empty without private networking)
    private_subnets: list[Any] = field(default_factory=list)
    #: addresses whatever launches into ``private_subnets`` must come after (their NAT routes)
    private_ready: tuple[str, ...] = ()

    @property
    def workload_subnets(self) -> list[Any]:
        """Where compute and services go: the private subnets when there are any, else the public ones."""
        return self.private_subnets or self.public_subnets

    @property
    def workload_ready(self) -> tuple[str, ...]:
        return self.private_ready if self.private_subnets else self.public_ready

    @property
    def workload_public_ip(self) -> bool:
        return False if self.private_subnets else self.public_ip


def service_name(facts: Facts, service: str) -> str:
    """An endpoint's service: ``com.amazonaws.<region>.<service>``; the China partition prefixes ``cn.``."""
    prefix = "cn.com.amazonaws" if facts.partition == "aws-cn" else "com.amazonaws"
    return f"{prefix}.{facts.region}.{service}"


def s3_service_name(facts: Facts) -> str:
    """The S3 gateway endpoint's service."""
    return service_name(facts, "s3")


def add(bp: Blueprint, net: NetworkConfig, facts: Facts, endpoints_group: str = "vpc-endpoints") -> Network:
    """The network; ``endpoints_group`` names the interface endpoints' security group (unique in the VPC)."""
    network = _network(bp, net, facts)
    if net.interface_endpoints:
        _interface_endpoints(bp, net, facts, network, endpoints_group)
    return network


def _network(bp: Blueprint, net: NetworkConfig, facts: Facts) -> Network:
    if not net.create:
        return Network(
            vpc=net.vpc_id,
            public_subnets=list(net.subnet_ids),
            # the user's subnets: only they know whether a task there needs a public IP to reach the internet
            public_ip=bool(net.assign_public_ip),
            private_subnets=list(net.private_subnet_ids),
        )
    zones = facts.availability_zones
    if len(zones) < net.az_count:
        raise ValueError(f"network.az_count is {net.az_count} but {facts.region} offers {len(zones)} zones")
    private = net.is_private
    vpc = bp.add("ec2.vpc.main", "ec2.vpc", cidr_block=net.vpc_cidr)
    igw = bp.add("ec2.internet_gateway.main", "ec2.internet_gateway", vpc_id=vpc)
    rtb = bp.add("ec2.route_table.public", "ec2.route_table", vpc_id=vpc)
    bp.add(
        "ec2.route.public_internet",
        "ec2.route",
        route_table_id=rtb,
        destination_cidr_block="0.0.0.0/0",
        gateway_id=igw,
    )
    # Batch hosts in public subnets pull images without a NAT; with private subnets nothing launches there but the
    # NAT gateways and the load balancer, which need no address handed out
    subnets, associations = _subnets(bp, "public", net.subnet_cidrs or [], vpc, zones, [rtb], not private)
    # Instances must not start before their subnet can reach the internet.
    ready = ("ec2.route.public_internet", *associations)
    if not private:
        if net.s3_endpoint:
            _s3_endpoint(bp, vpc, facts, [rtb])
        return Network(vpc=vpc, public_subnets=subnets, public_ready=ready, public_ip=True)
    return _private(bp, net, facts, vpc, Network(vpc=vpc, public_subnets=subnets, public_ready=ready, public_ip=True))


def _private(bp: Blueprint, net: NetworkConfig, facts: Facts, vpc: Any, public: Network) -> Network:
    """Private subnets behind NAT gateways in the public subnets (one, or one per AZ), each AZ's route table
    sending 0.0.0.0/0 to its NAT gateway, and the S3 gateway endpoint on those route tables."""
    zones = facts.availability_zones
    nat_count = net.az_count if net.nat == "per_az" else 1
    tables: list[Any] = []
    ready: list[str] = []
    for j in range(1, nat_count + 1):
        eip = bp.add(f"ec2.eip.nat_{j}", "ec2.eip")
        nat = bp.add(
            f"ec2.nat_gateway.nat_{j}",
            "ec2.nat_gateway",
            subnet_id=public.public_subnets[j - 1],
            allocation_id=eip,
            # a NAT gateway forwards through the internet gateway: useless before that route exists
            after=public.public_ready,
        )
        rtb = bp.add(f"ec2.route_table.private_{j}", "ec2.route_table", vpc_id=vpc)
        bp.add(
            f"ec2.route.private_nat_{j}",
            "ec2.route",
            route_table_id=rtb,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=nat,
        )
        tables.append(rtb)
        ready.append(f"ec2.route.private_nat_{j}")
    subnets, associations = _subnets(bp, "private", net.private_subnet_cidrs or [], vpc, zones, tables, False)
    ready += associations
    if net.s3_endpoint:
        ready.append(_s3_endpoint(bp, vpc, facts, tables))
    public.private_subnets = subnets
    public.private_ready = tuple(ready)
    return public


def _subnets(
    bp: Blueprint, tier: str, cidrs: list[str], vpc: Any, zones: tuple[str, ...], tables: list[Any], public_ip: bool
) -> tuple[list[Any], list[str]]:
    """``ec2.subnet.<tier>_N`` in zone N, each associated with route table N (or the one table there is);
    returns the subnets and the addresses of their associations."""
    subnets: list[Any] = []
    associations: list[str] = []
    for i, cidr in enumerate(cidrs):
        sn = bp.add(
            f"ec2.subnet.{tier}_{i + 1}",
            "ec2.subnet",
            vpc_id=vpc,
            cidr_block=cidr,
            availability_zone=zones[i],
            map_public_ip_on_launch=public_ip,
        )
        association = f"ec2.route_table_association.{tier}_{i + 1}"
        bp.add(association, "ec2.route_table_association", route_table_id=tables[min(i, len(tables) - 1)], subnet_id=sn)
        subnets.append(sn)
        associations.append(association)
    return subnets, associations


def _interface_endpoints(bp: Blueprint, net: NetworkConfig, facts: Facts, network: Network, group: str) -> None:
    """``ec2.vpc_endpoint.<service>`` (Interface, private DNS on) in the workload subnets behind a group that admits
    HTTPS from the VPC; whatever launches into those subnets comes after them."""
    sg = bp.add(
        "ec2.security_group.endpoints",
        "ec2.security_group",
        name=group,
        description="Interface VPC endpoints: HTTPS from the VPC",
        vpc_id=network.vpc,
        ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr": net.vpc_cidr, "description": "HTTPS"}],
        egress=[],
    )
    addresses: list[str] = []
    for service in net.interface_endpoints:
        address = f"ec2.vpc_endpoint.{service.replace('.', '_').replace('-', '_')}"
        bp.add(
            address,
            "ec2.vpc_endpoint",
            vpc_id=network.vpc,
            service_name=service_name(facts, service),
            endpoint_type="Interface",
            subnet_ids=network.workload_subnets,
            security_group_ids=[sg],
            private_dns_enabled=True,
        )
        addresses.append(address)
    if network.private_subnets:
        network.private_ready = (*network.private_ready, *addresses)
    else:
        network.public_ready = (*network.public_ready, *addresses)


def _s3_endpoint(bp: Blueprint, vpc: Any, facts: Facts, tables: list[Any]) -> str:
    """The S3 gateway endpoint on ``tables``, all given in the create call (it adds its route to each)."""
    bp.add(
        "ec2.vpc_endpoint.s3",
        "ec2.vpc_endpoint",
        vpc_id=vpc,
        service_name=s3_service_name(facts),
        route_table_ids=tables,
    )
    return "ec2.vpc_endpoint.s3"
