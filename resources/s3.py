"""S3: the datastore bucket (default encryption, public access block, versioning, lifecycle rules, tags).

Calls: CreateBucket, HeadBucket, GetBucketEncryption, PutBucketEncryption, GetPublicAccessBlock,
PutPublicAccessBlock, GetBucketVersioning, PutBucketVersioning, GetBucketLifecycleConfiguration,
PutBucketLifecycleConfiguration, DeleteBucketLifecycle, GetBucketTagging, PutBucketTagging,
ListObjectVersions, ListObjectsV2, DeleteObjects, DeleteBucket.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import Field, field_validator, model_validator

from resources.base import Observed, Props, Resource, error_code, register, tag_dict, tag_list
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

_BLOCK_ALL = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
#: what S3 reserves at the start / end of general purpose bucket names
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
#: one DeleteObjects call takes at most 1000 keys
_DELETE_BATCH = 1000
#: the ids of the lifecycle rules mfprov owns; rules of other ids are someone else's and stay as they are
RULE_NONCURRENT = "mfprov-noncurrent-versions"
RULE_MULTIPART = "mfprov-abort-incomplete-multipart-uploads"


class BucketNotEmpty(Exception):
    """The bucket holds data and force_destroy is off."""


class BucketNameTaken(Exception):
    """Another AWS account owns a bucket of this name (S3 names are global)."""


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` breaks the S3 general purpose bucket naming rules, or None when it is fine."""
    if not 3 <= len(name) <= 63:
        return f"is {len(name)} characters long; S3 bucket names have 3 to 63"
    if not re.fullmatch(r"[a-z0-9.-]+", name):
        return "may hold only lowercase letters, digits, '.' and '-'"
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "must begin and end with a lowercase letter or a digit"
    if ".." in name or ".-" in name or "-." in name:
        return "must not hold '..', '.-' or '-.' (each dot-separated label must be DNS-safe)"
    try:
        ipaddress.IPv4Address(name)
        return "must not look like an IP address"
    except ValueError:
        pass
    if name.startswith(_RESERVED_PREFIXES):
        return f"must not start with any of {', '.join(_RESERVED_PREFIXES)} (reserved by S3)"
    if name.endswith(_RESERVED_SUFFIXES):
        return f"must not end with any of {', '.join(_RESERVED_SUFFIXES)} (reserved by S3)"
    return None


class BucketProps(Props):
    name: str
    #: SSE-KMS with this key; None means SSE-S3 (AES256)
    kms_key_arn: str | None = None
    #: S3 Bucket Keys cut KMS calls; they apply to SSE-KMS only
    bucket_key_enabled: bool = False
    #: False means never enabled, or suspended
    versioning: bool = False
    #: a lifecycle rule deletes a version this many days after it stopped being current; None: no such rule
    noncurrent_version_days: Annotated[int, Field(ge=1)] | None = None
    #: a lifecycle rule aborts a multipart upload this many days after it began (its parts bill until then);
    #: None: no such rule
    abort_multipart_days: Annotated[int, Field(ge=1)] | None = None
    #: all four public access block flags on
    block_public_access: bool = True
    #: ``down`` empties the bucket (every version) before deleting it
    force_destroy: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        problem = bucket_name_problem(v)
        if problem:
            raise ValueError(f"bucket name {v!r} {problem}")
        return v

    @model_validator(mode="after")
    def _bucket_key(self) -> BucketProps:
        if self.bucket_key_enabled and not self.kms_key_arn:
            raise ValueError("bucket_key_enabled applies to SSE-KMS only: set kms_key_arn too, or leave it false")
        return self


def _delete_batch(s3: Any, name: str, objects: list[dict[str, str]]) -> int:
    """Delete up to 1000 keys/versions; a per-key failure (object lock, denied) is an error, not a silent skip."""
    if not objects:
        return 0
    out = s3.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
    errors = out.get("Errors") or []
    if errors:
        first = errors[0]
        raise RuntimeError(
            f"emptying bucket {name}: {len(errors)} objects could not be deleted, e.g. {first.get('Key')!r}: "
            f"{first.get('Code')} {first.get('Message', '')}".rstrip()
        )
    return len(objects)


def empty_bucket(s3: Any, name: str) -> int:
    """Delete every object version and delete marker (and plain objects); returns how many went."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]  # fmt: skip
        for i in range(0, len(items), _DELETE_BATCH):
            removed += _delete_batch(s3, name, items[i : i + _DELETE_BATCH])
    # An unversioned listing as well, in case the versions listing missed anything written meanwhile.
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        removed += _delete_batch(s3, name, [{"Key": o["Key"]} for o in page.get("Contents", [])])
    return removed


def _is_empty(s3: Any, name: str) -> bool:
    """No object, no old version, no delete marker."""
    if s3.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount", 0):
        return False
    versions = s3.list_object_versions(Bucket=name, MaxKeys=1)
    return not (versions.get("Versions") or versions.get("DeleteMarkers"))


def _optional(call: Any, absent_code: str, default: Any, **kwargs: Any) -> Any:
    """``call(**kwargs)``, or ``default`` when S3 answers that this configuration was never set."""
    try:
        return call(**kwargs)
    except ClientError as err:
        if error_code(err) == absent_code:
            return default
        raise


def _lifecycle_rules(s3: Any, name: str) -> list[dict[str, Any]]:
    """Every lifecycle rule of the bucket, ours and others'."""
    out = _optional(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", {}, Bucket=name)
    return list(out.get("Rules", []))


def _whole_bucket(rule: Mapping[str, Any]) -> bool:
    """The rule applies to every object: no filter, or an empty prefix and nothing else."""
    flt = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
    return not any(v for v in flt.values())


def _days_of(rules: list[dict[str, Any]]) -> dict[str, int | None]:
    """What our rules say, as props: a rule of ours that is disabled, narrowed or changed reads as drift."""
    days: dict[str, int | None] = {"noncurrent_version_days": None, "abort_multipart_days": None}
    for rule in rules:
        if rule.get("Status") != "Enabled" or not _whole_bucket(rule):
            continue
        if rule.get("ID") == RULE_NONCURRENT:
            days["noncurrent_version_days"] = rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
        elif rule.get("ID") == RULE_MULTIPART:
            days["abort_multipart_days"] = rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
    return days


def _own_rules(props: BucketProps) -> list[dict[str, Any]]:
    """The lifecycle rules ``props`` ask for, over the whole bucket."""
    rules: list[dict[str, Any]] = []
    if props.noncurrent_version_days is not None:
        rules.append(
            {
                "ID": RULE_NONCURRENT,
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": props.noncurrent_version_days},
            }
        )
    if props.abort_multipart_days is not None:
        rules.append(
            {
                "ID": RULE_MULTIPART,
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": props.abort_multipart_days},
            }
        )
    return rules


def _put_lifecycle(s3: Any, name: str, props: BucketProps, others: list[dict[str, Any]]) -> None:
    """Our rules beside ``others``: PutBucketLifecycleConfiguration replaces the whole configuration, so the rules
    someone else put on are sent again; with no rule left the configuration is deleted (S3 takes no empty one)."""
    rules = others + _own_rules(props)
    if rules:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    else:
        s3.delete_bucket_lifecycle(Bucket=name)


@register
class Bucket(Resource[BucketProps]):
    kind = "s3.bucket"
    service = "s3"
    Props = BucketProps
    replace_on: ClassVar = frozenset({"name"})
    behaviour_fields: ClassVar = frozenset({"force_destroy"})
    not_found_codes: ClassVar = frozenset({"404", "NoSuchBucket"})
    # Only our own bucket is adopted; BucketAlreadyExists (another account's) is turned into BucketNameTaken.
    duplicate_codes: ClassVar = frozenset({"BucketAlreadyOwnedByYou"})
    stateful = True

    def find(self, ctx: NodeContext, props: BucketProps) -> str | None:
        try:
            ctx.client("s3").head_bucket(Bucket=props.name)
        except ClientError as err:
            if self.missing(err):
                return None
            if error_code(err) == "403":
                raise BucketNameTaken(
                    f"bucket {props.name} exists but this account may not read it (it belongs to another "
                    "account): choose another bucket name"
                ) from None
            raise
        return props.name

    def adoptable_untagged(self, ctx: NodeContext, observed: Observed) -> bool:
        """S3 cannot tag in CreateBucket. A bucket of this exact name (it carries the stack's random suffix)
        in this account, with no tags and no objects, is what a run that died right after CreateBucket
        leaves; taking it over can lose nobody's data."""
        if observed.props.get("tags"):
            return False
        return _is_empty(ctx.client("s3"), observed.id)

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        s3 = ctx.client("s3")
        try:
            head = s3.head_bucket(Bucket=id)
            # Buckets are SSE-S3 by default since 2023; an older bucket may still answer "not found".
            no_rules: dict[str, Any] = {"ServerSideEncryptionConfiguration": {"Rules": []}}
            enc = _optional(
                s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError", no_rules, Bucket=id
            )
            pab = _optional(
                s3.get_public_access_block,
                "NoSuchPublicAccessBlockConfiguration",
                {"PublicAccessBlockConfiguration": {}},
                Bucket=id,
            )
            versioning = s3.get_bucket_versioning(Bucket=id).get("Status")
            rules = _lifecycle_rules(s3, id)
            tags = _optional(s3.get_bucket_tagging, "NoSuchTagSet", {"TagSet": []}, Bucket=id)["TagSet"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        kms_arn, bucket_key = self._encryption_of(enc["ServerSideEncryptionConfiguration"]["Rules"])
        flags = pab["PublicAccessBlockConfiguration"]
        props = {
            "name": id,
            "kms_key_arn": kms_arn,
            "bucket_key_enabled": bucket_key,
            "versioning": versioning == "Enabled",  # "Suspended" or never set: False
            **_days_of(rules),
            "block_public_access": all(flags.get(k) is True for k in _BLOCK_ALL),
            "tags": tag_dict(tags),
        }
        region = head.get("BucketRegion") or head["ResponseMetadata"].get("HTTPHeaders", {}).get(
            "x-amz-bucket-region", ctx.facts.region
        )
        attrs = {
            "id": id,
            "name": id,
            "arn": f"arn:{ctx.facts.partition}:s3:::{id}",
            "region": region,
            "domain_name": f"{id}.s3.{ctx.facts.dns_suffix}",
        }
        return Observed(id=id, props=props, attrs=attrs)

    @staticmethod
    def _encryption_of(rules: list[dict[str, Any]]) -> tuple[str | None, bool]:
        """(KMS key or None for SSE-S3, bucket key) of the default-encryption rules."""
        if not rules:
            return None, False
        default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
        bucket_key = bool(rules[0].get("BucketKeyEnabled", False))
        if default.get("SSEAlgorithm", "AES256") == "AES256":
            return None, bucket_key
        # SSE-KMS without a key id uses the AWS-managed key: that is not SSE-S3, so it must show as drift.
        return default.get("KMSMasterKeyID") or "alias/aws/s3", bucket_key

    def create(self, ctx: NodeContext, props: BucketProps) -> str:
        s3 = ctx.client("s3")
        kwargs: dict[str, Any] = {"Bucket": props.name}
        if ctx.facts.region != "us-east-1":  # us-east-1 refuses a LocationConstraint naming itself
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.facts.region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as err:
            if error_code(err) == "BucketAlreadyExists":
                raise BucketNameTaken(
                    f"bucket name {props.name} is taken by another AWS account (S3 names are global): "
                    "choose another bucket name"
                ) from err
            raise
        ctx.created(props.name)
        # Tags first: they are how a rerun recognises this bucket as its own.
        s3.put_bucket_tagging(Bucket=props.name, Tagging={"TagSet": tag_list(ctx.tags)})
        self._put_encryption(s3, props.name, props)
        self._put_public_access(s3, props.name, props)
        if props.versioning:
            s3.put_bucket_versioning(Bucket=props.name, VersioningConfiguration={"Status": "Enabled"})
        if _own_rules(props):
            _put_lifecycle(s3, props.name, props, others=[])
        return props.name

    @staticmethod
    def _put_encryption(s3: Any, name: str, props: BucketProps) -> None:
        default: dict[str, str] = {"SSEAlgorithm": "AES256"}
        if props.kms_key_arn:
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": props.kms_key_arn}
        rule = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": props.bucket_key_enabled}
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})

    @staticmethod
    def _put_public_access(s3: Any, name: str, props: BucketProps) -> None:
        flags = {k: props.block_public_access for k in _BLOCK_ALL}
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=flags)

    def update(self, ctx: NodeContext, id: str, props: BucketProps, observed: Observed, changes: set[str]) -> None:
        s3 = ctx.client("s3")
        if changes & {"kms_key_arn", "bucket_key_enabled"}:
            self._put_encryption(s3, id, props)
        if "block_public_access" in changes:
            self._put_public_access(s3, id, props)
        if "versioning" in changes:
            # Versioning cannot be switched off once on, only suspended.
            status = "Enabled" if props.versioning else "Suspended"
            s3.put_bucket_versioning(Bucket=id, VersioningConfiguration={"Status": status})
        if changes & {"noncurrent_version_days", "abort_multipart_days"}:
            others = [r for r in _lifecycle_rules(s3, id) if r.get("ID") not in (RULE_NONCURRENT, RULE_MULTIPART)]
            _put_lifecycle(s3, id, props, others)
        if "tags" in changes:
            # PutBucketTagging replaces the whole set: keep the tags others put on.
            merged = {**observed.props.get("tags", {}), **ctx.tags}
            s3.put_bucket_tagging(Bucket=id, Tagging={"TagSet": tag_list(merged)})

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: BucketProps | None) -> None:
        s3 = ctx.client("s3")
        force = props.force_destroy if props is not None else bool(attrs.get("force_destroy", False))
        if not force:
            if not _is_empty(s3, id):
                raise BucketNotEmpty(
                    f"bucket {id} holds data and force_destroy is off: empty it yourself, or set "
                    "force_destroy = true to let `down` delete every object and version in it"
                )
            s3.delete_bucket(Bucket=id)
            return
        for attempt in range(3):
            removed = empty_bucket(s3, id)
            if removed:
                ctx.on_progress(f"emptied bucket {id}: {removed} objects and versions deleted")
            try:
                s3.delete_bucket(Bucket=id)
                return
            except ClientError as err:
                # Something wrote to it while it was being emptied: empty it again.
                if error_code(err) != "BucketNotEmpty" or attempt == 2:
                    raise

    def monthly_cost(self, props: BucketProps, where: Where) -> list[CostLine]:
        return [usage_based("storage per GB (old versions too) and requests")]
