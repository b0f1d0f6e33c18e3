"""Typed records of a run's event stream (``docs/api-contract.md``). No I/O.

Payloads come nested (``{"type", "event_id", "timestamp", "data": {...}}``)
or flat (``{"type": "run.progress", "pagesFetched": 3}``); both are accepted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._models import Candidate, FindAllRun, SearchRun

__all__ = [
    "FINDALL_EVENT_TYPES",
    "SEARCH_EVENT_TYPES",
    "FindAllEvent",
    "SearchEvent",
]

FindAllEventType = Literal[
    "findall.status",
    "findall.candidate.generated",
    "findall.candidate.matched",
    "findall.candidate.unmatched",
    "findall.candidate.discarded",
    "findall.candidate.enriched",
    "error",
]
SearchEventType = Literal["run.progress", "run.completed", "run.failed", "run.cancelled"]

FINDALL_EVENT_TYPES: frozenset[str] = frozenset(FindAllEventType.__args__)  # type: ignore[attr-defined]
SEARCH_EVENT_TYPES: frozenset[str] = frozenset(SearchEventType.__args__)  # type: ignore[attr-defined]


def _event_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The object an event is about: ``data`` when nested, else the payload itself."""
    inner = payload.get("data")
    return inner if isinstance(inner, dict) else payload


def _event_error_message(payload: dict[str, Any]) -> str | None:
    error = payload.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    inner = payload.get("data")
    if isinstance(inner, dict) and isinstance(inner.get("error"), str):
        return str(inner["error"])
    return None


class FindAllEvent(BaseModel):
    """One event of a FindAll run's stream."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # built on first use

    type: FindAllEventType
    event_id: str | None = None
    timestamp: datetime | None = None
    run: FindAllRun | None = None
    candidate: Candidate | None = None
    error: str | None = None
    raw: dict[str, Any]
    #: The terminal status event's run object as bytes, when the stream kept
    #: them (``stream_findall_events(entities=False)``): the run's whole body.
    body: bytes | None = Field(default=None, repr=False)

    @classmethod
    def from_payload(cls, payload: dict[str, Any], sse_id: str | None = None) -> FindAllEvent:
        kind = payload["type"]
        body = _event_body(payload)
        run = FindAllRun.from_payload(body) if kind == "findall.status" else None
        candidate = Candidate.from_payload(body) if kind.startswith("findall.candidate.") else None
        return cls(
            type=kind,
            event_id=payload.get("event_id") or sse_id,
            timestamp=payload.get("timestamp"),
            run=run,
            candidate=candidate,
            error=_event_error_message(payload) if kind == "error" else None,
            raw=payload,
        )

    @property
    def is_terminal(self) -> bool:
        return self.run is not None and self.run.status.is_terminal


class SearchEvent(BaseModel):
    """One event of a search run's stream."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # built on first use

    type: SearchEventType
    event_id: str | None = None
    timestamp: datetime | None = None
    run: SearchRun | None = None
    pages_fetched: int | None = None
    pages_target: int | None = None
    raw: dict[str, Any]

    @classmethod
    def from_payload(cls, payload: dict[str, Any], sse_id: str | None = None) -> SearchEvent:
        body = _event_body(payload)
        run = SearchRun.from_payload(body) if "search_id" in body else None
        pages_fetched = body.get("pagesFetched", run.pages_fetched if run else None)
        pages_target = body.get("pagesTarget", run.pages_target if run else None)
        return cls(
            type=payload["type"],
            event_id=payload.get("event_id") or sse_id,
            timestamp=payload.get("timestamp"),
            run=run,
            pages_fetched=pages_fetched,
            pages_target=pages_target,
            raw=payload,
        )

    @property
    def is_terminal(self) -> bool:
        return self.type != "run.progress"
