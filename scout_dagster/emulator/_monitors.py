"""Monitors: a query run on a schedule, its runs, its events, and the catch-up.

Nothing runs in the background here either. A monitor knows when its next
scheduled run is due (``next_due``, virtual seconds); ``catch_up`` executes
every run due by now, across all monitors in time order, whenever the
emulator is asked anything (a request, a ledger read, a stream tick). A run,
once executed, is recorded and never changes, so what a client has seen stays
true; runs are always executed in time order, so the credit balance a run
sees is the one at its own time.

A run number ``n`` (0-based, per monitor, scheduled and manual runs alike)
reads SERP page ``n`` of the monitor's query (and the pages after it when
``limit`` asks for more than one page). A result is ``first_seen`` when no
earlier run of the monitor had its URL; a run emits a ``monitor.results``
event only if it found something new, and a failed run always emits a
``monitor.run.failed`` event. Every time here is in virtual seconds.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ._cron import Cron, parse_cron
from ._serp import pages_per_query, serp_page

__all__ = [
    "CADENCE_SECONDS",
    "MAX_CATCH_UP_RUNS",
    "MONITOR_FAILURE_MESSAGE",
    "MONITOR_RUN_CREDITS",
    "Cadence",
    "Monitor",
    "MonitorEvent",
    "MonitorPolicy",
    "MonitorRun",
    "MonitorSettings",
    "MonitorStatus",
    "ResultItem",
    "catch_up",
    "event_id_of",
    "failure_of",
    "switch_failure",
    "unpaid_message",
]

Json = Any
Cadence = Literal["hourly", "daily", "weekly"]
MonitorStatus = Literal["active", "paused"]
Trigger = Literal["schedule", "manual"]
EventType = Literal["monitor.results", "monitor.run.failed"]

# [assumed] The contract's cadences, in virtual seconds.
CADENCE_SECONDS: dict[str, int] = {"hourly": 3600, "daily": 86400, "weekly": 604800}
# [assumed] A monitor run costs what a search of one query costs.
MONITOR_RUN_CREDITS = 1
MONITOR_FAILURE_MESSAGE = "Search provider error while running the monitor query"
# One catch-up executes at most this many scheduled runs per monitor. A clock
# far ahead of the last look (a fast SystemClock, a ManualClock advanced by a
# year on an every-minute cron) would otherwise execute an unbounded backlog
# inside one request; like a scheduler that was down, the monitor then skips
# the runs it missed and goes on from the next slot after now.
MAX_CATCH_UP_RUNS = 1000


@dataclass(frozen=True)
class ResultItem:
    """One result of a monitor run."""

    title: str
    url: str
    snippet: str
    first_seen: bool

    def as_json(self) -> dict[str, Json]:
        return {
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            "first_seen": self.first_seen,
        }


@dataclass(frozen=True)
class MonitorEvent:
    """An event a run emitted; ``seq`` counts from 1 per monitor."""

    event_id: str
    seq: int
    type: EventType
    at: float
    results: tuple[ResultItem, ...]
    credits: int
    error: str | None


@dataclass(frozen=True)
class MonitorRun:
    """One executed run (scheduled or manual); ``event`` is None when it found nothing new."""

    n: int
    at: float
    trigger: Trigger
    credits: int
    failed: bool
    error: str | None
    event: MonitorEvent | None


@dataclass(frozen=True)
class MonitorSettings:
    """What a create (or an update) set. Exactly one of ``cadence`` and ``cron``."""

    query: str
    cadence: Cadence | None
    cron: str | None
    webhook: str | None
    limit: int
    country: str
    language: str

    @property
    def parsed_cron(self) -> Cron | None:
        return parse_cron(self.cron) if self.cron is not None else None


@dataclass(frozen=True)
class MonitorPolicy:
    """What a run asks of the rest of the emulator when it executes.

    ``fails(key)`` is the seeded failure switch; ``balance()`` the account's
    credits (None: unlimited). Both are read when a run executes, so a fault
    mix or balance changed at runtime applies to the runs executed after it.
    """

    fails: Callable[[str], bool] = lambda key: False
    balance: Callable[[], int | None] = lambda: None


def event_id_of(monitor_id: str, seq: int) -> str:
    """``mev_<12 hex>_<seq>``: opaque, unique, stable, and a valid Dagster partition key.

    Six digits keep ids in string order up to 999,999 events per monitor.
    """
    digest = hashlib.sha256(monitor_id.encode()).hexdigest()[:12]
    return f"mev_{digest}_{seq:06d}"


def _results(query: str, n: int, limit: int, seen: set[str]) -> tuple[ResultItem, ...]:
    """Run ``n``'s results: SERP pages ``n``.., de-duplicated by URL, at most ``limit``."""
    items: dict[str, ResultItem] = {}
    for page in range(n, n + pages_per_query(limit)):
        for entry in serp_page(query, page):
            if entry.url not in items:
                first = entry.url not in seen
                items[entry.url] = ResultItem(entry.title, entry.url, entry.snippet, first)
    return tuple(items.values())[:limit]


class Monitor:
    """A monitor: its settings, its schedule, the runs it made and the events they emitted."""

    def __init__(
        self,
        *,
        monitor_id: str,
        owner: str,
        settings: MonitorSettings,
        created_at: float,
        epoch: float,
        idempotency_key: str | None,
        request_body: dict[str, Json],
    ) -> None:
        self.monitor_id = monitor_id
        self.owner = owner  # fingerprint of the API key that created it
        self.settings = settings
        self.created_at = created_at
        self.epoch = epoch  # Unix time of virtual 0, where cron times are read
        self.idempotency_key = idempotency_key
        self.request_body = request_body
        self.status: MonitorStatus = "active"
        self.deleted = False
        self.runs: list[MonitorRun] = []
        self.events: list[MonitorEvent] = []
        self._seen: set[str] = set()
        self._cron = settings.parsed_cron
        # Cadence runs fall at anchor + k * interval, k >= 1: created, resumed
        # or re-scheduled at the anchor.
        self._anchor = created_at
        self._k = 1
        self.next_due: float | None = self._first_after(created_at)

    # -- reading ---------------------------------------------------------------

    @property
    def credits(self) -> int:
        return sum(run.credits for run in self.runs)

    @property
    def last_run_at(self) -> float | None:
        return self.runs[-1].at if self.runs else None

    def event_position(self, event_id: str) -> int | None:
        """How many events precede and include ``event_id``, or None if it is not ours."""
        for position, event in enumerate(self.events):
            if event.event_id == event_id:
                return position + 1
        return None

    # -- scheduling ------------------------------------------------------------

    def _cron_after(self, at: float) -> float | None:
        assert self._cron is not None
        wall = datetime.fromtimestamp(self.epoch + at, UTC)
        following = self._cron.next_after(wall)
        return None if following is None else following.timestamp() - self.epoch

    def _first_after(self, anchor: float) -> float | None:
        """Re-anchor the schedule at ``anchor``; returns the first run due after it."""
        self._anchor, self._k = anchor, 1
        if self._cron is not None:
            return self._cron_after(anchor)
        assert self.settings.cadence is not None
        return anchor + CADENCE_SECONDS[self.settings.cadence]

    def _following(self, due: float) -> float | None:
        """The scheduled run after the one due at ``due``."""
        if self._cron is not None:
            return self._cron_after(due)
        assert self.settings.cadence is not None
        # From the anchor, not by repeated addition, so times never drift.
        self._k += 1
        return self._anchor + self._k * CADENCE_SECONDS[self.settings.cadence]

    def skip_to(self, now: float) -> None:
        """Drop scheduled runs missed up to ``now``: go on from the next slot after it."""
        if self._cron is not None:
            self.next_due = self._cron_after(now)
            return
        assert self.settings.cadence is not None
        interval = CADENCE_SECONDS[self.settings.cadence]
        self._k = int((now - self._anchor) // interval) + 1
        self.next_due = self._anchor + self._k * interval

    def advance_schedule(self) -> None:
        """Move ``next_due`` past the run just executed at it."""
        assert self.next_due is not None
        self.next_due = self._following(self.next_due)

    # -- operations ------------------------------------------------------------

    def update(self, settings: MonitorSettings, now: float) -> None:
        """New settings; a new schedule is planned from ``now``."""
        rescheduled = (settings.cadence, settings.cron) != (
            self.settings.cadence,
            self.settings.cron,
        )
        self.settings = settings
        if rescheduled:
            self._cron = settings.parsed_cron
            due = self._first_after(now)
            self.next_due = due if self.status == "active" else None

    def pause(self) -> None:
        self.status = "paused"
        self.next_due = None

    def resume(self, now: float) -> None:
        """Active again, next run one interval (or the next cron time) after ``now``.

        Resuming an active monitor changes nothing, as pausing a paused one does.
        """
        if self.status == "active":
            return
        self.status = "active"
        self.next_due = self._first_after(now)

    def delete(self) -> None:
        self.deleted = True
        self.next_due = None

    def execute(self, at: float, trigger: Trigger, *, failure: str | None) -> MonitorRun:
        """Run once at ``at``; ``failure`` (a message) makes it a failed, unpaid run."""
        n = len(self.runs)
        event: MonitorEvent | None = None
        if failure is not None:
            event = self._emit("monitor.run.failed", at, (), 0, failure)
            run = MonitorRun(n, at, trigger, 0, True, failure, event)
        else:
            settings = self.settings
            results = _results(settings.query, n, settings.limit, self._seen)
            self._seen.update(item.url for item in results)
            if any(item.first_seen for item in results):
                event = self._emit("monitor.results", at, results, MONITOR_RUN_CREDITS, None)
            run = MonitorRun(n, at, trigger, MONITOR_RUN_CREDITS, False, None, event)
        self.runs.append(run)
        return run

    def _emit(
        self,
        kind: EventType,
        at: float,
        results: tuple[ResultItem, ...],
        credits: int,
        error: str | None,
    ) -> MonitorEvent:
        seq = len(self.events) + 1
        event_id = event_id_of(self.monitor_id, seq)
        event = MonitorEvent(event_id, seq, kind, at, results, credits, error)
        self.events.append(event)
        return event


@dataclass(order=True)
class _Due:
    at: float
    order: int
    monitor: Monitor = field(compare=False)


def catch_up(
    monitors: list[Monitor],
    now: float,
    policy: MonitorPolicy,
    credits_at: Callable[[float], int],
) -> None:
    """Execute every scheduled run due by ``now``, in time order across ``monitors``.

    Ties go to the monitor created first. A run that the balance (as of its
    own time) cannot pay, or that the failure switch fails, is a failed run.
    """
    heap = [
        _Due(m.next_due, order, m)
        for order, m in enumerate(monitors)
        if m.next_due is not None and m.next_due <= now
    ]
    heapq.heapify(heap)
    executed: dict[int, int] = {}
    while heap:
        due = heapq.heappop(heap)
        monitor = due.monitor
        monitor.execute(due.at, "schedule", failure=failure_of(monitor, due.at, policy, credits_at))
        executed[due.order] = executed.get(due.order, 0) + 1
        if executed[due.order] >= MAX_CATCH_UP_RUNS:
            monitor.skip_to(now)
            continue
        monitor.advance_schedule()
        if monitor.next_due is not None and monitor.next_due <= now:
            heapq.heappush(heap, _Due(monitor.next_due, due.order, monitor))


def unpaid_message(left: int) -> str:
    return f"Insufficient credits: {left} left, a monitor run needs {MONITOR_RUN_CREDITS}"


def failure_of(
    monitor: Monitor, at: float, policy: MonitorPolicy, credits_at: Callable[[float], int]
) -> str | None:
    """Why monitor's next run at ``at`` fails (want of credits, the failure switch), or None."""
    balance = policy.balance()
    if balance is not None:
        left = balance - credits_at(at)
        if left < MONITOR_RUN_CREDITS:
            return unpaid_message(left)
    return switch_failure(monitor, policy)


def switch_failure(monitor: Monitor, policy: MonitorPolicy) -> str | None:
    """The failure message if the seeded switch fails the monitor's next run, else None."""
    if policy.fails(f"{monitor.monitor_id}:{len(monitor.runs)}"):
        return MONITOR_FAILURE_MESSAGE
    return None
