"""Server-sent event streams that survive dropped connections.

A stream is read with ``httpx-sse``; when the connection drops (or the server
closes it early, which the contract allows) it is opened again with
``Last-Event-ID`` set to the last id seen, so no event is lost or repeated.
Streams are not replayed by the request retry loop: they *resume*.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Generator, Mapping
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError, connect_sse

from ._config import RetryPolicy
from ._errors import ScoutConnectionError, ScoutDecodeError, ScoutError
from ._http import Redactor, raise_for_status, translate_transport_errors
from ._retry import is_retryable

__all__ = ["iter_sse_resuming"]

log = logging.getLogger("scout_dagster.client")


def iter_sse_resuming(
    http: httpx.Client,
    path: str,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    redact: Redactor,
    last_event_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    log: logging.Logger = log,
    stop: threading.Event | None = None,
) -> Generator[ServerSentEvent, None, None]:
    """Yield the events of ``GET path`` forever, resuming after every drop.

    The caller stops iterating when it has seen what it needs (a terminal
    event); closing the generator closes the connection. Reconnections that
    bring no new event count against ``policy.max_attempts``; when they are
    spent, the last error is raised (a :class:`ScoutConnectionError` when the
    server simply kept closing the stream) and the caller can fall back to
    reading the run. Errors that no retry can fix (401, 404, ...) are raised
    at once.

    ``stop``, set by another thread, ends the stream quietly: at its next
    event, or when its connection next fails (closing the client does that),
    it is not resumed, and nothing more is logged.
    """
    rng = random.Random()
    fruitless = 0
    last_error: ScoutError | None = None
    while True:
        headers: dict[str, str] = {}
        query = dict(params or {})
        if last_event_id and last_event_id.isascii():
            headers["Last-Event-ID"] = last_event_id
        elif last_event_id:
            # A header holds ASCII only; the contract's query form takes any id.
            query["last_event_id"] = last_event_id
        reason: str
        progressed = False
        try:
            with (
                translate_transport_errors("GET", path, redact),
                connect_sse(http, "GET", path, headers=headers, params=query or None) as source,
            ):
                raise_for_status("GET", path, source.response, redact)
                try:
                    for event in source.iter_sse():
                        if event.id:
                            last_event_id = event.id
                        progressed = True
                        fruitless = 0
                        if stop is not None and stop.is_set():
                            return
                        yield event
                except SSEError as exc:
                    raise ScoutDecodeError(str(exc), method="GET", path=path) from None
            reason = "the server closed the stream"
        except ScoutError as exc:
            if not is_retryable(exc):
                raise
            last_error = exc
            reason = str(exc)
            retry_after = getattr(exc, "retry_after_s", None)
        else:
            retry_after = None

        if stop is not None and stop.is_set():
            return  # whoever stopped it has gone: no resuming, no log line
        if not progressed:
            fruitless += 1
        if fruitless >= policy.max_attempts:
            if last_error is not None and not progressed:
                raise last_error  # as the request retry loop does: the server's own answer
            raise ScoutConnectionError(
                f"event stream gave no new event in {fruitless} attempts (last: {reason})",
                method="GET",
                path=path,
            )
        delay = (
            min(max(retry_after, policy.min_retry_after_s), policy.max_retry_after_s)
            if retry_after is not None
            else (0.0 if progressed else policy.backoff_s(fruitless, rng.random()))
        )
        log.info(
            "event stream %s interrupted (%s); resuming after event %s in %.2f s",
            path,
            reason,
            last_event_id,
            delay,
        )
        if delay:
            sleep(delay)
