"""The single AWS client factory, and the call recorder every run reports from.

Credentials, region and endpoint come from boto3's usual chain, so ``AWS_PROFILE``,
``AWS_REGION`` / ``AWS_DEFAULT_REGION`` and ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_<SERVICE>``)
work as they do for the AWS CLI. Throttling and 5xx are retried by botocore's standard mode.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "BatchGet", "Scan", "Query")


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


def _session(profile: str | None, region: str | None) -> boto3.session.Session:
    """A new boto3 session that shares the process's loader of service models: loading them is most of the
    cost of a client (about 0.5 s for the 20 services a stack uses), and they never change."""
    global _LOADER
    core = botocore.session.get_session()
    with _LOADER_LOCK:
        if _LOADER is None:
            _LOADER = core.get_component("data_loader")
        core.register_component("data_loader", _LOADER)
        session = boto3.session.Session(botocore_session=core, profile_name=profile, region_name=region)
        paths = _LOADER.search_paths
        paths[:] = list(dict.fromkeys(paths))  # boto3 adds its own data folder again for every session
    return session


class ClientFactory:
    """One boto3 session, one client per service, shared by the worker threads (clients are thread-safe)."""

    def __init__(self, region: str | None = None, profile: str | None = None, max_workers: int = 8) -> None:
        self.session = _session(profile, region)
        self.region: str = self.session.region_name or "us-east-1"
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

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint every client talks to when one is configured (the sandbox, LocalStack...)."""
        url = self.client("sts").meta.endpoint_url
        return url if not url.endswith("amazonaws.com") and ".amazonaws.com" not in url else None
