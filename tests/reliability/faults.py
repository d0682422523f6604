"""A fault injector for tests: a botocore ``before-send`` hook that fails some requests, at a set rate and
seed, where the network would fail, so botocore's own retry policy sees the faults as it would see AWS's.
Nothing in product code knows about it.

Mode ``unsent``: the request never reaches the endpoint (connection refused, connect timeout) — the
faults every retry policy must absorb. Mode ``lost``: the endpoint processes the request but its answer is
a 5xx (as when a response is lost after the work was done) — the faults that test idempotency. botocore
emits ``before-send`` to every handler, so with moto in process a returned fault response comes *after*
moto has done the work: exactly the ``lost`` case.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

from provisioner.session import ClientFactory


class FaultInjector:
    def __init__(self, rate: float, seed: int, mode: str = "unsent") -> None:
        self.rate = rate
        self.mode = mode
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: Any = None, **_: Any) -> AWSResponse | None:
        with self._lock:
            if self.rng.random() >= self.rate:
                return None
            kinds = ["refused", "connect-timeout"] if self.mode == "unsent" else ["500", "502", "503", "504"]
            kind = self.rng.choice(kinds)
            self.injected[kind] += 1
        url = getattr(request, "url", "?")
        if kind == "refused":
            raise EndpointConnectionError(endpoint_url=url)
        if kind == "connect-timeout":
            raise ConnectTimeoutError(endpoint_url=url)
        return AWSResponse(url, int(kind), {}, _RawBody(b""))

    def install(self, monkeypatch: Any) -> None:
        """Every ClientFactory made from now on sends through this injector (first, before moto answers)."""
        original = ClientFactory.__init__
        injector = self

        def patched(self: ClientFactory, *a: Any, **k: Any) -> None:
            original(self, *a, **k)
            self.session.events.register_first("before-send", injector)

        monkeypatch.setattr(ClientFactory, "__init__", patched)


class _RawBody:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data

    def read(self, *_: Any, **__: Any) -> bytes:
        return self.data
