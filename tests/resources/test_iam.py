"""IAM roles and instance profiles: read-back equals desired, out-of-band changes (inline policies deleted
or rewritten, managed policies attached, trust policy restated) seen and repaired, delete that first
untangles a role from its policies and profiles, and not-found / already-exists recognised."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import boto3
import pytest
from botocore.exceptions import ClientError

from resources.base import TAG_STACK, resource_type
from resources.iam import _doc
from tests.resources.drift import (
    Change,
    assert_drift_is_exact_and_repaired,
    assert_every_managed_field_has_a_case,
    changed_fields,
    read_back,
)

EC2_ROLE = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"

TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
S3_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "arn:aws:s3:::bucket/*"}],
}
DDB = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}],
}


def _role_props(rt: Any, name: str = "mf-task", **over: Any) -> Any:
    raw: dict[str, Any] = {
        "name": name,
        "assume_role_policy": TRUST,
        "description": "the task role",
        "inline_policies": {"s3": S3_READ, "ddb": DDB},
        "managed_policy_arns": [EC2_ROLE],
    }
    return rt.parse_props(raw | over)


def _not_found(rt: Any, fn: Callable[[], Any]) -> None:
    with pytest.raises(ClientError) as exc:
        fn()
    assert rt.missing(exc.value)


def test_policy_documents_decoded_from_url_encoding() -> None:
    assert _doc(quote(json.dumps(S3_READ))) == S3_READ
    assert _doc(json.dumps(S3_READ)) == S3_READ
    assert _doc(S3_READ) == S3_READ


def test_role_lifecycle(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("iam.role")
    ctx = make_ctx("iam.role.batch_task")
    props = _role_props(rt)
    id = rt.create(ctx, props)
    assert id == "mf-task"

    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert isinstance(obs.props["assume_role_policy"], dict)
    assert set(obs.attrs) == {"id", "name", "arn", "unique_id"}
    assert obs.attrs["arn"] == "arn:aws:iam::123456789012:role/mf-task"
    assert obs.attrs["id"] == obs.attrs["name"] == id and obs.attrs["unique_id"]
    assert changed_fields(rt, props, obs, ctx) == set()
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, _role_props(rt, name="mf-other")) is None

    # a second create of the same name is the duplicate the engine adopts
    with pytest.raises(ClientError) as exc:
        rt.create(ctx, props)
    assert rt.duplicate(exc.value)

    # out of band: an inline policy deleted, another rewritten, a managed policy attached,
    # the description changed and a tag removed
    iam = boto3.client("iam")
    extra = iam.create_policy(PolicyName="someone-elses", PolicyDocument=json.dumps(DDB))["Policy"]["Arn"]
    iam.delete_role_policy(RoleName=id, PolicyName="ddb")
    iam.put_role_policy(RoleName=id, PolicyName="s3", PolicyDocument=json.dumps(DDB))
    iam.attach_role_policy(RoleName=id, PolicyArn=extra)
    iam.update_role(RoleName=id, Description="edited")
    iam.untag_role(RoleName=id, TagKeys=[TAG_STACK])
    drifted = rt.read(ctx, id)
    assert drifted.props["inline_policies"] == {"s3": DDB}
    assert sorted(drifted.props["managed_policy_arns"]) == sorted([EC2_ROLE, extra])
    assert drifted.props["description"] == "edited"
    assert TAG_STACK not in drifted.props["tags"]
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"inline_policies", "managed_policy_arns", "description", "tags"}

    rt.update(ctx, id, props, drifted, changes)
    repaired = rt.read(ctx, id)
    assert repaired.props == read_back(rt, props, ctx)
    assert iam.list_entities_for_policy(PolicyArn=extra)["PolicyRoles"] == []

    # desired changes: no description, a longer session, one inline policy less, other managed policies
    new = _role_props(
        rt, description="", max_session_duration=7200, inline_policies={"s3": S3_READ}, managed_policy_arns=[extra]
    )
    changes = changed_fields(rt, new, repaired, ctx)
    assert changes == {"description", "max_session_duration", "inline_policies", "managed_policy_arns"}
    rt.update(ctx, id, new, repaired, changes)
    assert rt.read(ctx, id).props == read_back(rt, new, ctx)


def test_trust_policy_compared_by_meaning(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("iam.role")
    ctx = make_ctx("iam.role.sfn")
    props = _role_props(rt, name="mf-sfn", inline_policies={}, managed_policy_arns=[])
    id = rt.create(ctx, props)

    # the same meaning spelled otherwise: one-element lists, a lone statement object, no Version
    iam = boto3.client("iam")
    restated = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": {"Service": ["ecs-tasks.amazonaws.com"]},
            "Action": ["sts:AssumeRole"],
        },
    }
    iam.update_assume_role_policy(RoleName=id, PolicyDocument=json.dumps(restated))
    obs = rt.read(ctx, id)
    assert obs.props["assume_role_policy"] == restated  # read returns the document as AWS has it, as a dict
    assert changed_fields(rt, props, obs, ctx) == set()

    # a real change of meaning is drift, and update restores the desired trust policy
    other = json.loads(json.dumps(TRUST).replace("ecs-tasks", "lambda"))
    iam.update_assume_role_policy(RoleName=id, PolicyDocument=json.dumps(other))
    obs = rt.read(ctx, id)
    assert changed_fields(rt, props, obs, ctx) == {"assume_role_policy"}
    rt.update(ctx, id, props, obs, {"assume_role_policy"})
    assert rt.read(ctx, id).props["assume_role_policy"] == TRUST


def test_role_delete_untangles_policies_and_profiles(make_ctx: Callable[..., Any]) -> None:
    rt: Any = resource_type("iam.role")
    ctx = make_ctx("iam.role.ecs_instance")
    id = rt.create(ctx, _role_props(rt, name="mf-ecs"))
    iam = boto3.client("iam")
    iam.create_instance_profile(InstanceProfileName="p1")
    iam.add_role_to_instance_profile(InstanceProfileName="p1", RoleName=id)

    obs = rt.read(ctx, id)
    rt.delete(ctx, id, obs.attrs, None)
    assert rt.read(ctx, id) is None
    assert iam.get_instance_profile(InstanceProfileName="p1")["InstanceProfile"]["Roles"] == []
    _not_found(rt, lambda: rt.delete(ctx, id, obs.attrs, None))
    assert rt.find(ctx, _role_props(rt, name="mf-ecs")) is None


def test_instance_profile_lifecycle(make_ctx: Callable[..., Any]) -> None:
    roles: Any = resource_type("iam.role")
    rt: Any = resource_type("iam.instance_profile")
    for name in ("mf-ecs", "mf-ecs-2"):
        roles.create(make_ctx(f"iam.role.{name}"), _role_props(roles, name=name))
    ctx = make_ctx("iam.instance_profile.ecs_instance")
    props = rt.parse_props({"name": "mf-ecs", "role_name": "mf-ecs"})
    id = rt.create(ctx, props)
    assert id == "mf-ecs"

    obs = rt.read(ctx, id)
    assert obs.props == read_back(rt, props, ctx)
    assert obs.attrs == {"id": id, "name": id, "arn": "arn:aws:iam::123456789012:instance-profile/mf-ecs"}
    assert rt.find(ctx, props) == id
    assert rt.find(ctx, rt.parse_props({"name": "nope", "role_name": "mf-ecs"})) is None
    with pytest.raises(ClientError) as exc:
        rt.create(ctx, props)
    assert rt.duplicate(exc.value)

    # out of band: the role swapped for another, a tag removed
    iam = boto3.client("iam")
    iam.remove_role_from_instance_profile(InstanceProfileName=id, RoleName="mf-ecs")
    iam.add_role_to_instance_profile(InstanceProfileName=id, RoleName="mf-ecs-2")
    iam.untag_instance_profile(InstanceProfileName=id, TagKeys=[TAG_STACK])
    drifted = rt.read(ctx, id)
    assert drifted.props["role_name"] == "mf-ecs-2" and TAG_STACK not in drifted.props["tags"]
    changes = changed_fields(rt, props, drifted, ctx)
    assert changes == {"role_name", "tags"}
    rt.update(ctx, id, props, drifted, changes)
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)

    # no role at all reads as "" and is repaired too
    iam.remove_role_from_instance_profile(InstanceProfileName=id, RoleName="mf-ecs")
    empty = rt.read(ctx, id)
    assert empty.props["role_name"] == ""
    rt.update(ctx, id, props, empty, changed_fields(rt, props, empty, ctx))
    assert rt.read(ctx, id).props == read_back(rt, props, ctx)

    # a retried add whose first try went through is not an error
    rt.update(ctx, id, props, empty, {"role_name"})
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=id)["InstanceProfile"]["Roles"]] == [
        "mf-ecs"
    ]

    rt.delete(ctx, id, obs.attrs, props)
    assert rt.read(ctx, id) is None
    assert iam.get_role(RoleName="mf-ecs")["Role"]["RoleName"] == "mf-ecs"  # the role itself stays
    _not_found(rt, lambda: rt.delete(ctx, id, obs.attrs, props))


# ------------------------------------------------------------------ every field drifted out of band, one at a time


def _iam() -> Any:
    return boto3.client("iam")


def _other_policy() -> str:
    return str(_iam().create_policy(PolicyName="someone-elses", PolicyDocument=json.dumps(DDB))["Policy"]["Arn"])


def _max_session(id: str) -> None:
    # moto's UpdateRole resets the description when none is given (AWS keeps it): the console sends it unchanged
    _iam().update_role(RoleName=id, MaxSessionDuration=3600, Description="the task role")


#: iam.role: (field, out-of-band change)
ROLE_CASES = [
    pytest.param(
        "assume_role_policy",
        lambda id: _iam().update_assume_role_policy(
            RoleName=id, PolicyDocument=json.dumps(TRUST).replace("ecs-tasks", "lambda")
        ),
        id="assume_role_policy",
    ),
    pytest.param(
        "description", lambda id: _iam().update_role_description(RoleName=id, Description="edited"), id="description"
    ),
    pytest.param("max_session_duration", _max_session, id="max_session_duration"),
    pytest.param(
        "inline_policies", lambda id: _iam().delete_role_policy(RoleName=id, PolicyName="ddb"), id="inline-deleted"
    ),
    pytest.param(
        "inline_policies",
        lambda id: _iam().put_role_policy(RoleName=id, PolicyName="s3", PolicyDocument=json.dumps(DDB)),
        id="inline-rewritten",
    ),
    pytest.param(
        "inline_policies",
        lambda id: _iam().put_role_policy(RoleName=id, PolicyName="extra", PolicyDocument=json.dumps(DDB)),
        id="inline-added",
    ),
    pytest.param(
        "managed_policy_arns",
        lambda id: _iam().attach_role_policy(RoleName=id, PolicyArn=_other_policy()),
        id="managed-attached",
    ),
    pytest.param(
        "managed_policy_arns",
        lambda id: _iam().detach_role_policy(RoleName=id, PolicyArn=EC2_ROLE),
        id="managed-detached",
    ),
    pytest.param("tags", lambda id: _iam().untag_role(RoleName=id, TagKeys=[TAG_STACK]), id="tag-removed"),
    pytest.param(
        "tags", lambda id: _iam().tag_role(RoleName=id, Tags=[{"Key": TAG_STACK, "Value": "other"}]), id="tag-changed"
    ),
]
#: iam.role fields IAM offers no call to change: a role cannot be renamed or moved to another path
ROLE_NO_CALL = {"name": "no rename in IAM", "path": "no call changes a role's path"}


@pytest.mark.parametrize(("field", "change"), ROLE_CASES)
def test_role_field_drift(make_ctx: Callable[..., Any], field: str, change: Change) -> None:
    rt: Any = resource_type("iam.role")
    ctx = make_ctx("iam.role.batch_task")
    props = _role_props(rt, path="/mf/", max_session_duration=7200)
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


def _swap_role(id: str) -> None:
    _iam().remove_role_from_instance_profile(InstanceProfileName=id, RoleName="mf-ecs")
    _iam().add_role_to_instance_profile(InstanceProfileName=id, RoleName="mf-ecs-2")


#: iam.instance_profile: (field, out-of-band change)
PROFILE_CASES = [
    pytest.param("role_name", _swap_role, id="role-swapped"),
    pytest.param(
        "role_name",
        lambda id: _iam().remove_role_from_instance_profile(InstanceProfileName=id, RoleName="mf-ecs"),
        id="role-removed",
    ),
    pytest.param(
        "tags", lambda id: _iam().untag_instance_profile(InstanceProfileName=id, TagKeys=[TAG_STACK]), id="tags"
    ),
]
#: iam.instance_profile fields IAM offers no call to change
PROFILE_NO_CALL = {"name": "no rename in IAM", "path": "no call changes a profile's path"}


@pytest.mark.parametrize(("field", "change"), PROFILE_CASES)
def test_instance_profile_field_drift(make_ctx: Callable[..., Any], field: str, change: Change) -> None:
    roles: Any = resource_type("iam.role")
    for name in ("mf-ecs", "mf-ecs-2"):
        roles.create(make_ctx(f"iam.role.{name}"), _role_props(roles, name=name))
    rt: Any = resource_type("iam.instance_profile")
    ctx = make_ctx("iam.instance_profile.ecs_instance")
    props = rt.parse_props({"name": "mf-ecs", "path": "/mf/", "role_name": "mf-ecs"})
    id = rt.create(ctx, props)
    assert_drift_is_exact_and_repaired(rt, ctx, id, props, field, lambda: change(id))


@pytest.mark.parametrize(
    ("kind", "cases", "no_call"),
    [("iam.role", ROLE_CASES, ROLE_NO_CALL), ("iam.instance_profile", PROFILE_CASES, PROFILE_NO_CALL)],
)
def test_every_managed_field_has_a_drift_case(kind: str, cases: list[Any], no_call: dict[str, str]) -> None:
    assert_every_managed_field_has_a_case(kind, cases, no_call)


@pytest.mark.parametrize(("field", "change"), ROLE_CASES)
def test_the_batched_read_sees_what_the_single_read_sees(
    make_ctx: Callable[..., Any], aws: Any, field: str, change: Change
) -> None:
    """read_many (two account-wide reads for many roles) reports every out-of-band change read does."""
    rt: Any = resource_type("iam.role")
    ids = [
        rt.create(make_ctx(f"iam.role.r{i}"), _role_props(rt, name=f"mf-r{i}", path="/mf/", max_session_duration=7200))
        for i in range(4)
    ]
    change(ids[1])
    aws.recorder.reset()
    batched = rt.read_many(make_ctx("iam.role.r0"), [*ids, "mf-gone"])
    assert aws.recorder.total <= 2, dict(aws.recorder.calls)
    assert set(batched) == set(ids), "a role that does not exist is simply absent"
    for id in ids:
        assert batched[id].props == rt.read(make_ctx("iam.role.r0"), id).props
        assert batched[id].attrs == rt.read(make_ctx("iam.role.r0"), id).attrs
