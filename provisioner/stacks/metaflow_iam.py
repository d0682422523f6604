"""The IAM documents of the Metaflow stack: the roles of terraform-aws-metaflow §3 and the notebook and user roles
of the Metaflow CloudFormation template (A.4), each scoped to what the stack owns wherever AWS allows it.

docs/SECURITY.md lists every statement, why it is there and how it differs from terraform-aws-metaflow. In short:
grants name the stack's bucket, key, table, queues, state machines (``<Q>_*``, Metaflow's names) and the roles it
creates; the datastore key is used only through S3 (``kms:ViaService``); readers only decrypt; a role is passed
only to the service that needs it (``iam:PassedToService``); trust policies of the services that send
``aws:SourceAccount``/``aws:SourceArn`` (Batch, Step Functions, EventBridge) require them. Every ARN is built from
the account's partition, every service principal from ``principal``.
"""

from __future__ import annotations

from typing import Any

from provisioner.core.context import Facts

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


def trust(*services: str, source_account: str | None = None, source_arns: list[str] | None = None) -> Doc:
    """A service's trust; with ``source_account``/``source_arns`` the confused-deputy conditions AWS documents for
    services that send those keys (never for one that does not: the key would be missing and AssumeRole fail)."""
    st: Doc = {"Effect": "Allow", "Principal": {"Service": list(services)}, "Action": "sts:AssumeRole"}
    condition: Doc = {}
    if source_account:
        condition["StringEquals"] = {"aws:SourceAccount": source_account}
    if source_arns:
        condition["ArnLike"] = {"aws:SourceArn": list(source_arns)}
    if condition:
        st["Condition"] = condition
    return {"Version": VERSION, "Statement": [st]}


def via(f: Facts, service: str) -> Doc:
    """``kms:ViaService``: the key only through ``service`` (S3 for SSE-KMS objects) on the role's behalf."""
    return {"StringEquals": {"kms:ViaService": f"{service}.{f.region}.{f.dns_suffix}"}}


#: using the datastore key through S3: readers decrypt, writers also make data keys (SSE-KMS, multipart included)
KMS_READ = ["kms:Decrypt"]
KMS_WRITE = ["kms:Decrypt", "kms:GenerateDataKey"]
#: what Metaflow does with datastore objects (multipart uploads of large artifacts included)
OBJECT_RW = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
#: Metaflow registers its job definitions as ``metaflow_<hash of the definition>``
JOB_DEFINITIONS = "job-definition/metaflow_*"


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


def batch_task_policies(
    f: Facts, bucket_arn: str, kms_arn: Any, table_arn: str | None, sagemaker_roles: list[str] | None = None
) -> dict[str, Doc]:
    """§3.1: the Batch job role (METAFLOW_ECS_S3_ACCESS_IAM_ROLE). SageMaker only when the config names the roles
    a step may hand to SageMaker (terraform-aws-metaflow: any role trusting SageMaker, an administrator's too);
    no CloudWatch Logs (a job's output goes through the log driver, with the execution or instance role)."""
    sm = f"arn:{f.partition}:sagemaker:{f.region}:{f.account_id}"
    out = {
        "s3_list": doc(allow("s3:ListBucket", bucket_arn, "BucketAccessBatch")),
        "custom_s3": doc(allow(list(OBJECT_RW), f"{bucket_arn}/*", "ObjectAccessBatch")),
        "s3_kms": doc(allow(list(KMS_WRITE), kms_arn, "DatastoreKeyThroughS3", **via(f, "s3"))),
        "deny_presigned": doc(DENY_PRESIGNED),
    }
    if sagemaker_roles:
        out["sagemaker"] = doc(
            allow(
                ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
                f"{sm}:training-job/*",
                "AllowSagemakerTraining",
            ),
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
        )
        out["iam_pass_role"] = doc(pass_to(f, sagemaker_roles, "sagemaker", "PassRoleToSageMaker"))
    if table_arn:
        out["dynamodb"] = doc(
            allow(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], table_arn, "Items")
        )
    return out


def pass_to(f: Facts, roles: list[Any], service: str, sid: str) -> Doc:
    """``iam:PassRole`` of exactly ``roles``, and only to ``service``."""
    return allow("iam:PassRole", list(roles), sid, StringEquals={"iam:PassedToService": principal(f, service)})


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
    """§3.2: the Batch service role, passed to the compute environment as ``serviceRole`` when the config asks for
    a custom role (``batch.custom_service_role``); by default Batch uses its service-linked role
    AWSServiceRoleForBatch, whose policy AWS maintains."""
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


def step_functions_policies(
    f: Facts, prefix: str, queue_arns: list[Any], bucket_arn: str, kms_arn: Any, table_arn: str
) -> dict[str, Doc]:
    """§3.7: the role Step Functions runs Metaflow's state machines (``<prefix>_<flow>``) with: submit to this
    stack's queues, watch and stop its jobs, Distributed Map over its own executions and results (AWS's "IAM
    policies for using Distributed Map states"), the foreach state in the stack's table."""
    p, r, a = f.partition, f.region, f.account_id
    states = f"arn:{p}:states:{r}:{a}"
    batch = f"arn:{p}:batch:{r}:{a}"
    rule = f"arn:{p}:events:{r}:{a}:rule/StepFunctionsGetEventsForBatchJobsRule"
    # Metaflow's SFN_S3_DISTRIBUTED_MAP_OUTPUT_PATH: <datastore sysroot>/sfn_distributed_map_output
    results = f"{bucket_arn}/metaflow/sfn_distributed_map_output/*"
    return {
        "aws_batch": doc(
            allow("batch:SubmitJob", [*queue_arns, f"{batch}:{JOB_DEFINITIONS}", f"{batch}:job/*"], "SubmitJob"),
            # job ids are random: a job is named by account and region only (no tag on Metaflow's jobs by default)
            allow(["batch:TerminateJob", "batch:TagResource"], f"{batch}:job/*", "ManageJobs"),
            # no resource-level permissions for Describe* (Service Authorization Reference)
            allow(["batch:DescribeJobs", "batch:DescribeJobDefinitions", "batch:DescribeJobQueues"], "*", "Describe"),
        ),
        "distributed_map": doc(
            allow("states:StartExecution", f"{states}:stateMachine:{prefix}_*", "StartOwnMapRuns"),
            allow(
                ["states:DescribeExecution", "states:StopExecution", "states:RedriveExecution"],
                [f"{states}:execution:{prefix}_*:*", f"{states}:execution:{prefix}_*/*:*"],
                "OwnExecutions",
            ),
        ),
        "s3": doc(
            allow(
                ["s3:GetObject", "s3:PutObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload"],
                results,
                "MapResults",
            ),
            # ResultWriter writes multipart: encrypt, make data keys and decrypt the parts, all through S3
            allow(
                ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], kms_arn, "DatastoreKeyThroughS3", **via(f, "s3")
            ),
        ),
        "cloudwatch": doc(
            # `step-functions create --log-execution-history`: log delivery has no resource-level permissions
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
                "LogDelivery",
            )
        ),
        "event_bridge": doc(
            allow(["events:PutTargets", "events:DescribeRule"], rule),
            allow("events:PutRule", rule, StringEquals={"events:detail-type": "Batch Job State Change"}),
        ),
        "dynamodb": doc(allow(["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem"], table_arn)),
    }


def eventbridge_policies(f: Facts, prefix: str) -> dict[str, Doc]:
    """§3.8: EventBridge may start this stack's state machines (Metaflow's schedules), not the account's."""
    return {
        "step_functions": doc(
            allow(
                "states:StartExecution", f"arn:{f.partition}:states:{f.region}:{f.account_id}:stateMachine:{prefix}_*"
            )
        )
    }


def datastore_read_policies(f: Facts, bucket_arn: str, kms_arn: Any) -> dict[str, Doc]:
    """§3.4 / §3.6: what the metadata service and the UI backend read of the datastore (decrypt only)."""
    return {
        "s3_kms": doc(allow(list(KMS_READ), kms_arn, "DatastoreKeyThroughS3", **via(f, "s3"))),
        "custom_s3": doc(
            allow(["s3:GetObject", "s3:ListBucket"], [f"{bucket_arn}/*", bucket_arn], "ObjectAccessMetadataService")
        ),
        "deny_presigned": doc(DENY_PRESIGNED),
    }


ECR_PULL = [
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
]

#: the log group Batch's awslogs driver writes to by default
BATCH_LOG_GROUP = "/aws/batch/job"


def ecs_execution_policies(f: Facts, log_groups: list[str]) -> dict[str, Doc]:
    """§3.3: pull images (from any repository: a job names its image) and write the streams of ``log_groups``."""
    logs = f"arn:{f.partition}:logs:{f.region}:{f.account_id}:log-group"
    return {
        "ecs_access": doc(
            allow(list(ECR_PULL), "*", "PullImages"),
            allow(
                ["logs:CreateLogStream", "logs:PutLogEvents"],
                [f"{logs}:{g}:log-stream:*" for g in log_groups],
                "WriteLogs",
            ),
        )
    }


def notebook_policies(
    f: Facts, role_arn: str, notebook_arn: str, lifecycle_arn: str, bucket_arn: str, kms_arn: Any
) -> dict[str, Doc]:
    """A.4 ``SageMakerExecutionRole``, with its defects fixed: it passes no role (the template: any role, and it
    may create no SageMaker job to pass one to), its log grants name the notebook's own log streams (the
    template's ARNs match nothing useful), it uses the datastore's key through S3 (SSE-KMS here; the template's
    bucket has none), and it manages only its own notebook and lifecycle configuration (not ``STACK*`` / ``basic*``)."""
    logs = f"arn:{f.partition}:logs:{f.region}:{f.account_id}:log-group"
    name = notebook_arn.rsplit("/", 1)[-1]
    return {
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
        # from inside, the notebook can look at itself and stop itself (an idle auto-stop); starting it, changing
        # it or opening a URL to it are the user role's (the template gave the notebook those as well)
        "sagemaker": doc(
            allow(
                ["sagemaker:DescribeNotebook*", "sagemaker:StopNotebookInstance"],
                [notebook_arn, lifecycle_arn],
                "SageMakerPermissions",
            )
        ),
        "s3_list": doc(allow("s3:ListBucket", bucket_arn, "CustomS3ListAccess")),
        "s3": doc(allow(list(OBJECT_RW), f"{bucket_arn}/*", "CustomS3Access")),
        "s3_kms": doc(allow(list(KMS_WRITE), kms_arn, "DatastoreKeyThroughS3", **via(f, "s3"))),
        "deny_presigned": doc(DENY_PRESIGNED),
    }


def user_policies(
    f: Facts,
    *,
    prefix: str,
    bucket_arn: str,
    kms_arn: Any,
    queue_arns: list[Any],
    job_roles: list[Any],
    sfn_role: Any | None,
    events_role: Any | None,
    sagemaker_roles: list[str],
    notebook_arns: list[str],
) -> dict[str, Doc]:
    """A.4 ``MetaflowUserRole``: run flows, on Batch and Step Functions, against this stack only. The template's
    defects are fixed: its KMS grant named no key (``key/``) and names the datastore's key here, through S3 only;
    ``iam:PassRole`` names the roles Metaflow passes, each only to the service it is for (the job and Fargate
    execution roles to ECS tasks, the Step Functions role to Step Functions, the EventBridge role to EventBridge),
    not every ``STACK-*`` role; state machines and schedule rules are those named with the stack's prefix
    (Metaflow names them ``<Q>_<flow>``), with StopExecution on their executions and the deletes
    ``step-functions delete`` makes; jobs go to this stack's queues only; Batch logs only; and ``batch:ListJobs``
    for ``batch list``. SageMaker training only when the config names the roles it may run as. The
    CloudFormation-stack grant has no counterpart (there is no stack)."""
    p, r, a = f.partition, f.region, f.account_id
    batch = f"arn:{p}:batch:{r}:{a}"
    statements_metaflow = [
        allow(list(OBJECT_RW), f"{bucket_arn}/*", "ObjectAccess"),
        pass_to(f, job_roles, "ecs-tasks", "PassRoleToBatchJobs"),
        allow(list(KMS_WRITE), kms_arn, "DatastoreKeyThroughS3", **via(f, "s3")),
    ]
    if sfn_role is not None:
        statements_metaflow.append(pass_to(f, [sfn_role], "states", "PassRoleToStepFunctions"))
    if events_role is not None:
        statements_metaflow.append(pass_to(f, [events_role], "events", "PassRoleToEventBridge"))
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
    out = {
        "metaflow": doc(*statements_metaflow),
        "batch": doc(
            # no resource-level permissions for these (Service Authorization Reference)
            allow(
                [
                    "batch:DescribeJobs",
                    "batch:DescribeJobDefinitions",
                    "batch:DescribeJobQueues",
                    "batch:DescribeComputeEnvironments",
                    "batch:ListJobs",
                ],
                "*",
                "BatchRead",
            ),
            allow("batch:RegisterJobDefinition", f"{batch}:{JOB_DEFINITIONS}", "RegisterJobDefinitions"),
            # job ids are random: a job is named by account and region only
            allow(["batch:TerminateJob", "batch:CancelJob"], f"{batch}:job/*", "StopJobs"),
            allow("batch:SubmitJob", [*queue_arns, f"{batch}:{JOB_DEFINITIONS}", f"{batch}:job/*"], "BatchSubmit"),
        ),
        "s3_list": doc(allow("s3:ListBucket", bucket_arn, "CustomS3ListAccess")),
        "log": doc(
            allow(
                "logs:GetLogEvents",
                f"arn:{p}:logs:{r}:{a}:log-group:{BATCH_LOG_GROUP}:log-stream:*",
                "LogPerms",
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
                    "states:TagResource",
                ],
                f"{states}:stateMachine:{prefix}_*",
                "AllowStepFunctions",
            ),
            allow(
                ["states:StopExecution", "states:DescribeExecution"],
                f"{states}:execution:{prefix}_*",
                "AllowExecutions",
            ),
        ),
        "event_bridge": doc(
            allow(
                [
                    "events:PutTargets",
                    "events:DescribeRule",
                    "events:DisableRule",
                    "events:RemoveTargets",
                    "events:DeleteRule",
                ],
                rule,
                "AllowEventBridge",
            ),
            allow("events:PutRule", rule, "AllowPutRule", Null={"events:source": "true"}),
        ),
    }
    if sagemaker_roles:
        out["sagemaker"] = doc(
            allow(
                ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
                f"arn:{p}:sagemaker:{r}:{a}:training-job/*",
                "AllowSagemaker",
            ),
            pass_to(f, sagemaker_roles, "sagemaker", "PassRoleToSageMaker"),
        )
    return out
