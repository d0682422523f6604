"""ECR: private image repositories (the custom Batch/ECS image of the `full` preset).

Calls: CreateRepository (tagged), DescribeRepositories, PutImageTagMutability, PutImageScanningConfiguration,
GetLifecyclePolicy, PutLifecyclePolicy, DeleteLifecyclePolicy, ListTagsForResource, TagResource,
DeleteRepository.

The id is the repository name, unique in the account and region; a repository is found by it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import field_validator, model_validator

from resources.base import Observed, Props, Resource, arn_resource, error_code, register, tag_dict, tag_list
from resources.pricing import CostLine, Where, usage_based

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

_NO_POLICY = "LifecyclePolicyNotFoundException"


class RepositoryNotEmpty(Exception):
    """The repository holds images and force_delete is off."""


def _lifecycle(doc: Mapping[str, Any] | str | None) -> dict[str, Any] | None:
    """A lifecycle policy in one form: parsed, rules in priority order (their order in the list means nothing)."""
    if doc is None:
        return None
    parsed = dict(json.loads(doc) if isinstance(doc, str) else doc)
    rules = parsed.get("rules")
    if isinstance(rules, list):
        parsed["rules"] = sorted(rules, key=lambda r: r.get("rulePriority", 0) if isinstance(r, Mapping) else 0)
    return parsed


class RepositoryProps(Props):
    #: lower case, may hold slashes (``team/image``)
    name: str
    #: IMMUTABLE: a tag names one image for good, so the image a flow run recorded is the image it ran, and a
    #: push cannot silently replace what production uses. Push a new tag (a git SHA, a version) for each build;
    #: MUTABLE is for workflows that re-push a moving tag such as ``latest``.
    image_tag_mutability: Literal["MUTABLE", "IMMUTABLE"] = "IMMUTABLE"
    #: basic scanning of every pushed image for known CVEs
    scan_on_push: bool = True
    #: set at create only (AWS cannot change it afterwards)
    encryption: Literal["AES256", "KMS"] = "AES256"
    #: the key ARN, with encryption KMS (and only then)
    kms_key_arn: str | None = None
    #: an ECR lifecycle policy document (``{"rules": [...]}``), e.g. expire all but the last N images; None: none
    lifecycle_policy: dict[str, Any] | None = None
    #: let a delete remove the images the repository still holds; off, such a delete is refused
    force_delete: bool = False

    @field_validator("lifecycle_policy", mode="before")
    @classmethod
    def _one_form(cls, v: Any) -> Any:
        return _lifecycle(v) if isinstance(v, Mapping | str) else v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v != v.lower() or not 2 <= len(v) <= 256:
            raise ValueError(f"repository name {v!r}: ECR wants 2 to 256 lower-case characters")
        return v

    @model_validator(mode="after")
    def _key_with_kms(self) -> RepositoryProps:
        if (self.encryption == "KMS") != (self.kms_key_arn is not None):
            raise ValueError("kms_key_arn goes with encryption KMS, and KMS needs a key ARN")
        return self


@register
class Repository(Resource[RepositoryProps]):
    """CreateRepository (tagged), DescribeRepositories, PutImageTagMutability, PutImageScanningConfiguration,
    Get/Put/DeleteLifecyclePolicy, ListTagsForResource, TagResource, DeleteRepository (force only with
    force_delete)."""

    kind = "ecr.repository"
    service = "ecr"
    Props = RepositoryProps
    replace_on: ClassVar = frozenset({"name", "encryption", "kms_key_arn"})
    behaviour_fields: ClassVar = frozenset({"force_delete"})
    not_found_codes: ClassVar = frozenset({"RepositoryNotFoundException"})
    duplicate_codes: ClassVar = frozenset({"RepositoryAlreadyExistsException"})
    #: it holds the images pushed to it, which mfprov cannot make again
    stateful = True

    def id_from_arn(self, arn: str) -> str:
        # arn:aws:ecr:<region>:<account>:repository/<name>, and the name may hold slashes
        return arn_resource(arn).removeprefix("repository/")

    def _describe(self, ctx: NodeContext, names: list[str]) -> list[dict[str, Any]]:
        try:
            return list(ctx.client("ecr").describe_repositories(repositoryNames=names)["repositories"])
        except ClientError as err:
            if not self.missing(err):
                raise
            if len(names) == 1:
                return []
            # one name of many is gone, which fails the whole call: ask one by one
            return [r for n in names for r in self._describe(ctx, [n])]

    def find(self, ctx: NodeContext, props: RepositoryProps) -> str | None:
        return props.name if self._describe(ctx, [props.name]) else None

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        out: dict[str, Observed] = {}
        for repo in self._describe(ctx, ids):
            obs = self._observe(ctx, repo)
            if obs is not None:
                out[obs.id] = obs
        return out

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        repos = self._describe(ctx, [id])
        return self._observe(ctx, repos[0]) if repos else None

    def _observe(self, ctx: NodeContext, repo: Mapping[str, Any]) -> Observed | None:
        ecr = ctx.client("ecr")
        name, arn = str(repo["repositoryName"]), str(repo["repositoryArn"])
        try:
            tags = ecr.list_tags_for_resource(resourceArn=arn).get("tags")
            policy = _lifecycle(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])
        except ClientError as err:
            if error_code(err) == _NO_POLICY:
                policy = None
            elif self.missing(err):
                return None  # deleted since the describe
            else:
                raise
        encryption = repo.get("encryptionConfiguration") or {}
        props = {
            "name": name,
            "image_tag_mutability": repo.get("imageTagMutability"),
            "scan_on_push": bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")),
            "encryption": encryption.get("encryptionType", "AES256"),
            "kms_key_arn": encryption.get("kmsKey"),
            "lifecycle_policy": policy,
            "tags": tag_dict(tags),
        }
        attrs = {"id": name, "name": name, "arn": arn, "uri": repo.get("repositoryUri")}
        return Observed(id=name, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: RepositoryProps) -> str:
        ecr = ctx.client("ecr")
        encryption: dict[str, str] = {"encryptionType": props.encryption}
        if props.kms_key_arn:
            encryption["kmsKey"] = props.kms_key_arn
        ecr.create_repository(
            repositoryName=props.name,
            imageTagMutability=props.image_tag_mutability,
            imageScanningConfiguration={"scanOnPush": props.scan_on_push},
            encryptionConfiguration=encryption,
            tags=tag_list(ctx.tags),
        )
        ctx.created(props.name)
        if props.lifecycle_policy is not None:
            self._lifecycle_policy(ctx, props.name, props)
        return props.name

    @staticmethod
    def _lifecycle_policy(ctx: NodeContext, name: str, props: RepositoryProps) -> None:
        ecr = ctx.client("ecr")
        if props.lifecycle_policy is not None:
            ecr.put_lifecycle_policy(repositoryName=name, lifecyclePolicyText=json.dumps(props.lifecycle_policy))
            return
        try:
            ecr.delete_lifecycle_policy(repositoryName=name)
        except ClientError as err:
            if error_code(err) != _NO_POLICY:  # already none: done
                raise

    def update(self, ctx: NodeContext, id: str, props: RepositoryProps, observed: Observed, changes: set[str]) -> None:
        ecr = ctx.client("ecr")
        if "image_tag_mutability" in changes:
            ecr.put_image_tag_mutability(repositoryName=id, imageTagMutability=props.image_tag_mutability)
        if "scan_on_push" in changes:
            ecr.put_image_scanning_configuration(
                repositoryName=id, imageScanningConfiguration={"scanOnPush": props.scan_on_push}
            )
        if "lifecycle_policy" in changes:
            self._lifecycle_policy(ctx, id, props)
        if "tags" in changes:
            # adds and overwrites only: tags others put on stay
            ecr.tag_resource(resourceArn=observed.attrs["arn"], tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RepositoryProps | None) -> None:
        force = props.force_delete if props is not None else False
        try:
            ctx.client("ecr").delete_repository(repositoryName=id, force=force)
        except ClientError as err:
            if error_code(err) != "RepositoryNotEmptyException":
                raise
            raise RepositoryNotEmpty(
                f"repository {id} still holds images and force_delete is off: delete them yourself, or set "
                "force_delete = true to let `down` delete the repository with every image in it"
            ) from None

    def monthly_cost(self, props: RepositoryProps, where: Where) -> list[CostLine]:
        return [usage_based("image storage per GB")]
