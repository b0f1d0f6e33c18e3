"""How following a run ends: it finished, it ended without a result, or we
stopped it (deadline, budget, the caller's termination) and say what became of it."""

from __future__ import annotations

import logging
from typing import Any, Literal, NoReturn

from ._deadline import Deadline, within
from ._errors import RunBudgetExceeded, RunDeadlineExceeded, RunFailed, RunTerminated
from ._follow_result import FollowResult, StopReason
from ._follow_settings import FollowSettings
from ._models import RunState
from ._progress_tracker import ProgressTracker
from ._run_canceller import RunCanceller, cancel_failed
from ._run_kinds import DEAD, EventT, RunKind, RunT

__all__ = ["RunEndings"]

log = logging.getLogger("scout_dagster.follower")


class RunEndings:
    """The result, or the error, a followed run ends with, as a follower's
    ``settings`` say (``deadline_s``, ``credit_budget``, ``keep_partial``,
    ``cancel_on_termination``); ``canceller`` cancels the runs stopped."""

    def __init__(self, settings: FollowSettings, canceller: RunCanceller) -> None:
        self._settings = settings
        self.canceller = canceller

    def raise_ended(
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
            error = self._settings.client.server_text(getattr(run, "error", None))
            raise RunFailed(
                f"{kind.name} run {run_id} failed on the server: {error or 'no reason given'} "
                f"(seen {stage}); nothing was written, and a retry starts a new run",
                run_id=run_id,
                final_state=state.value,
                server_error=error,
                credits=credits,
            )
        status = getattr(run, "status", None)
        reason = self._settings.client.server_text(getattr(status, "termination_reason", None))
        raise RunFailed(
            f"{kind.name} run {run_id} was cancelled by the server or by someone else, not by "
            f"this process ({stage}; termination reason: {reason or 'not given'}); "
            "nothing was written, and a retry starts a new run",
            run_id=run_id,
            final_state=state.value,
            credits=credits,
        )

    def finish(
        self,
        kind: RunKind[RunT, EventT],
        run: RunT,
        started: float,
        adopted: bool,
        followed_by: Literal["stream", "poll"],
        deadline: Deadline | None,
        tracker: ProgressTracker,
    ) -> FollowResult[RunT]:
        if run.state in DEAD:
            self.raise_ended(kind, run.run_id, run.state, run)
        return FollowResult(
            run=run,
            adopted=adopted,
            waited_s=self._settings._clock() - started,
            followed_by=followed_by,
            _read_by=deadline,
            credits_seen=max(tracker.credits_seen, run.credits),
        )

    def stop(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        reason: StopReason,
        started: float,
        adopted: bool,
        tracker: ProgressTracker,
    ) -> FollowResult[RunT]:
        """Deadline or budget: cancel, read the final state, then fail or keep the
        partial. All of it within the cancel's grace time, past the deadline."""
        settings = self._settings
        if reason == "deadline":
            what = f"did not finish within its deadline of {settings.deadline_s:g} s"
        else:
            what = f"passed its credit budget of {settings.credit_budget} (at {tracker.credits})"
        partial = settings.keep_partial and kind.keeps_partial_on_cancel
        canceller = self.canceller
        grace = canceller.cancel_grace()
        with within(grace, override=True):
            current = canceller.look(kind, run_id)
            if current is not None and current.state.is_terminal:
                # It finished between our last look and now: use it, never cancel it.
                return self.finish(kind, current, started, adopted, "stream", grace, tracker)
            cancel_error = canceller.send_cancel(kind, run_id, why=what)
            # Only a partial result we keep needs the run to have stopped; else
            # one look gives the figures for the message.
            final = canceller.read_until_terminal(kind, run_id, grace) if partial else None
            # A server that could not answer the first look in time gets no
            # second: the failure comes sooner, with the figures last seen.
            final = final or (canceller.look(kind, run_id) if current is not None else None)
            final = final or current
        waited = settings._clock() - started
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
            else cancel_failed(kind, run_id, cancel_error)
        )
        raise error(
            f"{kind.name} run {run_id} {what}; {done}. Final state: {state}, credits "
            f"charged: {credits}, waited {waited:.1f} s. Nothing was written; a retry starts "
            "a new run",
            run_id=run_id,
            final_state=state,
            credits=credits,
        )

    def stop_terminated(
        self,
        kind: RunKind[RunT, EventT],
        run_id: str,
        last_seen: RunT | None,
        tracker: ProgressTracker | None = None,
    ) -> NoReturn:
        """The Dagster run was terminated: cancel the remote run unless told not
        to (or it has finished: then it is paid for, and the re-execution adopts
        it), and fail with what became of it. Within the cancel's grace time."""
        why = "the Dagster run was terminated"
        canceller = self.canceller
        grace = canceller.cancel_grace()
        with within(grace, override=True):
            current = canceller.look(kind, run_id) or last_seen
            if current is not None and current.state.is_terminal:
                done = f"it had already ended {current.state.value}, so it was not cancelled"
                if current.state is RunState.COMPLETED:
                    done += "; a re-execution adopts its result"
            elif not self._settings.cancel_on_termination:
                done = (
                    "it was left running (cancel_on_termination is off); a re-execution adopts it"
                )
                log.warning("%s run %s: %s; %s", kind.name, run_id, why, done)
            else:
                cancel_error = canceller.send_cancel(
                    kind, run_id, why="was waited on by a Dagster run that was terminated"
                )
                if cancel_error is None:
                    current = canceller.read_until_terminal(kind, run_id, grace) or current
                    done = "this process cancelled it"
                else:
                    done = cancel_failed(kind, run_id, cancel_error)
        state = current.state.value if current is not None else "unknown (it could not be read)"
        credits = current.credits if current is not None else (tracker.credits if tracker else 0)
        raise RunTerminated(
            f"{kind.name} run {run_id}: {why} while waiting on it; {done}. Its state: "
            f"{state}, credits charged: {credits}. Nothing was written",
            run_id=run_id,
            final_state=state,
            credits=credits,
        )
