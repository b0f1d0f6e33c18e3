"""The latest figures of a followed run, and the progress reports made of them."""

from __future__ import annotations

import logging

from ._events import FindAllEvent, SearchEvent
from ._follow_result import RunProgress
from ._follow_settings import FollowSettings
from ._models import FindAllRun, RunState, SearchRun

__all__ = ["ProgressTracker"]

log = logging.getLogger("scout_dagster.follower")


class ProgressTracker:
    """Keeps the latest figures and reports them at a readable rate."""

    #: The body the terminal event carried (FindAll), if any.
    body: bytes | None = None

    def __init__(self, settings: FollowSettings, run_id: str, started: float) -> None:
        self._settings = settings
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
        callback = self._settings.on_progress
        if callback is None:
            return
        now = self._settings._clock()
        due = (
            self._last_report is None
            or now - self._last_report >= self._settings.progress_interval_s
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
