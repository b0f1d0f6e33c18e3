"""The hostile server's monitors (``/v1/monitors``): their state, bodies,
event pages and writes, as :class:`MonitorBoard`, which
:class:`~.server.HostileServer` is. Monitors have no clock: a monitor's events
are made when a test calls :meth:`MonitorBoard.emit_monitor_event` or someone
calls ``POST /v1/monitors/{id}/run``."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import unquote

from .model import Monitor, Scenario, iso

_MONITOR_FIELDS = frozenset({"query", "cadence", "cron", "webhook", "limit", "country", "language"})
_CADENCES = {"hourly": 3600.0, "daily": 86400.0, "weekly": 7 * 86400.0}


class MonitorBoard:
    """Every monitor of the server and what was asked of them."""

    scenario: Scenario
    lock: threading.RLock

    def __init__(self) -> None:
        self._monitors: dict[str, Monitor] = {}
        # Idempotency-Key -> (call, body, status, answer) of the monitor writes.
        self._monitor_replies: dict[str, tuple[str, bytes, int, Any]] = {}
        self._event_serial = 0  # events made so far, of every monitor, unknown types included
        self.events_reads = 0  # JSON event-list requests received (refused ones included)
        self.monitor_runs: list[str] = []  # ids of monitors run by POST …/run (replays not)
        self.changed = threading.Condition(self.lock)  # notified on every new event or delete

    def add_monitor(self, query: str = "AI chip export controls", **fields: Any) -> str:
        """A new monitor (as a create would make it), without a request; its id."""
        with self.lock:
            monitor = Monitor(f"mon-{uuid.uuid4().hex[:12]}", {"query": query} | fields)
            monitor.request.setdefault("cadence", None if "cron" in fields else "daily")
            self._monitors[monitor.monitor_id] = monitor
            return monitor.monitor_id

    @property
    def monitor_ids(self) -> set[str]:
        with self.lock:
            return {m.monitor_id for m in self._monitors.values() if not m.deleted}

    def monitor(self, segment: str) -> Monitor | None:
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
                        "timestamp": iso(now),
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
                "timestamp": iso(now),
                "run_at": iso(now),
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

    def monitor_body(self, monitor: Monitor) -> dict[str, Any]:
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
            "createdAt": iso(monitor.created_wall),
            "lastRunAt": iso(monitor.last_run_wall) if monitor.last_run_wall else None,
            "nextRunAt": iso(anchor + step) if step and monitor.status == "active" else None,
            "credits": monitor.credits,
        }

    def monitors_page(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """Monitors newest first, one page."""
        with self.lock:
            alive = [m for m in self._monitors.values() if not m.deleted]
            alive.sort(key=lambda m: m.created_wall, reverse=True)
            return [self.monitor_body(m) for m in alive[offset : offset + limit]]

    def events_page(
        self, monitor: Monitor, after: str | None, limit: int, token: str
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

    def position_after(self, monitor: Monitor, last: str | None) -> int | None:
        """Where a stream resumes: after the event whose SSE id is ``last``."""
        if not last:
            return 0
        with self.lock:
            for index, event in enumerate(monitor.events):
                if last in (event["event_id"], sse_id(index, event)):
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

    def update_monitor(self, monitor: Monitor, raw: bytes) -> tuple[int, Any]:
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

    def act(self, monitor: Monitor, action: str) -> tuple[int, Any]:
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


def sse_id(index: int, event: dict[str, Any]) -> str:
    """The SSE ``id:`` of an event: its event id when one line can hold it,
    else its position (an SSE id ends at a line break)."""
    event_id = str(event["event_id"])
    if any(char in event_id for char in "\r\n\0"):
        return f"pos-{index + 1}"
    return event_id


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
