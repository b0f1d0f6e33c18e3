"""Following a remote run to its end: the one place that decides when to stop waiting.

``RunFollower`` starts a run (or adopts one already paid for), follows it by
its event stream, falls back to polling with backoff when the stream is
unavailable, and enforces a deadline and a credit budget. It never leaves a
run running behind it:

- deadline passed or budget exceeded: the remote run is cancelled, its final
  state read, and ``RunDeadlineExceeded`` / ``RunBudgetExceeded`` raised with
  the figures (or, for search with ``keep_partial``, the gathered partial
  result returned, marked partial);
- any exception or interrupt while waiting (``KeyboardInterrupt``, Dagster's
  ``DagsterExecutionInterruptedError``): the remote run is cancelled before
  the exception goes on;
- a run that finished is never cancelled (its state is read first).

It knows nothing of Dagster; progress goes to a callback.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, Literal, TypeVar

from ._client import ScoutClient
from ._errors import (
    RunBudgetExceeded,
    RunDeadlineExceeded,
    RunFailed,
    ScoutAPIError,
    ScoutError,
    ScoutNotFoundError,
)
from ._models import FindAllEvent, FindAllRun, RunState, SearchEvent, SearchRun
from ._requests import FindAllRequest, SearchRequest

__all__ = ["FINDALL", "SEARCH", "FollowResult", "RunFollower", "RunKind", "RunProgress"]

log = logging.getLogger("scout_dagster.follower")

RunT = TypeVar("RunT", FindAllRun, SearchRun)
EventT = TypeVar("EventT", FindAllEvent, SearchEvent)
StopReason = Literal["deadline", "budget"]


@dataclasses.dataclass(frozen=True)
class RunKind(Generic[RunT, EventT]):
    """The calls that differ between FindAll and search runs; the waiting logic is shared."""

    name: str
    get: Callable[[ScoutClient, str], RunT]
    cancel: Callable[[ScoutClient, str], RunT]
    events: Callable[[ScoutClient, str, str | None], Iterator[EventT]]
    #: Search keeps what it gathered when cancelled; FindAll discards it.
    keeps_partial_on_cancel: bool


FINDALL: RunKind[FindAllRun, FindAllEvent] = RunKind(
    name="FindAll",
    # Following needs the run's status and figures, never its entities: they
    # are skipped unread (a million of them is ~200 MB on every heartbeat).
    get=lambda client, run_id: client.get_findall_run(run_id, entities=False),
    cancel=lambda client, run_id: client.cancel_findall_run(run_id),
    events=lambda client, run_id, last: client.stream_findall_events(
        run_id, last_event_id=last, entities=False
    ),
    keeps_partial_on_cancel=False,
)
SEARCH: RunKind[SearchRun, SearchEvent] = RunKind(
    name="search",
    get=lambda client, run_id: client.get_search_run(run_id),
    cancel=lambda client, run_id: client.cancel_search_run(run_id),
    events=lambda client, run_id, last: client.stream_search_events(run_id, last_event_id=last),
    keeps_partial_on_cancel=True,
)


@dataclasses.dataclass(frozen=True)
class RunProgress:
    """A snapshot for progress reports: ``items`` is entities (FindAll) or pages (search)."""

    run_id: str
    state: RunState
    items: int
    items_target: int | None
    credits: int
    elapsed_s: float


@dataclasses.dataclass(frozen=True)
class FollowResult(Generic[RunT]):
    """How a followed run ended.

    Attributes:
        run: the run as read from the server after it ended; a FindAll run
            without its entities and candidates (read the run for those).
        adopted: the run was started by an earlier attempt and adopted.
        waited_s: seconds from the start of following to the end.
        partial: we stopped it (``stop_reason``) and kept its partial result.
        stop_reason: ``"deadline"`` or ``"budget"`` when we cancelled it.
        followed_by: ``"stream"`` or ``"poll"`` (the stream was unavailable).
    """

    run: RunT
    adopted: bool
    waited_s: float
    partial: bool = False
    stop_reason: StopReason | None = None
    followed_by: Literal["stream", "poll"] = "stream"


class _Stop(Exception):
    def __init__(self, reason: StopReason) -> None:
        self.reason = reason


class _StreamPump(threading.Thread):
    """Reads an event stream in a daemon thread so the waiting thread can keep time.

    A blocked socket read cannot honour a deadline; a queue read with a
    timeout can. The pump ends by itself when the stream ends (the server
    closes it after the terminal event, which our cancel causes).
    """

    def __init__(self, events: Callable[[], Iterator[object]]) -> None:
        super().__init__(daemon=True, name="scout-event-stream")
        self.items: queue.Queue[tuple[str, object]] = queue.Queue()
        self._events = events
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            for event in self._events():
                if self._stopped.is_set():
                    return
                self.items.put(("event", event))
            self.items.put(("end", None))
        except BaseException as exc:  # handed to the waiting thread, which decides
            self.items.put(("error", exc))

    def stop(self) -> None:
        self._stopped.set()


class RunFollower:
    """Start or adopt a remote run and follow it to its end.

    Args:
        client: the Scout client.
        deadline_s: seconds to wait for the run before cancelling it; ``None``
            waits for as long as it takes.
        credit_budget: cancel the run once its credits exceed this; ``None``
            for no ceiling.
        keep_partial: for search runs stopped by the deadline or the budget,
            return the gathered partial result instead of failing.
        cancel_on_error: cancel the run when following it fails with an error
            (say, the API unreachable for longer than the retries last). Set it
            to False when another attempt will come and adopt the run; an
            interrupt (``KeyboardInterrupt``, a terminated Dagster run) cancels
            it whatever this says.
        use_stream: follow the event stream (else poll only).
        poll_interval_s, max_poll_interval_s: polling starts at the first and
            grows by half each time up to the second (seconds).
        progress_interval_s: the least time between two progress reports.
        cancel_grace_s: after a cancel, how long to read the run waiting for
            it to reach its terminal state (it stops at its next checkpoint).
        on_progress: called with :class:`RunProgress` at most every
            ``progress_interval_s`` and on every state change.
        clock, sleep: monotonic seconds and a sleep, injectable for tests.
    """

    def __init__(
        self,
        client: ScoutClient,
        *,
        deadline_s: float | None = None,
        credit_budget: int | None = None,
        keep_partial: bool = False,
        cancel_on_error: bool = True,
        use_stream: bool = True,
        poll_interval_s: float = 1.0,
        max_poll_interval_s: float = 15.0,
        progress_interval_s: float = 5.0,
        cancel_grace_s: float = 30.0,
        on_progress: Callable[[RunProgress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError(f"deadline_s must be positive (seconds), got {deadline_s}")
        if credit_budget is not None and credit_budget < 0:
            raise ValueError(f"credit_budget must not be negative, got {credit_budget}")
        self.client = client
        self.deadline_s = deadline_s
        self.credit_budget = credit_budget
        self.keep_partial = keep_partial
        self.cancel_on_error = cancel_on_error
        self.use_stream = use_stream
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.progress_interval_s = progress_interval_s
        self.cancel_grace_s = cancel_grace_s
        self.on_progress = on_progress
        self._clock = clock
        self._sleep = sleep

    # ------------------------------------------------------------ public

    def run_findall(
        self,
        request: FindAllRequest,
        *,
        idempotency_key: str | None = None,
        adopt_run_id: str | None = None,
        on_started: Callable[[FindAllRun, bool], None] | None = None,
    ) -> FollowResult[FindAllRun]:
        """Create (or adopt) a FindAll run and follow it to its end."""
        run, adopted = self._start(
            FINDALL, lambda: request.create(self.client, idempotency_key), adopt_run_id
        )
        if on_started:
            on_started(run, adopted)
        return self.follow(FINDALL, run.findall_id, adopted=adopted)

    def run_search(
        self,
        request: SearchRequest,
        *,
        idempotency_key: str | None = None,
        adopt_run_id: str | None = None,
        on_started: Callable[[SearchRun, bool], None] | None = None,
    ) -> FollowResult[SearchRun]:
        """Create (or adopt) a deep-search run and follow it to its end."""
        run, adopted = self._start(
            SEARCH, lambda: request.create(self.client, idempotency_key), adopt_run_id
        )
        if on_started:
            on_started(run, adopted)
        return self.follow(SEARCH, run.search_id, adopted=adopted)

    def follow(
        self, kind: RunKind[RunT, EventT], run_id: str, *, adopted: bool = False
    ) -> FollowResult[RunT]:
        """Wait for ``run_id`` to end; cancel it on every exit that leaves it running."""
        started = self._clock()
        deadline = None if self.deadline_s is None else started + self.deadline_s
        tracker = _ProgressTracker(self, run_id, started)
        try:
            try:
                run, followed_by = self._wait(kind, run_id, deadline, tracker)
            except _Stop as stop:
                return self._stop(kind, run_id, stop.reason, started, adopted, tracker)
            return self._finish(kind, run, started, adopted, followed_by)
        except RunFailed:
            raise  # the run has ended, or we ended it: nothing is left running
        except Exception as exc:
            if self.cancel_on_error:
                self._cancel_if_active(kind, run_id, why=f"following it failed ({exc})")
            else:
                log.warning(
                    "following %s run %s failed (%s); leaving it running for the next "
                    "attempt to adopt",
                    kind.name,
                    run_id,
                    exc,
                )
            raise
        except BaseException:  # an interrupt or a termination: always cancel
            self._cancel_if_active(kind, run_id, why="the wait was interrupted")
            raise

    # ------------------------------------------------------------ start

    def _start(
        self,
        kind: RunKind[RunT, EventT],
        create: Callable[[], RunT],
        adopt_run_id: str | None,
    ) -> tuple[RunT, bool]:
        if adopt_run_id:
            try:
                existing = kind.get(self.client, adopt_run_id)
            except ScoutNotFoundError:
                log.warning(
                    "%s run %s to adopt no longer exists; starting a new one",
                    kind.name,
                    adopt_run_id,
                )
            else:
                if existing.state not in (RunState.FAILED, RunState.CANCELLED):
                    log.info(
                        "adopting %s run %s (%s) started by an earlier attempt",
                        kind.name,
                        adopt_run_id,
                        existing.state.value,
                    )
                    return existing, True
                log.info(
                    "earlier %s run %s ended %s; starting a new one",
                    kind.name,
                    adopt_run_id,
                    existing.state.value,
                )
        return create(), False

    # ------------------------------------------------------------ wait

    def _wait(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: float | None,
        tracker: _ProgressTracker,
    ) -> tuple[RunT, Literal["stream", "poll"]]:
        if self.use_stream:
            ended, last_run = self._wait_on_stream(kind, run_id, deadline, tracker)
            if ended:
                # The terminal event names the final state; read the run only
                # when the event did not carry it. The caller reads the full
                # result once, in the form it needs (create, stream, one read).
                run = last_run if last_run is not None else kind.get(self.client, run_id)
                return run, "stream"
        return self._wait_by_polling(kind, run_id, deadline, tracker), "poll"

    def _wait_on_stream(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: float | None,
        tracker: _ProgressTracker,
    ) -> tuple[bool, RunT | None]:
        """(True, terminal run if the event carried it) when the stream showed the
        run's end; (False, None) to fall back to polling."""
        pump = _StreamPump(lambda: kind.events(self.client, run_id, None))
        pump.start()
        try:
            while True:
                # Wake at least once a second, and at the deadline.
                wait = 1.0 if deadline is None else min(max(deadline - self._clock(), 0.0), 1.0)
                try:
                    what, item = pump.items.get(timeout=wait)
                except queue.Empty:
                    if deadline is not None and self._clock() >= deadline:
                        raise _Stop("deadline") from None
                    continue
                if what == "end":
                    log.warning("event stream of %s run %s ended early; polling", kind.name, run_id)
                    return False, None
                if what == "error":
                    assert isinstance(item, BaseException)
                    if not isinstance(item, ScoutError) or _is_permanent(item):
                        raise item
                    log.warning(
                        "event stream of %s run %s unavailable (%s); polling instead",
                        kind.name,
                        run_id,
                        item,
                    )
                    return False, None
                assert isinstance(item, FindAllEvent | SearchEvent)
                tracker.observe_event(item)
                self._check_budget(tracker)
                if item.is_terminal:
                    return True, item.run  # type: ignore[return-value]
                if deadline is not None and self._clock() >= deadline:
                    raise _Stop("deadline")
        finally:
            pump.stop()

    def _wait_by_polling(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: float | None,
        tracker: _ProgressTracker,
    ) -> RunT:
        interval = self.poll_interval_s
        while True:
            run = kind.get(self.client, run_id)
            tracker.observe_run(run)
            if run.state.is_terminal:
                return run
            self._check_budget(tracker)
            now = self._clock()
            if deadline is not None and now >= deadline:
                raise _Stop("deadline")
            pause = interval if deadline is None else min(interval, deadline - now)
            self._sleep(max(pause, 0.0))
            interval = min(interval * 1.5, self.max_poll_interval_s)

    def _check_budget(self, tracker: _ProgressTracker) -> None:
        if self.credit_budget is not None and tracker.credits > self.credit_budget:
            raise _Stop("budget")

    # ------------------------------------------------------------ endings

    def _finish(
        self,
        kind: RunKind[RunT, EventT],
        run: RunT,
        started: float,
        adopted: bool,
        followed_by: Literal["stream", "poll"],
    ) -> FollowResult[RunT]:
        waited = self._clock() - started
        if run.state is RunState.FAILED:
            raise RunFailed(
                f"{kind.name} run {run.run_id} failed on the server: "
                f"{run.error or 'no reason given'}",
                run_id=run.run_id,
                final_state=run.state.value,
                server_error=run.error,
                credits=run.credits,
            )
        if run.state is RunState.CANCELLED:
            raise RunFailed(
                f"{kind.name} run {run.run_id} was cancelled outside this process "
                f"(termination reason: {run.status.termination_reason or 'not given'})",
                run_id=run.run_id,
                final_state=run.state.value,
                credits=run.credits,
            )
        return FollowResult(run=run, adopted=adopted, waited_s=waited, followed_by=followed_by)

    def _stop(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        reason: StopReason,
        started: float,
        adopted: bool,
        tracker: _ProgressTracker,
    ) -> FollowResult[RunT]:
        """Deadline or budget: cancel, read the final state, then fail or keep the partial."""
        current = kind.get(self.client, run_id)
        if current.state.is_terminal:
            # It finished between our last look and now: use it, never cancel it.
            return self._finish(kind, current, started, adopted, followed_by="stream")
        kind.cancel(self.client, run_id)
        final = self._read_until_terminal(kind, run_id)
        waited = self._clock() - started
        if reason == "deadline":
            what = f"did not finish within its deadline of {self.deadline_s:g} s"
        else:
            what = f"passed its credit budget of {self.credit_budget} (at {tracker.credits})"
        if self.keep_partial and kind.keeps_partial_on_cancel:
            log.warning(
                "%s run %s %s; cancelled it and kept its partial result", kind.name, run_id, what
            )
            return FollowResult(
                run=final, adopted=adopted, waited_s=waited, partial=True, stop_reason=reason
            )
        error = RunDeadlineExceeded if reason == "deadline" else RunBudgetExceeded
        kept = "" if kind.keeps_partial_on_cancel else " (its partial result is discarded)"
        raise error(
            f"{kind.name} run {run_id} {what}; it was cancelled{kept}. "
            f"Final state: {final.state.value}, credits charged: {final.credits}, "
            f"waited {waited:.1f} s",
            run_id=run_id,
            final_state=final.state.value,
            credits=final.credits,
        )

    def _read_until_terminal(self, kind: RunKind[RunT, EventT], run_id: str) -> RunT:
        """Read the run until the cancel took effect (or the grace time is spent)."""
        give_up = self._clock() + self.cancel_grace_s
        pause = 0.05
        while True:
            run = kind.get(self.client, run_id)
            if run.state.is_terminal or self._clock() >= give_up:
                return run
            self._sleep(pause)
            pause = min(pause * 2, 2.0)

    def _cancel_if_active(self, kind: RunKind[RunT, EventT], run_id: str, *, why: str) -> None:
        """Best effort: cancel the run unless it is known to have ended.

        When its state cannot be read, it is cancelled all the same: a cancel
        of a finished run changes nothing, a run left running keeps spending.
        Never masks the original error.
        """
        try:
            if kind.get(self.client, run_id).state.is_terminal:
                return
        except Exception as exc:
            log.warning("could not read %s run %s before cancelling it: %s", kind.name, run_id, exc)
        try:
            kind.cancel(self.client, run_id)
            log.warning("cancelled %s run %s because %s", kind.name, run_id, why)
        except Exception as exc:
            log.error(
                "could not cancel %s run %s after %s: %s; "
                "it may still be running and using credits",
                kind.name,
                run_id,
                why,
                exc,
            )


def _is_permanent(exc: ScoutError) -> bool:
    """Errors on the events endpoint that polling would hit too."""
    return isinstance(exc, ScoutAPIError) and exc.status in (401, 402, 403, 404)


class _ProgressTracker:
    """Keeps the latest figures and reports them at a readable rate."""

    def __init__(self, follower: RunFollower, run_id: str, started: float) -> None:
        self._follower = follower
        self.run_id = run_id
        self._started = started
        self.state = RunState.UNKNOWN
        self.items = 0
        self.items_target: int | None = None
        self.credits = 0
        self._last_report: float | None = None

    def observe_event(self, event: FindAllEvent | SearchEvent) -> None:
        if event.run is not None:
            self.observe_run(event.run)
            return
        if isinstance(event, FindAllEvent) and event.type == "findall.candidate.matched":
            self.items += 1
        elif isinstance(event, SearchEvent) and event.pages_fetched is not None:
            self.items = event.pages_fetched
            self.items_target = event.pages_target
            self.state = RunState.RUNNING
        self._maybe_report(state_changed=False)

    def observe_run(self, run: FindAllRun | SearchRun) -> None:
        changed = run.state is not self.state and run.state is not RunState.UNKNOWN
        if run.state is not RunState.UNKNOWN:
            self.state = run.state
        if isinstance(run, FindAllRun):
            self.items = run.count
        else:
            self.items = run.pages_fetched
            self.items_target = run.pages_target
        self.credits = run.credits
        self._maybe_report(state_changed=changed)

    def _maybe_report(self, *, state_changed: bool) -> None:
        callback = self._follower.on_progress
        if callback is None:
            return
        now = self._follower._clock()
        due = (
            self._last_report is None
            or now - self._last_report >= self._follower.progress_interval_s
        )
        if not (state_changed or due):
            return
        self._last_report = now
        callback(
            RunProgress(
                run_id=self.run_id,
                state=self.state,
                items=self.items,
                items_target=self.items_target,
                credits=self.credits,
                elapsed_s=now - self._started,
            )
        )
