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
- the caller's ``terminated()`` says yes (the Dagster run was terminated,
  which a step under Celery or a step-delegating executor learns only by
  asking): the remote run is cancelled and ``RunTerminated`` raised; with
  ``cancel_on_termination=False`` (there and on interrupts) it is left
  running for the next attempt to adopt;
- a run that finished is never cancelled (its state is read first).

It knows nothing of Dagster; progress goes to a callback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Literal, NoReturn, Protocol, TypeVar

from ._client import ScoutClient, run_segment
from ._deadline import MAX_DEADLINE_S, Deadline, within
from ._errors import (
    RunBudgetExceeded,
    RunDeadlineExceeded,
    RunFailed,
    RunTerminated,
    ScoutAPIError,
    ScoutDeadlineError,
    ScoutError,
    ScoutNotFoundError,
)
from ._models import FindAllEvent, FindAllRun, RunState, SearchEvent, SearchRun
from ._requests import FindAllRequest, SearchRequest
from ._retry import is_retryable

__all__ = [
    "FINDALL",
    "SEARCH",
    "FollowResult",
    "RunFollower",
    "RunKind",
    "RunProgress",
    "successor_key",
]

log = logging.getLogger("scout_dagster.follower")

RunT = TypeVar("RunT", FindAllRun, SearchRun)
EventT = TypeVar("EventT", FindAllEvent, SearchEvent)
StopReason = Literal["deadline", "budget", "terminated"]
#: States after which a run has no result to adopt.
_DEAD = frozenset({RunState.FAILED, RunState.CANCELLED})
#: New runs one attempt may start in place of replayed dead ones. A create is
#: answered with a dead run when an earlier attempt's run (same idempotency
#: key) was cancelled or failed; a few in a row means something else is wrong.
MAX_REPLACED_RUNS = 2
#: Seconds a look at a run's state may take before a cancel: a server slow to
#: answer reads must not keep the cancel from being sent.
_LOOK_S = 2.0
#: An error this close to the deadline is the deadline: no retry had time left.
_NEAR_DEADLINE_S = 1.0
#: Longest sleep of a poll between two looks at ``terminated``, in seconds.
_WATCH_SLICE_S = 1.0
#: Reads of a run whose events said it ended, when no deadline bounds them.
_MAX_FINAL_READS = 20


class _HasState(Protocol):
    @property
    def state(self) -> RunState: ...


_ReadT = TypeVar("_ReadT", bound=_HasState)


@dataclasses.dataclass(frozen=True)
class RunKind(Generic[RunT, EventT]):
    """The calls that differ between FindAll and search runs; the waiting logic is shared."""

    name: str
    get: Callable[[ScoutClient, str], RunT]
    #: A read of the run with its whole body's bytes, when the kind has a
    #: reader of them (FindAll): a run found completed is not downloaded again.
    look: Callable[[ScoutClient, str], tuple[RunT, bytes | None]]
    cancel: Callable[[ScoutClient, str], RunT]
    events: Callable[[ScoutClient, str, str | None], Iterator[EventT]]
    #: Search keeps what it gathered when cancelled; FindAll discards it.
    keeps_partial_on_cancel: bool
    #: The cancel's path, for a person to send by hand when ours failed.
    cancel_path: str


FINDALL: RunKind[FindAllRun, FindAllEvent] = RunKind(
    name="FindAll",
    # Following needs the run's status and figures, never its entities: they
    # are skipped unread (a million of them is ~200 MB on every heartbeat).
    get=lambda client, run_id: client.get_findall_run(run_id, entities=False),
    look=lambda client, run_id: client.get_findall_run_raw(run_id),
    cancel=lambda client, run_id: client.cancel_findall_run(run_id),
    events=lambda client, run_id, last: client.stream_findall_events(
        run_id, last_event_id=last, entities=False
    ),
    keeps_partial_on_cancel=False,
    cancel_path="/v1/findall/runs/{run_id}/cancel",
)
SEARCH: RunKind[SearchRun, SearchEvent] = RunKind(
    name="search",
    get=lambda client, run_id: client.get_search_run(run_id),
    look=lambda client, run_id: (client.get_search_run(run_id), None),
    cancel=lambda client, run_id: client.cancel_search_run(run_id),
    events=lambda client, run_id, last: client.stream_search_events(run_id, last_event_id=last),
    keeps_partial_on_cancel=True,
    cancel_path="/v1/searches/{run_id}/cancel",
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
        credits_seen: the most credits any read of the run reported.

    :meth:`take_body` hands over the completed run's whole body when following
    already downloaded it (a first look found the run completed), once.
    """

    run: RunT
    adopted: bool
    waited_s: float
    partial: bool = False
    stop_reason: StopReason | None = None
    followed_by: Literal["stream", "poll"] = "stream"
    credits_seen: int = 0
    #: The deadline of the final read (:meth:`RunFollower.read_final`); internal.
    _read_by: Deadline | None = dataclasses.field(default=None, repr=False)
    #: The completed run's body, until taken (a list: the result is frozen):
    #: its bytes, or what ``read_findall_look`` read of them.
    _body: list[Any] = dataclasses.field(default_factory=list, repr=False, compare=False)

    def take_body(self) -> Any:
        """The completed run's body if following downloaded it (its bytes, or
        what ``read_findall_look`` made of them); None after the first call,
        so what it holds is freed once used."""
        return self._body.pop() if self._body else None


class _Replayed(Exception):
    """The create was answered with an earlier attempt's run, which has ended."""

    def __init__(self, run: FindAllRun | SearchRun) -> None:
        self.run = run


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
        deadline_s: seconds for everything from the create to the final read
            (:meth:`read_final`): every request and every retry wait inside
            ends by then, and the run is cancelled if it has not finished.
            ``None`` waits for as long as it takes.
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
            grows by half each time up to the second (seconds). The second is
            10 s by default, so a polled run's end is never seen later than a
            fixed 10-second poll would see it.
        progress_interval_s: the least time between two progress reports.
        cancel_grace_s: after the deadline or the budget, the time the cancel
            and the reads that wait for it to take effect get (it stops at its
            next checkpoint); a failure comes at most this long after the
            deadline.
        terminated: asked (often: it must be cheap, e.g. a
            :class:`~scout_dagster._termination.TerminationWatch`) whether the
            caller's own run was terminated; yes stops the wait.
        cancel_on_termination: cancel the remote run when ``terminated`` says
            yes or the wait is interrupted; False leaves it running, for a
            re-execution to adopt.
        on_progress: called with :class:`RunProgress` at most every
            ``progress_interval_s`` and on every state change.
        read_findall_look: reads a FindAll run's body as the caller needs it
            (its tables), giving the run it says and what was read:
            ``(run_id, body bytes) -> (FindAllRun, read)``. When given, a
            look at a FindAll run parses its body once, with this: a run found
            completed hands ``read`` over in :meth:`FollowResult.take_body`.
            Any error of it, and the look parses the run's head instead.
        on_cancelled: called with the id of every run this follower cancelled,
            so a later attempt can pass it in ``dead_runs`` (a cancel takes
            effect at the run's next checkpoint, and meanwhile it looks alive).
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
        max_poll_interval_s: float = 10.0,
        progress_interval_s: float = 5.0,
        cancel_grace_s: float = 10.0,
        terminated: Callable[[], bool] | None = None,
        cancel_on_termination: bool = True,
        on_progress: Callable[[RunProgress], None] | None = None,
        on_cancelled: Callable[[str], None] | None = None,
        read_findall_look: Callable[[str, bytes], tuple[FindAllRun, Any]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if deadline_s is not None and not 0 < deadline_s < MAX_DEADLINE_S:
            raise ValueError(
                f"deadline_s must be a positive number of seconds below {MAX_DEADLINE_S:g} "
                f"(or None for no deadline), got {deadline_s}"
            )
        if credit_budget is not None and credit_budget < 0:
            raise ValueError(f"credit_budget must not be negative, got {credit_budget}")
        if cancel_grace_s <= 0:
            raise ValueError(f"cancel_grace_s must be positive (seconds), got {cancel_grace_s}")
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
        self.terminated = terminated
        self.cancel_on_termination = cancel_on_termination
        self.on_progress = on_progress
        self.on_cancelled = on_cancelled
        self.read_findall_look = read_findall_look
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
        dead_runs: Iterable[str] = (),
    ) -> FollowResult[FindAllRun]:
        """Create (or adopt) a FindAll run and follow it to its end.

        ``dead_runs``: runs known to have been cancelled by an earlier attempt
        (their cancel may not have taken effect yet): never adopted.
        """
        return self._run(
            FINDALL,
            lambda key: self.client.create_findall_run(request, idempotency_key=key),
            idempotency_key,
            adopt_run_id,
            on_started,
            dead_runs,
        )

    def run_search(
        self,
        request: SearchRequest,
        *,
        idempotency_key: str | None = None,
        adopt_run_id: str | None = None,
        on_started: Callable[[SearchRun, bool], None] | None = None,
        dead_runs: Iterable[str] = (),
    ) -> FollowResult[SearchRun]:
        """Create (or adopt) a deep-search run and follow it to its end (see
        :meth:`run_findall` for ``dead_runs``)."""
        return self._run(
            SEARCH,
            lambda key: self.client.create_search_run(request, idempotency_key=key),
            idempotency_key,
            adopt_run_id,
            on_started,
            dead_runs,
        )

    def follow(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        *,
        adopted: bool = False,
        until: float | None = None,
    ) -> FollowResult[RunT]:
        """Wait for ``run_id`` to end; cancel it on every exit that leaves it running.

        ``until``: when the wait must end, as a time of the follower's clock
        (monotonic seconds), when it began before this call (with a request
        of the caller's, say); default: ``deadline_s`` from now.
        """
        started = self._clock()
        deadline = self._deadline(started)
        if until is not None and deadline is not None:
            deadline = dataclasses.replace(deadline, at=until)
        with within(deadline):
            return self._follow(kind, run_id, adopted, started, deadline)

    def read_final(self, result: FollowResult[RunT], read: Callable[[], _ReadT]) -> _ReadT:
        """The run's full result, from a body that says it is complete.

        ``read`` fetches the body (within the deadline) and returns it as any
        object with a ``state``. A body still ``running`` (a server whose
        reads lag its events) is read again until the deadline; one that says
        ``cancelled`` or ``failed`` raises :class:`RunFailed`: a table is only
        ever written from a completed run, or from the partial result we kept
        (``result.partial``). At the deadline the run is cancelled if active.
        """
        kind: RunKind[Any, Any] = FINDALL if isinstance(result.run, FindAllRun) else SEARCH
        run_id = result.run.run_id
        accepted = {RunState.COMPLETED} | ({RunState.CANCELLED} if result.partial else set())
        # Set when a body says the run is still active: the events' "ended" was wrong.
        still_active: list[bool] = []
        try:
            body, state = self._read_completed(result, read, kind, accepted, still_active)
        except BaseException:
            if still_active:  # then reading failed: it may be running still
                self._cancel_if_active(kind, run_id, why="its final read failed")
            raise
        if body is not None and state in accepted:
            return body
        if self._terminated():
            return self._stop_terminated(kind, run_id, result.run)
        if still_active:
            self._cancel_if_active(kind, run_id, why="its final read never said it completed")
        when = result._read_by.why if result._read_by else f"{_MAX_FINAL_READS} reads"
        seen = (
            f"reading it still said {state.value} after {when}"
            if body is not None
            else f"its final read did not complete within {when}"
        )
        raise RunDeadlineExceeded(
            f"{kind.name} run {run_id}: its events said it ended, but {seen}; nothing was "
            "written (a retry adopts the run if it completed)",
            run_id=run_id,
            final_state=state.value,
            credits=result.run.credits,
        )

    def _read_completed(
        self,
        result: FollowResult[Any],
        read: Callable[[], _ReadT],
        kind: RunKind[Any, Any],
        accepted: set[RunState],
        still_active: list[bool],
    ) -> tuple[_ReadT | None, RunState]:
        """Read until a body in an ``accepted`` state, or the deadline: the last
        body and its state; ``still_active`` gets an entry when a body said the
        run was still going."""
        run_id = result.run.run_id
        pause = 0.25
        body: _ReadT | None = None
        state: RunState = RunState.UNKNOWN
        with within(result._read_by):
            for _ in range(_MAX_FINAL_READS):
                try:
                    body = read()
                except ScoutDeadlineError:
                    body = None
                state = body.state if body is not None else RunState.UNKNOWN
                if body is not None and not state.is_terminal:
                    still_active.append(True)
                if body is not None and state in accepted:
                    break
                if state.is_terminal:
                    self._raise_ended(kind, run_id, state, body, stage="in its final read")
                if result._read_by is not None and (
                    body is None or result._read_by.remaining() <= pause
                ):
                    break
                if self._terminated():
                    break
                log.warning(
                    "%s run %s ended, but reading it gave state %s; reading it again in %.2f s",
                    kind.name,
                    run_id,
                    state.value,
                    pause,
                )
                self._sleep(pause)
                pause = min(pause * 2, 5.0)
        return body, state

    # ------------------------------------------------------------ start

    def _deadline(self, started: float) -> Deadline | None:
        if self.deadline_s is None:
            return None
        return Deadline(
            at=started + self.deadline_s,
            why=f"the deadline of {self.deadline_s:g} s",
            clock=self._clock,
        )

    def _grace(self, why: str) -> Deadline:
        return Deadline.after(self.cancel_grace_s, why, self._clock)

    def _run(
        self,
        kind: RunKind[RunT, EventT],
        create: Callable[[str | None], RunT],
        idempotency_key: str | None,
        adopt_run_id: str | None,
        on_started: Callable[[RunT, bool], None] | None,
        dead_runs: Iterable[str] = (),
    ) -> FollowResult[RunT]:
        """Adopt ``adopt_run_id`` while it is active or completed, else create a
        run, and follow it.

        A create may be answered with an earlier attempt's run (the same
        idempotency key, replayed). When that run ended cancelled or failed, a
        new run is created under a key derived from the dead run's id, so
        every attempt that meets the same dead run derives the same key and
        they stay idempotent among themselves. Runs in ``dead_runs`` (ours,
        cancelled) are skipped without a look; a run found dead at its first
        look that nothing knew of may as well be a new one that failed at once,
        so at most ``MAX_REPLACED_RUNS`` of those are replaced.
        """
        started = self._clock()
        deadline = self._deadline(started)
        if self._terminated():
            raise RunTerminated(
                f"the Dagster run was terminated before a {kind.name} run was started; "
                "nothing was sent",
                run_id=adopt_run_id or "none",
                final_state="not started",
            )
        with within(deadline):
            # Runs we cancelled: adopted only if they completed all the same (the
            # cancel came too late), never while the cancel may be pending.
            ours_cancelled = frozenset(dead_runs)
            dead: set[str] = set()
            if adopt_run_id:
                try:
                    existing = self._adoptable(
                        kind, adopt_run_id, only_completed=adopt_run_id in ours_cancelled
                    )
                except Exception as exc:
                    # The earlier attempt left it running for us; if no attempt
                    # comes after this one, nobody else will stop it.
                    if self.cancel_on_error:
                        self._cancel_if_active(
                            kind, adopt_run_id, why=f"adopting it failed ({exc})"
                        )
                    raise
                if existing is not None:
                    self._announce(kind, existing[0], True, on_started)
                    return self._follow(
                        kind, adopt_run_id, True, started, deadline, first_look=existing
                    )
                dead.add(adopt_run_id)
            key = idempotency_key
            unknown_dead = 0
            for _ in range(len(ours_cancelled) + MAX_REPLACED_RUNS + 2):
                run = self._create(kind, create, key)
                if key is None:  # a fresh key: nothing can have been replayed
                    self._announce(kind, run, False, on_started)
                    return self._follow(kind, run.run_id, False, started, deadline)
                if run.run_id in ours_cancelled and run.run_id not in dead:
                    completed = self._adoptable(kind, run.run_id, only_completed=True)
                    if completed is not None:
                        self._announce(kind, completed[0], True, on_started)
                        return self._follow(
                            kind, run.run_id, True, started, deadline, first_look=completed
                        )
                elif run.run_id not in dead and run.state not in _DEAD:
                    self._announce(kind, run, False, on_started)
                    try:
                        return self._follow(
                            kind, run.run_id, False, started, deadline, replayed_check=True
                        )
                    except _Replayed as replayed:
                        unknown_dead += 1
                        if unknown_dead > MAX_REPLACED_RUNS:
                            # New runs that end at once, not replays: say why.
                            self._raise_ended(kind, run.run_id, replayed.run.state, replayed.run)
                log.warning(
                    "the create of a %s run was answered with run %s, which had ended "
                    "(an earlier attempt's, replayed for the same idempotency key); "
                    "starting a new one",
                    kind.name,
                    run.run_id,
                )
                dead.add(run.run_id)
                key = successor_key(key, run.run_id)
        raise RunFailed(
            f"{kind.name} run creation kept returning runs that had ended "
            f"({', '.join(sorted(dead))})",
            run_id=run.run_id,
            final_state="cancelled or failed",
        )

    def _create(
        self, kind: RunKind[RunT, EventT], create: Callable[[str | None], RunT], key: str | None
    ) -> RunT:
        """``create(key)``; when the deadline or an interrupt cut it short, the run
        it may have made is found and cancelled (:meth:`_clean_up_create`)."""
        try:
            run = create(key)
        except Exception as exc:
            if not isinstance(exc, ScoutDeadlineError):
                raise
            self._clean_up_create(kind, create, key, why="its create was abandoned at the deadline")
            raise
        except BaseException:  # interrupted while the create was in flight
            if self.cancel_on_termination:
                self._clean_up_create(kind, create, key, why="its create was interrupted")
            raise
        run_segment(run.run_id)  # an id no URL can carry fails here, before any use
        return run

    def _clean_up_create(
        self,
        kind: RunKind[RunT, EventT],
        create: Callable[[str | None], RunT],
        key: str | None,
        *,
        why: str,
    ) -> None:
        """A create cut short after it was sent may have made a run: the same
        key, sent again in the cancel's grace time, brings its id back (a
        replay pays nothing), and it is cancelled."""
        if key is not None:
            with within(self._grace("the time given to clean up a create"), override=True):
                try:
                    orphan = create(key)
                except ScoutError as exc:
                    log.error(
                        "a %s run was left behind: %s and it could not be looked up again "
                        "(%s): if it reached the server, the next attempt adopts it (same "
                        "idempotency key)",
                        kind.name,
                        why,
                        exc,
                    )
                else:
                    self._cancel_if_active(kind, orphan.run_id, why=why)

    def _announce(
        self,
        kind: RunKind[RunT, EventT],
        run: RunT,
        adopted: bool,
        on_started: Callable[[RunT, bool], None] | None,
    ) -> None:
        """Tell the caller the run exists. Between the create and the wait, an
        interrupt (or a failure of the caller's own bookkeeping) must not leave
        the run behind either."""
        if on_started is None:
            return
        try:
            on_started(run, adopted)
        except Exception as exc:
            if self.cancel_on_error:
                self._cancel_if_active(kind, run.run_id, why=f"recording it failed ({exc})")
            raise
        except BaseException:
            if self.cancel_on_termination:
                self._cancel_if_active(kind, run.run_id, why="the wait was interrupted as it began")
            raise

    def _adoptable(
        self, kind: RunKind[RunT, EventT], run_id: str, *, only_completed: bool = False
    ) -> tuple[RunT, Any] | None:
        """The earlier attempt's run (and its body's bytes, for a kind that reads
        them), unless it is gone or ended without a result (with
        ``only_completed``: unless it has not completed)."""
        try:
            existing, body = self._look_with_body(kind, run_id)
        except ScoutNotFoundError:
            log.warning(
                "%s run %s to adopt no longer exists; starting a new one", kind.name, run_id
            )
            return None
        if only_completed and existing.state is not RunState.COMPLETED:
            log.info(
                "%s run %s was cancelled by an earlier attempt (now %s); starting a new one",
                kind.name,
                run_id,
                existing.state.value,
            )
            return None
        if existing.state in _DEAD:
            log.info(
                "earlier %s run %s ended %s; starting a new one",
                kind.name,
                run_id,
                existing.state.value,
            )
            return None
        log.info(
            "adopting %s run %s (%s) started by an earlier attempt",
            kind.name,
            run_id,
            existing.state.value,
        )
        return existing, body

    # ------------------------------------------------------------ follow

    def _follow(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        adopted: bool,
        started: float,
        deadline: Deadline | None,
        *,
        replayed_check: bool = False,
        first_look: tuple[RunT, Any] | None = None,
    ) -> FollowResult[RunT]:
        """Follow ``run_id`` to its end. With ``replayed_check``, first read its
        state: a replayed create answers with the original response (queued)
        even when the run has ended since; ``_Replayed`` says so. A run that
        first look (or ``first_look``, the caller's) finds completed is not
        followed: its body, read by that look, is the result's."""
        tracker = _ProgressTracker(self, run_id, started)
        try:
            try:
                if replayed_check:
                    first_look = self._current(kind, run_id)
                    if first_look is not None and first_look[0].state in _DEAD:
                        raise _Replayed(first_look[0])
                if first_look is not None and first_look[0].state is RunState.COMPLETED:
                    tracker.observe_run(first_look[0])
                    result = self._finish(
                        kind, first_look[0], started, adopted, "poll", deadline, tracker
                    )
                    if first_look[1] is not None:
                        result._body.append(first_look[1])
                    return result
                run, followed_by = self._wait(kind, run_id, deadline, tracker)
            except _Stop as stop:
                if stop.reason == "terminated":
                    return self._stop_terminated(kind, run_id, None, tracker)
                return self._stop(kind, run_id, stop.reason, started, adopted, tracker)
            result = self._finish(kind, run, started, adopted, followed_by, deadline, tracker)
            if tracker.body is not None and run.state is RunState.COMPLETED:
                result._body.append(tracker.body)
            return result
        except (RunFailed, _Replayed):
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
        except BaseException:  # an interrupt or a termination
            if self.cancel_on_termination:
                self._cancel_if_active(
                    kind, run_id, why="the wait was interrupted (the Dagster run was terminated?)"
                )
            else:
                log.warning(
                    "the wait on %s run %s was interrupted; leaving it running for a "
                    "re-execution to adopt (cancel_on_termination is off)",
                    kind.name,
                    run_id,
                )
            raise

    def _current(self, kind: RunKind[RunT, EventT], run_id: str) -> tuple[RunT, Any] | None:
        """The run as it stands, with its body's bytes for a kind that reads
        them; None when a passing fault keeps it from being read (following
        finds out). A refusal no retry mends is raised."""
        try:
            return self._look_with_body(kind, run_id)
        except ScoutDeadlineError:
            raise _Stop("deadline") from None
        except ScoutError as exc:
            if not is_retryable(exc):
                raise
            log.warning("could not read %s run %s after creating it: %s", kind.name, run_id, exc)
            return None

    def _look_with_body(self, kind: RunKind[RunT, EventT], run_id: str) -> tuple[RunT, Any]:
        """The run, and its body as read (bytes, or the caller's reading of them)."""
        reader = self.read_findall_look
        if kind is not FINDALL or reader is None:
            return kind.look(self.client, run_id)
        raw = self.client.get_findall_run_bytes(run_id)
        try:
            return reader(run_id, raw)  # type: ignore[return-value]
        except Exception as exc:
            log.info("reading FindAll run %s's body as tables failed (%s); its head", run_id, exc)
        return kind.look(self.client, run_id)

    # ------------------------------------------------------------ wait

    def _wait(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: Deadline | None,
        tracker: _ProgressTracker,
    ) -> tuple[RunT, Literal["stream", "poll"]]:
        try:
            if self.use_stream:
                ended, last_run = self._wait_on_stream(kind, run_id, deadline, tracker)
                if ended:
                    # The terminal event names the final state; read the run only
                    # when the event did not carry it. The caller reads the full
                    # result once, in the form it needs (create, stream, one read).
                    run = last_run if last_run is not None else kind.get(self.client, run_id)
                    return run, "stream"
            return self._wait_by_polling(kind, run_id, deadline, tracker), "poll"
        except ScoutDeadlineError:
            raise _Stop("deadline") from None  # a request was abandoned at the deadline
        except ScoutError:
            # A request whose own read timeout (capped at what was left) fired
            # just before the deadline: that is the deadline too.
            if deadline is not None and deadline.remaining() < _NEAR_DEADLINE_S:
                raise _Stop("deadline") from None
            raise

    def _wait_on_stream(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: Deadline | None,
        tracker: _ProgressTracker,
    ) -> tuple[bool, RunT | None]:
        """(True, terminal run if the event carried it) when the stream showed the
        run's end; (False, None) to fall back to polling."""
        pump = _StreamPump(lambda: kind.events(self.client, run_id, None))
        pump.start()
        try:
            while True:
                # Wake at least once a second, and at the deadline.
                wait = 1.0 if deadline is None else min(deadline.remaining(), 1.0)
                try:
                    what, item = pump.items.get(timeout=wait)
                except queue.Empty:
                    if deadline is not None and deadline.expired():
                        raise _Stop("deadline") from None
                    self._check_terminated()
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
                    # A completed run's terminal event may carry its whole body.
                    tracker.body = getattr(item, "body", None)
                    return True, item.run  # type: ignore[return-value]
                if deadline is not None and deadline.expired():
                    raise _Stop("deadline")
                self._check_terminated()
        finally:
            pump.stop()

    def _wait_by_polling(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: Deadline | None,
        tracker: _ProgressTracker,
    ) -> RunT:
        interval = self.poll_interval_s
        while True:
            run = kind.get(self.client, run_id)
            tracker.observe_run(run)
            if run.state.is_terminal:
                return run
            self._check_budget(tracker)
            if deadline is not None and deadline.expired():
                raise _Stop("deadline")
            self._check_terminated()
            pause = interval if deadline is None else min(interval, deadline.remaining())
            self._sleep_watching(max(pause, 0.0))
            interval = min(interval * 1.5, self.max_poll_interval_s)

    def _sleep_watching(self, seconds: float) -> None:
        """Sleep, in slices short enough that a termination is seen while it lasts."""
        slice_s = _WATCH_SLICE_S if self.terminated is not None else seconds
        until = self._clock() + seconds
        while (left := until - self._clock()) > 0:
            self._sleep(min(left, slice_s))
            self._check_terminated()

    def _terminated(self) -> bool:
        return self.terminated is not None and self.terminated()

    def _check_terminated(self) -> None:
        if self._terminated():
            raise _Stop("terminated")

    def _check_budget(self, tracker: _ProgressTracker) -> None:
        if self.credit_budget is not None and tracker.credits > self.credit_budget:
            raise _Stop("budget")

    # ------------------------------------------------------------ endings

    def _raise_ended(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        state: RunState,
        run: Any,
        *,
        stage: str = "while following it",
    ) -> NoReturn:
        """A run that ended without a result: who ended it, and why."""
        credits = getattr(run, "credits", None)
        if state is RunState.FAILED:
            error = self.client.server_text(getattr(run, "error", None))
            raise RunFailed(
                f"{kind.name} run {run_id} failed on the server: {error or 'no reason given'} "
                f"(seen {stage}); nothing was written, and a retry starts a new run",
                run_id=run_id,
                final_state=state.value,
                server_error=error,
                credits=credits,
            )
        status = getattr(run, "status", None)
        reason = self.client.server_text(getattr(status, "termination_reason", None))
        raise RunFailed(
            f"{kind.name} run {run_id} was cancelled by the server or by someone else, not by "
            f"this process ({stage}; termination reason: {reason or 'not given'}); "
            "nothing was written, and a retry starts a new run",
            run_id=run_id,
            final_state=state.value,
            credits=credits,
        )

    def _finish(
        self,
        kind: RunKind[RunT, EventT],
        run: RunT,
        started: float,
        adopted: bool,
        followed_by: Literal["stream", "poll"],
        deadline: Deadline | None,
        tracker: _ProgressTracker,
    ) -> FollowResult[RunT]:
        if run.state in _DEAD:
            self._raise_ended(kind, run.run_id, run.state, run)
        return FollowResult(
            run=run,
            adopted=adopted,
            waited_s=self._clock() - started,
            followed_by=followed_by,
            _read_by=deadline,
            credits_seen=max(tracker.credits_seen, run.credits),
        )

    def _stop(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        reason: StopReason,
        started: float,
        adopted: bool,
        tracker: _ProgressTracker,
    ) -> FollowResult[RunT]:
        """Deadline or budget: cancel, read the final state, then fail or keep the
        partial. All of it within the cancel's grace time, past the deadline."""
        if reason == "deadline":
            what = f"did not finish within its deadline of {self.deadline_s:g} s"
        else:
            what = f"passed its credit budget of {self.credit_budget} (at {tracker.credits})"
        partial = self.keep_partial and kind.keeps_partial_on_cancel
        grace = self._grace(f"the {self.cancel_grace_s:g} s given to the cancel")
        with within(grace, override=True):
            current = self._look(kind, run_id)
            if current is not None and current.state.is_terminal:
                # It finished between our last look and now: use it, never cancel it.
                return self._finish(kind, current, started, adopted, "stream", grace, tracker)
            cancel_error = self._send_cancel(kind, run_id, why=what)
            # Only a partial result we keep needs the run to have stopped; else
            # one look gives the figures for the message.
            final = self._read_until_terminal(kind, run_id, grace) if partial else None
            # A server that could not answer the first look in time gets no
            # second: the failure comes sooner, with the figures last seen.
            final = final or (self._look(kind, run_id) if current is not None else None) or current
        waited = self._clock() - started
        if partial and final is not None and cancel_error is None:
            log.warning(
                "%s run %s %s; cancelled it and kept its partial result", kind.name, run_id, what
            )
            return FollowResult(
                run=final,
                adopted=adopted,
                waited_s=waited,
                partial=True,
                stop_reason=reason,
                _read_by=grace,
                credits_seen=max(tracker.credits_seen, final.credits),
            )
        error = RunDeadlineExceeded if reason == "deadline" else RunBudgetExceeded
        kept = "" if kind.keeps_partial_on_cancel else " (its partial result is discarded)"
        state = final.state.value if final is not None else "unknown (it could not be read)"
        credits = final.credits if final is not None else tracker.credits
        done = (
            f"this process cancelled it{kept}"
            if cancel_error is None
            else _cancel_failed(kind, run_id, cancel_error)
        )
        raise error(
            f"{kind.name} run {run_id} {what}; {done}. Final state: {state}, credits "
            f"charged: {credits}, waited {waited:.1f} s. Nothing was written; a retry starts "
            "a new run",
            run_id=run_id,
            final_state=state,
            credits=credits,
        )

    def _stop_terminated(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        last_seen: RunT | None,
        tracker: _ProgressTracker | None = None,
    ) -> NoReturn:
        """The Dagster run was terminated: cancel the remote run unless told not
        to (or it has finished: then it is paid for, and the re-execution adopts
        it), and fail with what became of it. Within the cancel's grace time."""
        why = "the Dagster run was terminated"
        grace = self._grace(f"the {self.cancel_grace_s:g} s given to the cancel")
        with within(grace, override=True):
            current = self._look(kind, run_id) or last_seen
            if current is not None and current.state.is_terminal:
                done = f"it had already ended {current.state.value}, so it was not cancelled"
                if current.state is RunState.COMPLETED:
                    done += "; a re-execution adopts its result"
            elif not self.cancel_on_termination:
                done = (
                    "it was left running (cancel_on_termination is off); a re-execution adopts it"
                )
                log.warning("%s run %s: %s; %s", kind.name, run_id, why, done)
            else:
                cancel_error = self._send_cancel(
                    kind, run_id, why="was waited on by a Dagster run that was terminated"
                )
                if cancel_error is None:
                    current = self._read_until_terminal(kind, run_id, grace) or current
                    done = "this process cancelled it"
                else:
                    done = _cancel_failed(kind, run_id, cancel_error)
        state = current.state.value if current is not None else "unknown (it could not be read)"
        credits = current.credits if current is not None else (tracker.credits if tracker else 0)
        raise RunTerminated(
            f"{kind.name} run {run_id}: {why} while waiting on it; {done}. Its state: "
            f"{state}, credits charged: {credits}. Nothing was written",
            run_id=run_id,
            final_state=state,
            credits=credits,
        )

    def _look(self, kind: RunKind[RunT, EventT], run_id: str) -> RunT | None:
        """One read of the run, bounded to a short time: a slow server must not
        spend the time the cancel needs. None when it cannot be read."""
        with within(Deadline.after(_LOOK_S, "the time for a look at the run", self._clock)):
            try:
                return kind.get(self.client, run_id)
            except ScoutError as exc:
                log.warning("could not read %s run %s: %s", kind.name, run_id, exc)
                return None

    def _send_cancel(
        self, kind: RunKind[RunT, EventT], run_id: str, *, why: str
    ) -> Exception | None:
        """Cancel the run; the error when that failed (never raised: the caller
        reports it with what led to the cancel)."""
        try:
            kind.cancel(self.client, run_id)
        except Exception as exc:
            log.error(
                "could not cancel %s run %s after it %s: %s",
                kind.name,
                run_id,
                why,
                _cancel_failed(kind, run_id, exc),
            )
            return exc
        log.warning("cancelled %s run %s because it %s", kind.name, run_id, why)
        if self.on_cancelled is not None:
            self.on_cancelled(run_id)
        return None

    def _read_until_terminal(
        self, kind: RunKind[RunT, EventT], run_id: str, grace: Deadline
    ) -> RunT | None:
        """Read the run until the cancel took effect (or the grace time is spent)."""
        pause = 0.05
        run: RunT | None = None
        while True:
            try:
                run = kind.get(self.client, run_id)
            except ScoutError as exc:
                log.warning("could not read %s run %s: %s", kind.name, run_id, exc)
            if (run is not None and run.state.is_terminal) or grace.remaining() <= pause:
                return run
            self._sleep(pause)
            pause = min(pause * 2, 2.0)

    def _cancel_if_active(self, kind: RunKind[RunT, EventT], run_id: str, *, why: str) -> None:
        """Best effort: cancel the run unless it is known to have ended.

        When its state cannot be read (in a short look), it is cancelled all
        the same: a cancel of a finished run changes nothing, a run left running
        keeps spending. Never masks the original error. Runs in the cancel's
        own grace time, whatever deadline has passed.
        """
        grace = self._grace(f"the {self.cancel_grace_s:g} s given to the cancel")
        with within(grace, override=True):
            current = self._look(kind, run_id)
            if current is not None and current.state.is_terminal:
                return
            self._send_cancel(kind, run_id, why=f"was left behind: {why}")


def _cancel_failed(kind: RunKind[Any, Any], run_id: str, error: Exception) -> str:
    """What to say when a cancel failed after its retries: the run may still be
    spending credits, so say which one and how a person cancels it."""
    return (
        f"cancelling it failed after retries ({error}): {kind.name} run {run_id} may still "
        f"be running and using credits; cancel it by hand with "
        f"POST {kind.cancel_path.format(run_id=run_id)}"
    )


def successor_key(idempotency_key: str, dead_run_id: str) -> str:
    """The idempotency key for the run that replaces ``dead_run_id``: derived,
    so every attempt that finds the same dead run asks for the same new one."""
    digest = hashlib.sha256(f"{idempotency_key}\x1f{dead_run_id}".encode()).hexdigest()[:40]
    prefix = idempotency_key.split("~", 1)[0]
    return f"{prefix}~{digest}"


def _is_permanent(exc: ScoutError) -> bool:
    """Errors on the events endpoint that polling would hit too."""
    return isinstance(exc, ScoutAPIError) and exc.status in (401, 402, 403, 404)


class _ProgressTracker:
    """Keeps the latest figures and reports them at a readable rate."""

    #: The body the terminal event carried (FindAll), if any.
    body: bytes | None = None

    def __init__(self, follower: RunFollower, run_id: str, started: float) -> None:
        self._follower = follower
        self.run_id = run_id
        self._started = started
        self.state = RunState.UNKNOWN
        self.items = 0
        self.items_target: int | None = None
        self.credits = 0
        self.credits_seen = 0
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
        if run.credits < self.credits_seen:
            log.warning(
                "run %s reported %d credits after %d: credits never go down; keeping the most seen",
                self.run_id,
                run.credits,
                self.credits_seen,
            )
        self.credits_seen = max(self.credits_seen, run.credits)
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
