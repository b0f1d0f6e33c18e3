"""The ledger: everything the emulator has done, readable from any thread.

The server writes to it from its event-loop thread; tests read it from theirs.
It owns the run and monitor registries (so state read here is the same the
API serves), the request log, cancel and fault counters, and the idempotency
store. Run states and credits in snapshots are computed at the clock's
current time; every read first catches monitors up (``catch_up``), executing
the scheduled runs due by then.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._clock import Clock
from ._findall_runs import FindAllRun
from ._idempotency import IdempotencyStore
from ._monitors import Monitor, MonitorPolicy, catch_up
from ._run_common import ACTIVE_STATES
from ._runs import Run
from ._search_runs import SearchRun

__all__ = [
    "Ledger",
    "MonitorRunRecord",
    "MonitorSnapshot",
    "RequestRecord",
    "RunSnapshot",
    "UnknownMonitorError",
    "UnknownRunError",
]

RunKind = Literal["findall", "search"]


class UnknownRunError(KeyError):
    """``Ledger.run`` was asked for a run id the emulator never created."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown run"


@dataclass(frozen=True)
class RunSnapshot:
    """A run as it stands at the clock's current time.

    ``created_at`` is in virtual seconds of the emulator's clock.
    ``cancel_requested`` is true once any cancel call reached the run (even a
    no-op on a finished run); ``cancelled_while_active`` only if a cancel
    stopped it. ``request_body`` is the create request's JSON body.
    """

    run_id: str
    kind: RunKind
    state: str
    credits: int
    query: str | None
    queries: tuple[str, ...] | None
    idempotency_key: str | None
    created_at: float
    cancel_requested: bool
    cancelled_while_active: bool
    request_body: dict[str, Any]


class UnknownMonitorError(KeyError):
    """``Ledger.monitor`` was asked for a monitor id the emulator never created."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown monitor"


@dataclass(frozen=True)
class MonitorRunRecord:
    """One run a monitor made. ``at`` is virtual seconds; ``event_id`` is None
    when the run emitted no event (it found nothing new); a ``failed`` run
    (the failure switch, or want of credits) is not charged."""

    n: int
    at: float
    trigger: Literal["schedule", "manual"]
    credits: int
    event_id: str | None
    failed: bool
    error: str | None = None


@dataclass(frozen=True)
class MonitorSnapshot:
    """A monitor as it stands at the clock's current time (its due runs executed).

    ``status`` is the last one set (a deleted monitor keeps it, with
    ``deleted`` true); ``events`` counts the events its runs emitted;
    ``created_at`` and ``next_run_at`` are virtual seconds (``next_run_at``
    None while paused or deleted); ``request_body`` is the create's JSON body.
    """

    monitor_id: str
    owner: str
    query: str
    status: str
    deleted: bool
    cadence: str | None
    cron: str | None
    credits: int
    runs: tuple[MonitorRunRecord, ...]
    events: int
    idempotency_key: str | None
    request_body: dict[str, Any]
    created_at: float
    next_run_at: float | None


@dataclass(frozen=True)
class RequestRecord:
    """One ``/v1`` request as the emulator answered it. Never holds the API key.

    ``status`` is the status line sent (a dropped response still sent its 200);
    ``fault`` names the fault applied to it, if any; ``at`` is virtual seconds;
    ``idempotent_replay`` is true when a kept response was replayed for it.
    """

    method: str
    path: str
    query: str
    status: int
    idempotency_key: str | None
    fault: str | None
    request_id: str
    at: float
    scout_version: str | None = None
    user_agent: str | None = None
    idempotent_replay: bool = False


class Ledger:
    """Thread-safe record of runs, requests, cancels and faults.

    The app holds ``lock`` while it reads or changes runs, so a snapshot taken
    here never sees a run half-way through an operation.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.idempotency = IdempotencyStore()
        self._runs: dict[str, Run] = {}
        self._monitors: dict[str, Monitor] = {}
        # What a monitor run asks of the emulator (its fault switch and
        # balance); EmulatorState wires in its own.
        self.monitor_policy = MonitorPolicy()
        self._requests: list[RequestRecord] = []
        self._cancels: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()

    # -- written by the app ----------------------------------------------------

    def add_run(self, run: Run) -> None:
        with self.lock:
            self._runs[run.run_id] = run

    def find_run(self, run_id: str) -> Run | None:
        with self.lock:
            return self._runs.get(run_id)

    def owned_runs(self, owner: str, kind: RunKind) -> list[Run]:
        """Runs of one API key and kind, newest first."""
        with self.lock:
            runs = [r for r in self._runs.values() if r.owner == owner and r.kind == kind]
        return sorted(reversed(runs), key=lambda r: r.created_at, reverse=True)

    def create_times(self, owner: str) -> list[float]:
        """Virtual creation times of every run one API key created."""
        with self.lock:
            return [r.created_at for r in self._runs.values() if r.owner == owner]

    def add_monitor(self, monitor: Monitor) -> None:
        with self.lock:
            self._monitors[monitor.monitor_id] = monitor

    def find_monitor(self, monitor_id: str) -> Monitor | None:
        """A monitor by id, deleted ones included (the API answers 404 for those)."""
        with self.lock:
            return self._monitors.get(monitor_id)

    def owned_monitors(self, owner: str) -> list[Monitor]:
        """One API key's monitors that are not deleted, newest first."""
        with self.lock:
            mine = [m for m in self._monitors.values() if m.owner == owner and not m.deleted]
        return sorted(reversed(mine), key=lambda m: m.created_at, reverse=True)

    def catch_up(self) -> float:
        """Execute every monitor run scheduled by now, in time order; returns now.

        Called under ``lock`` before anything reads or changes a monitor, and
        by every ledger read, so a run happens exactly once, at its time.
        """
        with self.lock:
            now = self.clock.now()
            catch_up(list(self._monitors.values()), now, self.monitor_policy, self._credits_at)
            return now

    def _credits_at(self, at: float) -> int:
        """Credits every run and monitor had charged by virtual time ``at``."""
        runs = sum(r.summary(at).credits for r in self._runs.values())
        monitors = sum(
            run.credits for m in self._monitors.values() for run in m.runs if run.at <= at
        )
        return runs + monitors

    def record_request(self, record: RequestRecord) -> int:
        """Append a request; returns its position for ``mark_fault``."""
        with self.lock:
            self._requests.append(record)
            if record.fault is not None:
                self._faults[record.fault] += 1
            return len(self._requests) - 1

    def mark_fault(self, position: int, fault: str) -> None:
        """Note a fault applied after the request was recorded (a dropped stream)."""
        with self.lock:
            self._requests[position] = replace(self._requests[position], fault=fault)
            self._faults[fault] += 1

    def record_cancel(self, run_id: str) -> None:
        with self.lock:
            self._cancels[run_id] += 1

    # -- read by tests -----------------------------------------------------------

    def _snapshot(self, run: Run, at: float) -> RunSnapshot:
        summary = run.summary(at)
        return RunSnapshot(
            run_id=run.run_id,
            kind=run.kind,
            state=summary.state,
            credits=summary.credits,
            query=run.spec.query if isinstance(run, FindAllRun) else None,
            queries=run.spec.queries if isinstance(run, SearchRun) else None,
            idempotency_key=run.idempotency_key,
            created_at=run.created_at,
            cancel_requested=run.cancel_calls > 0,
            cancelled_while_active=run.cancelled_while_active,
            request_body=dict(run.request_body),
        )

    def runs(self, kind: RunKind | None = None) -> list[RunSnapshot]:
        """Every run (of ``kind`` if given) in creation order, as of now."""
        with self.lock:
            at = self.clock.now()
            return [self._snapshot(r, at) for r in self._runs.values() if kind in (None, r.kind)]

    def run(self, run_id: str) -> RunSnapshot:
        """One run as of now; raises ``UnknownRunError`` (a ``KeyError``) if unknown."""
        with self.lock:
            run = self._runs.get(run_id)
            if run is None:
                raise UnknownRunError(
                    f"the emulator has no run {run_id!r} ({len(self._runs)} runs recorded)"
                )
            return self._snapshot(run, self.clock.now())

    def creates(self, kind: RunKind | None = None) -> int:
        """Runs actually created (an idempotent replay is not a create)."""
        with self.lock:
            return sum(1 for r in self._runs.values() if kind in (None, r.kind))

    def active_runs(self) -> list[RunSnapshot]:
        """Runs queued or running now."""
        return [s for s in self.runs() if s.state in ACTIVE_STATES]

    def total_credits(self) -> int:
        """Credits charged by every run and every monitor run, as of now."""
        with self.lock:
            return self._credits_at(self.catch_up())

    @staticmethod
    def _monitor_snapshot(monitor: Monitor) -> MonitorSnapshot:
        return MonitorSnapshot(
            monitor_id=monitor.monitor_id,
            owner=monitor.owner,
            query=monitor.settings.query,
            status=monitor.status,
            deleted=monitor.deleted,
            cadence=monitor.settings.cadence,
            cron=monitor.settings.cron,
            credits=monitor.credits,
            runs=tuple(
                MonitorRunRecord(
                    n=run.n,
                    at=run.at,
                    trigger=run.trigger,
                    credits=run.credits,
                    event_id=run.event.event_id if run.event else None,
                    failed=run.failed,
                    error=run.error,
                )
                for run in monitor.runs
            ),
            events=len(monitor.events),
            idempotency_key=monitor.idempotency_key,
            request_body=dict(monitor.request_body),
            created_at=monitor.created_at,
            next_run_at=monitor.next_due,
        )

    def monitors(self) -> list[MonitorSnapshot]:
        """Every monitor ever created (deleted ones too), in creation order, as of now."""
        with self.lock:
            self.catch_up()
            return [self._monitor_snapshot(m) for m in self._monitors.values()]

    def monitor(self, monitor_id: str) -> MonitorSnapshot:
        """One monitor as of now; raises ``UnknownMonitorError`` (a ``KeyError``) if unknown."""
        with self.lock:
            self.catch_up()
            monitor = self._monitors.get(monitor_id)
            if monitor is None:
                raise UnknownMonitorError(
                    f"the emulator has no monitor {monitor_id!r} "
                    f"({len(self._monitors)} monitors recorded)"
                )
            return self._monitor_snapshot(monitor)

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the ``/v1`` request log, oldest first."""
        with self.lock:
            return list(self._requests)

    def cancels(self, run_id: str | None = None) -> int:
        """Cancel calls received (for one run if ``run_id`` is given), no-ops included."""
        with self.lock:
            return self._cancels[run_id] if run_id else sum(self._cancels.values())

    def faults_injected(self) -> dict[str, int]:
        """How many times each fault kind was applied."""
        with self.lock:
            return dict(self._faults)

    def reset(self) -> None:
        """Forget every run, monitor, request, counter and kept idempotent response."""
        with self.lock:
            self._runs.clear()
            self._monitors.clear()
            self._requests.clear()
            self._cancels.clear()
            self._faults.clear()
            self.idempotency.clear()
