"""Files only their owner may read (state, plans, Metaflow profiles), written atomically.

The mode is given to ``os.open`` when the file is created, so there is no moment when another user could open
it (a ``chmod`` after the write leaves one). The content goes to a fresh temporary file beside the target,
fsynced and renamed over it: a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE = 0o600


def private_copy(path: Path, text: str) -> Path:
    """A new file beside ``path`` holding ``text``, created with mode 600 and fsynced; the caller renames it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_private(path: Path, text: str) -> None:
    """Atomically replace ``path`` with ``text``, readable by its owner only from the first byte."""
    tmp = private_copy(path, text)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
