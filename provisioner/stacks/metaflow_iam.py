"""The IAM documents of the Metaflow stack, statement for statement as terraform-aws-metaflow §3 has them.

Only the scoping differs where the module is broader than it needs to be: nothing here widens it.
"""

from __future__ import annotations

from typing import Any

from provisioner.context import Facts

Doc = dict[str, Any]
VERSION = "2012-10-17"


def trust(*services: str) -> Doc:
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}],
    }


def doc(*statements: Doc) -> Doc:
    return {"Version": VERSION, "Statement": list(statements)}


def allow(actions: list[str] | str, resources: list[Any] | Any, sid: str | None = None, **condition: Any) -> Doc:
    st: Doc = {"Effect": "Allow", "Action": actions, "Resource": resources}
    if sid:
        st["Sid"] = sid
    if condition:
        st["Condition"] = condition
    return st


DENY_PRESIGNED: Doc = {
    "Sid": "DenyPresignedBatch",
    "Effect": "Deny",
    "Action": "s3:*",
    "Resource": "*",
    "Condition": {"StringNotEquals": {"s3:authType": "REST-HEADER"}},
}


def batch_task_policies(f: Facts, bucket_arn: str, kms_arn: Any, table_arn: str | None) -> dict[str, Doc]:
    """§3.1: the Batch job role (METAFLOW_ECS_S3_ACCESS_IAM_ROLE)."""
    sm = f"arn:{f.partition}:sagemaker:{f.region}:{f.account_id}"
    out = {
        "s3_list": doc(allow("s3:ListBucket", bucket_arn, "BucketAccessBatch")),
        "custom_s3": doc(
            allow(["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], f"{bucket_arn}/*", "ObjectAccessBatch")
        ),
        "s3_kms": doc(allow(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], kms_arn)),
        "deny_presigned": doc(DENY_PRESIGNED),
        "sagemaker": doc(
            allow("sagemaker:CreateTrainingJob", f"{sm}:training-job/*", "AllowSagemakerCreate"),
            allow("sagemaker:DescribeTrainingJob", f"{sm}:training-job/*", "AllowSagemakerDescribe"),
            allow(
                [
                    "sagemaker:CreateModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:DescribeModel",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:InvokeEndpoint",
                ],
                [f"{sm}:endpoint/*", f"{sm}:model/*", f"{sm}:endpoint-config/*"],
                "AllowSagemakerDeploy",
            ),
        ),
        "iam_pass_role": doc(
            allow("iam:PassRole", "*", "AllowPassRole", StringEquals={"iam:PassedToService": "sagemaker.amazonaws.com"})
        ),
        "cloudwatch": doc(allow(["logs:CreateLogStream", "logs:PutLogEvents"], "*", "AllowPutLogs")),
    }
    if table_arn:
        out["dynamodb"] = doc(
            allow(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], table_arn, "Items")
        )
    return out


BATCH_SERVICE_ACTIONS = [
    *(
        f"ec2:{a}"
        for a in (
            "DescribeAccountAttributes DescribeInstances DescribeInstanceAttribute DescribeInstanceStatus "
            "DescribeSubnets DescribeSecurityGroups DescribeKeyPairs DescribeImages DescribeImageAttribute "
            "DescribeSpotInstanceRequests DescribeSpotFleetInstances DescribeSpotFleetRequests "
            "DescribeSpotPriceHistory DescribeVpcClassicLink DescribeLaunchTemplateVersions CreateLaunchTemplate "
            "DeleteLaunchTemplate RequestSpotFleet CancelSpotFleetRequests ModifySpotFleetRequest "
            "TerminateInstances RunInstances"
        ).split()
    ),
    *(
        f"autoscaling:{a}"
        for a in (
            "DescribeAccountLimits DescribeAutoScalingGroups DescribeLaunchConfigurations "
            "DescribeAutoScalingInstances CreateLaunchConfiguration CreateAutoScalingGroup UpdateAutoScalingGroup "
            "SetDesiredCapacity DeleteLaunchConfiguration DeleteAutoScalingGroup CreateOrUpdateTags "
            "SuspendProcesses PutNotificationConfiguration TerminateInstanceInAutoScalingGroup"
        ).split()
    ),
    *(
        f"ecs:{a}"
        for a in (
            "DescribeClusters DescribeContainerInstances DescribeTaskDefinition DescribeTasks ListClusters "
            "ListContainerInstances ListTaskDefinitionFamilies ListTaskDefinitions ListTasks CreateCluster "
            "DeleteCluster RegisterTaskDefinition DeregisterTaskDefinition RunTask StartTask StopTask "
            "UpdateContainerAgent DeregisterContainerInstance"
        ).split()
    ),
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogGroups",
    "iam:GetInstanceProfile",
    "iam:GetRole",
]


def batch_service_policies(f: Facts) -> dict[str, Doc]:
    """§3.2: the Batch service role, passed to the compute environment as ``serviceRole``."""
    return {
        "iam_pass_role": doc(
            allow(
                "iam:PassRole",
                "*",
                StringEquals={
                    "iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn", "ecs-tasks.amazonaws.com"]
                },
            )
        ),
        "custom_access": doc(allow(list(BATCH_SERVICE_ACTIONS), "*")),
        "iam_custom": doc(
            allow(
                "iam:CreateServiceLinkedRole",
                "*",
                StringEquals={"iam:AWSServiceName": ["autoscaling.amazonaws.com", "ecs.amazonaws.com"]},
            )
        ),
        "ec2_custom": doc(allow("ec2:CreateTags", "*", StringEquals={"ec2:CreateAction": "RunInstances"})),
    }


def step_functions_policies(f: Facts, queue_arn: Any, bucket_arn: str, kms_arn: Any, table_arn: str) -> dict[str, Doc]:
    """§3.7: the role Step Functions runs Metaflow's state machines with."""
    rule = f"arn:{f.partition}:events:{f.region}:{f.account_id}:rule/StepFunctionsGetEventsForBatchJobsRule"
    return {
        "aws_batch": doc(
            allow(
                [
                    "batch:TerminateJob",
                    "batch:DescribeJobs",
                    "batch:DescribeJobDefinitions",
                    "batch:DescribeJobQueues",
                    "batch:RegisterJobDefinition",
                    "batch:TagResource",
                ],
                "*",
            ),
            allow(
                "batch:SubmitJob",
                [queue_arn, f"arn:{f.partition}:batch:{f.region}:{f.account_id}:job-definition/*"],
            ),
        ),
        "s3": doc(
            allow("s3:ListBucket", bucket_arn),
            allow("s3:*Object", [bucket_arn, f"{bucket_arn}/*"]),
            allow("kms:Decrypt", kms_arn),
        ),
        "cloudwatch": doc(
            allow(
                [
                    "logs:CreateLogDelivery",
                    "logs:GetLogDelivery",
                    "logs:UpdateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:DescribeResourcePolicies",
                    "logs:DescribeLogGroups",
                ],
                "*",
            )
        ),
        "event_bridge": doc(
            allow(["events:PutTargets", "events:DescribeRule"], rule),
            allow("events:PutRule", rule, StringEquals={"events:detail-type": "Batch Job State Change"}),
        ),
        "dynamodb": doc(allow(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], table_arn)),
    }


def eventbridge_policies(f: Facts) -> dict[str, Doc]:
    """§3.8: EventBridge may start this account's state machines (Metaflow's schedules)."""
    return {
        "step_functions": doc(
            allow("states:StartExecution", f"arn:{f.partition}:states:{f.region}:{f.account_id}:stateMachine:*")
        )
    }
