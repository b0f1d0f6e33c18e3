"""A run's timeline: events stamped with virtual times, and the list that holds them.

Events are plain frozen records; ``Timeline`` keeps them in time order and
gives each streamed one its SSE id (1, 2, ...). Only the unseen future of a
timeline may ever be rewritten (``truncate_after``, ``drop_planned_finish``),
so an id, once a client may have seen it, always names the same event.
Times are virtual seconds of the emulator's clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from ._candidates import Verdict

__all__ = [
    "CandidateEnriched",
    "CandidateGenerated",
    "CandidateJudged",
    "Entry",
    "ErrorRaised",
    "Event",
    "Finished",
    "Heartbeat",
    "PageFetched",
    "PhaseStarted",
    "TerminalState",
    "Timeline",
    "UnknownNotice",
    "heartbeats",
    "in_time_order",
    "spread",
]

TerminalState = Literal["completed", "failed", "cancelled"]


@dataclass(frozen=True)
class PhaseStarted:
    time: float
    state: Literal["queued", "running"]


@dataclass(frozen=True)
class Heartbeat:
    time: float


@dataclass(frozen=True)
class CandidateGenerated:
    time: float
    seq: int  # position in the query's candidate sequence


@dataclass(frozen=True)
class CandidateJudged:
    time: float
    seq: int
    verdict: Verdict


@dataclass(frozen=True)
class CandidateEnriched:
    time: float
    seq: int
    enrichment: int  # index into the run's enrichments


@dataclass(frozen=True)
class PageFetched:
    time: float
    page: int  # 0-based, across all queries


@dataclass(frozen=True)
class ErrorRaised:
    time: float
    message: str


@dataclass(frozen=True)
class Finished:
    time: float
    state: TerminalState
    reason: str | None  # FindAll termination_reason
    error: str | None = None


@dataclass(frozen=True)
class UnknownNotice:
    """An event of a type no client knows (the ``unknown_events`` fault)."""

    time: float
    type_name: str


Event = (
    PhaseStarted
    | Heartbeat
    | CandidateGenerated
    | CandidateJudged
    | CandidateEnriched
    | PageFetched
    | ErrorRaised
    | Finished
    | UnknownNotice
)


@dataclass(frozen=True)
class Entry:
    """A timeline event and its SSE id (``None`` for internal bookkeeping events)."""

    event: Event
    event_id: int | None


class Timeline:
    """An append-only (except for the unseen future) list of a run's events, in time order."""

    def __init__(self) -> None:
        self._entries: list[Entry] = []

    def _next_id(self) -> int:
        for entry in reversed(self._entries):
            if entry.event_id is not None:
                return entry.event_id + 1
        return 1

    def add(self, events: Iterable[Event], *, streamed: bool = True) -> None:
        """Append events already sorted by time, none earlier than the last one kept."""
        next_id = self._next_id()
        for event in events:
            if self._entries and event.time < self._entries[-1].event.time:
                raise ValueError("timeline events must be appended in time order")
            self._entries.append(Entry(event, next_id if streamed else None))
            next_id += streamed

    @property
    def last_event_id(self) -> int:
        """The id of the last streamed event planned so far (0 when none)."""
        return self._next_id() - 1

    def until(self, at: float) -> Sequence[Entry]:
        """The events that have happened by virtual time ``at``."""
        count = len(self._entries)
        while count and self._entries[count - 1].event.time > at:
            count -= 1
        return self._entries[:count]

    def truncate_after(self, at: float) -> None:
        """Forget the planned future: every event later than ``at``."""
        self._entries[:] = self.until(at)

    def planned_finish(self, at: float) -> Finished | None:
        """The terminal event if it lies in the future of ``at``."""
        last = self._entries[-1].event if self._entries else None
        return last if isinstance(last, Finished) and last.time > at else None

    def drop_planned_finish(self, at: float) -> float:
        """Remove a future terminal event (and its error); returns when it was due."""
        finish = self.planned_finish(at)
        if finish is None:
            raise ValueError("the run has no planned finish to move")
        while self._entries and isinstance(self._entries[-1].event, Finished | ErrorRaised):
            self._entries.pop()
        return finish.time


def spread(start: float, duration: float, count: int) -> list[float]:
    """``count`` instants evenly inside ``(start, start + duration)``."""
    return [start + duration * (i + 1) / (count + 1) for i in range(count)]


def heartbeats(start: float, duration: float, every: float) -> list[Heartbeat]:
    """A heartbeat every ``every`` seconds strictly inside ``(start, start + duration)``."""
    if every <= 0:
        return []
    beats: list[Heartbeat] = []
    k = 1
    while start + k * every < start + duration:
        beats.append(Heartbeat(start + k * every))
        k += 1
    return beats


def in_time_order(events: list[Event]) -> list[Event]:
    """Sort by time, keeping planning order among equal times (a stable sort)."""
    return sorted(events, key=lambda event: event.time)
