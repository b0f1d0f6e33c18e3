"""Cancel (both documented semantics), extend and enrich, on a ManualClock."""

from __future__ import annotations

import httpx
import pytest

from scout_dagster.emulator import EmulatorServer, ManualClock

from .helpers import assert_report_citations_resolve

QUERY = "vertical SaaS companies in logistics"


def _create_findall(client: httpx.Client, **body: object) -> str:
    response = client.post("/v1/findall/runs", json={"query": QUERY, **body})
    return str(response.json()["findall_id"])


def test_findall_cancel_discards_partial_result_but_keeps_credits(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    run_id = _create_findall(client)
    clock.advance(2.0 + 25.0)
    before = client.get(f"/v1/findall/runs/{run_id}").json()
    assert before["count"] > 0

    cancelled = client.post(f"/v1/findall/runs/{run_id}/cancel")
    assert cancelled.status_code == 200
    pending = cancelled.json()
    # The vendor's example: status null while the cancel waits for its checkpoint.
    assert pending["status"] is None
    assert pending["count"] == before["count"] and pending["credits"] == before["credits"]
    assert pending["completedAt"] is not None

    after = client.get(f"/v1/findall/runs/{run_id}").json()
    assert after["status"]["status"] == "cancelled"
    assert after["status"]["termination_reason"] == "user_cancelled"
    assert after["status"]["metrics"]["matched_candidates_count"] == before["count"]
    assert (after["entities"], after["count"], after["candidates"]) == ([], 0, None)
    assert after["credits"] == before["credits"]

    clock.advance(100.0)  # nothing more happens to a cancelled run
    assert client.get(f"/v1/findall/runs/{run_id}").json() == after
    snapshot = emu.ledger.run(run_id)
    assert snapshot.state == "cancelled" and snapshot.credits == before["credits"]
    assert snapshot.cancel_requested and snapshot.cancelled_while_active
    assert emu.ledger.cancels(run_id) == 1


def test_cancel_of_a_queued_findall_run(client: httpx.Client, emu: EmulatorServer) -> None:
    run_id = _create_findall(client)
    assert client.post(f"/v1/findall/runs/{run_id}/cancel").json()["status"] is None
    after = client.get(f"/v1/findall/runs/{run_id}").json()
    assert after["status"]["status"] == "cancelled" and after["credits"] == 5


def test_search_cancel_keeps_what_it_gathered(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    queries = ["grid storage", "pumped hydro", "flow batteries"]
    search_id = client.post(
        "/v1/search", json={"queries": queries, "depth": "deep", "limit": 30}
    ).json()["search_id"]
    # 9 pages round-robin over 3 queries across 30 s: at 2 + 7 s two pages are in,
    # from the first two queries only.
    clock.advance(2.0 + 7.0)
    cancelled = client.post(f"/v1/searches/{search_id}/cancel", json={}).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["pagesFetched"] == 2 and cancelled["pagesTarget"] == 9
    assert cancelled["results"] and cancelled["sources"] and cancelled["findings"]
    assert cancelled["completedAt"] is None  # as in the vendor's example
    assert cancelled["credits"] == 2  # one per query with at least one page fetched
    assert "Partial report" in cancelled["report"]
    assert_report_citations_resolve(cancelled)
    clock.advance(100.0)
    assert client.get(f"/v1/searches/{search_id}").json() == cancelled
    assert emu.ledger.run(search_id).state == "cancelled"
    assert emu.ledger.run(search_id).credits == 2


def test_search_cancel_while_queued_charges_nothing(client: httpx.Client) -> None:
    search_id = client.post("/v1/search", json={"queries": ["q"], "depth": "deep"}).json()[
        "search_id"
    ]
    cancelled = client.post(f"/v1/searches/{search_id}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["credits"] == 0
    assert cancelled["results"] == [] and cancelled["report"] is None


@pytest.mark.parametrize("outcome", ["completed", "cancelled"])
def test_cancel_after_finish_changes_nothing(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer, outcome: str
) -> None:
    run_id = _create_findall(client)
    search_id = client.post("/v1/search", json={"queries": ["q"], "depth": "deep"}).json()[
        "search_id"
    ]
    if outcome == "cancelled":
        client.post(f"/v1/findall/runs/{run_id}/cancel")
        client.post(f"/v1/searches/{search_id}/cancel")
    clock.advance(100.0)
    findall = client.get(f"/v1/findall/runs/{run_id}").json()
    search = client.get(f"/v1/searches/{search_id}").json()
    assert client.post(f"/v1/findall/runs/{run_id}/cancel").json() == findall
    assert client.post(f"/v1/searches/{search_id}/cancel").json() == search
    assert client.get(f"/v1/findall/runs/{run_id}").json() == findall
    snapshot = emu.ledger.run(run_id)
    assert snapshot.state == outcome and snapshot.cancel_requested
    assert snapshot.cancelled_while_active == (outcome == "cancelled")
    assert emu.ledger.cancels() == (4 if outcome == "cancelled" else 2)


def test_extend_a_completed_run(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _create_findall(client, limit=3)
    clock.advance(42.0)
    done = client.get(f"/v1/findall/runs/{run_id}").json()
    assert done["count"] == 3 and done["status"]["termination_reason"] == "match_limit_met"

    extended = client.post(f"/v1/findall/runs/{run_id}/extend", json={"additional_limit": 2})
    assert extended.json()["status"] == "running"
    clock.advance(20.0)
    midway = client.get(f"/v1/findall/runs/{run_id}").json()
    assert midway["status"] == "running" and 3 <= midway["count"] <= 5
    clock.advance(20.0)
    again = client.get(f"/v1/findall/runs/{run_id}").json()
    assert again["status"]["status"] == "completed" and again["count"] == 5
    assert again["entities"][:3] == done["entities"]  # the same world, further along
    assert again["credits"] == 5 + 5
    fresh = client.post("/v1/findall", json={"query": QUERY, "limit": 5}).json()
    assert again["entities"] == fresh["entities"]


def test_extend_a_running_run_runs_on(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _create_findall(client, limit=2)
    clock.advance(12.0)
    client.post(f"/v1/findall/runs/{run_id}/extend", json={"additional_limit": 3})
    clock.advance(30.0)  # the first phase ended at 42 s; the run goes on
    assert client.get(f"/v1/findall/runs/{run_id}").json()["status"] == "running"
    clock.advance(40.0)
    done = client.get(f"/v1/findall/runs/{run_id}").json()
    assert done["status"]["status"] == "completed" and done["count"] == 5


def test_extend_or_enrich_a_cancelled_run_is_400(client: httpx.Client) -> None:
    run_id = _create_findall(client)
    client.post(f"/v1/findall/runs/{run_id}/cancel")
    response = client.post(f"/v1/findall/runs/{run_id}/extend", json={"additional_limit": 1})
    assert response.status_code == 400
    assert response.json() == {
        "detail": f"FindAll run {run_id} is cancelled and cannot be extended"
    }
    response = client.post(f"/v1/findall/runs/{run_id}/enrich", json={"fields": ["ceo"]})
    assert response.status_code == 400


def test_enrich_adds_fields_to_matched_entities(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _create_findall(client, limit=4)
    clock.advance(42.0)
    schema = {"type": "object", "properties": {"employees": {"type": "integer"}}}
    response = client.post(
        f"/v1/findall/runs/{run_id}/enrich", json={"fields": ["ceo"], "output_schema": schema}
    )
    assert response.json()["status"] == "running"
    assert response.json()["fields"] == ["name", "website", "headquarters", "ceo", "employees"]
    clock.advance(5.0)  # halfway through the 10 s enrichment phase
    midway = client.get(f"/v1/findall/runs/{run_id}").json()
    enriched_now = [e for e in midway["entities"] if "ceo" in e]
    assert 0 < len(enriched_now) < 4
    clock.advance(5.0)
    done = client.get(f"/v1/findall/runs/{run_id}").json()
    assert done["status"]["status"] == "completed"
    for entity in done["entities"]:
        assert isinstance(entity["ceo"], str) and isinstance(entity["employees"], int)
        assert list(entity)[-1] == "source"
    for candidate in done["candidates"]:
        if candidate["match_status"] == "matched":
            assert candidate["output"]["ceo"]["type"] == "enrichment"
            assert "ceo" in {b["field"] for b in candidate["basis"]}
    assert done["credits"] == 5 + 4 + 4  # one credit per enriched entity
    with client.stream("GET", f"/v1/findall/runs/{run_id}/events") as stream:
        lines = list(stream.iter_lines())
    assert lines.count("event: findall.candidate.enriched") == 4
