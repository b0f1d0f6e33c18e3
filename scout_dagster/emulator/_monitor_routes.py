"""The ``/v1/monitors`` routes: create, list, retrieve, update, delete, pause,
resume, run now, and events (a JSON page by default, SSE when asked for).

Every handler works under the ledger lock and first catches monitors up
(``Ledger.catch_up``), so the runs due before a call have happened before the
call changes anything. A monitor belongs to the API key that created it;
another key, like a deleted monitor, gets 404.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ._accept import MONITOR_PREFIX, wants_stream
from ._errors import ApiError
from ._middleware import RequestContext, request_context
from ._monitor_payloads import monitor_event_json, monitor_json
from ._monitors import (
    MONITOR_RUN_CREDITS,
    Monitor,
    MonitorSettings,
    switch_failure,
    unpaid_message,
)
from ._schemas import (
    EmptyBody,
    ListQuery,
    MonitorCreateBody,
    MonitorEventsQuery,
    MonitorUpdateBody,
    parse_body,
    parse_params,
)
from ._state import EmulatorState
from ._streams import Framed, StreamMessage, pump

__all__ = ["MonitorRoutes"]


class MonitorRoutes:
    """The monitor handlers of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- shared steps ------------------------------------------------------------

    def _monitor(self, request: Request) -> Monitor:
        """The caller's live monitor named in the path (call under the lock, caught up)."""
        monitor_id = request.path_params["monitor_id"]
        monitor = self.state.ledger.find_monitor(monitor_id)
        if monitor is None or monitor.deleted or monitor.owner != request_context(request).owner:
            raise ApiError(404, f"Monitor {monitor_id} not found")
        return monitor

    def _json(self, monitor: Monitor) -> JSONResponse:
        return JSONResponse(monitor_json(monitor, self.state.timestamps))

    @staticmethod
    def _position(monitor: Monitor, event_id: str | None, where: str) -> int:
        """How many of the monitor's events come at or before ``event_id`` (0 for None)."""
        if not event_id:
            return 0
        position = monitor.event_position(event_id)
        if position is None:
            raise ApiError(
                400,
                f"Unknown event id {event_id!r} in {where}: it is not an event of monitor "
                f"{monitor.monitor_id}; pass the event_id of one of its events",
            )
        return position

    # -- handlers ----------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        raw = await request.body()
        body = parse_body(MonitorCreateBody, raw)
        context = request_context(request)
        settings = MonitorSettings(
            query=body.query,
            cadence=body.cadence,
            cron=body.cron,
            webhook=body.webhook,
            limit=body.limit,
            country=body.country,
            language=body.language,
        )
        state = self.state
        with state.ledger.lock:
            now = state.ledger.catch_up()
            monitor = Monitor(
                monitor_id="mon_" + secrets.token_hex(12),
                owner=context.owner,
                settings=settings,
                created_at=now,
                epoch=state.timestamps.epoch,
                idempotency_key=context.idempotency_key,
                request_body=json.loads(raw),
            )
            state.ledger.add_monitor(monitor)
            return self._json(monitor)

    async def list_page(self, request: Request) -> Response:
        params = parse_params(ListQuery, dict(request.query_params))
        ledger = self.state.ledger
        with ledger.lock:
            ledger.catch_up()
            mine = ledger.owned_monitors(request_context(request).owner)
            page = mine[params.offset : params.offset + params.limit]
            return JSONResponse([monitor_json(m, self.state.timestamps) for m in page])

    async def get(self, request: Request) -> Response:
        with self.state.ledger.lock:
            self.state.ledger.catch_up()
            return self._json(self._monitor(request))

    async def update(self, request: Request) -> Response:
        body = parse_body(MonitorUpdateBody, await request.body())
        given = body.model_fields_set
        with self.state.ledger.lock:
            now = self.state.ledger.catch_up()
            monitor = self._monitor(request)
            old = monitor.settings
            cadence, cron = old.cadence, old.cron
            if body.cadence is not None:
                cadence, cron = body.cadence, None
            elif body.cron is not None:
                cadence, cron = None, body.cron
            monitor.update(
                MonitorSettings(
                    query=old.query if body.query is None else body.query,
                    cadence=cadence,
                    cron=cron,
                    webhook=body.webhook if "webhook" in given else old.webhook,
                    limit=old.limit if body.limit is None else body.limit,
                    country=old.country if body.country is None else body.country,
                    language=old.language if body.language is None else body.language,
                ),
                now,
            )
            return self._json(monitor)

    async def delete(self, request: Request) -> Response:
        with self.state.ledger.lock:
            self.state.ledger.catch_up()
            monitor = self._monitor(request)
            monitor.delete()
            return JSONResponse({"monitor_id": monitor.monitor_id, "deleted": True})

    async def pause(self, request: Request) -> Response:
        parse_body(EmptyBody, await request.body(), required=False)
        with self.state.ledger.lock:
            self.state.ledger.catch_up()
            monitor = self._monitor(request)
            monitor.pause()
            return self._json(monitor)

    async def resume(self, request: Request) -> Response:
        parse_body(EmptyBody, await request.body(), required=False)
        with self.state.ledger.lock:
            now = self.state.ledger.catch_up()
            monitor = self._monitor(request)
            monitor.resume(now)
            return self._json(monitor)

    async def run(self, request: Request) -> Response:
        """Run once now, active or paused; 402 when the balance cannot pay for it."""
        parse_body(EmptyBody, await request.body(), required=False)
        state = self.state
        ledger = state.ledger
        with ledger.lock:
            now = ledger.catch_up()
            monitor = self._monitor(request)
            balance = state.config.credit_balance
            if balance is not None:
                left = balance - ledger.total_credits()
                if left < MONITOR_RUN_CREDITS:
                    raise ApiError(402, unpaid_message(left))
            failure = switch_failure(monitor, ledger.monitor_policy)
            monitor.execute(now, "manual", failure=failure)
            return self._json(monitor)

    async def events(self, request: Request) -> Response:
        """A JSON page of events (``after``, ``limit``), or the SSE stream when asked for."""
        params = parse_params(MonitorEventsQuery, dict(request.query_params))
        header = request.headers.get("last-event-id")
        streaming = wants_stream(request.headers.get("accept"), default_stream=False)
        ts = self.state.timestamps
        with self.state.ledger.lock:
            self.state.ledger.catch_up()
            monitor = self._monitor(request)
            if streaming:
                if header:
                    position = self._position(monitor, header, "the Last-Event-ID header")
                elif params.last_event_id:
                    position = self._position(monitor, params.last_event_id, "last_event_id")
                else:
                    position = self._position(monitor, params.after, "after")
            else:
                position = self._position(monitor, params.after, "after")
                page = monitor.events[position : position + params.limit]
                return JSONResponse([monitor_event_json(monitor, e, ts) for e in page])
        return StreamingResponse(
            self._stream(monitor, position, request_context(request)),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def _stream(
        self, monitor: Monitor, position: int, context: RequestContext
    ) -> AsyncIterator[bytes]:
        """The monitor's events after ``position``, as runs emit them, until it is deleted."""
        state = self.state
        ledger = state.ledger

        ts = state.timestamps

        def poll() -> tuple[Sequence[Framed], bool]:
            nonlocal position
            with ledger.lock:
                ledger.catch_up()
                # A reset forgets the monitor: its stream ends as if it were deleted.
                gone = monitor.deleted or ledger.find_monitor(monitor.monitor_id) is not monitor
                new = monitor.events[position:]
                position += len(new)
                messages = [
                    StreamMessage(e.event_id, e.type, monitor_event_json(monitor, e, ts))
                    for e in new
                ]
            return messages, gone

        async for chunk in pump(state, context, poll):
            yield chunk

    # -- routing -----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        one = MONITOR_PREFIX + "/{monitor_id}"
        return [
            Route(MONITOR_PREFIX, self.list_page, methods=["GET"]),
            Route(MONITOR_PREFIX, self.create, methods=["POST"]),
            Route(one, self.get, methods=["GET"]),
            Route(one, self.update, methods=["PATCH"]),
            Route(one, self.delete, methods=["DELETE"]),
            Route(one + "/pause", self.pause, methods=["POST"]),
            Route(one + "/resume", self.resume, methods=["POST"]),
            Route(one + "/run", self.run, methods=["POST"]),
            Route(one + "/events", self.events, methods=["GET"]),
        ]
