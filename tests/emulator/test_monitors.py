"""Monitors over HTTP: CRUD, schedules on a ManualClock, runs, events (JSON and SSE),
credits, faults and idempotency."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from scout_dagster.emulator import (
    EmulatorConfig,
    EmulatorServer,
    FaultConfig,
    ManualClock,
    UnknownMonitorError,
)
from scout_dagster.emulator._cron import parse_cron

from .conftest import WAIT_TIMEOUT_S

QUERY = "battery recycling startups"
HOUR = 3600.0
EVENT_ID = re.compile(r"^mev_[0-9a-f]{12}_\d{6}$")

Json = dict[str, Any]


def _create(client: httpx.Client, **body: object) -> Json:
    payload: dict[str, object] = {"query": QUERY, "cadence": "hourly", **body}
    response = client.post("/v1/monitors", json=payload)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _events(client: httpx.Client, monitor_id: str, **params: object) -> list[Json]:
    response = client.get(f"/v1/monitors/{monitor_id}/events", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return list(response.json())


def _run(client: httpx.Client, monitor_id: str) -> Json:
    response = client.post(f"/v1/monitors/{monitor_id}/run")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _sse(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> Iterator[ServerSentEvent]:
    with connect_sse(client, "GET", url, headers=dict(headers or {})) as source:
        yield from source.iter_sse()


def _virtual(emu: EmulatorServer, stamp: str) -> float:
    """An API timestamp back in virtual seconds of the emulator's clock."""
    return datetime.fromisoformat(stamp).timestamp() - emu.state.timestamps.epoch


def _wall(emu: EmulatorServer, virtual_s: float) -> datetime:
    return datetime.fromtimestamp(emu.state.timestamps.epoch + virtual_s, UTC)


# --- create, retrieve, list ----------------------------------------------------


def test_create_and_retrieve(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    now = clock.now()
    monitor = _create(client, webhook="https://hooks.example.com/scout", limit=5)
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
    monitor = _create(client, cron="0 * * * *", cadence=None, tags=["x"], region="eu")
    assert monitor["cron"] == "0 * * * *" and monitor["cadence"] is None
    assert "tags" not in monitor


def test_list_is_paged_newest_first_and_per_key(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    ids = []
    for number in range(5):
        ids.append(_create(client, query=f"{QUERY} {number}")["monitor_id"])
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
    monitor = _create(client)
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
    noon = _wall(emu, _virtual(emu, to_cron["nextRunAt"]))
    assert (noon.hour, noon.minute, noon.second) == (12, 0, 0)
    assert 0 < _virtual(emu, to_cron["nextRunAt"]) - now <= 86400

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
    monitor_id = _create(client)["monitor_id"]
    _run(client, monitor_id)
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
    monitor_id = _create(client)["monitor_id"]
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
    monitor_id = _create(client)["monitor_id"]
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
    monitor = _create(client)
    monitor_id = monitor["monitor_id"]
    clock.advance(10.0)
    ran = _run(client, monitor_id)
    assert ran["lastRunAt"] == emu.state.timestamps.offset(clock.now())
    assert ran["credits"] == 1 and ran["nextRunAt"] == monitor["nextRunAt"]
    client.post(f"/v1/monitors/{monitor_id}/pause")
    clock.advance(10.0)
    again = _run(client, monitor_id)
    assert again["status"] == "paused" and again["nextRunAt"] is None
    assert again["credits"] == 2
    runs = emu.ledger.monitor(monitor_id).runs
    assert [(r.n, r.trigger, r.credits, r.failed) for r in runs] == [
        (0, "manual", 1, False),
        (1, "manual", 1, False),
    ]


# --- schedules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "interval"), [("hourly", 3600), ("daily", 86400), ("weekly", 604800)]
)
def test_cadence_schedule(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer, cadence: str, interval: int
) -> None:
    created = clock.now()
    monitor_id = _create(client, cadence=cadence)["monitor_id"]
    clock.advance(interval - 1)
    assert emu.ledger.monitor(monitor_id).runs == ()
    clock.advance(1.0)
    assert [r.at for r in emu.ledger.monitor(monitor_id).runs] == [created + interval]
    clock.advance(3 * interval + 0.5)
    snapshot = emu.ledger.monitor(monitor_id)
    assert [r.at for r in snapshot.runs] == [created + k * interval for k in range(1, 5)]
    assert all(r.trigger == "schedule" and r.credits == 1 for r in snapshot.runs)
    assert [r.n for r in snapshot.runs] == [0, 1, 2, 3]
    assert snapshot.next_run_at == created + 5 * interval
    body = client.get(f"/v1/monitors/{monitor_id}").json()
    assert body["lastRunAt"] == emu.state.timestamps.offset(created + 4 * interval)
    assert body["nextRunAt"] == emu.state.timestamps.offset(created + 5 * interval)
    assert body["credits"] == 4


def test_cron_schedule_every_quarter_hour(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    created = clock.now()
    monitor = _create(client, cadence=None, cron="*/15 * * * *")
    wall = emu.state.timestamps.epoch + created
    first = (math.floor(wall / 900) + 1) * 900 - emu.state.timestamps.epoch
    assert monitor["nextRunAt"] == emu.state.timestamps.offset(first)
    clock.advance(first - created + 3 * 900 + 1)
    runs = emu.ledger.monitor(monitor["monitor_id"]).runs
    assert [r.at for r in runs] == [first + k * 900 for k in range(4)]
    assert all(_wall(emu, r.at).minute % 15 == 0 and _wall(emu, r.at).second == 0 for r in runs)


def test_cron_schedule_weekdays(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    monitor_id = _create(client, cadence=None, cron="30 9 * * 1-5")["monitor_id"]
    clock.advance(7 * 86400)
    runs = emu.ledger.monitor(monitor_id).runs
    walls = [_wall(emu, r.at) for r in runs]
    assert len(walls) == 5
    assert all((w.hour, w.minute) == (9, 30) and w.isoweekday() <= 5 for w in walls)
    assert len({w.date() for w in walls}) == 5


def test_cron_day_fields() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)  # a Wednesday
    # Both day fields restricted: either matches (the 15th, or any Monday).
    either = parse_cron("0 0 15 * 1")
    assert either.next_after(start) == datetime(2025, 1, 6, tzinfo=UTC)
    assert either.next_after(datetime(2025, 1, 13, 1, tzinfo=UTC)) == datetime(
        2025, 1, 15, tzinfo=UTC
    )
    # Day-of-week 7 is Sunday; a step over a range; a comma list.
    assert parse_cron("0 6 * * 7").next_after(start) == datetime(2025, 1, 5, 6, tzinfo=UTC)
    assert parse_cron("10-20/5 * * * *").next_after(start) == datetime(
        2025, 1, 1, 0, 10, tzinfo=UTC
    )
    leap = parse_cron("0 0 29 2 *")
    assert leap.next_after(start) == datetime(2028, 2, 29, tzinfo=UTC)
    assert parse_cron("0,30 8 1 1,7 *").next_after(start) == datetime(2025, 1, 1, 8, tzinfo=UTC)


def test_catch_up_is_bounded(client: httpx.Client, clock: ManualClock, emu: EmulatorServer) -> None:
    monitor_id = _create(client, cadence=None, cron="* * * * *")["monitor_id"]
    clock.advance(2000 * 60.0)
    snapshot = emu.ledger.monitor(monitor_id)
    # 1000 runs executed in one catch-up, the missed ones skipped, the next slot after now.
    assert len(snapshot.runs) == 1000
    assert snapshot.next_run_at is not None and 0 < snapshot.next_run_at - clock.now() <= 60
    clock.advance(60.0)
    assert len(emu.ledger.monitor(monitor_id).runs) == 1001


# --- results, events, credits ---------------------------------------------------


def test_first_seen_once_and_no_event_without_news(
    client: httpx.Client, emu: EmulatorServer
) -> None:
    monitor_id = _create(client)["monitor_id"]
    runs = 0
    while runs < 300:
        _run(client, monitor_id)
        runs += 1
        if emu.ledger.monitor(monitor_id).runs[-1].event_id is None:
            break
    snapshot = emu.ledger.monitor(monitor_id)
    quiet = snapshot.runs[-1]
    assert quiet.event_id is None and quiet.credits == 1 and not quiet.failed
    events = _events(client, monitor_id)
    assert len(events) == snapshot.events < len(snapshot.runs)
    firsts: dict[str, int] = {}
    for position, event in enumerate(events):
        assert event["type"] == "monitor.results" and event["credits"] == 1
        assert event["error"] is None and event["monitor_id"] == monitor_id
        assert any(r["first_seen"] for r in event["results"])
        assert 0 < len(event["results"]) <= 10
        urls = [r["url"] for r in event["results"]]
        assert len(urls) == len(set(urls))
        for result in event["results"]:
            assert set(result) == {"title", "url", "snippet", "first_seen"}
            if result["first_seen"]:
                assert result["url"] not in firsts
                firsts[result["url"]] = position
            else:
                assert firsts[result["url"]] < position
    assert snapshot.credits == len(snapshot.runs) == runs
    assert client.get(f"/v1/monitors/{monitor_id}").json()["credits"] == runs


def test_limit_over_a_page_reads_more_pages(client: httpx.Client) -> None:
    monitor_id = _create(client, limit=25)["monitor_id"]
    _run(client, monitor_id)
    (event,) = _events(client, monitor_id)
    results = event["results"]
    assert 10 < len(results) <= 25
    assert all(r["first_seen"] for r in results)


def test_credits_in_the_monitor_and_the_ledger(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    findall = client.post("/v1/findall", json={"query": "q", "limit": 2}).json()
    first = _create(client)["monitor_id"]
    second = _create(client, cadence="daily")["monitor_id"]
    _run(client, second)
    clock.advance(3 * HOUR)
    assert client.get(f"/v1/monitors/{first}").json()["credits"] == 3
    assert client.get(f"/v1/monitors/{second}").json()["credits"] == 1
    assert emu.ledger.total_credits() == findall["credits"] + 3 + 1
    ledger = httpx.get(emu.url + "/_emulator/ledger").json()
    assert ledger["credits"] == emu.ledger.total_credits()
    by_id = {m["monitor_id"]: m for m in ledger["monitors"]}
    assert by_id[first]["credits"] == 3 and len(by_id[first]["runs"]) == 3
    assert by_id[second]["runs"][0]["trigger"] == "manual"
    emu.state.reset()
    assert emu.ledger.monitors() == [] and emu.ledger.total_credits() == 0


def test_events_pages_with_after_and_limit(client: httpx.Client, emu: EmulatorServer) -> None:
    monitor_id = _create(client)["monitor_id"]
    for _ in range(6):
        _run(client, monitor_id)
    everything = _events(client, monitor_id)
    assert len(everything) >= 5
    ids = [e["event_id"] for e in everything]
    assert all(EVENT_ID.match(i) for i in ids) and ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["run_at"] for e in everything] == sorted(e["run_at"] for e in everything)
    paged: list[Json] = []
    after: str | None = None
    while True:
        params: dict[str, object] = {"limit": 2, **({"after": after} if after else {})}
        page = _events(client, monitor_id, **params)
        if not page:
            break
        assert len(page) <= 2
        paged += page
        after = page[-1]["event_id"]
    assert paged == everything
    assert _events(client, monitor_id, after=ids[-1]) == []
    assert _events(client, monitor_id, limit=1) == everything[:1]
    accept_json = client.get(
        f"/v1/monitors/{monitor_id}/events", headers={"Accept": "application/json"}
    )
    assert accept_json.headers["content-type"].startswith("application/json")
    assert accept_json.json() == everything

    unknown = client.get(f"/v1/monitors/{monitor_id}/events", params={"after": "mev_nope"})
    assert unknown.status_code == 400
    assert "mev_nope" in unknown.json()["detail"] and monitor_id in unknown.json()["detail"]
    other_id = _create(client)["monitor_id"]
    foreign = client.get(f"/v1/monitors/{other_id}/events", params={"after": ids[0]})
    assert foreign.status_code == 400  # another monitor's event id is unknown here
    for bad in ("limit=0", "limit=101", "limit=x"):
        response = client.get(f"/v1/monitors/{monitor_id}/events?{bad}")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_sse_frames_match_the_json_events(client: httpx.Client) -> None:
    monitor_id = _create(client)["monitor_id"]
    for _ in range(4):
        _run(client, monitor_id)
    everything = _events(client, monitor_id)
    url = f"/v1/monitors/{monitor_id}/events"
    received: list[ServerSentEvent] = []
    for event in _sse(client, url):
        received.append(event)
        if len(received) == len(everything):
            break
    assert [e.id for e in received] == [e["event_id"] for e in everything]
    assert [e.event for e in received] == [e["type"] for e in everything]
    assert [json.loads(e.data) for e in received] == everything
    assert all("\n" not in e.data and ", " not in e.data[:40] for e in received)


@pytest.mark.parametrize("via", ["header", "last_event_id", "after"])
def test_sse_resumes_without_loss_or_repeat(
    client: httpx.Client, clock: ManualClock, via: str
) -> None:
    monitor_id = _create(client)["monitor_id"]
    for _ in range(5):
        _run(client, monitor_id)
    expected = [e["event_id"] for e in _events(client, monitor_id)]
    url = f"/v1/monitors/{monitor_id}/events"
    seen: list[str] = []
    while len(seen) < len(expected):
        if not seen:
            stream = _sse(client, url)
        elif via == "header":
            stream = _sse(client, url, {"Last-Event-ID": seen[-1]})
        else:
            stream = _sse(client, f"{url}?{via}={seen[-1]}")
        for count, event in enumerate(stream, start=1):
            seen.append(event.id)
            if count == 2 or len(seen) == len(expected):
                break  # hang up after two events
    assert seen == expected
    bad = client.get(url, headers={"Accept": "text/event-stream", "Last-Event-ID": "mev_x"})
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]


def test_stream_follows_the_clock_and_ends_on_delete(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    monitor_id = _create(client)["monitor_id"]
    _run(client, monitor_id)
    stream = _sse(client, f"/v1/monitors/{monitor_id}/events")
    first = next(stream)
    assert json.loads(first.data)["type"] == "monitor.results"
    clock.advance(HOUR)  # the scheduled run happens while the stream waits
    second = next(stream)
    assert json.loads(second.data)["run_at"] == emu.state.timestamps.offset(
        emu.ledger.monitor(monitor_id).runs[1].at
    )
    assert client.delete(f"/v1/monitors/{monitor_id}").status_code == 200
    assert list(stream) == []  # the open stream ends by itself once the monitor is deleted


def test_stream_keep_alives(client: httpx.Client) -> None:
    monitor_id = _create(client)["monitor_id"]
    keepalives = 0
    headers = {"Accept": "text/event-stream"}
    with client.stream("GET", f"/v1/monitors/{monitor_id}/events", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            keepalives += line == ": keep-alive"
            if keepalives == 2:
                break
    assert keepalives == 2


# --- faults and idempotency -----------------------------------------------------


def test_stream_drop_fault(client: httpx.Client, emu: EmulatorServer) -> None:
    monitor_id = _create(client)["monitor_id"]
    for _ in range(5):
        _run(client, monitor_id)
    expected = [e["event_id"] for e in _events(client, monitor_id)]
    emu.faults.configure(FaultConfig(stream_drop_after_events=2))
    url = f"/v1/monitors/{monitor_id}/events"
    seen: list[str] = []
    drops = 0
    while len(seen) < len(expected):
        headers = {"Last-Event-ID": seen[-1]} if seen else {}
        try:
            for event in _sse(client, url, headers):
                seen.append(event.id)
                if len(seen) == len(expected):
                    break
        except httpx.RemoteProtocolError:
            drops += 1
    assert seen == expected and drops >= 1
    assert emu.ledger.faults_injected()["stream_drop"] == drops
    # The JSON form is a JSON answer: stream faults leave it alone.
    assert [e["event_id"] for e in _events(client, monitor_id)] == expected


def test_injected_errors_on_monitor_routes(client: httpx.Client, emu: EmulatorServer) -> None:
    emu.faults.inject("server_error", status=503, method="POST", path="/v1/monitors")
    refused = client.post("/v1/monitors", json={"query": QUERY, "cadence": "daily"})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert emu.ledger.monitors() == []  # nothing happened: a retry is safe
    monitor_id = _create(client)["monitor_id"]
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
    monitor_id = _create(client)["monitor_id"]
    _run(client, monitor_id)
    emu.faults.configure(FaultConfig(run_failure_rate=1.0))
    failed = _run(client, monitor_id)
    assert failed["credits"] == 1 and failed["lastRunAt"] == emu.state.timestamps.offset(
        clock.now()
    )
    clock.advance(HOUR)  # the scheduled run fails too
    events = _events(client, monitor_id)
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
    assert _run(client, monitor_id)["credits"] == 2


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
    monitor_id = _create(poor)["monitor_id"]
    for _ in range(3):
        _run(poor, monitor_id)
    refused = poor.post(f"/v1/monitors/{monitor_id}/run")
    assert refused.status_code == 402
    assert refused.json() == {"detail": "Insufficient credits: 0 left, a monitor run needs 1"}
    assert len(balance_server.ledger.monitor(monitor_id).runs) == 3
    clock.advance(HOUR)
    last = _events(poor, monitor_id)[-1]
    assert last["type"] == "monitor.run.failed" and last["credits"] == 0
    assert last["error"].startswith("Insufficient credits")
    assert balance_server.ledger.total_credits() == 3
    # FindAll creates see monitor credits in the balance too.
    assert poor.post("/v1/search", json={"queries": ["q"], "depth": "shallow"}).status_code == 402
