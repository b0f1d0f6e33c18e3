"""A small, hostile Scout-API-shaped HTTP server, for tests.

Standard library only, and nothing from ``scout_dagster`` (nor its emulator):
a second, independent reading of the contract (``shared/scout-api.md``) whose
job is to misbehave on request. Each :class:`Scenario` field switches on one
misbehaviour; with none on it is a plain, well-behaved Scout. A run is
"running" for ``run_s`` real seconds after its create, then completed (or
failed); a cancel ends an active run at once.

    with HostileServer(api_key="sk-...", scenario=Scenario(run_s=1.0)) as server:
        server.url, server.requests, server.creates, server.cancels
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
    duration: float = 0.3  # real seconds from its create to its end
    cancelled_at: float | None = None  # when its cancel takes (or took) effect
    reports: int = 0  # GETs and status events so far (credits_sequence)
    gets_after_end: int = 0  # GETs after completion (flap_gets)


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
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    def state_of(self, run: _Run) -> str:
        if run.cancelled_at is not None:
            # A cancel stops the run at its next checkpoint: until then it runs.
            return "cancelled" if time.monotonic() >= run.cancelled_at else "running"
        if time.monotonic() - run.created >= run.duration:
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
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            self._wait(every_s)

    def _route(self, method: str, body: bytes, headers: dict[str, str]) -> None:
        path, _, query = self.path.partition("?")
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
