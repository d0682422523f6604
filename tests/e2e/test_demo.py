"""The README's main command, `mfprov demo`, end to end in a private sandbox: every step as narrated, exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_metaflow_e2e import sandbox_env  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e


def test_the_demo_runs_every_step_and_leaves_nothing(sandbox_env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    proc = subprocess.run(
        [sys.executable, "-m", "provisioner", "demo"],
        cwd=tmp_path, env=sandbox_env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "Demo complete" in out and "✗" not in out
    for step in ("drift sees it (exit 2)", "up puts it right", "down keeps what holds data", "nothing is left"):
        assert step in out
    assert "No resource tagged mfprov:stack=demo is left" in out
