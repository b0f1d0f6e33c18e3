"""Server-sent event streams: order, shapes, keep-alives, resume, drops, unknown events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from scout_dagster.emulator import EmulatorServer, FaultConfig, ManualClock

QUERY = "open-source database companies"


def _events(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None
) -> Iterator[ServerSentEvent]:
    with connect_sse(client, "GET", url, headers=dict(headers or {})) as source:
        yield from source.iter_sse()


def _all(client: httpx.Client, url: str, **headers: str) -> list[ServerSentEvent]:
    return list(_events(client, url, headers))


def _findall(client: httpx.Client, **body: object) -> str:
    return str(client.post("/v1/findall/runs", json={"query": QUERY, **body}).json()["findall_id"])


def _ids(events: list[ServerSentEvent]) -> list[int]:
    return [int(e.id) for e in events]


def test_findall_stream_order_and_shapes(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _findall(client, limit=4)
    clock.advance(100.0)
    events = _all(client, f"/v1/findall/runs/{run_id}/events")
    assert _ids(events) == list(range(1, len(events) + 1))
    payloads = [json.loads(e.data) for e in events]
    for event, payload in zip(events, payloads, strict=True):
        assert payload["type"] == event.event
        assert payload["event_id"] == event.id
        assert "timestamp" in payload
    assert [p["data"]["status"] for p in payloads[:2]] == ["queued", "running"]
    last = payloads[-1]
    assert last["type"] == "findall.status"
    assert last["data"]["status"]["status"] == "completed"
    assert last["data"] == client.get(f"/v1/findall/runs/{run_id}").json()
    kinds = [e.event for e in events]
    assert kinds.count("findall.candidate.matched") == 4
    heartbeats = [p for p in payloads if p["type"] == "findall.status"][2:-1]
    assert len(heartbeats) == 7  # every 5 s inside the 40 s running phase
    for position, kind in enumerate(kinds):
        if kind == "findall.candidate.generated":
            judged = payloads[position + 1]
            assert judged["type"].rsplit(".", 1)[-1] in ("matched", "unmatched", "discarded")
            same = payloads[position]["data"]["candidate_id"] == judged["data"]["candidate_id"]
            assert same
            assert payloads[position]["data"]["match_status"] == "generated"


def test_stream_follows_the_clock_and_closes_after_terminal(
    client: httpx.Client, clock: ManualClock
) -> None:
    run_id = _findall(client, limit=2)
    events = _events(client, f"/v1/findall/runs/{run_id}/events")
    first = next(events)
    assert json.loads(first.data)["data"]["status"] == "queued"
    clock.advance(2.0)
    second = next(events)
    assert json.loads(second.data)["data"]["status"] == "running"
    clock.advance(100.0)
    rest = list(events)  # ends by itself once the terminal event is sent
    assert json.loads(rest[-1].data)["data"]["status"]["status"] == "completed"
    assert _ids([first, second, *rest]) == list(range(1, len(rest) + 3))


def test_keep_alive_comments_while_waiting(client: httpx.Client, emu: EmulatorServer) -> None:
    run_id = _findall(client)
    keepalives = 0
    with client.stream("GET", f"/v1/findall/runs/{run_id}/events") as stream:
        for line in stream.iter_lines():
            keepalives += line == ": keep-alive"
            if keepalives == 2:
                break
    assert keepalives == 2


@pytest.mark.parametrize("via", ["header", "query"])
def test_resume_without_gaps_or_duplicates(
    client: httpx.Client, clock: ManualClock, via: str
) -> None:
    run_id = _findall(client, limit=5)
    clock.advance(100.0)
    url = f"/v1/findall/runs/{run_id}/events"
    full = _all(client, url)
    seen: list[ServerSentEvent] = []
    while not seen or int(seen[-1].id) < len(full):
        resume = seen[-1].id if seen else "0"
        stream = (
            _events(client, url, {"Last-Event-ID": resume})
            if via == "header"
            else _events(client, f"{url}?last_event_id={resume}")
        )
        for count, event in enumerate(stream, start=1):
            seen.append(event)
            if count == 3:
                break  # hang up after three events
    assert [(e.id, e.event, e.data) for e in seen] == [(e.id, e.event, e.data) for e in full]


def test_resume_point_past_the_end_closes(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _findall(client, limit=1)
    clock.advance(100.0)
    assert _all(client, f"/v1/findall/runs/{run_id}/events", **{"Last-Event-ID": "9999"}) == []
    response = client.get(f"/v1/findall/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "last_event_id"]


def test_stream_drop_fault_forces_resume(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    run_id = _findall(client, limit=3)
    clock.advance(100.0)
    url = f"/v1/findall/runs/{run_id}/events"
    expected = _all(client, url)
    emu.faults.configure(FaultConfig(stream_drop_after_events=4))
    seen: list[ServerSentEvent] = []
    drops = 0
    for _ in range(len(expected)):
        resume = seen[-1].id if seen else "0"
        try:
            for event in _events(client, url, {"Last-Event-ID": resume}):
                seen.append(event)
            break
        except httpx.RemoteProtocolError:
            drops += 1
    assert _ids(seen) == _ids(expected)
    assert drops == (len(expected) - 1) // 4
    assert emu.ledger.faults_injected() == {"stream_drop": drops}
    assert [r.fault for r in emu.ledger.requests if r.path == url][-1] is None


def test_stream_drop_rate_and_injection(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    run_id = _findall(client, limit=3)
    clock.advance(100.0)
    url = f"/v1/findall/runs/{run_id}/events"
    emu.faults.inject("stream_drop", path="/v1/findall/runs/")
    with pytest.raises(httpx.RemoteProtocolError):
        _all(client, url)
    assert len(_all(client, url)) > 1  # the injection was one-shot
    emu.faults.configure(FaultConfig(stream_drop_rate=1.0))
    received: list[ServerSentEvent] = []
    with pytest.raises(httpx.RemoteProtocolError):
        for event in _events(client, url):
            received.append(event)
    assert 1 <= len(received) <= 3


def test_search_stream(client: httpx.Client, clock: ManualClock) -> None:
    search_id = client.post(
        "/v1/search", json={"queries": ["a", "b"], "depth": "deep", "limit": 20}
    ).json()["search_id"]
    clock.advance(100.0)
    events = _all(client, f"/v1/searches/{search_id}/events")
    assert _ids(events) == list(range(1, len(events) + 1))
    progress = [json.loads(e.data) for e in events if e.event == "run.progress"]
    assert progress == [
        {"type": "run.progress", "pagesFetched": n, "pagesTarget": 4} for n in range(1, 5)
    ]
    terminal = json.loads(events[-1].data)
    assert events[-1].event == terminal["type"] == "run.completed"
    assert terminal["data"] == client.get(f"/v1/searches/{search_id}").json()


def test_cancel_truncates_the_timeline(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _findall(client)
    search_id = client.post(
        "/v1/search", json={"queries": ["a"], "depth": "deep", "limit": 50}
    ).json()["search_id"]
    clock.advance(20.0)
    client.post(f"/v1/findall/runs/{run_id}/cancel")
    client.post(f"/v1/searches/{search_id}/cancel")
    clock.advance(100.0)
    findall = _all(client, f"/v1/findall/runs/{run_id}/events")
    assert _ids(findall) == list(range(1, len(findall) + 1))
    last = json.loads(findall[-1].data)
    assert last["data"]["status"]["status"] == "cancelled"
    assert last["data"]["entities"] == []
    search = _all(client, f"/v1/searches/{search_id}/events")
    assert search[-1].event == "run.cancelled"
    pages = json.loads(search[-1].data)["data"]["pagesFetched"]
    assert 0 < pages < 5 and len(search) == pages + 1


def test_failed_run_streams_error_then_terminal(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    emu.faults.configure(FaultConfig(run_failure_rate=1.0))
    run_id = _findall(client)
    search_id = client.post("/v1/search", json={"queries": ["a"], "depth": "deep"}).json()[
        "search_id"
    ]
    clock.advance(100.0)
    events = _all(client, f"/v1/findall/runs/{run_id}/events")
    error, terminal = (json.loads(e.data) for e in events[-2:])
    assert events[-2].event == "error"
    assert error["type"] == "error" and error["error"]["message"]
    assert terminal["data"]["status"]["status"] == "failed"
    search = _all(client, f"/v1/searches/{search_id}/events")
    assert search[-1].event == "run.failed"


def test_unknown_events_fault(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    emu.faults.configure(FaultConfig(unknown_events=True))
    run_id = _findall(client, limit=2)
    search_id = client.post("/v1/search", json={"queries": ["a"], "depth": "deep"}).json()[
        "search_id"
    ]
    clock.advance(100.0)
    findall = _all(client, f"/v1/findall/runs/{run_id}/events")
    unknown = [json.loads(e.data) for e in findall if e.event == "findall.plan.updated"]
    assert len(unknown) == 2 and all(u["type"] == "findall.plan.updated" for u in unknown)
    assert _ids(findall) == list(range(1, len(findall) + 1))
    search = _all(client, f"/v1/searches/{search_id}/events")
    plan: list[Any] = [json.loads(e.data) for e in search if e.event == "run.plan"]
    assert len(plan) == 1 and plan[0]["type"] == "run.plan"


def test_stream_after_extend_goes_on(client: httpx.Client, clock: ManualClock) -> None:
    run_id = _findall(client, limit=1)
    clock.advance(50.0)
    url = f"/v1/findall/runs/{run_id}/events"
    first = _all(client, url)
    client.post(f"/v1/findall/runs/{run_id}/extend", json={"additional_limit": 1})
    clock.advance(50.0)
    rest = _all(client, url, **{"Last-Event-ID": first[-1].id})
    assert int(rest[0].id) == int(first[-1].id) + 1
    assert json.loads(rest[0].data)["data"]["status"] == "running"
    assert json.loads(rest[-1].data)["data"]["count"] == 2


def test_live_stream_on_a_fast_clock(fast_client: httpx.Client, fast: EmulatorServer) -> None:
    run_id = fast_client.post("/v1/findall/runs", json={"query": QUERY, "limit": 3}).json()[
        "findall_id"
    ]
    events = _all(fast_client, f"/v1/findall/runs/{run_id}/events")
    assert _ids(events) == list(range(1, len(events) + 1))
    assert json.loads(events[-1].data)["data"]["status"]["status"] == "completed"
    assert fast.ledger.run(run_id).state == "completed"
