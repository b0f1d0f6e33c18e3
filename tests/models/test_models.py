"""The contract's records: seed bodies parse, round-trip, and keep unknown fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scout_dagster import (
    Candidate,
    FindAllEvent,
    FindAllRun,
    RunState,
    RunStatus,
    SearchEvent,
    SearchRun,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return payload


def test_findall_seed_parses_with_null_status() -> None:
    payload = _load("findall_cancel_seed.json")
    run = FindAllRun.from_payload(payload)
    assert run.findall_id == "fa-37e97d4654d14fa6ad2fb342"
    assert run.status.raw is None
    assert run.state is RunState.UNKNOWN
    assert not run.status.is_terminal
    assert run.count == 2 and run.credits == 7
    assert run.entities[0]["source"] == "https://en.wikipedia.org/wiki/CoreWeave"
    assert run.fields == ["name", "website", "headquarters"]
    assert run.created_at is not None and run.created_at.year == 2025


def test_search_seed_parses() -> None:
    payload = _load("search_cancel_seed.json")
    run = SearchRun.from_payload(payload)
    assert run.state is RunState.CANCELLED and run.status.is_terminal
    assert run.pages_fetched == 5 and run.pages_target == 10
    assert run.results[0].url == "https://example.com/ev-market-growth-2024"
    assert run.findings is not None and run.findings[0].confidence == pytest.approx(0.92)
    assert run.sources is not None and run.sources[0].index == 1
    assert run.usage is not None and run.usage.tokens == 1500
    assert run.reranked is True


@pytest.mark.parametrize(
    ("model", "fixture"),
    [(FindAllRun, "findall_cancel_seed.json"), (SearchRun, "search_cancel_seed.json")],
    ids=["findall", "search"],
)
def test_seed_round_trips(model: type[FindAllRun] | type[SearchRun], fixture: str) -> None:
    payload = _load(fixture)
    first = model.from_payload(payload)
    dumped = first.to_payload()
    assert set(dumped) == set(payload), "no key added or dropped"
    assert model.from_payload(json.loads(json.dumps(dumped))) == first
    for key, value in payload.items():
        if key not in ("createdAt", "completedAt"):  # timestamps may change notation only
            assert dumped[key] == value, key


def test_unknown_fields_are_kept() -> None:
    payload = _load("findall_cancel_seed.json") | {"shiny_new_field": {"a": 1}}
    run = FindAllRun.from_payload(payload)
    assert run.model_extra == {"shiny_new_field": {"a": 1}}
    assert run.to_payload()["shiny_new_field"] == {"a": 1}


@pytest.mark.parametrize(
    ("wire", "state", "terminal"),
    [
        ("queued", RunState.QUEUED, False),
        ("running", RunState.RUNNING, False),
        ("COMPLETED", RunState.COMPLETED, True),
        (None, RunState.UNKNOWN, False),
        ("paused-for-review", RunState.UNKNOWN, False),
        (
            {
                "status": "completed",
                "is_active": False,
                "metrics": {"generated_candidates_count": 9, "matched_candidates_count": 4},
                "termination_reason": "match_limit_met",
            },
            RunState.COMPLETED,
            True,
        ),
        ({"status": "cancelled", "termination_reason": "user_cancelled"}, RunState.CANCELLED, True),
    ],
)
def test_status_shapes_normalize(wire: Any, state: RunState, terminal: bool) -> None:
    status = RunStatus.model_validate(wire)
    assert status.state is state
    assert status.is_terminal is terminal
    assert status.raw == wire
    assert status.model_dump() == wire


def test_rich_status_exposes_metrics() -> None:
    run = FindAllRun.from_payload(
        {
            "findall_id": "fa-1",
            "status": {
                "status": "completed",
                "is_active": False,
                "metrics": {"generated_candidates_count": 9, "matched_candidates_count": 4},
                "termination_reason": "candidates_exhausted",
            },
        }
    )
    assert run.status.metrics is not None
    assert run.status.metrics.matched_candidates_count == 4
    assert run.status.termination_reason == "candidates_exhausted"


def test_candidate_with_basis_and_excerpts() -> None:
    candidate = Candidate.from_payload(
        {
            "candidate_id": "c_1",
            "name": "CoreWeave",
            "url": "https://coreweave.com",
            "match_status": "matched",
            "output": {"headquarters": {"value": "Livingston, NJ", "type": "enrichment"}},
            "basis": [
                {
                    "field": "headquarters",
                    "citations": [
                        {"url": "https://x.test/a", "title": None, "excerpts": ["a", "b"]}
                    ],
                    "confidence": "high",
                }
            ],
        }
    )
    assert candidate.output is not None
    assert candidate.output["headquarters"].value == "Livingston, NJ"
    assert candidate.basis is not None
    assert candidate.basis[0].citations[0].excerpts == ["a", "b"]


def test_findall_events_nested_and_candidate() -> None:
    status = FindAllEvent.from_payload(
        {
            "type": "findall.status",
            "event_id": "7",
            "timestamp": "2026-01-01T00:00:00Z",
            "data": {"findall_id": "fa-1", "status": "running", "count": 3},
        }
    )
    assert status.run is not None and status.run.count == 3 and not status.is_terminal
    matched = FindAllEvent.from_payload(
        {"type": "findall.candidate.matched", "data": {"candidate_id": "c_9", "name": "X"}}, "8"
    )
    assert matched.candidate is not None and matched.candidate.candidate_id == "c_9"
    assert matched.event_id == "8"
    error = FindAllEvent.from_payload({"type": "error", "error": {"message": "boom"}})
    assert error.error == "boom"


def test_search_events_flat_and_nested() -> None:
    progress = SearchEvent.from_payload(
        {"type": "run.progress", "pagesFetched": 3, "pagesTarget": 9}
    )
    assert progress.pages_fetched == 3 and progress.pages_target == 9 and not progress.is_terminal
    done = SearchEvent.from_payload(
        {
            "type": "run.completed",
            "data": _load("search_cancel_seed.json") | {"status": "completed"},
        }
    )
    assert done.is_terminal and done.run is not None and done.run.state is RunState.COMPLETED


@pytest.mark.parametrize(
    "status",
    ["running", {"status": "completed", "is_active": False}, None],
    ids=["string", "object", "null"],
)
@pytest.mark.parametrize("nested", [True, False], ids=["nested", "flat"])
def test_a_status_event_read_without_entities_equals_the_full_read(
    status: Any, nested: bool
) -> None:
    from scout_dagster._models import findall_event_head

    candidate = {"candidate_id": "c_1", "name": "X", "match_status": "matched"}
    run = _load("findall_cancel_seed.json") | {"status": status, "candidates": [candidate]}
    payload = {"type": "findall.status", "event_id": "7", "timestamp": "2026-01-01T00:00:00Z"} | (
        {"data": run} if nested else run
    )
    full = FindAllEvent.from_payload(payload)
    head = FindAllEvent.from_payload(findall_event_head(json.dumps(payload)))
    assert full.run is not None and head.run is not None
    assert full.run.entities and head.run.entities == [] and head.run.candidates is None
    assert head.run.model_dump(exclude={"entities", "candidates"}) == full.run.model_dump(
        exclude={"entities", "candidates"}
    )
    assert (head.type, head.event_id, head.timestamp) == (full.type, full.event_id, full.timestamp)


def test_a_run_head_reads_snake_case_times_too() -> None:
    from scout_dagster._models import findall_run_head

    text = b'{"findall_id": "fa-1", "completed_at": "2026-01-02T00:00:00Z", "entities": []}'
    run = FindAllRun.from_payload(findall_run_head(text))
    assert run.completed_at is not None and run.completed_at.day == 2


def test_a_run_head_refuses_what_is_not_a_json_object() -> None:
    from scout_dagster._models import findall_run_head

    assert findall_run_head(b'{"findall_id": "fa-1", "entities": [{"name": "x"}]}') == {
        "findall_id": "fa-1"
    }
    for text in (b"{not json", b"[1, 2]", b"null"):
        with pytest.raises(ValueError):
            findall_run_head(text)
