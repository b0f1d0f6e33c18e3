"""The ledger: everything the emulator has done, readable from any thread.

The server writes to it from its event-loop thread; tests read it from theirs.
It owns the run registry (so run state read here is the same the API serves),
the request log, cancel and fault counters, and the idempotency store. Run
states and credits in snapshots are computed at the clock's current time.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._clock import Clock
from ._idempotency import IdempotencyStore
from ._runs import ACTIVE_STATES, FindAllRun, Run, SearchRun

__all__ = ["Ledger", "RequestRecord", "RunSnapshot", "UnknownRunError"]

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
        """Credits charged by every run, as of now."""
        with self.lock:
            at = self.clock.now()
            return sum(r.summary(at).credits for r in self._runs.values())

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
        """Forget every run, request, counter and kept idempotent response."""
        with self.lock:
            self._runs.clear()
            self._requests.clear()
            self._cancels.clear()
            self._faults.clear()
            self.idempotency.clear()
