"""The wire layer around every request: request ids, auth, faults, idempotency, the log.

A pure ASGI middleware, so it can hold a response back (to keep it for
idempotent replay, or to garble it for a fault) and cut a connection mid-body.
For each ``/v1`` request, in order:

1. give it an ``x-request-id`` (every response, ``/_emulator/*`` included);
2. check ``Authorization: Bearer <key>`` (401 otherwise; the key is never echoed),
   then catch monitors up, so the runs due by now happen before anything else;
3. ask ``Faults`` for a fault: 429/5xx/any-status answers short-circuit the
   request before it is handled (nothing happens server-side, so a retry is
   safe); ``slow`` waits first; ``drop`` and ``malformed_json`` let the request
   be handled and then spoil the response (the work happened, the answer is
   lost: the case idempotency keys exist for); ``stream_drop`` is carried out
   by the event stream itself (an ``/events`` GET answered as JSON, per its
   ``Accept``, is a JSON answer here, not a stream);
4. replay or refuse an ``Idempotency-Key`` already seen (``_idempotency``);
5. record the request in the ledger when its status line goes out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._accept import is_stream_request
from ._faults import DeliberateAbort, FaultDecision
from ._idempotency import Conflict, InFlight, StoredResponse, fingerprint
from ._ledger import RequestRecord
from ._state import EmulatorState

__all__ = ["ApiMiddleware", "RequestContext", "request_context"]

logger = logging.getLogger("scout_dagster.emulator")

_CONTEXT_KEY = "scout_emulator"
_SHORT_CIRCUIT = frozenset({"rate_limit", "server_error", "status"})
_FAULT_MESSAGES = {
    429: "Rate limit exceeded (emulated fault); retry after the Retry-After delay",
    500: "Internal server error (emulated fault)",
    502: "Bad gateway (emulated fault)",
    503: "Service temporarily unavailable (emulated fault)",
}


@dataclass
class RequestContext:
    """Per-request facts the handlers need; found with ``request_context(request)``."""

    request_id: str
    owner: str  # fingerprint of the caller's API key
    idempotency_key: str | None
    stream_drop_after: int | None = None  # abort a stream after this many events
    handler_fault: str | None = None  # a fault the handler applied (the create cap)
    record_position: int | None = None  # the request's place in the ledger log


def request_context(request: Request) -> RequestContext:
    context = request.scope.get("state", {}).get(_CONTEXT_KEY)
    if not isinstance(context, RequestContext):
        raise RuntimeError("request reached a /v1 handler without passing ApiMiddleware")
    return context


@dataclass
class _Captured:
    """A response held back by the middleware."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> _Captured:
        body = json.dumps(payload).encode()
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ]
        return cls(status, raw_headers, body)

    def messages(self) -> list[Message]:
        return [
            {"type": "http.response.start", "status": self.status, "headers": self.headers},
            {"type": "http.response.body", "body": self.body, "more_body": False},
        ]


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> _Captured:
    """Run ``app`` to completion and keep its (non-streaming) response."""
    captured = _Captured(500, [], b"")

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured.status = message["status"]
            captured.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            captured.body += message.get("body", b"")

    await app(scope, receive, keep)
    return captured


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole request body; returns it and a ``receive`` that yields it again."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


class ApiMiddleware:
    """Request ids, auth, faults, idempotency and the request log (see module docstring)."""

    def __init__(self, app: ASGIApp, state: EmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(12)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            if scope["path"].startswith("/v1"):
                await self._api(scope, receive, send_with_id, request_id)
            else:
                await self.app(scope, receive, send_with_id)
        except DeliberateAbort:
            raise
        except Exception:
            # A bug, not a fault: say so in the log, and answer JSON like the API does.
            logger.exception("emulator error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            for message in _Captured.json(500, {"detail": "Internal emulator error"}).messages():
                await send_with_id(message)

    async def _api(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        state = self.state
        headers = Headers(scope=scope)
        method: str = scope["method"]
        path: str = scope["path"]
        idempotency_key = headers.get("idempotency-key") if method != "GET" else None

        def record(status: int, fault: str | None, replayed: bool = False) -> int:
            return state.ledger.record_request(
                RequestRecord(
                    method=method,
                    path=path,
                    query=scope.get("query_string", b"").decode("latin-1"),
                    status=status,
                    idempotency_key=idempotency_key,
                    fault=fault,
                    request_id=request_id,
                    at=state.clock.now(),
                    scout_version=headers.get("scout-version"),
                    user_agent=headers.get("user-agent"),
                    idempotent_replay=replayed,
                )
            )

        async def answer(
            status: int, detail: str, fault: str | None, extra: dict[str, str] | None = None
        ) -> None:
            record(status, fault)
            for message in _Captured.json(status, {"detail": detail}, extra).messages():
                await send(message)

        scheme, _, token = headers.get("authorization", "").partition(" ")
        owner = state.owner_of(token.strip()) if scheme.lower() == "bearer" else None
        if owner is None:
            detail = "Invalid API key" if token.strip() else "Missing bearer token"
            await answer(401, detail, None, {"www-authenticate": "Bearer"})
            return

        context = RequestContext(request_id, owner, idempotency_key)
        scope.setdefault("state", {})[_CONTEXT_KEY] = context
        state.ledger.catch_up()
        streaming = is_stream_request(method, path, headers.get("accept"))
        decision = state.faults.decide(method, path, streaming=streaming)
        fault = decision.kind if decision and decision.kind != "stream_drop" else None

        if decision and decision.kind in _SHORT_CIRCUIT:
            status = decision.status or 500
            extra = (
                {}
                if decision.retry_after_s is None
                else {"retry-after": str(decision.retry_after_s)}
            )
            detail = decision.message or _FAULT_MESSAGES.get(status, f"Emulated error {status}")
            await answer(status, detail, decision.kind, extra)
            return
        if decision and decision.kind == "slow":
            await asyncio.sleep(decision.delay_s)
        if decision and decision.kind == "stream_drop":
            context.stream_drop_after = decision.after_events

        if streaming:
            await self._stream(scope, receive, send, context, lambda status: record(status, fault))
            return

        response, replayed = await self._handle(scope, receive, context)
        applied = fault or context.handler_fault
        context.record_position = record(response.status, applied, replayed)
        await self._deliver(response, decision, send)

    async def _handle(
        self, scope: Scope, receive: Receive, context: RequestContext
    ) -> tuple[_Captured, bool]:
        """The handler's response, or the one kept for a repeated Idempotency-Key.

        Returns the response and whether it is a replay.
        """
        key = context.idempotency_key
        if not key:
            return await _capture(self.app, scope, receive), False
        store = self.state.ledger.idempotency
        body, receive = await _read_body(receive)
        outcome = store.begin(context.owner, key, fingerprint(scope["method"], scope["path"], body))
        if isinstance(outcome, Conflict):
            detail = f"Idempotency-Key {key} was used with a different request"
            return _Captured.json(409, {"detail": detail}), False
        if isinstance(outcome, InFlight):
            detail = f"A request with Idempotency-Key {key} is still in progress"
            return _Captured.json(409, {"detail": detail}), False
        if isinstance(outcome, StoredResponse):
            headers = [*outcome.headers, (b"idempotent-replayed", b"true")]
            return _Captured(outcome.status, headers, outcome.body), True
        response: _Captured | None = None
        try:
            response = await _capture(self.app, scope, receive)
        finally:
            kept = None
            if response is not None:
                kept = StoredResponse(response.status, tuple(response.headers), response.body)
            store.complete(context.owner, key, kept)
        return response, False

    async def _stream(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        context: RequestContext,
        record: Callable[[int], int],
    ) -> None:
        """Pass a streaming response through, logging it when its status goes out."""

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                context.record_position = record(message["status"])
            await send(message)

        await self.app(scope, receive, send_logged)

    @staticmethod
    async def _deliver(response: _Captured, decision: FaultDecision | None, send: Send) -> None:
        kind = decision.kind if decision else None
        if kind == "drop":
            # Headers promise the whole body; half of it arrives, then the
            # connection dies, so the client sees a protocol error.
            start, body = response.messages()
            await send(start)
            await send(
                {**body, "body": response.body[: len(response.body) // 2], "more_body": True}
            )
            raise DeliberateAbort("drop fault: connection cut mid-body")
        if kind == "malformed_json":
            cut = response.body[: max(1, len(response.body) // 2)]
            headers = [(k, v) for k, v in response.headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(cut)).encode()))
            response = _Captured(response.status, headers, cut)
        for message in response.messages():
            await send(message)
