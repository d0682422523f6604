"""Progress in a real terminal (issue 16.9): `mfprov --sandbox up` and `down` run in an 80-column tmux pane, a
person answers their questions with the keyboard, and the screen (tmux capture-pane) shows each resource with its
elapsed time and the summary, with nothing cut or garbled.

tmux is the terminal here; without it the test is skipped, saying so (`apt-get install tmux` provides it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux, the terminal this test drives"),
]

BIN = Path(sys.executable).parent
WIDTH = 80
#: a resource done: its address, what was done and the elapsed time, whole on one line of the screen
DONE = re.compile(r"^  ✓ (\S+)  (create|update|replace|delete) in \d+\.\ds$")
STARTED = re.compile(r"^ {2}(?: {2}\+| {2}~|-/\+| {2}-) (\S+)  (create|update|replace|delete)…$")


class Pane:
    """One tmux server of its own (its own socket), one 80-column window running a script."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.socket = f"mfprov-test-{os.getpid()}-{tmp.name}"
        self.env = env
        conf = tmp / "tmux.conf"
        conf.write_text("set -g history-limit 100000\nset -g remain-on-exit on\n")
        self.conf = str(conf)

    def tmux(self, *args: str) -> str:
        command = ["tmux", "-L", self.socket, "-f", self.conf, *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=True).stdout

    def start(self, script: Path) -> None:
        self.tmux("new-session", "-d", "-s", "t", "-x", str(WIDTH), "-y", "40", f"bash {script}")

    def screen(self, joined: bool = True) -> str:
        """Everything the pane showed, scrollback included; ``joined``: lines the terminal wrapped made whole."""
        return self.tmux("capture-pane", "-p", *(["-J"] if joined else []), "-S", "-", "-E", "-", "-t", "t")

    def wait_for(self, text: str, limit: float = 300) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.5)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def type(self, keys: str) -> None:
        self.tmux("send-keys", "-t", "t", keys, "Enter")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True)


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METAFLOW_", "TMUX"))}
    env.update(
        MFPROV_HOME=str(tmp_path / "mfprov-home"),
        MFPROV_SANDBOX_PORT=str(4900 + os.getpid() % 90),
        HOME=str(tmp_path / "home"),
        TERM="xterm-256color",
        LANG="C.UTF-8",
        PATH=f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}",
    )
    (tmp_path / "home").mkdir()
    p = Pane(tmp_path, env)
    yield p
    p.close()
    subprocess.run([str(BIN / "mfprov"), "sandbox", "stop"], env=env, capture_output=True, timeout=60)


def test_up_and_down_in_an_80_column_terminal(pane: Pane, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    script = tmp_path / "session.sh"
    script.write_text(
        f"cd {work}\n"
        "mfprov init --name terminal-check-with-a-longer-name\n"
        "mfprov --sandbox up; echo UP-EXIT=$?\n"
        "mfprov --sandbox state list --json > state.json; echo LISTED\n"
        "mfprov --sandbox down; echo DOWN-EXIT=$?\n"
    )
    pane.start(script)
    pane.wait_for("Apply these changes? [y/N]:")
    pane.type("y")
    screen = pane.wait_for("LISTED")
    assert "UP-EXIT=0" in screen, screen

    lines = screen.splitlines()
    made = json.loads((work / "state.json").read_text())["resources"]
    addresses = {r["address"] for r in made}
    done = {m.group(1) for line in lines if (m := DONE.match(line))}
    assert done == addresses  # every resource, with its elapsed time, on a line of its own
    started = {m.group(1) for line in lines if (m := STARTED.match(line))}
    assert started == addresses
    # nothing else claims a resource: no line where two progress lines ran into each other
    for line in lines:
        if "✓" in line or re.search(r"(create|update|replace|delete)…", line):
            assert DONE.match(line) or STARTED.match(line), f"garbled: {line!r}"
    [summary] = [line for line in lines if line.startswith("Apply complete: ")]
    assert re.fullmatch(
        rf"Apply complete: {len(addresses)} created, 0 updated, 0 replaced, 0 deleted in \d+\.\ds, "
        r"\d+ AWS calls \(\d+ mutating\)",
        summary,
    ), summary
    # the terminal wrapped long lines (the plan's, the summary) and cut none: as drawn, no line is wider than it
    assert all(len(line) <= WIDTH for line in pane.screen(joined=False).splitlines())
    assert any(len(line) > WIDTH for line in lines)  # something was long enough to need wrapping

    pane.wait_for("Delete them? [y/N]:")
    pane.type("n")
    screen = pane.wait_for("DOWN-EXIT=")
    assert "Declined: nothing changed." in screen and "DOWN-EXIT=0" in screen
    assert "kept kms.key.s3  protected" in screen  # the prompt said what it would keep, and why


def test_config_and_sandbox_after_the_command(pane: Pane, tmp_path: Path) -> None:
    """`mfprov plan --sandbox` (issue 16.4): the options every command takes, after its name, in a real shell."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    env = {**pane.env, "PYTHONUNBUFFERED": "1"}

    def mfprov(*args: str, cwd: Path = work) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN / "mfprov"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.returncode == 0, f"mfprov {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    mfprov("init", "--name", "options-after")
    assert "Apply complete" in mfprov("up", "--sandbox", "--yes").stderr
    config = str(work / "mfprov.toml")
    planned = json.loads(mfprov("plan", "--config", config, "--sandbox", "--json", cwd=elsewhere).stdout)
    assert planned["empty"] and planned["stack"] == "options-after"
    listed = mfprov("state", "list", "--sandbox", "-c", config, cwd=elsewhere).stdout
    assert any(line.startswith("s3.bucket.datastore ") for line in listed.splitlines())
    assert "In sync" in mfprov("drift", "--sandbox").stderr
