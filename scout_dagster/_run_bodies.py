"""How a FindAll run's body (``GET /v1/findall/runs/{id}``) is decoded.

A run of a million entities is a ~200 MB body: these decoders (given to
``RequestPath._request``) read what a caller needs without building its
entities as Python objects: the run's head alone, its bytes with the key
redacted, both from one download, or bytes checked by the caller's reader.
A :class:`BodySink` takes the body as it downloads instead, so the body is
never held whole (``Redactor.feeding`` redacts the key on the way).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpx

from ._errors import ScoutDecodeError
from ._http import Redactor, decode_json
from ._models import findall_run_head

__all__ = [
    "BodySink",
    "checked_run_body",
    "decode_run_bytes",
    "decode_run_head",
    "decode_run_head_and_bytes",
    "finished_body",
]

_Checked = TypeVar("_Checked")
_Read = TypeVar("_Read", covariant=True)


class BodySink(Protocol[_Read]):
    """A reader of a response body as it downloads, one per attempt."""

    def feed(self, chunk: bytes | memoryview) -> None:
        """The next bytes of the body (the key already redacted)."""

    def finish(self) -> _Read:
        """What the whole body read as; ``ValueError`` when it is not the
        JSON expected (read again, like a dropped connection)."""

    def close(self) -> None:
        """Let go of whatever it holds (called after every attempt)."""


def finished_body(
    method: str, path: str, response: httpx.Response, sink: BodySink[_Checked]
) -> _Checked:
    """The sink's reading of the whole body; a ``ValueError`` of it is a
    ScoutDecodeError (retried like a dropped connection)."""
    try:
        return sink.finish()
    except ValueError as exc:
        raise _not_the_run(method, path, response, exc) from None


def _not_the_run(
    method: str, path: str, response: httpx.Response, exc: ValueError
) -> ScoutDecodeError:
    return ScoutDecodeError(
        f"response {response.status_code} is not the run object expected ({exc})",
        method=method,
        path=path,
    )


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
            raise _not_the_run(method, path, response, exc) from None

    return decode
