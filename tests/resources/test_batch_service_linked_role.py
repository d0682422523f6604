"""Batch's service-linked role: a MANAGED compute environment made without ``serviceRole`` runs as
AWSServiceRoleForBatch (Batch creates it when the account has none), reads back as "no role of ours" (no drift),
and is never switched to or from a role of the stack's own in place (AWS refuses that switch: a new environment).

moto refuses a missing ``serviceRole``; the sandbox's shim (``sandbox_shims.batch_service_linked_role``, installed
by tests/conftest.py) does what AWS documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner.core.session import ClientFactory
from resources.base import resource_type
from tests.resources.drift import changed_fields
from tests.resources.test_batch import _ce_props, infra  # noqa: F401  (the fixture)

SLR = "arn:aws:iam::123456789012:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch"


def test_without_service_role_batch_uses_and_creates_its_service_linked_role(
    make_ctx: Callable[..., Any],
    infra: dict[str, Any],  # noqa: F811
    aws: ClientFactory,
) -> None:
    rt: Any = resource_type("batch.compute_environment")
    ctx = make_ctx("batch.compute_environment.cpu")
    props = _ce_props({k: v for k, v in infra.items() if k != "service_role"}, "mf-slr")
    assert props.service_role is None
    id = rt.create(ctx, props)
    ce = boto3.client("batch").describe_compute_environments(computeEnvironments=[id])["computeEnvironments"][0]
    assert ce["serviceRole"] == SLR
    role = boto3.client("iam").get_role(RoleName="AWSServiceRoleForBatch")["Role"]
    assert role["Path"] == "/aws-service-role/batch.amazonaws.com/"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["batch.amazonaws.com"]}

    obs = rt.read(ctx, id)
    assert obs.props["service_role"] is None  # as asked: not a drift
    assert changed_fields(rt, props, obs, ctx) == set()

    # a second environment shares the one role
    rt.create(
        make_ctx("batch.compute_environment.gpu"),
        _ce_props({k: v for k, v in infra.items() if k != "service_role"}, "mf-slr2"),
    )
    names = [r["RoleName"] for r in boto3.client("iam").list_roles(PathPrefix="/aws-service-role/")["Roles"]]
    assert names == ["AWSServiceRoleForBatch"]

    # no switch to a role of our own in place (AWS refuses it): the plan replaces the environment, either way;
    # one role of our own for another is an update
    from provisioner.engine.compare import diff

    custom = _ce_props(infra, "mf-slr")
    (change,) = diff(rt, custom.model_dump(mode="json"), obs.props)
    assert change.field == "service_role" and change.forces_replacement
    assert rt.forces_replacement("service_role", None, infra["service_role"])
    assert not rt.forces_replacement("service_role", infra["service_role"] + "-2", infra["service_role"])


def test_unmanaged_environments_still_need_a_service_role(aws: ClientFactory) -> None:
    with pytest.raises(ClientError, match="ServiceRole is required"):
        boto3.client("batch").create_compute_environment(computeEnvironmentName="unmanaged", type="UNMANAGED")
