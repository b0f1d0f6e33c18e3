"""Monitors under faults, with idempotent writes, and against a credit balance."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from scout_dagster.emulator import (
    EmulatorConfig,
    EmulatorServer,
    FaultConfig,
    ManualClock,
)
from tests.emulator.monitor_calls import (
    HOUR,
    QUERY,
    create_monitor,
    list_events,
    run_monitor,
    sse_events,
)

from .conftest import WAIT_TIMEOUT_S

# --- faults and idempotency -----------------------------------------------------


def test_stream_drop_fault(client: httpx.Client, emu: EmulatorServer) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    for _ in range(5):
        run_monitor(client, monitor_id)
    expected = [e["event_id"] for e in list_events(client, monitor_id)]
    emu.faults.configure(FaultConfig(stream_drop_after_events=2))
    url = f"/v1/monitors/{monitor_id}/events"
    seen: list[str] = []
    drops = 0
    while len(seen) < len(expected):
        headers = {"Last-Event-ID": seen[-1]} if seen else {}
        try:
            for event in sse_events(client, url, headers):
                seen.append(event.id)
                if len(seen) == len(expected):
                    break
        except httpx.RemoteProtocolError:
            drops += 1
    assert seen == expected and drops >= 1
    assert emu.ledger.faults_injected()["stream_drop"] == drops
    # The JSON form is a JSON answer: stream faults leave it alone.
    assert [e["event_id"] for e in list_events(client, monitor_id)] == expected


def test_injected_errors_on_monitor_routes(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.inject("server_error", status=503, method="POST", path="/v1/monitors")
    refused = client.post("/v1/monitors", json={"query": QUERY, "cadence": "daily"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert emu.ledger.monitors() == []  # nothing happened: a retry is safe
    monitor_id = create_monitor(client)["monitor_id"]
    emu.faults.inject("status", status=403, message="Forbidden (test)", path="/v1/monitors/")
    forbidden = client.get(f"/v1/monitors/{monitor_id}/events")
    assert forbidden.status_code == 403 and forbidden.json() == {"detail": "Forbidden (test)"}
    emu.faults.inject("rate_limit", method="PATCH")
    assert client.patch(f"/v1/monitors/{monitor_id}", json={"limit": 3}).status_code == 429
    assert client.get(f"/v1/monitors/{monitor_id}").json()["limit"] == 10
    emu.faults.inject("drop", method="GET", path=f"/v1/monitors/{monitor_id}/events")
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/v1/monitors/{monitor_id}/events")
    faults = [r.fault for r in emu.ledger.requests if r.path.startswith("/v1/monitors")]
    assert [f for f in faults if f] == ["server_error", "status", "rate_limit", "drop"]


def test_random_faults_reach_monitor_routes(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.configure(FaultConfig(rate_limit_rate=1.0))
    assert client.get("/v1/monitors").status_code == 429
    assert emu.ledger.faults_injected() == {"rate_limit": 1}


def test_run_failures(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    run_monitor(client, monitor_id)
    emu.faults.configure(FaultConfig(run_failure_rate=1.0))
    failed = run_monitor(client, monitor_id)
    assert failed["credits"] == 1 and failed["lastRunAt"] == emu.state.timestamps.offset(
        clock.now()
    )
    clock.advance(HOUR)  # the scheduled run fails too
    events = list_events(client, monitor_id)
    assert [e["type"] for e in events] == [
        "monitor.results",
        "monitor.run.failed",
        "monitor.run.failed",
    ]
    for event in events[1:]:
        assert event["results"] == [] and event["credits"] == 0 and event["error"]
    runs = emu.ledger.monitor(monitor_id).runs
    assert [(r.failed, r.credits, r.trigger) for r in runs] == [
        (False, 1, "manual"),
        (True, 0, "manual"),
        (True, 0, "schedule"),
    ]
    assert emu.ledger.total_credits() == 1
    emu.faults.configure(FaultConfig())
    assert run_monitor(client, monitor_id)["credits"] == 2


def test_idempotent_create_update_delete(client: httpx.Client, emu: EmulatorServer) -> None:
    body = {"query": QUERY, "cron": "0 * * * *"}
    first = client.post("/v1/monitors", json=body, headers={"Idempotency-Key": "m-1"})
    again = client.post("/v1/monitors", json=body, headers={"Idempotency-Key": "m-1"})
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(emu.ledger.monitors()) == 1
    assert emu.ledger.monitors()[0].idempotency_key == "m-1"
    other = client.post(
        "/v1/monitors", json={**body, "limit": 3}, headers={"Idempotency-Key": "m-1"}
    )
    assert other.status_code == 409
    monitor_id = first.json()["monitor_id"]
    path = f"/v1/monitors/{monitor_id}"
    patched = client.patch(path, json={"limit": 4}, headers={"Idempotency-Key": "m-2"})
    replay = client.patch(path, json={"limit": 4}, headers={"Idempotency-Key": "m-2"})
    assert replay.json() == patched.json() and replay.headers["idempotent-replayed"] == "true"
    ran = client.post(path + "/run", headers={"Idempotency-Key": "m-3"})
    rerun = client.post(path + "/run", headers={"Idempotency-Key": "m-3"})
    assert rerun.json() == ran.json()
    assert len(emu.ledger.monitor(monitor_id).runs) == 1  # a retried run runs once
    gone = client.delete(path, headers={"Idempotency-Key": "m-4"})
    gone_again = client.delete(path, headers={"Idempotency-Key": "m-4"})
    assert gone_again.status_code == gone.status_code == 200
    assert gone_again.json() == {"monitor_id": monitor_id, "deleted": True}
    assert client.delete(path).status_code == 404  # a new delete: the monitor is gone


# --- the credit balance ---------------------------------------------------------


@pytest.fixture(scope="module")
def balance_server() -> Iterator[EmulatorServer]:
    """An emulator whose account holds 3 credits, on a ManualClock."""
    config = EmulatorConfig(keepalive_s=0.1, stream_tick_s=0.005, credit_balance=3)
    with EmulatorServer(config=config, clock=ManualClock(), api_key="test-key") as server:
        yield server


@pytest.fixture
def poor(balance_server: EmulatorServer) -> Iterator[httpx.Client]:
    balance_server.state.reset()
    headers = {"Authorization": f"Bearer {balance_server.api_key}"}
    with httpx.Client(base_url=balance_server.url, headers=headers, timeout=WAIT_TIMEOUT_S) as c:
        yield c


def test_balance_refuses_manual_runs_and_fails_scheduled_ones(
    poor: httpx.Client, balance_server: EmulatorServer
) -> None:
    clock = balance_server.clock
    assert isinstance(clock, ManualClock)
    monitor_id = create_monitor(poor)["monitor_id"]
    for _ in range(3):
        run_monitor(poor, monitor_id)
    refused = poor.post(f"/v1/monitors/{monitor_id}/run")
    assert refused.status_code == 402
    assert refused.json() == {"detail": "Insufficient credits: 0 left, a monitor run needs 1"}
    assert len(balance_server.ledger.monitor(monitor_id).runs) == 3
    clock.advance(HOUR)
    last = list_events(poor, monitor_id)[-1]
    assert last["type"] == "monitor.run.failed" and last["credits"] == 0
    assert last["error"].startswith("Insufficient credits")
    assert balance_server.ledger.total_credits() == 3
    # FindAll creates see monitor credits in the balance too.
    assert poor.post("/v1/search", json={"queries": ["q"], "depth": "shallow"}).status_code == 402
