"""The IAM documents of the Metaflow stack, statement for statement as terraform-aws-metaflow §3 has them, and
the notebook and user roles of the Metaflow CloudFormation template (A.4).

Only the scoping differs where the references are broader than they need to be (or broken): nothing here widens
them. Every ARN is built from the account's partition, every service principal from ``principal``.
"""

from __future__ import annotations

from typing import Any

from provisioner.context import Facts

Doc = dict[str, Any]
VERSION = "2012-10-17"


#: services whose principal in the China partition ends in the partition's own suffix (``amazonaws.com.cn``);
#: every other service (batch, ec2, ecs-tasks, states, events, lambda, sagemaker...) answers to
#: ``<service>.amazonaws.com`` there as everywhere (the AWS CDK's region facts, which Terraform's provider uses)
_CN_SUFFIX_PRINCIPALS = frozenset({"codedeploy", "elasticmapreduce", "logs"})


def principal(f: Facts, service: str) -> str:
    """The service principal of ``service`` (``"batch"``) in the account's partition."""
    if f.partition == "aws-cn" and service in _CN_SUFFIX_PRINCIPALS:
        return f"{service}.{f.dns_suffix}"
    return f"{service}.amazonaws.com"


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
            allow(
                "iam:PassRole",
                "*",
                "AllowPassRole",
                StringEquals={"iam:PassedToService": principal(f, "sagemaker")},
            )
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


def datastore_read_policies(bucket_arn: str, kms_arn: Any) -> dict[str, Doc]:
    """§3.4 / §3.6: what the metadata service and the UI backend read of the datastore."""
    return {
        "s3_kms": doc(allow(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], kms_arn)),
        "custom_s3": doc(
            allow(["s3:GetObject", "s3:ListBucket"], [f"{bucket_arn}/*", bucket_arn], "ObjectAccessMetadataService")
        ),
        "deny_presigned": doc(DENY_PRESIGNED),
    }


ECS_ACCESS = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
]


def ecs_execution_policies() -> dict[str, Doc]:
    """§3.3: pull images and write logs (the Fargate execution role of Batch jobs)."""
    return {"ecs_access": doc(allow(list(ECS_ACCESS), "*"))}


def notebook_policies(
    f: Facts, role_arn: str, notebook_arn: str, lifecycle_arn: str, bucket_arn: str, kms_arn: Any
) -> dict[str, Doc]:
    """A.4 ``SageMakerExecutionRole``, with its defects fixed: it may pass only itself to SageMaker (the
    template: any role), its log grants name the notebook's own log streams (the template's ARNs match nothing
    useful), it may decrypt the datastore's key (SSE-KMS here; the template's bucket has none), and it manages
    only its own notebook and lifecycle configuration (not ``STACK*`` / ``basic*``)."""
    logs = f"arn:{f.partition}:logs:{f.region}:{f.account_id}:log-group"
    name = notebook_arn.rsplit("/", 1)[-1]
    return {
        "iam_pass_role": doc(
            allow(
                "iam:PassRole",
                role_arn,
                "AllowPassRole",
                StringEquals={"iam:PassedToService": principal(f, "sagemaker")},
            )
        ),
        "misc_permissions": doc(
            allow(
                [
                    "cloudwatch:PutMetricData",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:BatchGetImage",
                    "ecr:GetAuthorizationToken",
                    "ecr:BatchCheckLayerAvailability",
                ],
                "*",
                "MiscPermissions",
            )
        ),
        "logs": doc(
            allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                f"{logs}:/aws/sagemaker/NotebookInstances:log-stream:{name}/*",
                "NotebookLogs",
            ),
            allow(
                ["logs:CreateLogGroup", "logs:DescribeLogStreams"],
                f"{logs}:/aws/sagemaker/NotebookInstances:*",
                "NotebookLogGroup",
            ),
            allow("logs:GetLogEvents", f"{logs}:/aws/batch/job:log-stream:*", "BatchJobLogs"),
            allow("logs:DescribeLogGroups", "*", "DescribeLogGroups"),
        ),
        "sagemaker": doc(
            allow(
                [
                    "sagemaker:DescribeNotebook*",
                    "sagemaker:StartNotebookInstance",
                    "sagemaker:StopNotebookInstance",
                    "sagemaker:UpdateNotebookInstance",
                    "sagemaker:CreatePresignedNotebookInstanceUrl",
                ],
                [notebook_arn, lifecycle_arn],
                "SageMakerPermissions",
            )
        ),
        "s3_list": doc(allow("s3:ListBucket", bucket_arn, "CustomS3ListAccess")),
        "s3": doc(allow(["s3:PutObject", "s3:GetObject", "s3:DeleteObject"], f"{bucket_arn}/*", "CustomS3Access")),
        "s3_kms": doc(allow(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], kms_arn)),
        "deny_presigned": doc(DENY_PRESIGNED),
    }


def user_policies(
    f: Facts,
    *,
    prefix: str,
    bucket_arn: str,
    kms_arn: Any,
    queue_arns: list[Any],
    passed_roles: list[Any],
    notebook_arns: list[str],
) -> dict[str, Doc]:
    """A.4 ``MetaflowUserRole``: run flows, on Batch and Step Functions, against this stack only. The template's
    defects are fixed: its KMS grant named no key (``key/``) and names the datastore's key here; ``iam:PassRole``
    names the roles Metaflow passes (the job, Step Functions, EventBridge and Fargate execution roles), not every
    ``STACK-*`` role; state machines and schedule rules are those named with the stack's prefix (Metaflow names them
    ``<Q>_<flow>``), with
    StopExecution on their executions and the deletes ``step-functions delete`` makes; Batch logs only; and
    ``batch:ListJobs`` for ``batch list``. The CloudFormation-stack grant has no counterpart (there is no stack)."""
    p, r, a = f.partition, f.region, f.account_id
    statements_metaflow = [
        allow("s3:*Object", [bucket_arn, f"{bucket_arn}/*"], "ObjectAccess"),
        allow("iam:PassRole", list(passed_roles), "PassRole"),
        allow(["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], kms_arn, "DatastoreKey"),
    ]
    if notebook_arns:
        statements_metaflow.insert(
            1,
            allow(
                [
                    "sagemaker:DescribeNotebook*",
                    "sagemaker:StartNotebookInstance",
                    "sagemaker:StopNotebookInstance",
                    "sagemaker:UpdateNotebookInstance",
                    "sagemaker:CreatePresignedNotebookInstanceUrl",
                ],
                list(notebook_arns),
                "Notebook",
            ),
        )
    states = f"arn:{p}:states:{r}:{a}"
    rule = f"arn:{p}:events:{r}:{a}:rule/{prefix}*"
    return {
        "metaflow": doc(*statements_metaflow),
        "batch": doc(
            allow(
                [
                    "batch:TerminateJob",
                    "batch:DescribeJobs",
                    "batch:DescribeJobDefinitions",
                    "batch:DescribeJobQueues",
                    "batch:RegisterJobDefinition",
                    "batch:DescribeComputeEnvironments",
                    "batch:ListJobs",
                ],
                "*",
                "BatchPerms",
            ),
            allow("batch:SubmitJob", [*queue_arns, f"arn:{p}:batch:{r}:{a}:job-definition/*"], "BatchSubmit"),
        ),
        "s3_list": doc(allow("s3:ListBucket", bucket_arn, "CustomS3ListAccess")),
        "log": doc(
            allow("logs:GetLogEvents", f"arn:{p}:logs:{r}:{a}:log-group:/aws/batch/job:log-stream:*", "LogPerms")
        ),
        "sagemaker": doc(
            allow(
                ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
                f"arn:{p}:sagemaker:{r}:{a}:training-job/*",
                "AllowSagemaker",
            )
        ),
        "step_functions": doc(
            allow("states:ListStateMachines", "*", "ListStateMachines"),
            allow(
                [
                    "states:DescribeStateMachine",
                    "states:UpdateStateMachine",
                    "states:StartExecution",
                    "states:CreateStateMachine",
                    "states:ListExecutions",
                    "states:DeleteStateMachine",
                ],
                f"{states}:stateMachine:{prefix}*",
                "AllowStepFunctions",
            ),
            allow(
                ["states:StopExecution", "states:DescribeExecution"],
                f"{states}:execution:{prefix}*:*",
                "AllowExecutions",
            ),
        ),
        "event_bridge": doc(
            allow(
                ["events:PutTargets", "events:DisableRule", "events:RemoveTargets", "events:DeleteRule"],
                rule,
                "AllowEventBridge",
            ),
            allow("events:PutRule", rule, "AllowPutRule", Null={"events:source": "true"}),
        ),
    }
