"""The FindAll routes: create (queued or synchronous), list, retrieve, events,
cancel, extend and enrich.

Each exists under ``/v1/findall`` and its alias ``/v1/lists``. A run belongs to
the API key that created it; another key gets 404.
"""

from __future__ import annotations

import json
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._errors import ApiError
from ._findall_payloads import findall_json
from ._findall_runs import (
    FINDALL_FIXED_CREDITS,
    Enrichment,
    FindAllRun,
    FindAllSpec,
    RunNotChangeable,
)
from ._middleware import request_context
from ._run_routes import RunRoutes
from ._schemas import CancelBody, EnrichBody, ExtendBody, FindAllCreateBody, parse_body

__all__ = ["FINDALL_PREFIXES", "FindAllRoutes"]

FINDALL_PREFIXES = ("/v1/findall", "/v1/lists")  # [doc] path, then the [sdk] alias


class FindAllRoutes(RunRoutes):
    """The FindAll handlers of one emulator."""

    # -- shared steps ------------------------------------------------------------

    def _findall_run(self, request: Request) -> FindAllRun:
        run_id = request.path_params["run_id"]
        run = self.state.ledger.find_run(run_id)
        if not isinstance(run, FindAllRun) or run.owner != request_context(request).owner:
            raise ApiError(404, f"FindAll run {run_id} not found")
        return run

    def _findall_response(self, run: FindAllRun, at: float) -> JSONResponse:
        return JSONResponse(findall_json(run, run.progress(at), at, self.state.timestamps))

    # -- handlers ----------------------------------------------------------------

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

    # -- routing -----------------------------------------------------------------

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
        return routes
