"""The layers look only down and no package's modules import each other in a circle (pyproject's import-linter
contracts, docs/ARCHITECTURE.md); each contract is shown to fail on a deliberately wrong import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("provisioner", "resources", "state")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    # the copy comes before the editable install on the path, so it is the code that is read
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken"),
    [
        # a resource reaching up into the engine: the circle issue 18 found
        ("resources/logs.py", "from provisioner.engine import reconcile", "resources is not allowed to import"),
        ("state/s3.py", "import resources.base", "state is not allowed to import resources"),
        ("provisioner/core/retry.py", "import resources.base", "provisioner.core is not allowed to import"),
        ("provisioner/engine/plan.py", "from provisioner.stacks import config", "provisioner.engine is not allowed"),
        ("provisioner/stacks/network.py", "from provisioner.ops import app", "provisioner.stacks is not allowed"),
        ("provisioner/ops/app.py", "from provisioner.sandbox import control", "provisioner.ops is not allowed"),
        ("provisioner/ops/app.py", "from provisioner.cli import views", "provisioner.ops is not allowed"),
    ],
)
def test_an_upward_or_sideways_import_breaks_the_layers(
    copy: Path, module: str, wrong_import: str, broken: str
) -> None:
    with (copy / module).open("a") as f:
        f.write(f"\n{wrong_import}  # deliberately wrong\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout


def test_a_circle_between_modules_of_a_package_breaks_the_acyclic_contract(copy: Path) -> None:
    # metadata_service and ui were such a circle before the stack wired the UI's database access itself
    with (copy / "provisioner/stacks/metadata_service.py").open("a") as f:
        f.write("\nfrom provisioner.stacks import ui  # deliberately wrong\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "no import circle between the modules of a package BROKEN" in result.stdout, result.stdout
