"""The one retry policy for eventual consistency, and the one way to wait for a condition.

Throttling and 5xx are retried by botocore itself (standard retry mode, see ``session.py``); this
module only handles the errors a call declares as "not yet" (an IAM role not yet assumable, a
subnet not yet visible, DependencyViolation while a dependent is still going away). The two are
never stacked: botocore retries one request, tenacity retries the operation for a time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from provisioner.core.errors import error_code, error_message

T = TypeVar("T")

#: how long one call may keep failing with a declared eventual-consistency error
DEFAULT_BUDGET = 120.0


def _matches(err: BaseException, specs: tuple[str, ...]) -> bool:
    """A spec is ``"Code"`` or ``"Code:text in the message"``."""
    if not isinstance(err, ClientError):
        return False
    code, msg = error_code(err), error_message(err).lower()
    for spec in specs:
        want, _, text = spec.partition(":")
        if code == want and (not text or text.lower() in msg):
            return True
    return False


def call_with_retry(
    fn: Callable[..., T],
    retry_on: Iterable[str],
    *args: Any,
    budget: float = DEFAULT_BUDGET,
    max_wait: float = 5.0,
    **kwargs: Any,
) -> T:
    """Call ``fn``; while it fails with one of ``retry_on`` retry with full jitter, for ``budget`` seconds."""
    specs = tuple(retry_on)
    if not specs:
        return fn(*args, **kwargs)
    retrying = Retrying(
        retry=retry_if_exception(lambda e: _matches(e, specs)),
        wait=wait_random_exponential(multiplier=0.25, max=max_wait),
        stop=stop_after_delay(budget),
        reraise=True,
    )
    return retrying(fn, *args, **kwargs)


class WaitTimeout(Exception):
    def __init__(self, what: str, elapsed: float, last: object) -> None:
        super().__init__(f"timed out after {elapsed:.0f}s waiting for {what} (last seen: {last})")
        self.what, self.elapsed, self.last = what, elapsed, last


class WaitFailed(Exception):
    pass


def wait_for(
    what: str,
    check: Callable[[], bool | str | None],
    timeout: float,
    *,
    max_interval: float = 10.0,
) -> float:
    """Poll ``check`` until it returns True; return the seconds it took.

    ``check`` returns True when done, or a short status text (or False/None) while not yet; it raises
    :class:`WaitFailed` when the resource reached a terminal bad state.
    """
    start = time.monotonic()
    last: object = None

    def not_done(state: RetryCallState) -> bool:
        nonlocal last
        if state.outcome is not None and state.outcome.failed:
            # A terminal state (WaitFailed) ends the wait at once, and so does Ctrl-C (KeyboardInterrupt is no
            # Exception): it is raised, not polled through until the deadline. Other errors are polled through.
            exc = state.outcome.exception()
            return isinstance(exc, Exception) and not isinstance(exc, WaitFailed)
        last = state.outcome.result() if state.outcome else last
        return last is not True

    retrying = Retrying(
        retry=not_done,
        wait=wait_random_exponential(multiplier=0.2, max=max_interval),
        stop=stop_after_delay(timeout),
        retry_error_callback=lambda s: False,
    )
    ok = retrying(check)
    elapsed = time.monotonic() - start
    if ok is not True:
        raise WaitTimeout(what, elapsed, last)
    return elapsed
