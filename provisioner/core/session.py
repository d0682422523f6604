"""The single AWS client factory, and the call recorder every run reports from.

Credentials and endpoint come from boto3's usual chain, so ``AWS_PROFILE`` and ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_<SERVICE>``) work as they do for the AWS CLI. The region is chosen as the AWS CLI chooses it
(``resolve_region``): boto3 alone ignores ``AWS_REGION``. Throttling and 5xx are retried by botocore's standard mode.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ProfileNotFound
from botocore.model import ServiceModel

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "BatchGet", "Scan", "Query", "Simulate")


def is_mutating(operation: str) -> bool:
    """Every AWS operation that is not a read. ``GetCallerIdentity`` and friends are reads."""
    return not operation.startswith(READ_PREFIXES)


@dataclass
class CallRecorder:
    """Counts every AWS API call made through the factory's session (a botocore ``before-call`` hook)."""

    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        name = f"{model.service_model.service_name}:{model.name}"
        with self._lock:
            self.calls[name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def mutating(self) -> Counter[str]:
        return Counter({k: v for k, v in self.calls.items() if is_mutating(k.split(":", 1)[1])})

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()


_LOADER: Any = None
_LOADER_LOCK = threading.Lock()


class RegionError(Exception):
    """No region set anywhere, or one AWS does not have: said in one line, before any AWS call."""


def shared_loader() -> Any:
    """The process's one loader of botocore's data files: it keeps what it has parsed, so each file (EC2's model
    is megabytes of JSON) is read once per process, whoever asks."""
    global _LOADER
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = botocore.session.get_session().get_component("data_loader")
        return _LOADER


def _endpoint_data() -> dict[str, Any]:
    data: dict[str, Any] = shared_loader().load_data("endpoints")
    return data


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of a service's API (operations, HTTP paths), built once per process."""
    return ServiceModel(shared_loader().load_service_model(service, "service-2"), service_name=service)


def known_regions(region: str) -> tuple[str, list[str]]:
    """The partition ``region`` would belong to (by botocore's bundled endpoint data) and that partition's
    regions. A name no partition's pattern matches is taken as the commercial partition's."""
    partitions = _endpoint_data()["partitions"]
    part = next((p for p in partitions if re.match(p["regionRegex"], region)), partitions[0])
    return part["partition"], sorted(part["regions"])


def _profile_region(profile: str | None) -> str | None:
    try:
        scoped = botocore.session.Session(profile=profile).get_scoped_config()
    except ProfileNotFound as err:
        raise RegionError(f"{err}: check AWS_PROFILE") from None
    region = scoped.get("region")
    return str(region) if region else None


def resolve_region(configured: str | None = None, profile: str | None = None) -> str:
    """The region as the AWS CLI v2 chooses it: the config's ``region``, else ``AWS_REGION``, else
    ``AWS_DEFAULT_REGION``, else the profile's ``region``; checked against the regions botocore knows, so a typo
    is one line here rather than a connection error (or moto's KeyError) at the first call."""
    region = (
        configured
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or _profile_region(profile)
    )
    if not region:
        raise RegionError(
            "no AWS region: set `region` in mfprov.toml, or AWS_REGION (or AWS_DEFAULT_REGION), or `region` in "
            "your AWS profile (`aws configure set region us-east-1`); --sandbox uses us-east-1"
        )
    partition, regions = known_regions(region)
    if region not in regions:
        raise RegionError(
            f"unknown AWS region {region!r}; the regions of partition {partition} are: {', '.join(regions)} "
            f"(as botocore {botocore.__version__} knows them)"
        )
    return region


def new_session(profile: str | None = None, region: str | None = None) -> boto3.session.Session:
    """A new boto3 session that shares the process's loader of service models: loading them is most of the
    cost of a client (about 0.5 s for the 20 services a stack uses), and they never change."""
    core = botocore.session.get_session()
    loader = shared_loader()
    with _LOADER_LOCK:
        core.register_component("data_loader", loader)
        session = boto3.session.Session(botocore_session=core, profile_name=profile, region_name=region)
        paths = loader.search_paths
        paths[:] = list(dict.fromkeys(paths))  # boto3 adds its own data folder again for every session
    return session


class ClientFactory:
    """One boto3 session, one client per service, shared by the worker threads (clients are thread-safe)."""

    def __init__(self, region: str | None = None, profile: str | None = None, max_workers: int = 8) -> None:
        #: the region every client of this factory uses (``resolve_region``): what the stack is built in
        self.region: str = resolve_region(region, profile)
        self.session = new_session(profile, self.region)
        self.recorder = CallRecorder()
        self.session.events.register("before-call", self.recorder)
        self._config = Config(
            retries={"mode": "standard", "max_attempts": 8},
            max_pool_connections=max(10, max_workers * 2),
            connect_timeout=10,
            read_timeout=60,
            user_agent_extra="mfprov",
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            c = self._clients.get(service)
            if c is None:
                c = self.session.client(service, region_name=self.region, config=self._config)
                self._clients[service] = c
            return c

    def long_call_client(self, service: str, read_timeout: int) -> Any:
        """A client for a call that may take ``read_timeout`` seconds to answer (a Lambda invoked and waited for):
        the shared clients give up after 60 s and would send the call again."""
        key = f"{service}@{read_timeout}"
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                config = self._config.merge(Config(read_timeout=read_timeout))
                c = self.session.client(service, region_name=self.region, config=config)
                self._clients[key] = c
            return c

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint every client talks to when one is configured (the sandbox, LocalStack...)."""
        url = self.client("sts").meta.endpoint_url
        return url if not url.endswith("amazonaws.com") and ".amazonaws.com" not in url else None
