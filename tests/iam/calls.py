"""Which authorizations AWS makes for one API call: action, resource ARN(s), condition keys, implied checks.

From the Service Authorization Reference (``list_<service>.html``: the resource types marked required, the
condition keys), the IAM "Actions that require iam:PassRole" rule and S3's "Protecting data using SSE-KMS" (an
SSE-KMS write needs ``kms:GenerateDataKey``, a read ``kms:Decrypt``, a multipart upload both), as summarized
in /work/shared/reference/aws-semantics.md §5-§8.

    env = Env(account="123456789012", region="us-east-1", bucket_key=lambda bucket: key_arn_or_None)
    checks = checks_for("s3", "PutObject", {"Bucket": "b", "Key": "k"}, env)
    Evaluator(policies).authorize(checks)   # one Decision per check; the call needs all of them

A call the table does not know raises ``Unmapped``: a Metaflow run checked by the hook must not pass a call
unexamined. Calls that need no permission (``sts:GetCallerIdentity``) map to no check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: botocore's service names -> IAM service prefixes where they differ
_PREFIX = {"stepfunctions": "states", "lambda": "lambda", "elbv2": "elasticloadbalancing"}

#: the service principal PassRole's iam:PassedToService names, per (service, operation)
PASSED_TO = {
    ("batch", "RegisterJobDefinition"): "ecs-tasks.amazonaws.com",
    ("batch", "CreateComputeEnvironment"): "batch.amazonaws.com",
    ("stepfunctions", "CreateStateMachine"): "states.amazonaws.com",
    ("stepfunctions", "UpdateStateMachine"): "states.amazonaws.com",
    ("events", "PutTargets"): "events.amazonaws.com",
    ("sagemaker", "CreateTrainingJob"): "sagemaker.amazonaws.com",
    ("sagemaker", "CreateModel"): "sagemaker.amazonaws.com",
    ("sagemaker", "CreateNotebookInstance"): "sagemaker.amazonaws.com",
    ("ecs", "RegisterTaskDefinition"): "ecs-tasks.amazonaws.com",
    ("lambda", "CreateFunction"): "lambda.amazonaws.com",
}


class Unmapped(KeyError):
    """A call this table does not describe."""


@dataclass(frozen=True)
class Check:
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


@dataclass
class Env:
    """What a check needs to know beyond the call's parameters."""

    account: str = "123456789012"
    region: str = "us-east-1"
    partition: str = "aws"
    #: the KMS key ARN encrypting a bucket's objects by default (SSE-KMS), or None
    bucket_key: Callable[[str], str | None] = lambda bucket: None
    #: the ARN of the principal making the calls (aws:PrincipalArn)
    principal_arn: str = ""

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account if account else ''}:"
            f"{resource}"
        )

    def base_context(self) -> dict[str, Any]:
        ctx: dict[str, Any] = {
            "aws:RequestedRegion": self.region,
            "aws:SecureTransport": "true",
            "aws:PrincipalAccount": self.account,
        }
        if self.principal_arn:
            ctx["aws:PrincipalArn"] = self.principal_arn
        return ctx


# ----------------------------------------------------------------------------------------------------- helpers


def _pass_role(env: Env, role_arn: str | None, service: str, operation: str) -> list[Check]:
    if not role_arn:
        return []
    if not role_arn.startswith("arn:"):
        role_arn = env.arn("iam", f"role/{role_arn}", region=False)
    ctx = {**env.base_context(), "iam:PassedToService": PASSED_TO[(service, operation)]}
    return [Check("iam:PassRole", role_arn, ctx)]


def _kms_via_s3(env: Env, bucket: str, actions: tuple[str, ...], sse_key: str | None = None) -> list[Check]:
    key = sse_key or env.bucket_key(bucket)
    if not key:
        return []
    ctx = {
        **env.base_context(),
        "kms:ViaService": f"s3.{env.region}.amazonaws.com",
        "kms:CallerAccount": env.account,
        "kms:EncryptionContext:aws:s3:arn": f"arn:{env.partition}:s3:::{bucket}",
    }
    return [Check(a, key, ctx) for a in actions]


def _s3(env: Env, action: str, bucket: str, key: str | None = None, **extra: Any) -> Check:
    ctx = {**env.base_context(), "s3:authType": "REST-HEADER", "s3:signatureversion": "AWS4-HMAC-SHA256", **extra}
    arn = f"arn:{env.partition}:s3:::{bucket}" + (f"/{key}" if key is not None else "")
    return Check(action, arn, ctx)


def _s3_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    b, k = p.get("Bucket", ""), p.get("Key")
    sse = p.get("SSEKMSKeyId")
    if op in ("GetObject", "HeadObject"):
        return [_s3(env, "s3:GetObject", b, k), *_kms_via_s3(env, b, ("kms:Decrypt",))]
    if op == "PutObject":
        return [_s3(env, "s3:PutObject", b, k), *_kms_via_s3(env, b, ("kms:GenerateDataKey",), sse)]
    if op == "CreateMultipartUpload":
        return [_s3(env, "s3:PutObject", b, k), *_kms_via_s3(env, b, ("kms:GenerateDataKey",), sse)]
    if op in ("UploadPart", "CompleteMultipartUpload"):
        # "S3 must decrypt and read data from the encrypted file parts before it completes the multipart upload"
        return [_s3(env, "s3:PutObject", b, k), *_kms_via_s3(env, b, ("kms:Decrypt",))]
    if op == "UploadPartCopy":
        src_b, _, src_k = str(p["CopySource"] if isinstance(p["CopySource"], str) else "").lstrip("/").partition("/")
        if isinstance(p["CopySource"], Mapping):
            src_b, src_k = p["CopySource"]["Bucket"], p["CopySource"]["Key"]
        return [
            _s3(env, "s3:GetObject", src_b, src_k),
            _s3(env, "s3:PutObject", b, k),
            *_kms_via_s3(env, src_b, ("kms:Decrypt",)),
            *_kms_via_s3(env, b, ("kms:Decrypt",)),
        ]
    if op == "CopyObject":
        src = p["CopySource"]
        if isinstance(src, Mapping):
            src_b, src_k = src["Bucket"], src["Key"]
        else:
            src_b, _, src_k = str(src).lstrip("/").partition("/")
        return [
            _s3(env, "s3:GetObject", src_b, src_k),
            _s3(env, "s3:PutObject", b, k),
            *_kms_via_s3(env, src_b, ("kms:Decrypt",)),
            *_kms_via_s3(env, b, ("kms:GenerateDataKey",), sse),
        ]
    if op == "AbortMultipartUpload":
        return [_s3(env, "s3:AbortMultipartUpload", b, k)]
    if op == "ListParts":
        return [_s3(env, "s3:ListMultipartUploadParts", b, k)]
    if op == "DeleteObject":
        return [_s3(env, "s3:DeleteObject", b, k)]
    if op == "DeleteObjects":
        return [_s3(env, "s3:DeleteObject", b, o["Key"]) for o in p.get("Delete", {}).get("Objects", [])]
    if op in ("ListObjects", "ListObjectsV2"):
        extra = {"s3:prefix": p.get("Prefix", "")}
        if p.get("Delimiter"):
            extra["s3:delimiter"] = p["Delimiter"]
        if p.get("MaxKeys") is not None:
            extra["s3:max-keys"] = str(p["MaxKeys"])
        return [_s3(env, "s3:ListBucket", b, **extra)]
    if op == "ListObjectVersions":
        return [_s3(env, "s3:ListBucketVersions", b, **{"s3:prefix": p.get("Prefix", "")})]
    if op == "HeadBucket":
        return [_s3(env, "s3:ListBucket", b)]
    if op == "GetBucketLocation":
        return [_s3(env, "s3:GetBucketLocation", b)]
    if op == "ListMultipartUploads":
        return [_s3(env, "s3:ListBucketMultipartUploads", b)]
    if op == "ListBuckets":
        return [Check("s3:ListAllMyBuckets", "*", env.base_context())]
    if op == "GetBucketEncryption":
        return [_s3(env, "s3:GetEncryptionConfiguration", b)]
    if op == "PutBucketPolicy":
        return [_s3(env, "s3:PutBucketPolicy", b)]
    raise Unmapped(f"s3:{op}")


def _job_definition_arn(env: Env, jd: str) -> str:
    return jd if jd.startswith("arn:") else env.arn("batch", f"job-definition/{jd}")


def _batch_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    ctx = env.base_context()
    if op == "SubmitJob":
        queue = (
            p["jobQueue"] if str(p["jobQueue"]).startswith("arn:") else env.arn("batch", f"job-queue/{p['jobQueue']}")
        )
        # the job itself is a required resource (job*): its ARN is not known before, any id stands for it
        job = env.arn("batch", f"job/{uuid.uuid4()}")
        out = [Check("batch:SubmitJob", r, ctx) for r in (job, queue, _job_definition_arn(env, p["jobDefinition"]))]
        if p.get("tags"):
            out.append(Check("batch:TagResource", job, {**ctx, "batch:CreateAction": "SubmitJob"}))
        return out
    if op == "RegisterJobDefinition":
        name = p["jobDefinitionName"]
        jd = env.arn("batch", f"job-definition/{name}")
        out = [Check("batch:RegisterJobDefinition", jd, ctx)]
        cp = p.get("containerProperties") or {}
        for role in (cp.get("jobRoleArn"), cp.get("executionRoleArn")):
            out += _pass_role(env, role, "batch", op)
        if p.get("tags"):
            out.append(Check("batch:TagResource", jd, {**ctx, "batch:CreateAction": "RegisterJobDefinition"}))
        return out
    if op in ("TerminateJob", "CancelJob"):
        return [Check(f"batch:{op}", env.arn("batch", f"job/{p['jobId']}"), ctx)]
    if op in ("DescribeJobs", "DescribeJobDefinitions", "DescribeJobQueues", "DescribeComputeEnvironments", "ListJobs"):
        return [Check(f"batch:{op}", "*", ctx)]
    raise Unmapped(f"batch:{op}")


def _states_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    ctx = env.base_context()
    if op == "CreateStateMachine":
        arn = env.arn("states", f"stateMachine:{p['name']}")
        return [Check("states:CreateStateMachine", arn, ctx), *_pass_role(env, p.get("roleArn"), "stepfunctions", op)]
    if op == "UpdateStateMachine":
        return [
            Check("states:UpdateStateMachine", p["stateMachineArn"], ctx),
            *_pass_role(env, p.get("roleArn"), "stepfunctions", op),
        ]
    if op in ("DescribeStateMachine", "DeleteStateMachine", "StartExecution", "ListExecutions", "StartSyncExecution"):
        return [Check(f"states:{op}", p["stateMachineArn"], ctx)]
    if op in ("DescribeExecution", "StopExecution", "GetExecutionHistory", "RedriveExecution"):
        return [Check(f"states:{op}", p["executionArn"], ctx)]
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [Check(f"states:{op}", p["resourceArn"], ctx)]
    if op == "ListStateMachines":
        return [Check("states:ListStateMachines", "*", ctx)]
    raise Unmapped(f"states:{op}")


def _events_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    ctx = env.base_context()
    name = p.get("Name") or p.get("Rule")
    rule = env.arn("events", f"rule/{name}")
    if op == "PutRule":
        c = dict(ctx)
        if p.get("EventPattern"):
            c["events:source"] = "present"  # a rule with an event pattern carries events:source
        return [Check("events:PutRule", rule, c)]
    if op == "PutTargets":
        out = [Check("events:PutTargets", rule, ctx)]
        for t in p.get("Targets", []):
            out += _pass_role(env, t.get("RoleArn"), "events", op)
        return out
    if op in ("DescribeRule", "DisableRule", "EnableRule", "RemoveTargets", "DeleteRule", "ListTargetsByRule"):
        return [Check(f"events:{op}", rule, ctx)]
    raise Unmapped(f"events:{op}")


def _dynamodb_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    if op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable"):
        return [Check(f"dynamodb:{op}", env.arn("dynamodb", f"table/{p['TableName']}"), env.base_context())]
    raise Unmapped(f"dynamodb:{op}")


def _kms_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    key = str(p.get("KeyId", "*"))
    if not key.startswith("arn:"):
        key = env.arn("kms", f"key/{key}")
    ctx = {**env.base_context(), "kms:CallerAccount": env.account}
    return [Check(f"kms:{op}", key, ctx)]


def _sagemaker_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    ctx = dict(env.base_context())
    if op == "CreateTrainingJob":
        rc = p.get("ResourceConfig") or {}
        if rc.get("InstanceType"):
            ctx["sagemaker:InstanceTypes"] = rc["InstanceType"]
        arn = env.arn("sagemaker", f"training-job/{p['TrainingJobName'].lower()}")
        return [Check("sagemaker:CreateTrainingJob", arn, ctx), *_pass_role(env, p.get("RoleArn"), "sagemaker", op)]
    if op == "CreateModel":
        arn = env.arn("sagemaker", f"model/{p['ModelName'].lower()}")
        return [Check("sagemaker:CreateModel", arn, ctx), *_pass_role(env, p.get("ExecutionRoleArn"), "sagemaker", op)]
    if op == "DescribeTrainingJob":
        return [Check(f"sagemaker:{op}", env.arn("sagemaker", f"training-job/{p['TrainingJobName'].lower()}"), ctx)]
    raise Unmapped(f"sagemaker:{op}")


def _iam_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    ctx = env.base_context()
    for param, kind in (("UserName", "user"), ("RoleName", "role"), ("PolicyArn", None)):
        if param in p:
            arn = p[param] if kind is None else env.arn("iam", f"{kind}/{p[param]}", region=False)
            return [Check(f"iam:{op}", arn, ctx)]
    if op == "PassRole":  # a probe of the implied check itself
        return [Check("iam:PassRole", p["RoleArn"], {**ctx, "iam:PassedToService": p["PassedToService"]})]
    raise Unmapped(f"iam:{op}")


def _ec2_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    if op in ("TerminateInstances", "StopInstances", "StartInstances"):
        return [Check(f"ec2:{op}", env.arn("ec2", f"instance/{i}"), env.base_context()) for i in p["InstanceIds"]]
    if op.startswith("Describe"):
        return [Check(f"ec2:{op}", "*", env.base_context())]
    raise Unmapped(f"ec2:{op}")


def _secrets_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    secret = p["SecretId"]
    if not secret.startswith("arn:"):
        secret = env.arn("secretsmanager", f"secret:{secret}-AbCdEf")
    return [Check(f"secretsmanager:{op}", secret, env.base_context())]


def _logs_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    group = p.get("logGroupName", "")
    if op in ("GetLogEvents", "PutLogEvents", "CreateLogStream"):
        arn = env.arn("logs", f"log-group:{group}:log-stream:{p.get('logStreamName', '')}")
        return [Check(f"logs:{op}", arn, env.base_context())]
    if op in ("DescribeLogStreams", "FilterLogEvents", "CreateLogGroup"):
        return [Check(f"logs:{op}", env.arn("logs", f"log-group:{group}:*"), env.base_context())]
    raise Unmapped(f"logs:{op}")


def _sts_checks(env: Env, op: str, p: Mapping[str, Any]) -> list[Check]:
    if op == "GetCallerIdentity":
        return []  # "No permissions are required to perform this operation"
    if op == "AssumeRole":
        return [Check("sts:AssumeRole", p["RoleArn"], env.base_context())]
    raise Unmapped(f"sts:{op}")


_TABLE: dict[str, Callable[[Env, str, Mapping[str, Any]], list[Check]]] = {
    "s3": _s3_checks,
    "batch": _batch_checks,
    "stepfunctions": _states_checks,
    "events": _events_checks,
    "dynamodb": _dynamodb_checks,
    "kms": _kms_checks,
    "sagemaker": _sagemaker_checks,
    "iam": _iam_checks,
    "ec2": _ec2_checks,
    "secretsmanager": _secrets_checks,
    "logs": _logs_checks,
    "sts": _sts_checks,
}


def checks_for(service: str, operation: str, params: Mapping[str, Any], env: Env) -> list[Check]:
    """The authorizations AWS makes for ``service`` (botocore's name) ``operation`` with ``params``."""
    try:
        table = _TABLE[service]
    except KeyError:
        raise Unmapped(f"{service}:{operation}") from None
    return table(env, operation, params)


def iam_prefix(service: str) -> str:
    return _PREFIX.get(service, service)
