"""Typed records of the Scout API contract (``docs/api-contract.md``): runs,
their status, candidates, citations, results. No I/O; a run's events are in
:mod:`._events`.

Every record keeps fields it does not know (``extra="allow"``), so a newer
server never breaks an older client, and dumps back to the wire form with
``to_payload()``. Raw JSON keys stay in this module: everything above it
reads attributes.

The FindAll run ``status`` comes in three shapes (a plain string, the rich
status object, or ``null``); :class:`RunStatus` reads all three into one
normalized form and keeps the original for the round trip.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    model_serializer,
    model_validator,
)

__all__ = [
    "Candidate",
    "CandidateBasis",
    "Citation",
    "FieldOutput",
    "FindAllRun",
    "RunState",
    "RunStatus",
    "SearchFinding",
    "SearchResult",
    "SearchRun",
    "SearchSource",
    "SearchUsage",
    "StatusMetrics",
]


class _Record(BaseModel):
    """Base of every wire record: unknown fields kept, aliases accepted both ways."""

    # defer_build: each record's validator is built when it first parses,
    # in a run, not when a code location imports its definitions.
    model_config = ConfigDict(
        extra="allow", validate_by_name=True, validate_by_alias=True, frozen=True, defer_build=True
    )

    @classmethod
    def from_payload(cls, payload: Any) -> Self:
        """Parse a decoded JSON payload; raises ``pydantic.ValidationError``."""
        return cls.model_validate(payload)

    def to_payload(self) -> dict[str, Any]:
        """The wire form: original key names, only the keys that were present."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class RunState(enum.StrEnum):
    """Lifecycle state of a FindAll or search run.

    ``UNKNOWN`` stands for a ``null`` status (the vendor's own FindAll cancel
    example answers with one while the cancel is pending) or a state this
    client does not know yet; neither is terminal, so a follower reads the
    run again.
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATES

    @classmethod
    def parse(cls, value: object) -> RunState:
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                return cls.UNKNOWN
        return cls.UNKNOWN


_TERMINAL_STATES = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})


class StatusMetrics(_Record):
    generated_candidates_count: int | None = None
    matched_candidates_count: int | None = None


class RunStatus(BaseModel):
    """A run's status in one normalized form, whatever shape the server sent.

    ``raw`` is exactly what was received (a string, a dict, or ``None``) and is
    what serialization writes back.
    """

    model_config = ConfigDict(frozen=True, defer_build=True)  # built on first use

    state: RunState
    is_active: bool | None = None
    termination_reason: str | None = None
    metrics: StatusMetrics | None = None
    raw: str | dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, value: Any) -> Any:
        if isinstance(value, RunStatus):
            return value
        if value is None or isinstance(value, str):
            return {"state": RunState.parse(value), "raw": value}
        if isinstance(value, dict) and "state" in value and "raw" in value:
            return value  # already normalized (model_validate of a dumped RunStatus)
        if isinstance(value, dict):
            return {
                "state": RunState.parse(value.get("status")),
                "is_active": value.get("is_active"),
                "termination_reason": value.get("termination_reason"),
                "metrics": value.get("metrics"),
                "raw": value,
            }
        raise ValueError(f"status must be a string, an object or null, not {type(value).__name__}")

    @model_serializer
    def _to_wire(self) -> str | dict[str, Any] | None:
        return self.raw

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal


# ---------------------------------------------------------------- FindAll


class Citation(_Record):
    url: str
    title: str | None = None
    excerpts: list[str] = Field(default_factory=list)


class CandidateBasis(_Record):
    field: str
    citations: list[Citation] = Field(default_factory=list)
    reasoning: str | None = None
    confidence: str | None = None


class FieldOutput(_Record):
    value: Any = None
    type: str | None = None
    is_matched: bool | None = None


class Candidate(_Record):
    candidate_id: str
    name: str | None = None
    url: str | None = None
    description: str | None = None
    match_status: str | None = None
    output: dict[str, FieldOutput] | None = None
    basis: list[CandidateBasis] | None = None


class FindAllRun(_Record):
    """A FindAll run as ``GET /v1/findall/runs/{findall_id}`` returns it."""

    findall_id: str
    status: RunStatus = Field(default_factory=lambda: RunStatus.model_validate(None))
    query: str | None = None
    entities: list[dict[str, Any]] = Field(default_factory=list)
    count: int = 0
    credits: int = 0
    fields: list[str] | None = None
    output_schema: dict[str, Any] | None = None
    candidates: list[Candidate] | None = None
    metadata: dict[str, Any] | None = None
    findall_schema: dict[str, Any] | None = None
    error: str | None = None
    created_at: datetime | None = Field(default=None, alias="createdAt")
    completed_at: datetime | None = Field(default=None, alias="completedAt")

    @property
    def run_id(self) -> str:
        return self.findall_id

    @property
    def state(self) -> RunState:
        return self.status.state


class _FindAllRunHead(BaseModel):
    """A FindAll run object's declared fields but ``entities`` and ``candidates``.

    Read straight from JSON text: the two big arrays (and any field not
    declared here) are parsed but never become Python objects, and are not
    kept. Measured on a run object of a
    million entities (200 MB, ``benchmarks/watch.py``): 0.34 s and a 411 MB
    peak while parsing, the result holding no entity, against 1.5 s and
    920 MB, nearly all of it held by the result, for the full read.
    """

    model_config = ConfigDict(extra="ignore", defer_build=True)  # built on first use

    findall_id: Any = None
    status: Any = None
    query: Any = None
    count: Any = None
    credits: Any = None
    fields: Any = None
    output_schema: Any = None
    metadata: Any = None
    findall_schema: Any = None
    error: Any = None
    created_at: Any = Field(None, validation_alias=AliasChoices("createdAt", "created_at"))
    completed_at: Any = Field(None, validation_alias=AliasChoices("completedAt", "completed_at"))


class _FindAllEventHead(_FindAllRunHead):
    """A FindAll event's envelope, nested or flat, with its run read as a head."""

    type: Any = None
    event_id: Any = None
    timestamp: Any = None
    data: _FindAllRunHead | None = None


def findall_run_head(text: str | bytes) -> dict[str, Any]:
    """A FindAll run object's payload without its entities and candidates.

    Raises ``ValueError`` (``pydantic.ValidationError``) when ``text`` is not
    a JSON object.
    """
    return _FindAllRunHead.model_validate_json(text).model_dump(exclude_unset=True)


def findall_event_head(text: str | bytes) -> dict[str, Any]:
    """A FindAll event's payload, any run in it without entities and candidates.

    Raises ``ValueError`` (``pydantic.ValidationError``) when ``text`` is not
    a JSON object whose ``data``, if any, is an object.
    """
    return _FindAllEventHead.model_validate_json(text).model_dump(exclude_unset=True)


# ---------------------------------------------------------------- search


class SearchResult(_Record):
    url: str
    title: str | None = None
    snippet: str | None = None


class SearchSource(_Record):
    url: str
    index: int | None = None
    title: str | None = None
    domain: str | None = None
    fetched: datetime | None = None
    quality: str | None = None
    first_seen_subquery: str | None = None


class SearchFinding(_Record):
    subquery: str | None = None
    answer: str | None = None
    citations: list[str] = Field(default_factory=list)
    confidence: float | None = None
    evidence: str | None = None


class SearchUsage(_Record):
    planner_calls: int | None = None
    grader_calls: int | None = None
    synth_calls: int | None = None
    search_queries: int | None = None
    pages_fetched: int | None = None
    tokens: int | None = None


class SearchRun(_Record):
    """A search run as ``GET /v1/searches/{search_id}`` returns it."""

    search_id: str
    status: RunStatus = Field(default_factory=lambda: RunStatus.model_validate(None))
    queries: list[str] = Field(default_factory=list)
    limit: int | None = None
    depth: str = "deep"
    country: str = "us"
    language: str = "en"
    created_at: datetime | None = Field(default=None, alias="createdAt")
    completed_at: datetime | None = Field(default=None, alias="completedAt")
    credits: int = 0
    results: list[SearchResult] = Field(default_factory=list)
    pages_fetched: int = Field(default=0, alias="pagesFetched")
    pages_target: int = Field(default=1, alias="pagesTarget")
    error: str | None = None
    report: str | None = None
    findings: list[SearchFinding] | None = None
    sources: list[SearchSource] | None = None
    usage: SearchUsage | None = None
    prompt: str | None = None
    reranked: bool = False

    @property
    def run_id(self) -> str:
        return self.search_id

    @property
    def state(self) -> RunState:
        return self.status.state
