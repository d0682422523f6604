"""Datastore versions: ``standard`` and ``full`` version the bucket, with lifecycle rules that delete old versions
after ``datastore.noncurrent_version_days`` and abort unfinished multipart uploads; ``personal`` does not version
(nothing billed while idle), and ``datastore.versioning`` turns it on or off for any preset. The MLflow stack's
artifact bucket, versioned by default, gets the same rules."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner.core.context import Facts
from provisioner.stacks import metaflow, mlflow
from provisioner.stacks.config import parse_config
from resources.s3 import RULE_MULTIPART, RULE_NONCURRENT
from tests.stack.conftest import Stack, write_config
from tests.stack.test_mlflow_stack import mlflow_config

#: the lifecycle rules of a bucket of the default config, by id, as the action each takes
RULES = {
    RULE_NONCURRENT: {"NoncurrentVersionExpiration": {"NoncurrentDays": 30}},
    RULE_MULTIPART: {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}},
}
FACTS = Facts(account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))


def _edit(stack: Stack, old: str, new: str) -> None:
    text = stack.path.read_text()
    assert old in text, old
    stack.path.write_text(text.replace(old, new, 1))


def _bucket(stack: Stack) -> str:
    return str(stack.state().resources["s3.bucket.datastore"].id)


def _versioning(bucket: str) -> str | None:
    return boto3.client("s3").get_bucket_versioning(Bucket=bucket).get("Status")


def _rules(bucket: str) -> dict[str, dict[str, Any]]:
    """The bucket's enabled lifecycle rules by id, each as the action it takes."""
    try:
        rules = boto3.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return {}
    out = {}
    for r in rules:
        assert r["Status"] == "Enabled" and r["Filter"] == {"Prefix": ""}  # the whole bucket
        out[r["ID"]] = {k: v for k, v in r.items() if k not in ("ID", "Status", "Filter")}
    return out


def test_standard_versions_its_datastore_and_a_change_of_days_is_applied(
    moto_account: None, tmp_path: Path
) -> None:
    standard = Stack(write_config(tmp_path, preset="standard"))
    standard.up()
    bucket = _bucket(standard)
    assert _versioning(bucket) == "Enabled"
    assert _rules(bucket) == RULES
    assert standard.up().mutating == {}
    assert standard.drift().value == []

    _edit(standard, "noncurrent_version_days = 30", "noncurrent_version_days = 90")
    again = standard.up()
    assert again.mutating == {"s3:PutBucketLifecycleConfiguration": 1}
    assert _rules(bucket)[RULE_NONCURRENT] == {"NoncurrentVersionExpiration": {"NoncurrentDays": 90}}
    assert standard.up().mutating == {}

    # someone shortens it by hand: drift says so, and up puts it back
    rules = boto3.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    for r in rules:
        if r["ID"] == RULE_NONCURRENT:
            r["NoncurrentVersionExpiration"] = {"NoncurrentDays": 1}
    boto3.client("s3").put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    drift = standard.drift().value
    assert [(d.address, [c.field for c in d.changes]) for d in drift] == [
        ("s3.bucket.datastore", ["noncurrent_version_days"])
    ]
    standard.up()
    assert _rules(bucket)[RULE_NONCURRENT] == {"NoncurrentVersionExpiration": {"NoncurrentDays": 90}}


def test_personal_keeps_versioning_off_until_the_config_turns_it_on(stack: Stack) -> None:
    stack.up()
    bucket = _bucket(stack)
    assert _versioning(bucket) is None  # never enabled
    # the same rules: nothing for the first to delete until versioning is on; unfinished uploads bill anyway
    assert _rules(bucket) == RULES
    assert stack.up().mutating == {}

    _edit(stack, "# versioning = true", "versioning = true")
    assert stack.up().mutating == {"s3:PutBucketVersioning": 1}
    assert _versioning(bucket) == "Enabled"
    assert _rules(bucket) == RULES
    assert stack.up().mutating == {}

    # off again: suspended (S3 cannot unversion), and the rule still deletes the versions kept meanwhile
    _edit(stack, "versioning = true", "versioning = false")
    assert stack.up().mutating == {"s3:PutBucketVersioning": 1}
    assert _versioning(bucket) == "Suspended"
    assert _rules(bucket) == RULES


@pytest.mark.parametrize(
    ("preset", "datastore", "versioning", "noncurrent"),
    [
        ("personal", {}, False, 30),
        ("standard", {}, True, 30),
        ("full", {}, True, 30),
        ("personal", {"versioning": True, "noncurrent_version_days": 14}, True, 14),
        ("standard", {"versioning": False}, False, 30),
        ("full", {"versioning": False, "noncurrent_version_days": 3}, False, 3),
    ],
)
def test_versioning_by_preset_and_the_key_that_overrides_it(
    preset: str, datastore: dict[str, Any], versioning: bool, noncurrent: int
) -> None:
    cfg = parse_config({"name": "t1", "suffix": "abc12345", "preset": preset, "datastore": datastore})
    assert cfg.datastore.versioning is versioning
    props = metaflow.build(cfg, FACTS).nodes["s3.bucket.datastore"].props
    assert (props["versioning"], props["noncurrent_version_days"], props["abort_multipart_days"]) == (
        versioning,
        noncurrent,
        7,
    )


@pytest.mark.parametrize(
    ("replace", "versioning", "noncurrent"),
    [
        ({}, True, 30),
        ({"noncurrent_version_days = 30": "noncurrent_version_days = 60"}, True, 60),
        ({"versioning = true ": "versioning = false "}, False, 30),
    ],
)
def test_mlflow_artifact_bucket_gets_the_same_rules(
    tmp_path: Path, replace: dict[str, str], versioning: bool, noncurrent: int
) -> None:
    cfg = parse_config(tomllib.loads(mlflow_config(tmp_path, **replace).read_text()))
    props = mlflow.build(cfg, FACTS).nodes["s3.bucket.artifacts"].props
    assert (props["versioning"], props["noncurrent_version_days"], props["abort_multipart_days"]) == (
        versioning,
        noncurrent,
        7,
    )
