"""Shared fixtures: an in-process moto account and a NodeContext factory for resource tests."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
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
    # as in the sandbox (provisioner/sandbox/control.py): no default AMIs, which nothing mfprov builds names
    MOTO_EC2_LOAD_DEFAULT_AMIS="false",
)
for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "METAFLOW_PROFILE"):
    os.environ.pop(var, None)

# as mfprov's own processes do (provisioner/core/gc_tuning.py): a test process keeps even more objects for its
# whole life (every test's modules, models, moto's backends), measured 8-12% less CPU per stack test
from provisioner.core.gc_tuning import collect_less, keep_what_is_loaded  # noqa: E402

collect_less()

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


def _build_each_service_model_and_client_class_once() -> None:
    """Speed only, nothing a test sees changes. The suite opens thousands of boto3 clients: every command opens a
    session, and moto gives each ``mock_aws`` a new default session, so ``boto3.client`` in a test used to parse
    the service models again (EC2's is megabytes of JSON) and build each client class again, about a third of an
    in-process stack test's CPU. A ServiceModel is read-only data and a client class is made from it and the
    ``creating-client-class`` handlers every boto3 session registers alike, so one of each per process serves
    every session; the default session shares the product's loader of models (``new_session``)."""
    import boto3
    import botocore.client

    from provisioner.core.session import new_session

    setup = boto3.setup_default_session

    def setup_default_session(**kwargs: Any) -> None:
        if set(kwargs) - {"profile_name", "region_name"}:  # credentials, a session of its own: boto3's own way
            setup(**kwargs)
            return
        boto3.DEFAULT_SESSION = new_session(kwargs.get("profile_name"), kwargs.get("region_name"))

    boto3.setup_default_session = setup_default_session

    creator = botocore.client.ClientCreator
    load_model, create_class = creator._load_service_model, creator._create_client_class
    models: dict[tuple[str, object], object] = {}
    classes: dict[tuple[str, int], type] = {}

    def load_service_model(self: object, service_name: str, api_version: object = None) -> object:
        key = (service_name, api_version)
        if key not in models:
            models[key] = load_model(self, service_name, api_version)
        return models[key]

    def create_client_class(self: object, service_name: str, service_model: object) -> type:
        key = (service_name, id(service_model))
        if key not in classes:
            classes[key] = create_class(self, service_name, service_model)
        return classes[key]

    creator._load_service_model = load_service_model  # type: ignore[method-assign]
    creator._create_client_class = create_client_class  # type: ignore[method-assign]

    # botocore renames event names through its aliases on every emit (about a tenth of a test's CPU) and keeps
    # the answers per client, so each new client starts over: one memo per set of aliases serves them all
    import botocore.hooks

    aliaser_init = botocore.hooks.EventAliaser.__init__
    memos: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}

    def init_aliaser(self: botocore.hooks.EventAliaser, event_emitter: object, event_aliases: object = None) -> None:
        aliaser_init(self, event_emitter, event_aliases)
        self._alias_name_cache = memos.setdefault(tuple(self._event_aliases.items()), {})

    botocore.hooks.EventAliaser.__init__ = init_aliaser  # type: ignore[method-assign]

    # moto lists a response class's methods (inspect.getmembers) on every request it answers; listed again only
    # when a class on its MRO gained or lost a name (a shim a test sets and undoes)
    import moto.core.responses
    import moto.core.utils

    names_of = functools.cache(lambda cls, _names: moto.core.utils.method_names_from_class(cls))
    moto.core.responses.method_names_from_class = lambda cls: names_of(cls, tuple(tuple(vars(k)) for k in cls.__mro__))

    # each client builds its endpoint rules anew from the same ruleset data (the shared loader's, one object per
    # service): one provider per ruleset serves them all, its answers are a pure function of the call's parameters
    import botocore.regions

    make_provider = botocore.regions.EndpointProvider
    providers: dict[tuple[int, int, object], tuple[object, object, object]] = {}

    def endpoint_provider(ruleset_data: object, partition_data: object, excluded_params: Any = None) -> object:
        key = (id(ruleset_data), id(partition_data), excluded_params and tuple(excluded_params))
        if key not in providers:  # the data are kept with it, so that their ids stay theirs
            made = make_provider(ruleset_data, partition_data, excluded_params=excluded_params)
            providers[key] = (made, ruleset_data, partition_data)
        return providers[key][0]

    botocore.regions.EndpointProvider = endpoint_provider  # type: ignore[assignment,misc]


_build_each_service_model_and_client_class_once()


def _one_moto_request_at_a_time() -> None:
    """moto's in-process backends are not thread-safe, and AWS is: a list iterating a dict that another thread's
    create or delete changes fails with "dictionary changed size during iteration" (seen in whole-suite runs).
    The engine's threads still run at once; only moto's handling of each request is serialized (under the GIL it
    ran one at a time anyway)."""
    import threading

    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    process = BotocoreStubber.process_request

    def serialized(self: BotocoreStubber, request: object) -> object:
        with lock:
            return process(self, request)  # type: ignore[arg-type]

    BotocoreStubber.process_request = serialized  # type: ignore[assignment,method-assign]


_one_moto_request_at_a_time()

# AWS Batch's service-linked role for compute environments created without serviceRole, as AWS does it (the
# sandbox's shim; it changes nothing for a create that names a role)
from provisioner.sandbox import shims as sandbox_shims  # noqa: E402

sandbox_shims.batch_service_linked_role()

from provisioner.core.context import Facts, NodeContext  # noqa: E402
from provisioner.core.session import ClientFactory  # noqa: E402
from resources.base import TAG_ADDRESS, TAG_MANAGED_BY, TAG_STACK  # noqa: E402

ACCOUNT = "123456789012"  # moto's default fake account

keep_what_is_loaded()  # the imports above, never garbage

#: the folders whose tests bring whole stacks up (in-process moto or the sandbox server): marked e2e, so that
#: `python -m pytest -m "not e2e"` (tests/unit and tests/resources) is the quick loop while editing
WHOLE_STACK_FOLDERS = ("e2e", "stack", "reliability", "iam")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a worker per core and one more, since the e2e tests spend part of their time waiting for their
    subprocesses (the sandbox server, the CLI, metaflow). Measured on 2 cores: 2 workers 524 s, 3 workers 462 s."""
    return (os.cpu_count() or 1) + 1


#: the folder of the tests that take seconds each (the CLI, a sandbox server and metaflow in subprocesses)
SLOW_FOLDER = "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks the whole-stack tests e2e, and spreads the slow tests evenly through the run. xdist's ``worksteal``
    scheduling (pyproject) gives each worker a contiguous share of the list, and a worker with nothing left
    takes the back half of the longest queue: with the slow tests spread, each share holds a third of them and
    no worker is left with a run of them after the others are done."""
    root = Path(__file__).resolve().parent

    def folder(item: pytest.Item) -> str:
        return Path(str(item.fspath)).resolve().relative_to(root).parts[0]

    for item in items:
        if folder(item) in WHOLE_STACK_FOLDERS:
            item.add_marker(pytest.mark.e2e)
    slow = [item for item in items if folder(item) == SLOW_FOLDER]
    if not slow:
        return
    rest = iter(item for item in items if folder(item) != SLOW_FOLDER)
    step = len(items) / len(slow)
    at = {round(k * step): item for k, item in enumerate(slow)}  # slow test k at position k * step
    items[:] = [at[i] if i in at else next(rest) for i in range(len(items))]


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
