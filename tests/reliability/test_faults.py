"""Under injected faults — dropped connections, throttling, 5xx, lost answers, eventual-consistency errors —
up / drift / down converge: exactly one of each resource, drift clean, nothing left after down.

More seeds: ``MFPROV_FAULT_SEEDS=20 python -m pytest tests/reliability -s`` (each run prints what it injected).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.faults import ALL_MODES, FaultInjector
from tests.stack.conftest import Stack, inventory, write_config

SEEDS = range(int(os.environ.get("MFPROV_FAULT_SEEDS", "3")))
ONE_OF_EACH = {
    "vpc": 1, "subnet": 2, "igw": 1, "route_table": 2, "security_group": 2, "launch_template": 1, "role": 5,
    "instance_profile": 1, "kms_key": 1, "kms_alias": 1, "bucket": 1, "table": 1, "compute_environment": 1,
    "job_queue": 1,
}  # fmt: skip


def converge(stack: Stack, before: dict[str, set[str]], faults: FaultInjector) -> None:
    stack.up()
    assert stack.drift().value == [], "one up, under faults, must leave the stack in sync"
    made = {k: len(v - before[k]) for k, v in inventory().items()}
    assert made == ONE_OF_EACH
    assert stack.up().mutating == {}
    stack.down(delete_protected=True)
    assert inventory() == before, "down must leave nothing behind"


@pytest.mark.parametrize("seed", SEEDS)
def test_runs_converge_under_every_kind_of_fault(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    before = inventory()
    stack = Stack(write_config(tmp_path))
    faults = FaultInjector(seed, rate=0.05, modes=ALL_MODES)
    faults.install(monkeypatch)
    converge(stack, before, faults)
    assert set(faults.injected) >= {"consistency"} and sum(faults.injected.values()) > 10
    print(f"seed {seed}: injected {dict(sorted(faults.injected.items()))}")


@pytest.mark.parametrize("seed", SEEDS)
def test_lost_answers_leave_no_twin(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    """A create whose answer is lost is retried by botocore and made twice; the twin carries the stack's tags,
    so the same `up` finds it and removes it."""
    before = inventory()
    stack = Stack(write_config(tmp_path))
    faults = FaultInjector(seed, rate=0.08, modes=("lost",))
    faults.install(monkeypatch)
    converge(stack, before, faults)
    assert faults.injected["lost"] > 0
    print(f"seed {seed}: lost {faults.injected['lost']} answers")
