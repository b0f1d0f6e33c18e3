"""The search routes: create (synchronous unless deep), list, retrieve, events
and cancel.

A run belongs to the API key that created it; another key gets 404.
"""

from __future__ import annotations

import json
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._errors import ApiError
from ._middleware import request_context
from ._run_routes import RunRoutes
from ._schemas import CancelBody, SearchCreateBody, parse_body
from ._search_payloads import search_json
from ._search_runs import SearchRun, SearchSpec

__all__ = ["SearchRoutes"]


class SearchRoutes(RunRoutes):
    """The search handlers of one emulator."""

    # -- shared steps ------------------------------------------------------------

    def _search_run(self, request: Request) -> SearchRun:
        run_id = request.path_params["run_id"]
        run = self.state.ledger.find_run(run_id)
        if not isinstance(run, SearchRun) or run.owner != request_context(request).owner:
            raise ApiError(404, f"Search run {run_id} not found")
        return run

    def _search_response(self, run: SearchRun, at: float) -> JSONResponse:
        return JSONResponse(search_json(run, run.progress(at), self.state.timestamps))

    # -- handlers ----------------------------------------------------------------

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

    # -- routing -----------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        search = "/v1/searches/{run_id}"
        return [
            Route("/v1/search", self.search_create, methods=["POST"]),
            Route("/v1/searches", self.search_list, methods=["GET"]),
            Route(search, self.search_get, methods=["GET"]),
            Route(search + "/events", self.search_events, methods=["GET"]),
            Route(search + "/cancel", self.search_cancel, methods=["POST"]),
        ]
