"""The calls Scout's own Python SDK (v0.1.0, API version ``2026-06-21``) makes,
sent with plain httpx exactly as the SDK sends them, against the emulator.

The SDK package itself is not installable here (no network, and it is not
vendored), so these requests copy what it sends by the contract
(``docs/api-contract.md``, the [sdk] statements): ``Authorization: Bearer``,
``Scout-Version: 2026-06-21``, ``Accept: application/json`` and a
``User-Agent`` on every call, an ``Idempotency-Key`` UUID on every non-GET,
FindAll under its ``/v1/lists`` alias, and ``events(id)`` as a plain GET that
expects a JSON array whose items each name their ``type``. The User-Agent
string is our stand-in; the server only records it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scout_dagster.emulator import EmulatorServer, ManualClock

from .conftest import WAIT_TIMEOUT_S

SDK_USER_AGENT = "scout-python/0.1.0"
API_VERSION = "2026-06-21"


class Sdk:
    """The SDK's request shape, one method per resource call it makes."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if method != "GET" else {}
        response = self.http.request(
            method, path, json=body, params=params or None, headers=headers
        )
        assert response.status_code == 200, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/json")
        return response.json()


@pytest.fixture
def sdk(emu: EmulatorServer) -> Iterator[Sdk]:
    headers = {
        "Authorization": f"Bearer {emu.api_key}",
        "Scout-Version": API_VERSION,
        "Accept": "application/json",
        "User-Agent": SDK_USER_AGENT,
    }
    with httpx.Client(base_url=emu.url, headers=headers, timeout=WAIT_TIMEOUT_S) as http:
        yield Sdk(http)


def _typed_items(events: Any) -> list[dict[str, Any]]:
    assert isinstance(events, list) and events
    assert all(isinstance(e, dict) and isinstance(e.get("type"), str) for e in events)
    return events


def test_monitor_calls(sdk: Sdk, clock: ManualClock, emu: EmulatorServer) -> None:
    created = sdk.call(
        "POST",
        "/v1/monitors",
        {"query": "solid-state battery makers", "cadence": "daily", "limit": 10},
    )
    monitor_id = created["monitor_id"]
    assert created["status"] == "active" and created["cadence"] == "daily"

    listed = sdk.call("GET", "/v1/monitors", limit=50, offset=0)
    assert [m["monitor_id"] for m in listed] == [monitor_id]
    assert sdk.call("GET", f"/v1/monitors/{monitor_id}") == created

    updated = sdk.call("PATCH", f"/v1/monitors/{monitor_id}", {"cron": "0 8 * * 1"})
    assert updated["cron"] == "0 8 * * 1" and updated["cadence"] is None

    assert sdk.call("POST", f"/v1/monitors/{monitor_id}/pause", {})["status"] == "paused"
    assert sdk.call("POST", f"/v1/monitors/{monitor_id}/resume", {})["status"] == "active"
    ran = sdk.call("POST", f"/v1/monitors/{monitor_id}/run", {})
    assert ran["lastRunAt"] is not None and ran["credits"] == 1

    events = _typed_items(sdk.call("GET", f"/v1/monitors/{monitor_id}/events", limit=100))
    assert events[0]["type"] == "monitor.results" and events[0]["monitor_id"] == monitor_id
    after = sdk.call(
        "GET", f"/v1/monitors/{monitor_id}/events", after=events[-1]["event_id"], limit=100
    )
    assert after == []

    deleted = sdk.call("DELETE", f"/v1/monitors/{monitor_id}")
    assert deleted == {"monitor_id": monitor_id, "deleted": True}

    records = [r for r in emu.ledger.requests if r.path.startswith("/v1/monitors")]
    assert all(r.scout_version == API_VERSION and r.user_agent == SDK_USER_AGENT for r in records)
    assert all((r.idempotency_key is not None) == (r.method != "GET") for r in records)
    assert all(r.status == 200 for r in records)


def test_lists_runs_events(sdk: Sdk, clock: ManualClock) -> None:
    run = sdk.call("POST", "/v1/lists/runs", {"query": "robotics startups", "limit": 2})
    clock.advance(100.0)
    assert sdk.call("GET", f"/v1/lists/runs/{run['findall_id']}")["count"] == 2
    events = _typed_items(sdk.call("GET", f"/v1/lists/runs/{run['findall_id']}/events"))
    assert events[-1]["type"] == "findall.status"
    assert events[-1]["data"]["status"]["status"] == "completed"
    assert [r["findall_id"] for r in sdk.call("GET", "/v1/lists/runs")] == [run["findall_id"]]


def test_search_events(sdk: Sdk, clock: ManualClock) -> None:
    search = sdk.call("POST", "/v1/search", {"queries": ["grid storage"], "depth": "deep"})
    clock.advance(100.0)
    events = _typed_items(sdk.call("GET", f"/v1/searches/{search['search_id']}/events"))
    assert events[-1]["type"] == "run.completed"
    assert {e["type"] for e in events[:-1]} == {"run.progress"}
