"""SIGKILL during `up` and `down`, many times, at seeded random moments: the next run converges on exactly
the resources of an uninterrupted run (no duplicate, nothing left behind)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_metaflow_e2e import sandbox_env  # noqa: F401  (fixture)
from tests.stack.conftest import inventory

pytestmark = pytest.mark.e2e

KILLS = int(os.environ.get("MFPROV_KILLS", "6"))
EXPECTED = {
    "vpc": 1, "subnet": 2, "igw": 1, "route_table": 2, "security_group": 2, "launch_template": 1, "role": 4,
    "instance_profile": 1, "kms_key": 1, "kms_alias": 1, "bucket": 1, "table": 1, "compute_environment": 1,
    "job_queue": 1,
}  # fmt: skip


def start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "provisioner", "--sandbox", *args],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run(env: dict[str, str], cwd: Path, *args: str) -> int:
    return start(env, cwd, *args).wait(timeout=300)


def test_sigkill_during_up_and_down_converges(
    sandbox_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = sandbox_env
    work = tmp_path / "work"
    work.mkdir()
    assert run(env, work, "init", "--name", "kills") == 0
    # One uninterrupted run first, so the moto server is warm and kill times land mid-apply.
    assert run(env, work, "sandbox", "start") == 0
    url = subprocess.run(
        [sys.executable, "-m", "provisioner", "sandbox", "status"], env=env, capture_output=True, text=True
    ).stdout.strip()
    for key, value in {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox",
                       "AWS_SESSION_TOKEN": "sandbox", "AWS_REGION": "us-east-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    baseline = inventory()

    rng = random.Random(20261122)
    killed = 0
    for _ in range(KILLS):
        for command in (["up", "--yes"], ["down", "--yes", "--delete-protected"]):
            proc = start(env, work, *command)
            time.sleep(rng.uniform(0.6, 2.0))  # start-up takes ~0.5 s; the apply itself ~1 s
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=60)
    assert killed >= KILLS // 2, "the kills must land while mfprov is working"
    print(f"{killed} SIGKILLs landed in {2 * KILLS} runs of up/down")

    assert run(env, work, "up", "--yes") == 0
    made = {k: len(v - baseline[k]) for k, v in inventory().items()}
    assert made == EXPECTED, made
    assert run(env, work, "drift") == 0
    assert run(env, work, "down", "--yes", "--delete-protected") == 0
    assert inventory() == baseline


@pytest.fixture
def ctrl_c_reaches_children() -> Iterator[None]:
    """Ctrl-C in a terminal reaches the command the shell runs in the foreground, with SIGINT at its default. A
    suite started in the background (`python -m pytest &`, as some runners do) has SIGINT ignored, and every
    process it starts inherits that: the `up` below would never see the signal. A Python handler is reset to
    the default in a child, so the child gets what a terminal gives it."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_finishes_the_calls_in_flight_and_saves_state(
    sandbox_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    ctrl_c_reaches_children: None,
) -> None:
    import json

    env = sandbox_env
    work = tmp_path / "work"
    work.mkdir()
    assert run(env, work, "init", "--name", "ctrlc") == 0
    # One resource at a time: the apply then lasts seconds, so the signal lands mid-apply even on a busy machine.
    config = work / "mfprov.toml"
    config.write_text(config.read_text().replace("parallelism = 8", "parallelism = 1"))
    assert run(env, work, "sandbox", "start") == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioner", "--sandbox", "up", "--yes"],
        cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    # Wait until resources are being created, then press Ctrl-C.
    state_file = work / ".mfprov" / "state.json"
    deadline = time.monotonic() + 60
    while not state_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    at_signal = len(json.loads(state_file.read_text())["resources"]), proc.poll()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    saved = json.loads(state_file.read_text())  # whole, valid JSON: written atomically
    assert proc.returncode == 1, f"resources in the state, exit code when signalled: {at_signal}\n{err}"
    assert "interrupted after" in err and "Run `mfprov up` again" in err, err
    assert not (work / ".mfprov" / "lock.json").exists(), "the lock must be released"
    assert 0 < len(saved["resources"]) < 21
    assert all(r["id"] and r["status"] == "ready" for r in saved["resources"].values()), "in-flight calls finished"
    assert run(env, work, "up", "--yes") == 0
    assert run(env, work, "drift") == 0
    assert run(env, work, "down", "--yes", "--delete-protected") == 0
