"""Under injected 5xx and dropped connections, up / drift / down converge: no duplicate, nothing left."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability.faults import FaultInjector
from tests.stack.conftest import Stack, inventory, write_config

SEEDS = range(int(os.environ.get("MFPROV_FAULT_SEEDS", "3")))


@pytest.mark.parametrize("seed", SEEDS)
def test_runs_converge_under_injected_faults(
    moto_account: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    before = inventory()
    stack = Stack(write_config(tmp_path))
    faults = FaultInjector(rate=0.05, seed=seed)
    faults.install(monkeypatch)

    stack.up()
    assert stack.drift().value == []
    made = {k: len(v - before[k]) for k, v in inventory().items()}
    assert made == {
        "vpc": 1, "subnet": 2, "igw": 1, "route_table": 2, "security_group": 2, "launch_template": 1, "role": 5,
        "instance_profile": 1, "kms_key": 1, "kms_alias": 1, "bucket": 1, "table": 1, "compute_environment": 1,
        "job_queue": 1,
    }  # fmt: skip
    stack.down(delete_protected=True)
    assert inventory() == before
    assert sum(faults.injected.values()) > 0, "the faults must have been injected"
    print(f"seed {seed}: injected {dict(faults.injected)}")
