"""The network every stack stands in: a VPC with one public subnet per AZ behind an internet gateway (no NAT:
nothing billed while idle), or the user's own VPC and subnets.

Stacks get a :class:`Network` and never build subnets themselves, so every stack gains what this module
learns (private subnets behind NAT, endpoints) at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.config import NetworkConfig
from provisioner.context import Facts
from provisioner.graph import Blueprint


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
    #: extra: what other layouts add (private subnets behind NAT, their readiness)
    private_subnets: list[Any] = field(default_factory=list)
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


def add(bp: Blueprint, net: NetworkConfig, facts: Facts) -> Network:
    if not net.create:
        return Network(vpc=net.vpc_id, public_subnets=list(net.subnet_ids), public_ip=False)
    zones = facts.availability_zones
    if len(zones) < net.az_count:
        raise ValueError(f"network.az_count is {net.az_count} but {facts.region} offers {len(zones)} zones")
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
    subnets: list[Any] = []
    for i, cidr in enumerate(net.subnet_cidrs or []):
        sn = bp.add(
            f"ec2.subnet.public_{i + 1}",
            "ec2.subnet",
            vpc_id=vpc,
            cidr_block=cidr,
            availability_zone=zones[i],
            map_public_ip_on_launch=True,  # Batch hosts pull images without a NAT
        )
        bp.add(
            f"ec2.route_table_association.public_{i + 1}",
            "ec2.route_table_association",
            route_table_id=rtb,
            subnet_id=sn,
        )
        subnets.append(sn)
    # Instances must not start before their subnet can reach the internet.
    ready = ("ec2.route.public_internet",) + tuple(
        f"ec2.route_table_association.public_{i + 1}" for i in range(len(subnets))
    )
    return Network(vpc=vpc, public_subnets=subnets, public_ready=ready, public_ip=True)
