"""The edge between httpx and our error tree.

httpx exceptions and error responses are turned into :mod:`._errors` here and
nowhere else, so every call reports failures the same way: method, path,
status, the server's own message and request id, and never the API key.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from ._errors import (
    ScoutConnectionError,
    ScoutDecodeError,
    ScoutTimeoutError,
    error_for_status,
)
from ._text import SERVER_TEXT_CHARS, Redactor, truncate

__all__ = [
    "Redactor",
    "decode_json",
    "parse_retry_after",
    "raise_for_status",
    "translate_transport_errors",
    "truncate",
]

#: How much of a non-JSON error body goes into a message.
_BODY_EXCERPT_CHARS = 300
#: A request id longer than this is not an id; it is cut.
_REQUEST_ID_CHARS = 128


def slow_answer_notice(
    log: logging.Logger, describe: str, timeout_s: float | None
) -> contextlib.AbstractContextManager[None]:
    """Report a request that has had no complete answer for a while, and every
    ``SLOW_NOTICE_EVERY_S`` after, so a server that accepts and never answers
    is seen in the run's log long before the request times out."""
    return _SlowAnswerNotice(log, describe, timeout_s)


#: A request unanswered this long is reported, and again this often after.
SLOW_NOTICE_AFTER_S = 10.0
SLOW_NOTICE_EVERY_S = 30.0


class _SlowAnswerNotice:
    def __init__(self, log: logging.Logger, describe: str, timeout_s: float | None) -> None:
        self._log = log
        self._describe = describe
        self._timeout_s = timeout_s
        self._done = threading.Event()
        self._started = 0.0
        self._thread: threading.Thread | None = None

    def __enter__(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="scout-slow")
        self._thread.start()

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()

    def _watch(self) -> None:
        wait = SLOW_NOTICE_AFTER_S
        while not self._done.wait(wait):
            waited = time.monotonic() - self._started
            limit = (
                f" (it times out after {self._timeout_s:g} s of silence)" if self._timeout_s else ""
            )
            self._log.warning(
                "%s: no complete answer yet after %.0f s%s", self._describe, waited, limit
            )
            wait = SLOW_NOTICE_EVERY_S


@contextmanager
def translate_transport_errors(method: str, path: str, redact: Redactor) -> Iterator[None]:
    """Re-raise httpx's network errors as ScoutTimeoutError / ScoutConnectionError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        message = redact(f"timed out ({type(exc).__name__}: {exc}) waiting for {_origin(exc)}")
        raise ScoutTimeoutError(message, method=method, path=path) from None
    except httpx.TransportError as exc:
        message = redact(
            f"connection failed ({type(exc).__name__}: {exc}) reaching {_origin(exc)}; "
            "check the network and the base URL (SCOUT_BASE_URL)"
        )
        raise ScoutConnectionError(message, method=method, path=path) from None


def _origin(exc: httpx.RequestError) -> str:
    """Scheme, host and port of the failed request: where it tried to go."""
    try:
        url = exc.request.url
    except RuntimeError:  # an error raised without a request attached
        return "the server"
    return f"{url.scheme}://{url.netloc.decode()}"


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date.

    ``None`` unless it names a time in the future: zero, negative, a past
    date, ``nan`` or garbage say nothing usable, so the caller backs off as
    after any failure (and counts the attempt) instead of coming straight back.
    """
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - time.time()
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _server_message(response: httpx.Response, redact: Redactor) -> tuple[str, Any]:
    """The server's ``detail`` as readable text, and the detail as decoded;
    both redacted, and a detail too long to keep cut to text."""
    try:
        body = redact.loads(response.content)
    except ValueError:
        text = redact(response.text).strip()
        return (text[:_BODY_EXCERPT_CHARS] or response.reason_phrase or "no message"), None
    message, detail = _message_of(body)
    if len(json.dumps(detail, default=str)) > SERVER_TEXT_CHARS:
        detail = truncate(str(detail))
    return truncate(message), detail


def _message_of(body: Any) -> tuple[str, Any]:
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []))
                parts.append(f"{loc}: {item.get('msg', item)}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts) or "validation failed", detail
    if isinstance(detail, dict):
        return str(detail.get("message") or detail), detail
    return str(detail), detail


def raise_for_status(method: str, path: str, response: httpx.Response, redact: Redactor) -> None:
    """Raise the matching :class:`ScoutAPIError` for a 4xx/5xx response."""
    if not response.is_error:
        return
    if not response.is_closed:
        response.read()
    message, detail = _server_message(response, redact)
    if response.status_code == 404 and message == "Not Found":
        # The web framework's own 404, not the API's "run ... not found": the
        # base URL most likely points somewhere that is not the Scout API.
        message += f" (no such endpoint: {response.request.url}; check SCOUT_BASE_URL)"
    raise error_for_status(
        method=method,
        path=path,
        status=response.status_code,
        message=message,
        request_id=request_id(response, redact),
        detail=detail,
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
    )


def request_id(response: httpx.Response, redact: Redactor) -> str | None:
    """The server's ``x-request-id`` as we may show it: redacted and short."""
    value = response.headers.get("x-request-id")
    return None if value is None else truncate(redact(value), _REQUEST_ID_CHARS)


def decode_json(method: str, path: str, response: httpx.Response, redact: Redactor) -> Any:
    """The body as JSON, the secret redacted from it, or ScoutDecodeError
    naming the call (retryable)."""
    try:
        return redact.loads(response.content)
    except ValueError as exc:
        raise ScoutDecodeError(
            f"response {response.status_code} is not valid JSON ({exc}); "
            f"request id {request_id(response, redact)}",
            method=method,
            path=path,
        ) from None
