"""Idempotency-Key bookkeeping: replay, conflict or proceed.

A non-GET request may carry ``Idempotency-Key``. Keys are scoped per API key.
The first request with a key proceeds; if it succeeds (2xx) its response is
kept in memory and every later request with the same key, method, path and
JSON body gets that response again instead of being handled (so a retried
create never starts a second run). The same key with another method, path or
body is a 409. Error responses are not kept: a retry after a 429, 5xx or 4xx
is handled afresh, which is what a client retrying through a fault needs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

__all__ = ["Conflict", "IdempotencyStore", "InFlight", "Proceed", "StoredResponse", "fingerprint"]


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for replay."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


@dataclass(frozen=True)
class Proceed:
    """No response kept for this key: handle the request, then ``complete`` it."""


@dataclass(frozen=True)
class Conflict:
    """The key was used with a different request."""


@dataclass(frozen=True)
class InFlight:
    """A request with this key is being handled right now."""


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and the JSON body's content.

    JSON bodies compare by content (key order and whitespace do not matter); an
    empty body and ``{}`` are the same; anything else compares byte for byte.
    """
    try:
        canonical = json.dumps(json.loads(body or b"{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.hex()
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


class IdempotencyStore:
    """Responses kept by (API key fingerprint, Idempotency-Key). Thread-safe; in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], tuple[str, StoredResponse | None]] = {}

    def begin(
        self, owner: str, key: str, request_fingerprint: str
    ) -> Proceed | Conflict | InFlight | StoredResponse:
        """Look the key up; on ``Proceed`` the key is held until ``complete``."""
        with self._lock:
            entry = self._entries.get((owner, key))
            if entry is None:
                self._entries[(owner, key)] = (request_fingerprint, None)
                return Proceed()
            stored_fingerprint, response = entry
            if stored_fingerprint != request_fingerprint:
                return Conflict()
            return InFlight() if response is None else response

    def complete(self, owner: str, key: str, response: StoredResponse | None) -> None:
        """Keep a 2xx ``response`` for replay; forget the key otherwise."""
        with self._lock:
            entry = self._entries.get((owner, key))
            if entry is None:
                return
            if response is not None and 200 <= response.status < 300:
                self._entries[(owner, key)] = (entry[0], response)
            else:
                del self._entries[(owner, key)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return sum(1 for _, response in self._entries.values() if response is not None)
