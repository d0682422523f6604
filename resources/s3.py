"""S3: the datastore bucket (default encryption, public access block, versioning, tags).

Calls: CreateBucket, HeadBucket, GetBucketEncryption, PutBucketEncryption, GetPublicAccessBlock,
PutPublicAccessBlock, GetBucketVersioning, PutBucketVersioning, GetBucketTagging, PutBucketTagging,
ListObjectVersions, ListObjectsV2, DeleteObjects, DeleteBucket.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import field_validator

from resources.base import Observed, Props, Resource, error_code, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

_BLOCK_ALL = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


class BucketNotEmpty(Exception):
    pass


class BucketProps(Props):
    name: str
    #: SSE-KMS with this key; None means SSE-S3 (AES256)
    kms_key_arn: str | None = None
    bucket_key_enabled: bool = False
    versioning: bool = False
    block_public_access: bool = True
    #: ``down`` empties the bucket (every version) before deleting it
    force_destroy: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", v) or ".." in v:
            raise ValueError(f"{v!r} breaks S3 bucket naming: 3-63 lowercase letters, digits, '.', '-'")
        return v


def _is_empty(s3: Any, name: str) -> bool:
    """No object, no old version, no delete marker."""
    if s3.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount", 0):
        return False
    versions = s3.list_object_versions(Bucket=name, MaxKeys=1)
    return not (versions.get("Versions") or versions.get("DeleteMarkers"))


def empty_bucket(s3: Any, name: str) -> int:
    """Delete every object version and delete marker (and plain objects); returns how many went."""
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]  # fmt: skip
        for i in range(0, len(batch), 1000):
            s3.delete_objects(Bucket=name, Delete={"Objects": batch[i : i + 1000], "Quiet": True})
            removed += len(batch[i : i + 1000])
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed


@register
class Bucket(Resource[BucketProps]):
    kind = "s3.bucket"
    service = "s3"
    Props = BucketProps
    replace_on: ClassVar = frozenset({"name"})
    behaviour_fields: ClassVar = frozenset({"force_destroy"})
    not_found_codes: ClassVar = frozenset({"404", "NoSuchBucket"})
    duplicate_codes: ClassVar = frozenset({"BucketAlreadyOwnedByYou"})
    stateful = True

    def find(self, ctx: NodeContext, props: BucketProps) -> str | None:
        try:
            ctx.client("s3").head_bucket(Bucket=props.name)
        except ClientError as err:
            if self.missing(err):
                return None
            if error_code(err) == "403":
                msg = f"bucket {props.name} exists and belongs to another account; choose another name"
                raise RuntimeError(msg) from None
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
            s3.head_bucket(Bucket=id)
            kms_arn, bucket_key = None, False
            try:
                rules = s3.get_bucket_encryption(Bucket=id)["ServerSideEncryptionConfiguration"]["Rules"]
                default = rules[0].get("ApplyServerSideEncryptionByDefault", {})
                if default.get("SSEAlgorithm") == "aws:kms":
                    kms_arn = default.get("KMSMasterKeyID")
                bucket_key = bool(rules[0].get("BucketKeyEnabled", False))
            except ClientError as err:
                if error_code(err) != "ServerSideEncryptionConfigurationNotFoundError":
                    raise
            try:
                pab = s3.get_public_access_block(Bucket=id)["PublicAccessBlockConfiguration"]
                blocked = all(pab.get(k) for k in _BLOCK_ALL)
            except ClientError as err:
                if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
                    raise
                blocked = False
            versioning = s3.get_bucket_versioning(Bucket=id).get("Status") == "Enabled"
            try:
                tags = tag_dict(s3.get_bucket_tagging(Bucket=id)["TagSet"])
            except ClientError as err:
                if error_code(err) != "NoSuchTagSet":
                    raise
                tags = {}
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {
            "name": id,
            "kms_key_arn": kms_arn,
            "bucket_key_enabled": bucket_key,
            "versioning": versioning,
            "block_public_access": blocked,
            "tags": tags,
        }
        arn = f"arn:{ctx.facts.partition}:s3:::{id}"
        attrs = {"id": id, "name": id, "arn": arn, "domain_name": f"{id}.s3.{ctx.facts.dns_suffix}"}
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: BucketProps) -> str:
        s3 = ctx.client("s3")
        kwargs: dict[str, Any] = {"Bucket": props.name}
        if ctx.facts.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.facts.region}
        try:
            s3.create_bucket(**kwargs)
        except ClientError as err:
            if error_code(err) == "BucketAlreadyExists":
                raise RuntimeError(
                    f"bucket name {props.name} is taken by another AWS account; set datastore.bucket_name"
                ) from err
            raise
        ctx.created(props.name)
        # Tags first: they are how a rerun recognises this bucket as its own.
        s3.put_bucket_tagging(Bucket=props.name, Tagging={"TagSet": tag_list(ctx.tags)})
        self._encryption(s3, props)
        self._public_access(s3, props)
        if props.versioning:
            s3.put_bucket_versioning(Bucket=props.name, VersioningConfiguration={"Status": "Enabled"})
        return props.name

    @staticmethod
    def _encryption(s3: Any, props: BucketProps) -> None:
        default: dict[str, str] = {"SSEAlgorithm": "AES256"}
        if props.kms_key_arn:
            default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": props.kms_key_arn}
        s3.put_bucket_encryption(
            Bucket=props.name,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": props.bucket_key_enabled}]
            },
        )

    @staticmethod
    def _public_access(s3: Any, props: BucketProps) -> None:
        flags = {k: props.block_public_access for k in _BLOCK_ALL}
        s3.put_public_access_block(Bucket=props.name, PublicAccessBlockConfiguration=flags)

    def update(self, ctx: NodeContext, id: str, props: BucketProps, observed: Observed, changes: set[str]) -> None:
        s3 = ctx.client("s3")
        if changes & {"kms_key_arn", "bucket_key_enabled"}:
            self._encryption(s3, props)
        if "block_public_access" in changes:
            self._public_access(s3, props)
        if "versioning" in changes:
            status = "Enabled" if props.versioning else "Suspended"
            s3.put_bucket_versioning(Bucket=id, VersioningConfiguration={"Status": status})
        if "tags" in changes:
            # PutBucketTagging replaces the whole set: keep tags others put on.
            merged = {**observed.props.get("tags", {}), **ctx.tags}
            s3.put_bucket_tagging(Bucket=id, Tagging={"TagSet": tag_list(merged)})

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: BucketProps | None) -> None:
        s3 = ctx.client("s3")
        force = props.force_destroy if props is not None else bool(attrs.get("force_destroy", False))
        if force:
            empty_bucket(s3, id)
        else:
            if not _is_empty(s3, id):
                raise BucketNotEmpty(
                    f"bucket {id} holds data and datastore.force_destroy is off: empty it yourself, or set "
                    "force_destroy = true to let `down` delete every object in it"
                )
        s3.delete_bucket(Bucket=id)
