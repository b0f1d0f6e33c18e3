"""Search run records: request, progress, credits and cancel.

A search fetches SERP pages (``_serp``), one per ten results wanted per
query, over its running phase; a shallow or standard search does so at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ._run_common import ACTIVE_STATES, RunState, Summary, Timings, fold
from ._serp import pages_per_query
from ._timeline import (
    Entry,
    Event,
    Finished,
    PageFetched,
    PhaseStarted,
    Timeline,
    UnknownNotice,
    in_time_order,
    spread,
)

__all__ = ["SearchProgress", "SearchRun", "SearchSpec"]

Json = Any

SEARCH_FAILURE_MESSAGE = "Search provider error while fetching results pages"


@dataclass(frozen=True)
class SearchSpec:
    """What a search create asked for."""

    queries: tuple[str, ...]
    objective: str | None
    depth: Literal["shallow", "standard", "deep"]
    limit: int
    country: str
    language: str
    include_domains: tuple[str, ...]
    exclude_domains: tuple[str, ...]

    @property
    def pages_target(self) -> int:
        """Total SERP pages: one per ten results wanted, per query."""
        return len(self.queries) * pages_per_query(self.limit)

    def page_query(self, page: int) -> tuple[int, int]:
        """(query index, page number within that query) of global page ``page``.

        Pages go round-robin over the queries, as parallel workers would fetch them.
        """
        return page % len(self.queries), page // len(self.queries)


@dataclass
class SearchProgress:
    """A search run folded at one moment."""

    state: RunState = "queued"
    error: str | None = None
    finished_at: float | None = None
    page_times: list[float] = field(default_factory=list)  # index = page

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def apply(self, event: Event) -> None:
        match event:
            case PhaseStarted(state=state):
                self.state = state
            case PageFetched(time=time):
                self.page_times.append(time)
            case Finished(time=time, state=state, error=error):
                self.state, self.finished_at, self.error = state, time, error
            case _:
                pass


class SearchRun:
    """A search run (synchronous or deep): its request, timeline and calls made on it."""

    kind: Literal["search"] = "search"

    def __init__(
        self,
        *,
        run_id: str,
        owner: str,
        spec: SearchSpec,
        created_at: float,
        timings: Timings,
        synchronous: bool,
        fails: bool,
        unknown_events: bool,
        idempotency_key: str | None,
        request_body: dict[str, Json],
    ) -> None:
        self.run_id = run_id
        self.owner = owner
        self.spec = spec
        self.created_at = created_at
        self.fails = fails
        self.idempotency_key = idempotency_key
        self.request_body = request_body
        self.cancel_calls = 0
        self.cancelled_while_active = False
        self.timeline = Timeline()

        queued_s = 0.0 if synchronous else timings.queued_s
        running_s = 0.0 if synchronous else timings.search_running_s
        start = created_at + queued_s
        # Search streams carry only progress and terminal events, so the phase
        # changes are internal bookkeeping without an SSE id.
        self.timeline.add([PhaseStarted(created_at, "queued")], streamed=False)
        self.timeline.add([PhaseStarted(start, "running")], streamed=False)
        pages = spec.pages_target
        events: list[Event] = [
            PageFetched(time, page) for page, time in enumerate(spread(start, running_s, pages))
        ]
        if unknown_events:
            events.insert(0, UnknownNotice(start, "run.plan"))
        if fails:
            failed_at = start + running_s / 2
            events = [e for e in events if e.time < failed_at]
            finish = Finished(failed_at, "failed", None, SEARCH_FAILURE_MESSAGE)
        else:
            finish = Finished(start + running_s, "completed", None)
        self.timeline.add([*in_time_order(events), finish])

    def progress(self, at: float) -> SearchProgress:
        """The run folded at virtual time ``at``."""
        return self.progress_of(self.timeline.until(at))

    @staticmethod
    def progress_of(entries: Iterable[Entry]) -> SearchProgress:
        return fold(SearchProgress(), entries)

    def summary(self, at: float) -> Summary:
        progress = self.progress(at)
        return Summary(progress.state, self.credits(progress))

    def queries_with_pages(self, progress: SearchProgress) -> int:
        """How many queries have had at least one page fetched."""
        return len({self.spec.page_query(p)[0] for p in range(len(progress.page_times))})

    def credits(self, progress: SearchProgress) -> int:
        """One per query on completion; a cancelled run pays for each query it touched."""
        if progress.state == "completed":
            return len(self.spec.queries)
        if progress.state == "cancelled":
            return self.queries_with_pages(progress)
        return 0

    def cancel(self, at: float) -> bool:
        """Stop the run at ``at`` (its next page checkpoint); returns whether it was active."""
        self.cancel_calls += 1
        if not self.progress(at).is_active:
            return False
        self.cancelled_while_active = True
        self.timeline.truncate_after(at)
        self.timeline.add([Finished(at, "cancelled", None)])
        return True
