"""Secrets Manager: a generated credential (username + password) that only AWS and the services using it
ever hold. mfprov generates the password locally, writes it into the secret, and never returns, stores
or prints it.

Calls: CreateSecret, DescribeSecret, GetSecretValue (the username only, and the password for the one
consumer that must send it, RDS CreateDBInstance), PutSecretValue, UpdateSecret, TagResource, DeleteSecret.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError
from pydantic import Field

from resources.base import Observed, Props, Resource, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext

#: RDS forbids / " @ and space in a master password
ALPHABET = string.ascii_letters + string.digits + "!#$%&*()-_=+[]{}<>:?"


def generate_password(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def read_password(client: Any, secret_id: str) -> str:
    """The password, for the one call that must pass it on (never logged, never returned to the engine)."""
    return str(json.loads(client.get_secret_value(SecretId=secret_id)["SecretString"])["password"])


class SecretProps(Props):
    name: str
    description: str = ""
    kms_key_id: str | None = None
    username: str
    password_length: int = Field(default=40, ge=16, le=128)


@register
class Secret(Resource[SecretProps]):
    kind = "secretsmanager.secret"
    service = "secretsmanager"
    Props = SecretProps
    replace_on: ClassVar = frozenset({"name"})
    behaviour_fields: ClassVar = frozenset({"password_length"})
    duplicate_codes: ClassVar = frozenset({"ResourceExistsException"})

    def _describe(self, ctx: NodeContext, secret_id: str) -> dict[str, Any] | None:
        try:
            got = dict(ctx.client("secretsmanager").describe_secret(SecretId=secret_id))
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return None if got.get("DeletedDate") else got

    def find(self, ctx: NodeContext, props: SecretProps) -> str | None:
        got = self._describe(ctx, props.name)
        return str(got["ARN"]) if got else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        got = self._describe(ctx, id)
        if got is None:
            return None
        try:
            value = json.loads(ctx.client("secretsmanager").get_secret_value(SecretId=id)["SecretString"])
            username = value.get("username")
        except (ClientError, ValueError, KeyError):
            username = None  # unreadable or reshaped: shown as drift, repaired by writing a new value
        props = {
            "name": got["Name"],
            "description": got.get("Description", ""),
            "kms_key_id": got.get("KmsKeyId"),
            "username": username,
            "tags": tag_dict(got.get("Tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": got["ARN"], "name": got["Name"]})

    def create(self, ctx: NodeContext, props: SecretProps) -> str:
        kw: dict[str, Any] = {}
        if props.kms_key_id:
            kw["KmsKeyId"] = props.kms_key_id
        value = json.dumps({"username": props.username, "password": generate_password(props.password_length)})
        arn = ctx.client("secretsmanager").create_secret(
            Name=props.name, Description=props.description, SecretString=value, Tags=tag_list(ctx.tags), **kw
        )["ARN"]
        ctx.created(arn)
        return str(arn)

    def update(self, ctx: NodeContext, id: str, props: SecretProps, observed: Observed, changes: set[str]) -> None:
        sm = ctx.client("secretsmanager")
        if changes & {"description", "kms_key_id"}:
            kw: dict[str, Any] = {"Description": props.description}
            if props.kms_key_id:
                kw["KmsKeyId"] = props.kms_key_id
            sm.update_secret(SecretId=id, **kw)
        if "username" in changes:
            try:
                password = read_password(sm, id)
            except (ClientError, ValueError, KeyError):
                password = generate_password(props.password_length)
            sm.put_secret_value(
                SecretId=id, SecretString=json.dumps({"username": props.username, "password": password})
            )
        if "tags" in changes:
            sm.tag_resource(SecretId=id, Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: SecretProps | None) -> None:
        # No recovery window: a secret pending deletion blocks its name, and `up` after `down` must work.
        # The database it belongs to is deleted (or snapshotted) first, so nothing still needs it.
        ctx.client("secretsmanager").delete_secret(SecretId=id, ForceDeleteWithoutRecovery=True)
