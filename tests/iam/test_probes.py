"""What each role of the stacks may and may not do, evaluated as AWS evaluates identity policies (tests/iam).

Must-deny probes: another team's bucket, table, key, queue and state machines; the datastore key used directly
(not through S3); handing an administrator's role to SageMaker, Batch, Step Functions or EventBridge;
``iam:CreateUser``, ``ec2:TerminateInstances``, the database secret. Must-allow: what each role is for, Distributed
Map included (the Step Functions role's own executions and its ResultWriter's SSE-KMS multipart upload), so a
deny is a deny of the probe and not of everything.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam.calls import Env, checks_for
from tests.iam.evaluator import Evaluator
from tests.iam.roles import Role
from tests.iam.stacks import full_config, mlflow_config, policies_of, roles

A = "123456789012"
R = "us-east-1"
BUCKET = "metaflow-s3-abc12345"
KEY = f"arn:aws:kms:{R}:{A}:key/kms-key-s3"
OTHER_KEY = f"arn:aws:kms:{R}:{A}:key/other-team"
QUEUE = f"arn:aws:batch:{R}:{A}:job-queue/metaflow-abc12345"
TABLE = "metaflow-step_functions_state-abc12345"
MACHINE = f"arn:aws:states:{R}:{A}:stateMachine:metaflow-abc12345_ForeachFlow"
ADMIN = f"arn:aws:iam::{A}:role/admin"
SECRET = f"arn:aws:secretsmanager:{R}:{A}:secret:metaflow-metadata-db-abc12345-AbCdEf"
ENV = Env(account=A, region=R, bucket_key={BUCKET: KEY, "other-team-bucket": OTHER_KEY}.get)

Call = tuple[str, str, dict[str, Any]]

#: what no role of the Metaflow stack may do
MUST_DENY: list[Call] = [
    ("s3", "GetObject", {"Bucket": "other-team-bucket", "Key": "data/x"}),
    ("s3", "PutObject", {"Bucket": "other-team-bucket", "Key": "data/x"}),
    ("s3", "ListObjectsV2", {"Bucket": "other-team-bucket", "Prefix": ""}),
    ("dynamodb", "PutItem", {"TableName": "other-team-table"}),
    ("dynamodb", "GetItem", {"TableName": "other-team-table"}),
    ("kms", "Decrypt", {"KeyId": OTHER_KEY}),
    ("kms", "Decrypt", {"KeyId": KEY}),  # the datastore's key, directly: only S3 may use it on a role's behalf
    ("kms", "GenerateDataKey", {"KeyId": KEY}),
    ("batch", "SubmitJob",
     {"jobQueue": f"arn:aws:batch:{R}:{A}:job-queue/other-team", "jobDefinition": "metaflow_a:1"}),
    ("batch", "RegisterJobDefinition", {"jobDefinitionName": "other-team-def"}),
    ("stepfunctions", "StartExecution", {"stateMachineArn": f"arn:aws:states:{R}:{A}:stateMachine:other-team_Flow"}),
    ("stepfunctions", "DeleteStateMachine", {"stateMachineArn": f"arn:aws:states:{R}:{A}:stateMachine:payroll"}),
    ("stepfunctions", "StopExecution", {"executionArn": f"arn:aws:states:{R}:{A}:execution:payroll:1"}),
    ("sagemaker", "CreateTrainingJob", {"TrainingJobName": "t", "RoleArn": ADMIN}),
    ("batch", "RegisterJobDefinition",
     {"jobDefinitionName": "metaflow_x", "containerProperties": {"jobRoleArn": ADMIN}}),
    ("stepfunctions", "CreateStateMachine",
     {"name": "metaflow-abc12345_Evil", "definition": "{}", "roleArn": ADMIN}),
    ("events", "PutTargets",
     {"Rule": "metaflow-abc12345_Evil", "Targets": [{"Id": "1", "Arn": MACHINE, "RoleArn": ADMIN}]}),
    ("iam", "CreateUser", {"UserName": "backdoor"}),
    ("iam", "PutRolePolicy", {"RoleName": "metaflow-batch_s3_task_role-abc12345"}),
    ("ec2", "TerminateInstances", {"InstanceIds": ["i-0123456789abcdef0"]}),
    ("secretsmanager", "GetSecretValue", {"SecretId": SECRET}),
]  # fmt: skip

#: roles whose job is the one exception to a probe: (role address, probe index in MUST_DENY)
EXCEPTIONS = {
    # ECS hands the database password to the metadata service's container (the task definition's `secrets`)
    ("iam.role.ecs_execution", MUST_DENY.index(("secretsmanager", "GetSecretValue", {"SecretId": SECRET}))),
}

#: what each role is for (a probe denied for a role that cannot even do this would prove nothing)
MUST_ALLOW: dict[str, list[Call]] = {
    "iam.role.batch_task": [
        ("s3", "PutObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"}),
        ("s3", "CreateMultipartUpload", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/big"}),
        ("s3", "UploadPart", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/big"}),
        ("s3", "GetObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"}),
        ("s3", "ListObjectsV2", {"Bucket": BUCKET, "Prefix": "metaflow/"}),
        ("dynamodb", "UpdateItem", {"TableName": TABLE}),
    ],
    "iam.role.step_functions": [
        ("batch", "SubmitJob", {"jobQueue": QUEUE, "jobDefinition": "metaflow_ab:1"}),
        ("batch", "TerminateJob", {"jobId": "0f7e9a52"}),
        ("dynamodb", "GetItem", {"TableName": TABLE}),
        # Distributed Map: the machine starts its own map runs and watches and stops them...
        ("stepfunctions", "StartExecution", {"stateMachineArn": MACHINE}),
        ("stepfunctions", "DescribeExecution", {"executionArn": f"{MACHINE.replace('stateMachine', 'execution')}:x"}),
        ("stepfunctions", "StopExecution",
         {"executionArn": f"{MACHINE.replace('stateMachine', 'execution')}/map-label:0f7e"}),
        ("stepfunctions", "RedriveExecution",
         {"executionArn": f"{MACHINE.replace('stateMachine', 'execution')}/map-label:0f7e"}),
        # ...its ResultWriter writes the results in parts to the SSE-KMS datastore, its ItemReader reads them
        *(("s3", op, {"Bucket": BUCKET, "Key": "metaflow/sfn_distributed_map_output/x/manifest.json"})
          for op in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload",
                     "ListParts", "PutObject", "GetObject")),
    ],
    "iam.role.eventbridge": [("stepfunctions", "StartExecution", {"stateMachineArn": MACHINE})],
    "iam.role.metadata_task": [("s3", "GetObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"})],
    "iam.role.ui_task": [("s3", "GetObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"})],
    "iam.role.ecs_execution": [("secretsmanager", "GetSecretValue", {"SecretId": SECRET})],
    "iam.role.metaflow_user": [
        ("batch", "SubmitJob", {"jobQueue": QUEUE, "jobDefinition": "metaflow_ab:1"}),
        ("batch", "RegisterJobDefinition", {"jobDefinitionName": "metaflow_ab", "containerProperties": {
            "jobRoleArn": f"arn:aws:iam::{A}:role/metaflow-batch_s3_task_role-abc12345"}}),
        ("stepfunctions", "CreateStateMachine", {
            "name": "metaflow-abc12345_ForeachFlow", "definition": "{}",
            "roleArn": f"arn:aws:iam::{A}:role/metaflow-step_functions_role-abc12345"}),
        ("s3", "PutObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"}),
    ],
    "iam.role.notebook": [("s3", "GetObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"})],
}  # fmt: skip

#: what read-only roles must not do with the datastore
READERS_MUST_NOT: list[Call] = [
    ("s3", "PutObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"}),
    ("s3", "DeleteObject", {"Bucket": BUCKET, "Key": "metaflow/F/data/ab/abc"}),
]

FULL = roles(full_config())


def evaluator(role: Role) -> Evaluator:
    return Evaluator(policies_of(role))


def _id(call: Call) -> str:
    return f"{call[0]}:{call[1]}"


@pytest.mark.parametrize("address", sorted(FULL))
def test_every_role_is_denied_the_probes(address: str) -> None:
    ev = evaluator(FULL[address])
    allowed = []
    for i, (service, op, params) in enumerate(MUST_DENY):
        if (address, i) in EXCEPTIONS:
            continue
        if ev.first_denied(checks_for(service, op, params, ENV)) is None:
            allowed.append(f"{service}:{op} {params}")
    assert allowed == []


@pytest.mark.parametrize("address", sorted(MUST_ALLOW))
def test_every_role_may_do_what_it_is_for(address: str) -> None:
    ev = evaluator(FULL[address])
    decisions = [(c, ev.first_denied(checks_for(c[0], c[1], c[2], ENV))) for c in MUST_ALLOW[address]]
    denied = [f"{_id(c)}: {d}" for c, d in decisions if d is not None]
    assert denied == []


@pytest.mark.parametrize("address", ["iam.role.metadata_task", "iam.role.ui_task"])
def test_readers_only_read_and_only_decrypt(address: str) -> None:
    ev = evaluator(FULL[address])
    for service, op, params in READERS_MUST_NOT:
        assert ev.first_denied(checks_for(service, op, params, ENV)) is not None, op
    via_s3 = {"kms:ViaService": f"s3.{R}.amazonaws.com"}
    assert ev.allowed("kms:Decrypt", KEY, via_s3)
    for action in ("kms:GenerateDataKey", "kms:Encrypt"):
        assert not ev.allowed(action, KEY, via_s3), action


def test_the_job_role_passes_to_sagemaker_only_the_roles_the_config_names() -> None:
    mine = f"arn:aws:iam::{A}:role/team-sagemaker"
    job = evaluator(roles(full_config(sagemaker_role_arns=[mine]))["iam.role.batch_task"])
    train = {"TrainingJobName": "t", "RoleArn": mine}
    assert job.first_denied(checks_for("sagemaker", "CreateTrainingJob", train, ENV)) is None
    d = job.first_denied(checks_for("sagemaker", "CreateTrainingJob", {**train, "RoleArn": ADMIN}, ENV))
    assert d is not None and d.action == "iam:PassRole"
    # the named role goes to SageMaker only: not into a Batch job definition
    batch = {"jobDefinitionName": "metaflow_x", "containerProperties": {"jobRoleArn": mine}}
    assert job.first_denied(checks_for("batch", "RegisterJobDefinition", batch, ENV)) is not None
    # off by default: no SageMaker at all
    off = evaluator(FULL["iam.role.batch_task"])
    assert off.first_denied(checks_for("sagemaker", "CreateTrainingJob", train, ENV)) is not None


TRUSTS = {
    # aws:SourceArn of what may assume it, as each service sends it
    "iam.role.step_functions": ("states.amazonaws.com", MACHINE, f"arn:aws:states:{R}:{A}:stateMachine:other_Flow"),
    "iam.role.eventbridge": (
        "events.amazonaws.com",
        f"arn:aws:events:{R}:{A}:rule/metaflow-abc12345_ForeachFlow",
        f"arn:aws:events:{R}:{A}:rule/other",
    ),
}


@pytest.mark.parametrize("address", sorted(TRUSTS))
def test_service_trusts_carry_the_confused_deputy_conditions(address: str) -> None:
    service, own, other = TRUSTS[address]
    (st,) = FULL[address].trust["Statement"]
    assert st["Principal"] == {"Service": [service]}
    trust = Evaluator([{"Statement": [{k: v for k, v in st.items() if k != "Principal"} | {"Resource": "*"}]}])
    ctx = {"aws:SourceAccount": A, "aws:SourceArn": own}
    assert trust.allowed("sts:AssumeRole", "*", ctx)
    assert not trust.allowed("sts:AssumeRole", "*", {**ctx, "aws:SourceArn": other})
    assert not trust.allowed("sts:AssumeRole", "*", {**ctx, "aws:SourceAccount": "999999999999"})


def test_custom_batch_service_role_trust_names_the_stacks_compute_environments() -> None:
    (st,) = roles(full_config(custom_service_role=True))["iam.role.batch_service"].trust["Statement"]
    trust = Evaluator([{"Statement": [{k: v for k, v in st.items() if k != "Principal"} | {"Resource": "*"}]}])
    ce = f"arn:aws:batch:{R}:{A}:compute-environment/metaflow-cpu-abc12345"
    assert trust.allowed("sts:AssumeRole", "*", {"aws:SourceAccount": A, "aws:SourceArn": ce})
    other = f"arn:aws:batch:{R}:{A}:compute-environment/other"
    assert not trust.allowed("sts:AssumeRole", "*", {"aws:SourceAccount": A, "aws:SourceArn": other})


def test_no_batch_service_role_by_default() -> None:
    assert "iam.role.batch_service" not in FULL


MLFLOW = roles(mlflow_config())


@pytest.mark.parametrize("address", sorted(MLFLOW))
def test_mlflow_roles_are_denied_the_probes(address: str) -> None:
    ev = evaluator(MLFLOW[address])
    allowed = [
        f"{_id(c)} {c[2]}"
        for c in MUST_DENY
        if c[0] != "secretsmanager" and ev.first_denied(checks_for(c[0], c[1], c[2], ENV)) is None
    ]
    assert allowed == []


@pytest.mark.parametrize("bad", ["*", "arn:aws:iam::123456789012:role/*", "arn:aws:iam::123456789012:user/me", "admin"])
def test_sagemaker_roles_must_be_named_role_arns(bad: str) -> None:
    from provisioner.stacks.config import ConfigError

    with pytest.raises(ConfigError, match="sagemaker_role_arns"):
        full_config(sagemaker_role_arns=[bad])
