"""Every shell recipe of README.md and of the pages under docs/ runs as written (a project rule), read from the
files when the test runs.

Each ```bash block runs in a folder of its own, with its own HOME and its own sandbox (a moto server on
127.0.0.1), ``EDITOR=true``, a small ``flow.py`` when the recipe names one, and a terminal that answers "y" when a
command asks first. What a block takes for granted, because the README's reader would have done it just before, is
made first:

- a recipe of the sandbox (``--sandbox``, ``mfprov sandbox``, ``mfprov demo``) runs with no AWS variable at all, as
  on a machine with no AWS account; the stack it works on is made with ``--sandbox``;
- any other recipe is for a real account: it runs against the sandbox through ``AWS_ENDPOINT_URL`` with dummy
  keys and ``AWS_REGION`` (no ``AWS_DEFAULT_REGION``, no AWS config file), the way a user's shell points the AWS
  tools at an account;
- a recipe that uses a stack without running ``mfprov init`` gets one (``mfprov init``), brought up first unless
  the recipe runs ``up`` itself, and the Metaflow profiles it names but does not write are written.

The few lines that cannot run on this machine are in ``CANNOT_RUN_HERE`` with the reason; a test checks that each
still is in the README, so the list cannot outlive them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import termios
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: the pages whose ```bash blocks are recipes: the README and every page of docs/
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

#: exact lines of the README that are not run here, and why (everything else of their block is)
CANNOT_RUN_HERE = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]'": (
        "downloads packages from PyPI, and tests send nothing beyond 127.0.0.1; this test runs in the "
        "environment that line makes"
    ),
    "python -m pytest": "runs the whole suite, this test included: it would run itself",
    'python -m pytest -m "not e2e"': "runs the rest of the suite, which runs on its own beside this test",
    # docs/RELIABILITY.md: tests of this suite, with more rounds; the suite runs each of them already
    "MFPROV_FAULT_SEEDS=16 python -m pytest -n 0 tests/reliability/test_faults.py -s": "a part of the suite",
    "MFPROV_KILLS=25 python -m pytest -n 0 tests/e2e/test_kills.py -s -k sigkill": "a part of the suite",
    'python -m pytest tests/reliability tests/unit/test_config_fuzz.py tests/stack -k "interrupted or lost_state or '
    'damaged"': "a part of the suite",
    "MFPROV_PREFLIGHT_PRESETS=personal,standard python -m pytest tests/iam/test_preflight.py"
    "   # every statement of both": "a part of the suite",
    "METAFLOW_PROFILE=dev python flow.py run --with batch": (
        "runs each step as an AWS Batch job, in a container: the sandbox runs no container (its Batch marks a "
        "job done without running it)"
    ),
}

_NEEDS_MLFLOW_SERVER = (
    "talks to a running MLflow server (basic auth) with the mlflow client: the sandbox runs no container and the "
    "project does not install mlflow; tests/stack/test_mlflow_basic_auth.py runs the fetch command, the outputs "
    "and the server's start-up against stand-ins"
)
#: whole blocks that cannot run on this machine, by page and heading, and why
BLOCKS_NOT_RUN_HERE = {
    ("mlflow-auth.md", "Fetching the password"): _NEEDS_MLFLOW_SERVER,
    ("mlflow-auth.md", "Adding users"): _NEEDS_MLFLOW_SERVER,
    ("mlflow-auth.md", "Rotating the admin's password"): _NEEDS_MLFLOW_SERVER + "; it also needs the AWS CLI",
}

FLOW = textwrap.dedent(
    """
    from metaflow import FlowSpec, step


    class ReadmeFlow(FlowSpec):
        @step
        def start(self):
            self.greeting = "hello"
            self.next(self.end)

        @step
        def end(self):
            print(self.greeting, "from the README")


    if __name__ == "__main__":
        ReadmeFlow()
    """
)

_FENCE = re.compile(r"^```(bash|sh|shell)\s*\n(.*?)^```\s*$", re.S | re.M)
_NEEDS_STACK = re.compile(r"\bmfprov (?:--sandbox )?(?:plan|up|drift|down|outputs|graph|import|state|migrate|cost)\b")
_RUNS_UP = re.compile(r"\bmfprov (?:--sandbox )?up\b")
_SANDBOX = re.compile(r"--sandbox|\bmfprov (?:sandbox|demo)\b")
_PROFILE_USED = re.compile(r"METAFLOW_PROFILE=([\w-]+)")
_PROFILE_WRITTEN = re.compile(r"--write-profile[ =]([\w-]+)")


@dataclass(frozen=True)
class Recipe:
    page: str
    number: int
    heading: str
    text: str

    @property
    def runnable(self) -> str:
        """The block, with the lines of CANNOT_RUN_HERE left out (a no-op in their place keeps line numbers)."""
        lines = self.text.splitlines()
        return "\n".join(": not run here" if line.strip() in CANNOT_RUN_HERE else line for line in lines)

    @property
    def in_the_sandbox(self) -> bool:
        return bool(_SANDBOX.search(self.text))


def recipes() -> list[Recipe]:
    found = []
    for page in PAGES:
        text = page.read_text()
        for n, match in enumerate(_FENCE.finditer(text), 1):
            before = re.sub(r"^```.*?^```", "", text[: match.start()], flags=re.S | re.M)  # a `# comment` is no heading
            headings = re.findall(r"^#+ (.+)$", before, re.M)
            found.append(Recipe(page.name, n, headings[-1] if headings else "", match.group(2)))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _base_env(tmp: Path) -> dict[str, str]:
    """A shell of a new machine: nothing of the caller's AWS, Metaflow or mfprov settings."""
    home = tmp / "home"
    home.mkdir()
    return {
        "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "USER": "readme",
        "USERNAME": "readme",
        "LANG": "C.UTF-8",
        "EDITOR": "true",
        "MFPROV_HOME": str(tmp / "mfprov-home"),
        "MFPROV_SANDBOX_PORT": str(_free_port()),
        "PYTHONUNBUFFERED": "1",
        "AWS_CONFIG_FILE": str(home / ".aws" / "config"),  # absent: no profile, no region from one
        "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _sh(env: dict[str, str], cwd: Path, command: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["bash", "-e", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, f"setup `{command}` -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _terminal_that_says_yes() -> tuple[int, int]:
    """A terminal whose user answers "y" to every question (mfprov asks before up and down): its two ends."""
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    os.write(master, b"y\n" * 32)
    return master, slave


def given(recipe: Recipe, env: dict[str, str], work: Path) -> dict[str, str]:
    """What the recipe takes for granted; returns its environment."""
    mfprov = f"{BIN / 'mfprov'}"
    if recipe.in_the_sandbox:
        via = f"{mfprov} --sandbox"
    else:
        url = _sh(env, work, f"{mfprov} sandbox start >&2 && {mfprov} sandbox status").stdout.strip()
        assert url.startswith("http://127.0.0.1:"), url
        env = {
            **env,
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_REGION": "us-east-1",
        }
        via = mfprov
    if "flow.py" in recipe.text:
        (work / "flow.py").write_text(FLOW)
    uses_stack = _NEEDS_STACK.search(recipe.text) or _PROFILE_USED.search(recipe.text)
    if uses_stack and "mfprov init" not in recipe.text:
        _sh(env, work, f"{mfprov} init --name readme")
        if not _RUNS_UP.search(recipe.text):
            _sh(env, work, f"{via} up --yes")
        written = set(_PROFILE_WRITTEN.findall(recipe.text))
        for profile in sorted(set(_PROFILE_USED.findall(recipe.text)) - written):
            _sh(env, work, f"{via} outputs --write-profile {profile}")
    return env


@pytest.mark.parametrize(
    "recipe",
    [
        r
        for r in recipes()
        if r.runnable.replace(": not run here", "").strip() and (r.page, r.heading) not in BLOCKS_NOT_RUN_HERE
    ],
    ids=lambda r: f"{r.page}-{r.number}-{re.sub(r'[^a-z0-9]+', '-', r.heading.lower()).strip('-')}",
)
def test_the_readme_recipe_runs_as_written(recipe: Recipe, tmp_path: Path) -> None:
    env = _base_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    master, tty = _terminal_that_says_yes()
    try:
        env = given(recipe, env, work)
        (tmp_path / "recipe.sh").write_text(recipe.runnable + "\n")
        proc = subprocess.run(
            ["bash", "-e", "-o", "pipefail", str(tmp_path / "recipe.sh")],
            cwd=work, env=env, stdin=tty, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
    finally:
        os.close(tty)
        os.close(master)
        subprocess.run([str(BIN / "mfprov"), "sandbox", "stop"], env=env, capture_output=True, timeout=60)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{recipe.page} block {recipe.number} ({recipe.heading}) -> {proc.returncode}\n{said}"
    # `a && b` does not stop `bash -e` when `a` fails: an error line or a traceback anywhere is a failure too
    assert not re.search(r"^error:|Traceback \(most recent call last\)", said, re.M), said


def test_every_line_not_run_here_is_still_in_the_docs() -> None:
    lines = {line.strip() for r in recipes() for line in r.text.splitlines()}
    assert set(CANNOT_RUN_HERE) <= lines, set(CANNOT_RUN_HERE) - lines
    blocks = {(r.page, r.heading) for r in recipes()}
    assert set(BLOCKS_NOT_RUN_HERE) <= blocks, set(BLOCKS_NOT_RUN_HERE) - blocks
