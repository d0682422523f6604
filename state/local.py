"""The local state store: ``.mfprov/state.json`` beside the config, written atomically, under a lock.

Every write goes to a temporary file that is fsynced and renamed over the old one, so a crash
leaves either the old or the new document, never half of one; the previous document is kept as
``state.json.bak``. The lock file names its holder (user, host, pid, command, since when); a lock
left by a process that no longer exists on this host is recognised as stale and taken over.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from state.document import SCHEMA_VERSION, SchemaTooNew, StateDocument, damage, migrate, now


class StateError(Exception):
    pass


class StateLocked(StateError):
    def __init__(self, holder: dict[str, Any], path: object) -> None:
        who = f"{holder.get('user')}@{holder.get('host')} (pid {holder.get('pid')})"
        super().__init__(
            f"the state is locked by {who}, running `{holder.get('command')}` since {holder.get('since')}. "
            f"Wait for it to finish; if it died, `mfprov state unlock` removes the lock ({path})."
        )
        self.holder = holder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalStateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / "state.json"
        self.backup = directory / "state.json.bak"
        self.lock_path = directory / "lock.json"
        self._write_lock = threading.Lock()
        self._held = False

    # ------------------------------------------------------------ document

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, stack: str) -> StateDocument:
        if not self.path.exists():
            return StateDocument(stack=stack)
        text = self.path.read_text()
        try:
            raw, version = migrate(json.loads(text))
            doc = StateDocument.model_validate(raw)
        except SchemaTooNew as err:
            raise StateError(f"{self.path} has {err}") from None
        except (json.JSONDecodeError, ValidationError, TypeError, AttributeError) as err:
            hint = (
                f" The previous state is in {self.backup}: `mfprov state restore bak` brings it back."
                if self.backup.exists()
                else ""
            )
            raise StateError(f"the state file {self.path} is damaged: {damage(err)}.{hint}") from err
        if version < SCHEMA_VERSION:
            # The original stays beside it: a downgrade of mfprov can go back to it by hand.
            keep = self.dir / f"state.v{version}.json"
            if not keep.exists():
                keep.write_text(text)
        if doc.stack != stack:
            raise StateError(f"{self.path} belongs to stack {doc.stack!r}, not {stack!r}")
        return doc

    def save(self, doc: StateDocument) -> None:
        """Atomically replace the state file (called after every resource, from worker threads)."""
        with self._write_lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            doc.serial += 1
            doc.updated_at = now()
            text = json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
            tmp = self.path.with_suffix(f".tmp.{os.getpid()}.{threading.get_ident()}")
            with open(tmp, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            if self.path.exists():
                os.replace(self.path, self.backup)
            os.replace(tmp, self.path)

    # ---------------------------------------------------------------- lock

    def holder(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.lock_path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def holder_alive(self) -> bool:
        """Whether the lock's holder still runs (only knowable on the same host: elsewhere, assume it does)."""
        holder = self.holder() or {}
        if holder.get("host") != socket.gethostname():
            return True
        return _pid_alive(int(holder.get("pid", 0) or 0))

    def acquire(self, command: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        me = {
            "user": getpass.getuser(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "command": command,
            "since": now(),
        }
        for _ in range(2):
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder() or {}
                stale = holder.get("host") == me["host"] and not _pid_alive(int(holder.get("pid", 0) or 0))
                if stale:
                    self.lock_path.unlink(missing_ok=True)
                    continue
                raise StateLocked(holder, self.lock_path) from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self._held = True
            return
        raise StateLocked(self.holder() or {}, self.lock_path)

    @property
    def where(self) -> str:
        return str(self.path)

    def unlock(self) -> None:
        self.lock_path.unlink(missing_ok=True)

    def history(self) -> list[dict[str, Any]]:
        """The local store keeps one earlier version: ``state.json.bak``."""
        return (
            [{"version": "bak", "modified": now(), "size": self.backup.stat().st_size, "latest": False}]
            if (self.backup.exists())
            else []
        )

    def release(self) -> None:
        if self._held:
            self.lock_path.unlink(missing_ok=True)
            self._held = False
