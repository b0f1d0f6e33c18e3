"""The edge between httpx and our error tree.

httpx exceptions and error responses are turned into :mod:`._errors` here and
nowhere else, so every call reports failures the same way: method, path,
status, the server's own message and request id, and never the API key.
"""

from __future__ import annotations

import email.utils
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

__all__ = ["Redactor", "decode_json", "raise_for_status", "translate_transport_errors"]

#: How much of a non-JSON error body goes into a message.
_BODY_EXCERPT_CHARS = 300


class Redactor:
    """Replaces a secret by ``***`` in any text, in case a server echoes it back."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def __call__(self, text: str) -> str:
        if self._secret and self._secret in text:
            return text.replace(self._secret, "***")
        return text

    def value(self, value: Any) -> Any:
        """``value`` with the secret redacted in every string it holds (decoded JSON)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return {self.value(key): self.value(item) for key, item in value.items()}
        return value

    def __repr__(self) -> str:
        return "Redactor(***)"


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
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _server_message(response: httpx.Response) -> tuple[str, Any]:
    """The server's ``detail`` as readable text, and the detail as decoded."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return (text[:_BODY_EXCERPT_CHARS] or response.reason_phrase or "no message"), None
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
    message, detail = _server_message(response)
    if response.status_code == 404 and message == "Not Found":
        # The web framework's own 404, not the API's "run ... not found": the
        # base URL most likely points somewhere that is not the Scout API.
        message += f" (no such endpoint: {response.request.url}; check SCOUT_BASE_URL)"
    raise error_for_status(
        method=method,
        path=path,
        status=response.status_code,
        message=redact(message),
        request_id=response.headers.get("x-request-id"),
        detail=redact.value(detail),
        retry_after_s=parse_retry_after(response.headers.get("retry-after")),
    )


def decode_json(method: str, path: str, response: httpx.Response) -> Any:
    """The body as JSON, or ScoutDecodeError naming the call (retryable)."""
    try:
        return response.json()
    except ValueError as exc:
        raise ScoutDecodeError(
            f"response {response.status_code} is not valid JSON ({exc}); "
            f"request id {response.headers.get('x-request-id')}",
            method=method,
            path=path,
        ) from None
