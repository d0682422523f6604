"""The bucket type: encryption, public access block, versioning, lifecycle rules and tags read back, drift
repaired, the naming rules, someone else's bucket refused, and delete that refuses data unless force_destroy is on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from pydantic import ValidationError

import resources.s3 as s3mod
from provisioner.core.context import Facts, NodeContext
from provisioner.core.session import ClientFactory
from resources.base import TAG_ADDRESS, TAG_STACK, resource_type
from resources.s3 import RULE_MULTIPART, RULE_NONCURRENT, BucketNameTaken, BucketNotEmpty, empty_bucket
from tests.resources.drift import (
    Change,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    read_back,
)


def _fill(s3: Any, bucket: str) -> None:
    """Two versions of ``a``, a delete marker on ``b`` (over one version), and ``c``: 5 entries in all."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="a", Body=b"1")
    s3.put_object(Bucket=bucket, Key="a", Body=b"2")
    s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="b")
    s3.put_object(Bucket=bucket, Key="c", Body=b"y")


def test_bucket_lifecycle(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.datastore")
    props = rt.parse_props({"name": "mf-test-bucket-x1"})
    id = rt.create(ctx, props)
    assert id == "mf-test-bucket-x1"

    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.props["kms_key_arn"] is None and obs.props["block_public_access"] is True
    assert obs.attrs == {
        "id": id,
        "name": id,
        "arn": f"arn:aws:s3:::{id}",
        "region": "us-east-1",
        "domain_name": f"{id}.s3.amazonaws.com",
    }
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "mf-test-bucket-x2"})) is None

    s3 = boto3.client("s3")
    rule = s3.get_bucket_encryption(Bucket=id)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert set(s3.get_public_access_block(Bucket=id)["PublicAccessBlockConfiguration"].values()) == {True}
    assert "Status" not in s3.get_bucket_versioning(Bucket=id)  # never enabled

    # out of band: SSE-KMS, public access block gone, versioning on, tag set replaced by someone else's
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(
        Bucket=id,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    s3.delete_public_access_block(Bucket=id)
    s3.put_bucket_versioning(Bucket=id, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket=id, Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]})
    drifted = rt.read(ctx, id)
    assert drifted.props["kms_key_arn"] == key
    assert drifted.props["block_public_access"] is False
    assert drifted.props["versioning"] is True
    assert drifted.props["tags"] == {"team": "ml"}
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"kms_key_arn", "block_public_access", "versioning", "tags"}

    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == read_back(rt, props, ctx) | {"tags": ctx.tags | {"team": "ml"}}
    assert s3.get_bucket_versioning(Bucket=id)["Status"] == "Suspended"  # versioning cannot be switched off
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert rt.find(ctx, props) is None
    with pytest.raises(ClientError) as gone:
        rt.delete(ctx, id, obs.attrs, props)
    assert rt.missing(gone.value)


def test_bucket_with_kms_key_bucket_key_and_versioning(make_ctx: Callable[..., Any]) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.kms")
    props = rt.parse_props(
        {"name": "mf-kms-bucket", "kms_key_arn": key, "bucket_key_enabled": True, "versioning": True}
    )
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    rule = boto3.client("s3").get_bucket_encryption(Bucket=id)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
    assert rule["BucketKeyEnabled"] is True
    assert boto3.client("s3").get_bucket_versioning(Bucket=id)["Status"] == "Enabled"

    # back to SSE-S3 and no versioning
    plain = rt.parse_props({"name": "mf-kms-bucket"})
    changes = changed_fields(rt, plain, obs, ctx)
    assert changes == {"kms_key_arn", "bucket_key_enabled", "versioning"}
    rt.update(ctx, id, plain, obs, changes)
    assert rt.read(ctx, id).props == read_back(rt, plain, ctx)


def test_read_of_a_bare_bucket_untagged_adoption_and_empty_bucket(make_ctx: Callable[..., Any]) -> None:
    """A bucket with no encryption config, no public access block and no tags reads as such; empty_bucket
    removes every version and marker and says how many."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="mf-bare-bucket")
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.bare")
    obs = rt.read(ctx, "mf-bare-bucket")
    assert obs.props == {
        "name": "mf-bare-bucket",
        "kms_key_arn": None,
        "bucket_key_enabled": False,
        "versioning": False,
        "noncurrent_version_days": None,
        "abort_multipart_days": None,
        "block_public_access": False,
        "tags": {},
    }
    assert rt.adoptable_untagged(ctx, obs) is True  # what a run that died right after CreateBucket leaves
    _fill(s3, "mf-bare-bucket")
    assert rt.adoptable_untagged(ctx, obs) is False
    assert empty_bucket(s3, "mf-bare-bucket") == 5
    assert empty_bucket(s3, "mf-bare-bucket") == 0
    assert rt.adoptable_untagged(ctx, obs) is True


def test_delete_refuses_data_unless_force_destroy(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.data")
    props = rt.parse_props({"name": "mf-data-bucket"})
    id = rt.create(ctx, props)
    s3 = boto3.client("s3")
    _fill(s3, id)

    with pytest.raises(BucketNotEmpty, match=r"bucket mf-data-bucket holds data and force_destroy is off"):
        rt.delete(ctx, id, {}, props)
    assert rt.read(ctx, id) is not None
    # only delete markers and old versions left still count as data
    for key in ("a", "c"):
        s3.delete_object(Bucket=id, Key=key)
    assert s3.list_objects_v2(Bucket=id)["KeyCount"] == 0
    with pytest.raises(BucketNotEmpty):
        rt.delete(ctx, id, {}, props)

    # props unknown: the state's attrs say force_destroy
    rt.delete(ctx, id, {"force_destroy": True}, None)
    assert rt.read(ctx, id) is None


def test_force_destroy_empties_every_version_in_batches(
    make_ctx: Callable[..., Any], aws: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3mod, "_DELETE_BATCH", 2)
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.force")
    props = rt.parse_props({"name": "mf-force-bucket", "force_destroy": True})
    id = rt.create(ctx, props)
    _fill(boto3.client("s3"), id)

    aws.recorder.reset()
    rt.delete(ctx, id, {}, props)
    assert aws.recorder.calls["s3:DeleteObjects"] == 3  # 5 versions and markers, 2 per call
    assert rt.read(ctx, id) is None


#: a lifecycle rule of someone else's, which mfprov must leave as it is
_THEIRS = {
    "ID": "team-tmp-cleanup",
    "Filter": {"Prefix": "tmp/"},
    "Status": "Enabled",
    "Expiration": {"Days": 3},
}


def _rules(id: str) -> dict[str, dict[str, Any]]:
    """The bucket's lifecycle rules by id."""
    try:
        rules = boto3.client("s3").get_bucket_lifecycle_configuration(Bucket=id)["Rules"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return {}
    return {r["ID"]: r for r in rules}


def test_lifecycle_rules_read_back_change_and_go_keeping_others(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.versions")
    props = rt.parse_props(
        {"name": "mf-versions", "versioning": True, "noncurrent_version_days": 30, "abort_multipart_days": 7}
    )
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    rules = _rules(id)
    assert set(rules) == {RULE_NONCURRENT, RULE_MULTIPART}
    assert rules[RULE_NONCURRENT]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules[RULE_MULTIPART]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert all(r["Status"] == "Enabled" and r["Filter"] == {"Prefix": ""} for r in rules.values())

    # someone adds a rule of their own: PutBucketLifecycleConfiguration replaces the whole configuration
    s3 = boto3.client("s3")
    s3.put_bucket_lifecycle_configuration(
        Bucket=id, LifecycleConfiguration={"Rules": [*rules.values(), _THEIRS]}
    )
    assert changed_fields(rt, props, rt.read(ctx, id), ctx) == set()

    # a new number of days: our rule changes, theirs stays
    longer = rt.parse_props(props.model_dump() | {"noncurrent_version_days": 90})
    obs = rt.read(ctx, id)
    assert changed_fields(rt, longer, obs, ctx) == {"noncurrent_version_days"}
    rt.update(ctx, id, longer, obs, {"noncurrent_version_days"})
    rules = _rules(id)
    assert rules[RULE_NONCURRENT]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    assert rules["team-tmp-cleanup"]["Expiration"] == {"Days": 3}
    assert changed_fields(rt, longer, rt.read(ctx, id), ctx) == set()

    # no rules wanted: ours go, theirs stays; with theirs gone too, the configuration is deleted
    bare = rt.parse_props({"name": "mf-versions", "versioning": True})
    changes = changed_fields(rt, bare, rt.read(ctx, id), ctx)
    assert changes == {"noncurrent_version_days", "abort_multipart_days"}
    rt.update(ctx, id, bare, rt.read(ctx, id), changes)
    assert set(_rules(id)) == {"team-tmp-cleanup"}
    s3.delete_bucket_lifecycle(Bucket=id)
    rt.update(ctx, id, props, rt.read(ctx, id), changes)
    assert set(_rules(id)) == {RULE_NONCURRENT, RULE_MULTIPART}
    rt.update(ctx, id, bare, rt.read(ctx, id), changes)
    assert _rules(id) == {}
    assert rt.read(ctx, id).props == read_back(rt, bare, ctx)


def test_lifecycle_days_must_be_positive() -> None:
    for field in ("noncurrent_version_days", "abort_multipart_days"):
        with pytest.raises(ValidationError, match=field):
            resource_type("s3.bucket").parse_props({"name": "mf-days", field: 0})


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("My-Bucket", "lowercase"),
        ("my_bucket", "lowercase"),
        ("-bucket", "begin and end"),
        ("bucket.", "begin and end"),
        ("my..bucket", "'..'"),
        ("my.-bucket", "'..'"),
        ("192.168.5.4", "IP address"),
        ("xn--bucket", "reserved"),
        ("sthree-bucket", "reserved"),
        ("bucket-s3alias", "reserved"),
        ("bucket--ol-s3", "reserved"),
    ],
)
def test_bucket_name_rules(name: str, problem: str) -> None:
    rt: Any = resource_type("s3.bucket")
    with pytest.raises(ValidationError, match=problem) as err:
        rt.parse_props({"name": name})
    assert f"bucket name {name!r}" in str(err.value)


@pytest.mark.parametrize("name", ["abc", "metaflow-s3-abc12345", "a.b-c.d1", "9" * 63])
def test_good_bucket_names(name: str) -> None:
    assert resource_type("s3.bucket").parse_props({"name": name}).name == name  # type: ignore[attr-defined]


def test_bucket_key_needs_a_kms_key() -> None:
    with pytest.raises(ValidationError, match="bucket_key_enabled applies to SSE-KMS only"):
        resource_type("s3.bucket").parse_props({"name": "mf-bk", "bucket_key_enabled": True})


def test_another_accounts_bucket_is_refused(make_ctx: Callable[..., Any]) -> None:
    creds = boto3.client("sts").assume_role(RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="other")
    c = creds["Credentials"]
    other = boto3.client(
        "s3",
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )
    other.create_bucket(Bucket="mf-taken-name")
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.taken")
    props = rt.parse_props({"name": "mf-taken-name"})
    with pytest.raises(BucketNameTaken, match="taken by another AWS account"):
        rt.create(ctx, props)

    # AWS answers HeadBucket on another account's bucket with 403 (moto answers 200): stub that answer
    with Stubber(ctx.client("s3")) as stub:
        stub.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        with pytest.raises(BucketNameTaken, match="belongs to another account"):
            rt.find(ctx, props)


def test_outside_us_east_1_with_location_constraint_and_duplicate(aws: ClientFactory) -> None:
    factory = ClientFactory(region="eu-west-1")
    ctx = NodeContext(
        address="s3.bucket.eu",
        clients=factory,
        facts=Facts(account_id="123456789012", region="eu-west-1"),
        tags={TAG_STACK: "test", TAG_ADDRESS: "s3.bucket.eu"},
        timeout=30,
        retry_budget=5,
    )
    rt: Any = resource_type("s3.bucket")
    props = rt.parse_props({"name": "mf-eu-bucket"})
    id = rt.create(ctx, props)
    obs = rt.read(ctx, id)
    assert obs.attrs["region"] == "eu-west-1"
    assert boto3.client("s3").get_bucket_location(Bucket=id)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError) as again:
        rt.create(ctx, props)
    assert rt.duplicate(again.value)  # our own bucket: the engine adopts it


# ------------------------------------------------------------------ every field drifted out of band, one at a time


def _s3() -> Any:
    return boto3.client("s3")


def _encrypt(id: str, key: str | None, bucket_key: bool = True) -> None:
    default = {"SSEAlgorithm": "aws:kms", **({"KMSMasterKeyID": key} if key else {})}
    rule = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bucket_key}
    _s3().put_bucket_encryption(Bucket=id, ServerSideEncryptionConfiguration={"Rules": [rule]})


def _key_of(id: str) -> str:
    rule = _s3().get_bucket_encryption(Bucket=id)["ServerSideEncryptionConfiguration"]["Rules"][0]
    return str(rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"])


def _one_flag_off(id: str) -> None:
    flags = {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True,
    }
    _s3().put_public_access_block(Bucket=id, PublicAccessBlockConfiguration=flags)


#: s3.bucket (SSE-KMS with a bucket key, versioned): (field, out-of-band change)
BUCKET_CASES = [
    pytest.param(
        "kms_key_arn", lambda id: _encrypt(id, boto3.client("kms").create_key()["KeyMetadata"]["Arn"]), id="other-key"
    ),
    pytest.param("kms_key_arn", lambda id: _encrypt(id, None), id="aws-managed-key"),
    pytest.param("bucket_key_enabled", lambda id: _encrypt(id, _key_of(id), bucket_key=False), id="bucket_key_enabled"),
    pytest.param(
        "versioning",
        lambda id: _s3().put_bucket_versioning(Bucket=id, VersioningConfiguration={"Status": "Suspended"}),
        id="versioning",
    ),
    pytest.param("block_public_access", lambda id: _s3().delete_public_access_block(Bucket=id), id="pab-deleted"),
    pytest.param("block_public_access", _one_flag_off, id="pab-one-flag-off"),
    pytest.param(
        "tags",
        lambda id: _s3().put_bucket_tagging(Bucket=id, Tagging={"TagSet": [{"Key": "team", "Value": "ml"}]}),
        id="tags-replaced",
    ),
    pytest.param("tags", lambda id: _s3().delete_bucket_tagging(Bucket=id), id="tags-deleted"),
]
def _our_rules_with(id: str, **change: Any) -> None:
    """Put the bucket's lifecycle configuration back with the rule of id ``rule`` changed as ``change`` says
    (``drop``: removed; ``disable``: status Disabled; ``prefix``: narrowed to it; else the days of its action)."""
    rule_id = change.pop("rule")
    rules = _rules(id)
    rule = rules[rule_id]
    if change.pop("drop", False):
        del rules[rule_id]
    elif change.pop("disable", False):
        rule["Status"] = "Disabled"
    elif "prefix" in change:
        rule["Filter"] = {"Prefix": change.pop("prefix")}
    elif rule_id == RULE_NONCURRENT:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": change.pop("days")}
    else:
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": change.pop("days")}
    _s3().put_bucket_lifecycle_configuration(Bucket=id, LifecycleConfiguration={"Rules": list(rules.values())})


BUCKET_CASES += [
    pytest.param(
        "noncurrent_version_days",
        lambda id: _our_rules_with(id, rule=RULE_NONCURRENT, days=365),
        id="noncurrent-days-changed",
    ),
    pytest.param(
        "noncurrent_version_days",
        lambda id: _our_rules_with(id, rule=RULE_NONCURRENT, disable=True),
        id="noncurrent-rule-disabled",
    ),
    pytest.param(
        "noncurrent_version_days",
        lambda id: _our_rules_with(id, rule=RULE_NONCURRENT, prefix="logs/"),
        id="noncurrent-rule-narrowed",
    ),
    pytest.param(
        "abort_multipart_days",
        lambda id: _our_rules_with(id, rule=RULE_MULTIPART, days=1),
        id="abort-days-changed",
    ),
    pytest.param(
        "abort_multipart_days",
        lambda id: _our_rules_with(id, rule=RULE_MULTIPART, drop=True),
        id="abort-rule-removed",
    ),
]
#: s3.bucket fields S3 offers no call to change
BUCKET_NO_CALL = {"name": "no rename in S3"}


@pytest.mark.parametrize(("field", "change"), BUCKET_CASES)
def test_bucket_field_drift(make_ctx: Callable[..., Any], field: str, change: Change) -> None:
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.datastore")
    props = rt.parse_props(
        {
            "name": "mf-drift",
            "kms_key_arn": key,
            "bucket_key_enabled": True,
            "versioning": True,
            "noncurrent_version_days": 30,
            "abort_multipart_days": 7,
        }
    )
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


def test_lifecycle_configuration_deleted_out_of_band_is_repaired(make_ctx: Callable[..., Any]) -> None:
    """Both rules gone at once (DeleteBucketLifecycle): both fields drift, and one update puts both back."""
    rt: Any = resource_type("s3.bucket")
    ctx = make_ctx("s3.bucket.datastore")
    props = rt.parse_props({"name": "mf-drift", "versioning": True, "noncurrent_version_days": 30,
                            "abort_multipart_days": 7})  # fmt: skip
    id = rt.create(ctx, props)
    _s3().delete_bucket_lifecycle(Bucket=id)
    drifted = rt.read(ctx, id)
    assert changed_fields(rt, props, drifted, ctx) == {"noncurrent_version_days", "abort_multipart_days"}
    rt.update(ctx, id, props, drifted, {"noncurrent_version_days", "abort_multipart_days"})
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)


def test_every_managed_field_has_a_drift_case() -> None:
    assert_every_managed_field_has_a_case("s3.bucket", BUCKET_CASES, BUCKET_NO_CALL)
