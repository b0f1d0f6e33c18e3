"""The path every call of :class:`~scout_dagster._client.ScoutClient` takes.

One logical request (its bearer key and headers, ``Idempotency-Key``,
retries and deadline), its answer parsed as a model, a list read page by
page, a run's event stream opened and resumed, a run id made one URL path
segment. ``ScoutClient`` is built on :class:`RequestPath`; ``client.monitors``
(``_monitor_calls.py``) sends through it too.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from ._config import RetryPolicy
from ._deadline import current_deadline
from ._errors import ScoutDeadlineError, ScoutDecodeError
from ._http import (
    Redactor,
    decode_json,
    raise_for_status,
    slow_answer_notice,
    translate_transport_errors,
)
from ._models import FindAllRun, SearchRun
from ._monitors import Monitor, MonitorEvent
from ._retry import call_with_retries
from ._run_bodies import BodySink, finished_body
from ._run_events import decode_event, event_payloads
from ._sse import iter_sse_resuming
from ._text import RedactedFeed

__all__ = ["RequestPath", "page_items", "run_segment"]

_Model = TypeVar("_Model", FindAllRun, SearchRun, Monitor, MonitorEvent)

#: Keys under which a list endpoint might wrap its page in an object; the
#: contract does not say, so a bare JSON array and any of these are read.
_PAGE_KEYS = (
    "data",
    "items",
    "runs",
    "results",
    "searches",
    "findall_runs",
    "monitors",
    "events",
)
#: Longest run id put into a URL. Ids are opaque; this one is not an id.
MAX_RUN_ID_CHARS = 256


def run_segment(run_id: str) -> str:
    """A server-sent run id as one URL path segment: percent-escaped whole, so
    ``/``, ``?``, ``#`` and ``%`` stay inside it. ``.``, ``..`` and ids that
    are empty, too long or hold control characters are refused: no escape
    keeps a dot segment from being read as one, and no request may leave the
    run's own path (the cancel carries the bearer key)."""
    if (
        not isinstance(run_id, str)
        or run_id.strip(".") == ""
        or len(run_id) > MAX_RUN_ID_CHARS
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in run_id)
    ):
        raise ScoutDecodeError(
            f"the server gave a run id that cannot be used in a URL: {run_id!r:.80}",
            method="GET",
            path="(run id)",
        )
    return quote(run_id, safe="")


class _BearerAuth(httpx.Auth):
    """Adds ``Authorization: Bearer`` per request; its repr never shows the key."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._api_key}"
        yield request

    def __repr__(self) -> str:
        return "_BearerAuth(api_key=***)"


class RequestPath:
    """Sending, decoding and paging for a client whose ``__init__`` sets these."""

    retry: RetryPolicy
    log: logging.Logger
    _http: httpx.Client
    _redact: Redactor
    _timeout: httpx.Timeout
    _sleep: Callable[[float], None]

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        decode: Callable[[str, str, httpx.Response, Redactor], Any] = decode_json,
        sink: Callable[[], BodySink[Any]] | None = None,
    ) -> Any:
        """Send one logical request (retried per policy) and return ``decode`` of
        the response (by default its JSON, the key redacted from it; a body
        that fails to decode is retried like a dropped connection). Inside a
        deadline scope (``_deadline.within``) every attempt and every wait
        ends by the deadline.

        With ``sink``, each attempt's success body goes to a new ``sink()`` as
        it downloads, the key redacted, and what it finishes as is returned
        (its ``ValueError`` retried); the body is never held whole."""
        headers: dict[str, str] = {}
        if method != "GET":
            # One key for every attempt, so a retry after a lost response is
            # answered with the original response instead of a second run.
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"

        def attempt() -> Any:
            reader = sink() if sink is not None else None
            try:
                feed = self._redact.feeding(reader) if reader is not None else None
                with (
                    translate_transport_errors(method, path, self._redact),
                    slow_answer_notice(self.log, f"{method} {path}", self._timeout.read),
                ):
                    response = self._send(method, path, content, params, headers, feed)
                raise_for_status(method, path, response, self._redact)
                if reader is not None:
                    return finished_body(method, path, response, reader)
                return decode(method, path, response, self._redact)
            finally:
                if reader is not None:
                    reader.close()

        return call_with_retries(
            attempt,
            policy=self.retry,
            describe=f"{method} {path}",
            sleep=self._sleep,
            log=self.log,
        )

    def _send(
        self,
        method: str,
        path: str,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        feed: RedactedFeed | None = None,
    ) -> httpx.Response:
        """One attempt, its body read whole, or a success body into ``feed``.
        Within a deadline it runs on a thread of its own, so the deadline can
        abandon it mid-body (httpx's timeouts are per read: a body that
        trickles never times out)."""
        deadline = current_deadline()
        if deadline is None:
            if feed is None:
                return self._http.request(
                    method, path, content=content, params=params, headers=headers
                )
            with self._http.stream(
                method, path, content=content, params=params, headers=headers
            ) as streamed:
                received = _received(streamed, feed, None)
            assert received is not None  # never abandoned
            return received
        remaining = deadline.remaining()
        if remaining <= 0:
            raise ScoutDeadlineError(
                f"not sent: {deadline.why} has passed", method=method, path=path
            )
        abandoned = threading.Event()
        outcome: list[httpx.Response | BaseException] = []

        def send() -> None:
            try:
                with self._http.stream(
                    method,
                    path,
                    content=content,
                    params=params,
                    headers=headers,
                    timeout=_within(self._timeout, remaining),
                ) as response:
                    received = _received(response, feed, abandoned)
                if received is not None:  # else abandoned: leaving the block closed it
                    outcome.append(received)
            except BaseException as exc:  # handed to the waiting thread
                outcome.append(exc)

        worker = threading.Thread(target=send, daemon=True, name="scout-request")
        worker.start()
        worker.join(min(remaining, threading.TIMEOUT_MAX))
        # A read timeout (capped at what was left) that fired as the deadline
        # passed is the deadline, not a failure worth another attempt.
        if not outcome or (isinstance(outcome[0], httpx.TimeoutException) and deadline.expired()):
            abandoned.set()
            raise ScoutDeadlineError(
                f"abandoned after {remaining:.1f} s without a complete answer: "
                f"{deadline.why} passed",
                method=method,
                path=path,
            )
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def _parse(self, model: type[_Model], payload: Any, method: str, path: str) -> _Model:
        try:
            return model.from_payload(payload)
        except pydantic.ValidationError as exc:
            raise _shape_error(model, exc, method, path) from None

    def _call(
        self,
        model: type[_Model],
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> _Model:
        payload = self._request(method, path, body=body, idempotency_key=idempotency_key)
        return self._parse(model, payload, method, path)

    def _paginate(
        self, model: type[_Model], path: str, page_size: int, limit: int | None
    ) -> Iterator[_Model]:
        """Fetch pages lazily (``limit``/``offset``) until a short page or ``limit`` items."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        offset = 0
        yielded = 0
        while True:
            payload = self._request("GET", path, params={"limit": page_size, "offset": offset})
            page = page_items(payload, path)
            for item in page:
                if limit is not None and yielded >= limit:
                    return
                yield self._parse(model, item, "GET", path)
                yielded += 1
            if len(page) < page_size:
                return
            offset += len(page)

    def _iter_payloads(
        self,
        path: str,
        known_types: frozenset[str],
        last_event_id: str | None,
        decode: Callable[[str, str | None], Any] | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Decoded ``data`` objects of known event types, with their SSE ids
        (:func:`~scout_dagster._run_events.event_payloads`); ``stop`` as
        :func:`~scout_dagster._sse.iter_sse_resuming` takes it."""
        decode = decode or decode_event
        events = iter_sse_resuming(
            self._http,
            path,
            policy=self.retry,
            sleep=self._sleep,
            redact=self._redact,
            last_event_id=last_event_id,
            log=self.log,
            stop=stop,
        )
        try:
            yield from event_payloads(events, path, known_types, decode, self._redact, self.log)
        finally:
            events.close()


def _shape_error(
    model: type[Any], exc: pydantic.ValidationError, method: str, path: str
) -> ScoutDecodeError:
    first = exc.errors()[0]
    return ScoutDecodeError(
        f"response is not a {model.__name__}: {exc.error_count()} problem(s), "
        f"first: {first['loc']} {first['msg']}",
        method=method,
        path=path,
    )


def page_items(payload: Any, path: str) -> list[Any]:
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        for key in _PAGE_KEYS:
            if isinstance(payload.get(key), list):
                return list(payload[key])
    raise ScoutDecodeError(
        f"list response is neither an array nor an object with one of {_PAGE_KEYS}",
        method="GET",
        path=path,
    )


def _received(
    response: httpx.Response, feed: RedactedFeed | None, abandoned: threading.Event | None
) -> httpx.Response | None:
    """A streamed response read to its end: a success body into ``feed`` (the
    answer then has no body), any other body whole. None once ``abandoned``."""
    if feed is not None and response.is_success:
        for chunk in response.iter_bytes():
            if abandoned is not None and abandoned.is_set():
                return None
            feed.feed(chunk)
        feed.flush()
        return httpx.Response(response.status_code, request=response.request)
    chunks: list[bytes] = []
    for chunk in response.iter_raw():
        if abandoned is not None and abandoned.is_set():
            return None
        chunks.append(chunk)
    # Raw bytes and the original headers: the copy decodes any
    # Content-Encoding itself, once.
    return httpx.Response(
        response.status_code,
        headers=response.headers,
        content=b"".join(chunks),  # as httpx's own read() joins them
        request=response.request,
    )


def _within(timeout: httpx.Timeout, seconds: float) -> httpx.Timeout:
    """``timeout`` with no part longer than ``seconds``."""

    def cap(value: float | None) -> float:
        return seconds if value is None else min(value, seconds)

    return httpx.Timeout(
        connect=cap(timeout.connect),
        read=cap(timeout.read),
        write=cap(timeout.write),
        pool=cap(timeout.pool),
    )
