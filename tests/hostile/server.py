"""A small, hostile Scout-API-shaped HTTP server, for tests.

Standard library only, and nothing from ``scout_dagster`` (nor its emulator):
a second, independent reading of the contract (``shared/scout-api.md``) whose
job is to misbehave on request. Each :class:`Scenario` field switches on one
misbehaviour; with none on it is a plain, well-behaved Scout. A run is
"running" for ``run_s`` real seconds after its create, then completed (or
failed); a cancel ends an active run at once.

Monitors (``/v1/monitors``, :mod:`.monitors`) have no clock: a monitor's events are made when the
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

import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote

from .handler import Handler, HTTPServer
from .model import REASONS, Kind, RequestRecord, Run, Scenario, iso
from .monitors import MonitorBoard

__all__ = ["HostileServer", "RequestRecord", "Scenario"]


class HostileServer(MonitorBoard):
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
        self._runs: dict[tuple[Kind, str], Run] = {}
        self._replies: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._create_attempts = 0
        MonitorBoard.__init__(self)  # the monitors, and ``changed`` on ``lock``
        self._httpd = HTTPServer(("127.0.0.1", 0), Handler)
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

    def state_of(self, run: Run) -> str:
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

    def _found(self, run: Run, size: int) -> int:
        """How many of ``size`` items the run has found by now (or by its cancel)."""
        now = time.monotonic()
        until = min(run.cancelled_at, now) if run.cancelled_at is not None else now
        return min(size, int(size * (until - run.created) / run.duration))

    def search_pages(self, run: Run) -> tuple[int, int]:
        """Pages fetched and targeted (one per result) of a search run."""
        size = int(run.request.get("limit") or 5)
        done = size if self.state_of(run) in ("completed", "failed") else self._found(run, size)
        return done, size

    def reported(self, run: Run, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as a GET or status event reports it: the next of ``credits_sequence``."""
        sequence = self.scenario.credits_sequence
        if sequence:
            body["credits"] = sequence[min(run.reports, len(sequence) - 1)]
            run.reports += 1
        return body

    def _common(self, run: Run, state: str, token: str) -> dict[str, Any]:
        echo = self.scenario.echo_key
        error = f"upstream rejected token {token}" if echo else "the upstream engine failed"
        took = run.duration if run.cancelled_at is None else run.cancelled_at - run.created
        return {
            "error": error if state == "failed" else None,
            "createdAt": iso(run.created_wall),
            "completedAt": iso(run.created_wall + took) if state in REASONS else None,
        }

    def findall_body(self, run: Run, state: str, token: str, shown: int | None = None) -> Any:
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
        reason = REASONS.get(state)
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

    def search_body(self, run: Run, state: str, token: str) -> Any:
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
            "credits": len(queries) if state in REASONS else 0,
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
                    "fetched": iso(run.created_wall),
                    "quality": "high",
                    "first_seen_subquery": queries[0],
                }
                for i, url in enumerate(urls)
            ],
        } | self._common(run, state, token)

    def body(self, run: Run, state: str, token: str) -> Any:
        build = self.findall_body if run.kind == "findall" else self.search_body
        return build(run, state, token)

    def get_view(self, run: Run, token: str) -> tuple[str, dict[str, Any]]:
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

    def runs(self) -> list[Run]:
        """Every run created, in creation order."""
        with self.lock:
            return sorted(self._runs.values(), key=lambda run: run.created)

    def find(self, kind: Kind, segment: str) -> Run | None:
        with self.lock:
            return self._runs.get((kind, unquote(segment)))

    def cancel_refused(self) -> bool:
        """Whether this cancel attempt is answered 503 (it is counted either way)."""
        with self.lock:
            self.cancel_attempts += 1
            failures = self.scenario.cancel_failures
            return failures == -1 or self.cancel_attempts <= failures

    def cancel(self, run: Run, token: str) -> dict[str, Any]:
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
            run = Run(kind, self.scenario.run_id or f"{prefix}-{uuid.uuid4().hex[:12]}", request)
            first = self.scenario.first_run_s if self.creates == 1 else None
            run.duration = first if first is not None else self.scenario.run_s
            self._runs[(kind, run.run_id)] = run
            payload = dict(self.body(run, "running", token))
            if key is not None:
                self._replies[key] = (raw, payload)
            return 200, payload
