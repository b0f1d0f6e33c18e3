"""Run lifecycles on a ManualClock: states, progress, credits, sync runs, failures."""

from __future__ import annotations

from datetime import datetime

import httpx

from scout_dagster.emulator import EmulatorServer, FaultConfig, ManualClock, _world

from .helpers import assert_report_citations_resolve

QUERY = "AI infrastructure companies"
FINDALL_FIELDS = {
    "findall_id",
    "status",
    "query",
    "entities",
    "count",
    "credits",
    "fields",
    "output_schema",
    "candidates",
    "metadata",
    "findall_schema",
    "error",
    "createdAt",
    "completedAt",
}
SEARCH_FIELDS = {
    "search_id",
    "status",
    "queries",
    "limit",
    "depth",
    "country",
    "language",
    "createdAt",
    "completedAt",
    "credits",
    "results",
    "pagesFetched",
    "pagesTarget",
    "error",
    "report",
    "findings",
    "sources",
    "usage",
    "prompt",
    "reranked",
}


def _matched_in_world(query: str) -> int:
    return sum(c.verdict == "matched" for c in _world.findall_candidates(query))


def test_findall_lifecycle(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    created = client.post("/v1/findall/runs", json={"query": QUERY}).json()
    assert set(created) == FINDALL_FIELDS
    assert created["findall_id"].startswith("fa-") and len(created["findall_id"]) == 27
    assert created["status"] == "queued"
    assert (created["entities"], created["count"], created["credits"]) == ([], 0, 5)
    assert created["candidates"] is None and created["completedAt"] is None
    assert created["fields"] == ["name", "website", "headquarters"]
    assert created["findall_schema"]["generator"] == "base"
    assert created["findall_schema"]["objective"] == QUERY
    datetime.fromisoformat(created["createdAt"])
    run_url = f"/v1/findall/runs/{created['findall_id']}"

    clock.advance(2.0)  # queued_s
    running = client.get(run_url).json()
    assert running["status"] == "running" and running["count"] == 0
    assert emu.ledger.run(created["findall_id"]).state == "running"

    total = _matched_in_world(QUERY)
    counts = []
    for _ in range(4):
        clock.advance(9.0)
        midway = client.get(run_url).json()
        assert midway["status"] == "running"
        assert midway["candidates"] is None
        assert midway["count"] == len(midway["entities"])
        assert midway["credits"] == 5 + midway["count"]
        counts.append(midway["count"])
    assert counts == sorted(counts) and 0 < counts[1] < total

    clock.advance(4.0)  # 2 + 40 s: completed
    done = client.get(run_url).json()
    assert done["status"] == {
        "status": "completed",
        "is_active": False,
        "metrics": {
            "generated_candidates_count": len(_world.findall_candidates(QUERY)),
            "matched_candidates_count": total,
        },
        "termination_reason": "candidates_exhausted",
    }
    assert done["count"] == total == len(done["entities"])
    assert done["credits"] == 5 + total
    assert datetime.fromisoformat(done["completedAt"]) > datetime.fromisoformat(done["createdAt"])
    for entity in done["entities"]:
        assert set(entity) == {"name", "website", "headquarters", "source"}
        assert entity["website"].startswith("https://") and entity["website"].endswith(".com")
    statuses = {c["match_status"] for c in done["candidates"]}
    assert "matched" in statuses and statuses <= {"matched", "unmatched", "discarded"}
    assert emu.ledger.run(created["findall_id"]).state == "completed"
    assert emu.ledger.active_runs() == []


def test_candidates_have_the_documented_shape(client: httpx.Client) -> None:
    run = client.post("/v1/findall", json={"query": QUERY}).json()
    for candidate in run["candidates"]:
        assert set(candidate) == {
            "candidate_id",
            "name",
            "url",
            "description",
            "match_status",
            "output",
            "basis",
        }
        if candidate["match_status"] == "discarded":
            assert candidate["output"] is None and candidate["basis"] is None
            continue
        types = {value["type"] for value in candidate["output"].values()}
        assert "match_condition" in types
        for value in candidate["output"].values():
            if value["type"] == "match_condition":
                assert isinstance(value["is_matched"], bool)
        for basis in candidate["basis"]:
            assert basis["confidence"] in ("low", "medium", "high")
            assert basis["citations"][0]["url"].startswith("https://")
            assert basis["citations"][0]["excerpts"]
        if candidate["match_status"] == "matched":
            assert candidate["output"]["name"] == {"value": candidate["name"], "type": "enrichment"}


def test_limit_caps_matches(client: httpx.Client) -> None:
    run = client.post("/v1/findall", json={"query": QUERY, "limit": 3}).json()
    assert run["count"] == 3
    assert run["status"]["termination_reason"] == "match_limit_met"
    assert run["status"]["metrics"]["matched_candidates_count"] == 3


def test_findall_credits_by_generator(client: httpx.Client, emu: EmulatorServer) -> None:
    per_match = {"base": 1, "core": 2, "pro": 4}
    for generator, rate in per_match.items():
        run = client.post(
            "/v1/findall", json={"query": QUERY, "limit": 3, "generator": generator}
        ).json()
        assert run["credits"] == 5 + 3 * rate
        assert run["findall_schema"]["generator"] == generator
    # The vendor's example: 2 base matches cost 7.
    assert client.post("/v1/lists", json={"query": QUERY, "limit": 2}).json()["credits"] == 7
    assert emu.ledger.total_credits() == 8 + 11 + 17 + 7
    assert emu.ledger.creates("findall") == 4


def test_sync_findall_is_completed_at_once(client: httpx.Client, emu: EmulatorServer) -> None:
    run = client.post("/v1/findall", json={"query": QUERY, "metadata": {"title": "T", "input": 3}})
    body = run.json()
    assert body["status"]["status"] == "completed"
    assert body["candidates"] is not None
    assert body["metadata"] == {"title": "T", "input": 3}
    assert body["createdAt"] == body["completedAt"]
    assert emu.ledger.run(body["findall_id"]).state == "completed"
    assert client.get(f"/v1/findall/runs/{body['findall_id']}").json() == body


def test_fields_and_output_schema_shape_entities(client: httpx.Client) -> None:
    schema = {
        "type": "object",
        "properties": {
            "founded_year": {"type": "integer"},
            "valuation": {"type": "number"},
            "is_public": {"type": "boolean"},
            "products": {"type": "array", "items": {"type": "string"}},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
            "motto": {"type": ["string", "null"]},
        },
    }
    run = client.post(
        "/v1/findall",
        json={"query": QUERY, "fields": ["name", "total_funding"], "output_schema": schema},
    ).json()
    assert run["fields"] == ["name", "total_funding"]
    assert run["output_schema"] == schema
    for entity in run["entities"]:
        assert list(entity) == ["name", "total_funding", *schema["properties"], "source"]
        assert isinstance(entity["founded_year"], int)
        assert isinstance(entity["valuation"], float)
        assert isinstance(entity["is_public"], bool)
        assert all(isinstance(p, str) for p in entity["products"]) and entity["products"]
        assert isinstance(entity["address"]["city"], str)
        assert isinstance(entity["motto"], str)
    schema_only = client.post("/v1/findall", json={"query": QUERY, "output_schema": schema}).json()
    assert schema_only["fields"] is None
    assert set(schema_only["entities"][0]) == {*schema["properties"], "source"}


def test_search_deep_lifecycle(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    body = {"queries": ["ev batteries", "solid state cells"], "depth": "deep", "limit": 25}
    created = client.post("/v1/search", json={**body, "objective": "Battery outlook"}).json()
    assert set(created) == SEARCH_FIELDS
    assert created["status"] == "queued"
    assert created["pagesTarget"] == 2 * 3 and created["pagesFetched"] == 0
    assert (created["country"], created["language"], created["depth"]) == ("us", "en", "deep")
    assert (created["prompt"], created["reranked"]) == ("Battery outlook", True)
    assert created["results"] == [] and created["report"] is None and created["credits"] == 0
    url = f"/v1/searches/{created['search_id']}"

    clock.advance(2.0)
    assert client.get(url).json()["status"] == "running"
    clock.advance(15.0)  # halfway through 30 s: 3 of 6 pages
    midway = client.get(url).json()
    assert midway["status"] == "running" and midway["pagesFetched"] == 3
    assert midway["sources"] and midway["results"] == []
    assert midway["findings"] is None and midway["report"] is None
    assert midway["credits"] == 0
    assert midway["usage"]["pages_fetched"] == 3

    clock.advance(15.0)
    done = client.get(url).json()
    assert done["status"] == "completed" and done["pagesFetched"] == 6
    assert done["credits"] == 2 and emu.ledger.run(created["search_id"]).credits == 2
    assert done["completedAt"] is not None and done["error"] is None
    urls = [r["url"] for r in done["results"]]
    assert len(urls) == len(set(urls)) <= 25 and urls
    assert [s["index"] for s in done["sources"]] == list(range(1, len(done["sources"]) + 1))
    for source in done["sources"]:
        assert source["quality"] in ("high", "medium", "low")
        assert source["url"].startswith(f"https://{source['domain']}/")
    for finding in done["findings"]:
        assert 0.0 <= finding["confidence"] <= 1.0
        assert set(finding["citations"]) <= {s["url"] for s in done["sources"]}
    assert_report_citations_resolve(done)


def test_search_sync_depths(client: httpx.Client) -> None:
    for depth in ("shallow", "standard"):
        run = client.post("/v1/search", json={"queries": ["a", "b", "c"], "depth": depth}).json()
        assert run["status"] == "completed" and run["depth"] == depth
        assert run["credits"] == 3 and run["limit"] == 10 and run["pagesTarget"] == 3
        assert run["prompt"] is None and run["reranked"] is False
        assert_report_citations_resolve(run)


def test_domain_filters(client: httpx.Client) -> None:
    run = client.post(
        "/v1/search",
        json={
            "queries": ["q"],
            "depth": "shallow",
            "include_domains": ["nature.com", "ft.com"],
            "exclude_domains": ["ft.com"],
        },
    ).json()
    assert {s["domain"] for s in run["sources"]} == {"nature.com"}


def test_run_failure_fault(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(run_failure_rate=1.0))
    run_id = client.post("/v1/findall/runs", json={"query": QUERY}).json()["findall_id"]
    search_id = client.post("/v1/search", json={"queries": ["q"], "depth": "deep"}).json()[
        "search_id"
    ]
    clock.advance(2.0 + 19.0)
    assert client.get(f"/v1/findall/runs/{run_id}").json()["status"] == "running"
    clock.advance(1.0)  # halfway through the running phase
    failed = client.get(f"/v1/findall/runs/{run_id}").json()
    assert failed["status"]["status"] == "failed"
    assert failed["status"]["termination_reason"] == "error_occurred"
    assert failed["error"] == "Upstream crawler error while expanding candidates"
    assert failed["candidates"] is None and failed["count"] > 0
    assert failed["credits"] == 5 + failed["count"]
    assert failed["completedAt"] is not None
    search = client.get(f"/v1/searches/{search_id}").json()
    assert search["status"] == "failed" and search["error"] and search["credits"] == 0
    assert emu.ledger.run(run_id).state == "failed"
    assert emu.ledger.run(search_id).state == "failed"


def test_run_failure_is_a_function_of_seed_and_id(emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(seed=7, run_failure_rate=0.5))
    decisions = [emu.faults.run_fails(f"fa-{n:024x}") for n in range(200)]
    assert decisions == [emu.faults.run_fails(f"fa-{n:024x}") for n in range(200)]
    assert 60 < sum(decisions) < 140
    emu.faults.configure(FaultConfig(seed=8, run_failure_rate=0.5))
    assert decisions != [emu.faults.run_fails(f"fa-{n:024x}") for n in range(200)]


def test_credit_balance_refuses_creates_with_402(clock: ManualClock) -> None:
    from scout_dagster.emulator import EmulatorConfig, run_emulator

    with run_emulator(config=EmulatorConfig(credit_balance=12), clock=clock) as emu:
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        with httpx.Client(base_url=emu.url, headers=headers) as http:
            first = http.post("/v1/findall", json={"query": QUERY, "limit": 2})
            assert first.json()["credits"] == 7  # 5 left
            assert http.post("/v1/findall/runs", json={"query": QUERY}).status_code == 200
            refused = http.post("/v1/findall/runs", json={"query": QUERY})
            assert refused.status_code == 402
            assert refused.json() == {
                "detail": "Insufficient credits: 0 left, a FindAll run needs at least 5"
            }
            assert (
                http.post("/v1/search", json={"queries": ["q"], "depth": "deep"}).status_code == 402
            )
            assert emu.ledger.creates() == 2
