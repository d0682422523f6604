"""The embedded sandbox: a local moto server that stands in for AWS, on 127.0.0.1 only.

mfprov starts it detached, remembers it in ``~/.mfprov/sandbox.json`` (``MFPROV_HOME`` moves that),
and finds it again from any later command, so ``up``, ``drift``, ``outputs`` and ``down`` run in
separate invocations against the same local AWS. ``activate`` points boto3 at it through the
standard ``AWS_ENDPOINT_URL`` with dummy credentials, so real ones can never be sent there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
DEFAULT_PORT = 4599
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "sandbox",
    "AWS_SECRET_ACCESS_KEY": "sandbox",
    "AWS_SESSION_TOKEN": "sandbox",
}


class SandboxError(Exception):
    pass


def home() -> Path:
    return Path(os.environ.get("MFPROV_HOME") or Path.home() / ".mfprov")


@dataclass
class SandboxInfo:
    pid: int
    port: int
    started: str
    log: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def _info_path() -> Path:
    return home() / "sandbox.json"


def _responds(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/config", timeout=timeout) as resp:  # noqa: S310 (loopback)
            # a cheap endpoint: data.json would dump the whole account (slow once IAM policies are loaded)
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, OSError):
        return False


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return port
    raise SandboxError(f"no free port on {HOST} from {preferred}")


def status() -> SandboxInfo | None:
    """The running sandbox, or None (a record left by a dead server is removed)."""
    path = _info_path()
    try:
        info = SandboxInfo(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None
    if _responds(info.url):
        return info
    path.unlink(missing_ok=True)
    return None


def _configure(url: str) -> None:
    """No Docker here: let Batch and Lambda be created without running containers."""
    body = json.dumps({"batch": {"use_docker": False}, "lambda": {"use_docker": False}}).encode()
    req = urllib.request.Request(f"{url}/moto-api/config", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=5):  # noqa: S310 (loopback)
        pass


def _spawn(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(*args, **kwargs)
    except OSError as err:
        raise SandboxError(f"cannot start the moto server: {err}") from None


def start(port: int | None = None, timeout: float = 30.0) -> SandboxInfo:
    running = status()
    if running is not None:
        return running
    chosen = _free_port(port or int(os.environ.get("MFPROV_SANDBOX_PORT", DEFAULT_PORT)))
    home().mkdir(parents=True, exist_ok=True)
    log = home() / "sandbox.log"
    env = {
        **os.environ,
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
        # moto makes ~26,000 public AMIs for every region's EC2 it starts (about 0.2 s of CPU each time); nothing
        # mfprov builds names an image (Batch picks its own), so the sandbox does without them
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        **DUMMY_CREDENTIALS,
    }
    env.pop("AWS_ENDPOINT_URL", None)
    with open(log, "ab") as out:
        proc = _spawn(
            [sys.executable, "-m", "provisioner.sandbox.server", "-H", HOST, "-p", str(chosen)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # survives the command that started it
        )
    info = SandboxInfo(pid=proc.pid, port=chosen, started=time.strftime("%Y-%m-%dT%H:%M:%S"), log=str(log))
    deadline = time.monotonic() + timeout
    while not _responds(info.url, timeout=0.5):
        if proc.poll() is not None:
            raise SandboxError(f"the moto server exited with {proc.returncode}; see {log}")
        if time.monotonic() > deadline:
            proc.kill()
            raise SandboxError(f"the moto server did not answer within {timeout:.0f}s; see {log}")
        time.sleep(0.1)
    try:
        _configure(info.url)
    except (urllib.error.URLError, OSError) as err:
        proc.kill()
        raise SandboxError(f"the moto server on {info.url} refused its configuration ({err}); see {log}") from None
    _info_path().write_text(json.dumps(asdict(info)))
    return info


def command_line(pid: int) -> list[str] | None:
    """The command line of a process (None: no such process, or it cannot be read)."""
    if Path("/proc/self").exists():
        try:
            return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            return None
    try:  # no /proc (macOS): ps says it
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return out.stdout.split() or None


def is_our_server(info: SandboxInfo) -> bool:
    """Whether the record's pid is still the moto server mfprov started on that port (a pid can be reused)."""
    args = command_line(info.pid) or []
    return "provisioner.sandbox.server" in args and str(info.port) in args


def stop() -> bool:
    info = status()
    if info is None:
        return False
    if not is_our_server(info):
        shown = " ".join(command_line(info.pid) or ["(nothing)"])[:80]
        raise SandboxError(
            f"{_info_path()} names pid {info.pid}, which is not the sandbox's moto server (it runs: {shown}); "
            f"nothing was stopped. Stop the server on port {info.port} yourself, then remove {_info_path()}."
        )
    try:
        os.kill(info.pid, signal.SIGTERM)
        # done once it no longer runs the server: an exited server stays a zombie until whoever adopted it reaps
        # it (a second or more under some init processes), and a zombie has no command line
        for _ in range(100):
            if not is_our_server(info):
                break
            time.sleep(0.05)
        else:
            os.kill(info.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _info_path().unlink(missing_ok=True)
    return True


def activate(info: SandboxInfo, region: str | None = None) -> None:
    """Point this process (and its children, e.g. metaflow) at the sandbox."""
    os.environ.update(DUMMY_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = info.url
    os.environ.pop("AWS_PROFILE", None)
    if region or not os.environ.get("AWS_REGION"):
        os.environ["AWS_REGION"] = region or "us-east-1"
        os.environ["AWS_DEFAULT_REGION"] = os.environ["AWS_REGION"]
