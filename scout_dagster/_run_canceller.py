"""Cancelling a remote run: when to, and how (in a grace time of its own, past
any deadline, and never a run that has finished)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ._deadline import Deadline, within
from ._errors import ScoutError
from ._follow_settings import FollowSettings
from ._run_kinds import EventT, RunKind, RunT

__all__ = ["RunCanceller", "cancel_failed"]

log = logging.getLogger("scout_dagster.follower")

#: Seconds a look at a run's state may take before a cancel: a server slow to
#: answer reads must not keep the cancel from being sent.
_LOOK_S = 2.0


class RunCanceller:
    """Cancels runs for a follower (as its ``settings`` say: ``cancel_grace_s``,
    ``cancel_on_error``, ``cancel_on_termination``, ``on_cancelled``), and
    looks at them around the cancel."""

    def __init__(self, settings: FollowSettings) -> None:
        self._settings = settings

    def grace(self, why: str) -> Deadline:
        return Deadline.after(self._settings.cancel_grace_s, why, self._settings._clock)

    def cancel_grace(self) -> Deadline:
        """The grace time of a cancel (and the reads that wait for it)."""
        return self.grace(f"the {self._settings.cancel_grace_s:g} s given to the cancel")

    def clean_up_create(
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
            with within(self.grace("the time given to clean up a create"), override=True):
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
                    self.cancel_if_active(kind, orphan.run_id, why=why)

    def look(self, kind: RunKind[RunT, EventT], run_id: str) -> RunT | None:
        """One read of the run, bounded to a short time: a slow server must not
        spend the time the cancel needs. None when it cannot be read."""
        look_by = Deadline.after(_LOOK_S, "the time for a look at the run", self._settings._clock)
        with within(look_by):
            try:
                return kind.get(self._settings.client, run_id)
            except ScoutError as exc:
                log.warning("could not read %s run %s: %s", kind.name, run_id, exc)
                return None

    def send_cancel(
        self, kind: RunKind[RunT, EventT], run_id: str, *, why: str
    ) -> Exception | None:
        """Cancel the run; the error when that failed (never raised: the caller
        reports it with what led to the cancel)."""
        try:
            kind.cancel(self._settings.client, run_id)
        except Exception as exc:
            log.error(
                "could not cancel %s run %s after it %s: %s",
                kind.name,
                run_id,
                why,
                cancel_failed(kind, run_id, exc),
            )
            return exc
        log.warning("cancelled %s run %s because it %s", kind.name, run_id, why)
        on_cancelled = self._settings.on_cancelled
        if on_cancelled is not None:
            on_cancelled(run_id)
        return None

    def read_until_terminal(
        self, kind: RunKind[RunT, EventT], run_id: str, grace: Deadline
    ) -> RunT | None:
        """Read the run until the cancel took effect (or the grace time is spent)."""
        pause = 0.05
        run: RunT | None = None
        while True:
            try:
                run = kind.get(self._settings.client, run_id)
            except ScoutError as exc:
                log.warning("could not read %s run %s: %s", kind.name, run_id, exc)
            if (run is not None and run.state.is_terminal) or grace.remaining() <= pause:
                return run
            self._settings._sleep(pause)
            pause = min(pause * 2, 2.0)

    def cancel_if_active(self, kind: RunKind[RunT, EventT], run_id: str, *, why: str) -> None:
        """Best effort: cancel the run unless it is known to have ended.

        When its state cannot be read (in a short look), it is cancelled all
        the same: a cancel of a finished run changes nothing, a run left running
        keeps spending. Never masks the original error. Runs in the cancel's
        own grace time, whatever deadline has passed.
        """
        with within(self.cancel_grace(), override=True):
            current = self.look(kind, run_id)
            if current is not None and current.state.is_terminal:
                return
            self.send_cancel(kind, run_id, why=f"was left behind: {why}")

    def follow_failed(self, kind: RunKind[RunT, EventT], run_id: str, exc: BaseException) -> None:
        """Following the run failed with ``exc``: cancel it, or say it is left
        running for another attempt to adopt (``cancel_on_error`` says which for
        an error, ``cancel_on_termination`` for an interrupt or a termination)."""
        if isinstance(exc, Exception):
            if self._settings.cancel_on_error:
                self.cancel_if_active(kind, run_id, why=f"following it failed ({exc})")
            else:
                log.warning(
                    "following %s run %s failed (%s); leaving it running for the next "
                    "attempt to adopt",
                    kind.name,
                    run_id,
                    exc,
                )
        elif self._settings.cancel_on_termination:
            self.cancel_if_active(
                kind, run_id, why="the wait was interrupted (the Dagster run was terminated?)"
            )
        else:
            log.warning(
                "the wait on %s run %s was interrupted; leaving it running for a "
                "re-execution to adopt (cancel_on_termination is off)",
                kind.name,
                run_id,
            )


def cancel_failed(kind: RunKind[Any, Any], run_id: str, error: Exception) -> str:
    """What to say when a cancel failed after its retries: the run may still be
    spending credits, so say which one and how a person cancels it."""
    return (
        f"cancelling it failed after retries ({error}): {kind.name} run {run_id} may still "
        f"be running and using credits; cancel it by hand with "
        f"POST {kind.cancel_path.format(run_id=run_id)}"
    )
