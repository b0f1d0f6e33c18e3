"""Waiting for a run's end: by its event stream, else by polling with backoff,
watching the deadline, the credit budget and the caller's termination."""

from __future__ import annotations

import logging
import queue
from typing import Generic, Literal

from ._deadline import Deadline
from ._errors import ScoutAPIError, ScoutDeadlineError, ScoutError
from ._events import FindAllEvent, SearchEvent
from ._follow_result import StopReason
from ._follow_settings import FollowSettings, was_terminated
from ._progress_tracker import ProgressTracker
from ._run_kinds import EventT, RunKind, RunT
from ._stream_pump import StreamPump

__all__ = ["RunWait", "Stop"]

log = logging.getLogger("scout_dagster.follower")

#: An error this close to the deadline is the deadline: no retry had time left.
_NEAR_DEADLINE_S = 1.0
#: Longest sleep of a poll between two looks at ``terminated``, in seconds.
_WATCH_SLICE_S = 1.0


class Stop(Exception):
    """The wait must stop before the run ended: for the deadline, the budget or
    the caller's termination."""

    def __init__(self, reason: StopReason) -> None:
        self.reason = reason


class RunWait(Generic[RunT, EventT]):
    """The wait for one run's end (``kind``, ``run_id``), until ``deadline``, as
    a follower's ``settings`` say (``use_stream``, the polling intervals,
    ``credit_budget``, ``terminated``); ``tracker`` gets what it sees.
    :meth:`wait` raises :class:`Stop` when it must not wait longer."""

    def __init__(
        self,
        settings: FollowSettings,
        kind: RunKind[RunT, EventT],
        run_id: str,
        deadline: Deadline | None,
        tracker: ProgressTracker,
    ) -> None:
        self._settings = settings
        self.kind: RunKind[RunT, EventT] = kind
        self.run_id = run_id
        self.deadline = deadline
        self.tracker = tracker

    def wait(self) -> tuple[RunT, Literal["stream", "poll"]]:
        kind, run_id, deadline = self.kind, self.run_id, self.deadline
        try:
            if self._settings.use_stream:
                ended, last_run = self._wait_on_stream()
                if ended:
                    # The terminal event names the final state; read the run only
                    # when the event did not carry it. The caller reads the full
                    # result once, in the form it needs (create, stream, one read).
                    run = (
                        last_run
                        if last_run is not None
                        else kind.get(self._settings.client, run_id)
                    )
                    return run, "stream"
            return self._wait_by_polling(), "poll"
        except ScoutDeadlineError:
            raise Stop("deadline") from None  # a request was abandoned at the deadline
        except ScoutError:
            # A request whose own read timeout (capped at what was left) fired
            # just before the deadline: that is the deadline too.
            if deadline is not None and deadline.remaining() < _NEAR_DEADLINE_S:
                raise Stop("deadline") from None
            raise

    def _wait_on_stream(self) -> tuple[bool, RunT | None]:
        """(True, terminal run if the event carried it) when the stream showed the
        run's end; (False, None) to fall back to polling."""
        kind, run_id, deadline, tracker = self.kind, self.run_id, self.deadline, self.tracker
        pump = StreamPump(lambda stop: kind.events(self._settings.client, run_id, None, stop))
        pump.start()
        try:
            while True:
                # Wake at least once a second, and at the deadline.
                wait = 1.0 if deadline is None else min(deadline.remaining(), 1.0)
                try:
                    what, item = pump.items.get(timeout=wait)
                except queue.Empty:
                    if deadline is not None and deadline.expired():
                        raise Stop("deadline") from None
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
                self._check_budget()
                if item.is_terminal:
                    # A completed run's terminal event may carry its whole body.
                    tracker.body = getattr(item, "body", None)
                    return True, item.run  # type: ignore[return-value]
                if deadline is not None and deadline.expired():
                    raise Stop("deadline")
                self._check_terminated()
        finally:
            pump.stop()

    def _wait_by_polling(self) -> RunT:
        """Read the run until it ends: every ``poll_interval_s`` at first,
        backing off by half up to ``max_poll_interval_s``, and at every
        multiple of ``max_poll_interval_s`` since the first read as well. So
        every read a fixed poll at that interval would make from the same
        start is made too, and the end is never seen later than it would see
        it (the back-off alone, 1, 2.5, 4.75, 8.1, 13.2 s..., saw the end of a
        25 s run at 30.8 s where a fixed 10 s poll saw it at 30 s)."""
        kind, run_id, deadline, tracker = self.kind, self.run_id, self.deadline, self.tracker
        clock, longest = self._settings._clock, self._settings.max_poll_interval_s
        interval = self._settings.poll_interval_s
        first_read = clock()
        while True:
            run = kind.get(self._settings.client, run_id)
            tracker.observe_run(run)
            if run.state.is_terminal:
                return run
            self._check_budget()
            if deadline is not None and deadline.expired():
                raise Stop("deadline")
            self._check_terminated()
            pause = min(interval, _until_next_multiple(clock() - first_read, longest))
            if deadline is not None:
                pause = min(pause, deadline.remaining())
            self._sleep_watching(max(pause, 0.0))
            interval = min(interval * 1.5, longest)

    def _sleep_watching(self, seconds: float) -> None:
        """Sleep, in slices short enough that a termination is seen while it lasts."""
        slice_s = _WATCH_SLICE_S if self._settings.terminated is not None else seconds
        clock = self._settings._clock
        until = clock() + seconds
        while (left := until - clock()) > 0:
            self._settings._sleep(min(left, slice_s))
            self._check_terminated()

    def _check_terminated(self) -> None:
        if was_terminated(self._settings):
            raise Stop("terminated")

    def _check_budget(self) -> None:
        budget = self._settings.credit_budget
        if budget is not None and self.tracker.credits > budget:
            raise Stop("budget")


def _is_permanent(exc: ScoutError) -> bool:
    """Errors on the events endpoint that polling would hit too."""
    return isinstance(exc, ScoutAPIError) and exc.status in (401, 402, 403, 404)


def _until_next_multiple(elapsed: float, step: float) -> float:
    """Seconds from ``elapsed`` to the next multiple of ``step`` after it; to
    the one after that when the next is within a millisecond (the read just
    made stands for it)."""
    left = step - elapsed % step
    return left if left >= 1e-3 else left + step
