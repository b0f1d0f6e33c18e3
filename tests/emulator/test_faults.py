"""Every fault kind, as a plain httpx client sees it."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest

from scout_dagster.emulator import EmulatorServer, FaultConfig, ManualClock


def test_rate_limit(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(rate_limit_rate=1.0, retry_after_s=3))
    response = client.post("/v1/findall/runs", json={"query": "q"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert "Rate limit" in response.json()["detail"]
    assert emu.ledger.creates() == 0
    assert emu.ledger.requests[-1].fault == "rate_limit"
    assert emu.ledger.faults_injected() == {"rate_limit": 1}


def test_server_errors(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(server_error_rate=1.0, seed=3))
    statuses = set()
    for _ in range(30):
        response = client.get("/v1/searches")
        statuses.add(response.status_code)
        assert isinstance(response.json()["detail"], str)
        assert ("retry-after" in response.headers) == (response.status_code == 503)
    assert statuses == {500, 502, 503}
    assert emu.ledger.faults_injected() == {"server_error": 30}


def test_slow(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(slow_rate=1.0, slow_s=0.3))
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1/searches", timeout=0.05)
    started = time.monotonic()
    assert client.get("/v1/searches").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert emu.ledger.requests[-1].fault == "slow"


def test_slow_stream_is_recorded(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    run_id = client.post("/v1/findall", json={"query": "q", "limit": 1}).json()["findall_id"]
    emu.faults.configure(FaultConfig(slow_rate=1.0, slow_s=0.01))
    with client.stream("GET", f"/v1/findall/runs/{run_id}/events") as stream:
        assert any(line.startswith("data:") for line in stream.iter_lines())
    assert emu.ledger.requests[-1].fault == "slow"


def test_drop_raises_a_protocol_error(
    client: httpx.Client, emu: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    emu.faults.configure(FaultConfig(drop_rate=1.0))
    with caplog.at_level(logging.DEBUG), pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/findall/runs")
    assert emu.ledger.requests[-1].fault == "drop"
    emu.faults.configure(FaultConfig())
    assert client.get("/v1/findall/runs").status_code == 200  # the server is fine
    # Cut on purpose: no traceback for it in the logs.
    assert not [r for r in caplog.records if r.name.startswith("uvicorn")]


def test_malformed_json(client: httpx.Client, emu: EmulatorServer) -> None:
    client.post("/v1/findall/runs", json={"query": "q"})
    emu.faults.configure(FaultConfig(malformed_json_rate=1.0))
    response = client.get("/v1/findall/runs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert emu.ledger.faults_injected() == {"malformed_json": 1}


def test_injected_status_with_filters(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.inject(
        "status",
        times=2,
        method="POST",
        path="/v1/search",
        status=403,
        message="Key lacks the search scope",
    )
    assert client.get("/v1/searches").status_code == 200  # GET: not matched
    assert client.post("/v1/findall/runs", json={"query": "q"}).status_code == 200
    for _ in range(2):
        refused = client.post("/v1/search", json={"queries": ["q"], "depth": "deep"})
        assert refused.status_code == 403
        assert refused.json() == {"detail": "Key lacks the search scope"}
    assert client.post("/v1/search", json={"queries": ["q"], "depth": "deep"}).status_code == 200
    assert emu.ledger.faults_injected() == {"status": 2}


@pytest.mark.parametrize(
    ("kind", "status", "retry_after"),
    [("rate_limit", 429, "1"), ("server_error", 500, None), ("status", 503, "1")],
)
def test_injected_errors(
    client: httpx.Client, emu: EmulatorServer, kind: str, status: int, retry_after: str | None
) -> None:
    emu.faults.inject(kind, status=503 if kind == "status" else None)
    response = client.get("/v1/findall/runs")
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    assert client.get("/v1/findall/runs").status_code == 200


def test_injected_slow_drop_and_malformed(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(slow_s=0.05))
    emu.faults.inject("slow")
    emu.faults.inject("malformed_json")
    emu.faults.inject("drop")
    assert client.get("/v1/searches").status_code == 200
    with pytest.raises(json.JSONDecodeError):
        client.get("/v1/searches").json()
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/v1/searches")
    assert emu.ledger.faults_injected() == {"slow": 1, "malformed_json": 1, "drop": 1}
    assert emu.faults.pending_injections == 0


def test_inject_rejects_nonsense(emu: EmulatorServer) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        emu.faults.inject("gremlins")
    with pytest.raises(ValueError, match="status code"):
        emu.faults.inject("status")


def test_random_faults_are_deterministic_per_seed(
    client: httpx.Client, emu: EmulatorServer
) -> None:
    def statuses(seed: int) -> list[int]:
        emu.faults.configure(FaultConfig(seed=seed, rate_limit_rate=0.3, server_error_rate=0.2))
        return [client.get("/v1/searches").status_code for _ in range(40)]

    first = statuses(11)
    assert first == statuses(11)
    assert first != statuses(12)
    assert {429, 200} <= set(first)


def test_faults_never_touch_admin_routes(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(server_error_rate=1.0))
    for _ in range(5):
        assert client.get("/_emulator/health").status_code == 200
    assert emu.ledger.faults_injected() == {}


def test_create_cap(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(create_cap=2, create_cap_window_s=100.0))
    first = client.post("/v1/findall/runs", json={"query": "a"}, headers={"Idempotency-Key": "a"})
    clock.advance(10.0)
    assert client.post("/v1/search", json={"queries": ["b"], "depth": "deep"}).status_code == 200
    clock.advance(20.0)
    assert client.get("/v1/findall/runs").status_code == 200  # reads are not capped
    capped = client.post("/v1/findall/runs", json={"query": "c"})
    assert capped.status_code == 429
    assert capped.headers["retry-after"] == "70"  # the first create leaves the window at 100
    assert "creation limit" in capped.json()["detail"]
    replay = client.post("/v1/findall/runs", json={"query": "a"}, headers={"Idempotency-Key": "a"})
    assert replay.json() == first.json()  # a replay is not a create
    clock.advance(69.5)
    assert client.post("/v1/findall", json={"query": "c"}).headers["retry-after"] == "1"
    clock.advance(0.5)
    assert client.post("/v1/findall", json={"query": "c"}).status_code == 200
    assert emu.ledger.creates() == 3
    assert emu.ledger.faults_injected() == {"create_cap": 2}
