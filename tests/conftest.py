"""Shared fixtures: an in-process moto account and a NodeContext factory for resource tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

# Tests never reach AWS: fake credentials, a fixed region, and no endpoint from the caller's shell.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    MOTO_IAM_LOAD_MANAGED_POLICIES="true",
)
for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "METAFLOW_PROFILE"):
    os.environ.pop(var, None)

from moto import mock_aws  # noqa: E402


def _load_only_the_managed_policies_we_name() -> None:
    """moto parses ~1,300 AWS managed policies into every fresh IAM backend (about 1.4 s per test). Keep only
    those the code or the tests name (``...:policy/[path/]Name``): the same ARNs attach as on AWS."""
    import json
    import re
    from pathlib import Path

    import moto.iam.models as iam_models

    root = Path(__file__).resolve().parent.parent
    text = "\n".join(f.read_text() for d in ("provisioner", "resources", "tests") for f in (root / d).rglob("*.py"))
    named = set(re.findall(r":policy/(?:[\w-]+/)*([\w+=,.@-]+)", text))
    every = json.loads(iam_models.aws_managed_policies_data)
    iam_models.aws_managed_policies_data = json.dumps({k: v for k, v in every.items() if k in named})


_load_only_the_managed_policies_we_name()

from provisioner.context import Facts, NodeContext  # noqa: E402
from provisioner.session import ClientFactory  # noqa: E402
from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK  # noqa: E402

ACCOUNT = "123456789012"  # moto's default fake account


@pytest.fixture
def aws() -> Iterator[ClientFactory]:
    """A fresh in-process moto account; the factory records every call."""
    with mock_aws():
        yield ClientFactory(region="us-east-1")


@pytest.fixture
def make_ctx(aws: ClientFactory) -> Callable[..., NodeContext]:
    """``make_ctx("ec2.vpc.main")`` -> a NodeContext with the stack tags of stack ``test``."""
    facts = Facts(
        account_id=ACCOUNT,
        region="us-east-1",
        availability_zones=("us-east-1a", "us-east-1b"),
    )

    def factory(address: str, stack: str = "test", timeout: float = 60.0) -> NodeContext:
        tags = {TAG_STACK: stack, TAG_ADDRESS: address, TAG_MANAGED_BY: "mfprov"}
        return NodeContext(address=address, clients=aws, facts=facts, tags=tags, timeout=timeout, retry_budget=5)

    return factory


# ------------------------------------------------------------------ stand-ins for moto gaps


def sagemaker_stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for what moto 5.2.5 lacks of SageMaker, test-side only, behaving as AWS documents:

    - UpdateNotebookInstance is not implemented: applied to moto's notebook model, refused unless the notebook is
      Stopped or Failed (as on AWS), and refusing to shrink the volume;
    - UpdateNotebookInstanceLifecycleConfig is not implemented: applied to moto's lifecycle-config model;
    - CreateNotebookInstance drops PlatformIdentifier: kept and shown again by DescribeNotebookInstance;
    - CreateNotebookInstanceLifecycleConfig drops its Tags, and ListTags/AddTags crash on a lifecycle-config ARN:
      its tags kept, and its ARN resolved.
    """
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError as MotoValidationError
    from moto.sagemaker.models import FakeSagemakerNotebookInstance, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def update_notebook_instance(self: SageMakerResponse) -> EmptyResult:
        nb = self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
        if nb.status not in ("Stopped", "Failed"):
            raise MotoValidationError(
                message=f"Status ({nb.status}) not in ([Stopped, Failed]). Unable to transition to (Updating) "
                f"for Notebook Instance ({nb.arn})"
            )
        size = self._get_param("VolumeSizeInGB")
        if size is not None and size < nb.volume_size_in_gb:
            raise MotoValidationError(message="The volume size cannot be decreased")
        for param, attr in (
            ("InstanceType", "instance_type"),
            ("RoleArn", "role_arn"),
            ("VolumeSizeInGB", "volume_size_in_gb"),
            ("RootAccess", "root_access"),
            ("PlatformIdentifier", "platform_identifier"),
            ("LifecycleConfigName", "lifecycle_config_name"),
        ):
            if self._get_param(param) is not None:
                setattr(nb, attr, self._get_param(param))
        if self._get_param("DisassociateLifecycleConfig"):
            nb.lifecycle_config_name = None
        return EmptyResult()

    def update_notebook_instance_lifecycle_config(self: SageMakerResponse) -> EmptyResult:
        name = self._get_param("NotebookInstanceLifecycleConfigName")
        lc = self.sagemaker_backend.notebook_instance_lifecycle_configurations.get(name)
        if lc is None:
            raise MotoValidationError(
                message=f"Unable to update Notebook Instance Lifecycle Config '{name}'. "
                "(Details: Notebook Instance Lifecycle Config does not exist.)"
            )
        for param, attr in (("OnStart", "on_start"), ("OnCreate", "on_create")):
            if self._get_param(param) is not None:
                setattr(lc, attr, self._get_param(param))
        return EmptyResult()

    original_create = SageMakerResponse.create_notebook_instance
    original_to_dict = FakeSagemakerNotebookInstance.to_dict
    original_create_lc = SageMakerResponse.create_notebook_instance_lifecycle_config
    original_resource = SageMakerModelBackend._get_resource_from_arn

    def create_notebook_instance(self: SageMakerResponse) -> Any:
        answer = original_create(self)
        nb = self.sagemaker_backend.notebook_instances[self._get_param("NotebookInstanceName")]
        nb.platform_identifier = self._get_param("PlatformIdentifier")  # type: ignore[attr-defined]
        return answer

    def to_dict(self: FakeSagemakerNotebookInstance) -> dict[str, Any]:
        return {**original_to_dict(self), "PlatformIdentifier": getattr(self, "platform_identifier", None)}

    def create_lifecycle_config(self: SageMakerResponse) -> Any:
        answer = original_create_lc(self)
        lcs = self.sagemaker_backend.notebook_instance_lifecycle_configurations
        lc = lcs[self._get_param("NotebookInstanceLifecycleConfigName")]
        lc.tags = list(self._get_param("Tags") or [])  # type: ignore[attr-defined]
        return answer

    def resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
        kind, _, name = arn.split(":")[-1].partition("/")
        if kind != "notebook-instance-lifecycle-config":
            return original_resource(self, arn)
        lc = self.notebook_instance_lifecycle_configurations.get(name)
        if lc is None:
            raise MotoValidationError(message=f"Could not find {kind} with name {name}")
        return lc

    for name, fn in (
        ("update_notebook_instance", update_notebook_instance),
        ("update_notebook_instance_lifecycle_config", update_notebook_instance_lifecycle_config),
    ):
        monkeypatch.setattr(SageMakerResponse, name, fn, raising=False)
    monkeypatch.setattr(SageMakerResponse, "create_notebook_instance", create_notebook_instance)
    monkeypatch.setattr(SageMakerResponse, "create_notebook_instance_lifecycle_config", create_lifecycle_config)
    monkeypatch.setattr(FakeSagemakerNotebookInstance, "to_dict", to_dict)
    monkeypatch.setattr(SageMakerModelBackend, "_get_resource_from_arn", resource_from_arn)


@pytest.fixture
def sagemaker_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SageMaker stand-ins of ``sagemaker_stand_ins`` for one test."""
    sagemaker_stand_ins(monkeypatch)
