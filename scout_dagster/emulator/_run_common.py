"""What FindAll and search run records share.

Run states, phase timings, the ledger's summary of a run, and folding a
timeline into a run's progress. Every time here is in virtual seconds of the emulator's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

from ._timeline import Entry, Event

__all__ = ["ACTIVE_STATES", "RunState", "Summary", "Timings", "fold"]

RunState = Literal["queued", "running", "completed", "failed", "cancelled"]
ACTIVE_STATES: frozenset[str] = frozenset({"queued", "running"})


@dataclass(frozen=True)
class Timings:
    """Phase durations, in virtual seconds."""

    queued_s: float
    findall_running_s: float
    search_running_s: float
    heartbeat_s: float
    enrich_s: float


@dataclass(frozen=True)
class Summary:
    """The few facts about a run at one moment that the ledger reports."""

    state: RunState
    credits: int


class _Folds(Protocol):
    """A run's progress, which takes in its timeline's events one at a time."""

    def apply(self, event: Event) -> None: ...


_Progress = TypeVar("_Progress", bound=_Folds)


def fold(progress: _Progress, entries: Iterable[Entry]) -> _Progress:
    """``progress`` with every entry's event applied, in order."""
    for entry in entries:
        progress.apply(entry.event)
    return progress
