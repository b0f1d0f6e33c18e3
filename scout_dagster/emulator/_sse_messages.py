"""The server-sent events of a run's timeline, as messages ready to frame.

A status or terminal event carries the run object (``_findall_payloads``,
``_search_payloads``) exactly as it stood at that event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._clock import Timestamps
from ._findall_payloads import candidate_json, findall_json
from ._findall_runs import FindAllRun
from ._search_payloads import search_json
from ._search_runs import SearchRun
from ._serp import subqueries
from ._timeline import (
    CandidateEnriched,
    CandidateGenerated,
    CandidateJudged,
    Entry,
    ErrorRaised,
    Finished,
    Heartbeat,
    PageFetched,
    PhaseStarted,
    UnknownNotice,
)

__all__ = ["SseMessage", "sse_messages"]

Json = Any


@dataclass(frozen=True)
class SseMessage:
    """One server-sent event, ready to frame."""

    event_id: int
    event_type: str
    data: dict[str, Json]


def _nested(event_type: str, event_id: int, timestamp: str, data: Json) -> dict[str, Json]:
    """The nested event form: ``{"type", "event_id", "timestamp", "data"}``."""
    return {"type": event_type, "event_id": str(event_id), "timestamp": timestamp, "data": data}


def _findall_message(
    run: FindAllRun, entries: list[Entry], position: int, event_id: int, ts: Timestamps
) -> SseMessage | None:
    event = entries[position].event
    time, timestamp = event.time, ts.offset(event.time)
    match event:
        case PhaseStarted() | Heartbeat() | Finished():
            # A status event carries the run exactly as it stood at that event.
            progress = FindAllRun.progress_of(entries[: position + 1])
            run_json = findall_json(run, progress, time, ts)
            return SseMessage(
                event_id, "findall.status", _nested("findall.status", event_id, timestamp, run_json)
            )
        case CandidateGenerated(seq=seq):
            candidate = candidate_json(run, seq, "generated", [])
            kind = "findall.candidate.generated"
        case CandidateJudged(seq=seq, verdict=verdict):
            progress = FindAllRun.progress_of(entries[: position + 1])
            candidate = candidate_json(run, seq, verdict, progress.enriched.get(seq, []))
            kind = f"findall.candidate.{verdict}"
        case CandidateEnriched(seq=seq):
            progress = FindAllRun.progress_of(entries[: position + 1])
            candidate = candidate_json(run, seq, "matched", progress.enriched.get(seq, []))
            kind = "findall.candidate.enriched"
        case ErrorRaised(message=message):
            data = {
                "type": "error",
                "event_id": str(event_id),
                "timestamp": timestamp,
                "error": {"message": message},
            }
            return SseMessage(event_id, "error", data)
        case UnknownNotice(type_name=type_name):
            note = {"objective": run.spec.query, "note": "planner revised its search plan"}
            return SseMessage(event_id, type_name, _nested(type_name, event_id, timestamp, note))
        case _:
            return None
    return SseMessage(event_id, kind, _nested(kind, event_id, timestamp, candidate))


def _search_message(
    run: SearchRun, entries: list[Entry], position: int, event_id: int, ts: Timestamps
) -> SseMessage | None:
    event = entries[position].event
    match event:
        case PageFetched(page=page):
            data = {
                "type": "run.progress",
                "pagesFetched": page + 1,
                "pagesTarget": run.spec.pages_target,
            }
            return SseMessage(event_id, "run.progress", data)
        case Finished(state=state):
            progress = SearchRun.progress_of(entries[: position + 1])
            kind = f"run.{state}"
            run_json = search_json(run, progress, ts)
            return SseMessage(
                event_id, kind, _nested(kind, event_id, ts.zulu(event.time), run_json)
            )
        case UnknownNotice(type_name=type_name):
            data = {
                "type": type_name,
                "subqueries": [s for q in run.spec.queries for s in subqueries(q)],
            }
            return SseMessage(event_id, type_name, data)
        case _:
            return None


def sse_messages(
    run: FindAllRun | SearchRun, after_id: int, at: float, ts: Timestamps
) -> list[SseMessage]:
    """Messages with an id above ``after_id`` among the events that happened by ``at``."""
    entries = list(run.timeline.until(at))
    messages: list[SseMessage] = []
    for position, entry in enumerate(entries):
        if entry.event_id is None or entry.event_id <= after_id:
            continue
        if isinstance(run, FindAllRun):
            message = _findall_message(run, entries, position, entry.event_id, ts)
        else:
            message = _search_message(run, entries, position, entry.event_id, ts)
        if message is not None:
            messages.append(message)
    return messages
