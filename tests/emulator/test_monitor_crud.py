"""Monitors over HTTP: create, retrieve, list, update, delete, pause, resume
and run now."""

from __future__ import annotations

import re

import httpx
import pytest

from scout_dagster.emulator import (
    EmulatorServer,
    ManualClock,
    UnknownMonitorError,
)
from tests.emulator.monitor_calls import (
    HOUR,
    QUERY,
    Json,
    create_monitor,
    run_monitor,
    virtual_seconds,
    wall_time,
)

# --- create, retrieve, list ----------------------------------------------------


def test_create_and_retrieve(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    now = clock.now()
    monitor = create_monitor(client, webhook="https://hooks.example.com/scout", limit=5)
    assert re.fullmatch(r"mon_[0-9a-f]{24}", monitor["monitor_id"])
    assert monitor == {
        "monitor_id": monitor["monitor_id"],
        "query": QUERY,
        "cadence": "hourly",
        "cron": None,
        "status": "active",
        "webhook": "https://hooks.example.com/scout",
        "limit": 5,
        "country": "us",
        "language": "en",
        "createdAt": emu.state.timestamps.offset(now),
        "lastRunAt": None,
        "nextRunAt": emu.state.timestamps.offset(now + HOUR),
        "credits": 0,
    }
    assert monitor["createdAt"].endswith("+00:00")
    assert client.get(f"/v1/monitors/{monitor['monitor_id']}").json() == monitor
    snapshot = emu.ledger.monitor(monitor["monitor_id"])
    assert snapshot.status == "active" and not snapshot.deleted and snapshot.runs == ()
    assert snapshot.request_body["limit"] == 5 and snapshot.created_at == now
    with pytest.raises(UnknownMonitorError, match="no monitor"):
        emu.ledger.monitor("mon_missing")


def test_unknown_fields_are_ignored(client: httpx.Client) -> None:
    monitor = create_monitor(client, cron="0 * * * *", cadence=None, tags=["x"], region="eu")
    assert monitor["cron"] == "0 * * * *" and monitor["cadence"] is None
    assert "tags" not in monitor


def test_list_is_paged_newest_first_and_per_key(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    ids = []
    for number in range(5):
        ids.append(create_monitor(client, query=f"{QUERY} {number}")["monitor_id"])
        clock.advance(1.0)
    newest_first = list(reversed(ids))
    assert [m["monitor_id"] for m in client.get("/v1/monitors").json()] == newest_first
    pages = [
        [m["monitor_id"] for m in client.get(f"/v1/monitors?limit=2&offset={offset}").json()]
        for offset in (0, 2, 4, 6)
    ]
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    for bad in ("limit=0", "limit=101", "offset=-1", "limit=x"):
        response = client.get(f"/v1/monitors?{bad}")
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][0] == "query"
    other = httpx.get(f"{emu.url}/v1/monitors", headers={"Authorization": "Bearer second-key"})
    assert other.status_code == 200 and other.json() == []
    client.delete(f"/v1/monitors/{ids[0]}")
    assert ids[0] not in [m["monitor_id"] for m in client.get("/v1/monitors").json()]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"cadence": "daily"}, ["body", "query"]),
        ({"query": "  ", "cadence": "daily"}, ["body", "query"]),
        ({"query": 3, "cadence": "daily"}, ["body", "query"]),
        ({"query": "q"}, ["body"]),
        ({"query": "q", "cadence": "daily", "cron": "0 * * * *"}, ["body"]),
        ({"query": "q", "cadence": "monthly"}, ["body", "cadence"]),
        ({"query": "q", "cron": "* * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "60 * * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "* 24 * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "*/0 * * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "5-1 * * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "5/10 * * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "MON * * * *"}, ["body", "cron"]),
        ({"query": "q", "cron": "0 0 31 2 *"}, ["body", "cron"]),
        ({"query": "q", "cadence": "daily", "limit": 0}, ["body", "limit"]),
        ({"query": "q", "cadence": "daily", "limit": 101}, ["body", "limit"]),
        ({"query": "q", "cadence": "daily", "limit": "5"}, ["body", "limit"]),
        ({"query": "q", "cadence": "daily", "limit": True}, ["body", "limit"]),
        ({"query": "q", "cadence": "daily", "webhook": "ftp://x.example"}, ["body", "webhook"]),
        ({"query": "q", "cadence": "daily", "webhook": "not a url"}, ["body", "webhook"]),
        ({"query": "q", "cadence": "daily", "country": ""}, ["body", "country"]),
    ],
)
def test_create_validation(
    client: httpx.Client, emu: EmulatorServer, body: Json, loc: list[str]
) -> None:
    response = client.post("/v1/monitors", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc and detail[0]["msg"] and detail[0]["type"]
    assert emu.ledger.monitors() == []


def test_malformed_and_missing_bodies(client: httpx.Client) -> None:
    broken = client.post("/v1/monitors", content=b"{not json")
    assert broken.status_code == 422 and broken.json()["detail"][0]["type"] == "json_invalid"
    empty = client.post("/v1/monitors", content=b"")
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body"]


# --- update, delete, pause, resume, run ------------------------------------------


def test_update_fields_and_schedule(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    monitor = create_monitor(client)
    path = f"/v1/monitors/{monitor['monitor_id']}"
    clock.advance(600.0)
    updated = client.patch(path, json={"query": "sodium batteries", "limit": 20}).json()
    assert updated["query"] == "sodium batteries" and updated["limit"] == 20
    assert updated["nextRunAt"] == monitor["nextRunAt"]  # no schedule change, no re-plan
    assert client.patch(path, json={"webhook": "https://h.example/x"}).json()["webhook"]
    assert client.patch(path, json={"webhook": None}).json()["webhook"] is None

    now = clock.now()
    to_cron = client.patch(path, json={"cron": "0 12 * * *"}).json()
    assert (to_cron["cadence"], to_cron["cron"]) == (None, "0 12 * * *")
    noon = wall_time(emu, virtual_seconds(emu, to_cron["nextRunAt"]))
    assert (noon.hour, noon.minute, noon.second) == (12, 0, 0)
    assert 0 < virtual_seconds(emu, to_cron["nextRunAt"]) - now <= 86400

    clock.advance(60.0)
    to_daily = client.patch(path, json={"cadence": "daily"}).json()
    assert (to_daily["cadence"], to_daily["cron"]) == ("daily", None)
    assert to_daily["nextRunAt"] == emu.state.timestamps.offset(clock.now() + 86400)
    assert client.get(path).json() == to_daily

    for body, loc in [
        ({"cadence": "daily", "cron": "0 * * * *"}, ["body"]),
        ({"cron": None}, ["body"]),
        ({"cadence": None, "cron": None}, ["body"]),
        ({"cron": "bad"}, ["body", "cron"]),
        ({"query": None}, ["body", "query"]),
        ({"limit": 0}, ["body", "limit"]),
    ]:
        response = client.patch(path, json=body)
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["loc"] == loc
    assert client.get(path).json() == to_daily
    # Setting the cron replaces the cadence even when the body names both, one null.
    swapped = client.patch(path, json={"cadence": None, "cron": "*/5 * * * *"}).json()
    assert (swapped["cadence"], swapped["cron"]) == (None, "*/5 * * * *")


def test_delete_then_404_everywhere(client: httpx.Client, emu: EmulatorServer) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    run_monitor(client, monitor_id)
    deleted = client.delete(f"/v1/monitors/{monitor_id}")
    assert deleted.status_code == 200
    assert deleted.json() == {"monitor_id": monitor_id, "deleted": True}
    path = f"/v1/monitors/{monitor_id}"
    calls = [
        ("GET", path, None),
        ("PATCH", path, {"query": "x"}),
        ("DELETE", path, None),
        ("POST", path + "/pause", {}),
        ("POST", path + "/resume", {}),
        ("POST", path + "/run", {}),
        ("GET", path + "/events", None),
    ]
    for method, url, body in calls:
        response = client.request(method, url, json=body)
        assert response.status_code == 404, (method, url)
        assert response.json() == {"detail": f"Monitor {monitor_id} not found"}
    snapshot = emu.ledger.monitor(monitor_id)
    assert snapshot.deleted and snapshot.next_run_at is None and len(snapshot.runs) == 1


def test_another_keys_monitor_is_404(client: httpx.Client, emu: EmulatorServer) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    other = {"Authorization": "Bearer second-key"}
    for method, suffix in [("GET", ""), ("DELETE", ""), ("POST", "/run"), ("GET", "/events")]:
        response = httpx.request(
            method, f"{emu.url}/v1/monitors/{monitor_id}{suffix}", headers=other
        )
        assert response.status_code == 404
        assert response.json() == {"detail": f"Monitor {monitor_id} not found"}
    assert emu.ledger.monitor(monitor_id).runs == ()  # the other key's run did nothing


def test_pause_stops_runs_and_resume_restarts(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    path = f"/v1/monitors/{monitor_id}"
    clock.advance(HOUR)
    assert len(emu.ledger.monitor(monitor_id).runs) == 1
    paused = client.post(path + "/pause").json()
    assert paused["status"] == "paused" and paused["nextRunAt"] is None
    assert client.post(path + "/pause", json={}).json() == paused  # idempotent
    clock.advance(5 * HOUR)
    assert len(emu.ledger.monitor(monitor_id).runs) == 1
    assert client.get(path).json()["status"] == "paused"

    clock.advance(1234.0)
    resumed = client.post(path + "/resume").json()
    assert resumed["status"] == "active"
    assert resumed["nextRunAt"] == emu.state.timestamps.offset(clock.now() + HOUR)
    assert client.post(path + "/resume").json() == resumed  # resuming an active one: no-op
    resumed_at = clock.now()
    clock.advance(HOUR - 1)
    assert len(emu.ledger.monitor(monitor_id).runs) == 1
    clock.advance(1.0)
    runs = emu.ledger.monitor(monitor_id).runs
    assert [r.at for r in runs][1:] == [resumed_at + HOUR]


def test_run_now_active_or_paused(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    monitor = create_monitor(client)
    monitor_id = monitor["monitor_id"]
    clock.advance(10.0)
    ran = run_monitor(client, monitor_id)
    assert ran["lastRunAt"] == emu.state.timestamps.offset(clock.now())
    assert ran["credits"] == 1 and ran["nextRunAt"] == monitor["nextRunAt"]
    client.post(f"/v1/monitors/{monitor_id}/pause")
    clock.advance(10.0)
    again = run_monitor(client, monitor_id)
    assert again["status"] == "paused" and again["nextRunAt"] is None
    assert again["credits"] == 2
    runs = emu.ledger.monitor(monitor_id).runs
    assert [(r.n, r.trigger, r.credits, r.failed) for r in runs] == [
        (0, "manual", 1, False),
        (1, "manual", 1, False),
    ]
