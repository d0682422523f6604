"""The sandbox server's speed-ups (provisioner/sandbox/speed.py) change no answer: the same IAM calls give the same
answers with AWS's managed policies made when first used as with moto building them all at once, and botocore
sessions sharing a loader list the same regions."""

from __future__ import annotations

import re
from typing import Any

import boto3
import botocore.session
import pytest
from moto import mock_aws

from provisioner.sandbox import speed

AWS_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"
TRUST = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'  # noqa: E501
DOC = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'


def iam_story() -> list[Any]:
    """What an IAM user sees through a stack's life: managed policies listed by scope, one of AWS's attached and
    read back, a policy of one's own made, attached, listed with its entities, detached and deleted."""
    iam = boto3.client("iam", region_name="us-east-1")
    seen: list[Any] = []
    iam.create_role(RoleName="batch", AssumeRolePolicyDocument=TRUST)
    for scope in ("AWS", "Local", "All"):
        seen.append([p["Arn"] for p in iam.list_policies(Scope=scope)["Policies"]])
    iam.attach_role_policy(RoleName="batch", PolicyArn=AWS_POLICY)
    seen.append(iam.get_policy(PolicyArn=AWS_POLICY)["Policy"]["AttachmentCount"])
    mine = iam.create_policy(PolicyName="mine", PolicyDocument=DOC)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="batch", PolicyArn=mine)
    seen.append(iam.list_attached_role_policies(RoleName="batch")["AttachedPolicies"])
    seen.append([p["Arn"] for p in iam.list_policies(Scope="All")["Policies"]])
    seen.append(iam.list_entities_for_policy(PolicyArn=AWS_POLICY)["PolicyRoles"])
    for kinds in (["AWSManagedPolicy"], ["LocalManagedPolicy"], []):
        details = iam.get_account_authorization_details(**({"Filter": kinds} if kinds else {}))
        seen.append(sorted(p["Arn"] for p in details["Policies"]))
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.attach_role_policy(RoleName="batch", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")
    iam.detach_role_policy(RoleName="batch", PolicyArn=mine)
    iam.delete_policy(PolicyArn=mine)
    seen.append([p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]])
    return [re.sub(r"'(PolicyId|RoleId)': '\w+'", "", repr(s)) for s in seen]


def test_aws_managed_policies_made_when_used_answer_as_moto_does(monkeypatch: pytest.MonkeyPatch) -> None:
    with mock_aws():
        as_moto = iam_story()
    speed.iam_aws_managed_policies_when_used(monkeypatch.setattr)
    with mock_aws():
        assert iam_story() == as_moto
        from moto.iam.models import iam_backends

        account = iam_backends["123456789012"]
        assert account["aws"].managed_policies._make is None, "made once used"
        assert account["aws-cn"].managed_policies._make is not None, "a partition no call used never makes them"
    assert AWS_POLICY in as_moto[0]


def test_sessions_sharing_a_loader_list_the_same_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    alone = botocore.session.Session().get_available_regions("ec2")
    speed.one_loader_for_every_botocore_session(monkeypatch.setattr)
    first, second = botocore.session.Session(), botocore.session.Session()
    assert first.get_component("data_loader") is second.get_component("data_loader")
    assert first.get_available_regions("ec2") == second.get_available_regions("ec2") == alone
