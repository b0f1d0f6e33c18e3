"""What the FindAll and search routes share: admitting a create, paging a
caller's runs, and serving a run's events as SSE or as JSON.
"""

from __future__ import annotations

from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ._accept import wants_stream
from ._errors import ApiError
from ._faults import create_cap_retry_after
from ._middleware import RequestContext, request_context
from ._runs import Run
from ._schemas import EventsQuery, ListQuery, parse_params
from ._sse_messages import sse_messages
from ._state import EmulatorState
from ._streams import event_stream

__all__ = ["RunRoutes"]


class RunRoutes:
    """The steps the FindAll and search handlers of one emulator share."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

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

    def _page(self, request: Request, kind: Literal["findall", "search"]) -> list[Run]:
        """One page (``?limit=&offset=``) of the caller's runs of ``kind``, newest first."""
        params = parse_params(ListQuery, dict(request.query_params))
        runs = self.state.ledger.owned_runs(request_context(request).owner, kind)
        return runs[params.offset : params.offset + params.limit]

    def _events(self, request: Request, run: Run) -> Response:
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
