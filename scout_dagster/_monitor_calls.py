"""``client.monitors``: the Monitors calls of the contract, over the client's transport.

Grouped under one attribute, as Scout's own SDK groups them
(``client.monitors.create(...)``), and sent through :class:`ScoutClient`'s
request path: the same headers, retries, idempotency keys, deadline and
redaction as every other call.
"""

from __future__ import annotations

import builtins
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from ._monitors import (
    MONITOR_EVENT_TYPES,
    Monitor,
    MonitorEvent,
    MonitorRequest,
    monitor_update_body,
)

if TYPE_CHECKING:
    from ._client import ScoutClient

__all__ = ["MonitorCalls"]

MONITORS = "/v1/monitors"
#: Events asked for per page when listing them (the most the contract allows).
EVENTS_PAGE_SIZE = 100


class MonitorCalls:
    """The Monitors calls of one :class:`ScoutClient`."""

    def __init__(self, client: ScoutClient) -> None:
        self._client = client

    def _path(self, monitor_id: str, *rest: str) -> str:
        from ._client import run_segment

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
        """``DELETE /v1/monitors/{monitor_id}``: its runs and events end."""
        self._client._request("DELETE", self._path(monitor_id), idempotency_key=idempotency_key)

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
        (an event id; from the first when ``None``), oldest first. Events of
        types this client does not know are left out."""
        if not 1 <= limit <= EVENTS_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {EVENTS_PAGE_SIZE}, got {limit}")
        client = self._client
        path = self._path(monitor_id, "events")
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            params["after"] = after
        from ._client import _page_items

        items = _page_items(client._request("GET", path, params=params), path)
        return [
            client._parse(MonitorEvent, item, "GET", path)
            for item in items
            if isinstance(item, dict) and item.get("type") in MONITOR_EVENT_TYPES
        ]

    def iter_events(
        self, monitor_id: str, *, after: str | None = None
    ) -> Generator[MonitorEvent, None, None]:
        """Every event after ``after`` that exists now, page by page, oldest first."""
        while True:
            page = self.events(monitor_id, after=after)
            yield from page
            if len(page) < EVENTS_PAGE_SIZE:
                return
            after = page[-1].event_id

    def stream_events(
        self, monitor_id: str, *, last_event_id: str | None = None
    ) -> Generator[MonitorEvent, None, None]:
        """``GET …/events`` as a stream (SSE): events as they happen, after
        ``last_event_id``, resumed across dropped connections. It does not end
        while the monitor exists: stop iterating when you have what you need."""
        client = self._client
        path = self._path(monitor_id, "events")
        for payload, sse_id in client._iter_payloads(path, MONITOR_EVENT_TYPES, last_event_id):
            if sse_id is not None:
                payload.setdefault("event_id", sse_id)
            yield client._parse(MonitorEvent, payload, "GET", path)
