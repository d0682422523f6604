"""The shared state store on S3, for teams: one object per stack, a lock object beside it.

The lock is taken with a conditional write (``If-None-Match: *``), which S3 performs atomically: of two
runs, exactly one creates the lock object, the other is told who holds it. Every save is a conditional
write on the ETag last seen (``If-Match``), so a state written meanwhile by someone else is never
overwritten. The bucket must have versioning on: every save is a new version, so an earlier state can be
restored (``mfprov state history`` / ``mfprov state restore VERSION``).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from resources.base import error_code
from state.document import SchemaTooNew, StateDocument, damage, migrate, now
from state.local import StateError, StateLocked, _pid_alive


class S3StateStore:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.s3 = client
        self.bucket = bucket
        self.key = key
        self.lock_key = key + ".lock"
        self._etag: str | None = None
        self._held = False
        self._write_lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

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
            if error_code(err) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def load(self, stack: str, version_id: str | None = None) -> StateDocument:
        kw = {"VersionId": version_id} if version_id else {}
        try:
            got = self.s3.get_object(Bucket=self.bucket, Key=self.key, **kw)
        except ClientError as err:
            if error_code(err) in ("NoSuchKey", "404"):
                self._etag = None
                return StateDocument(stack=stack)
            raise
        self._etag = got["ETag"]
        try:
            raw, _ = migrate(json.loads(got["Body"].read()))  # every earlier version stays in the bucket's history
            doc = StateDocument.model_validate(raw)
        except SchemaTooNew as err:
            raise StateError(f"{self.where} has {err}") from None
        except (ValueError, ValidationError, TypeError, AttributeError) as err:
            raise StateError(
                f"the state {self.where} is damaged ({damage(err)}); "
                "`mfprov state history` lists earlier versions, `mfprov state restore VERSION` brings one back"
            ) from err
        if doc.stack != stack:
            raise StateError(f"{self.where} belongs to stack {doc.stack!r}, not {stack!r}")
        return doc

    def save(self, doc: StateDocument) -> None:
        with self._write_lock:
            doc.serial += 1
            doc.updated_at = now()
            body = json.dumps(doc.model_dump(mode="json"), indent=2, sort_keys=True).encode()
            cond = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
            try:
                self._etag = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body, **cond)["ETag"]
            except ClientError as err:
                if error_code(err) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise StateError(
                        f"{self.where} was written by someone else since this run read it; nothing was overwritten. "
                        "Run the command again."
                    ) from None
                raise

    def history(self) -> list[dict[str, Any]]:
        versions = self.s3.list_object_versions(Bucket=self.bucket, Prefix=self.key).get("Versions", [])
        return [
            {"version": v["VersionId"], "modified": str(v["LastModified"]), "size": v["Size"], "latest": v["IsLatest"]}
            for v in versions
            if v["Key"] == self.key
        ]

    # ---------------------------------------------------------------- lock

    def holder(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.s3.get_object(Bucket=self.bucket, Key=self.lock_key)["Body"].read()))
        except ClientError as err:
            if error_code(err) in ("NoSuchKey", "404"):
                return None
            raise

    def holder_alive(self) -> bool:
        holder = self.holder() or {}
        if holder.get("host") != socket.gethostname():
            return True
        return _pid_alive(int(holder.get("pid", 0) or 0))

    def acquire(self, command: str) -> None:
        self.check_bucket()
        me = {"user": getpass.getuser(), "host": socket.gethostname(), "pid": os.getpid(), "command": command,
              "since": now()}  # fmt: skip
        for _ in range(2):
            try:
                self.s3.put_object(Bucket=self.bucket, Key=self.lock_key, Body=json.dumps(me).encode(), IfNoneMatch="*")
            except ClientError as err:
                if error_code(err) not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
                holder = self.holder() or {}
                if holder and not self.holder_alive():
                    self.s3.delete_object(Bucket=self.bucket, Key=self.lock_key)  # left by a run that died here
                    continue
                raise StateLocked(holder, self.lock_key_path) from None
            self._held = True
            return
        raise StateLocked(self.holder() or {}, self.lock_key_path)

    @property
    def lock_key_path(self) -> Any:
        return f"s3://{self.bucket}/{self.lock_key}"

    def release(self) -> None:
        if self._held:
            self.s3.delete_object(Bucket=self.bucket, Key=self.lock_key)
            self._held = False

    def unlock(self) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=self.lock_key)
