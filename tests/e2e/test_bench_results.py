"""bench/results.json, which the docs' figures are rendered from, still counts what the code does today."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import figures
from provisioner.core.session import is_mutating


def mutating(calls: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in calls.items() if is_mutating(op.split(":", 1)[1])}

pytestmark = pytest.mark.e2e


def test_the_recorded_results_count_what_the_code_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh run of every preset must make what bench/results.json says: the same resources and exactly the same
    mutating calls per operation; reads within 15%. Reads vary a little: parallel readers of a shared lookup (a KMS
    key's description) may both ask before the first answer is kept, and list calls page through whatever else the
    account holds (the bench runs each preset four times in one sandbox first). Times are not compared."""
    from bench.__main__ import COMMANDS, PRESET_STACKS, lifecycle
    from provisioner.sandbox import control as sandbox

    recorded = figures.load()["presets"]
    monkeypatch.setenv("MFPROV_HOME", str(tmp_path / "home"))
    saved = dict(os.environ)
    info = sandbox.start()
    try:
        sandbox.activate(info, "us-east-1")
        for preset in PRESET_STACKS:
            measured = lifecycle(tmp_path, preset, 0)
            assert measured["up"].resources == recorded[preset]["resources"], preset
            for command in COMMANDS:
                now, then = dict(measured[command].calls), recorded[preset]["calls"][command]
                assert mutating(now) == mutating(then), f"{preset} {command}: rerun python -m bench"
                reads_now, reads_then = sum(now.values()) - sum(mutating(now).values()), sum(then.values()) - sum(
                    mutating(then).values()
                )
                assert abs(reads_now - reads_then) <= 0.15 * reads_then, f"{preset} {command}: rerun python -m bench"
    finally:
        sandbox.stop()
        os.environ.clear()
        os.environ.update(saved)
