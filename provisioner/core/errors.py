"""What a botocore error says, read the same way everywhere (codes, messages, not-found)."""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ClientError


def error_code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


def error_message(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Message", ""))
    return str(err)


GENERIC_NOT_FOUND = ("NotFound", "NoSuch", "ResourceNotFound", "NotFoundException", "ResourceNotFoundException")


def is_not_found(err: BaseException, extra: Iterable[str] = ()) -> bool:
    """NotFound-like codes (``*NotFound``, ``NoSuch*``) plus a type's own codes."""
    code = error_code(err)
    if not code:
        return False
    if code in set(extra):
        return True
    return (
        code.endswith("NotFound")
        or code.startswith("NoSuch")
        or code in GENERIC_NOT_FOUND
        or (code.endswith(".NotFound"))
    )

