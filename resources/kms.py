"""KMS: customer-managed keys and their aliases.

Calls: CreateKey, DescribeKey, ListKeys, ListResourceTags, TagResource, GetKeyRotationStatus,
EnableKeyRotation, DisableKeyRotation, UpdateKeyDescription, GetKeyPolicy, PutKeyPolicy, EnableKey,
CancelKeyDeletion, ScheduleKeyDeletion; ListAliases, CreateAlias, UpdateAlias, DeleteAlias.

A key's state: a Disabled key, or one pending deletion, makes everything it encrypts unreadable
(https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html). The state is a managed field that must be
Enabled: drift reports the others, and ``up`` cancels a scheduled deletion (which leaves the key Disabled) and enables
the key; never a new key for one that holds data.

The key policy: ``policy=None`` means the AWS default key policy (one statement granting the account root
``kms:*``, so the account's IAM policies decide who may use the key). ``read`` reports an actual policy of
that shape as None, so a key left at the default never shows drift, and a desired policy of that shape is
taken as None too. Setting ``policy`` back to None puts the default policy back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import Field, field_validator

from provisioner.core.policy import normalize_policy
from resources.base import Observed, Props, Resource, error_code, register, tag_dict, tag_list
from resources.pricing import CostLine, Where, monthly, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import Facts, NodeContext

#: states in which a key is usable or can be made usable by EnableKey
_LIVE = ("Enabled", "Disabled")
#: and a key pending deletion, which CancelKeyDeletion brings back (Disabled) within its waiting period
_RESTORABLE = (*_LIVE, "PendingDeletion")
#: EnableKey right after CancelKeyDeletion may still see the deletion pending (KMS is eventually consistent)
_STILL_PENDING = ("KMSInvalidStateException:pending deletion",)
#: a key policy naming a principal created seconds ago is refused until IAM has propagated it
_NEW_PRINCIPAL = ("MalformedPolicyDocumentException:invalid principal",)
#: ``arn:<partition>:iam::<account>:root`` or the bare account id, as a principal of the default policy
_ROOT = re.compile(r"^(arn:[a-z-]+:iam::(\d{12}):root|(\d{12}))$")


def _kms_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return tag_list(tags, key="TagKey", value="TagValue")


def default_key_policy(facts: Facts) -> dict[str, Any]:
    """The policy AWS gives a key created without one."""
    return {
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{facts.partition}:iam::{facts.account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


def default_policy_account(doc: Any) -> str | None:
    """The account whose root a policy of the default shape grants ``kms:*``, else None."""
    norm = normalize_policy(doc)
    if not isinstance(norm, Mapping):
        return None
    stmts = norm.get("Statement") or []
    if len(stmts) != 1:
        return None
    st = {k: v for k, v in stmts[0].items() if k != "Sid"}
    if set(st) != {"Effect", "Principal", "Action", "Resource"} or st["Effect"] != "Allow":
        return None
    if st["Action"] != ["kms:*"] or st["Resource"] != ["*"]:
        return None
    principal = st["Principal"]
    if not isinstance(principal, Mapping) or set(principal) != {"AWS"} or len(principal["AWS"]) != 1:
        return None
    match = _ROOT.match(principal["AWS"][0])
    return (match.group(2) or match.group(3)) if match else None


# ----------------------------------------------------------------------------------------------- key


class KeyProps(Props):
    description: str = ""
    enable_key_rotation: bool = False
    #: days between ``down`` and the key's real deletion (AWS allows 7-30)
    deletion_window_days: Annotated[int, Field(ge=7, le=30)] = 30
    #: the key policy; None is the AWS default (see the module docstring)
    policy: dict[str, Any] | None = None
    #: a stack's key must be usable: Disabled or PendingDeletion is drift that ``up`` reverses
    key_state: Literal["Enabled"] = "Enabled"

    @field_validator("policy")
    @classmethod
    def _default_is_none(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        # A spelled-out default policy reads back as None; take it as None so that it is no drift.
        # (Granting only another account's root is refused by AWS's lockout check anyway.)
        return None if v is not None and default_policy_account(v) else v


def describe_key(ctx: NodeContext, key: str) -> dict[str, Any]:
    """DescribeKey's KeyMetadata; within one refresh a key is described once, whoever asks (the key itself, or
    a database asking whether its key is AWS managed)."""
    kms = ctx.client("kms")
    # a key's ARN and its id name one key; an alias stays as it is
    described = ctx.memo(("kms:DescribeKey", key.split(":key/")[-1]), lambda: kms.describe_key(KeyId=key))
    return dict(described["KeyMetadata"])


@register
class Key(Resource[KeyProps]):
    """A symmetric ENCRYPT_DECRYPT key.

    ``read`` takes a key pending deletion for gone, so the sweep, adoption and ``import`` never take one up on
    their own (the keys a ``down`` or the sweep scheduled for deletion stay deleted); ``read_many``, with which a
    refresh reads the keys the state holds, reports it with its state, so that such a key of the stack is drift
    that ``up`` reverses.
    """

    kind = "kms.key"
    service = "kms"
    Props = KeyProps
    behaviour_fields: ClassVar = frozenset({"deletion_window_days"})
    policy_fields: ClassVar = frozenset({"policy"})
    not_found_codes: ClassVar = frozenset({"NotFoundException"})
    stateful = True
    recoverable_delete = True  # deletion is only scheduled (7-30 days); CancelKeyDeletion brings it back

    def _tags(self, ctx: NodeContext, key_id: str) -> dict[str, str]:
        pages = ctx.client("kms").get_paginator("list_resource_tags").paginate(KeyId=key_id)
        return tag_dict([t for page in pages for t in page.get("Tags", [])], key="TagKey", value="TagValue")

    def find(self, ctx: NodeContext, props: KeyProps) -> str | None:
        # Keys have no name: look for a live customer key carrying this node's stack and address tags.
        kms = ctx.client("kms")
        for page in kms.get_paginator("list_keys").paginate():
            for k in page["Keys"]:
                try:
                    meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
                    if meta.get("KeyManager") != "CUSTOMER" or meta["KeyState"] not in _LIVE:
                        continue
                    tags = self._tags(ctx, k["KeyId"])
                except ClientError as err:
                    # deleted while listing; or another team's key whose key policy admits nobody else (IAM cannot
                    # grant what a key policy does not delegate): not this node's either way
                    if self.missing(err) or error_code(err) in ("AccessDeniedException", "AccessDenied"):
                        continue
                    raise
                if ctx.owns(tags):
                    return str(k["KeyId"])
        return None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        return self._read(ctx, id, _LIVE)

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        found = {id: self._read(ctx, id, _RESTORABLE) for id in ids}
        return {id: obs for id, obs in found.items() if obs is not None}

    def _read(self, ctx: NodeContext, id: str, states: tuple[str, ...]) -> Observed | None:
        kms = ctx.client("kms")
        try:
            meta = describe_key(ctx, id)
            if meta["KeyState"] not in states:
                return None
            rotation: bool | None = None
            try:
                rotation = bool(kms.get_key_rotation_status(KeyId=id)["KeyRotationEnabled"])
            except ClientError as err:
                # not readable in every state; repaired (idempotently) after the key is enabled again
                if error_code(err) != "KMSInvalidStateException":
                    raise
            policy = json.loads(kms.get_key_policy(KeyId=id, PolicyName="default")["Policy"])
            tags = self._tags(ctx, id)
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {
            "description": meta.get("Description", ""),
            "enable_key_rotation": rotation,
            "policy": None if default_policy_account(policy) == ctx.facts.account_id else policy,
            "key_state": meta["KeyState"],
            "tags": tags,
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": meta["Arn"]})

    def create(self, ctx: NodeContext, props: KeyProps) -> str:
        kms = ctx.client("kms")
        extra = {"Policy": json.dumps(props.policy)} if props.policy is not None else {}
        meta = ctx.call(
            kms.create_key,
            retry_on=_NEW_PRINCIPAL,
            Description=props.description,
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=_kms_tags(ctx.tags),
            **extra,
        )["KeyMetadata"]
        key_id = str(meta["KeyId"])
        ctx.created(key_id)
        if props.enable_key_rotation:
            kms.enable_key_rotation(KeyId=key_id)
        return key_id

    def update(self, ctx: NodeContext, id: str, props: KeyProps, observed: Observed, changes: set[str]) -> None:
        kms = ctx.client("kms")
        if "key_state" in changes:  # first: a disabled key takes no rotation change
            if self._state(ctx, id) == "PendingDeletion":
                kms.cancel_key_deletion(KeyId=id)  # leaves it Disabled
            ctx.call(kms.enable_key, retry_on=_STILL_PENDING, KeyId=id)
        if "description" in changes:
            kms.update_key_description(KeyId=id, Description=props.description)
        if "enable_key_rotation" in changes:
            (kms.enable_key_rotation if props.enable_key_rotation else kms.disable_key_rotation)(KeyId=id)
        if "policy" in changes:
            doc = props.policy if props.policy is not None else default_key_policy(ctx.facts)
            ctx.call(
                kms.put_key_policy, retry_on=_NEW_PRINCIPAL, KeyId=id, PolicyName="default", Policy=json.dumps(doc)
            )
        if "tags" in changes:
            kms.tag_resource(KeyId=id, Tags=_kms_tags(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: KeyProps | None) -> None:
        # AWS never deletes a key at once: it is scheduled, and unusable from now on (read says gone).
        kms = ctx.client("kms")
        days = props.deletion_window_days if props is not None else 30
        try:
            kms.schedule_key_deletion(KeyId=id, PendingWindowInDays=days)
        except ClientError as err:
            # already scheduled (a second `down`, or a retried request whose first try went through)
            state = "" if error_code(err) != "KMSInvalidStateException" else self._state(ctx, id)
            if state != "PendingDeletion":
                raise

    @staticmethod
    def _state(ctx: NodeContext, id: str) -> str:
        return str(ctx.client("kms").describe_key(KeyId=id)["KeyMetadata"]["KeyState"])

    def monthly_cost(self, props: KeyProps, where: Where) -> list[CostLine]:
        return [monthly("kms_key", where.region, "customer managed key"), usage_based("KMS requests")]


# --------------------------------------------------------------------------------------------- alias

_KEY_ARN = re.compile(r"^arn:[a-z-]+:kms:[^:]*:\d{12}:key/(.+)$")


class AliasProps(Props):
    name: str
    #: the key id (a key ARN is accepted and taken as its id, which is what AWS reports)
    target_key_id: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.startswith("alias/") or v.startswith("alias/aws/") or v == "alias/":
            raise ValueError("a KMS alias name starts with 'alias/' (and not 'alias/aws/', which AWS reserves)")
        return v

    @field_validator("target_key_id")
    @classmethod
    def _key_id(cls, v: str) -> str:
        match = _KEY_ARN.match(v)
        return match.group(1) if match else v


@register
class Alias(Resource[AliasProps]):
    """A name for a key; AWS cannot tag aliases, the name is the identity."""

    kind = "kms.alias"
    service = "kms"
    Props = AliasProps
    replace_on: ClassVar = frozenset({"name"})
    taggable = False
    not_found_codes: ClassVar = frozenset({"NotFoundException"})
    duplicate_codes: ClassVar = frozenset({"AlreadyExistsException"})

    def find(self, ctx: NodeContext, props: AliasProps) -> str | None:
        return props.name if self.read(ctx, props.name) is not None else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        """DescribeKey by the alias: one call, where listing the account's aliases takes a page per hundred."""
        try:
            key = ctx.client("kms").describe_key(KeyId=id)["KeyMetadata"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return self._observe(ctx, id, str(key["KeyId"]))

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        if len(ids) < 3:
            return super().read_many(ctx, ids)
        out: dict[str, Observed] = {}
        for page in ctx.client("kms").get_paginator("list_aliases").paginate():
            for a in page["Aliases"]:
                if a["AliasName"] in ids and a.get("TargetKeyId"):
                    out[a["AliasName"]] = self._observe(ctx, a["AliasName"], a["TargetKeyId"])
        return out

    @staticmethod
    def _observe(ctx: NodeContext, id: str, target: str) -> Observed:
        arn = ctx.facts.arn("kms", id)
        return Observed(id=id, props={"name": id, "target_key_id": target}, attrs={"id": id, "name": id, "arn": arn})

    def create(self, ctx: NodeContext, props: AliasProps) -> str:
        ctx.client("kms").create_alias(AliasName=props.name, TargetKeyId=props.target_key_id)
        ctx.created(props.name)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: AliasProps, observed: Observed, changes: set[str]) -> None:
        if "target_key_id" in changes:
            ctx.client("kms").update_alias(AliasName=id, TargetKeyId=props.target_key_id)

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: AliasProps | None) -> None:
        ctx.client("kms").delete_alias(AliasName=id)
