"""Starting the run to follow: adopt an earlier attempt's, or create one, and
replace a run the create answered with that had ended (a replayed create)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ._deadline import Deadline, within
from ._errors import RunFailed, RunTerminated, ScoutDeadlineError, ScoutError, ScoutNotFoundError
from ._follow_result import FollowResult
from ._follow_settings import FollowSettings, was_terminated
from ._models import FindAllRun, RunState, SearchRun
from ._request_path import run_segment
from ._retry import is_retryable
from ._run_canceller import RunCanceller
from ._run_endings import RunEndings
from ._run_kinds import DEAD, EventT, RunKind, RunT, look_with_body
from ._run_wait import Stop

__all__ = [
    "MAX_REPLACED_RUNS",
    "Follow",
    "Replayed",
    "RunStarter",
    "current_run",
    "successor_key",
]

log = logging.getLogger("scout_dagster.follower")

#: New runs one attempt may start in place of replayed dead ones. A create is
#: answered with a dead run when an earlier attempt's run (same idempotency
#: key) was cancelled or failed; a few in a row means something else is wrong.
MAX_REPLACED_RUNS = 2


class Replayed(Exception):
    """The create was answered with an earlier attempt's run, which has ended."""

    def __init__(self, run: FindAllRun | SearchRun) -> None:
        self.run = run


class Follow(Protocol[RunT]):
    """Follows a started run to its end: the follower's ``_follow``, given the
    run's kind, the time it started and its deadline."""

    def __call__(
        self,
        run_id: str,
        adopted: bool,
        *,
        replayed_check: bool = False,
        first_look: tuple[RunT, Any] | None = None,
    ) -> FollowResult[RunT]: ...


class RunStarter:
    """Adopts or creates the run a follower follows, never leaving one behind.

    ``settings`` are the follower's (``client``, ``read_findall_look``,
    ``cancel_on_error``, ``cancel_on_termination``, ``terminated``);
    ``canceller`` cancels a run left behind, and ``endings`` says why a run
    ended without a result.
    """

    def __init__(
        self, settings: FollowSettings, canceller: RunCanceller, endings: RunEndings
    ) -> None:
        self._settings = settings
        self.canceller = canceller
        self.endings = endings

    def start(
        self,
        kind: RunKind[RunT, EventT],
        create: Callable[[str | None], RunT],
        deadline: Deadline | None,
        follow: Follow[RunT],
        idempotency_key: str | None,
        adopt_run_id: str | None,
        on_started: Callable[[RunT, bool], None] | None,
        dead_runs: Iterable[str],
    ) -> FollowResult[RunT]:
        """Adopt ``adopt_run_id`` while it is active or completed, else create a
        run, and follow it (with ``follow``, to ``deadline``).

        A create may be answered with an earlier attempt's run (the same
        idempotency key, replayed). When that run ended cancelled or failed, a
        new run is created under a key derived from the dead run's id, so
        every attempt that meets the same dead run derives the same key and
        they stay idempotent among themselves. Runs in ``dead_runs`` (ours,
        cancelled) are skipped without a look; a run found dead at its first
        look that nothing knew of may as well be a new one that failed at once,
        so at most ``MAX_REPLACED_RUNS`` of those are replaced.
        """
        if was_terminated(self._settings):
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
                    if self._settings.cancel_on_error:
                        self.canceller.cancel_if_active(
                            kind, adopt_run_id, why=f"adopting it failed ({exc})"
                        )
                    raise
                if existing is not None:
                    self._announce(kind, existing[0], True, on_started)
                    return follow(adopt_run_id, True, first_look=existing)
                dead.add(adopt_run_id)
            key = idempotency_key
            unknown_dead = 0
            for _ in range(len(ours_cancelled) + MAX_REPLACED_RUNS + 2):
                run = self._create(kind, create, key)
                if key is None:  # a fresh key: nothing can have been replayed
                    self._announce(kind, run, False, on_started)
                    return follow(run.run_id, False)
                if run.run_id in ours_cancelled and run.run_id not in dead:
                    completed = self._adoptable(kind, run.run_id, only_completed=True)
                    if completed is not None:
                        self._announce(kind, completed[0], True, on_started)
                        return follow(run.run_id, True, first_look=completed)
                elif run.run_id not in dead and run.state not in DEAD:
                    self._announce(kind, run, False, on_started)
                    try:
                        return follow(run.run_id, False, replayed_check=True)
                    except Replayed as replayed:
                        unknown_dead += 1
                        if unknown_dead > MAX_REPLACED_RUNS:
                            # New runs that end at once, not replays: say why.
                            self.endings.raise_ended(
                                kind, run.run_id, replayed.run.state, replayed.run
                            )
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
        it may have made is found and cancelled (:meth:`RunCanceller.clean_up_create`)."""
        try:
            run = create(key)
        except Exception as exc:
            if not isinstance(exc, ScoutDeadlineError):
                raise
            self.canceller.clean_up_create(
                kind, create, key, why="its create was abandoned at the deadline"
            )
            raise
        except BaseException:  # interrupted while the create was in flight
            if self._settings.cancel_on_termination:
                self.canceller.clean_up_create(kind, create, key, why="its create was interrupted")
            raise
        run_segment(run.run_id)  # an id no URL can carry fails here, before any use
        return run

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
            if self._settings.cancel_on_error:
                self.canceller.cancel_if_active(
                    kind, run.run_id, why=f"recording it failed ({exc})"
                )
            raise
        except BaseException:
            if self._settings.cancel_on_termination:
                self.canceller.cancel_if_active(
                    kind, run.run_id, why="the wait was interrupted as it began"
                )
            raise

    def _adoptable(
        self, kind: RunKind[RunT, EventT], run_id: str, *, only_completed: bool = False
    ) -> tuple[RunT, Any] | None:
        """The earlier attempt's run (and its body's bytes, for a kind that reads
        them), unless it is gone or ended without a result (with
        ``only_completed``: unless it has not completed)."""
        try:
            existing, body = look_with_body(self._settings, kind, run_id)
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
        if existing.state in DEAD:
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


def current_run(
    settings: FollowSettings, kind: RunKind[RunT, EventT], run_id: str
) -> tuple[RunT, Any] | None:
    """The run as it stands, with its body's bytes for a kind that reads
    them; None when a passing fault keeps it from being read (following
    finds out). A refusal no retry mends is raised."""
    try:
        return look_with_body(settings, kind, run_id)
    except ScoutDeadlineError:
        raise Stop("deadline") from None
    except ScoutError as exc:
        if not is_retryable(exc):
            raise
        log.warning("could not read %s run %s after creating it: %s", kind.name, run_id, exc)
        return None


def successor_key(idempotency_key: str, dead_run_id: str) -> str:
    """The idempotency key for the run that replaces ``dead_run_id``: derived,
    so every attempt that finds the same dead run asks for the same new one."""
    digest = hashlib.sha256(f"{idempotency_key}\x1f{dead_run_id}".encode()).hexdigest()[:40]
    prefix = idempotency_key.split("~", 1)[0]
    return f"{prefix}~{digest}"
