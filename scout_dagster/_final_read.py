"""The final read of a followed run: its full result, from a body that says it is
complete (a server's reads may lag its events)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from ._deadline import within
from ._errors import RunDeadlineExceeded, ScoutDeadlineError
from ._follow_result import FollowResult
from ._follow_settings import FollowSettings, was_terminated
from ._models import FindAllRun, RunState
from ._run_canceller import RunCanceller
from ._run_endings import RunEndings
from ._run_kinds import FINDALL, SEARCH, RunKind, RunT

__all__ = ["ReadT", "final_read"]

log = logging.getLogger("scout_dagster.follower")

#: Reads of a run whose events said it ended, when no deadline bounds them.
_MAX_FINAL_READS = 20


class _HasState(Protocol):
    @property
    def state(self) -> RunState: ...


ReadT = TypeVar("ReadT", bound=_HasState)


def final_read(
    settings: FollowSettings,
    canceller: RunCanceller,
    endings: RunEndings,
    result: FollowResult[RunT],
    read: Callable[[], ReadT],
) -> ReadT:
    """:meth:`RunFollower.read_final <scout_dagster._follower.RunFollower.read_final>`
    for a follower's ``settings``: a caller terminated, or a body that never
    completes, has the run cancelled (by ``endings`` and ``canceller``) if it
    is active."""
    kind: RunKind[Any, Any] = FINDALL if isinstance(result.run, FindAllRun) else SEARCH
    run_id = result.run.run_id
    accepted = {RunState.COMPLETED} | ({RunState.CANCELLED} if result.partial else set())
    # Set when a body says the run is still active: the events' "ended" was wrong.
    still_active: list[bool] = []
    try:
        body, state = _read_completed(settings, endings, result, read, kind, accepted, still_active)
    except BaseException:
        if still_active:  # then reading failed: it may be running still
            canceller.cancel_if_active(kind, run_id, why="its final read failed")
        raise
    if body is not None and state in accepted:
        return body
    if was_terminated(settings):
        return endings.stop_terminated(kind, run_id, result.run)
    if still_active:
        canceller.cancel_if_active(kind, run_id, why="its final read never said it completed")
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
    settings: FollowSettings,
    endings: RunEndings,
    result: FollowResult[Any],
    read: Callable[[], ReadT],
    kind: RunKind[Any, Any],
    accepted: set[RunState],
    still_active: list[bool],
) -> tuple[ReadT | None, RunState]:
    """Read until a body in an ``accepted`` state, or the deadline: the last
    body and its state; ``still_active`` gets an entry when a body said the
    run was still going."""
    run_id = result.run.run_id
    pause = 0.25
    body: ReadT | None = None
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
                endings.raise_ended(kind, run_id, state, body, stage="in its final read")
            if result._read_by is not None and (
                body is None or result._read_by.remaining() <= pause
            ):
                break
            if was_terminated(settings):
                break
            log.warning(
                "%s run %s ended, but reading it gave state %s; reading it again in %.2f s",
                kind.name,
                run_id,
                state.value,
                pause,
            )
            settings._sleep(pause)
            pause = min(pause * 2, 5.0)
    return body, state
