"""``/_emulator/*``: health, ledger, faults and reset over HTTP, without auth."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scout_dagster.emulator import EmulatorServer, ManualClock, UnknownRunError


def test_health(emu: EmulatorServer) -> None:
    body = httpx.get(emu.url + "/_emulator/health").json()
    assert body["ok"] is True and body["version"] and body["api_version"] == "2026-06-21"


def test_ledger_endpoint(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    run_id = client.post("/v1/findall", json={"query": "q", "limit": 2}).json()["findall_id"]
    client.post("/v1/search", json={"queries": ["a", "b"], "depth": "shallow"})
    client.post(f"/v1/findall/runs/{run_id}/cancel")
    ledger = httpx.get(emu.url + "/_emulator/ledger").json()
    assert ledger["creates"] == {"findall": 1, "search": 1}
    assert ledger["credits"] == 7 + 2 == emu.ledger.total_credits()
    assert ledger["requests"] == 3 and ledger["cancels"] == 1
    assert ledger["now"] == clock.now()
    (findall, search) = ledger["runs"]
    assert findall["run_id"] == run_id and findall["state"] == "completed"
    assert findall["request_body"] == {"query": "q", "limit": 2}
    assert search["kind"] == "search" and search["queries"] == ["a", "b"]


@pytest.fixture
def admin(emu: EmulatorServer) -> Iterator[httpx.Client]:
    """A client without credentials: the admin routes need none."""
    with httpx.Client(base_url=emu.url) as http:
        yield http


def test_put_faults_and_inject(
    client: httpx.Client, admin: httpx.Client, emu: EmulatorServer
) -> None:
    put = admin.put("/_emulator/faults", json={"rate_limit_rate": 1.0, "retry_after_s": 2})
    assert put.status_code == 200 and put.json()["rate_limit_rate"] == 1.0
    assert admin.get("/_emulator/faults").json()["retry_after_s"] == 2
    assert client.get("/v1/searches").headers["retry-after"] == "2"
    bad = admin.put("/_emulator/faults", json={"rate_limit_rate": 2, "nonsense": 1})
    assert bad.status_code == 422
    assert {tuple(d["loc"]) for d in bad.json()["detail"]} == {
        ("body", "rate_limit_rate"),
        ("body", "nonsense"),
    }
    admin.put("/_emulator/faults", json={})
    injected = admin.post(
        "/_emulator/faults/inject", json={"kind": "status", "status": 418, "message": "teapot"}
    )
    assert injected.json() == {"pending": 1}
    assert client.get("/v1/searches").json() == {"detail": "teapot"}
    assert admin.post("/_emulator/faults/inject", json={"kind": "status"}).status_code == 400
    assert admin.post("/_emulator/faults/inject", json={"kind": "nope"}).status_code == 422


def test_reset(client: httpx.Client, admin: httpx.Client, emu: EmulatorServer) -> None:
    client.post("/v1/findall/runs", json={"query": "q"})
    admin.put("/_emulator/faults", json={"server_error_rate": 1.0})
    admin.post("/_emulator/faults/inject", json={"kind": "drop"})
    assert admin.post("/_emulator/reset").json() == {"ok": True}
    assert emu.ledger.creates() == 0 and emu.ledger.requests == []
    assert emu.faults.config.server_error_rate == 0.0 and emu.faults.pending_injections == 0
    assert client.get("/v1/findall/runs").json() == []


def test_ledger_python_api(client: httpx.Client, emu: EmulatorServer) -> None:
    run_id = client.post("/v1/findall/runs", json={"query": "q"}).json()["findall_id"]
    snapshot = emu.ledger.run(run_id)
    assert (snapshot.kind, snapshot.state, snapshot.credits, snapshot.query) == (
        "findall",
        "queued",
        5,
        "q",
    )
    assert [s.run_id for s in emu.ledger.active_runs()] == [run_id]
    assert emu.ledger.runs("search") == []
    with pytest.raises(KeyError, match="no run 'fa-missing'"):
        emu.ledger.run("fa-missing")
    with pytest.raises(UnknownRunError):
        emu.ledger.run("fa-missing")
