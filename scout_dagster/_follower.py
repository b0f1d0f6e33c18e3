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

The follower holds the policy and follows; its parts do the rest: starting or
adopting the run (``_run_start``), waiting by stream or poll (``_run_wait``,
``_stream_pump``), cancelling (``_run_canceller``), how a follow ends
(``_run_endings``), the final read (``_final_read``) and progress reports
(``_progress_tracker``). The kinds of run are in ``_run_kinds``, the records
returned in ``_follow_result``, the settings as the parts read them in
``_follow_settings``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal

from ._client import ScoutClient
from ._deadline import MAX_DEADLINE_S, Deadline, within
from ._errors import RunFailed
from ._final_read import ReadT, final_read
from ._follow_result import FollowResult, RunProgress
from ._models import FindAllRun, RunState, SearchRun
from ._progress_tracker import ProgressTracker
from ._requests import FindAllRequest, SearchRequest
from ._run_canceller import RunCanceller
from ._run_endings import RunEndings
from ._run_kinds import DEAD, FINDALL, SEARCH, EventT, RunKind, RunT
from ._run_start import Replayed, RunStarter, current_run, successor_key
from ._run_wait import RunWait, Stop

__all__ = [
    "FINDALL",
    "SEARCH",
    "FollowResult",
    "RunFollower",
    "RunKind",
    "RunProgress",
    "successor_key",
]


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
        read_findall_look: downloads and reads a FindAll run's body as the
            caller needs it (its tables), giving the run it says and what was
            read: ``(client, run_id) -> (FindAllRun, read)``. When given, a
            look at a FindAll run reads its body once, with this: a run found
            completed hands ``read`` over in :meth:`FollowResult.take_body`.
            Any error of it, and the look reads the run's head instead.
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
        read_findall_look: Callable[[ScoutClient, str], tuple[FindAllRun, Any]] | None = None,
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
        # The parts read the settings above from the follower when they use
        # them: a setting changed holds from the next use on.
        self._canceller = RunCanceller(self)
        self._endings = RunEndings(self, self._canceller)
        self._starter = RunStarter(self, self._canceller, self._endings)

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

    def read_final(self, result: FollowResult[RunT], read: Callable[[], ReadT]) -> ReadT:
        """The run's full result, from a body that says it is complete.

        ``read`` fetches the body (within the deadline) and returns it as any
        object with a ``state``. A body still ``running`` (a server whose
        reads lag its events) is read again until the deadline; one that says
        ``cancelled`` or ``failed`` raises :class:`RunFailed`: a table is only
        ever written from a completed run, or from the partial result we kept
        (``result.partial``). At the deadline the run is cancelled if active.
        """
        return final_read(self, self._canceller, self._endings, result, read)

    # ------------------------------------------------------------ deadline

    def _deadline(self, started: float) -> Deadline | None:
        if self.deadline_s is None:
            return None
        return Deadline(
            at=started + self.deadline_s,
            why=f"the deadline of {self.deadline_s:g} s",
            clock=self._clock,
        )

    # ------------------------------------------------------------ start

    def _run(
        self,
        kind: RunKind[RunT, EventT],
        create: Callable[[str | None], RunT],
        idempotency_key: str | None,
        adopt_run_id: str | None,
        on_started: Callable[[RunT, bool], None] | None,
        dead_runs: Iterable[str] = (),
    ) -> FollowResult[RunT]:
        """Adopt or create a run and follow it, from now to the deadline
        (:meth:`RunStarter.start <scout_dagster._run_start.RunStarter.start>`)."""
        started = self._clock()
        deadline = self._deadline(started)
        follow = functools.partial(self._follow, kind, started=started, deadline=deadline)
        return self._starter.start(
            kind, create, deadline, follow, idempotency_key, adopt_run_id, on_started, dead_runs
        )

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
        even when the run has ended since; ``Replayed`` says so. A run that
        first look (or ``first_look``, the caller's) finds completed is not
        followed: its body, read by that look, is the result's."""
        tracker = ProgressTracker(self, run_id, started)
        try:
            try:
                if replayed_check:
                    first_look = current_run(self, kind, run_id)
                    if first_look is not None and first_look[0].state in DEAD:
                        raise Replayed(first_look[0])
                if first_look is not None and first_look[0].state is RunState.COMPLETED:
                    tracker.observe_run(first_look[0])
                    result = self._endings.finish(
                        kind, first_look[0], started, adopted, "poll", deadline, tracker
                    )
                    if first_look[1] is not None:
                        result._body.append(first_look[1])
                    return result
                run, followed_by = self._wait(RunWait(self, kind, run_id, deadline, tracker))
            except Stop as stop:
                if stop.reason == "terminated":
                    return self._endings.stop_terminated(kind, run_id, None, tracker)
                return self._endings.stop(kind, run_id, stop.reason, started, adopted, tracker)
            result = self._endings.finish(
                kind, run, started, adopted, followed_by, deadline, tracker
            )
            if tracker.body is not None and run.state is RunState.COMPLETED:
                result._body.append(tracker.body)
            return result
        except (RunFailed, Replayed):
            raise  # the run has ended, or we ended it: nothing is left running
        except BaseException as exc:  # an error, an interrupt or a termination
            self._canceller.follow_failed(kind, run_id, exc)
            raise

    def _wait(self, wait: RunWait[RunT, EventT]) -> tuple[RunT, Literal["stream", "poll"]]:
        """The wait for the run's end (:meth:`RunWait.wait
        <scout_dagster._run_wait.RunWait.wait>`), a step of its own so that it
        can be timed (``benchmarks/e2e.py`` probes it)."""
        return wait.wait()
