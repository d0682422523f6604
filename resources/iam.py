"""IAM: roles (trust policy, inline and managed policies) and instance profiles.

Calls: CreateRole, GetRole, UpdateRole, UpdateAssumeRolePolicy, TagRole, PutRolePolicy, GetRolePolicy,
ListRolePolicies, DeleteRolePolicy, AttachRolePolicy, ListAttachedRolePolicies, DetachRolePolicy,
ListInstanceProfilesForRole, DeleteRole; CreateInstanceProfile, GetInstanceProfile,
AddRoleToInstanceProfile, RemoveRoleFromInstanceProfile, TagInstanceProfile, DeleteInstanceProfile.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from botocore.exceptions import ClientError

from resources.base import Observed, Props, Resource, error_code, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.context import NodeContext


def _doc(value: Any) -> Any:
    """IAM returns policy documents URL-encoded (or, through boto3, already decoded)."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


class RoleProps(Props):
    name: str
    path: str = "/"
    assume_role_policy: dict[str, Any]
    description: str = ""
    max_session_duration: int = 3600
    inline_policies: dict[str, dict[str, Any]] = {}
    managed_policy_arns: list[str] = []


@register
class Role(Resource[RoleProps]):
    kind = "iam.role"
    service = "iam"
    Props = RoleProps
    replace_on: ClassVar = frozenset({"name", "path"})
    unordered: ClassVar = frozenset({"managed_policy_arns"})
    policy_fields: ClassVar = frozenset({"assume_role_policy", "inline_policies"})
    duplicate_codes: ClassVar = frozenset({"EntityAlreadyExists"})

    def find(self, ctx: NodeContext, props: RoleProps) -> str | None:
        try:
            ctx.client("iam").get_role(RoleName=props.name)
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return props.name

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        iam = ctx.client("iam")
        try:
            role = iam.get_role(RoleName=id)["Role"]
            names = [n for page in iam.get_paginator("list_role_policies").paginate(RoleName=id)
                     for n in page["PolicyNames"]]  # fmt: skip
            inline = {n: _doc(iam.get_role_policy(RoleName=id, PolicyName=n)["PolicyDocument"]) for n in names}
            managed = [p["PolicyArn"] for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=id)
                       for p in page["AttachedPolicies"]]  # fmt: skip
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        props = {
            "name": role["RoleName"],
            "path": role["Path"],
            "assume_role_policy": _doc(role["AssumeRolePolicyDocument"]),
            "description": role.get("Description", ""),
            "max_session_duration": role.get("MaxSessionDuration", 3600),
            "inline_policies": inline,
            "managed_policy_arns": sorted(managed),
            "tags": tag_dict(role.get("Tags")),
        }
        attrs = {"id": id, "name": id, "arn": role["Arn"], "unique_id": role["RoleId"]}
        return Observed(id=id, props=props, attrs=attrs)

    def create(self, ctx: NodeContext, props: RoleProps) -> str:
        iam = ctx.client("iam")
        iam.create_role(
            RoleName=props.name,
            Path=props.path,
            AssumeRolePolicyDocument=json.dumps(props.assume_role_policy),
            Description=props.description,
            MaxSessionDuration=props.max_session_duration,
            Tags=tag_list(ctx.tags),
        )
        ctx.created(props.name)
        for name, doc in props.inline_policies.items():
            iam.put_role_policy(RoleName=props.name, PolicyName=name, PolicyDocument=json.dumps(doc))
        for arn in props.managed_policy_arns:
            iam.attach_role_policy(RoleName=props.name, PolicyArn=arn)
        return props.name

    def update(self, ctx: NodeContext, id: str, props: RoleProps, observed: Observed, changes: set[str]) -> None:
        iam = ctx.client("iam")
        if "assume_role_policy" in changes:
            iam.update_assume_role_policy(RoleName=id, PolicyDocument=json.dumps(props.assume_role_policy))
        if changes & {"description", "max_session_duration"}:
            iam.update_role(RoleName=id, Description=props.description, MaxSessionDuration=props.max_session_duration)
        if "inline_policies" in changes:
            from provisioner.compare import normalize_policy

            have: Mapping[str, Any] = observed.props.get("inline_policies", {})
            for name in set(have) - set(props.inline_policies):
                iam.delete_role_policy(RoleName=id, PolicyName=name)
            for name, doc in props.inline_policies.items():
                if name not in have or normalize_policy(have[name]) != normalize_policy(doc):
                    iam.put_role_policy(RoleName=id, PolicyName=name, PolicyDocument=json.dumps(doc))
        if "managed_policy_arns" in changes:
            have_arns = set(observed.props.get("managed_policy_arns", []))
            for arn in have_arns - set(props.managed_policy_arns):
                iam.detach_role_policy(RoleName=id, PolicyArn=arn)
            for arn in set(props.managed_policy_arns) - have_arns:
                iam.attach_role_policy(RoleName=id, PolicyArn=arn)
        if "tags" in changes:
            iam.tag_role(RoleName=id, Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RoleProps | None) -> None:
        iam = ctx.client("iam")
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=id):
            for p in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=id, PolicyArn=p["PolicyArn"])
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=id):
            for name in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=id, PolicyName=name)
        for page in iam.get_paginator("list_instance_profiles_for_role").paginate(RoleName=id):
            for ip in page["InstanceProfiles"]:
                iam.remove_role_from_instance_profile(InstanceProfileName=ip["InstanceProfileName"], RoleName=id)
        ctx.call(iam.delete_role, retry_on=("DeleteConflict",), RoleName=id)


def _add_role(iam: Any, profile: str, role: str) -> None:
    """Idempotent: a retried call whose first try went through answers LimitExceeded (one role per profile)."""
    try:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    except ClientError as err:
        roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"].get("Roles", [])
        if error_code(err) != "LimitExceeded" or [r["RoleName"] for r in roles] != [role]:
            raise


class InstanceProfileProps(Props):
    name: str
    path: str = "/"
    role_name: str


@register
class InstanceProfile(Resource[InstanceProfileProps]):
    kind = "iam.instance_profile"
    service = "iam"
    Props = InstanceProfileProps
    replace_on: ClassVar = frozenset({"name", "path"})
    duplicate_codes: ClassVar = frozenset({"EntityAlreadyExists"})

    def find(self, ctx: NodeContext, props: InstanceProfileProps) -> str | None:
        return props.name if self.read(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        iam = ctx.client("iam")
        try:
            # GetInstanceProfile returns the tags too (one call instead of two)
            ip = iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]
            tags = ip.get("Tags", [])
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        roles = [r["RoleName"] for r in ip.get("Roles", [])]
        props = {"name": id, "path": ip["Path"], "role_name": roles[0] if roles else "", "tags": tag_dict(tags)}
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": ip["Arn"]})

    def create(self, ctx: NodeContext, props: InstanceProfileProps) -> str:
        iam = ctx.client("iam")
        iam.create_instance_profile(InstanceProfileName=props.name, Path=props.path, Tags=tag_list(ctx.tags))
        ctx.created(props.name)
        _add_role(iam, props.name, props.role_name)
        return props.name

    def update(
        self, ctx: NodeContext, id: str, props: InstanceProfileProps, observed: Observed, changes: set[str]
    ) -> None:
        iam = ctx.client("iam")
        if "role_name" in changes:
            if observed.props.get("role_name"):
                iam.remove_role_from_instance_profile(InstanceProfileName=id, RoleName=observed.props["role_name"])
            _add_role(iam, id, props.role_name)
        if "tags" in changes:
            iam.tag_instance_profile(InstanceProfileName=id, Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: InstanceProfileProps | None) -> None:
        iam = ctx.client("iam")
        ip = iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]
        for role in ip.get("Roles", []):
            iam.remove_role_from_instance_profile(InstanceProfileName=id, RoleName=role["RoleName"])
        iam.delete_instance_profile(InstanceProfileName=id)
