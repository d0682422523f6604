"""The shared state store on S3, for teams: one object per stack, a lock object beside it.

The lock is taken with a conditional write (``If-None-Match: *``), which S3 performs atomically: of two
runs, exactly one creates the lock object, the other is told who holds it. A stale lock (its holder died on
this host) is taken over with a conditional write on the ETag read (``If-Match``): of two runs taking over the
same stale lock, one replaces it and the other is refused. A release is a conditional delete on the ETag this
run wrote, so a lock that is no longer this run's is never deleted. Every save is a conditional write on the
ETag last seen (``If-Match``), so a state written meanwhile by someone else is never overwritten. The bucket
must have versioning on: every save is a new version, so an earlier state can be restored
(``mfprov state history`` / ``mfprov state restore VERSION``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import ClientError

from provisioner.core.errors import error_code
from state.document import SchemaTooNew, StateDocument, document_text, now
from state.local import (
    DamagedState,
    LockUnreadable,
    StateError,
    StateLocked,
    me,
    parse_document,
    same_stack,
    stale,
)

#: the answers S3 gives a conditional request whose condition does not hold (409: a concurrent one won)
LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
MISSING = ("NoSuchKey", "404", "NotFound")


class S3StateStore:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.s3 = client
        self.bucket = bucket
        self.key = key
        self.lock_key = key + ".lock"
        self._etag: str | None = None
        self._held = False
        self._lock_etag: str | None = None
        self._write_lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _refused(self, err: ClientError, doing: str) -> StateError:
        """A ClientError of the state bucket as one line."""
        code = error_code(err)
        if code == "NoSuchBucket":
            return StateError(f"the state bucket {self.bucket} does not exist; create it (with versioning on) or fix "
                              "[state] bucket in the config")  # fmt: skip
        message = err.response.get("Error", {}).get("Message", "")
        return StateError(f"cannot {doing} {self.where}: {code}: {message}")

    def check_bucket(self) -> None:
        try:
            status = self.s3.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except ClientError as err:
            raise StateError(f"cannot use the state bucket {self.bucket}: {err}") from None
        if status != "Enabled":
            raise StateError(
                f"the state bucket {self.bucket} must have versioning enabled, so earlier states can be restored"
            )

    # ------------------------------------------------------------ document

    def exists(self) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as err:
            if error_code(err) in MISSING:
                return False
            raise self._refused(err, "read") from None
        return True

    def load(self, stack: str, version_id: str | None = None, current: StateDocument | None = None) -> StateDocument:
        kw = {"VersionId": version_id} if version_id else {}
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=self.key, **kw)
        except ClientError as err:
            if version_id and error_code(err) in ("NoSuchVersion", "InvalidArgument", "NoSuchKey", "404"):
                raise StateError(
                    f"{self.where} has no version {version_id!r}; `mfprov state history` lists its versions"
                ) from None
            if error_code(err) in ("NoSuchKey", "404"):
                self._etag = None
                return StateDocument(stack=stack)
            raise self._refused(err, "read") from None
        self._etag = got["ETag"]
        try:
            doc, _ = parse_document(got["Body"].read())  # every earlier version stays in the bucket's history
        except SchemaTooNew as err:
            raise StateError(f"{self.where} has {err}") from None
        except DamagedState as err:
            which = f" (version {version_id})" if version_id else ""
            raise StateError(
                f"the state {self.where}{which} is damaged ({err}); "
                "`mfprov state history` lists earlier versions, `mfprov state restore VERSION` brings one back"
            ) from None
        same_stack(doc, stack, current, self.where)
        return doc

    def save(self, doc: StateDocument) -> None:
        with self._write_lock:
            doc.serial += 1
            doc.updated_at = now()
            body = document_text(doc).encode()
            cond = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
            try:
                self._etag = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **cond)["ETag"]
            except ClientError as err:
                if error_code(err) in LOST_RACE:
                    raise StateError(
                        f"{self.where} was written by someone else since this run read it; nothing was overwritten. "
                        "Run the command again."
                    ) from None
                raise self._refused(err, "write") from None

    def restore(self, version: str, stack: str) -> StateDocument:
        """Make an earlier version current, whatever the current one holds: only its ETag is read (the restore is
        a conditional write on it, so a save made meanwhile is not overwritten)."""
        try:
            current: StateDocument | None = self.load(stack)
        except StateError:
            current = None  # a damaged current state is what restore is for
        doc = self.load(stack, version_id=version, current=current)
        try:
            self._etag = self.s3.head_object(Bucket=self.bucket, Key=self.key)["ETag"]
        except ClientError as err:
            if error_code(err) not in MISSING:
                raise self._refused(err, "read") from None
            self._etag = None
        self.save(doc)
        return doc

    def history(self) -> list[dict[str, Any]]:
        try:
            versions = self.s3.list_object_versions(Bucket=self.bucket, Prefix=self.key).get("Versions", [])
        except ClientError as err:
            raise self._refused(err, "list the versions of") from None
        return [
            {"version": v["VersionId"], "modified": str(v["LastModified"]), "size": v["Size"], "latest": v["IsLatest"]}
            for v in versions
            if v["Key"] == self.key
        ]

    # ---------------------------------------------------------------- lock

    def _read_lock(self) -> tuple[dict[str, Any] | None, str | None]:
        """The lock's holder and the ETag of what was read; (None, None) when unlocked."""
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=self.lock_key)
        except ClientError as err:
            if error_code(err) in MISSING:
                return None, None
            raise self._refused(err, "read the lock of") from None
        body = got["Body"].read()
        try:
            holder = json.loads(body)
        except ValueError:
            raise LockUnreadable(self.lock_key_path, "empty" if not body.strip() else "not JSON") from None
        if not isinstance(holder, dict):
            raise LockUnreadable(self.lock_key_path, "not a lock record")
        return holder, got["ETag"]

    def holder(self) -> dict[str, Any] | None:
        return self._read_lock()[0]

    def holder_alive(self) -> bool:
        holder = self.holder()
        return holder is not None and not stale(holder)

    def acquire(self, command: str) -> None:
        self.check_bucket()
        body = json.dumps(me(command)).encode()
        holder: dict[str, Any] | None = None
        for _ in range(3):
            try:
                put = self.s3.put_object(Bucket=self.bucket, Key=self.lock_key, Body=body, IfNoneMatch="*")
            except ClientError as err:
                if error_code(err) not in LOST_RACE:
                    raise self._refused(err, "lock") from None
            else:
                self._lock_etag, self._held = put["ETag"], True
                return
            holder, etag = self._read_lock()
            if holder is None:
                continue  # released meanwhile
            if not stale(holder):
                raise StateLocked(holder, self.lock_key_path)
            try:  # left by a run that died here: replace exactly that lock, or lose to whoever did first
                put = self.s3.put_object(Bucket=self.bucket, Key=self.lock_key, Body=body, IfMatch=etag)
            except ClientError as err:
                if error_code(err) not in LOST_RACE + MISSING:
                    raise self._refused(err, "lock") from None
                continue
            self._lock_etag, self._held = put["ETag"], True
            return
        raise StateLocked(holder or {}, self.lock_key_path)

    @property
    def lock_key_path(self) -> Any:
        return f"s3://{self.bucket}/{self.lock_key}"

    def release(self) -> None:
        """Delete the lock only if it is still the one this run wrote (a conditional delete on its ETag)."""
        if not self._held:
            return
        self._held = False
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.lock_key, IfMatch=self._lock_etag)
        except ClientError as err:
            if error_code(err) not in LOST_RACE + MISSING:
                raise self._refused(err, "unlock") from None

    def unlock(self) -> None:
        """Remove the lock, whoever holds it (and whatever it holds)."""
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=self.lock_key)
        except ClientError as err:
            raise self._refused(err, "unlock") from None
