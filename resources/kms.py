"""KMS: customer-managed keys and their aliases.

Calls: CreateKey, DescribeKey, ListKeys, ListResourceTags, TagResource, GetKeyRotationStatus,
EnableKeyRotation, DisableKeyRotation, UpdateKeyDescription, ScheduleKeyDeletion; CreateAlias,
ListAliases, UpdateAlias, DeleteAlias.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import Field, field_validator

from resources.base import TAG_ADDRESS, TAG_STACK, Observed, Props, Resource, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

_LIVE = ("Enabled", "Disabled")


class KeyProps(Props):
    description: str = ""
    enable_key_rotation: bool = False
    #: days between ``down`` and the key's real deletion (AWS allows 7-30)
    deletion_window_days: Annotated[int, Field(ge=7, le=30)] = 30


@register
class Key(Resource[KeyProps]):
    """A symmetric ENCRYPT_DECRYPT key with the AWS default key policy (the account may use it via IAM)."""

    kind = "kms.key"
    service = "kms"
    Props = KeyProps
    behaviour_fields: ClassVar = frozenset({"deletion_window_days"})
    not_found_codes: ClassVar = frozenset({"NotFoundException"})
    stateful = True

    def _tags(self, ctx: NodeContext, key_id: str) -> dict[str, str]:
        tags = ctx.client("kms").list_resource_tags(KeyId=key_id).get("Tags", [])
        return tag_dict(tags, key="TagKey", value="TagValue")

    def find(self, ctx: NodeContext, props: KeyProps) -> str | None:
        kms = ctx.client("kms")
        for page in kms.get_paginator("list_keys").paginate():
            for k in page["Keys"]:
                meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
                if meta.get("KeyManager") != "CUSTOMER" or meta["KeyState"] not in _LIVE:
                    continue
                tags = self._tags(ctx, k["KeyId"])
                if tags.get(TAG_STACK) == ctx.tags.get(TAG_STACK) and tags.get(TAG_ADDRESS) == ctx.tags.get(
                    TAG_ADDRESS
                ):
                    return str(k["KeyId"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        kms = ctx.client("kms")
        try:
            meta = kms.describe_key(KeyId=id)["KeyMetadata"]
            if meta["KeyState"] not in _LIVE:
                return None  # pending deletion counts as gone
            rotation = kms.get_key_rotation_status(KeyId=id)["KeyRotationEnabled"]
            tags = self._tags(ctx, id)
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {"description": meta.get("Description", ""), "enable_key_rotation": rotation, "tags": tags}
        return Observed(id=id, props=props, attrs={"id": id, "arn": meta["Arn"]})

    def create(self, ctx: NodeContext, props: KeyProps) -> str:
        kms = ctx.client("kms")
        meta = kms.create_key(
            Description=props.description,
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=tag_list(ctx.tags, key="TagKey", value="TagValue"),
        )["KeyMetadata"]
        key_id = str(meta["KeyId"])
        ctx.created(key_id)
        if props.enable_key_rotation:
            kms.enable_key_rotation(KeyId=key_id)
        return key_id

    def update(self, ctx: NodeContext, id: str, props: KeyProps, observed: Observed, changes: set[str]) -> None:
        kms = ctx.client("kms")
        if "description" in changes:
            kms.update_key_description(KeyId=id, Description=props.description)
        if "enable_key_rotation" in changes:
            (kms.enable_key_rotation if props.enable_key_rotation else kms.disable_key_rotation)(KeyId=id)
        if "tags" in changes:
            kms.tag_resource(KeyId=id, Tags=tag_list(ctx.tags, key="TagKey", value="TagValue"))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: KeyProps | None) -> None:
        # AWS never deletes a key at once: it is scheduled, and unusable from now on.
        days = props.deletion_window_days if props else 30
        ctx.client("kms").schedule_key_deletion(KeyId=id, PendingWindowInDays=days)


class AliasProps(Props):
    name: str
    target_key_id: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.startswith("alias/") or v.startswith("alias/aws/"):
            raise ValueError("a KMS alias starts with 'alias/' and not 'alias/aws/'")
        return v


@register
class Alias(Resource[AliasProps]):
    kind = "kms.alias"
    service = "kms"
    Props = AliasProps
    replace_on: ClassVar = frozenset({"name"})
    taggable = False
    not_found_codes: ClassVar = frozenset({"NotFoundException"})
    duplicate_codes: ClassVar = frozenset({"AlreadyExistsException"})

    def find(self, ctx: NodeContext, props: AliasProps) -> str | None:
        return props.name if self.read(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        for page in ctx.client("kms").get_paginator("list_aliases").paginate():
            for a in page["Aliases"]:
                if a["AliasName"] == id and a.get("TargetKeyId"):
                    props = {"name": id, "target_key_id": a["TargetKeyId"]}
                    return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": a["AliasArn"]})
        return None

    def create(self, ctx: NodeContext, props: AliasProps) -> str:
        ctx.client("kms").create_alias(AliasName=props.name, TargetKeyId=props.target_key_id)
        ctx.created(props.name)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: AliasProps, observed: Observed, changes: set[str]) -> None:
        ctx.client("kms").update_alias(AliasName=id, TargetKeyId=props.target_key_id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: AliasProps | None) -> None:
        ctx.client("kms").delete_alias(AliasName=id)
