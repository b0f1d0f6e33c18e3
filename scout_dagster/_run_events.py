"""A run's event stream (SSE) read as payloads: decoded, redacted, filtered.

:class:`~scout_dagster._client.ScoutClient` opens the stream (resumed across
dropped connections, ``_sse.py``); this module turns its server-sent events
into the ``data`` objects of the event types the client knows. A FindAll
``findall.status`` event carries the whole run on every heartbeat, so it can
be decoded without its entities (:func:`decode_event_without_entities`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from httpx_sse import ServerSentEvent

from ._http import Redactor
from ._models import findall_event_head

__all__ = [
    "BODY_KEY",
    "decode_event",
    "decode_event_without_entities",
    "event_payloads",
    "event_run_bytes",
]


def event_payloads(
    events: Iterable[ServerSentEvent],
    path: str,
    known_types: frozenset[str],
    decode: Callable[[str, str | None], Any],
    redact: Redactor,
    log: logging.Logger,
) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Decoded ``data`` objects of known event types, with their SSE ids."""
    for sse in events:
        data = redact(sse.data)
        try:
            payload = decode(data, sse.event) if data else None
            if "\\u" in data and isinstance(payload, dict):
                payload = redact.value(payload)  # an escaped key, decoded
        except ValueError:
            log.warning("skipping event %s on %s: its data is not JSON", sse.id, path)
            continue
        if not isinstance(payload, dict):
            continue
        payload.setdefault("type", sse.event)
        if payload["type"] not in known_types:
            continue  # the contract says: ignore event types you do not know
        yield payload, sse.id or None


def decode_event(data: str, _sse_type: str | None) -> Any:
    return json.loads(data)


def decode_event_without_entities(data: str, sse_type: str | None) -> Any:
    """A FindAll event's payload; a ``findall.status`` run without its entities
    and candidates. Raises ``ValueError`` when ``data`` is not JSON."""
    if sse_type not in (None, "message", "findall.status"):  # "message": no event line
        return json.loads(data)  # a candidate or an error: small, and read whole
    try:
        head = findall_event_head(data)
    except ValueError:
        return json.loads(data)  # not the shape a head reads: decode it whole (or fail)
    if head.get("type", sse_type) != "findall.status":
        return json.loads(data)  # a candidate or an error: small, and read whole
    nested = head.get("data")
    run: dict[str, Any] = nested if isinstance(nested, dict) else head
    status = run.get("status")
    state = status.get("status") if isinstance(status, dict) else status
    if state == "completed" and '"entities"' in data:
        # The run's end, with its entities: its bytes are the run's body.
        body = event_run_bytes(data.encode(), nested=run is not head)
        if body is not None:
            head[BODY_KEY] = body
    return head


#: Where a decoded status event carries its run's bytes to the stream reader.
BODY_KEY = "\x00body"


def event_run_bytes(data: bytes, *, nested: bool) -> bytes | None:
    """The run object inside a ``findall.status`` event's data, as bytes: the
    data itself (flat form), or its ``data`` member (nested form) when that
    is the envelope's last member; None when it cannot be cut out surely."""
    if not nested:
        return data
    end = data.rstrip().rfind(b"}")
    # The envelope's keys before "data" are short (type, event_id, timestamp).
    for found in re.finditer(rb'"data"\s*:\s*', data[:4096]):
        start = found.end()
        try:
            envelope = json.loads(data[:start] + b"null}")
        except ValueError:
            continue  # "data" inside a string: not the envelope's own key
        if isinstance(envelope, dict) and "type" in envelope and data[start : start + 1] == b"{":
            return data[start:end]
    return None
