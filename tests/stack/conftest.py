"""A personal Metaflow stack in an in-process moto account, driven through the same code as the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from provisioner.cli.init_template import TEMPLATE
from provisioner.engine.reconcile import Event
from provisioner.ops import app as core


@dataclass
class Outcome:
    value: Any
    calls: dict[str, int]
    mutating: dict[str, int]
    events: list[Event]


class Stack:
    def __init__(self, path: Path) -> None:
        self.path = path

    def ws(self) -> core.Workspace:
        return core.Workspace.open(self.path)

    def run(self, command: str, fn: Callable[[core.Session], Any]) -> Outcome:
        events: list[Event] = []
        with core.session(self.ws(), command, events.append, lock=command in ("up", "down")) as s:
            value = fn(s)
            rec = s.clients.recorder
            return Outcome(value, dict(rec.calls), dict(rec.mutating()), events)

    def up(self) -> Outcome:
        out = self.run("up", core.up)
        run = out.value.run
        assert run is None or run.ok, {a: o.error for a, o in run.failed.items()}
        return out

    def drift(self) -> Outcome:
        return self.run("drift", core.drift)

    def down(self, delete_protected: bool = False) -> Outcome:
        out = self.run("down", lambda s: core.down(s, delete_protected=delete_protected))
        run = out.value.run
        assert run is None or run.ok, {a: o.error for a, o in run.failed.items()}
        return out

    def state(self) -> Any:
        ws = self.ws()
        return ws.store().load(ws.config.name)


def write_config(directory: Path, name: str = "t1", preset: str = "personal") -> Path:
    text = TEMPLATE.format(name=name, stack="metaflow", preset=preset, suffix="abc12345")
    text = text.replace("[tags]", '[tags]\nteam = "ml"', 1)
    path = directory / "mfprov.toml"
    path.write_text(text)
    return path


@pytest.fixture
def moto_account() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def stack(moto_account: None, tmp_path: Path) -> Stack:
    return Stack(write_config(tmp_path))


def inventory() -> dict[str, set[str]]:
    """Everything in the moto account that a stack could have made, by type (for 'nothing left' checks)."""
    ec2 = boto3.client("ec2")
    iam = boto3.client("iam")
    kms = boto3.client("kms")
    batch = boto3.client("batch")
    # AWS-managed keys (alias/aws/*, e.g. the aws/dynamodb key an encrypted table brings) are AWS's, not the stack's.
    aws_managed = {
        a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"] if a["AliasName"].startswith("alias/aws/")
    }
    keys = {
        k["KeyId"]
        for k in kms.list_keys()["Keys"]
        if k["KeyId"] not in aws_managed
        and kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"
    }
    return {
        "vpc": {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]},
        "subnet": {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]},
        "igw": {i["InternetGatewayId"] for i in ec2.describe_internet_gateways()["InternetGateways"]},
        "route_table": {r["RouteTableId"] for r in ec2.describe_route_tables()["RouteTables"]},
        "security_group": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
        "launch_template": {t["LaunchTemplateId"] for t in ec2.describe_launch_templates()["LaunchTemplates"]},
        # service-linked roles (Batch's) are AWS's, shared by the account and kept after a stack goes
        "role": {r["RoleName"] for r in iam.list_roles()["Roles"] if not r["Path"].startswith("/aws-service-role/")},
        "instance_profile": {p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]},
        "kms_key": keys,
        "kms_alias": {
            a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")
        },
        "bucket": {b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]},
        "table": set(boto3.client("dynamodb").list_tables()["TableNames"]),
        "compute_environment": {
            c["computeEnvironmentName"]
            for c in batch.describe_compute_environments()["computeEnvironments"]
            if c.get("status") != "DELETED"
        },
        "job_queue": {
            q["jobQueueName"] for q in batch.describe_job_queues()["jobQueues"] if q.get("status") != "DELETED"
        },
    }


def leftovers(stack: str) -> list[str]:
    """Every resource still carrying ``mfprov:stack=<stack>`` that AWS would bill or keep: the Resource Groups
    Tagging API for the services moto lists there, and per-service listings for those it does not (IAM,
    Batch, API Gateway, ECR, Cognito). KMS keys pending deletion, deleted ECS services and NAT gateways and
    deregistered task definitions count as gone, as on AWS."""
    found: list[str] = []
    kms = boto3.client("kms")
    ecs = boto3.client("ecs")
    for page in (
        boto3.client("resourcegroupstaggingapi")
        .get_paginator("get_resources")
        .paginate(TagFilters=[{"Key": "mfprov:stack", "Values": [stack]}])
    ):
        for item in page["ResourceTagMappingList"]:
            arn = item["ResourceARN"]
            if ":kms:" in arn and kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingDeletion":
                continue
            if ":ecs:" in arn and ":task-definition/" in arn:
                status = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"]
                if status != "ACTIVE":
                    continue
            if ":ecs:" in arn and ":service/" in arn:
                _, cluster, name = arn.split(":", 5)[5].split("/", 2)
                services = ecs.describe_services(cluster=cluster, services=[name]).get("services", [])
                if all(s.get("status") == "INACTIVE" for s in services):
                    continue
            if ":natgateway/" in arn:  # AWS lists a deleted NAT gateway for about an hour, billing nothing
                nat_id = arn.rsplit("/", 1)[1]
                nats = boto3.client("ec2").describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"]
                if all(g["State"] in ("deleted", "deleting") for g in nats):
                    continue
            if ":ecs:" in arn and ":cluster/" in arn:
                clusters = ecs.describe_clusters(clusters=[arn]).get("clusters", [])
                if all(c.get("status") == "INACTIVE" for c in clusters):
                    continue
            found.append(arn)

    def tagged(tags: dict[str, str] | None) -> bool:
        return (tags or {}).get("mfprov:stack") == stack

    iam = boto3.client("iam")
    for role in iam.list_roles()["Roles"]:
        if tagged({t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}):
            found.append(role["Arn"])
    for profile in iam.list_instance_profiles()["InstanceProfiles"]:  # moto lists their tags inline
        if tagged({t["Key"]: t["Value"] for t in profile.get("Tags", [])}):
            found.append(profile["Arn"])
    batch = boto3.client("batch")
    for ce in batch.describe_compute_environments()["computeEnvironments"]:
        if tagged(ce.get("tags")) and ce.get("status") != "DELETED":
            found.append(ce["computeEnvironmentArn"])
    for q in batch.describe_job_queues()["jobQueues"]:
        if tagged(q.get("tags")) and q.get("status") != "DELETED":
            found.append(q["jobQueueArn"])
    for api in boto3.client("apigateway").get_rest_apis()["items"]:
        if tagged(api.get("tags")):
            found.append(f"apigateway:{api['id']}")
    ecr = boto3.client("ecr")
    for repo in ecr.describe_repositories()["repositories"]:
        tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
        if tagged({t["Key"]: t["Value"] for t in tags}):
            found.append(repo["repositoryArn"])
    idp = boto3.client("cognito-idp")
    for pool in idp.list_user_pools(MaxResults=60)["UserPools"]:
        described = idp.describe_user_pool(UserPoolId=pool["Id"])["UserPool"]
        if tagged(described.get("UserPoolTags")):
            found.append(described["Arn"])
    return sorted(found)
