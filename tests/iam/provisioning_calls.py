"""The authorizations AWS makes for the calls mfprov itself makes to provision (``tests.iam.calls`` covers the calls
a Metaflow run makes under the stacks' roles): action, resource ARN from the call's own parameters, and the
checks AWS makes besides the call (a role passed, a service-linked role, tags given at create).

From the Service Authorization Reference (the resource types each action authorizes against; ``*`` where it
lists none), the "tag on create" rules of each service (EC2 ``ec2:CreateTags``, ELB ``AddTags``, RDS
``AddTagsToResource``, IAM ``TagRole``...), and the IAM user guide's "Granting a user permissions to pass a role"
and "Service-linked role permissions". Test code: independent of ``provisioner.ops.permissions``, which the tests
check against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from provisioner.core.session import service_model
from tests.iam.calls import Check, Env, Unmapped

#: botocore service name -> IAM prefix, where they differ
PREFIX = {"elbv2": "elasticloadbalancing", "resourcegroupstaggingapi": "tag"}
#: the parameter a create call carries its tags in, per service
TAG_PARAMS = ("Tags", "tags", "TagSpecifications", "UserPoolTags")
#: the action that tag-on-create needs, per service
TAG_ACTION = {
    "ec2": "ec2:CreateTags",
    "elbv2": "elasticloadbalancing:AddTags",
    "rds": "rds:AddTagsToResource",
    "kms": "kms:TagResource",
    "dynamodb": "dynamodb:TagResource",
    "logs": "logs:TagResource",
    "secretsmanager": "secretsmanager:TagResource",
    "lambda": "lambda:TagResource",
    "batch": "batch:TagResource",
    "ecs": "ecs:TagResource",
    "ecr": "ecr:TagResource",
    "sagemaker": "sagemaker:AddTags",
    "cognito-idp": "cognito-idp:TagResource",
}
_READ = re.compile(r"^(Describe|List|Get)")

RoleOfProfile = Callable[[str], str]


def _name(value: str) -> str:
    """A name or the name at the end of an ARN."""
    return re.split(r"[/:]", value)[-1] if value.startswith("arn:") else value


def _ec2(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if _READ.match(op):
        return ["*"]
    # every EC2 id is AWS's: the resource type alone matters here (the ARN is account- and region-scoped)
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", re.sub(r"^(Create|Delete|Modify|Attach|Detach|Associate|Disassociate|"
                  r"Replace|Allocate|Release|Authorize|Revoke|Update)", "", op)).lower() or "resource"  # fmt: skip
    return [env.arn("ec2", f"{kind}/x")]


def _iam(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if op in ("ListRoles", "GetAccountAuthorizationDetails"):
        return ["*"]
    if op == "CreateServiceLinkedRole":
        return [env.arn("iam", f"role/aws-service-role/{p['AWSServiceName']}/x", region=False)]
    if op == "SimulatePrincipalPolicy":  # the preflight: authorized on the user, group or role simulated
        return [str(p["PolicySourceArn"])]
    if "InstanceProfileName" in p:
        return [env.arn("iam", f"instance-profile{p.get('Path', '/')}{p['InstanceProfileName']}", region=False)]
    if "RoleName" in p:
        return [env.arn("iam", f"role{p.get('Path', '/')}{p['RoleName']}", region=False)]
    raise Unmapped(f"iam:{op}")


def _kms(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if op in ("CreateKey", "ListKeys", "ListAliases"):
        return ["*"]
    if op in ("CreateAlias", "DeleteAlias", "UpdateAlias"):
        key = p.get("TargetKeyId", "x")
        return [env.arn("kms", p["AliasName"]), key if key.startswith("arn:") else env.arn("kms", f"key/{key}")]
    key = str(p["KeyId"])
    # an alias names the key it points to: the key is what is authorized
    return [key if key.startswith("arn:") and ":key/" in key else env.arn("kms", f"key/{_name(key)}")]


_S3_ACTION = {
    "HeadBucket": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "DeleteBucketLifecycle": "PutLifecycleConfiguration",
    "HeadObject": "GetObject",
}


def _s3_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    bucket = f"arn:{env.partition}:s3:::{p['Bucket']}"
    ctx = env.base_context()
    if op == "DeleteObjects":
        out = []
        for o in p["Delete"]["Objects"]:
            action = "s3:DeleteObjectVersion" if o.get("VersionId") else "s3:DeleteObject"
            out.append(Check(action, f"{bucket}/{o['Key']}", ctx))
        return out
    action = "s3:" + _S3_ACTION.get(op, op)
    if op == "GetObject" and p.get("VersionId"):
        action = "s3:GetObjectVersion"
    return [Check(action, f"{bucket}/{p['Key']}" if "Key" in p else bucket, ctx)]


def _arn_or(env: Env, service: str, value: str, resource: str) -> str:
    return value if value.startswith("arn:") else env.arn(service, resource.format(value))


def _batch(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if _READ.match(op):
        return ["*"]
    if op == "CreateComputeEnvironment":
        return [env.arn("batch", f"compute-environment/{p['computeEnvironmentName']}")]
    if "computeEnvironment" in p:
        return [_arn_or(env, "batch", p["computeEnvironment"], "compute-environment/{}")]
    if op == "CreateJobQueue":
        return [env.arn("batch", f"job-queue/{p['jobQueueName']}")] + [
            _arn_or(env, "batch", o["computeEnvironment"], "compute-environment/{}")
            for o in p.get("computeEnvironmentOrder", [])
        ]
    if "jobQueue" in p:
        out = [_arn_or(env, "batch", p["jobQueue"], "job-queue/{}")]
        return out + [
            _arn_or(env, "batch", o["computeEnvironment"], "compute-environment/{}")
            for o in p.get("computeEnvironmentOrder", [])
        ]
    if "resourceArn" in p:
        return [p["resourceArn"]]
    raise Unmapped(f"batch:{op}")


def _ecs(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if op in ("RegisterTaskDefinition", "DescribeTaskDefinition", "ListTaskDefinitions", "DeregisterTaskDefinition"):
        return ["*"]
    if op == "DeleteTaskDefinitions":
        return list(p["taskDefinitions"])
    if op in ("CreateCluster",):
        return [env.arn("ecs", f"cluster/{p['clusterName']}")]
    if op == "DescribeClusters":
        return [_arn_or(env, "ecs", c, "cluster/{}") for c in p["clusters"]]
    if op in ("DeleteCluster", "UpdateCluster"):
        return [_arn_or(env, "ecs", p["cluster"], "cluster/{}")]
    cluster = _name(p.get("cluster", "default"))
    if op == "CreateService":
        return [env.arn("ecs", f"service/{cluster}/{p['serviceName']}")]
    if op == "DescribeServices":
        return [_arn_or(env, "ecs", s, f"service/{cluster}/{{}}") for s in p["services"]]
    if op in ("UpdateService", "DeleteService"):
        return [_arn_or(env, "ecs", p["service"], f"service/{cluster}/{{}}")]
    if "resourceArn" in p:
        return [p["resourceArn"]]
    raise Unmapped(f"ecs:{op}")


def _rds(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    out = []
    for param, kind in (
        ("DBInstanceIdentifier", "db"),
        ("DBClusterIdentifier", "cluster"),
        ("DBSubnetGroupName", "subgrp"),
        ("DBSnapshotIdentifier", "snapshot"),
        ("DBClusterSnapshotIdentifier", "cluster-snapshot"),
    ):
        if p.get(param):
            out.append(_arn_or(env, "rds", p[param], f"{kind}:{{}}"))
    if p.get("ResourceName"):
        out.append(p["ResourceName"])
    if not out:
        raise Unmapped(f"rds:{op}")
    return out


def _elbv2(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if _READ.match(op):
        return ["*"]
    if op == "CreateLoadBalancer":
        short = {"network": "net", "application": "app", "gateway": "gwy"}[p.get("Type", "application")]
        return [env.arn("elasticloadbalancing", f"loadbalancer/{short}/{p['Name']}/x")]
    if op == "CreateTargetGroup":
        return [env.arn("elasticloadbalancing", f"targetgroup/{p['Name']}/x")]
    if op == "AddTags":
        return list(p["ResourceArns"])
    if op == "SetRulePriorities":
        return [r["RuleArn"] for r in p["RulePriorities"]]
    for param in ("RuleArn", "ListenerArn", "TargetGroupArn", "LoadBalancerArn"):
        if param in p:
            return [p[param]]
    raise Unmapped(f"elbv2:{op}")


def _apigateway_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    """API Gateway authorizes the HTTP verb on the request's path."""
    model = service_model("apigateway").operation_model(op)
    uri = model.http["requestUri"].split("?", 1)[0]
    names = {m.serialization.get("name", k): k for k, m in model.input_shape.members.items()}
    path = re.sub(r"\{([^}+]+)\+?\}", lambda m: str(p.get(names.get(m.group(1), m.group(1)), "x")), uri)
    return [Check(f"apigateway:{model.http['method']}", f"arn:{env.partition}:apigateway:{env.region}::{path}",
                  env.base_context())]  # fmt: skip


def _named(service: str, resource: str, params: tuple[str, ...], lower: bool = False) -> Callable[..., list[str]]:
    def resources(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
        for param in params:
            if param in p:
                v = p[param]
                values = v if isinstance(v, list) else [v]
                return [
                    x if str(x).startswith("arn:") else env.arn(service, resource.format(x.lower() if lower else x))
                    for x in values
                ]
        if service in ("logs", "cognito-idp", "application-autoscaling") and _READ.match(op):
            return ["*"]
        raise Unmapped(f"{service}:{op}")

    return resources


def _secret(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    value = p.get("SecretId") or p["Name"]
    return [value if value.startswith("arn:") else env.arn("secretsmanager", f"secret:{value}-AbCdEf")]


def _sagemaker(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if "ResourceArn" in p:
        return [p["ResourceArn"]]
    if "NotebookInstanceLifecycleConfigName" in p and "NotebookInstanceName" not in p:
        return [
            env.arn(
                "sagemaker", f"notebook-instance-lifecycle-config/{p['NotebookInstanceLifecycleConfigName'].lower()}"
            )
        ]
    if "NotebookInstanceName" in p:
        return [env.arn("sagemaker", f"notebook-instance/{p['NotebookInstanceName'].lower()}")]
    raise Unmapped(f"sagemaker:{op}")  # fmt: skip


def _cognito(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if op in ("CreateUserPool", "ListUserPools", "DescribeUserPoolDomain"):
        return ["*"]
    if "UserPoolId" in p:
        return [env.arn("cognito-idp", f"userpool/{p['UserPoolId']}")]
    if "ResourceArn" in p:
        return [p["ResourceArn"]]
    raise Unmapped(f"cognito-idp:{op}")


def _appscaling(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if _READ.match(op):
        return ["*"]
    return [env.arn("application-autoscaling", "scalable-target/x")]


def _route53(env: Env, op: str, p: Mapping[str, Any]) -> list[str]:
    if op == "GetChange":
        return [f"arn:{env.partition}:route53:::change/{_name(p['Id'])}"]
    return [f"arn:{env.partition}:route53:::hostedzone/{_name(p['HostedZoneId'])}"]


RESOURCES: dict[str, Callable[[Env, str, Mapping[str, Any]], list[str]]] = {
    "ec2": _ec2,
    "iam": _iam,
    "kms": _kms,
    "batch": _batch,
    "ecs": _ecs,
    "rds": _rds,
    "elbv2": _elbv2,
    "dynamodb": _named("dynamodb", "table/{}", ("TableName", "ResourceArn")),
    "lambda": _named("lambda", "function:{}", ("FunctionName", "Resource")),
    "logs": _named("logs", "log-group:{}", ("logGroupName", "resourceArn")),
    "ecr": _named("ecr", "repository/{}", ("repositoryName", "repositoryNames", "resourceArn")),
    "secretsmanager": _secret,
    "sagemaker": _sagemaker,
    "cognito-idp": _cognito,
    "application-autoscaling": _appscaling,
    "route53": _route53,
    "resourcegroupstaggingapi": lambda env, op, p: ["*"],
}

#: (service, operation) -> the role parameters a call passes (IAM "pass a role")
PASSES = {
    ("batch", "CreateComputeEnvironment"): ("serviceRole", "computeResources.instanceRole"),
    ("ecs", "RegisterTaskDefinition"): ("executionRoleArn", "taskRoleArn"),
    ("lambda", "CreateFunction"): ("Role",),
    ("lambda", "UpdateFunctionConfiguration"): ("Role",),
    ("sagemaker", "CreateNotebookInstance"): ("RoleArn",),
    ("iam", "AddRoleToInstanceProfile"): ("RoleName",),
}


def _param(p: Mapping[str, Any], dotted: str) -> Any:
    value: Any = p
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def provisioning_checks(
    service: str, op: str, p: Mapping[str, Any], env: Env, role_of_profile: RoleOfProfile
) -> list[Check]:
    """Every authorization one provisioning call needs."""
    ctx = env.base_context()
    if service == "sts" and op == "GetCallerIdentity":
        return []  # "No permissions are required to perform this operation"
    if service == "s3":
        checks = _s3_checks(env, op, p)
    elif service == "apigateway":
        checks = _apigateway_checks(env, op, p)
    else:
        if service not in RESOURCES:
            raise Unmapped(f"{service}:{op}")
        action = f"{PREFIX.get(service, service)}:{op}"
        checks = [Check(action, r, ctx) for r in RESOURCES[service](env, op, p)]
    for param in PASSES.get((service, op), ()):
        role = _param(p, param)
        if not role:
            continue
        if ":instance-profile/" in role:
            role = role_of_profile(role)
        elif not role.startswith("arn:"):
            role = env.arn("iam", f"role/{role}", region=False)
        checks.append(Check("iam:PassRole", role, ctx))
    if op.startswith(("Create", "Allocate", "Register")) and any(p.get(t) for t in TAG_PARAMS):
        tag = TAG_ACTION.get(service) or {
            "CreateRole": "iam:TagRole",
            "CreateInstanceProfile": "iam:TagInstanceProfile",
        }.get(op)
        if tag is not None and checks:
            # a create authorized against `*` (no ARN before it exists) tags the new resource: KMS's "Controlling
            # access to tags" asks for kms:TagResource on the account's keys in the region (key/*)
            new = {
                "kms": env.arn("kms", "key/new"),
                "cognito-idp": env.arn("cognito-idp", "userpool/new"),
                "ecs": env.arn("ecs", f"task-definition/{p.get('family')}:1"),
            }
            resource = checks[0].resource if checks[0].resource != "*" else new.get(service, "*")
            checks.append(Check(tag, resource, ctx))
    if service == "rds" and p.get("FinalDBSnapshotIdentifier"):
        # a delete that keeps a final snapshot creates it as the caller
        cluster = op == "DeleteDBCluster"
        kind = "cluster-snapshot" if cluster else "snapshot"
        action = "rds:CreateDBClusterSnapshot" if cluster else "rds:CreateDBSnapshot"
        checks.append(Check(action, env.arn("rds", f"{kind}:{p['FinalDBSnapshotIdentifier']}"), ctx))
    return checks
