"""Server text as it may be kept: the API key redacted, the length bounded.

No HTTP here (nor httpx): the Dagster layer uses these when definitions are
loaded, and a definition should not pay for importing an HTTP client.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

__all__ = ["SERVER_TEXT_CHARS", "RedactedFeed", "Redactor", "truncate"]

#: The most of any server text (a message, a run's ``error``, a decoded
#: ``detail``) kept in an exception, a log line or metadata: a server that
#: answers with megabytes of detail must not grow the event log by as much.
SERVER_TEXT_CHARS = 2000


def truncate(text: str, limit: int = SERVER_TEXT_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class _Sink(Protocol):
    def feed(self, chunk: bytes | memoryview) -> None: ...


class RedactedFeed:
    """Feeds a sink with the key replaced in the body, across chunk boundaries:
    the last bytes of each chunk wait for the next, in case the key starts there."""

    def __init__(self, secret: bytes, sink: _Sink) -> None:
        self._secret = secret
        self._sink = sink
        self._tail = b""

    def feed(self, chunk: bytes) -> None:
        secret = self._secret
        if not secret:
            self._sink.feed(chunk)
            return
        keep = len(secret) - 1
        # A key that starts in the tail ends within the chunk's first bytes.
        if len(chunk) > keep and secret not in chunk and secret not in self._tail + chunk[:keep]:
            # Nearly always: no copy of the chunk, only its last bytes wait.
            if self._tail:
                self._sink.feed(self._tail)
            self._sink.feed(memoryview(chunk)[: len(chunk) - keep])
            self._tail = chunk[len(chunk) - keep :]
            return
        data = (self._tail + chunk).replace(secret, b"***")
        keep = min(keep, len(data))
        self._tail = data[len(data) - keep :]
        self._sink.feed(memoryview(data)[: len(data) - keep])

    def flush(self) -> None:
        """The body has ended: what waited goes to the sink."""
        if self._tail:
            self._sink.feed(self._tail)
            self._tail = b""


class Redactor:
    """Replaces a secret by ``***`` in any text, in case a server echoes it back."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._secret_bytes = secret.encode()

    def __call__(self, text: str) -> str:
        if self._secret and self._secret in text:
            return text.replace(self._secret, "***")
        return text

    def in_bytes(self, data: bytes) -> bytes:
        """``data`` (a response body) with the secret replaced; a search of the
        bytes (memchr speed) when it is absent, which is nearly always."""
        if self._secret_bytes and self._secret_bytes in data:
            return data.replace(self._secret_bytes, b"***")
        return data

    def feeding(self, sink: _Sink) -> RedactedFeed:
        """A feed of ``sink`` that redacts what passes (a body read as it downloads)."""
        return RedactedFeed(self._secret_bytes, sink)

    def loads(self, data: bytes | str) -> Any:
        """JSON, the secret redacted from it: in the text, and once decoded when
        the text has escapes that could spell it (``sk\\u005f…``)."""
        text = self.in_bytes(data) if isinstance(data, bytes) else self(data)
        payload = json.loads(text)
        escapes = (b"\\u", b"\\/") if isinstance(text, bytes) else ("\\u", "\\/")
        if any(escape in text for escape in escapes):  # type: ignore[operator]
            payload = self.value(payload)
        return payload

    def server_text(self, text: str | None) -> str | None:
        """A server's words as we may keep them: redacted, then truncated."""
        return None if text is None else truncate(self(text))

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
