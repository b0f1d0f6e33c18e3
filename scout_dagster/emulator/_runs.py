"""Run records and their lifecycles.

A run is event-sourced: creating it plans a *timeline* of events stamped with
virtual times (queued, running, candidates or pages arriving, heartbeats, the
terminal event). Nothing runs in the background; the state of a run at time
``t`` is the fold of its events with time <= ``t``. GETs, event streams and
the ledger all read the same timeline, so they can never disagree.

Operations that change a run's future (cancel, extend, enrich) keep every event
at or before the moment they arrive (a client may already have seen those) and
re-plan only what comes after, so event ids already sent never change and a
stream can always resume from ``Last-Event-ID``.

Every time in a run record is in virtual seconds of the emulator's clock. The
records live in ``_findall_runs`` and ``_search_runs``, what they share in
``_run_common``; this module names either kind ``Run`` and keeps the names
importable that code outside the emulator reads from here.
"""

from __future__ import annotations

from ._findall_runs import (
    ENRICHMENT_CREDITS,
    FINDALL_CREDITS_PER_MATCH,
    FINDALL_FIXED_CREDITS,
    FindAllRun,
)
from ._search_runs import SearchRun

__all__ = [
    "ENRICHMENT_CREDITS",
    "FINDALL_CREDITS_PER_MATCH",
    "FINDALL_FIXED_CREDITS",
    "FindAllRun",
    "Run",
    "SearchRun",
]

Run = FindAllRun | SearchRun
