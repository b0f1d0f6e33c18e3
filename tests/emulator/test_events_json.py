"""Run events read as JSON: ``GET …/events`` with ``Accept: application/json``.

The array is the ``data`` of every frame the stream would send now, in order,
after the same resume point; ``text/event-stream``, ``*/*`` or no Accept keep
the stream.
"""

from __future__ import annotations

import json

import httpx
import pytest
from httpx_sse import connect_sse

from scout_dagster.emulator import EmulatorServer, FaultConfig, ManualClock

JSON = {"Accept": "application/json"}


def _stream_data(client: httpx.Client, url: str) -> list[object]:
    with connect_sse(client, "GET", url) as source:
        return [json.loads(event.data) for event in source.iter_sse()]


@pytest.mark.parametrize("prefix", ["/v1/findall", "/v1/lists"])
def test_findall_events_as_json(client: httpx.Client, clock: ManualClock, prefix: str) -> None:
    run_id = client.post(f"{prefix}/runs", json={"query": "q", "limit": 3}).json()["findall_id"]
    url = f"{prefix}/runs/{run_id}/events"
    clock.advance(10.0)
    partial = client.get(url, headers=JSON)
    assert partial.status_code == 200
    assert partial.headers["content-type"].startswith("application/json")
    so_far = partial.json()
    assert [e["data"]["status"] for e in so_far[:2]] == ["queued", "running"]
    clock.advance(100.0)
    everything = client.get(url, headers=JSON).json()
    assert everything[: len(so_far)] == so_far  # only later events were added
    assert everything == _stream_data(client, url)
    assert all(isinstance(e, dict) and e["type"] for e in everything)
    resumed = client.get(url, headers={**JSON, "Last-Event-ID": "4"}).json()
    assert resumed == everything[4:]
    assert client.get(f"{url}?last_event_id=4", headers=JSON).json() == everything[4:]


def test_search_events_as_json(client: httpx.Client, clock: ManualClock) -> None:
    body = {"queries": ["a", "b"], "depth": "deep", "limit": 20}
    search_id = client.post("/v1/search", json=body).json()["search_id"]
    url = f"/v1/searches/{search_id}/events"
    assert client.get(url, headers=JSON).json() == []  # nothing has happened yet
    clock.advance(100.0)
    events = client.get(url, headers=JSON).json()
    assert [e["type"] for e in events] == ["run.progress"] * 4 + ["run.completed"]
    assert events == _stream_data(client, url)


@pytest.mark.parametrize(
    ("accept", "streams"),
    [
        (None, True),
        ("*/*", True),
        ("text/event-stream", True),
        ("application/json, text/event-stream", True),
        ("application/json", False),
        ("application/json;q=0.9, text/event-stream;q=0", False),
    ],
)
def test_accept_picks_the_form(
    client: httpx.Client, clock: ManualClock, accept: str | None, streams: bool
) -> None:
    run_id = client.post("/v1/findall", json={"query": "q", "limit": 1}).json()["findall_id"]
    headers = {"Accept": accept} if accept else {}
    request = client.build_request("GET", f"/v1/findall/runs/{run_id}/events", headers=headers)
    if accept is None:
        del request.headers["accept"]
    response = client.send(request)
    kind = "text/event-stream" if streams else "application/json"
    assert response.headers["content-type"].startswith(kind)


def test_json_events_get_json_faults_not_stream_faults(
    client: httpx.Client, emu: EmulatorServer
) -> None:
    run_id = client.post("/v1/findall", json={"query": "q", "limit": 1}).json()["findall_id"]
    url = f"/v1/findall/runs/{run_id}/events"
    emu.faults.configure(FaultConfig(stream_drop_after_events=1))
    assert len(client.get(url, headers=JSON).json()) > 1
    emu.faults.configure(FaultConfig())
    emu.faults.inject("malformed_json", path=url)
    garbled = client.get(url, headers=JSON)
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        garbled.json()
    assert emu.ledger.requests[-1].fault == "malformed_json"
    unknown = client.get("/v1/findall/runs/fa-missing/events", headers=JSON)
    assert unknown.status_code == 404
