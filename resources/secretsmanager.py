"""Secrets Manager: a generated credential (username + password) that only AWS and the services using it
ever hold. mfprov generates the password locally, writes it into the secret, and never returns, stores
or prints it.

Calls: CreateSecret, DescribeSecret, GetSecretValue (the username only, and the password for the one
consumer that must send it, RDS CreateDBInstance), PutSecretValue, UpdateSecret, TagResource, DeleteSecret;
UpdateSecretVersionStage for ``mfprov rotate`` (the rotation helpers at the end).
"""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from resources.base import Observed, Props, Resource, register, tag_dict, tag_list
from resources.pricing import CostLine, Where, monthly, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: RDS forbids / " @ and space in a master password
ALPHABET = string.ascii_letters + string.digits + "!#$%&*()-_=+[]{}<>:?"
#: letters and digits only: nothing a URI must escape or a shell would expand
URLSAFE_ALPHABET = string.ascii_letters + string.digits
#: ``password_charset`` -> the characters a generated password is drawn from
ALPHABETS = {"rds": ALPHABET, "urlsafe": URLSAFE_ALPHABET}


#: what AWS reports, or accepts, for "the account's AWS managed key" (no KmsKeyId of ours)
DEFAULT_KEY = "alias/aws/secretsmanager"


def generate_password(length: int, charset: str = "rds") -> str:
    alphabet = ALPHABETS[charset]
    return "".join(secrets.choice(alphabet) for _ in range(length))


class SecretShapeError(ValueError):
    """The secret's value is not the JSON object {"username": ..., "password": ...} mfprov wrote."""


def _value(client: Any, secret_id: str, version_stage: str | None = None) -> dict[str, Any]:
    """The secret's JSON value (AWSCURRENT's, or ``version_stage``'s). Parse errors are re-raised without the text
    (a JSONDecodeError keeps the whole document in ``.doc``, and the chained original would carry it into a
    traceback)."""
    stage = {"VersionStage": version_stage} if version_stage else {}
    text = client.get_secret_value(SecretId=secret_id, **stage).get("SecretString")
    try:
        value = json.loads(text) if text else None
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise SecretShapeError(f"secret {secret_id} does not hold a JSON object")
    return value


def read_password(client: Any, secret_id: str, version_stage: str | None = None) -> str:
    """The password (AWSCURRENT's, or ``version_stage``'s), for the one call that must pass it on (RDS
    CreateDBInstance, ModifyDBInstance): never logged, stored or returned to the engine. ``client`` is a Secrets
    Manager client."""
    password = _value(client, secret_id, version_stage).get("password")
    if not isinstance(password, str) or not password:
        raise SecretShapeError(f"secret {secret_id} holds no password")
    return password


class SecretProps(Props):
    name: str
    description: str = ""
    #: None: the account's AWS managed key aws/secretsmanager
    kms_key_id: str | None = None
    username: str
    #: used only when the password is generated (create)
    password_length: int = Field(default=40, ge=16, le=128)
    #: the generated password's characters (create only). "rds": letters, digits and the punctuation RDS allows;
    #: "urlsafe": letters and digits only, for a password a shell puts into a connection URI (MLflow's backend
    #: store URI). 40 of those are still about 238 bits.
    password_charset: Literal["rds", "urlsafe"] = "rds"


@register
class Secret(Resource[SecretProps]):
    """A JSON secret ``{"username", "password"}``; its id is the ARN. Only the username is ever read back."""

    kind = "secretsmanager.secret"
    service = "secretsmanager"
    Props = SecretProps
    replace_on: ClassVar = frozenset({"name"})
    behaviour_fields: ClassVar = frozenset({"password_length", "password_charset"})
    duplicate_codes: ClassVar = frozenset({"ResourceExistsException"})

    def id_from_arn(self, arn: str) -> str:
        return arn  # its id is the ARN

    def _describe(self, ctx: NodeContext, secret_id: str) -> dict[str, Any] | None:
        try:
            got = dict(ctx.client("secretsmanager").describe_secret(SecretId=secret_id))
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        # Scheduled for deletion: unusable, and gone for good once the window ends.
        return None if got.get("DeletedDate") else got

    def find(self, ctx: NodeContext, props: SecretProps) -> str | None:
        got = self._describe(ctx, props.name)
        return str(got["ARN"]) if got else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        got = self._describe(ctx, id)
        if got is None:
            return None
        try:
            username = _value(ctx.client("secretsmanager"), id).get("username")
        except SecretShapeError:
            username = None  # reshaped by hand: shown as drift on username
        kms = got.get("KmsKeyId")
        props = {
            "name": got["Name"],
            "description": got.get("Description", ""),
            "kms_key_id": None if kms == DEFAULT_KEY else kms,
            "username": username,
            "tags": tag_dict(got.get("Tags")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "arn": got["ARN"], "name": got["Name"]})

    def create(self, ctx: NodeContext, props: SecretProps) -> str:
        kw: dict[str, Any] = {"KmsKeyId": props.kms_key_id} if props.kms_key_id else {}
        # Built inline so no local variable holds the password (tracebacks with locals would show it).
        arn = ctx.client("secretsmanager").create_secret(
            Name=props.name,
            Description=props.description,
            SecretString=json.dumps(
                {
                    "username": props.username,
                    "password": generate_password(props.password_length, props.password_charset),
                }
            ),
            Tags=tag_list(ctx.tags),
            **kw,
        )["ARN"]
        ctx.created(arn)
        return str(arn)

    def update(self, ctx: NodeContext, id: str, props: SecretProps, observed: Observed, changes: set[str]) -> None:
        sm = ctx.client("secretsmanager")
        if changes & {"description", "kms_key_id"}:
            kw: dict[str, Any] = {"Description": props.description}
            if "kms_key_id" in changes:
                # A new key re-encrypts the current versions; the alias brings back the AWS managed key.
                kw["KmsKeyId"] = props.kms_key_id or DEFAULT_KEY
            sm.update_secret(SecretId=id, **kw)
        if "username" in changes:
            # Keep the password: the database was created with it. A secret whose password cannot be read
            # fails here rather than getting a new one that the database does not know.
            sm.put_secret_value(
                SecretId=id, SecretString=json.dumps({"username": props.username, "password": read_password(sm, id)})
            )
        if "tags" in changes:
            sm.tag_resource(SecretId=id, Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: SecretProps | None) -> None:
        # No recovery window: a secret pending deletion keeps its name taken for 7-30 days, so `up` after
        # `down` could not create it again. The database it belongs to is deleted (or snapshotted) first,
        # so nothing still needs it.
        ctx.client("secretsmanager").delete_secret(SecretId=id, ForceDeleteWithoutRecovery=True)

    def monthly_cost(self, props: SecretProps, where: Where) -> list[CostLine]:
        return [monthly("secret", where.region, "secret"), usage_based("API calls")]


# ------------------------------------------------------- rotation (mfprov rotate db-password)

#: Secrets Manager's rotation staging labels: AWSPENDING marks the version that becomes AWSCURRENT when a rotation
#: finishes (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_how.html,
#: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html)
CURRENT, PENDING = "AWSCURRENT", "AWSPENDING"


def version_stages(client: Any, secret_id: str) -> dict[str, list[str]]:
    """Version id -> its staging labels (DescribeSecret's VersionIdsToStages)."""
    stages = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {}
    return {str(version): list(labels) for version, labels in stages.items()}


def labelled(stages: Mapping[str, list[str]], label: str) -> str | None:
    """The version carrying ``label`` (a label is on one version at most), or None."""
    return next((version for version, labels in stages.items() if label in labels), None)


def put_pending(client: Any, secret_id: str, length: int, charset: str) -> str:
    """A new version labelled AWSPENDING only: AWSCURRENT's username and a password generated here, built inline
    so that no variable holds it. The version id is the request token, so a call botocore sends again is the same
    version, not a second one. Returns the version id."""
    token = str(uuid.uuid4())
    client.put_secret_value(
        SecretId=secret_id,
        ClientRequestToken=token,
        SecretString=json.dumps(
            {"username": _value(client, secret_id).get("username"), "password": generate_password(length, charset)}
        ),
        VersionStages=[PENDING],
    )
    return token


def promote_pending(client: Any, secret_id: str, pending: str, current: str | None) -> None:
    """AWSCURRENT moves to the pending version; Secrets Manager labels the one it leaves AWSPREVIOUS."""
    kw = {"RemoveFromVersionId": current} if current else {}
    client.update_secret_version_stage(SecretId=secret_id, VersionStage=CURRENT, MoveToVersionId=pending, **kw)


def drop_pending(client: Any, secret_id: str, version: str) -> None:
    """The rotation is over: AWSPENDING leaves the version (which keeps AWSCURRENT)."""
    client.update_secret_version_stage(SecretId=secret_id, VersionStage=PENDING, RemoveFromVersionId=version)
