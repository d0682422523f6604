"""The local state store: ``.mfprov/state.json`` beside the config, written atomically, under a lock.

Every write goes to a temporary file (mode 600 from its creation) that is fsynced and renamed over the old one,
so a crash leaves either the old or the new document, never half of one; the previous document is kept as
``state.json.bak``. The lock file names its holder (user, host, pid, command, since when, a token of its own);
a lock left by a process that no longer exists on this host is recognised as stale and taken over.

Taking the lock, taking over a stale one and releasing it happen under an exclusive ``flock`` on
``lock.guard`` (the kernel drops it when its process dies, so it can never be left behind): of two runs taking
over the same stale lock, the second sees the first one's live lock, and a release deletes the lock only while
it still carries this run's token. The lock file itself appears complete (it is linked into place), so an empty
or unparseable one is damage, reported as such, never mistaken for "not locked".
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from state.document import SCHEMA_VERSION, SchemaTooNew, StateDocument, damage, document_text, migrate, now
from state.private import PRIVATE, private_copy, write_private


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


class LockUnreadable(StateError):
    """A lock file that names no holder (a run killed while taking it, or a damaged file)."""

    def __init__(self, path: object, what: str) -> None:
        super().__init__(
            f"the lock {path} cannot be read ({what}), so who holds it is unknown. If no mfprov command is running "
            "on this stack, `mfprov state unlock --force` removes it."
        )
        self.path = path


class DamagedState(ValueError):
    """A state document that cannot be read; the message says where and what."""


def parse_document(text: str | bytes) -> tuple[StateDocument, int]:
    """A state document, brought to the current schema, and the schema version it had.

    Raises SchemaTooNew for a document of a newer mfprov, DamagedState (one line) for anything else wrong."""
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise DamagedState("not a JSON object")
        version = raw.get("schema_version", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise DamagedState(f"schema_version {version!r} is not one mfprov ever wrote")
        raw, original = migrate(raw)
        return StateDocument.model_validate(raw), original
    except (SchemaTooNew, DamagedState):
        raise
    except (ValueError, ValidationError, TypeError, AttributeError, KeyError) as err:
        raise DamagedState(damage(err)) from err


def same_stack(doc: StateDocument, stack: str, current: StateDocument | None, where: object) -> None:
    """Refuse a document of another stack: another name, or (both known) another stack identity."""
    if doc.stack != stack:
        raise StateError(f"{where} belongs to stack {doc.stack!r}, not {stack!r}")
    mine, theirs = getattr(current, "stack_id", None), getattr(doc, "stack_id", None)
    if mine and theirs and mine != theirs:
        raise StateError(f"{where} belongs to another stack named {stack!r} (identity {theirs}, not {mine})")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale(holder: dict[str, Any]) -> bool:
    """Whether a lock's holder is known dead: it ran on this host and its process is gone."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        pid = int(holder.get("pid") or 0)
    except (TypeError, ValueError):
        return False
    return pid > 0 and not _pid_alive(pid)  # no pid: unknown, so not known dead


def me(command: str) -> dict[str, Any]:
    """The lock record of this run; the token tells this run's lock from any other, even in one process."""
    return {
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "command": command,
        "since": now(),
        "token": secrets.token_hex(8),
    }


class LocalStateStore:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.path = directory / "state.json"
        self.backup = directory / "state.json.bak"
        self.lock_path = directory / "lock.json"
        self.guard_path = directory / "lock.guard"
        self._write_lock = threading.Lock()
        self._held = False
        self._token: str | None = None

    # ------------------------------------------------------------ document

    def exists(self) -> bool:
        return self.path.exists()

    def _read(self, path: Path, stack: str, current: StateDocument | None = None) -> StateDocument:
        text = path.read_text()
        try:
            doc, version = parse_document(text)
        except SchemaTooNew as err:
            raise StateError(f"{path} has {err}") from None
        except DamagedState as err:
            hint = (
                f" The previous state is in {self.backup}: `mfprov state restore bak` brings it back."
                if path != self.backup and self.backup.exists()
                else ""
            )
            raise StateError(f"the state file {path} is damaged: {err}.{hint}") from None
        if version < SCHEMA_VERSION and path == self.path:
            # The original stays beside it: a downgrade of mfprov can go back to it by hand.
            keep = self.dir / f"state.v{version}.json"
            if not keep.exists():
                write_private(keep, text)
        same_stack(doc, stack, current, path)
        return doc

    def load(self, stack: str) -> StateDocument:
        if not self.path.exists():
            return StateDocument(stack=stack)
        return self._read(self.path, stack)

    def save(self, doc: StateDocument) -> None:
        """Atomically replace the state file (called after every resource, from worker threads)."""
        with self._write_lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            doc.serial += 1
            doc.updated_at = now()
            text = document_text(doc) + "\n"
            tmp = private_copy(self.path, text)
            if self.path.exists():
                os.replace(self.path, self.backup)
                os.chmod(self.backup, PRIVATE)  # a state written by an older mfprov may be 644
            os.replace(tmp, self.path)

    def restore(self, version: str, stack: str) -> StateDocument:
        """Make the backup the current state, whatever the current file holds (it becomes the backup)."""
        if version != "bak" or not self.backup.exists():
            raise StateError("the local state keeps one earlier version, `bak`; `mfprov state history` shows it")
        try:
            current = self.load(stack)
        except StateError:
            current = None  # a damaged current state is what restore is for
        doc = self._read(self.backup, stack, current)
        self.save(doc)
        return doc

    # ---------------------------------------------------------------- lock

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Every change to the lock file happens under this (a kernel lock, gone with its process)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.guard_path, os.O_RDWR | os.O_CREAT, PRIVATE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the flock

    def _read_lock(self) -> dict[str, Any] | None:
        """The holder the lock file names; None when there is no lock; LockUnreadable when it names nobody."""
        try:
            text = self.lock_path.read_text()
        except FileNotFoundError:
            return None
        try:
            holder = json.loads(text)
        except ValueError:
            raise LockUnreadable(self.lock_path, "empty" if not text.strip() else "not JSON") from None
        if not isinstance(holder, dict):
            raise LockUnreadable(self.lock_path, "not a lock record")
        return holder

    def holder(self) -> dict[str, Any] | None:
        return self._read_lock()

    def holder_alive(self) -> bool:
        """Whether the lock's holder still runs (only knowable on the same host: elsewhere, assume it does)."""
        return not stale(self._read_lock() or {"host": socket.gethostname(), "pid": 0})

    def acquire(self, command: str) -> None:
        record = me(command)
        with self._guard():
            holder = self._read_lock()
            if holder is not None:
                if not stale(holder):
                    raise StateLocked(holder, self.lock_path)
                self.lock_path.unlink()  # under the guard: no other run can take it over meanwhile
            tmp = private_copy(self.lock_path, json.dumps(record))
            try:
                os.link(tmp, self.lock_path)  # appears whole; fails if a run without the guard holds it
            except FileExistsError:
                raise StateLocked(self._read_lock() or {}, self.lock_path) from None
            finally:
                tmp.unlink()
        self._token = record["token"]
        self._held = True

    @property
    def where(self) -> str:
        return str(self.path)

    def unlock(self) -> None:
        """Remove the lock, whoever holds it (and whatever it holds)."""
        with self._guard():
            self.lock_path.unlink(missing_ok=True)

    def history(self) -> list[dict[str, Any]]:
        """The local store keeps one earlier version: ``state.json.bak``."""
        return (
            [{"version": "bak", "modified": now(), "size": self.backup.stat().st_size, "latest": False}]
            if (self.backup.exists())
            else []
        )

    def release(self) -> None:
        """Remove the lock if it is still this run's (`state unlock --force` may have handed it to another)."""
        if not self._held:
            return
        self._held = False
        with self._guard():
            try:
                holder = self._read_lock()
            except LockUnreadable:
                return  # not ours: ours is always whole
            if holder is not None and holder.get("token") == self._token:
                self.lock_path.unlink()
