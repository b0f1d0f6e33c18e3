"""``client.monitors``: the Monitors calls of the contract, over the client's transport.

Grouped under one attribute, as Scout's own SDK groups them
(``client.monitors.create(...)``), and sent through :class:`ScoutClient`'s
request path: the same headers, retries, idempotency keys, deadline and
redaction as every other call.
"""

from __future__ import annotations

import builtins
import dataclasses
import threading
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from ._monitors import (
    MONITOR_EVENT_TYPES,
    Monitor,
    MonitorEvent,
    MonitorRequest,
    monitor_update_body,
)
from ._request_path import page_items, run_segment
from ._text import Redactor

if TYPE_CHECKING:
    from ._client import ScoutClient

__all__ = ["MonitorCalls"]

MONITORS = "/v1/monitors"
#: Events asked for per page when listing them (the most the contract allows).
EVENTS_PAGE_SIZE = 100


#: Pages of unknown event types one ``events`` call reads past at most.
MAX_UNKNOWN_PAGES = 10


@dataclasses.dataclass(frozen=True)
class _Page:
    known: builtins.list[MonitorEvent]  # the events of types this client knows
    full: bool  # the server gave as many items as asked: there may be more
    last_id: str | None  # the id of its last item, of any type


def _decode_any_success(method: str, path: str, response: httpx.Response, redact: Redactor) -> None:
    """A success whose body does not matter (2xx, empty or not)."""
    return None


class MonitorCalls:
    """The Monitors calls of one :class:`ScoutClient`."""

    def __init__(self, client: ScoutClient) -> None:
        self._client = client

    def _path(self, monitor_id: str, *rest: str) -> str:
        return "/".join([MONITORS, run_segment(monitor_id), *rest])

    def _monitor(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Monitor:
        client = self._client
        payload = client._request(method, path, body=body, idempotency_key=idempotency_key)
        return client._parse(Monitor, payload, method, path)

    def create(
        self,
        request: MonitorRequest | str | None = None,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Monitor:
        """``POST /v1/monitors``: a :class:`MonitorRequest`, or the query with
        the request's other fields as keywords (``cadence="daily"``)."""
        if isinstance(request, MonitorRequest):
            if fields:
                raise TypeError("give a MonitorRequest or its fields as keywords, not both")
        else:
            given: dict[str, Any] = {"query": request} if request is not None else {}
            request = MonitorRequest(**given, **fields)
        return self._monitor("POST", MONITORS, request.body(), idempotency_key)

    def list(self, *, page_size: int = 50, limit: int | None = None) -> Iterator[Monitor]:
        """``GET /v1/monitors``: every monitor (newest first), page by page."""
        return self._client._paginate(Monitor, MONITORS, page_size, limit)

    def get(self, monitor_id: str) -> Monitor:
        """``GET /v1/monitors/{monitor_id}``."""
        return self._monitor("GET", self._path(monitor_id))

    def update(
        self, monitor_id: str, *, idempotency_key: str | None = None, **fields: Any
    ) -> Monitor:
        """``PATCH /v1/monitors/{monitor_id}`` with any of the create fields."""
        body = monitor_update_body(fields)
        return self._monitor("PATCH", self._path(monitor_id), body, idempotency_key)

    def delete(self, monitor_id: str, *, idempotency_key: str | None = None) -> None:
        """``DELETE /v1/monitors/{monitor_id}``: its runs and events end. Any
        success answers (a JSON body, or 204 with none)."""
        self._client._request(
            "DELETE",
            self._path(monitor_id),
            idempotency_key=idempotency_key,
            decode=_decode_any_success,
        )

    def pause(self, monitor_id: str, *, idempotency_key: str | None = None) -> Monitor:
        """``POST …/pause``: no scheduled run until it is resumed."""
        return self._monitor("POST", self._path(monitor_id, "pause"), {}, idempotency_key)

    def resume(self, monitor_id: str, *, idempotency_key: str | None = None) -> Monitor:
        """``POST …/resume``: scheduled again from now."""
        return self._monitor("POST", self._path(monitor_id, "resume"), {}, idempotency_key)

    def run(self, monitor_id: str, *, idempotency_key: str | None = None) -> Monitor:
        """``POST …/run``: run it once now (it costs credits like a scheduled run)."""
        return self._monitor("POST", self._path(monitor_id, "run"), {}, idempotency_key)

    def events(
        self, monitor_id: str, *, after: str | None = None, limit: int = EVENTS_PAGE_SIZE
    ) -> builtins.list[MonitorEvent]:
        """``GET …/events`` as JSON: at most ``limit`` events after ``after``
        (an event id; from the first when ``None``), oldest first.

        Events of types this client does not know are left out; a page that
        held only those is read past (the next page, after the last of them),
        so an empty answer means there is no known event after ``after``.
        """
        if not 1 <= limit <= EVENTS_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {EVENTS_PAGE_SIZE}, got {limit}")
        for _ in range(MAX_UNKNOWN_PAGES):
            page = self._page(monitor_id, after, limit)
            if page.known or not page.full or page.last_id is None or page.last_id == after:
                return page.known
            after = page.last_id
        return []

    def _page(self, monitor_id: str, after: str | None, limit: int) -> _Page:
        client = self._client
        path = self._path(monitor_id, "events")
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        items = page_items(client._request("GET", path, params=params), path)
        known = [
            client._parse(MonitorEvent, item, "GET", path)
            for item in items
            if isinstance(item, dict) and item.get("type") in MONITOR_EVENT_TYPES
        ]
        last = items[-1] if items and isinstance(items[-1], dict) else {}
        last_id = last.get("event_id")
        return _Page(known, len(items) >= limit, last_id if isinstance(last_id, str) else None)

    def iter_events(
        self, monitor_id: str, *, after: str | None = None
    ) -> Generator[MonitorEvent, None, None]:
        """Every event after ``after`` that exists now, page by page, oldest first.

        A server that ignores ``after=`` (every page the same) is caught: a
        page whose events were all seen ends the walk instead of looping."""
        seen: set[str] = set()
        while True:
            page = self._page(monitor_id, after, EVENTS_PAGE_SIZE)
            fresh = [event for event in page.known if event.event_id not in seen]
            seen.update(event.event_id for event in fresh)
            yield from fresh
            if not page.full or page.last_id is None or page.last_id == after or not fresh:
                return
            after = page.last_id

    def stream_events(
        self,
        monitor_id: str,
        *,
        last_event_id: str | None = None,
        stop: threading.Event | None = None,
    ) -> Generator[MonitorEvent, None, None]:
        """``GET …/events`` as a stream (SSE): events as they happen, after
        ``last_event_id``, resumed across dropped connections. It does not end
        while the monitor exists: stop iterating when you have what you need,
        or set ``stop`` from another thread (it ends at the next event or
        dropped connection, without resuming)."""
        client = self._client
        path = self._path(monitor_id, "events")
        for payload, sse_id in client._iter_payloads(
            path, MONITOR_EVENT_TYPES, last_event_id, stop=stop
        ):
            if sse_id is not None:
                payload.setdefault("event_id", sse_id)
            yield client._parse(MonitorEvent, payload, "GET", path)
