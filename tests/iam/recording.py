"""Which resource kind made each AWS call of a run: every hook of every registered type is wrapped so that, on
its thread, the calls it makes are put down to its kind (calls outside any hook are the engine's and the CLI's).

Test code only: it watches a run through botocore's ``before-call`` event and changes nothing it sees.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import pytest

from resources import load_all
from resources.base import REGISTRY

HOOKS = ("find", "read", "read_many", "create", "update", "delete", "secret_value", "adoptable_untagged")
#: the kind calls made outside any resource hook are put down to
ENGINE = "(engine)"


@dataclass(frozen=True)
class Call:
    kind: str
    service: str  # the botocore service model's name (``elbv2``, ``resourcegroupstaggingapi``)
    signing_name: str  # the service's signing name (``elasticloadbalancing``, ``tagging``)
    operation: str  # ``CreateVpc``
    params: dict[str, Any] = field(hash=False, compare=False)


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    _where: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> str:
        stack: list[str] = getattr(self._where, "kinds", [])
        return stack[-1] if stack else ENGINE

    @contextmanager
    def inside(self, kind: str) -> Iterator[None]:
        stack = getattr(self._where, "kinds", None)
        if stack is None:
            stack = self._where.kinds = []
        stack.append(kind)
        try:
            yield
        finally:
            stack.pop()

    def call_of(self, model: Any, params: Any) -> Call:
        sm = model.service_model
        return Call(self.current(), sm.service_name, sm.signing_name, model.name, dict(params or {}))

    def before_parameter_build(self, model: Any = None, params: Any = None, **_: Any) -> None:
        if model is not None:
            with self._lock:
                self.calls.append(self.call_of(model, params))


def record_calls(monkeypatch: pytest.MonkeyPatch, hooks: list[Callable[[Call], None]] | None = None) -> Recording:
    """Wrap every resource hook and every new boto3 session for the rest of the test; ``hooks`` are further
    ``before-parameter-build`` handlers (an evaluator) given each :class:`Call`; one may raise to refuse it."""
    load_all()
    rec = Recording()
    for rt in REGISTRY.values():
        cls = type(rt)
        for name in HOOKS:
            original = getattr(cls, name)

            def wrapped(self: Any, *args: Any, __original: Any = original, __kind: str = rt.kind, **kw: Any) -> Any:
                with rec.inside(__kind):
                    return __original(self, *args, **kw)

            monkeypatch.setattr(cls, name, functools.wraps(original)(wrapped))
    get_session = botocore.session.get_session

    def session_with_hooks(*args: Any, **kw: Any) -> Any:
        core = get_session(*args, **kw)
        core.register("before-parameter-build", rec.before_parameter_build)
        for h in hooks or []:
            core.register(
                "before-parameter-build",
                lambda model=None, params=None, __h=h, **_: __h(rec.call_of(model, params)) if model else None,
            )
        return core

    monkeypatch.setattr(botocore.session, "get_session", session_with_hooks)
    return rec
