"""A small, hostile Scout-API-shaped HTTP server, for tests.

Standard library only, and nothing from ``scout_dagster`` (nor its emulator):
a second, independent reading of the contract (``shared/scout-api.md``) whose
job is to misbehave on request. Each :class:`Scenario` field switches on one
misbehaviour; with none on it is a plain, well-behaved Scout. A run is
"running" for ``run_s`` real seconds after its create, then completed (or
failed); a cancel ends an active run at once.

Monitors (``/v1/monitors``) have no clock: a monitor's events are made when the
test calls :meth:`HostileServer.emit_monitor_event` or someone calls
``POST /v1/monitors/{id}/run``. Their events are listed as JSON
(``?after=<event id>&limit=``) or streamed (SSE, ``Accept: text/event-stream``,
resumable with ``Last-Event-ID``); the ``Scenario`` fields under "Monitors"
make those misbehave.

    with HostileServer(api_key="sk-...", scenario=Scenario(run_s=1.0)) as server:
        server.url, server.requests, server.creates, server.cancels
        monitor_id = server.add_monitor("AI chips")
        server.emit_monitor_event(monitor_id)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

__all__ = ["HostileServer", "RequestRecord", "Scenario"]

#: A monitor's create (and update) fields, as the contract lists them.
_MONITOR_FIELDS = frozenset({"query", "cadence", "cron", "webhook", "limit", "country", "language"})
_CADENCES = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0}
#: The most events one list answer gives (and the largest ``limit`` taken).
_MAX_EVENTS_LIMIT = 100

Kind = Literal["findall", "search"]
_CREATES: dict[str, Kind] = {"/v1/findall/runs": "findall", "/v1/search": "search"}
_RUN_CALLS = (("GET", ()), ("GET", ("events",)), ("POST", ("cancel",)))
_REASONS = {
    "completed": "match_limit_met",
    "cancelled": "user_cancelled",
    "failed": "error_occurred",
}


@dataclasses.dataclass
class Scenario:
    """The misbehaviours to switch on; all off by default."""

    run_s: float = 0.3  # real seconds from a run's create to its end
    idempotent: bool = True  # honour Idempotency-Key on creates
    # After a FindAll run completes its GETs say this ("running" with 3 entities,
    # "cancelled" with none, "failed" with an error) while its stream says completed.
    final_get_state: Literal["running", "cancelled", "failed"] | None = None
    # GETs after completion that lie before the truth (0: forever); for
    # final_get_state and search_body_after_completed.
    flap_gets: int = 0
    search_body_after_completed: bool = False  # stream: run.completed; GETs: running, no results
    trickle_body_s: float | None = None  # a completed run's GET body: one byte per this many s
    slow_get_s: float | None = None  # every GET of a run (not its stream) waits this long first
    no_stream: bool = False  # event streams answer 503
    echo_key: bool = False  # x-request-id: req-<bearer key>; failed runs' error names the key
    fail_runs: bool = False  # runs end failed instead of completed
    run_id: str | None = None  # the id every created run gets, e.g. "../../v1/evil?x=1#frag"
    retry_after: str | None = None  # Retry-After sent on 429 answers to creates
    rate_limit_creates: int = 0  # creates answered 429 first (0: none, -1: all)
    huge_error_bytes: int = 0  # creates answer 500 with a detail this many chars long...
    error_times: int = -1  # ...this many times (-1: always), then normally
    count_mismatch: int = 0  # the completed FindAll body's count is off by this much
    credits_sequence: list[int] | None = None  # credits successive GETs/status events report
    keepalive_s: float = 0.1  # seconds between keep-alive comments on event streams
    first_run_s: float | None = None  # the first run created takes this long instead of run_s
    cancel_takes_s: float = 0.0  # a cancel takes effect this long after it is received
    cancel_failures: int = 0  # cancels answered 503 first (-1: all), before one is accepted
    slow_create_s: float = 0.0  # a create makes its run at once, then answers this much later
    no_sources: bool = False  # FindAll entities name no source page
    # A run stays running until its event stream is first opened; its run_s
    # count from then: "still going at the first look" whatever the machine's speed.
    runs_until_watched: bool = False
    # ---- Monitors (echo_key also applies: x-request-id, a failed event's error,
    # a 404's detail all name the bearer key)
    event_ids: list[str] | None = None  # ids successive monitor events get, then mev-NNNNNN
    wrap_lists: str | None = None  # list answers as {<this>: [...]} instead of a bare array
    unknown_events: int = 0  # events of unknown types stored (and listed) before each event
    flap_events: int = 0  # the first 2*n event-list reads: odd ones leave out their newest item
    ignore_after: bool = False  # event lists ignore after= and limit=: the whole list each time
    events_failures: list[int] = dataclasses.field(default_factory=list)  # statuses of the
    # first event-list reads (then normal answers); 429 and 503 carry Retry-After:
    events_retry_after: str | None = "1"
    stream_drops: bool = False  # an event stream closes right after each event it sends
    # FindAll status events carry the run without its entities and candidates, so
    # the tables can only come from a read of the run (its final GET).
    status_events_without_entities: bool = False
    trickle_events_s: float | None = None  # event lists and stream frames: a byte per this many s
    delete_answers_204: bool = False  # DELETE /v1/monitors/{id} answers 204 with no body


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    method: str
    raw_path: str  # exactly as on the request line
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.monotonic()


@dataclasses.dataclass
class _Run:
    kind: Kind
    run_id: str
    request: dict[str, Any]
    created: float = dataclasses.field(default_factory=time.monotonic)
    created_wall: float = dataclasses.field(default_factory=time.time)
    duration: float = 0.3  # real seconds from its create (or being watched) to its end
    watched: float | None = None  # when its event stream was first opened
    cancelled_at: float | None = None  # when its cancel takes (or took) effect
    reports: int = 0  # GETs and status events so far (credits_sequence)
    gets_after_end: int = 0  # GETs after completion (flap_gets)


@dataclasses.dataclass
class _Monitor:
    monitor_id: str
    request: dict[str, Any]
    status: str = "active"
    created_wall: float = dataclasses.field(default_factory=time.time)
    last_run_wall: float | None = None
    credits: int = 0
    deleted: bool = False
    # Every event, oldest first, those of unknown types included.
    events: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def _iso(wall: float) -> str:
    return dt.datetime.fromtimestamp(wall, dt.UTC).isoformat().replace("+00:00", "Z")


class _Abort(Exception):
    """Drop the connection without (finishing) an answer."""


class HostileServer:
    """The server, as a context manager that starts and stops it on a free port."""

    def __init__(self, api_key: str, scenario: Scenario | None = None) -> None:
        self.api_key = api_key
        self.scenario = scenario or Scenario()
        self.requests: list[RequestRecord] = []
        self.creates = 0  # runs created; an idempotent replay is not one
        self.cancels: list[str] = []  # ids of runs that received a cancel
        self.cancel_attempts = 0  # cancels received, refused ones included
        self.stopping = threading.Event()
        self.lock = threading.RLock()
        self._runs: dict[tuple[Kind, str], _Run] = {}
        self._replies: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._create_attempts = 0
        self._monitors: dict[str, _Monitor] = {}
        # Idempotency-Key -> (call, body, status, answer) of the monitor writes.
        self._monitor_replies: dict[str, tuple[str, bytes, int, Any]] = {}
        self._event_serial = 0  # events made so far, of every monitor, unknown types included
        self.events_reads = 0  # JSON event-list requests received (refused ones included)
        self.monitor_runs: list[str] = []  # ids of monitors run by POST …/run (replays not)
        self.changed = threading.Condition(self.lock)  # notified on every new event or delete
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.hostile = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def run_ids(self) -> set[str]:
        """The ids of every run this server created."""
        with self.lock:
            return {run_id for (_, run_id) in self._runs}

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()  # every waiting handler wakes and drops its connection
        with self.changed:
            self.changed.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def state_of(self, run: _Run) -> str:
        if run.cancelled_at is not None:
            # A cancel stops the run at its next checkpoint: until then it runs.
            return "cancelled" if time.monotonic() >= run.cancelled_at else "running"
        started = run.created
        if self.scenario.runs_until_watched:
            if run.watched is None:
                return "running"
            started = run.watched
        if time.monotonic() - started >= run.duration:
            return "failed" if self.scenario.fail_runs else "completed"
        return "running"

    def _found(self, run: _Run, size: int) -> int:
        """How many of ``size`` items the run has found by now (or by its cancel)."""
        now = time.monotonic()
        until = min(run.cancelled_at, now) if run.cancelled_at is not None else now
        return min(size, int(size * (until - run.created) / run.duration))

    def search_pages(self, run: _Run) -> tuple[int, int]:
        """Pages fetched and targeted (one per result) of a search run."""
        size = int(run.request.get("limit") or 5)
        done = size if self.state_of(run) in ("completed", "failed") else self._found(run, size)
        return done, size

    def reported(self, run: _Run, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as a GET or status event reports it: the next of ``credits_sequence``."""
        sequence = self.scenario.credits_sequence
        if sequence:
            body["credits"] = sequence[min(run.reports, len(sequence) - 1)]
            run.reports += 1
        return body

    def _common(self, run: _Run, state: str, token: str) -> dict[str, Any]:
        echo = self.scenario.echo_key
        error = f"upstream rejected token {token}" if echo else "the upstream engine failed"
        took = run.duration if run.cancelled_at is None else run.cancelled_at - run.created
        return {
            "error": error if state == "failed" else None,
            "createdAt": _iso(run.created_wall),
            "completedAt": _iso(run.created_wall + took) if state in _REASONS else None,
        }

    def findall_body(self, run: _Run, state: str, token: str, shown: int | None = None) -> Any:
        size = int(run.request.get("limit") or 8)
        fields = run.request.get("fields") or ["name", "website"]
        entities = [
            {f: f"{f} {i}" for f in fields}
            | ({"name": f"Company {i}"} if "name" in fields else {})
            | ({"website": f"https://company-{i}.example"} if "website" in fields else {})
            | ({} if self.scenario.no_sources else {"source": f"https://news.example/company-{i}"})
            for i in range(size)
        ]
        count, credits = size + self.scenario.count_mismatch, size + 1
        if state == "running":
            entities = entities[: self._found(run, size) if shown is None else shown]
            count, credits = len(entities), 1
        elif state != "completed":
            entities, count, credits = [], 0, 1
        reason = _REASONS.get(state)
        status = {"status": state, "is_active": False, "termination_reason": reason}
        return {
            "findall_id": run.run_id,
            "status": status if reason else state,
            "query": run.request.get("query"),
            "entities": entities,
            "count": count,
            "credits": credits,
            "fields": fields,
            "candidates": [],
        } | self._common(run, state, token)

    def search_body(self, run: _Run, state: str, token: str) -> Any:
        queries: list[str] = list(run.request.get("queries") or [])
        done, size = self.search_pages(run)
        kept = {"completed": size, "cancelled": done}.get(state, 0)
        urls = [f"https://source-{i}.example/page" for i in range(kept)]
        return {
            "search_id": run.run_id,
            "status": state,
            "queries": queries,
            "limit": run.request.get("limit"),
            "depth": "deep",
            "credits": len(queries) if state in _REASONS else 0,
            "results": [
                {"title": f"Result {i}", "url": url, "snippet": f"What page {i} says."}
                for i, url in enumerate(urls)
            ],
            "pagesFetched": done,
            "pagesTarget": size,
            "report": "# Report\n\nThe finding [1].\n" if urls else None,
            "findings": [
                {"subquery": q, "answer": f"About {q} [1].", "citations": urls[:1]}
                | {"confidence": 0.8, "evidence": "page 0"}
                for q in (queries if urls else [])
            ],
            "sources": [
                {
                    "index": i + 1,
                    "url": url,
                    "title": f"Result {i}",
                    "domain": f"source-{i}.example",
                }
                | {
                    "fetched": _iso(run.created_wall),
                    "quality": "high",
                    "first_seen_subquery": queries[0],
                }
                for i, url in enumerate(urls)
            ],
        } | self._common(run, state, token)

    def body(self, run: _Run, state: str, token: str) -> Any:
        build = self.findall_body if run.kind == "findall" else self.search_body
        return build(run, state, token)

    def get_view(self, run: _Run, token: str) -> tuple[str, dict[str, Any]]:
        """What a GET of the run answers: the truth, unless the scenario lies."""
        sc = self.scenario
        state = self.state_of(run)
        lie = sc.final_get_state if run.kind == "findall" else None
        if run.kind == "search" and sc.search_body_after_completed:
            lie = "running"
        if state == "completed" and lie is not None:
            run.gets_after_end += 1
            if sc.flap_gets == 0 or run.gets_after_end <= sc.flap_gets:
                if run.kind == "findall":
                    return lie, self.reported(run, self.findall_body(run, lie, token, shown=3))
                return lie, self.reported(run, self.search_body(run, "running", token))
        return state, self.reported(run, self.body(run, state, token))

    def runs(self) -> list[_Run]:
        """Every run created, in creation order."""
        with self.lock:
            return sorted(self._runs.values(), key=lambda run: run.created)

    def find(self, kind: Kind, segment: str) -> _Run | None:
        with self.lock:
            return self._runs.get((kind, unquote(segment)))

    def cancel_refused(self) -> bool:
        """Whether this cancel attempt is answered 503 (it is counted either way)."""
        with self.lock:
            self.cancel_attempts += 1
            failures = self.scenario.cancel_failures
            return failures == -1 or self.cancel_attempts <= failures

    def cancel(self, run: _Run, token: str) -> dict[str, Any]:
        with self.lock:
            self.cancels.append(run.run_id)
            if self.state_of(run) == "running" and run.cancelled_at is None:
                run.cancelled_at = time.monotonic() + self.scenario.cancel_takes_s
            return dict(self.body(run, self.state_of(run), token))

    def create_refusal(self) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """A 429 or a huge 500 for this create attempt, when the scenario says so."""
        sc = self.scenario
        with self.lock:
            self._create_attempts += 1
            attempt = self._create_attempts
        if sc.rate_limit_creates == -1 or attempt <= sc.rate_limit_creates:
            headers = {"Retry-After": sc.retry_after} if sc.retry_after is not None else {}
            return 429, {"detail": "too many runs created; slow down"}, headers
        erring = attempt - max(sc.rate_limit_creates, 0)
        if sc.huge_error_bytes and (sc.error_times == -1 or erring <= sc.error_times):
            return 500, {"detail": "x" * sc.huge_error_bytes}, {}
        return None

    def create(
        self, kind: Kind, request: dict[str, Any], raw: bytes, key: str | None, token: str
    ) -> tuple[int, Any]:
        """A new run, or the original answer to a repeated Idempotency-Key."""
        key = key if self.scenario.idempotent else None
        with self.lock:  # the look-up and the create as one step
            if key is not None and key in self._replies:
                first_body, payload = self._replies[key]
                if first_body != raw:
                    return 409, {"detail": "Idempotency-Key reused with a different body"}
                return 200, payload
            self.creates += 1
            prefix = "fa" if kind == "findall" else "srch"
            run = _Run(kind, self.scenario.run_id or f"{prefix}-{uuid.uuid4().hex[:12]}", request)
            first = self.scenario.first_run_s if self.creates == 1 else None
            run.duration = first if first is not None else self.scenario.run_s
            self._runs[(kind, run.run_id)] = run
            payload = dict(self.body(run, "running", token))
            if key is not None:
                self._replies[key] = (raw, payload)
            return 200, payload

    # ------------------------------------------------------------ monitors

    def add_monitor(self, query: str = "AI chip export controls", **fields: Any) -> str:
        """A new monitor (as a create would make it), without a request; its id."""
        with self.lock:
            monitor = _Monitor(f"mon-{uuid.uuid4().hex[:12]}", {"query": query} | fields)
            monitor.request.setdefault("cadence", None if "cron" in fields else "daily")
            self._monitors[monitor.monitor_id] = monitor
            return monitor.monitor_id

    @property
    def monitor_ids(self) -> set[str]:
        with self.lock:
            return {m.monitor_id for m in self._monitors.values() if not m.deleted}

    def monitor(self, segment: str) -> _Monitor | None:
        """The monitor a path segment names, unless deleted."""
        with self.lock:
            monitor = self._monitors.get(unquote(segment))
            return None if monitor is None or monitor.deleted else monitor

    def delete_monitor(self, monitor_id: str) -> None:
        """Delete it (as ``DELETE /v1/monitors/{id}`` does): its calls answer 404 from now."""
        with self.changed:
            self._monitors[monitor_id].deleted = True
            self.changed.notify_all()

    def _next_event_id(self) -> str:
        self._event_serial += 1
        ids = self.scenario.event_ids or []
        taken = sum(1 for m in self._monitors.values() for e in m.events if e["known"])
        return ids[taken] if taken < len(ids) else f"mev-{self._event_serial:06d}"

    def emit_monitor_event(
        self,
        monitor_id: str,
        results: list[dict[str, Any]] | None = None,
        *,
        failed: bool = False,
    ) -> dict[str, Any]:
        """One run of the monitor that found ``results`` (three new ones by
        default), or that failed: its event, as the API shows it (a copy).
        ``unknown_events`` events of other types come first."""
        with self.changed:
            monitor = self._monitors[monitor_id]
            now = time.time()
            for _ in range(self.scenario.unknown_events):
                self._event_serial += 1
                monitor.events.append(
                    {
                        "event_id": f"mev-{self._event_serial:06d}-x",
                        "monitor_id": monitor_id,
                        "type": "monitor.run.started",
                        "timestamp": _iso(now),
                        "known": False,
                    }
                )
            n = sum(1 for m in self._monitors.values() for e in m.events if e["known"]) + 1
            if results is None:
                results = [
                    {
                        "title": f"Story {n}.{i}",
                        "url": f"https://news.example/event-{n}/story-{i}",
                        "snippet": f"What story {i} of run {n} says.",
                        "first_seen": True,
                    }
                    for i in range(3)
                ]
            credits = 1  # one query, one credit, as a search
            event = {
                "event_id": self._next_event_id(),
                "monitor_id": monitor_id,
                "type": "monitor.run.failed" if failed else "monitor.results",
                "timestamp": _iso(now),
                "run_at": _iso(now),
                "results": [] if failed else [dict(r) for r in results],
                "credits": credits,
                "error": "the upstream engine failed" if failed else None,
                "known": True,
            }
            monitor.events.append(event)
            monitor.last_run_wall = now
            monitor.credits += credits
            self.changed.notify_all()
            return self.event_view(event, "")

    def monitor_events(self, monitor_id: str) -> list[dict[str, Any]]:
        """The monitor's events of known types, oldest first, as the API shows them."""
        with self.lock:
            return [self.event_view(e, "") for e in self._monitors[monitor_id].events if e["known"]]

    def event_view(self, event: dict[str, Any], token: str) -> dict[str, Any]:
        """An event as an answer carries it; a failed one names the key under echo_key."""
        view = {k: v for k, v in event.items() if k != "known"}
        if self.scenario.echo_key and view.get("type") == "monitor.run.failed":
            view["error"] = f"upstream rejected token {token}"
        return view

    def monitor_body(self, monitor: _Monitor) -> dict[str, Any]:
        request = monitor.request
        cadence = request.get("cadence")
        step = _CADENCES.get(cadence or "")
        anchor = monitor.last_run_wall or monitor.created_wall
        return {
            "monitor_id": monitor.monitor_id,
            "query": request.get("query"),
            "cadence": cadence,
            "cron": request.get("cron"),
            "status": monitor.status,
            "webhook": request.get("webhook"),
            "limit": request.get("limit"),
            "country": request.get("country") or "us",
            "language": request.get("language") or "en",
            "createdAt": _iso(monitor.created_wall),
            "lastRunAt": _iso(monitor.last_run_wall) if monitor.last_run_wall else None,
            "nextRunAt": _iso(anchor + step) if step and monitor.status == "active" else None,
            "credits": monitor.credits,
        }

    def monitors_page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """Monitors newest first, one page."""
        with self.lock:
            alive = [m for m in self._monitors.values() if not m.deleted]
            alive.sort(key=lambda m: m.created_wall, reverse=True)
            return [self.monitor_body(m) for m in alive[offset : offset + limit]]

    def events_page(
        self, monitor: _Monitor, after: str | None, limit: int, token: str
    ) -> list[dict[str, Any]] | None:
        """One JSON page of the monitor's events after ``after`` (None: that id
        is not one of its events), as the scenario has it answered."""
        sc = self.scenario
        with self.lock:
            events = monitor.events
            start = 0
            if after is not None and not sc.ignore_after:
                ids = [e["event_id"] for e in events]
                if after not in ids:
                    return None
                start = ids.index(after) + 1
            page = events[start:] if sc.ignore_after else events[start : start + limit]
            reads = self.events_reads
            if sc.flap_events and reads <= 2 * sc.flap_events and reads % 2 == 1 and page:
                page = page[:-1]  # the newest one is missing from this read only
            return [self.event_view(e, token) for e in page]

    def position_after(self, monitor: _Monitor, last: str | None) -> int | None:
        """Where a stream resumes: after the event whose SSE id is ``last``."""
        if not last:
            return 0
        with self.lock:
            for index, event in enumerate(monitor.events):
                if last in (event["event_id"], _sse_id(index, event)):
                    return index + 1
        return None

    def create_monitor(self, raw: bytes) -> tuple[int, Any]:
        """``POST /v1/monitors``."""
        request = _body(raw)
        problems = _monitor_problems(request, partial=False)
        if problems:
            return 422, {"detail": problems}
        fields = {k: v for k, v in request.items() if v is not None}
        monitor_id = self.add_monitor(**fields)
        with self.lock:
            return 200, self.monitor_body(self._monitors[monitor_id])

    def update_monitor(self, monitor: _Monitor, raw: bytes) -> tuple[int, Any]:
        """``PATCH /v1/monitors/{id}``: a cadence clears the cron, and the other way round."""
        request = _body(raw)
        problems = _monitor_problems(request, partial=True)
        if problems:
            return 422, {"detail": problems}
        with self.lock:
            for field in ("cadence", "cron"):
                if request.get(field) is not None:
                    monitor.request.pop("cron" if field == "cadence" else "cadence", None)
            monitor.request |= request
            return 200, self.monitor_body(monitor)

    def act(self, monitor: _Monitor, action: str) -> tuple[int, Any]:
        """``POST …/pause``, ``…/resume``, ``…/run`` (a run now makes one event)."""
        with self.lock:
            if action == "run":
                self.monitor_runs.append(monitor.monitor_id)
                self.emit_monitor_event(monitor.monitor_id)
            else:
                monitor.status = "paused" if action == "pause" else "active"
            return 200, self.monitor_body(monitor)

    def monitor_write(self, call: str, raw: bytes, key: str | None, answer: Any) -> tuple[int, Any]:
        """``answer()`` once per Idempotency-Key: a repeated key gets the
        original answer (409 when its call or body differ)."""
        with self.lock:
            if key is not None and key in self._monitor_replies:
                first_call, first_body, status, payload = self._monitor_replies[key]
                if (first_call, first_body) != (call, raw):
                    return 409, {"detail": "Idempotency-Key reused with a different request"}
                return status, payload
            status, payload = answer()
            if key is not None:
                self._monitor_replies[key] = (call, raw, status, payload)
            return status, payload


def _sse_id(index: int, event: dict[str, Any]) -> str:
    """The SSE ``id:`` of an event: its event id when one line can hold it,
    else its position (an SSE id ends at a line break)."""
    event_id = str(event["event_id"])
    if any(char in event_id for char in "\r\n\0"):
        return f"pos-{index + 1}"
    return event_id


def _ints(query: dict[str, list[str]], **defaults: int) -> tuple[int, ...] | None:
    """The query's integer parameters (defaults where absent), or None if one is not."""
    values = []
    for name, default in defaults.items():
        text = (query.get(name) or [str(default)])[0]
        if not text.lstrip("-").isdigit():
            return None
        values.append(int(text))
    return tuple(values)


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _body(raw: bytes) -> Any:
    """A request's JSON body ({} when empty), or None when it is not JSON."""
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return None


def _monitor_problems(request: Any, *, partial: bool) -> list[dict[str, Any]]:
    """What is wrong with a monitor create (or, ``partial``, update) body."""
    if not isinstance(request, dict):
        return [{"loc": ["body"], "msg": "a JSON object is required", "type": "type_error"}]
    problems = []

    def problem(field: str, msg: str) -> None:
        problems.append({"loc": ["body", field], "msg": msg, "type": "value_error"})

    for field in sorted(set(request) - _MONITOR_FIELDS):
        problem(field, "extra fields not permitted")
    query = request.get("query")
    if (not partial or "query" in request) and (not isinstance(query, str) or not query.strip()):
        problem("query", "field required")
    schedule = [f for f in ("cadence", "cron") if request.get(f) is not None]
    if len(schedule) > 1 or (not partial and not schedule):
        problem("cadence", "give exactly one of cadence or cron")
    if request.get("cadence") is not None and request["cadence"] not in _CADENCES:
        problem("cadence", f"must be one of {sorted(_CADENCES)}")
    cron = request.get("cron")
    if cron is not None and (not isinstance(cron, str) or len(cron.split()) != 5):
        problem("cron", "five fields are required")
    limit = request.get("limit")
    if limit is not None and (not isinstance(limit, int) or not 1 <= limit <= 100):
        problem("limit", "must be between 1 and 100")
    return problems


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    hostile: HostileServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    token = ""  # the bearer key of the request being answered
    event_id = 0

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    @property
    def hostile(self) -> HostileServer:
        return self.server.hostile

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.hostile.lock:
            record = RequestRecord(method, self.path, headers, body, time.monotonic())
            self.hostile.requests.append(record)
        auth = headers.get("authorization", "")
        self.token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        try:
            if self.hostile.stopping.is_set():
                raise _Abort
            if self.token != self.hostile.api_key:
                self._json(401, {"detail": "invalid or missing API key"})
            else:
                self._route(method, body, headers)
        except (_Abort, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _wait(self, seconds: float) -> None:
        if self.hostile.stopping.wait(seconds):
            raise _Abort

    def _start(self, status: int, kind: str, length: int | None, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        echo = self.hostile.scenario.echo_key
        self.send_header("x-request-id", f"req-{self.token if echo else uuid.uuid4().hex[:12]}")
        for name, value in extra.items():
            self.send_header(name, value)
        if length is None:  # a stream: its end is the connection's end
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._start(status, "application/json", len(data), headers or {})
        self.wfile.write(data)

    def _trickle(self, payload: Any, every_s: float) -> None:
        data = json.dumps(payload).encode()
        self._start(200, "application/json", len(data), {})
        self._dribble(data, every_s)

    def _dribble(self, data: bytes, every_s: float) -> None:
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            self._wait(every_s)

    def _route(self, method: str, body: bytes, headers: dict[str, str]) -> None:
        path, _, query = self.path.partition("?")
        if path == "/v1/monitors" or path.startswith("/v1/monitors/"):
            return self._monitors(method, path, parse_qs(query), body, headers)
        if method == "POST" and path in _CREATES:
            return self._create(_CREATES[path], body, headers.get("idempotency-key"))
        parts = tuple(path.split("/")[1:])
        run: _Run | None = None
        action: tuple[str, ...] = ()
        if len(parts) in (4, 5) and parts[:3] == ("v1", "findall", "runs"):
            run, action = self.hostile.find("findall", parts[3]), parts[4:]
        elif len(parts) in (3, 4) and parts[:2] == ("v1", "searches"):
            run, action = self.hostile.find("search", parts[2]), parts[3:]
        sc = self.hostile.scenario
        if run is None or (method, action) not in _RUN_CALLS:
            self._json(404, {"detail": "Not Found"})
        elif action == ("cancel",):
            if self.hostile.cancel_refused():
                self._json(503, {"detail": "cancel is unavailable, try again"})
            else:
                self._json(200, self.hostile.cancel(run, self.token))
        elif action == ("events",):
            self._events(run, headers.get("last-event-id") or parse_qs(query).get("last_event_id"))
        else:
            if sc.slow_get_s:
                self._wait(sc.slow_get_s)
            with self.hostile.lock:
                state, payload = self.hostile.get_view(run, self.token)
            if sc.trickle_body_s and state == "completed":
                self._trickle(payload, sc.trickle_body_s)
            else:
                self._json(200, payload)

    # ------------------------------------------------------------ monitors

    def _not_found(self, monitor_id: str) -> None:
        echo = f" for key {self.token}" if self.hostile.scenario.echo_key else ""
        self._json(404, {"detail": f"monitor {monitor_id} not found{echo}"})

    def _invalid(self, field: str, msg: str) -> None:
        detail = [{"loc": ["query", field], "msg": msg, "type": "value_error"}]
        self._json(422, {"detail": detail})

    def _list(self, items: list[dict[str, Any]]) -> Any:
        wrap = self.hostile.scenario.wrap_lists
        return {wrap: items} if wrap else items

    def _monitors(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
        headers: dict[str, str],
    ) -> None:
        hostile = self.hostile
        parts = path.split("/")[3:]  # after "", "v1", "monitors"
        key = headers.get("idempotency-key")
        if not parts:
            if method == "POST":
                return self._json(
                    *hostile.monitor_write("POST", raw, key, lambda: hostile.create_monitor(raw))
                )
            if method == "GET":
                numbers = _ints(query, limit=50, offset=0)
                if numbers is None:
                    return self._invalid("limit", "limit and offset must be integers")
                return self._json(200, self._list(hostile.monitors_page(*numbers)))
            return self._json(405, {"detail": "Method Not Allowed"})
        monitor = hostile.monitor(parts[0]) if len(parts) in (1, 2) else None
        if monitor is None:
            return self._not_found(unquote(parts[0]))
        action = tuple(parts[1:])
        call = f"{method} {monitor.monitor_id} {'/'.join(action)}"
        if (method, action) == ("GET", ()):
            return self._json(200, hostile.monitor_body(monitor))
        if (method, action) == ("GET", ("events",)):
            accept = headers.get("accept", "")
            if "application/json" in accept and "text/event-stream" not in accept:
                return self._event_list(monitor, query)
            last = headers.get("last-event-id") or _first(query, "last_event_id")
            return self._monitor_stream(monitor, last)
        if method == "PATCH" and action == ():
            answer = hostile.monitor_write(
                call, raw, key, lambda: hostile.update_monitor(monitor, raw)
            )
            return self._json(*answer)
        if method == "DELETE" and action == ():
            status, payload = hostile.monitor_write(
                call, raw, key, lambda: (200, hostile.monitor_body(monitor) | {"deleted": True})
            )
            if status == 200:
                hostile.delete_monitor(monitor.monitor_id)
                if hostile.scenario.delete_answers_204:
                    self.send_response(204)
                    self.send_header("x-request-id", f"req-{uuid.uuid4().hex[:12]}")
                    self.end_headers()
                    return None
            return self._json(status, payload)
        if method == "POST" and action in (("pause",), ("resume",), ("run",)):
            act = action[0]
            return self._json(
                *hostile.monitor_write(call, raw, key, lambda: hostile.act(monitor, act))
            )
        return self._json(404, {"detail": "Not Found"})

    def _event_list(self, monitor: _Monitor, query: dict[str, list[str]]) -> None:
        hostile = self.hostile
        sc = hostile.scenario
        with hostile.lock:
            hostile.events_reads += 1
            reads = hostile.events_reads
        if reads <= len(sc.events_failures):
            status = sc.events_failures[reads - 1]
            retry = {"Retry-After": sc.events_retry_after} if sc.events_retry_after else {}
            extra = retry if status in (429, 503) else {}
            return self._json(status, {"detail": f"events are unavailable ({status})"}, extra)
        numbers = _ints(query, limit=_MAX_EVENTS_LIMIT)
        if numbers is None or numbers[0] < 1:
            return self._invalid("limit", "limit must be a positive integer")
        after = _first(query, "after")
        page = hostile.events_page(monitor, after, min(numbers[0], _MAX_EVENTS_LIMIT), self.token)
        if page is None:
            return self._invalid("after", f"monitor {monitor.monitor_id} has no event {after!r}")
        if sc.trickle_events_s:
            return self._trickle(self._list(page), sc.trickle_events_s)
        return self._json(200, self._list(page))

    def _monitor_stream(self, monitor: _Monitor, last: str | None) -> None:
        hostile = self.hostile
        sc = hostile.scenario
        position = hostile.position_after(monitor, last)
        if position is None:
            return self._json(422, {"detail": f"no event {last!r} to resume after"})
        self._start(200, "text/event-stream", None, {"Cache-Control": "no-cache"})
        while True:
            with hostile.changed:
                pending = list(enumerate(monitor.events))[position:]
                if not pending and not monitor.deleted and not hostile.stopping.is_set():
                    hostile.changed.wait(sc.keepalive_s)
                    pending = list(enumerate(monitor.events))[position:]
                views = [(i, _sse_id(i, e), hostile.event_view(e, self.token)) for i, e in pending]
                gone = monitor.deleted
            if hostile.stopping.is_set():
                raise _Abort
            for index, sse_id, view in views:
                frame = f"id: {sse_id}\nevent: {view['type']}\ndata: {json.dumps(view)}\n\n"
                if sc.trickle_events_s:
                    self._dribble(frame.encode(), sc.trickle_events_s)
                else:
                    self.wfile.write(frame.encode())
                    self.wfile.flush()
                position = index + 1
                if sc.stream_drops:
                    return None  # the connection closes after each event
            if gone:
                return None  # a deleted monitor's stream ends
            if not views:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()

    def _create(self, kind: Kind, raw: bytes, key: str | None) -> None:
        refusal = self.hostile.create_refusal()
        if refusal is not None:
            return self._json(*refusal)
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        needed = "query" if kind == "findall" else "queries"
        if not isinstance(request, dict) or not request.get(needed):
            detail = [{"loc": ["body", needed], "msg": "field required", "type": "missing"}]
            return self._json(422, {"detail": detail})
        answer = self.hostile.create(kind, request, raw, key, self.token)
        if self.hostile.scenario.slow_create_s:
            self._wait(self.hostile.scenario.slow_create_s)
        return self._json(*answer)

    def _events(self, run: _Run, last: str | list[str] | None) -> None:
        hostile = self.hostile
        if hostile.scenario.no_stream:
            return self._json(503, {"detail": "event streams are unavailable"})
        last = last[0] if isinstance(last, list) else last
        with hostile.lock:
            run.watched = run.watched or time.monotonic()
        self.event_id = int(last) if last and last.isdigit() else 0
        self._start(200, "text/event-stream", None, {"Cache-Control": "no-cache"})
        pages, quiet = -1, 0.0
        while True:
            with hostile.lock:
                state = hostile.state_of(run)
                done, target = hostile.search_pages(run)
                status = run.kind == "findall" and (pages < 0 or state != "running")
                if status:  # a status event on connecting, and the terminal one
                    body = hostile.reported(run, hostile.findall_body(run, state, self.token))
                    if hostile.scenario.status_events_without_entities and isinstance(body, dict):
                        body = {
                            k: v for k, v in body.items() if k not in ("entities", "candidates")
                        }
            if status:
                self._event("findall.status", {"type": "findall.status", "data": body})
                pages = 0
            elif run.kind == "search" and (state != "running" or done != pages):
                pages, kind = done, "run.progress" if state == "running" else f"run.{state}"
                fields = {"search_id": run.run_id, "status": state} if state != "running" else {}
                self._event(
                    kind, {"type": kind, "pagesFetched": done, "pagesTarget": target} | fields
                )
            if state != "running":
                return
            self._wait(0.02)
            quiet += 0.02
            if quiet >= hostile.scenario.keepalive_s:
                quiet = 0.0
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        self.event_id += 1
        self.wfile.write(
            f"id: {self.event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()
        )
        self.wfile.flush()
