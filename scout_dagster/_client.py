"""``ScoutClient``: typed, synchronous calls of the Scout API over httpx.

One method per call of the contract (``docs/api-contract.md``). Every request
carries the headers the contract names; every non-GET carries an
``Idempotency-Key`` that stays the same across retries of that one logical
write (callers may pass their own, e.g. a key derived from the asset and
partition so a re-execution adopts the run it already paid for). How a call
is sent, retried and paged is ``_request_path.py``'s; how a run's events and
its body are decoded, ``_run_events.py``'s and ``_run_bodies.py``'s.

Usage::

    from scout_dagster import ScoutClient

    with ScoutClient(api_key=os.environ["SCOUT_API_KEY"]) as client:
        run = client.create_findall_run("S-1 stage AI infrastructure companies", limit=25)
        for event in client.stream_findall_events(run.findall_id):
            print(event.type)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from ._config import (
    API_VERSION,
    DEFAULT_BASE_URL,
    DEFAULT_RETRY,
    RetryPolicy,
    normalize_base_url,
)
from ._events import FINDALL_EVENT_TYPES, SEARCH_EVENT_TYPES, FindAllEvent, SearchEvent
from ._http import Redactor
from ._models import FindAllRun, SearchRun
from ._request_path import RequestPath, _BearerAuth, run_segment
from ._requests import FindAllGenerator, FindAllRequest, SearchDepth, SearchRequest, coerce_request
from ._run_bodies import (
    BodySink,
    checked_run_body,
    decode_run_bytes,
    decode_run_head,
    decode_run_head_and_bytes,
)
from ._run_events import BODY_KEY, decode_event, decode_event_without_entities
from ._version import __version__

if TYPE_CHECKING:
    from ._monitor_calls import MonitorCalls

__all__ = ["FindAllGenerator", "ScoutClient", "SearchDepth"]

log = logging.getLogger("scout_dagster.client")

_Checked = TypeVar("_Checked")
_Read = TypeVar("_Read")

#: Per request, in seconds. Reads get 30 s because event streams send a
#: keep-alive well within that; connecting should never take more than 10 s.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
#: FindAll paths as documented; Scout's SDKs use the ``/v1/lists`` alias,
#: which the emulator serves too.
FINDALL_PREFIX = "/v1/findall"
#: Page size for list calls when the caller does not choose one.
DEFAULT_PAGE_SIZE = 50


def _drop_none(body: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


class ScoutClient(RequestPath):
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
        payload = self._request("GET", path, decode=decode_run_head)
        return self._parse(FindAllRun, payload, "GET", path)

    def get_findall_run_bytes(self, findall_id: str) -> bytes:
        """``GET /v1/findall/runs/{findall_id}``: the body's bytes, the key
        redacted, unparsed (for a reader that builds tables from them)."""
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"
        content: bytes = self._request("GET", path, decode=decode_run_bytes)
        return content

    def get_findall_run_raw(self, findall_id: str) -> tuple[FindAllRun, bytes]:
        """``GET /v1/findall/runs/{findall_id}``: the run without its entities
        (as ``entities=False`` gives it) and the body's bytes, the key redacted.

        One download for both: a caller that finds the run completed reads its
        tables from these bytes instead of downloading the run again.
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"
        payload, content = self._request("GET", path, decode=decode_run_head_and_bytes)
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
        result: tuple[_Checked, bytes] = self._request("GET", path, decode=checked_run_body(check))
        return result

    def read_findall_run(self, findall_id: str, sink: Callable[[], BodySink[_Read]]) -> _Read:
        """``GET /v1/findall/runs/{findall_id}``, its body read as it downloads.

        Each attempt hands the body, the key redacted, chunk by chunk to a
        new ``sink()`` (say, a :class:`~scout_dagster.tables.findall.FindAllBodyReader`)
        and returns what it finishes as; the body is never held whole. A
        ``ValueError`` of its ``finish`` is retried like a dropped connection;
        any other error is raised as it is, at once.
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}"
        result: _Read = self._request("GET", path, sink=sink)
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
        self,
        findall_id: str,
        *,
        last_event_id: str | None = None,
        entities: bool = True,
        stop: threading.Event | None = None,
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
        download the run again). ``stop``, set by another thread, ends the
        stream at its next event or dropped connection, without resuming it.
        """
        path = f"{FINDALL_PREFIX}/runs/{run_segment(findall_id)}/events"
        decode = decode_event if entities else decode_event_without_entities
        for payload, sse_id in self._iter_payloads(
            path, FINDALL_EVENT_TYPES, last_event_id, decode, stop
        ):
            body = payload.pop(BODY_KEY, None)
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
        self,
        search_id: str,
        *,
        last_event_id: str | None = None,
        stop: threading.Event | None = None,
    ) -> Iterator[SearchEvent]:
        """``GET /v1/searches/{search_id}/events``: progress, then the terminal
        event; ``stop`` as :meth:`stream_findall_events` takes it."""
        path = f"/v1/searches/{run_segment(search_id)}/events"
        for payload, sse_id in self._iter_payloads(
            path, SEARCH_EVENT_TYPES, last_event_id, stop=stop
        ):
            event = SearchEvent.from_payload(payload, sse_id)
            yield event
            if event.is_terminal:
                return
