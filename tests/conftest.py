"""Shared fixtures: an in-process moto account and a NodeContext factory for resource tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Tests never reach AWS: fake credentials, a fixed region, and no endpoint from the caller's shell.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    MOTO_IAM_LOAD_MANAGED_POLICIES="true",
    # as in the sandbox (provisioner/sandbox/control.py): no default AMIs, which nothing mfprov builds names
    MOTO_EC2_LOAD_DEFAULT_AMIS="false",
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

# AWS Batch's service-linked role for compute environments created without serviceRole, as AWS does it (the
# sandbox's shim; it changes nothing for a create that names a role)
from provisioner.sandbox import shims as sandbox_shims  # noqa: E402

sandbox_shims.batch_service_linked_role()

from provisioner.core.context import Facts, NodeContext  # noqa: E402
from provisioner.core.session import ClientFactory  # noqa: E402
from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK  # noqa: E402

ACCOUNT = "123456789012"  # moto's default fake account

#: the folders whose tests bring whole stacks up (in-process moto or the sandbox server): marked e2e, so that
#: `python -m pytest -m "not e2e"` (tests/unit and tests/resources) is the quick loop while editing
WHOLE_STACK_FOLDERS = ("e2e", "stack", "reliability", "iam")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker per core and one more, since the e2e tests spend part of their time waiting for their
    subprocesses (the sandbox server, the CLI, metaflow). Measured on 2 cores: 2 workers 524 s, 3 workers 462 s."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parent
    for item in items:
        folder = Path(str(item.fspath)).resolve().relative_to(root).parts[0]
        if folder in WHOLE_STACK_FOLDERS:
            item.add_marker(pytest.mark.e2e)


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
    """moto's SageMaker gaps filled as AWS behaves, for one test: the sandbox's own shims
    (``provisioner/sandbox/shims.py`` lists them)."""
    from provisioner.sandbox import shims as sandbox_shims

    sandbox_shims.sagemaker(lambda target, name, value: monkeypatch.setattr(target, name, value, raising=False))


@pytest.fixture
def sagemaker_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SageMaker stand-ins of ``sagemaker_stand_ins`` for one test."""
    sagemaker_stand_ins(monkeypatch)
