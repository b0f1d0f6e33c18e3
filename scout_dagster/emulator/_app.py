"""``build_app``: the Scout API as a Starlette application.

Routes, validation and the calls into run records live here; auth, faults,
idempotency and the request log wrap every ``/v1`` route in ``_middleware``.
Each FindAll route exists under ``/v1/findall`` and its alias ``/v1/lists``.
The ``/v1/monitors`` routes live in ``_monitor_routes``.
``/_emulator/*`` routes (no auth, never faulted) let out-of-process users read
the ledger and switch faults.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import uuid
from typing import Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ._accept import wants_stream
from ._errors import ApiError
from ._faults import FaultConfig, QuietDeliberateAborts, create_cap_retry_after
from ._findall_payloads import findall_json
from ._findall_runs import (
    FINDALL_FIXED_CREDITS,
    Enrichment,
    FindAllRun,
    FindAllSpec,
    RunNotChangeable,
)
from ._middleware import ApiMiddleware, RequestContext, request_context
from ._monitor_routes import MonitorRoutes
from ._runs import Run
from ._schemas import (
    CancelBody,
    EnrichBody,
    EventsQuery,
    ExtendBody,
    FindAllCreateBody,
    InjectBody,
    ListQuery,
    RequestInvalid,
    SearchCreateBody,
    parse_body,
    parse_params,
)
from ._search_payloads import search_json
from ._search_runs import SearchRun, SearchSpec
from ._sse_messages import sse_messages
from ._state import API_VERSION, EmulatorState, emulator_version
from ._streams import event_stream

__all__ = ["ApiError", "build_app"]

FINDALL_PREFIXES = ("/v1/findall", "/v1/lists")  # [doc] path, then the [sdk] alias


def _install_quiet_aborts() -> None:
    """Silence uvicorn's traceback for connections the emulator cuts on purpose."""
    uvicorn_errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, QuietDeliberateAborts) for f in uvicorn_errors.filters):
        uvicorn_errors.addFilter(QuietDeliberateAborts())


class _Api:
    """The route handlers of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # -- shared steps ------------------------------------------------------------

    def _admit_create(self, context: RequestContext, now: float, cost: int, what: str) -> None:
        """Refuse a create for want of credits (402) or over the create cap (429)."""
        state = self.state
        balance = state.config.credit_balance
        if balance is not None:
            left = balance - state.ledger.total_credits()
            if left < cost:
                raise ApiError(
                    402, f"Insufficient credits: {left} left, a {what} needs at least {cost}"
                )
        faults = state.faults.config
        if faults.create_cap is not None:
            wait = create_cap_retry_after(
                state.ledger.create_times(context.owner),
                now,
                faults.create_cap,
                faults.create_cap_window_s,
                # A ManualClock has no speed: its time moves only when a test says.
                speed=getattr(state.clock, "speed", 1.0),
            )
            if wait is not None:
                context.handler_fault = "create_cap"
                raise ApiError(
                    429,
                    f"Run creation limit reached ({faults.create_cap} per "
                    f"{faults.create_cap_window_s:g} s); retry after {wait} s",
                    {"retry-after": str(wait)},
                )

    def _findall_run(self, request: Request) -> FindAllRun:
        run_id = request.path_params["run_id"]
        run = self.state.ledger.find_run(run_id)
        if not isinstance(run, FindAllRun) or run.owner != request_context(request).owner:
            raise ApiError(404, f"FindAll run {run_id} not found")
        return run

    def _search_run(self, request: Request) -> SearchRun:
        run_id = request.path_params["run_id"]
        run = self.state.ledger.find_run(run_id)
        if not isinstance(run, SearchRun) or run.owner != request_context(request).owner:
            raise ApiError(404, f"Search run {run_id} not found")
        return run

    def _findall_response(self, run: FindAllRun, at: float) -> JSONResponse:
        return JSONResponse(findall_json(run, run.progress(at), at, self.state.timestamps))

    def _search_response(self, run: SearchRun, at: float) -> JSONResponse:
        return JSONResponse(search_json(run, run.progress(at), self.state.timestamps))

    def _page(self, request: Request, kind: Literal["findall", "search"]) -> list[Run]:
        """One page (``?limit=&offset=``) of the caller's runs of ``kind``, newest first."""
        params = parse_params(ListQuery, dict(request.query_params))
        runs = self.state.ledger.owned_runs(request_context(request).owner, kind)
        return runs[params.offset : params.offset + params.limit]

    def _events(self, request: Request, run: FindAllRun | SearchRun) -> Response:
        """The run's events after the resume point: SSE, or a JSON array when asked for.

        The array holds the ``data`` of each frame the stream would send now,
        in order, which is what Scout's SDK ``events(id)`` reads.
        """
        header = request.headers.get("last-event-id")
        if header is not None:
            after = parse_params(EventsQuery, {"last_event_id": header}, "header").last_event_id
        else:
            after = parse_params(EventsQuery, dict(request.query_params)).last_event_id
        if not wants_stream(request.headers.get("accept"), default_stream=True):
            with self.state.ledger.lock:
                now = self.state.clock.now()
                messages = sse_messages(run, after, now, self.state.timestamps)
            return JSONResponse([message.data for message in messages])
        return StreamingResponse(
            event_stream(self.state, run, after, request_context(request)),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    # -- FindAll -----------------------------------------------------------------

    async def findall_create(self, request: Request, *, synchronous: bool = False) -> Response:
        raw = await request.body()
        body = parse_body(FindAllCreateBody, raw)
        context = request_context(request)
        state = self.state
        spec = FindAllSpec(
            query=body.query,
            fields=tuple(body.fields) if body.fields else None,
            output_schema=body.output_schema,
            limit=body.limit,
            generator=body.generator,
            metadata=body.metadata.model_dump(exclude_unset=True) if body.metadata else None,
        )
        with state.ledger.lock:
            now = state.clock.now()
            self._admit_create(context, now, FINDALL_FIXED_CREDITS, "FindAll run")
            run_id = "fa-" + secrets.token_hex(12)
            run = FindAllRun(
                run_id=run_id,
                owner=context.owner,
                spec=spec,
                created_at=now,
                timings=state.timings,
                synchronous=synchronous,
                fails=state.faults.run_fails(run_id),
                unknown_events=state.faults.unknown_events,
                idempotency_key=context.idempotency_key,
                request_body=json.loads(raw),
            )
            state.ledger.add_run(run)
            return self._findall_response(run, now)

    async def findall_sync(self, request: Request) -> Response:
        return await self.findall_create(request, synchronous=True)

    async def findall_list(self, request: Request) -> Response:
        with self.state.ledger.lock:
            now = self.state.clock.now()
            ts = self.state.timestamps
            page = self._page(request, "findall")
            runs = [r for r in page if isinstance(r, FindAllRun)]
            return JSONResponse([findall_json(r, r.progress(now), now, ts) for r in runs])

    async def findall_get(self, request: Request) -> Response:
        with self.state.ledger.lock:
            return self._findall_response(self._findall_run(request), self.state.clock.now())

    async def findall_events(self, request: Request) -> Response:
        return self._events(request, self._findall_run(request))

    async def findall_cancel(self, request: Request) -> Response:
        parse_body(CancelBody, await request.body(), required=False)
        state = self.state
        with state.ledger.lock:
            run = self._findall_run(request)
            now = state.clock.now()
            before = run.progress(now)
            state.ledger.record_cancel(run.run_id)
            if not run.cancel(now):
                return self._findall_response(run, now)
            # As in the vendor's example: the run as it stood, its status null
            # while the cancel waits for the next checkpoint. A GET afterwards
            # shows the cancelled run with its partial result discarded.
            payload = findall_json(run, before, now, state.timestamps)
            payload["status"] = None
            payload["completedAt"] = state.timestamps.offset(now)
            return JSONResponse(payload)

    async def findall_extend(self, request: Request) -> Response:
        body = parse_body(ExtendBody, await request.body())
        state = self.state
        with state.ledger.lock:
            run = self._findall_run(request)
            now = state.clock.now()
            try:
                run.extend(now, body.additional_limit)
            except RunNotChangeable as error:
                raise ApiError(400, f"{error} and cannot be extended") from None
            return self._findall_response(run, now)

    async def findall_enrich(self, request: Request) -> Response:
        body = parse_body(EnrichBody, await request.body())
        state = self.state
        with state.ledger.lock:
            run = self._findall_run(request)
            now = state.clock.now()
            enrichment = Enrichment(now, tuple(body.fields or ()), body.output_schema)
            try:
                run.enrich(now, enrichment)
            except RunNotChangeable as error:
                raise ApiError(400, f"{error} and cannot be enriched") from None
            return self._findall_response(run, now)

    # -- search --------------------------------------------------------------------

    async def search_create(self, request: Request) -> Response:
        raw = await request.body()
        body = parse_body(SearchCreateBody, raw)
        context = request_context(request)
        state = self.state
        spec = SearchSpec(
            queries=tuple(body.queries),
            objective=body.objective,
            depth=body.depth,
            limit=body.limit,
            country=body.country,
            language=body.language,
            include_domains=tuple(body.include_domains or ()),
            exclude_domains=tuple(body.exclude_domains or ()),
        )
        with state.ledger.lock:
            now = state.clock.now()
            self._admit_create(context, now, 1, "search")
            run_id = str(uuid.uuid4())
            run = SearchRun(
                run_id=run_id,
                owner=context.owner,
                spec=spec,
                created_at=now,
                timings=state.timings,
                synchronous=body.depth != "deep",
                fails=state.faults.run_fails(run_id),
                unknown_events=state.faults.unknown_events,
                idempotency_key=context.idempotency_key,
                request_body=json.loads(raw),
            )
            state.ledger.add_run(run)
            return self._search_response(run, now)

    async def search_list(self, request: Request) -> Response:
        with self.state.ledger.lock:
            now = self.state.clock.now()
            ts = self.state.timestamps
            page = self._page(request, "search")
            runs = [r for r in page if isinstance(r, SearchRun)]
            return JSONResponse([search_json(r, r.progress(now), ts) for r in runs])

    async def search_get(self, request: Request) -> Response:
        with self.state.ledger.lock:
            return self._search_response(self._search_run(request), self.state.clock.now())

    async def search_events(self, request: Request) -> Response:
        return self._events(request, self._search_run(request))

    async def search_cancel(self, request: Request) -> Response:
        parse_body(CancelBody, await request.body(), required=False)
        state = self.state
        with state.ledger.lock:
            run = self._search_run(request)
            now = state.clock.now()
            state.ledger.record_cancel(run.run_id)
            run.cancel(now)
            return self._search_response(run, now)

    # -- /_emulator ------------------------------------------------------------------

    async def admin_health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "ok": True,
                "version": emulator_version(),
                "api_version": API_VERSION,
                "pid": os.getpid(),  # so whoever started a shared emulator can stop that one
            }
        )

    async def admin_ledger(self, request: Request) -> Response:
        ledger = self.state.ledger
        runs = [dataclasses.asdict(snapshot) for snapshot in ledger.runs()]
        monitors = [dataclasses.asdict(snapshot) for snapshot in ledger.monitors()]
        return JSONResponse(
            {
                "now": self.state.clock.now(),
                "runs": runs,
                "monitors": monitors,
                "creates": {
                    "findall": ledger.creates("findall"),
                    "search": ledger.creates("search"),
                },
                "credits": ledger.total_credits(),
                "requests": len(ledger.requests),
                "cancels": ledger.cancels(),
                "faults_injected": ledger.faults_injected(),
            }
        )

    async def admin_get_faults(self, request: Request) -> Response:
        return JSONResponse(self.state.faults.config.model_dump())

    async def admin_put_faults(self, request: Request) -> Response:
        config = parse_body(FaultConfig, await request.body())
        self.state.faults.configure(config)
        return JSONResponse(config.model_dump())

    async def admin_inject(self, request: Request) -> Response:
        body = parse_body(InjectBody, await request.body())
        try:
            self.state.faults.inject(
                body.kind, body.times, body.method, body.path, body.status, body.message
            )
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        return JSONResponse({"pending": self.state.faults.pending_injections})

    async def admin_reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"ok": True})

    # -- routing -----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for prefix in FINDALL_PREFIXES:
            run = prefix + "/runs/{run_id}"
            routes += [
                Route(prefix, self.findall_sync, methods=["POST"]),
                Route(prefix + "/runs", self.findall_list, methods=["GET"]),
                Route(prefix + "/runs", self.findall_create, methods=["POST"]),
                Route(run, self.findall_get, methods=["GET"]),
                Route(run + "/events", self.findall_events, methods=["GET"]),
                Route(run + "/cancel", self.findall_cancel, methods=["POST"]),
                Route(run + "/extend", self.findall_extend, methods=["POST"]),
                Route(run + "/enrich", self.findall_enrich, methods=["POST"]),
            ]
        search = "/v1/searches/{run_id}"
        routes += [
            Route("/v1/search", self.search_create, methods=["POST"]),
            Route("/v1/searches", self.search_list, methods=["GET"]),
            Route(search, self.search_get, methods=["GET"]),
            Route(search + "/events", self.search_events, methods=["GET"]),
            Route(search + "/cancel", self.search_cancel, methods=["POST"]),
            *MonitorRoutes(self.state).routes(),
            Route("/_emulator/health", self.admin_health, methods=["GET"]),
            Route("/_emulator/ledger", self.admin_ledger, methods=["GET"]),
            Route("/_emulator/faults", self.admin_get_faults, methods=["GET"]),
            Route("/_emulator/faults", self.admin_put_faults, methods=["PUT"]),
            Route("/_emulator/faults/inject", self.admin_inject, methods=["POST"]),
            Route("/_emulator/reset", self.admin_reset, methods=["POST"]),
        ]
        return routes


async def _on_api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return JSONResponse({"detail": error.detail}, error.status, error.headers)


async def _on_invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestInvalid)
    return JSONResponse({"detail": error.errors}, 422)


async def _on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return JSONResponse({"detail": error.detail}, error.status_code, error.headers)


def build_app(state: EmulatorState | None = None) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh ``EmulatorState``.

    ``app.state.emulator`` holds the state (ledger, faults, clock) for callers
    that serve the app themselves.
    """
    state = state or EmulatorState.create()
    _install_quiet_aborts()
    app = Starlette(
        routes=_Api(state).routes(),
        middleware=[Middleware(ApiMiddleware, state=state)],
        exception_handlers={
            ApiError: _on_api_error,
            RequestInvalid: _on_invalid,
            HTTPException: _on_http_error,
        },
    )
    app.state.emulator = state
    return app
