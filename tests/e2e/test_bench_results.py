"""bench/results.json, which the docs' figures are rendered from, still counts what the code does today."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import figures

pytestmark = pytest.mark.e2e


def test_the_recorded_results_count_what_the_code_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resources and AWS calls of each command are deterministic in the sandbox: a fresh run of every preset must
    count what bench/results.json says (times vary and are not compared)."""
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
                calls = dict(measured[command].calls)
                assert calls == recorded[preset]["calls"][command], f"{preset} {command}: rerun python -m bench"
    finally:
        sandbox.stop()
        os.environ.clear()
        os.environ.update(saved)
