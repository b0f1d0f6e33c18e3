"""``ScoutClient``: typed, synchronous calls of the Scout API over httpx.

One method per call of the contract (``docs/api-contract.md``). Every request
carries the headers the contract names; every non-GET carries an
``Idempotency-Key`` that stays the same across retries of that one logical
write (callers may pass their own, e.g. a key derived from the asset and
partition so a re-execution adopts the run it already paid for).

Usage::

    from scout_dagster import ScoutClient

    with ScoutClient(api_key=os.environ["SCOUT_API_KEY"]) as client:
        run = client.create_findall_run("S-1 stage AI infrastructure companies", limit=25)
        for event in client.stream_findall_events(run.findall_id):
            print(event.type)
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import httpx
import pydantic

from ._config import (
    API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_RETRY,
    RetryPolicy,
    normalize_base_url,
)
from ._deadline import current_deadline
from ._errors import ScoutDeadlineError, ScoutDecodeError
from ._http import (
    Redactor,
    decode_json,
    raise_for_status,
    slow_answer_notice,
    translate_transport_errors,
)
from ._models import (
    FINDALL_EVENT_TYPES,
    SEARCH_EVENT_TYPES,
    FindAllEvent,
    FindAllRun,
    SearchEvent,
    SearchRun,
    findall_event_head,
    findall_run_head,
)
from ._monitors import Monitor, MonitorEvent
from ._requests import FindAllGenerator, FindAllRequest, SearchDepth, SearchRequest, coerce_request
from ._retry import call_with_retries
from ._sse import iter_sse_resuming
from ._version import __version__

if TYPE_CHECKING:
    from ._monitor_calls import MonitorCalls

__all__ = ["FindAllGenerator", "ScoutClient", "SearchDepth"]

log = logging.getLogger("scout_dagster.client")

_Model = TypeVar("_Model", FindAllRun, SearchRun, Monitor, MonitorEvent)
_Checked = TypeVar("_Checked")

#: Per request, in seconds. Reads get 30 s because event streams send a
#: keep-alive well within that; connecting should never take more than 10 s.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: FindAll paths as documented; Scout's SDKs use the ``/v1/lists`` alias,
#: which the emulator serves too.
FINDALL_PREFIX = "/v1/findall"
#: Page size for list calls when the caller does not choose one.
DEFAULT_PAGE_SIZE = 50
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


def _drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


class ScoutClient:
    """A synchronous client of the Scout API.

    Args:
        api_key: the bearer key (``SCOUT_API_KEY``). Never logged or shown.
        base_url: the service root; ``https://core.usescout.sh`` by default.
            A trailing ``/v1`` is accepted and ignored.
        timeout: per-request timeout in seconds, or an ``httpx.Timeout``.
        retry: how failed requests are retried (:class:`RetryPolicy`).
        transport: an httpx transport to use instead of the network (tests).
        sleep: how to wait between retries; tests pass a recorder.
        logger: where retries, resumed streams and requests that are slow to
            answer are reported (a Dagster step's ``context.log`` puts them in
            the run's log); the ``scout_dagster.client`` logger by default.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ValueError(
                "api_key is empty: set SCOUT_API_KEY or pass the key of your Scout account"
            )
        self.base_url = normalize_base_url(base_url)
        self.retry = retry
        self._sleep = sleep
        self.log = logger or log
        self._redact = Redactor(api_key)
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=_BearerAuth(api_key),
            timeout=self._timeout,
            transport=transport,
            headers={
                "Accept": "application/json",
                "Scout-Version": API_VERSION,
                "User-Agent": f"scout-dagster/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"ScoutClient(base_url={self.base_url!r}, api_key=***)"

    @property
    def monitors(self) -> MonitorCalls:
        """The Monitors calls: ``client.monitors.create(...)``, ``.events(...)``, ..."""
        from ._monitor_calls import MonitorCalls  # it imports this module

        return MonitorCalls(self)

    def server_text(self, text: str | None) -> str | None:
        """A server's words (a run's ``error``, say) as they may be kept in a
        message or metadata: the key redacted, the text cut to a few KB."""
        return self._redact.server_text(text)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ScoutClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        decode: Callable[[str, str, httpx.Response, Redactor], Any] = decode_json,
    ) -> Any:
        """Send one logical request (retried per policy) and return ``decode`` of
        the response (by default its JSON, the key redacted from it; a body
        that fails to decode is retried like a dropped connection). Inside a
        deadline scope (``_deadline.within``) every attempt and every wait
        ends by the deadline."""
        headers: dict[str, str] = {}
        if method != "GET":
            # One key for every attempt, so a retry after a lost response is
            # answered with the original response instead of a second run.
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        content = json.dumps(body).encode() if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"

        def attempt() -> Any:
            with (
                translate_transport_errors(method, path, self._redact),
                slow_answer_notice(self.log, f"{method} {path}", self._timeout.read),
            ):
                response = self._send(method, path, content, params, headers)
            raise_for_status(method, path, response, self._redact)
            return decode(method, path, response, self._redact)

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
    ) -> httpx.Response:
        """One attempt, its body read whole. Within a deadline it runs on a
        thread of its own, so the deadline can abandon it mid-body (httpx's
        timeouts are per read: a body that trickles never times out)."""
        deadline = current_deadline()
        if deadline is None:
            return self._http.request(method, path, content=content, params=params, headers=headers)
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
                    chunks: list[bytes] = []
                    for chunk in response.iter_raw():
                        if abandoned.is_set():
                            return  # leaving the block closes the connection
                        chunks.append(chunk)
                # Raw bytes and the original headers: the copy decodes any
                # Content-Encoding itself, once.
                outcome.append(
                    httpx.Response(
                        response.status_code,
                        headers=response.headers,
                        content=b"".join(chunks),  # as httpx's own read() joins them
                        request=response.request,
                    )
                )
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
            page = _page_items(payload, path)
            for item in page:
                if limit is not None and yielded >= limit:
                    return
                yield self._parse(model, item, "GET", path)
                yielded += 1
            if len(page) < page_size:
                return
            offset += len(page)

    # ------------------------------------------------------------ FindAll

    def run_findall(
        self,
        request: FindAllRequest | str | None = None,
        *,
        idempotency_key: str | None = None,
        **request_fields: Any,
    ) -> FindAllRun:
        """``POST /v1/findall``: run a FindAll synchronously and return the finished run.

        ``request`` is a :class:`FindAllRequest`, or the query with the
        request's other fields as keywords (``limit=5``), checked the same way.
        """
        body = coerce_request(FindAllRequest, request, request_fields).body()
        return self._call(
            FindAllRun, "POST", FINDALL_PREFIX, body=body, idempotency_key=idempotency_key
        )

    def create_findall_run(
        self,
        request: FindAllRequest | str | None = None,
        *,
        idempotency_key: str | None = None,
        **request_fields: Any,
    ) -> FindAllRun:
        """``POST /v1/findall/runs``: start a FindAll run; returns it as created.

        ``request`` as in :meth:`run_findall`.
        """
        body = coerce_request(FindAllRequest, request, request_fields).body()
        return self._call(
            FindAllRun, "POST", f"{FINDALL_PREFIX}/runs", body=body, idempotency_key=idempotency_key
        )

    def list_findall_runs(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, limit: int | None = None
    ) -> Iterator[FindAllRun]:
        """``GET /v1/findall/runs``: every run (newest first), fetched page by page."""
        return self._paginate(FindAllRun, f"{FINDALL_PREFIX}/runs", page_size, limit)

    def get_findall_run(self, findall_id: str, *, entities: bool = True) -> FindAllRun:
        """``GET /v1/findall/runs/{findall_id}``.

        With ``entities=False`` the run comes with its declared fields only:
        its entities, candidates and any field this client does not know are
        parsed but never built as Python objects. For watching a large run.
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"
        if entities:
            return self._call(FindAllRun, "GET", path)
        payload = self._request("GET", path, decode=_decode_run_head)
        return self._parse(FindAllRun, payload, "GET", path)

    def get_findall_run_bytes(self, findall_id: str) -> bytes:
        """``GET /v1/findall/runs/{findall_id}``: the body's bytes, the key
        redacted, unparsed (for a reader that builds tables from them)."""
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"

        def decode(method: str, path: str, response: httpx.Response, redact: Redactor) -> bytes:
            return redact.in_bytes(response.content)

        content: bytes = self._request("GET", path, decode=decode)
        return content

    def get_findall_run_raw(self, findall_id: str) -> tuple[FindAllRun, bytes]:
        """``GET /v1/findall/runs/{findall_id}``: the run without its entities
        (as ``entities=False`` gives it) and the body's bytes, the key redacted.

        One download for both: a caller that finds the run completed reads its
        tables from these bytes instead of downloading the run again.
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"

        def decode(
            method: str, path: str, response: httpx.Response, redact: Redactor
        ) -> tuple[Any, bytes]:
            content = redact.in_bytes(response.content)
            try:
                head = findall_run_head(content)
            except ValueError:
                return decode_json(method, path, response, redact), content
            return redact.value(head), content

        payload, content = self._request("GET", path, decode=decode)
        return self._parse(FindAllRun, payload, "GET", path), content

    def get_findall_run_body(
        self, findall_id: str, *, check: Callable[[bytes], _Checked]
    ) -> tuple[_Checked, bytes]:
        """``GET /v1/findall/runs/{findall_id}`` as raw bytes, with ``check`` of them.

        For runs too large to go through Python objects (a million entities is
        a ~200 MB body): ``check`` reads what the caller needs from the bytes
        (say, with pyarrow) and raises ``ValueError`` when they are not the
        JSON it expects; that is retried like a dropped connection. Any other
        error of ``check`` is raised as it is, at once.
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"

        def decode(
            method: str, path: str, response: httpx.Response, redact: Redactor
        ) -> tuple[_Checked, bytes]:
            content = redact.in_bytes(response.content)
            try:
                return check(content), content
            except ValueError as exc:
                raise ScoutDecodeError(
                    f"response {response.status_code} is not the run object expected ({exc})",
                    method=method,
                    path=path,
                ) from None

        result: tuple[_Checked, bytes] = self._request("GET", path, decode=decode)
        return result

    def cancel_findall_run(
        self, findall_id: str, *, idempotency_key: str | None = None
    ) -> FindAllRun:
        """``POST …/cancel``. The run stops at its next checkpoint and its partial
        result is discarded; the answer may carry a ``null`` status meanwhile."""
        return self._call(
            FindAllRun,
            "POST",
            f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}/cancel",
            body={},
            idempotency_key=idempotency_key,
        )

    def extend_findall_run(
        self, findall_id: str, additional_limit: int, *, idempotency_key: str | None = None
    ) -> FindAllRun:
        """``POST …/extend``: raise the match limit by ``additional_limit``."""
        return self._call(
            FindAllRun,
            "POST",
            f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}/extend",
            body={"additional_limit": additional_limit},
            idempotency_key=idempotency_key,
        )

    def enrich_findall_run(
        self,
        findall_id: str,
        *,
        fields: list[str] | None = None,
        output_schema: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> FindAllRun:
        """``POST …/enrich``: add fields to the run's matched entities."""
        return self._call(
            FindAllRun,
            "POST",
            f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}/enrich",
            body=_drop_none({"fields": fields, "output_schema": output_schema}),
            idempotency_key=idempotency_key,
        )

    def stream_findall_events(
        self, findall_id: str, *, last_event_id: str | None = None, entities: bool = True
    ) -> Iterator[FindAllEvent]:
        """``GET …/events``: the run's events until its terminal status.

        Resumes after dropped connections; skips keep-alives and event types
        this client does not know. The last event yielded is the terminal
        ``findall.status`` unless the caller stops earlier. With
        ``entities=False`` the runs in ``findall.status`` events (which the
        contract says carry the whole run, on every heartbeat) come as
        ``get_findall_run(..., entities=False)`` gives them, and so does the
        event's ``raw`` payload; the terminal event of a completed run keeps
        the run object's bytes as ``body`` (a reader of them need not
        download the run again).
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}/events"
        decode = _decode_event if entities else _decode_event_without_entities
        for payload, sse_id in self._iter_payloads(
            path, FINDALL_EVENT_TYPES, last_event_id, decode
        ):
            body = payload.pop(_BODY_KEY, None)
            event = FindAllEvent.from_payload(payload, sse_id)
            if body is not None and event.run is not None and event.run.state.is_terminal:
                event = event.model_copy(update={"body": body})
            yield event
            if event.is_terminal:
                return

    # ------------------------------------------------------------ search

    def search(
        self,
        request: SearchRequest | Sequence[str] | None = None,
        *,
        depth: Literal["shallow", "standard"] = "standard",
        idempotency_key: str | None = None,
        **request_fields: Any,
    ) -> SearchRun:
        """``POST /v1/search`` with a synchronous depth: the finished search.

        ``request`` as in :meth:`create_search_run`.
        """
        body = {**coerce_request(SearchRequest, request, request_fields).body(), "depth": depth}
        return self._call(
            SearchRun, "POST", "/v1/search", body=body, idempotency_key=idempotency_key
        )

    def create_search_run(
        self,
        request: SearchRequest | Sequence[str] | None = None,
        *,
        idempotency_key: str | None = None,
        **request_fields: Any,
    ) -> SearchRun:
        """``POST /v1/search`` with ``depth="deep"``: start an async deep-search run.

        ``request`` is a :class:`SearchRequest`, or the queries with the
        request's other fields as keywords (``objective="..."``).
        """
        body = coerce_request(SearchRequest, request, request_fields).body()
        return self._call(
            SearchRun, "POST", "/v1/search", body=body, idempotency_key=idempotency_key
        )

    def list_search_runs(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, limit: int | None = None
    ) -> Iterator[SearchRun]:
        """``GET /v1/searches``: every search run (newest first), page by page."""
        return self._paginate(SearchRun, "/v1/searches", page_size, limit)

    def get_search_run(self, search_id: str) -> SearchRun:
        """``GET /v1/searches/{search_id}``."""
        return self._call(SearchRun, "GET", f"/v1/searches/{run_segment(search_id)}")

    def cancel_search_run(self, search_id: str, *, idempotency_key: str | None = None) -> SearchRun:
        """``POST …/cancel``. The run stops at its next page checkpoint and keeps
        whatever it gathered."""
        return self._call(
            SearchRun,
            "POST",
            f"/v1/searches/{run_segment(search_id)}/cancel",
            body={},
            idempotency_key=idempotency_key,
        )

    def stream_search_events(
        self, search_id: str, *, last_event_id: str | None = None
    ) -> Iterator[SearchEvent]:
        """``GET /v1/searches/{search_id}/events``: progress, then the terminal event."""
        path = f"/v1/searches/{run_segment(search_id)}/events"
        for payload, sse_id in self._iter_payloads(path, SEARCH_EVENT_TYPES, last_event_id):
            event = SearchEvent.from_payload(payload, sse_id)
            yield event
            if event.is_terminal:
                return

    # ------------------------------------------------------------ streams

    def _iter_payloads(
        self,
        path: str,
        known_types: frozenset[str],
        last_event_id: str | None,
        decode: Callable[[str, str | None], Any] | None = None,
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Decoded ``data`` objects of known event types, with their SSE ids."""
        decode = decode or _decode_event
        events = iter_sse_resuming(
            self._http,
            path,
            policy=self.retry,
            sleep=self._sleep,
            redact=self._redact,
            last_event_id=last_event_id,
            log=self.log,
        )
        try:
            for sse in events:
                data = self._redact(sse.data)
                try:
                    payload = decode(data, sse.event) if data else None
                    if "\\u" in data and isinstance(payload, dict):
                        payload = self._redact.value(payload)  # an escaped key, decoded
                except ValueError:
                    self.log.warning("skipping event %s on %s: its data is not JSON", sse.id, path)
                    continue
                if not isinstance(payload, dict):
                    continue
                payload.setdefault("type", sse.event)
                if payload["type"] not in known_types:
                    continue  # the contract says: ignore event types you do not know
                yield payload, sse.id or None
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


def _page_items(payload: Any, path: str) -> list[Any]:
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


def _decode_event(data: str, _sse_type: str | None) -> Any:
    return json.loads(data)


def _decode_event_without_entities(data: str, sse_type: str | None) -> Any:
    """A FindAll event's payload; a ``findall.status`` run without its entities
    and candidates. Raises ``ValueError`` when ``data`` is not JSON."""
    if sse_type not in (None, "message", "findall.status"):  # "message": no event line
        return json.loads(data)  # a candidate or an error: small, and read whole
    try:
        head = findall_event_head(data)
    except ValueError:
        return json.loads(data)  # not the shape a head reads: decode it whole (or fail)
    if head.get("type", sse_type) != "findall.status":
        return json.loads(data)  # a candidate or an error: small, and read whole
    nested = head.get("data")
    run: dict[str, Any] = nested if isinstance(nested, dict) else head
    status = run.get("status")
    state = status.get("status") if isinstance(status, dict) else status
    if state == "completed" and '"entities"' in data:
        # The run's end, with its entities: its bytes are the run's body.
        body = event_run_bytes(data.encode(), nested=run is not head)
        if body is not None:
            head[_BODY_KEY] = body
    return head


#: Where a decoded status event carries its run's bytes to the stream reader.
_BODY_KEY = "\x00body"


def event_run_bytes(data: bytes, *, nested: bool) -> bytes | None:
    """The run object inside a ``findall.status`` event's data, as bytes: the
    data itself (flat form), or its ``data`` member (nested form) when that
    is the envelope's last member; None when it cannot be cut out surely."""
    if not nested:
        return data
    end = data.rstrip().rfind(b"}")
    # The envelope's keys before "data" are short (type, event_id, timestamp).
    for found in re.finditer(rb'"data"\s*:\s*', data[:4096]):
        start = found.end()
        try:
            envelope = json.loads(data[:start] + b"null}")
        except ValueError:
            continue  # "data" inside a string: not the envelope's own key
        if isinstance(envelope, dict) and "type" in envelope and data[start : start + 1] == b"{":
            return data[start:end]
    return None


def _decode_run_head(method: str, path: str, response: httpx.Response, redact: Redactor) -> Any:
    """A FindAll run object without its entities and candidates, or
    ScoutDecodeError naming the call (retryable)."""
    try:
        head = findall_run_head(redact.in_bytes(response.content))
    except ValueError:
        return decode_json(method, path, response, redact)  # its error, or a non-object payload
    return redact.value(head)  # small: its escaped strings are redacted too


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
