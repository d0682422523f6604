"""What a resource hook is given: clients, the node's tags, the stack's facts, retry and wait."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from provisioner.core.retry import DEFAULT_BUDGET, call_with_retry, wait_for
from provisioner.core.session import ClientFactory
from provisioner.core.tags import TAG_ADDRESS, TAG_STACK, TAG_STACK_ID

T = TypeVar("T")
_SHARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Facts:
    """What a run learns from AWS before planning: who, where, which zones."""

    account_id: str
    region: str
    partition: str = "aws"
    availability_zones: tuple[str, ...] = ()

    @property
    def dns_suffix(self) -> str:
        return "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"

    def arn(self, service: str, resource: str, region: str | None = None, account: str | None = None) -> str:
        r = self.region if region is None else region
        a = self.account_id if account is None else account
        return f"arn:{self.partition}:{service}:{r}:{a}:{resource}"


@dataclass
class NodeContext:
    """Handed to every hook of one resource node."""

    address: str
    clients: ClientFactory
    facts: Facts
    tags: dict[str, str]
    timeout: float
    on_created: Callable[[str], None] = field(default=lambda _id: None)
    on_progress: Callable[[str], None] = field(default=lambda _msg: None)
    retry_budget: float = DEFAULT_BUDGET
    #: read-only lookups shared by the reads of one refresh (None outside one: then nothing is kept)
    shared: dict[Any, Any] | None = None

    @property
    def stack(self) -> str:
        return self.tags.get(TAG_STACK, "")

    def ec2_tag_filters(self) -> list[dict[str, Any]]:
        """EC2 ``Filters`` that find this node's resource by the stack's identity and the address tags."""
        return [
            {"Name": f"tag:{key}", "Values": [self.tags[key]]}
            for key in (TAG_STACK, TAG_STACK_ID, TAG_ADDRESS)
            if key in self.tags
        ]

    def owns(self, tags: dict[str, str]) -> bool:
        """Whether a found resource's tags say it is this node of this stack: the same name, the same whole
        identity (another stack of the same name has another suffix, prefix or region), the same address."""
        return all(tags.get(key) == self.tags.get(key) for key in (TAG_STACK, TAG_STACK_ID, TAG_ADDRESS))

    def client(self, service: str) -> Any:
        return self.clients.client(service)

    def created(self, id: str) -> None:
        """Record the new id in state at once, before any waiting: a crash then leaves no orphan."""
        self.on_created(id)

    def call(self, fn: Callable[..., T], *, retry_on: Iterable[str] = (), **kwargs: Any) -> T:
        """Call a boto3 method, retrying the eventual-consistency errors this call declares."""
        return call_with_retry(fn, tuple(retry_on), budget=self.retry_budget, **kwargs)

    def memo(self, key: Any, lookup: Callable[[], T]) -> T:
        """``lookup()``, kept for the other reads of the same refresh (two types reading one listing, say)."""
        if self.shared is None:
            return lookup()
        with _SHARED_LOCK:
            lock = self.shared.setdefault(("lock", key), threading.Lock())
        with lock:  # the second reader of a key waits for the first one's answer
            if key not in self.shared:
                self.shared[key] = lookup()
            return self.shared[key]  # type: ignore[no-any-return]

    def ids_being_read(self, kind_prefix: str) -> list[str]:
        """Within a refresh, the ids of every kind starting with ``kind_prefix`` it reads (else nothing)."""
        by_kind: dict[str, list[str]] = (self.shared or {}).get("ids", {})
        return [i for kind, ids in sorted(by_kind.items()) if kind.startswith(kind_prefix) for i in ids]

    def wait(self, what: str, check: Callable[[], bool | str | None], timeout: float | None = None) -> float:
        """Poll ``check`` until True, within this resource type's deadline; returns elapsed seconds."""
        self.on_progress(f"waiting for {what}")
        return wait_for(f"{self.address}: {what}", check, self.timeout if timeout is None else timeout)
