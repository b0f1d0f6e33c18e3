"""How a FindAll run's body (``GET /v1/findall/runs/{id}``) is decoded.

A run of a million entities is a ~200 MB body: these decoders (given to
``RequestPath._request``) read what a caller needs without building its
entities as Python objects: the run's head alone, its bytes with the key
redacted, both from one download, or bytes checked by the caller's reader.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from ._errors import ScoutDecodeError
from ._http import Redactor, decode_json
from ._models import findall_run_head

__all__ = ["checked_run_body", "decode_run_bytes", "decode_run_head", "decode_run_head_and_bytes"]

_Checked = TypeVar("_Checked")


def decode_run_head(method: str, path: str, response: httpx.Response, redact: Redactor) -> Any:
    """A FindAll run object without its entities and candidates, or
    ScoutDecodeError naming the call (retryable)."""
    try:
        head = findall_run_head(redact.in_bytes(response.content))
    except ValueError:
        return decode_json(method, path, response, redact)  # its error, or a non-object payload
    return redact.value(head)  # small: its escaped strings are redacted too


def decode_run_bytes(method: str, path: str, response: httpx.Response, redact: Redactor) -> bytes:
    return redact.in_bytes(response.content)


def decode_run_head_and_bytes(
    method: str, path: str, response: httpx.Response, redact: Redactor
) -> tuple[Any, bytes]:
    content = redact.in_bytes(response.content)
    try:
        head = findall_run_head(content)
    except ValueError:
        return decode_json(method, path, response, redact), content
    return redact.value(head), content


def checked_run_body(
    check: Callable[[bytes], _Checked],
) -> Callable[[str, str, httpx.Response, Redactor], tuple[_Checked, bytes]]:
    """A decoder of the body's bytes and ``check`` of them; a ``ValueError`` of
    ``check`` is a ScoutDecodeError (retried like a dropped connection)."""

    def decode(
        method: str, path: str, response: httpx.Response, redact: Redactor
    ) -> tuple[_Checked, bytes]:
        content = redact.in_bytes(response.content)
        try:
            return check(content), content
        except ValueError as exc:
            raise ScoutDecodeError(
                f"response {response.status_code} is not the run object expected ({exc})",
                method=method,
                path=path,
            ) from None

    return decode
