"""Monitors' results, events (JSON pages and SSE, resumed) and credits."""

from __future__ import annotations

import json

import httpx
import pytest
from httpx_sse import ServerSentEvent

from scout_dagster.emulator import (
    EmulatorServer,
    ManualClock,
)
from tests.emulator.monitor_calls import (
    EVENT_ID,
    HOUR,
    Json,
    create_monitor,
    list_events,
    run_monitor,
    sse_events,
)

# --- results, events, credits ---------------------------------------------------


def test_first_seen_once_and_no_event_without_news(
    client: httpx.Client, emu: EmulatorServer
) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    runs = 0
    while runs < 300:
        run_monitor(client, monitor_id)
        runs += 1
        if emu.ledger.monitor(monitor_id).runs[-1].event_id is None:
            break
    snapshot = emu.ledger.monitor(monitor_id)
    quiet = snapshot.runs[-1]
    assert quiet.event_id is None and quiet.credits == 1 and not quiet.failed
    events = list_events(client, monitor_id)
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
    monitor_id = create_monitor(client, limit=25)["monitor_id"]
    run_monitor(client, monitor_id)
    (event,) = list_events(client, monitor_id)
    results = event["results"]
    assert 10 < len(results) <= 25
    assert all(r["first_seen"] for r in results)


def test_credits_in_the_monitor_and_the_ledger(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    findall = client.post("/v1/findall", json={"query": "q", "limit": 2}).json()
    first = create_monitor(client)["monitor_id"]
    second = create_monitor(client, cadence="daily")["monitor_id"]
    run_monitor(client, second)
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
    monitor_id = create_monitor(client)["monitor_id"]
    for _ in range(6):
        run_monitor(client, monitor_id)
    everything = list_events(client, monitor_id)
    assert len(everything) >= 5
    ids = [e["event_id"] for e in everything]
    assert all(EVENT_ID.match(i) for i in ids) and ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["run_at"] for e in everything] == sorted(e["run_at"] for e in everything)
    paged: list[Json] = []
    after: str | None = None
    while True:
        params: dict[str, object] = {"limit": 2, **({"after": after} if after else {})}
        page = list_events(client, monitor_id, **params)
        if not page:
            break
        assert len(page) <= 2
        paged += page
        after = page[-1]["event_id"]
    assert paged == everything
    assert list_events(client, monitor_id, after=ids[-1]) == []
    assert list_events(client, monitor_id, limit=1) == everything[:1]
    accept_json = client.get(
        f"/v1/monitors/{monitor_id}/events", headers={"Accept": "application/json"}
    )
    assert accept_json.headers["content-type"].startswith("application/json")
    assert accept_json.json() == everything

    unknown = client.get(f"/v1/monitors/{monitor_id}/events", params={"after": "mev_nope"})
    assert unknown.status_code == 400
    assert "mev_nope" in unknown.json()["detail"] and monitor_id in unknown.json()["detail"]
    other_id = create_monitor(client)["monitor_id"]
    foreign = client.get(f"/v1/monitors/{other_id}/events", params={"after": ids[0]})
    assert foreign.status_code == 400  # another monitor's event id is unknown here
    for bad in ("limit=0", "limit=101", "limit=x"):
        response = client.get(f"/v1/monitors/{monitor_id}/events?{bad}")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_sse_frames_match_the_json_events(client: httpx.Client) -> None:
    monitor_id = create_monitor(client)["monitor_id"]
    for _ in range(4):
        run_monitor(client, monitor_id)
    everything = list_events(client, monitor_id)
    url = f"/v1/monitors/{monitor_id}/events"
    received: list[ServerSentEvent] = []
    for event in sse_events(client, url):
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
    monitor_id = create_monitor(client)["monitor_id"]
    for _ in range(5):
        run_monitor(client, monitor_id)
    expected = [e["event_id"] for e in list_events(client, monitor_id)]
    url = f"/v1/monitors/{monitor_id}/events"
    seen: list[str] = []
    while len(seen) < len(expected):
        if not seen:
            stream = sse_events(client, url)
        elif via == "header":
            stream = sse_events(client, url, {"Last-Event-ID": seen[-1]})
        else:
            stream = sse_events(client, f"{url}?{via}={seen[-1]}")
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
    monitor_id = create_monitor(client)["monitor_id"]
    run_monitor(client, monitor_id)
    stream = sse_events(client, f"/v1/monitors/{monitor_id}/events")
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
    monitor_id = create_monitor(client)["monitor_id"]
    keepalives = 0
    headers = {"Accept": "text/event-stream"}
    with client.stream("GET", f"/v1/monitors/{monitor_id}/events", headers=headers) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            keepalives += line == ": keep-alive"
            if keepalives == 2:
                break
    assert keepalives == 2
