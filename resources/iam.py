"""IAM: roles (trust policy, inline and managed policies) and instance profiles.

Calls: CreateRole, GetRole, GetAccountAuthorizationDetails and ListRoles (the batched read), UpdateRole,
UpdateAssumeRolePolicy, TagRole, PutRolePolicy, GetRolePolicy, ListRolePolicies, DeleteRolePolicy,
AttachRolePolicy, ListAttachedRolePolicies, DetachRolePolicy, ListInstanceProfilesForRole, DeleteRole;
CreateInstanceProfile, GetInstanceProfile, AddRoleToInstanceProfile, RemoveRoleFromInstanceProfile,
TagInstanceProfile, DeleteInstanceProfile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote

from botocore.exceptions import ClientError

from provisioner.core.policy import normalize_policy
from resources.base import Observed, Props, Resource, error_code, is_not_found, register, tag_dict, tag_list

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: a trust policy naming a principal created seconds ago is refused until IAM has propagated it
_NEW_PRINCIPAL = ("MalformedPolicyDocument:Invalid principal",)


def _doc(value: Any) -> dict[str, Any]:
    """IAM sends policy documents URL-encoded JSON; boto3 usually decodes them already."""
    if isinstance(value, str):
        return dict(json.loads(unquote(value)))
    return dict(value)


def _ignore_missing(fn: Callable[..., Any], **kwargs: Any) -> None:
    """Remove something that may already be gone (a retried request whose first try went through)."""
    try:
        fn(**kwargs)
    except ClientError as err:
        if not is_not_found(err):
            raise


def _pages(iam: Any, op: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in iam.get_paginator(op).paginate(**kwargs) for item in page[key]]


# ---------------------------------------------------------------------------------------------- role


class RoleProps(Props):
    name: str
    path: str = "/"
    assume_role_policy: dict[str, Any]
    description: str = ""
    max_session_duration: int = 3600
    #: policy name -> policy document
    inline_policies: dict[str, dict[str, Any]] = {}
    managed_policy_arns: list[str] = []


@register
class Role(Resource[RoleProps]):
    """A role with its trust policy, inline policies (by name) and attached managed policies."""

    kind = "iam.role"
    service = "iam"
    Props = RoleProps
    replace_on: ClassVar = frozenset({"name", "path"})
    unordered: ClassVar = frozenset({"managed_policy_arns"})
    policy_fields: ClassVar = frozenset({"assume_role_policy", "inline_policies"})
    duplicate_codes: ClassVar = frozenset({"EntityAlreadyExists"})

    def find(self, ctx: NodeContext, props: RoleProps) -> str | None:
        try:
            role = ctx.client("iam").get_role(RoleName=props.name)["Role"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return str(role["RoleName"])

    def read_many(self, ctx: NodeContext, ids: list[str]) -> dict[str, Observed]:
        """Three roles or more: two paginated account-wide reads instead of five calls or more per role.

        GetAccountAuthorizationDetails gives each role's trust policy, inline policies with their documents,
        attached policies and tags; ListRoles adds description and session duration, which it lacks. Both
        stop as soon as every role asked for is seen.
        """
        if len(ids) < 3:
            return super().read_many(ctx, ids)
        iam = ctx.client("iam")
        wanted = set(ids)
        details: dict[str, dict[str, Any]] = {}
        for page in iam.get_paginator("get_account_authorization_details").paginate(
            Filter=["Role"], PaginationConfig={"PageSize": 1000}
        ):
            details.update({r["RoleName"]: r for r in page.get("RoleDetailList", []) if r["RoleName"] in wanted})
            if len(details) == len(wanted):
                break
        listed: dict[str, dict[str, Any]] = {}
        for page in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1000}):
            listed.update({r["RoleName"]: r for r in page.get("Roles", []) if r["RoleName"] in details})
            if len(listed) == len(details):
                break
        out: dict[str, Observed] = {}
        for name, d in details.items():
            if name not in listed:
                continue  # deleted between the two reads
            inline = {p["PolicyName"]: _doc(p["PolicyDocument"]) for p in d.get("RolePolicyList", [])}
            attached = [p["PolicyArn"] for p in d.get("AttachedManagedPolicies", [])]
            out[name] = self._observed(listed[name], inline, attached, d.get("Tags"))
        return out

    def _observed(self, role: Mapping[str, Any], inline: dict[str, Any], attached: list[str], tags: Any) -> Observed:
        props = {
            "name": role["RoleName"],
            "path": role["Path"],
            "assume_role_policy": _doc(role["AssumeRolePolicyDocument"]),
            "description": role.get("Description", ""),
            "max_session_duration": role.get("MaxSessionDuration", 3600),
            "inline_policies": inline,
            "managed_policy_arns": sorted(attached),
            "tags": tag_dict(tags),
        }
        attrs = {"id": role["RoleName"], "name": role["RoleName"], "arn": role["Arn"], "unique_id": role["RoleId"]}
        return Observed(id=role["RoleName"], props=props, attrs=attrs)

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        iam = ctx.client("iam")
        try:
            role = iam.get_role(RoleName=id)["Role"]
            names = _pages(iam, "list_role_policies", "PolicyNames", RoleName=id)
            attached = _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=id)
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        inline: dict[str, Any] = {}
        for name in names:
            try:
                inline[name] = _doc(iam.get_role_policy(RoleName=id, PolicyName=name)["PolicyDocument"])
            except ClientError as err:
                if not self.missing(err):  # deleted between the list and the get: not there
                    raise
        return self._observed(role, inline, [p["PolicyArn"] for p in attached], role.get("Tags"))

    def create(self, ctx: NodeContext, props: RoleProps) -> str:
        iam = ctx.client("iam")
        extra = {"Description": props.description} if props.description else {}
        ctx.call(
            iam.create_role,
            retry_on=_NEW_PRINCIPAL,
            RoleName=props.name,
            Path=props.path,
            AssumeRolePolicyDocument=json.dumps(props.assume_role_policy),
            MaxSessionDuration=props.max_session_duration,
            Tags=tag_list(ctx.tags),
            **extra,
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
            ctx.call(
                iam.update_assume_role_policy,
                retry_on=_NEW_PRINCIPAL,
                RoleName=id,
                PolicyDocument=json.dumps(props.assume_role_policy),
            )
        if changes & {"description", "max_session_duration"}:
            # an empty Description clears it, as an empty desired description means
            iam.update_role(RoleName=id, Description=props.description, MaxSessionDuration=props.max_session_duration)
        if "inline_policies" in changes:
            self._sync_inline(iam, id, props.inline_policies, observed.props.get("inline_policies") or {})
        if "managed_policy_arns" in changes:
            have, want = set(observed.props.get("managed_policy_arns") or []), set(props.managed_policy_arns)
            for arn in sorted(have - want):
                _ignore_missing(iam.detach_role_policy, RoleName=id, PolicyArn=arn)
            for arn in sorted(want - have):
                iam.attach_role_policy(RoleName=id, PolicyArn=arn)
        if "tags" in changes:
            iam.tag_role(RoleName=id, Tags=tag_list(ctx.tags))

    @staticmethod
    def _sync_inline(iam: Any, id: str, want: Mapping[str, Any], have: Mapping[str, Any]) -> None:
        """Delete the extra policies; put the missing ones and those whose meaning differs."""
        for name in sorted(set(have) - set(want)):
            _ignore_missing(iam.delete_role_policy, RoleName=id, PolicyName=name)
        for name, doc in want.items():
            if name not in have or normalize_policy(have[name]) != normalize_policy(doc):
                iam.put_role_policy(RoleName=id, PolicyName=name, PolicyDocument=json.dumps(doc))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: RoleProps | None) -> None:
        # IAM refuses to delete a role that still has policies or sits in an instance profile.
        iam = ctx.client("iam")
        for p in _pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=id):
            _ignore_missing(iam.detach_role_policy, RoleName=id, PolicyArn=p["PolicyArn"])
        for name in _pages(iam, "list_role_policies", "PolicyNames", RoleName=id):
            _ignore_missing(iam.delete_role_policy, RoleName=id, PolicyName=name)
        for ip in _pages(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=id):
            _ignore_missing(
                iam.remove_role_from_instance_profile, InstanceProfileName=ip["InstanceProfileName"], RoleName=id
            )
        # DeleteConflict: a policy or profile link removed just now may not be seen yet
        ctx.call(iam.delete_role, retry_on=("DeleteConflict",), RoleName=id)


# ----------------------------------------------------------------------------------- instance profile


def _add_role(iam: Any, profile: str, role: str) -> None:
    """Idempotent: a retried call whose first try went through answers LimitExceeded (one role per profile)."""
    try:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    except ClientError as err:
        if error_code(err) != "LimitExceeded":
            raise
        roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"].get("Roles", [])
        if [r["RoleName"] for r in roles] != [role]:
            raise


class InstanceProfileProps(Props):
    name: str
    path: str = "/"
    role_name: str


@register
class InstanceProfile(Resource[InstanceProfileProps]):
    """An instance profile holding one role (what EC2 and Batch hosts are given)."""

    kind = "iam.instance_profile"
    service = "iam"
    Props = InstanceProfileProps
    replace_on: ClassVar = frozenset({"name", "path"})
    duplicate_codes: ClassVar = frozenset({"EntityAlreadyExists"})

    def find(self, ctx: NodeContext, props: InstanceProfileProps) -> str | None:
        try:
            ip = ctx.client("iam").get_instance_profile(InstanceProfileName=props.name)["InstanceProfile"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        return str(ip["InstanceProfileName"])

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        iam = ctx.client("iam")
        try:
            # GetInstanceProfile carries the tags (as Terraform relies on): no ListInstanceProfileTags needed
            ip = iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]
        except ClientError as err:
            if self.missing(err):
                return None
            raise
        roles = [r["RoleName"] for r in ip.get("Roles", [])]
        props = {
            "name": ip["InstanceProfileName"],
            "path": ip["Path"],
            # AWS allows one role per profile; none reads as "" (differs from any desired name)
            "role_name": roles[0] if roles else "",
            "tags": tag_dict(ip.get("Tags")),
        }
        attrs = {"id": id, "name": ip["InstanceProfileName"], "arn": ip["Arn"]}
        return Observed(id=id, props=props, attrs=attrs)

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
            old = observed.props.get("role_name")
            if old:
                _ignore_missing(iam.remove_role_from_instance_profile, InstanceProfileName=id, RoleName=old)
            _add_role(iam, id, props.role_name)
        if "tags" in changes:
            iam.tag_instance_profile(InstanceProfileName=id, Tags=tag_list(ctx.tags))

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: InstanceProfileProps | None) -> None:
        iam = ctx.client("iam")
        ip = iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]
        for role in ip.get("Roles", []):
            _ignore_missing(iam.remove_role_from_instance_profile, InstanceProfileName=id, RoleName=role["RoleName"])
        ctx.call(iam.delete_instance_profile, retry_on=("DeleteConflict",), InstanceProfileName=id)
