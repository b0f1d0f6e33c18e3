"""Whether the Dagster run a step belongs to has been terminated, asked of the instance.

Dagster tells a step of a terminated run by an interrupt only where it forked
the step itself (the in-process and multiprocess executors). A step in a
Celery worker gets nothing (``revoke()`` does not stop a started task), nor
does one in a pod or container of a step-delegating executor with run
resumption on (dagster issue #33923). Every step can read the instance,
though: the run is ``CANCELING`` from the moment someone asks to terminate
it. So the wait asks, at a bounded rate, and stops when the answer is yes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["DEFAULT_WATCH_INTERVAL_S", "TerminationWatch"]

log = logging.getLogger("scout_dagster.termination")

#: Least seconds between two looks at the run's status: a shared instance
#: database answers every waiting step, so each asks at most this often.
DEFAULT_WATCH_INTERVAL_S = 2.0


class TerminationWatch:
    """A cheap ``() -> bool``: has the run been terminated? Asks ``is_terminated``
    at most every ``interval_s`` (the answer in between is the last one), and
    once it said yes it stays yes. A failed look (the database unreachable for
    a moment) is logged and counts as no: the wait goes on, and so do the
    interrupt path and the deadline."""

    def __init__(
        self,
        is_terminated: Callable[[], bool],
        *,
        interval_s: float = DEFAULT_WATCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive (seconds), got {interval_s}")
        self._is_terminated = is_terminated
        self.interval_s = interval_s
        self._clock = clock
        self._last_look: float | None = None
        self._terminated = False

    def __call__(self) -> bool:
        if self._terminated:
            return True
        now = self._clock()
        if self._last_look is not None and now - self._last_look < self.interval_s:
            return False
        self._last_look = now
        try:
            self._terminated = bool(self._is_terminated())
        except Exception as exc:
            log.warning("could not read whether the run was terminated: %s", exc)
        return self._terminated
