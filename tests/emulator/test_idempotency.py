"""Idempotency-Key: replay, conflict, scope, and what is not kept."""

from __future__ import annotations

import httpx

from scout_dagster.emulator import EmulatorServer, ManualClock
from scout_dagster.emulator._idempotency import (
    Conflict,
    IdempotencyStore,
    InFlight,
    Proceed,
    StoredResponse,
    fingerprint,
)


def _post(client: httpx.Client, path: str, key: str, **kwargs: object) -> httpx.Response:
    return client.post(path, headers={"Idempotency-Key": key}, **kwargs)  # type: ignore[arg-type]


def test_replay_returns_the_first_response(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    first = _post(client, "/v1/findall/runs", "k-1", json={"query": "q", "limit": 2})
    clock.advance(10.0)  # the run moves on; the replay still answers as the first time
    again = _post(client, "/v1/findall/runs", "k-1", content=b'{"limit": 2,  "query": "q"}')
    assert again.status_code == first.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert emu.ledger.creates() == 1
    assert emu.ledger.run(first.json()["findall_id"]).idempotency_key == "k-1"
    assert [r.idempotent_replay for r in emu.ledger.requests] == [False, True]
    assert [r.idempotency_key for r in emu.ledger.requests] == ["k-1", "k-1"]


def test_same_key_different_request_is_409(client: httpx.Client, emu: EmulatorServer) -> None:
    _post(client, "/v1/findall/runs", "k-2", json={"query": "q"})
    for path, body in [
        ("/v1/findall/runs", {"query": "other"}),
        ("/v1/lists/runs", {"query": "q"}),
        ("/v1/search", {"query": "q"}),
    ]:
        conflict = _post(client, path, "k-2", json=body)
        assert conflict.status_code == 409
        assert conflict.json() == {
            "detail": "Idempotency-Key k-2 was used with a different request"
        }
    assert emu.ledger.creates() == 1


def test_keys_are_scoped_per_api_key(client: httpx.Client, emu: EmulatorServer) -> None:
    _post(client, "/v1/search", "k-3", json={"queries": ["q"], "depth": "deep"})
    other = httpx.post(
        emu.url + "/v1/search",
        json={"queries": ["q"], "depth": "deep"},
        headers={"Authorization": "Bearer second-key", "Idempotency-Key": "k-3"},
    )
    assert other.status_code == 200 and "idempotent-replayed" not in other.headers
    assert emu.ledger.creates("search") == 2


def test_errors_are_not_kept(client: httpx.Client, emu: EmulatorServer) -> None:
    assert _post(client, "/v1/findall/runs", "k-4", json={}).status_code == 422
    emu.faults.inject("rate_limit")
    assert _post(client, "/v1/findall/runs", "k-4", json={"query": "q"}).status_code == 429
    created = _post(client, "/v1/findall/runs", "k-4", json={"query": "q"})
    assert created.status_code == 200 and "idempotent-replayed" not in created.headers
    assert emu.ledger.creates() == 1


def test_a_retried_create_after_a_lost_response_is_not_a_second_run(
    client: httpx.Client, emu: EmulatorServer
) -> None:
    emu.faults.inject("drop", method="POST")
    try:
        _post(client, "/v1/findall/runs", "k-5", json={"query": "q"})
        raise AssertionError("the drop fault should have cut the response")
    except httpx.RemoteProtocolError:
        pass
    retried = _post(client, "/v1/findall/runs", "k-5", json={"query": "q"})
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert emu.ledger.creates() == 1
    assert emu.ledger.runs()[0].run_id == retried.json()["findall_id"]


def test_cancel_with_a_key_is_replayed(client: httpx.Client, emu: EmulatorServer) -> None:
    run_id = client.post("/v1/findall/runs", json={"query": "q"}).json()["findall_id"]
    first = _post(client, f"/v1/findall/runs/{run_id}/cancel", "k-6")
    again = _post(client, f"/v1/findall/runs/{run_id}/cancel", "k-6", json={})
    assert again.json() == first.json() and first.json()["status"] is None
    assert emu.ledger.cancels(run_id) == 1


def test_gets_ignore_the_key(client: httpx.Client) -> None:
    response = client.get("/v1/findall/runs", headers={"Idempotency-Key": "k-7"})
    assert response.status_code == 200 and "idempotent-replayed" not in response.headers


def test_reset_forgets_kept_responses(client: httpx.Client, emu: EmulatorServer) -> None:
    _post(client, "/v1/findall/runs", "k-8", json={"query": "q"})
    emu.ledger.reset()
    again = _post(client, "/v1/findall/runs", "k-8", json={"query": "q"})
    assert "idempotent-replayed" not in again.headers and emu.ledger.creates() == 1


def test_store_states_and_fingerprints() -> None:
    store = IdempotencyStore()
    same = fingerprint("POST", "/v1/search", b'{"a": 1, "b": [1, 2]}')
    assert same == fingerprint("post", "/v1/search", b'{"b":[1,2],"a":1}')
    assert fingerprint("POST", "/x", b"") == fingerprint("POST", "/x", b"{}")
    assert fingerprint("POST", "/x", b"not json") != fingerprint("POST", "/x", b"not json!")
    assert isinstance(store.begin("owner", "k", same), Proceed)
    assert isinstance(store.begin("owner", "k", same), InFlight)
    assert isinstance(store.begin("owner", "k", "other"), Conflict)
    store.complete("owner", "k", StoredResponse(503, (), b"{}"))
    assert isinstance(store.begin("owner", "k", "other"), Proceed)  # errors are forgotten
    kept = StoredResponse(200, ((b"content-type", b"application/json"),), b"{}")
    store.complete("owner", "k", kept)
    assert store.begin("owner", "k", "other") == kept
    assert isinstance(store.begin("owner", "k", same), Conflict)
    assert isinstance(store.begin("another-owner", "k", same), Proceed)
    assert len(store) == 1
