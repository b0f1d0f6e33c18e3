"""Transport-level contract: auth, request ids, error shapes, both path families."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from scout_dagster.emulator import EmulatorServer, ManualClock

FINDALL_PREFIXES = ["/v1/findall", "/v1/lists"]


def test_missing_key_is_401(emu: EmulatorServer) -> None:
    response = httpx.get(emu.url + "/v1/findall/runs")
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing bearer token"}
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_key_is_401_and_never_echoed(emu: EmulatorServer) -> None:
    secret = "sk-live-do-not-echo-1234"
    response = httpx.post(
        emu.url + "/v1/findall/runs",
        json={"query": "x"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid API key"}
    assert secret not in response.text
    assert all(secret not in value for value in response.headers.values())
    assert all(secret not in repr(record) for record in emu.ledger.requests)
    assert emu.ledger.creates() == 0


def test_configured_keys_are_accepted(emu: EmulatorServer) -> None:
    assert emu.api_key == "test-key"
    response = httpx.get(emu.url + "/v1/searches", headers={"Authorization": "bearer test-key"})
    assert response.status_code == 200


def test_every_response_has_a_unique_request_id(client: httpx.Client) -> None:
    ids = {
        client.get("/v1/findall/runs").headers["x-request-id"],
        client.get("/v1/findall/runs/fa-000000000000000000000000").headers["x-request-id"],
        httpx.get(str(client.base_url) + "/v1/searches").headers["x-request-id"],
        client.get("/_emulator/health").headers["x-request-id"],
    }
    assert len(ids) == 4
    assert all(i.startswith("req_") for i in ids)


def test_request_log_keeps_headers_but_not_the_key(
    client: httpx.Client, emu: EmulatorServer
) -> None:
    client.get("/v1/searches?limit=5", headers={"User-Agent": "scout-python/0.1.0"})
    (record,) = emu.ledger.requests
    assert (record.method, record.path, record.query, record.status) == (
        "GET",
        "/v1/searches",
        "limit=5",
        200,
    )
    assert record.scout_version == "2026-06-21"
    assert record.user_agent == "scout-python/0.1.0"
    assert record.request_id.startswith("req_")
    assert emu.api_key not in repr(record)


@pytest.mark.parametrize("prefix", FINDALL_PREFIXES)
def test_unknown_findall_run_is_404(client: httpx.Client, prefix: str) -> None:
    run_id = "fa-0123456789abcdef01234567"
    for method, suffix in [
        ("GET", ""),
        ("GET", "/events"),
        ("POST", "/cancel"),
    ]:
        response = client.request(method, f"{prefix}/runs/{run_id}{suffix}")
        assert response.status_code == 404
        assert response.json() == {"detail": f"FindAll run {run_id} not found"}


def test_unknown_search_is_404(client: httpx.Client) -> None:
    for method, suffix in [("GET", ""), ("GET", "/events"), ("POST", "/cancel")]:
        response = client.request(method, f"/v1/searches/nope{suffix}")
        assert response.status_code == 404
        assert response.json() == {"detail": "Search run nope not found"}


def test_a_search_id_is_not_a_findall_id(client: httpx.Client) -> None:
    search = client.post("/v1/search", json={"queries": ["q"], "depth": "deep"}).json()
    response = client.get(f"/v1/findall/runs/{search['search_id']}")
    assert response.status_code == 404


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_runs_of_another_key_are_invisible(emu: EmulatorServer, client: httpx.Client) -> None:
    run = client.post("/v1/findall/runs", json={"query": "q"}).json()
    headers = {"Authorization": "Bearer second-key"}  # also accepted by the fixture
    assert httpx.get(emu.url + "/v1/findall/runs", headers=headers).json() == []
    response = httpx.get(emu.url + f"/v1/findall/runs/{run['findall_id']}", headers=headers)
    assert response.status_code == 404


def _detail(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    for item in detail:
        assert {"loc", "msg", "type"} <= set(item)
    return detail


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({}, ["body", "query"], "missing"),
        ({"query": ""}, ["body", "query"], "string_too_short"),
        ({"query": "   "}, ["body", "query"], "string_pattern_mismatch"),
        ({"query": 5}, ["body", "query"], "string_type"),
        ({"query": "q", "limit": 0}, ["body", "limit"], "greater_than_equal"),
        ({"query": "q", "limit": "5"}, ["body", "limit"], "int_type"),
        ({"query": "q", "limit": True}, ["body", "limit"], "int_type"),
        ({"query": "q", "generator": "ultra"}, ["body", "generator"], "literal_error"),
        ({"query": "q", "fields": "name"}, ["body", "fields"], "list_type"),
        (
            {"query": "q", "output_schema": {"type": "array"}},
            ["body", "output_schema"],
            "value_error",
        ),
        (
            {"query": "q", "output_schema": {"type": "object"}},
            ["body", "output_schema"],
            "value_error",
        ),
        ([1, 2], ["body"], "model_type"),
    ],
)
@pytest.mark.parametrize("path", ["/v1/findall/runs", "/v1/lists/runs", "/v1/findall", "/v1/lists"])
def test_findall_create_validation(
    client: httpx.Client, path: str, body: object, loc: list[str], error_type: str
) -> None:
    (item,) = _detail(client.post(path, json=body))
    assert item["loc"] == loc
    assert item["type"] == error_type


@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({"queries": ["q"]}, ["body", "depth"], "missing"),
        ({"queries": ["q"], "depth": "abyssal"}, ["body", "depth"], "literal_error"),
        ({"queries": [], "depth": "deep"}, ["body", "queries"], "too_short"),
        ({"queries": [""], "depth": "deep"}, ["body", "queries", 0], "string_too_short"),
        ({"queries": "q", "depth": "deep"}, ["body", "queries"], "list_type"),
        ({"queries": ["q"], "depth": "deep", "limit": 0}, ["body", "limit"], "greater_than_equal"),
    ],
)
def test_search_create_validation(
    client: httpx.Client, body: object, loc: list[object], error_type: str
) -> None:
    (item,) = _detail(client.post("/v1/search", json=body))
    assert item["loc"] == loc
    assert item["type"] == error_type


def test_malformed_json_body_is_422_json_invalid(client: httpx.Client) -> None:
    response = client.post(
        "/v1/findall/runs", content=b'{"query": ', headers={"Content-Type": "application/json"}
    )
    (item,) = _detail(response)
    assert item["loc"] == ["body"]
    assert item["type"] == "json_invalid"


def test_missing_body_is_422(client: httpx.Client) -> None:
    (item,) = _detail(client.post("/v1/findall/runs"))
    assert item == {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}


def test_extend_and_enrich_validation(client: httpx.Client) -> None:
    run_id = client.post("/v1/findall/runs", json={"query": "q"}).json()["findall_id"]
    (item,) = _detail(
        client.post(f"/v1/findall/runs/{run_id}/extend", json={"additional_limit": 0})
    )
    assert item["loc"] == ["body", "additional_limit"]
    (item,) = _detail(client.post(f"/v1/findall/runs/{run_id}/extend", json={}))
    assert item["type"] == "missing"
    (item,) = _detail(client.post(f"/v1/findall/runs/{run_id}/enrich", json={}))
    assert item["loc"] == ["body"] and item["type"] == "value_error"


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=abc", "offset=-1"])
def test_list_paging_validation(client: httpx.Client, query: str) -> None:
    for path in ("/v1/findall/runs", "/v1/lists/runs", "/v1/searches"):
        (item,) = _detail(client.get(f"{path}?{query}"))
        assert item["loc"][0] == "query"


def test_unknown_body_fields_are_ignored(client: httpx.Client) -> None:
    response = client.post("/v1/findall/runs", json={"query": "q", "future_field": {"x": 1}})
    assert response.status_code == 200


@pytest.mark.parametrize("prefix", FINDALL_PREFIXES)
def test_every_findall_endpoint_under_both_families(
    client: httpx.Client, clock: ManualClock, prefix: str
) -> None:
    created = client.post(f"{prefix}/runs", json={"query": "robotics startups", "limit": 3})
    assert created.status_code == 200
    run_id = created.json()["findall_id"]
    assert client.get(f"{prefix}/runs/{run_id}").json()["findall_id"] == run_id
    assert [r["findall_id"] for r in client.get(f"{prefix}/runs").json()] == [run_id]
    clock.advance(100)
    extended = client.post(f"{prefix}/runs/{run_id}/extend", json={"additional_limit": 1})
    assert extended.status_code == 200
    enriched = client.post(f"{prefix}/runs/{run_id}/enrich", json={"fields": ["ceo"]})
    assert enriched.status_code == 200
    clock.advance(100)
    with client.stream("GET", f"{prefix}/runs/{run_id}/events") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert any(line.startswith("event: findall.status") for line in stream.iter_lines())
    assert client.post(f"{prefix}/runs/{run_id}/cancel").status_code == 200
    synchronous = client.post(prefix, json={"query": "robotics startups", "limit": 2})
    assert synchronous.status_code == 200
    assert synchronous.json()["status"]["status"] == "completed"


def test_every_search_endpoint(client: httpx.Client, clock: ManualClock) -> None:
    created = client.post("/v1/search", json={"queries": ["battery recycling"], "depth": "deep"})
    assert created.status_code == 200
    search_id = created.json()["search_id"]
    assert client.get(f"/v1/searches/{search_id}").json()["search_id"] == search_id
    assert [r["search_id"] for r in client.get("/v1/searches").json()] == [search_id]
    clock.advance(100)
    with client.stream("GET", f"/v1/searches/{search_id}/events") as stream:
        assert stream.status_code == 200
        lines = list(stream.iter_lines())
    assert "event: run.completed" in lines
    assert client.post(f"/v1/searches/{search_id}/cancel", content=b"").status_code == 200
    assert client.post(f"/v1/searches/{search_id}/cancel", json={}).status_code == 200


def test_list_paging_is_newest_first(client: httpx.Client, clock: ManualClock) -> None:
    ids = []
    for n in range(5):
        ids.append(client.post("/v1/findall/runs", json={"query": f"q{n}"}).json()["findall_id"])
        clock.advance(1)
    newest_first = list(reversed(ids))
    page = client.get("/v1/findall/runs", params={"limit": 2, "offset": 1}).json()
    assert [r["findall_id"] for r in page] == newest_first[1:3]
    assert [r["findall_id"] for r in client.get("/v1/findall/runs").json()] == newest_first
    assert client.get("/v1/findall/runs", params={"offset": 10}).json() == []
    searches = [
        client.post("/v1/search", json={"queries": [f"s{n}"], "depth": "shallow"}).json()
        for n in range(3)
    ]
    page = client.get("/v1/searches", params={"limit": 2}).json()
    assert [s["search_id"] for s in page] == [searches[2]["search_id"], searches[1]["search_id"]]
