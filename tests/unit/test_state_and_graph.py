"""State is written atomically under a lock that names its holder; the graph comes from the refs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from provisioner.engine.graph import UNKNOWN, Blueprint, resolve, to_dot, to_mermaid
from provisioner.engine.scheduler import run_graph
from resources.base import Ref
from state.document import ResourceState, StateDocument
from state.local import LocalStateStore, StateError, StateLocked


def test_state_round_trips_and_keeps_a_backup(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path / ".mfprov")
    doc = StateDocument(stack="s")
    doc.resources["ec2.vpc.main"] = ResourceState(kind="ec2.vpc", id="vpc-1")
    store.save(doc)
    doc.resources["ec2.subnet.a"] = ResourceState(kind="ec2.subnet", id="subnet-1", depends_on=["ec2.vpc.main"])
    store.save(doc)
    again = store.load("s")
    assert again.resources["ec2.subnet.a"].depends_on == ["ec2.vpc.main"]
    assert json.loads(store.backup.read_text())["resources"].keys() == {"ec2.vpc.main"}
    assert not list(store.dir.glob("*.tmp*"))


def test_the_state_file_is_sorted_indented_ascii_json_that_reads_back_the_same(tmp_path: Path) -> None:
    """What people diff and review: keys sorted at every depth, two-space indents, only ASCII in the file, and every
    value (a non-ASCII description, a character beyond the BMP, a line separator) read back as it was."""
    store = LocalStateStore(tmp_path / ".mfprov")
    doc = StateDocument(stack="s")
    attrs = {"z": 1, "description": "read the datastore (§3.4) ☃ 𝄞 \u2028 \"quoted\"", "a": [{"y": 2, "b": None}]}
    doc.resources["iam.role.task"] = ResourceState(kind="iam.role", id="r", attrs=attrs)
    doc.outputs = {"b": "x", "a": 0.25}
    store.save(doc)
    text = store.path.read_bytes().decode("ascii")  # fails on any byte beyond ASCII
    assert text == json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    assert store.load("s").resources["iam.role.task"].attrs == attrs


def test_damaged_state_is_a_clear_error_pointing_at_the_backup(tmp_path: Path) -> None:
    store = LocalStateStore(tmp_path)
    store.save(StateDocument(stack="s"))
    store.save(StateDocument(stack="s"))
    store.path.write_text('{"stack": "s", "resour')
    with pytest.raises(StateError, match="damaged.*state.json.bak"):
        store.load("s")


def test_lock_names_its_holder_and_a_dead_holder_is_stale(tmp_path: Path) -> None:
    first, second = LocalStateStore(tmp_path), LocalStateStore(tmp_path)
    first.acquire("up")
    with pytest.raises(StateLocked, match=r"running `up` since"):
        second.acquire("down")
    first.release()
    second.acquire("down")
    second.release()
    # A lock left by a process that no longer exists on this host is taken over.
    (tmp_path / "lock.json").write_text(
        json.dumps({"user": "u", "host": __import__("socket").gethostname(), "pid": 2**22 + 7, "command": "up"})
    )
    first.acquire("up")
    assert first.holder()["pid"] != 2**22 + 7


def blueprint() -> Blueprint:
    bp = Blueprint()
    vpc = bp.add("ec2.vpc.main", "ec2.vpc", cidr_block="10.0.0.0/16")
    sn = bp.add("ec2.subnet.a", "ec2.subnet", vpc_id=vpc, cidr_block="10.0.0.0/20", availability_zone="a")
    bp.add("x.ce", "batch.compute_environment", subnets=[sn], role=Ref(address="iam.role.r", attr="arn"))
    bp.add("iam.role.r", "iam.role", name="r")
    return bp


def test_edges_come_from_refs_and_render() -> None:
    g = blueprint().graph()
    assert set(g.edges) == {("ec2.vpc.main", "ec2.subnet.a"), ("ec2.subnet.a", "x.ce"), ("iam.role.r", "x.ce")}
    assert '"ec2.subnet.a" -> "x.ce";' in to_dot(g)
    assert "-->" in to_mermaid(g)


def test_refs_resolve_or_are_unknown() -> None:
    props = blueprint().nodes["x.ce"].props
    assert resolve(props, {"ec2.subnet.a": {"id": "subnet-1"}}) == {"subnets": ["subnet-1"], "role": UNKNOWN}


def test_scheduler_starts_each_node_when_its_own_dependencies_are_done() -> None:
    g = blueprint().graph()
    order: list[str] = []
    lock = threading.Lock()
    release_role = threading.Event()

    def task(node: str) -> None:
        if node == "iam.role.r":
            # The role is slow; the subnet must not wait for it.
            assert release_role.wait(5)
        with lock:
            order.append(node)
        if node == "ec2.subnet.a":
            release_role.set()

    result = run_graph(g, task, workers=4)
    assert result.ok
    assert order.index("ec2.subnet.a") < order.index("iam.role.r") < order.index("x.ce")


def test_a_failure_skips_only_its_dependents() -> None:
    g = blueprint().graph()

    def task(node: str) -> None:
        if node == "ec2.subnet.a":
            raise RuntimeError("boom")

    result = run_graph(g, task, workers=2)
    status = {a: o.status for a, o in result.outcomes.items()}
    assert status == {"ec2.vpc.main": "done", "iam.role.r": "done", "ec2.subnet.a": "failed", "x.ce": "skipped"}


def test_a_wait_ends_at_once_on_a_terminal_state() -> None:
    import time

    from provisioner.core.retry import WaitFailed, wait_for

    def check() -> bool:
        raise WaitFailed("compute environment is INVALID: role cannot be assumed")

    started = time.monotonic()
    with pytest.raises(WaitFailed, match="INVALID"):
        wait_for("ce", check, timeout=30)
    assert time.monotonic() - started < 5


def test_ctrl_c_during_a_wait_stops_it_at_once() -> None:
    """Ctrl-C while a wait asks AWS how things stand is raised, not polled through until the wait's deadline."""
    from provisioner.core.retry import wait_for

    asked: list[int] = []

    def check() -> bool:
        asked.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wait_for("db", check, timeout=30)
    assert asked == [1]


def test_reads_of_one_refresh_share_a_lookup_and_nothing_outlives_it() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from provisioner.core.context import Facts, NodeContext

    calls: list[int] = []

    def lookup() -> int:
        calls.append(1)
        return len(calls)

    facts = Facts(account_id="1", region="r")
    shared: dict[object, object] = {}
    ctx = NodeContext("a.b.c", clients=None, facts=facts, tags={}, timeout=1, shared=shared)  # type: ignore[arg-type]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: ctx.memo("k", lookup), range(16)))
    assert answers == [1] * 16 and len(calls) == 1, "looked up once, by whichever reader came first"
    outside = NodeContext("a.b.c", clients=None, facts=facts, tags={}, timeout=1)  # type: ignore[arg-type]
    assert [outside.memo("k", lookup) for _ in range(2)] == [2, 3], "outside a refresh nothing is kept"
