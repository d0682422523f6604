"""The least-privilege IAM policy a person or CI needs to run ``up``, ``drift``, ``down`` and ``rotate`` of one
config.

It is derived from the blueprint, not written by hand: every resource kind has an entry in :data:`KIND_GRANTS`
(the IAM actions its hooks' calls are authorized as, and the ARNs they apply to, as templates), and every node of
the stack's blueprint contributes its kind's grants with its own names filled in. The engine's and the CLI's own
calls (:data:`ENGINE_GRANTS`, :func:`state_grants`) are added, and the result is grouped into statements of
actions that share exactly the same resources, so grouping never widens what any action may touch.

Templates: ``{partition}``, ``{region}``, ``{account}``, ``{name}`` (the node's name: ``name``, ``identifier``,
``family`` or ``domain``) and ``{<prop>...}`` paths that follow a property, and through a :class:`Ref` the node
it names (``{load_balancer_arn.name}`` is the name of the load balancer a listener belongs to). ``role_arn`` at
the end of a path is the ARN of the IAM role it names (through an instance profile, the role inside it). A value
that is not known from the config (an id AWS chooses) becomes ``*`` in that place; an absent optional property
drops the ARN. A grant whose resource is ``*`` alone says why AWS allows nothing narrower.

Sources: the Service Authorization Reference (https://docs.aws.amazon.com/service-authorization/latest/reference/
reference_policies_actions-resources-contextkeys.html) for action names, resource types and ARN formats; each
service's "tag on create" pages for the tagging action a create with tags needs; "Using service-linked roles"
(IAM user guide) for ``iam:CreateServiceLinkedRole``; API Gateway's "Control access to API Gateway with IAM
permissions" for its HTTP-verb actions (derived here from botocore's model of each operation's HTTP request).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint, Concat, Node
from resources.base import Ref

#: the placeholders written where the account or partition is not known (no credentials at hand)
ACCOUNT_PLACEHOLDER = "${AWS::AccountId}"
PARTITION_PLACEHOLDER = "${AWS::Partition}"

NO_RESOURCE = "AWS authorizes it against no resource (the Service Authorization Reference lists no resource type)"
AWS_IDS = "the ids are chosen by AWS at create time: scoped to the account and region"
DESCRIBE = "Describe/List calls of this service take no resource-level permission"


@dataclass(frozen=True)
class Grant:
    """IAM actions and the ARN templates they apply to."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    #: why ``*``: only for ``resources == ("*",)``
    why: str = ""
    #: an IAM Condition block
    condition: Mapping[str, Mapping[str, str]] | None = None
    #: the grant applies only when this property is set (``!prop``: only when it is not)
    when: str = ""
    #: the grant applies only when the stack has at least this many nodes of the kind (a batched read)
    min_nodes: int = 0
    #: needed on AWS but not made as a call of its own (a role passed, a service-linked role, tag-on-create,
    #: a KMS key an integrated service uses for the caller): the sandbox cannot show it is needed
    implied: bool = False


def _arn(service: str, resource: str, regional: bool = True, account: bool = True) -> str:
    return f"arn:{{partition}}:{service}:{'{region}' if regional else ''}:{'{account}' if account else ''}:{resource}"


def _pass_role(*props: str) -> Grant:
    """``iam:PassRole`` on exactly the roles the node hands to a service."""
    return Grant(
        ("iam:PassRole",),
        tuple(f"{{{p}.role_arn}}" for p in props),
        implied=True,
    )


def _service_linked(service: str, when: str = "") -> Grant:
    """AWS creates a service's service-linked role the first time it is needed, as the caller."""
    return Grant(
        ("iam:CreateServiceLinkedRole",),
        (_arn("iam", f"role/aws-service-role/{service}/*", regional=False),),
        condition={"StringEquals": {"iam:AWSServiceName": service}},
        when=when,
        implied=True,
    )


def _kms(*actions: str, when: str) -> Grant:
    """A key an integrated service uses on the caller's behalf (its id is chosen by AWS)."""
    return Grant(tuple(f"kms:{a}" for a in actions), (_arn("kms", "key/*"),), when=when, implied=True)


_EC2 = (_arn("ec2", "*"),)
_EC2_DESCRIBE = Grant(
    (
        "ec2:DescribeVpcs",
        "ec2:DescribeVpcAttribute",
        "ec2:DescribeSubnets",
        "ec2:DescribeInternetGateways",
        "ec2:DescribeRouteTables",
        "ec2:DescribeAddresses",
        "ec2:DescribeNatGateways",
        "ec2:DescribeVpcEndpoints",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeLaunchTemplates",
        "ec2:DescribeLaunchTemplateVersions",
    ),
    ("*",),
    why=DESCRIBE,
)


def _ec2(*actions: str, tagged: bool = True) -> tuple[Grant, ...]:
    """An EC2 type: its calls on the account's resources in the region (ids are AWS's), the Describe calls
    on ``*``; a type tagged in its create call needs ``ec2:CreateTags`` too."""
    extra = (Grant(("ec2:CreateTags",), _EC2, implied=True),) if tagged else ()
    return (Grant(tuple(f"ec2:{a}" for a in actions), _EC2), *extra, _EC2_DESCRIBE)


_ROLE = _arn("iam", "role{path}{name}", regional=False)
_PROFILE = _arn("iam", "instance-profile{path}{name}", regional=False)
_KEY = _arn("kms", "key/*")
_BUCKET = _arn("s3", "{name}", regional=False, account=False)
_TABLE = _arn("dynamodb", "table/{name}")
_LOG_GROUP = _arn("logs", "log-group:{name}")
_SECRET = _arn("secretsmanager", "secret:{name}-??????")
_LB = _arn("elasticloadbalancing", "loadbalancer/*/{name}/*")
_ELB_DESCRIBE = Grant(
    (
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeLoadBalancerAttributes",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeRules",
        "elasticloadbalancing:DescribeTags",
    ),
    ("*",),
    why=DESCRIBE,
)
_BATCH_DESCRIBE = Grant(("batch:DescribeComputeEnvironments", "batch:DescribeJobQueues"), ("*",), why=DESCRIBE)
_RDS = (
    _arn("rds", "db:{name}"),
    _arn("rds", "cluster:{name}"),
    _arn("rds", "snapshot:{name}-*"),
    _arn("rds", "cluster-snapshot:{name}-*"),
    _arn("rds", "og:*"),
    _arn("rds", "pg:*"),
    _arn("rds", "cluster-pg:*"),
    _arn("rds", "subgrp:{subnet_group_name}"),
    _arn("rds", "secgrp:*"),
)
_SAGEMAKER_NOTEBOOK = _arn("sagemaker", "notebook-instance/{name_lower}")
_SAGEMAKER_LIFECYCLE = _arn("sagemaker", "notebook-instance-lifecycle-config/{name_lower}")
_USER_POOL = _arn("cognito-idp", "userpool/*")
_ALARMS = _arn("cloudwatch", "alarm:TargetTracking-*")

#: the botocore services whose calls the grants name
SERVICES_USED = (
    "ec2", "iam", "kms", "s3", "dynamodb", "batch", "apigateway", "lambda", "logs", "secretsmanager", "rds", "elbv2",
    "ecs", "ecr", "sagemaker", "cognito-idp", "application-autoscaling", "route53", "resourcegroupstaggingapi", "sts",
    "budgets",
)  # fmt: skip

#: per resource kind: what its hooks' calls are authorized as. A test fails when a registered kind has no entry.
KIND_GRANTS: dict[str, tuple[Grant, ...]] = {
    # --- EC2 (resource-level permissions by ARN, but the ids are AWS's)
    "ec2.vpc": _ec2("CreateVpc", "ModifyVpcAttribute", "DeleteVpc"),
    "ec2.subnet": _ec2("CreateSubnet", "ModifySubnetAttribute", "DeleteSubnet"),
    "ec2.internet_gateway": _ec2(
        "CreateInternetGateway", "AttachInternetGateway", "DetachInternetGateway", "DeleteInternetGateway"
    ),
    "ec2.route_table": _ec2("CreateRouteTable", "DisassociateRouteTable", "DeleteRouteTable"),
    "ec2.route": _ec2("CreateRoute", "ReplaceRoute", "DeleteRoute", tagged=False),
    "ec2.route_table_association": _ec2(
        "AssociateRouteTable", "ReplaceRouteTableAssociation", "DisassociateRouteTable", tagged=False
    ),
    "ec2.eip": _ec2("AllocateAddress", "ReleaseAddress"),
    "ec2.nat_gateway": _ec2("CreateNatGateway", "DeleteNatGateway"),
    "ec2.vpc_endpoint": _ec2("CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints"),
    "ec2.security_group": _ec2(
        "CreateSecurityGroup",
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "UpdateSecurityGroupRuleDescriptionsIngress",
        "UpdateSecurityGroupRuleDescriptionsEgress",
        "DeleteSecurityGroup",
    ),
    "ec2.launch_template": _ec2(
        "CreateLaunchTemplate", "CreateLaunchTemplateVersion", "ModifyLaunchTemplate", "DeleteLaunchTemplate"
    ),
    # --- IAM (by name; the batched read of three roles or more reads the account's authorization details)
    "iam.role": (
        Grant(
            (
                "iam:CreateRole",
                "iam:GetRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:PutRolePolicy",
                "iam:GetRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListRolePolicies",
                "iam:AttachRolePolicy",
                "iam:DetachRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:DeleteRole",
            ),
            (_ROLE,),
        ),
        # the batched read of three roles or more (resources/iam.py Role.read_many)
        Grant(("iam:ListRoles", "iam:GetAccountAuthorizationDetails"), ("*",), why=NO_RESOURCE, min_nodes=3),
    ),
    "iam.instance_profile": (
        Grant(
            (
                "iam:CreateInstanceProfile",
                "iam:GetInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ),
            (_PROFILE,),
        ),
        # Adding a role to an instance profile passes it (IAM user guide, "Using instance profiles").
        _pass_role("role_name"),
    ),
    # --- KMS
    "kms.key": (
        Grant(("kms:CreateKey", "kms:ListKeys"), ("*",), why=NO_RESOURCE),
        Grant(
            (
                "kms:DescribeKey",
                "kms:GetKeyPolicy",
                "kms:PutKeyPolicy",
                "kms:GetKeyRotationStatus",
                "kms:EnableKeyRotation",
                "kms:DisableKeyRotation",
                "kms:UpdateKeyDescription",
                "kms:ListResourceTags",
                "kms:TagResource",
                "kms:ScheduleKeyDeletion",
            ),
            (_KEY,),
        ),
    ),
    "kms.alias": (
        Grant(
            ("kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"),
            (_arn("kms", "alias/{name_after_alias}"), _KEY),
        ),
        Grant(("kms:DescribeKey",), (_KEY,)),
        Grant(("kms:ListAliases",), ("*",), why=NO_RESOURCE),
    ),
    # --- S3 (by bucket name)
    "s3.bucket": (
        Grant(
            (
                "s3:CreateBucket",
                "s3:ListBucket",
                "s3:ListBucketVersions",
                "s3:GetEncryptionConfiguration",
                "s3:PutEncryptionConfiguration",
                "s3:GetBucketPublicAccessBlock",
                "s3:PutBucketPublicAccessBlock",
                "s3:GetBucketVersioning",
                "s3:PutBucketVersioning",
                "s3:GetLifecycleConfiguration",
                "s3:PutLifecycleConfiguration",  # DeleteBucketLifecycle too
                "s3:GetBucketTagging",
                "s3:PutBucketTagging",
                "s3:DeleteBucket",
            ),
            (_BUCKET,),
        ),
        # emptying it on `down` when force_destroy is on
        Grant(("s3:DeleteObject", "s3:DeleteObjectVersion"), (_BUCKET + "/*",), when="force_destroy"),
    ),
    "dynamodb.table": (
        Grant(
            (
                "dynamodb:CreateTable",
                "dynamodb:DescribeTable",
                "dynamodb:UpdateTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:UpdateTimeToLive",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:ListTagsOfResource",
                "dynamodb:TagResource",
                "dynamodb:DeleteTable",
            ),
            (_TABLE,),
        ),
        # the key is looked up by alias (the AWS managed aws/dynamodb key, or the config's)
        Grant(("kms:DescribeKey",), (_KEY,), when="sse_enabled"),
        _kms("CreateGrant", when="kms_key_arn"),
    ),
    # --- Batch
    "batch.compute_environment": (
        Grant(
            (
                "batch:CreateComputeEnvironment",
                "batch:UpdateComputeEnvironment",
                "batch:TagResource",
                "batch:DeleteComputeEnvironment",
            ),
            (_arn("batch", "compute-environment/{name}"),),
        ),
        _BATCH_DESCRIBE,
        _pass_role("instance_role", "service_role"),
        _service_linked("batch.amazonaws.com", when="!service_role"),
    ),
    "batch.job_queue": (
        Grant(
            ("batch:CreateJobQueue", "batch:UpdateJobQueue", "batch:TagResource", "batch:DeleteJobQueue"),
            (_arn("batch", "job-queue/{name}"), _arn("batch", "compute-environment/{compute_environments.name}")),
        ),
        _BATCH_DESCRIBE,
    ),
    # --- API Gateway: actions are HTTP verbs on paths, from botocore's model of each call (see api_gateway_grant)
    "apigateway.vpc_link": (
        # creating a VPC link makes a VPC endpoint service of the NLB as the caller
        Grant(
            (
                "ec2:CreateVpcEndpointServiceConfiguration",
                "ec2:DeleteVpcEndpointServiceConfigurations",
                "ec2:DescribeVpcEndpointServiceConfigurations",
                "ec2:ModifyVpcEndpointServicePermissions",
                "elasticloadbalancing:DescribeLoadBalancers",
            ),
            ("*",),
            why="API Gateway makes a VPC endpoint service of the load balancer as the caller, with an id of AWS's",
            implied=True,
        ),
    ),
    "apigateway.rest_api": (),
    "apigateway.resource": (),
    "apigateway.method": (),
    "apigateway.stage": (),
    "apigateway.api_key": (),
    "apigateway.usage_plan": (),
    "apigateway.usage_plan_key": (),
    # --- Lambda
    "lambda.function": (
        Grant(
            (
                "lambda:CreateFunction",
                "lambda:GetFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:TagResource",
                "lambda:DeleteFunction",
            ),
            (_arn("lambda", "function:{name}"),),
        ),
        # its delete waits for the function's network interfaces to go
        Grant(("ec2:DescribeNetworkInterfaces",), ("*",), why=DESCRIBE),
        # a function in a VPC: Lambda checks the caller may see the subnets and security groups
        Grant(
            ("ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"),
            ("*",),
            why=DESCRIBE,
            when="subnet_ids",
            implied=True,
        ),
        _pass_role("role_arn"),
    ),
    "logs.log_group": (
        Grant(
            (
                "logs:CreateLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:AssociateKmsKey",
                "logs:DisassociateKmsKey",
                "logs:ListTagsForResource",
                "logs:TagResource",
                "logs:DeleteLogGroup",
            ),
            (_LOG_GROUP, _LOG_GROUP + ":*"),
        ),
        Grant(("logs:DescribeLogGroups",), ("*",), why=DESCRIBE),
    ),
    "secretsmanager.secret": (
        Grant(
            (
                "secretsmanager:CreateSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:UpdateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:DeleteSecret",
            ),
            (_SECRET,),
        ),
        _kms("GenerateDataKey", "Decrypt", when="kms_key_id"),
    ),
    # --- RDS (by identifier; the default option and parameter groups are AWS's)
    "rds.db_subnet_group": (
        Grant(
            (
                "rds:CreateDBSubnetGroup",
                "rds:DescribeDBSubnetGroups",
                "rds:ModifyDBSubnetGroup",
                "rds:ListTagsForResource",
                "rds:AddTagsToResource",
                "rds:DeleteDBSubnetGroup",
            ),
            (_arn("rds", "subgrp:{name}"),),
        ),
    ),
    "rds.db_instance": (
        Grant(
            (
                "rds:CreateDBInstance",
                "rds:DescribeDBInstances",
                "rds:ModifyDBInstance",
                "rds:AddTagsToResource",
                "rds:ListTagsForResource",
                "rds:DescribeDBSnapshots",
                "rds:CreateDBSnapshot",
                "rds:DeleteDBInstance",
            ),
            _RDS,
        ),
        # restore (snapshot_identifier): from the named snapshot, or from a copy under the stack's key
        Grant(
            # RemoveTagsFromResource: the tag that says the restore's password reset is still to do
            (
                "rds:RestoreDBInstanceFromDBSnapshot",
                "rds:CopyDBSnapshot",
                "rds:DeleteDBSnapshot",
                "rds:RemoveTagsFromResource",
            ),
            (*_RDS, _arn("rds", "snapshot:{snapshot_identifier.name}")),
            when="snapshot_identifier",
        ),
        Grant(
            ("secretsmanager:GetSecretValue",), (_arn("secretsmanager", "secret:{password_secret_arn.name}-??????"),)
        ),
        Grant(("kms:DescribeKey",), (_KEY,), when="kms_key_id"),
        _kms("CreateGrant", "Decrypt", when="kms_key_id"),
        _service_linked("rds.amazonaws.com"),
    ),
    "rds.db_cluster": (
        Grant(
            (
                "rds:CreateDBCluster",
                "rds:DescribeDBClusters",
                "rds:ModifyDBCluster",
                "rds:AddTagsToResource",
                "rds:ListTagsForResource",
                "rds:DescribeDBClusterSnapshots",
                "rds:CreateDBClusterSnapshot",
                "rds:DeleteDBCluster",
            ),
            _RDS,
        ),
        Grant(
            ("rds:RestoreDBClusterFromSnapshot", "rds:RemoveTagsFromResource"),
            (*_RDS, _arn("rds", "cluster-snapshot:{snapshot_identifier.name}")),
            when="snapshot_identifier",
        ),
        Grant(
            ("secretsmanager:GetSecretValue",), (_arn("secretsmanager", "secret:{password_secret_arn.name}-??????"),)
        ),
        Grant(("kms:DescribeKey",), (_KEY,), when="kms_key_id"),
        _kms("CreateGrant", "Decrypt", when="kms_key_id"),
        _service_linked("rds.amazonaws.com"),
    ),
    "rds.db_cluster_instance": (
        Grant(
            (
                "rds:CreateDBInstance",
                "rds:DescribeDBInstances",
                "rds:ModifyDBInstance",
                "rds:AddTagsToResource",
                "rds:ListTagsForResource",
                "rds:DeleteDBInstance",
            ),
            (
                _arn("rds", "db:{name}"),
                _arn("rds", "cluster:{cluster_identifier.name}"),
                _arn("rds", "og:*"),
                _arn("rds", "pg:*"),
            ),
        ),
    ),  # fmt: skip
    # --- ELBv2 (the ARN's last part is AWS's)
    "elbv2.load_balancer": (
        Grant(
            (
                "elasticloadbalancing:CreateLoadBalancer",
                "elasticloadbalancing:ModifyLoadBalancerAttributes",
                "elasticloadbalancing:SetSubnets",
                "elasticloadbalancing:SetSecurityGroups",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:DeleteLoadBalancer",
            ),
            (_LB,),
        ),
        _ELB_DESCRIBE,
        _service_linked("elasticloadbalancing.amazonaws.com"),
    ),
    "elbv2.target_group": (
        Grant(
            (
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:ModifyTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:DeleteTargetGroup",
            ),
            (_arn("elasticloadbalancing", "targetgroup/{name}/*"),),
        ),
        _ELB_DESCRIBE,
    ),
    "elbv2.listener": (
        Grant(
            (
                "elasticloadbalancing:CreateListener",
                "elasticloadbalancing:ModifyListener",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:DeleteListener",
            ),
            (
                _arn("elasticloadbalancing", "loadbalancer/*/{load_balancer_arn.name}/*"),
                _arn("elasticloadbalancing", "listener/*/{load_balancer_arn.name}/*/*"),
            ),
        ),
        _ELB_DESCRIBE,
        Grant(("secretsmanager:GetSecretValue",), ("{**client_secret_arn}",), when="**client_secret_arn"),
    ),
    "elbv2.listener_rule": (
        Grant(
            (
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:SetRulePriorities",
                "elasticloadbalancing:AddTags",
                "elasticloadbalancing:DeleteRule",
            ),
            (
                _arn("elasticloadbalancing", "listener/*/{listener_arn.load_balancer_arn.name}/*/*"),
                _arn("elasticloadbalancing", "listener-rule/*/{listener_arn.load_balancer_arn.name}/*/*/*"),
            ),
        ),
        _ELB_DESCRIBE,
        Grant(("secretsmanager:GetSecretValue",), ("{**client_secret_arn}",), when="**client_secret_arn"),
    ),
    # --- ECS
    "ecs.cluster": (
        Grant(
            ("ecs:CreateCluster", "ecs:DescribeClusters", "ecs:UpdateCluster", "ecs:TagResource", "ecs:DeleteCluster"),
            (_arn("ecs", "cluster/{name}"),),
        ),
        _service_linked("ecs.amazonaws.com"),
    ),
    "ecs.task_definition": (
        Grant(
            (
                "ecs:RegisterTaskDefinition",
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
                "ecs:DeregisterTaskDefinition",
            ),
            ("*",),
            why=NO_RESOURCE,
        ),
        Grant(("ecs:TagResource", "ecs:DeleteTaskDefinitions"), (_arn("ecs", "task-definition/{name}:*"),)),
        _pass_role("execution_role_arn", "task_role_arn"),
    ),
    "ecs.service": (
        Grant(
            ("ecs:CreateService", "ecs:DescribeServices", "ecs:UpdateService", "ecs:TagResource", "ecs:DeleteService"),
            (_arn("ecs", "service/{cluster.name}/{name}"),),
        ),
        _service_linked("ecs.amazonaws.com"),
    ),
    "ecr.repository": (
        Grant(
            (
                "ecr:CreateRepository",
                "ecr:DescribeRepositories",
                "ecr:PutImageTagMutability",
                "ecr:PutImageScanningConfiguration",
                "ecr:GetLifecyclePolicy",
                "ecr:PutLifecyclePolicy",
                "ecr:DeleteLifecyclePolicy",
                "ecr:ListTagsForResource",
                "ecr:TagResource",
                "ecr:DeleteRepository",
            ),
            (_arn("ecr", "repository/{name}"),),
        ),
        _kms("DescribeKey", "CreateGrant", "RetireGrant", when="kms_key_arn"),
    ),
    "sagemaker.notebook_lifecycle_config": (
        Grant(
            (
                "sagemaker:CreateNotebookInstanceLifecycleConfig",
                "sagemaker:DescribeNotebookInstanceLifecycleConfig",
                "sagemaker:UpdateNotebookInstanceLifecycleConfig",
                "sagemaker:DeleteNotebookInstanceLifecycleConfig",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ),
            (_SAGEMAKER_LIFECYCLE,),
        ),
    ),
    "sagemaker.notebook_instance": (
        Grant(
            (
                "sagemaker:CreateNotebookInstance",
                "sagemaker:DescribeNotebookInstance",
                "sagemaker:UpdateNotebookInstance",
                "sagemaker:StartNotebookInstance",
                "sagemaker:StopNotebookInstance",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
                "sagemaker:DeleteNotebookInstance",
            ),
            (_SAGEMAKER_NOTEBOOK,),
        ),
        _pass_role("role_arn"),
        _kms("CreateGrant", "DescribeKey", when="kms_key_id"),
    ),
    "cognito.user_pool": (
        Grant(("cognito-idp:CreateUserPool", "cognito-idp:ListUserPools"), ("*",), why=NO_RESOURCE),
        Grant(
            (
                "cognito-idp:DescribeUserPool",
                "cognito-idp:UpdateUserPool",
                "cognito-idp:GetUserPoolMfaConfig",
                "cognito-idp:SetUserPoolMfaConfig",
                "cognito-idp:TagResource",
                "cognito-idp:DeleteUserPool",
            ),
            (_USER_POOL,),
        ),
    ),
    "cognito.user_pool_client": (
        Grant(
            (
                "cognito-idp:CreateUserPoolClient",
                "cognito-idp:DescribeUserPoolClient",
                "cognito-idp:UpdateUserPoolClient",
                "cognito-idp:ListUserPoolClients",
                "cognito-idp:DeleteUserPoolClient",
            ),
            (_USER_POOL,),
        ),
    ),
    "cognito.user_pool_domain": (
        Grant(
            ("cognito-idp:CreateUserPoolDomain", "cognito-idp:DeleteUserPoolDomain"),
            (_USER_POOL,),
        ),
        Grant(("cognito-idp:DescribeUserPoolDomain",), ("*",), why=NO_RESOURCE),
    ),
    "appscaling.scalable_target": (
        Grant(
            ("application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget"),
            (_arn("application-autoscaling", "scalable-target/*"),),
        ),
        Grant(("application-autoscaling:DescribeScalableTargets",), ("*",), why=DESCRIBE),
        # Application Auto Scaling reads and updates the ECS service as the caller
        Grant(("ecs:DescribeServices", "ecs:UpdateService"), (_arn("ecs", "service/*"),), implied=True),
        _service_linked("ecs.application-autoscaling.amazonaws.com"),
    ),
    "appscaling.scaling_policy": (
        Grant(
            ("application-autoscaling:PutScalingPolicy", "application-autoscaling:DeleteScalingPolicy"),
            (_arn("application-autoscaling", "scalable-target/*"),),
        ),
        Grant(("application-autoscaling:DescribeScalingPolicies",), ("*",), why=DESCRIBE),
        # a target-tracking policy's alarms are made and removed as the caller
        Grant(("cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"), (_ALARMS,), implied=True),
        Grant(("cloudwatch:DescribeAlarms",), ("*",), why=DESCRIBE, implied=True),
    ),
    "route53.record": (
        Grant(
            ("route53:ChangeResourceRecordSets", "route53:ListResourceRecordSets"),
            (_arn("route53", "hostedzone/{zone_id}", regional=False, account=False),),
        ),
        Grant(("route53:GetChange",), (_arn("route53", "change/*", regional=False, account=False),)),
    ),
    # --- Budgets (by name; an account's, no region). CreateBudget/UpdateBudget/DeleteBudget and the notification
    # calls authorize as ModifyBudget, the Describe calls as ViewBudget; ResourceTags on create need TagResource
    "budgets.budget": (
        Grant(
            (
                "budgets:ModifyBudget",
                "budgets:ViewBudget",
                "budgets:ListTagsForResource",
                "budgets:TagResource",
                "budgets:UntagResource",
            ),
            (_arn("budgets", "budget/{name}", regional=False),),
        ),
    ),
}

#: the calls the engine and the CLI make themselves, whatever the stack. (STS GetCallerIdentity needs no
#: permission: AWS answers it for any valid credentials.)
ENGINE_GRANTS: tuple[Grant, ...] = (
    Grant(("ec2:DescribeAvailabilityZones",), ("*",), why=DESCRIBE),
    # the sweep for resources carrying the stack's tags that the state does not know
    Grant(("tag:GetResources",), ("*",), why=NO_RESOURCE),
    # the preflight (provisioner/ops/preflight.py) asks IAM whether the caller's own policies allow the run; the caller
    # is not known when the policy is written, so any user or role of the account (it discloses what their
    # policies allow: narrow it to your own user or role). Without it the preflight is skipped, nothing else.
    Grant(
        ("iam:SimulatePrincipalPolicy",),
        (_arn("iam", "user/*", regional=False), _arn("iam", "role/*", regional=False)),
    ),
)


#: what `mfprov rotate` (provisioner/ops/rotate.py) calls beyond the calls `up`, `drift` and `down` make on the same
#: kinds: moving the staging labels of the database's secret. (Its other calls - PutSecretValue, ModifyDBInstance /
#: ModifyDBCluster, UpdateService, and the API key's create, plan membership and delete - are the kinds' own.)
ROTATE_GRANTS: dict[str, tuple[Grant, ...]] = {
    "secretsmanager.secret": (Grant(("secretsmanager:UpdateSecretVersionStage",), (_SECRET,)),),
}


def state_grants(bucket: str, key: str) -> tuple[Grant, ...]:
    """The S3 state store: the object, its lock beside it, and the bucket's versioning check."""
    obj = _arn("s3", bucket + "/" + key, regional=False, account=False)
    return (
        Grant(("s3:GetBucketVersioning", "s3:ListBucket"), (_arn("s3", bucket, regional=False, account=False),)),
        Grant(("s3:GetObject", "s3:PutObject"), (obj, obj + ".lock")),
        Grant(("s3:DeleteObject",), (obj + ".lock",)),
    )


def api_gateway_grants(operations: Iterable[str]) -> tuple[Grant, ...]:
    """API Gateway's actions are the HTTP verb of each call on its path (``apigateway:POST`` on
    ``/restapis``): taken from botocore's model, ids AWS chooses as ``*``."""
    from provisioner.core.session import service_model  # boto3 loads only when a command needs it

    model = service_model("apigateway")
    grants = []
    for op in operations:
        http = model.operation_model(op).http
        path = re.sub(r"\{[^}]+\}", "*", http["requestUri"].split("?", 1)[0])
        grants.append(Grant((f"apigateway:{http['method']}",), ("arn:{partition}:apigateway:{region}::" + path,)))
    return tuple(grants)


#: the API Gateway calls of each of its kinds (the botocore operation names)
API_GATEWAY_CALLS: dict[str, tuple[str, ...]] = {
    "apigateway.vpc_link": (
        "CreateVpcLink", "GetVpcLink", "GetVpcLinks", "UpdateVpcLink", "DeleteVpcLink", "TagResource"
    ),
    "apigateway.rest_api": (
        "CreateRestApi", "GetRestApi", "GetRestApis", "UpdateRestApi", "DeleteRestApi", "TagResource"
    ),
    "apigateway.resource": ("CreateResource", "GetResource", "GetResources", "DeleteResource"),
    "apigateway.method": ("PutMethod", "GetMethod", "PutIntegration", "DeleteMethod", "GetResources"),
    "apigateway.stage": ("CreateDeployment", "CreateStage", "GetStage", "UpdateStage", "DeleteStage", "TagResource"),
    "apigateway.api_key": ("CreateApiKey", "GetApiKey", "GetApiKeys", "UpdateApiKey", "DeleteApiKey", "TagResource"),
    "apigateway.usage_plan": (
        "CreateUsagePlan", "GetUsagePlan", "GetUsagePlans", "UpdateUsagePlan", "DeleteUsagePlan", "TagResource"
    ),
    "apigateway.usage_plan_key": ("CreateUsagePlanKey", "GetUsagePlanKey", "DeleteUsagePlanKey"),
}  # fmt: skip


def grants_of(kind: str) -> tuple[Grant, ...]:
    """Everything a node of ``kind`` may need."""
    own = (*KIND_GRANTS[kind], *ROTATE_GRANTS.get(kind, ()))
    if kind in API_GATEWAY_CALLS:
        own = (*api_gateway_grants(API_GATEWAY_CALLS[kind]), *own)
    return own


# ------------------------------------------------------------------ filling the templates

_NAME_PROPS = ("name", "identifier", "family", "domain")
_ABSENT = object()
_PLACEHOLDER = re.compile(r"\{((?:\*\*)?[\w.]+)\}")


def _name_in(value: str) -> str:
    """The name in an ARN (``...:role/path/x`` -> ``x``, ``...:secret:x-AbCdEf`` -> ``x``), or the value."""
    if not value.startswith("arn:"):
        return value
    tail = value.split(":", 5)[5]
    name = re.split(r"[/:]", tail)[-1]
    if ":secret:" in value:
        name = name.rsplit("-", 1)[0]
    return name


def _node_name(node: Node) -> Any:
    for p in _NAME_PROPS:
        if p in node.props:
            return node.props[p]
    return "*"


def _deep(value: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere in ``value`` (an OIDC action's secret inside a listener's actions)."""
    if isinstance(value, Mapping):
        found = [value[key]] if value.get(key) is not None else []
        return found + [v for k, item in value.items() if k != key for v in _deep(item, key)]
    if isinstance(value, list | tuple):
        return [v for item in value for v in _deep(item, key)]
    return []


class _Filler:
    def __init__(self, bp: Blueprint, facts: Mapping[str, str]) -> None:
        self.bp = bp
        self.facts = facts

    def _follow(self, value: Any, rest: list[str]) -> Any:
        """Follow ``rest`` from ``value`` (a literal, a Ref to a node, or a list of either)."""
        if isinstance(value, list):
            return [self._follow(v, rest) for v in value]
        if value is None:
            return _ABSENT
        if isinstance(value, Ref):
            node = self.bp.nodes.get(value.address)
            if node is None:
                return "*"
            if not rest:
                return self._follow(_node_name(node), []) if value.attr in ("name", "arn", "id") else "*"
            return self._at(node, rest)
        if isinstance(value, Concat) or not isinstance(value, str | int | float):
            return "*"
        text = str(value)
        if not rest:
            return text
        if rest == ["name"]:
            return _name_in(text)
        if rest == ["role_arn"]:
            return text if ":role/" in text else "*"
        return "*"

    def _at(self, node: Node, path: list[str]) -> Any:
        head, rest = path[0], path[1:]
        if head.startswith("**"):
            found = [self._follow(v, rest) for v in _deep(node.props, head[2:])]
            return found or _ABSENT
        if head == "name" and not rest:
            return self._follow(_node_name(node), [])
        if head == "name_lower" and not rest:
            name = self._follow(_node_name(node), [])
            return name.lower() if isinstance(name, str) else name
        if head == "name_after_alias" and not rest:
            name = self._follow(_node_name(node), [])
            return name.removeprefix("alias/") if isinstance(name, str) else name
        if head == "path" and not rest:
            return self._follow(node.props.get("path", "/"), [])
        if head == "role_arn" and not rest:
            if node.kind == "iam.instance_profile":
                return self._at(node, ["role_name", "role_arn"])
            if node.kind == "iam.role":
                path, name = self._at(node, ["path"]), self._at(node, ["name"])
                return f"arn:{{partition}}:iam::{{account}}:role{path}{name}"
            return "*"
        if head not in node.props:
            return _ABSENT
        return self._follow(node.props[head], rest)

    def fill(self, template: str, node: Node) -> list[str]:
        """The ARNs ``template`` stands for at ``node``: none when a property it needs is absent."""
        out = [template]
        for m in _PLACEHOLDER.finditer(template):
            key = m.group(1)
            if key in self.facts:
                value: Any = self.facts[key]
            else:
                value = self._at(node, key.split("."))
            values = value if isinstance(value, list) else [value]
            values = [v for v in values if v is not _ABSENT]
            if not values:
                return []
            out = [o.replace(m.group(0), str(v), 1) for o in out for v in values]
        # a role ARN built from a path is itself a template of the facts
        return [_PLACEHOLDER.sub(lambda m: self.facts.get(m.group(1), m.group(0)), o) for o in out]


def _applies(grant: Grant, node: Node) -> bool:
    if not grant.when:
        return True
    negate = grant.when.startswith("!")
    key = grant.when.lstrip("!")
    value = _deep(node.props, key[2:]) if key.startswith("**") else node.props.get(key)
    return not value if negate else bool(value)


# ------------------------------------------------------------------ the policy


@dataclass
class Statement:
    actions: list[str]
    resources: list[str]
    condition: dict[str, dict[str, str]] | None = None
    #: per action, why ``*`` (an unscoped statement)
    whys: dict[str, str] = field(default_factory=dict)
    #: needed on AWS without being a call of its own
    implied: bool = False
    kinds: list[str] = field(default_factory=list)

    def document(self, sid: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Sid": sid,
            "Effect": "Allow",
            "Action": sorted(self.actions),
            "Resource": sorted(self.resources) if len(self.resources) > 1 else self.resources[0],
        }
        if self.condition:
            doc["Condition"] = self.condition
        return doc


@dataclass
class Policy:
    statements: list[Statement]

    def document(self) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [s.document(sid) for sid, s in zip(self.sids(), self.statements, strict=True)],
        }

    def sids(self) -> list[str]:
        """Statement ids from the first action's service (``Ec2``, ``Iam2``...)."""
        seen: dict[str, int] = {}
        out = []
        for s in self.statements:
            base = (
                "Unscoped"
                if s.resources == ["*"]
                else re.sub(r"[^A-Za-z0-9]", "", sorted(s.actions)[0].split(":", 1)[0].title())
            )
            seen[base] = seen.get(base, 0) + 1
            out.append(base if seen[base] == 1 else f"{base}{seen[base]}")
        return out

    def unscoped(self) -> list[tuple[str, Statement]]:
        return [(sid, s) for sid, s in zip(self.sids(), self.statements, strict=True) if s.resources == ["*"]]

    def unscoped_reasons(self) -> dict[str, list[str]]:
        """Why ``*``: reason -> the actions it holds for."""
        out: dict[str, list[str]] = {}
        for _sid, s in self.unscoped():
            for action in sorted(s.actions):
                out.setdefault(s.whys.get(action, NO_RESOURCE), []).append(action)
        return out

    def json(self) -> str:
        return json.dumps(self.document(), indent=2)

    def size(self) -> int:
        """Characters as IAM counts them against its quotas (whitespace not counted)."""
        return len(json.dumps(self.document(), separators=(",", ":")))

    def summary(self) -> str:
        unscoped = len(self.unscoped())
        implied = sum(1 for s in self.statements if s.implied)
        fits = (
            "fits one customer managed policy"
            if self.size() <= MANAGED_POLICY_LIMIT
            else f"more than one customer managed policy holds ({MANAGED_POLICY_LIMIT:,}): split its statements "
            "over several, or use it as an inline policy of a role (10,240)"
            if self.size() <= ROLE_INLINE_LIMIT
            else f"more than a managed ({MANAGED_POLICY_LIMIT:,}) or role inline policy ({ROLE_INLINE_LIMIT:,}) "
            "holds: split its statements over several managed policies"
        )
        return (
            f"{len(self.statements)} statements ({unscoped} on * for want of resource-level permissions, listed above; "
            f"{implied} for checks AWS makes besides the call itself: roles passed, service-linked roles, tags "
            f"and KMS keys used on create); {self.size():,} characters: {fits}."
        )


#: IAM quotas on policy size, in characters without whitespace ("IAM and AWS STS quotas")
MANAGED_POLICY_LIMIT = 6144
ROLE_INLINE_LIMIT = 10240


def _regional_condition(region: str) -> dict[str, dict[str, str]]:
    return {"StringEquals": {"aws:RequestedRegion": region}}


#: services whose endpoints are global: an unscoped statement of theirs cannot be held to the region
_GLOBAL = ("iam", "route53", "cloudfront", "sts")


def build_policy(
    bp: Blueprint,
    region: str,
    account: str = ACCOUNT_PLACEHOLDER,
    partition: str = PARTITION_PLACEHOLDER,
    state: tuple[str, str] | None = None,
) -> Policy:
    """The policy to run up, drift and down of the stack ``bp`` describes; ``state`` is the S3 state store's
    (bucket, key) when the config keeps its state there."""
    facts = {"partition": partition, "region": region, "account": account}
    filler = _Filler(bp, facts)
    # action -> condition -> (resources, why, implied, kinds)
    per_action: dict[tuple[str, str], tuple[set[str], set[str], bool, set[str]]] = {}
    conditions: dict[str, dict[str, dict[str, str]] | None] = {}

    count = Counter(n.kind for n in bp.nodes.values())

    def add(grant: Grant, node: Node | None, kind: str) -> None:
        if node is not None and not _applies(grant, node):
            return
        if count[kind] < grant.min_nodes:
            return
        resources: set[str] = set()
        for template in grant.resources:
            resources |= set(filler.fill(template, node) if node is not None else filler.fill(template, _EMPTY))
        if not resources:
            return
        condition = {k: dict(v) for k, v in grant.condition.items()} if grant.condition else None
        for action in grant.actions:
            service = action.split(":", 1)[0]
            cond = condition
            if resources == {"*"} and cond is None and service not in _GLOBAL:
                cond = _regional_condition(region)
            ckey = json.dumps(cond, sort_keys=True)
            conditions[ckey] = cond
            res, why, implied, kinds = per_action.setdefault((action, ckey), (set(), set(), True, set()))
            res |= resources
            if grant.why:
                why.add(grant.why)
            kinds.add(kind)
            per_action[(action, ckey)] = (res, why, implied and grant.implied, kinds)

    for node in bp.nodes.values():
        for grant in grants_of(node.kind):
            add(grant, node, node.kind)
    for grant in ENGINE_GRANTS:
        add(grant, None, "(engine)")
    if state is not None:
        for grant in state_grants(*state):
            add(grant, None, "(state)")

    # A `*` grant covers every narrower one of the same action and condition.
    for (_action, _ckey), (res, *_rest) in per_action.items():
        if "*" in res and len(res) > 1:
            res.intersection_update({"*"})

    grouped: dict[tuple[tuple[str, ...], str, bool], Statement] = {}
    for (action, ckey), (res, why, implied, kinds) in sorted(per_action.items()):
        key = (tuple(sorted(res)), ckey, implied)
        st = grouped.get(key)
        if st is None:
            st = grouped[key] = Statement([], sorted(res), conditions[ckey], implied=implied)
        st.actions.append(action)
        st.kinds = sorted(set(st.kinds) | kinds)
        if why:
            st.whys[action] = "; ".join(sorted(why))
    statements = sorted(grouped.values(), key=lambda s: (s.resources == ["*"], sorted(s.actions)[0]))
    return Policy(statements)


_EMPTY = Node("(engine)", "(engine)", {})


def node_grants(bp: Blueprint, node: Node, region: str, account: str, partition: str) -> list[Statement]:
    """What ``node`` of ``bp`` needs, with its names filled in: one :class:`Statement` per grant that applies
    (the same data ``mfprov permissions`` groups into its policy)."""
    filler = _Filler(bp, {"partition": partition, "region": region, "account": account})
    count = sum(1 for n in bp.nodes.values() if n.kind == node.kind)
    out = []
    for grant in grants_of(node.kind):
        if not _applies(grant, node) or count < grant.min_nodes:
            continue
        resources = sorted({r for t in grant.resources for r in filler.fill(t, node)})
        if resources:
            condition = {k: dict(v) for k, v in grant.condition.items()} if grant.condition else None
            out.append(Statement(list(grant.actions), resources, condition, implied=grant.implied, kinds=[node.kind]))
    return out


# ------------------------------------------------------------------ from a config


REGION_PLACEHOLDER = "${AWS::Region}"


def policy_for(cfg: Any, region: str | None, account: str | None = None, partition: str | None = None) -> Policy:
    """The policy for config ``cfg`` (a :class:`provisioner.stacks.config.Config`). Zones do not name any ARN, so the
    blueprint is built with stand-ins for them: no AWS call is needed."""
    from provisioner.ops.workspace import STACK_BUILDERS

    where = region or REGION_PLACEHOLDER
    facts = Facts(
        account_id=account or ACCOUNT_PLACEHOLDER,
        region=where,
        partition=partition or PARTITION_PLACEHOLDER,
        availability_zones=tuple(f"{where}{z}" for z in "abcdef"),
    )
    bp = STACK_BUILDERS[cfg.stack](cfg, facts)
    state = None
    if cfg.state.backend == "s3":
        state = (str(cfg.state.bucket), cfg.state.key or f"mfprov/{cfg.name}/state.json")
    return build_policy(bp, where, facts.account_id, facts.partition, state)


#: "User: arn:... is not authorized to perform: ec2:CreateVpc on resource: arn:... because ..." (the wording of
#: AccessDenied, AccessDeniedException and EC2's UnauthorizedOperation messages)
_DENIED = re.compile(r"not authorized to perform:? (?P<action>[\w-]+:[\w*-]+)(?: on resource:? (?P<resource>\S+))?")


def explain_denied(message: str) -> str:
    """AWS's refusal, said as what is missing: "the credentials in use lack <action> on <resource>" (after the
    resource address the message starts with, if any); any other message unchanged."""
    m = _DENIED.search(message)
    if m is None:
        return message
    # S3 quotes the resource; a message that names none (rare) leaves it as the call's
    resource = (m.group("resource") or "").strip("\"'").rstrip(".,;") or "the resource of this call"
    address = re.match(r"[a-z0-9]+\.[a-z0-9_]+\.[\w-]+: ", message)
    return f"{address.group(0) if address else ''}the credentials in use lack {m.group('action')} on {resource}"


def caller_account(region: str | None) -> tuple[str, str] | None:
    """(account id, partition) of the credentials in use, from STS when credentials are at hand; else None
    (then the policy carries placeholders). GetCallerIdentity needs no permission."""
    from botocore.exceptions import BotoCoreError, ClientError

    from provisioner.core.session import ClientFactory

    try:
        clients = ClientFactory(region=region)
        if clients.session.get_credentials() is None:
            return None
        ident = clients.client("sts").get_caller_identity()
    except (BotoCoreError, ClientError):
        return None
    return str(ident["Account"]), str(ident["Arn"]).split(":")[1]


def default_region() -> str | None:
    """The region boto3's chain gives (AWS_REGION, the profile's), if any."""
    import boto3

    return boto3.session.Session().region_name
