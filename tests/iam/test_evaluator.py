"""The evaluator's rules, each against the case the IAM User Guide gives for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.iam.calls import Env, Unmapped, checks_for
from tests.iam.evaluator import Evaluator, arn_like, condition_holds


def allow(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def ev(*statements: dict[str, object]) -> Evaluator:
    return Evaluator([{"Version": "2012-10-17", "Statement": list(statements)}])


def test_implicit_deny_without_an_allow() -> None:
    d = ev(allow("s3:GetObject", "arn:aws:s3:::a/*")).allowed("s3:PutObject", "arn:aws:s3:::a/k")
    assert not d and d.reason == "implicit-deny"


def test_explicit_deny_wins_over_any_allow() -> None:
    e = ev(allow("s3:*"), deny("s3:GetObject", "arn:aws:s3:::a/secret"))
    assert e.allowed("s3:GetObject", "arn:aws:s3:::a/public")
    d = e.allowed("s3:GetObject", "arn:aws:s3:::a/secret")
    assert not d and d.reason == "explicit-deny"


def test_actions_are_case_insensitive_and_take_wildcards() -> None:
    e = ev(allow(["S3:get*", "kms:Decrypt"]))
    assert e.allowed("s3:GetObject", "x")
    assert not e.allowed("s3:PutObject", "x")
    assert not e.allowed("kms:DecryptX", "x")


def test_resources_are_case_sensitive_and_star_spans_segments() -> None:
    e = ev(allow("s3:GetObject", "arn:aws:s3:::bucket/pre*"))
    assert e.allowed("s3:GetObject", "arn:aws:s3:::bucket/prefix/a/b")
    assert not e.allowed("s3:GetObject", "arn:aws:s3:::bucket/Prefix/a")
    assert not e.allowed("s3:GetObject", "arn:aws:s3:::bucket2/prefix")
    q = ev(allow("s3:GetObject", "arn:aws:s3:::b/a?c"))
    assert q.allowed("s3:GetObject", "arn:aws:s3:::b/abc") and not q.allowed("s3:GetObject", "arn:aws:s3:::b/abbc")


def test_not_action_allows_everything_else() -> None:
    e = ev({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert e.allowed("s3:GetObject", "x")
    assert not e.allowed("iam:CreateUser", "x")


def test_not_resource_matches_every_other_resource() -> None:
    e = ev({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"})
    assert e.allowed("s3:GetObject", "arn:aws:s3:::open/k")
    assert not e.allowed("s3:GetObject", "arn:aws:s3:::secret/k")


def test_missing_key_false_for_positive_true_for_negated_and_if_exists() -> None:
    assert not condition_holds("StringEquals", "aws:SourceVpc", "vpc-1", {})
    assert condition_holds("StringNotEquals", "aws:SourceVpc", "vpc-1", {})
    assert condition_holds("StringEqualsIfExists", "aws:SourceVpc", "vpc-1", {})
    assert not condition_holds("StringEqualsIfExists", "aws:SourceVpc", "vpc-1", {"aws:SourceVpc": "vpc-2"})
    assert not condition_holds("ArnLike", "aws:SourceArn", "arn:aws:batch:*:1:*", {})
    assert condition_holds("ArnNotLike", "aws:SourceArn", "arn:aws:batch:*:1:*", {})


def test_values_or_keys_and_operators_and() -> None:
    cond = {"StringEquals": {"a": ["x", "y"], "b": "z"}, "Bool": {"aws:SecureTransport": "true"}}
    e = ev(allow("s3:GetObject", "*", Condition=cond))
    assert e.allowed("s3:GetObject", "r", {"a": "y", "b": "z", "aws:SecureTransport": "true"})
    assert not e.allowed("s3:GetObject", "r", {"a": "y", "b": "z", "aws:SecureTransport": "false"})
    assert not e.allowed("s3:GetObject", "r", {"a": "y", "aws:SecureTransport": "true"})


def test_negated_operator_with_several_values_is_nor() -> None:
    assert not condition_holds("StringNotEquals", "k", ["a", "b"], {"k": "b"})
    assert condition_holds("StringNotEquals", "k", ["a", "b"], {"k": "c"})


def test_condition_keys_are_case_insensitive_values_are_not() -> None:
    assert condition_holds(
        "StringEquals", "IAM:PassedToService", "states.amazonaws.com", {"iam:PassedToService": "states.amazonaws.com"}
    )
    assert not condition_holds("StringEquals", "k", "Abc", {"k": "abc"})
    assert condition_holds("StringEqualsIgnoreCase", "k", "Abc", {"k": "abc"})


def test_string_like_and_numeric_and_null() -> None:
    assert condition_holds("StringLike", "s3:prefix", ["data/*"], {"s3:prefix": "data/x"})
    assert not condition_holds("StringLike", "s3:prefix", ["data/*"], {"s3:prefix": "other/x"})
    assert condition_holds("NumericLessThanEquals", "s3:max-keys", "10", {"s3:max-keys": "10"})
    assert not condition_holds("NumericLessThan", "s3:max-keys", "10", {"s3:max-keys": "10"})
    assert condition_holds("Null", "events:source", "true", {})
    assert not condition_holds("Null", "events:source", "true", {"events:source": "aws.batch"})
    assert condition_holds("Null", "events:source", "false", {"events:source": "aws.batch"})


def test_set_operators() -> None:
    ctx = {"aws:TagKeys": ["team", "env"]}
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["team", "env", "x"], ctx)
    assert not condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], ctx)
    assert condition_holds("ForAllValues:StringEquals", "aws:TagKeys", ["team"], {})  # missing: true
    assert condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], ctx)
    assert not condition_holds("ForAnyValue:StringEquals", "aws:TagKeys", ["team"], {})  # missing: false


def test_arn_like_matches_part_by_part() -> None:
    assert arn_like(
        "arn:aws:states:*:123456789012:stateMachine:*", "arn:aws:states:us-east-1:123456789012:stateMachine:x"
    )
    assert not arn_like("arn:aws:states:*:123456789012:*", "arn:aws:states:us-east-1:999999999999:stateMachine:x")
    assert not arn_like("arn:aws:states:*:*:*", "not-an-arn")


def test_unknown_operators_and_policy_variables_fail_loudly() -> None:
    with pytest.raises(ValueError):
        condition_holds("DateGreaterThanFooBar", "k", "1", {"k": "1"})
    with pytest.raises(ValueError):
        condition_holds("StringEquals", "k", "${aws:username}", {"k": "x"})


def test_pass_role_is_implied_by_a_call_that_passes_a_role() -> None:
    env = Env()
    checks = checks_for(
        "stepfunctions",
        "CreateStateMachine",
        {"name": "m", "definition": "{}", "roleArn": "arn:aws:iam::123456789012:role/admin"},
        env,
    )
    e = ev(allow("states:CreateStateMachine", "arn:aws:states:us-east-1:123456789012:stateMachine:m"))
    d = e.first_denied(checks)
    assert d is not None and d.action == "iam:PassRole" and d.resource.endswith("role/admin")
    e2 = ev(
        allow("states:CreateStateMachine", "arn:aws:states:us-east-1:123456789012:stateMachine:m"),
        allow(
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/admin",
            Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        ),
    )
    assert e2.first_denied(checks) is not None  # passed to states, not to SageMaker


def test_sse_kms_writes_need_generate_data_key_reads_decrypt_multipart_both() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    env = Env(bucket_key=lambda b: key if b == "enc" else None)
    put = checks_for("s3", "PutObject", {"Bucket": "enc", "Key": "a"}, env)
    assert [(c.action, c.resource) for c in put] == [
        ("s3:PutObject", "arn:aws:s3:::enc/a"),
        ("kms:GenerateDataKey", key),
    ]
    assert put[1].context["kms:ViaService"] == "s3.us-east-1.amazonaws.com"
    get = checks_for("s3", "GetObject", {"Bucket": "enc", "Key": "a"}, env)
    assert [c.action for c in get] == ["s3:GetObject", "kms:Decrypt"]
    parts = [
        c.action
        for op in ("CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")
        for c in checks_for("s3", op, {"Bucket": "enc", "Key": "a"}, env)
    ]
    assert "kms:GenerateDataKey" in parts and "kms:Decrypt" in parts
    assert [c.action for c in checks_for("s3", "PutObject", {"Bucket": "plain", "Key": "a"}, env)] == ["s3:PutObject"]


def test_batch_submit_is_authorized_on_job_queue_and_definition() -> None:
    checks = checks_for(
        "batch",
        "SubmitJob",
        {
            "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
            "jobDefinition": "metaflow_ab:3",
            "jobName": "j",
        },
        Env(),
    )
    kinds = sorted(c.resource.split(":")[5].split("/")[0] for c in checks)
    assert kinds == ["job", "job-definition", "job-queue"]
    only_queue = ev(
        allow(
            "batch:SubmitJob",
            [
                "arn:aws:batch:us-east-1:123456789012:job-queue/q",
                "arn:aws:batch:us-east-1:123456789012:job-definition/*",
            ],
        )
    )
    assert only_queue.first_denied(checks) is not None  # the job itself (job/*) is a required resource


def test_unmapped_calls_are_refused() -> None:
    with pytest.raises(Unmapped):
        checks_for("s3", "PutBucketAcl", {"Bucket": "b"}, Env())


def test_the_guard_answers_access_denied_and_logs_it(tmp_path: Path) -> None:
    import boto3
    from botocore.exceptions import ClientError

    from tests.iam.hook import Guard, read_log

    log = tmp_path / "calls.jsonl"
    guard = Guard(ev(allow("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/mine")), Env(), log)
    ddb = guard.install(boto3.client("dynamodb", endpoint_url="http://127.0.0.1:9", region_name="us-east-1"))
    with pytest.raises(ClientError) as err:
        ddb.get_item(TableName="theirs", Key={"k": {"S": "v"}})
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    (entry,) = read_log(log)
    assert entry["call"] == "dynamodb:GetItem" and entry["denied"].startswith("implicit-deny")
    with pytest.raises(RuntimeError, match="no authorization mapping"):
        ddb.list_tables()
