"""``client.monitors`` against the emulator: every call, with its clock moved by the test."""

from __future__ import annotations

import threading

import pytest

from scout_dagster import (
    MonitorEvent,
    MonitorRequest,
    ScoutNotFoundError,
    ScoutValidationError,
)
from scout_dagster.emulator import EmulatorServer, ManualClock
from tests.conftest import make_client

HOUR_S = 3600.0


def _clock(server: EmulatorServer) -> ManualClock:
    clock = server.state.clock
    assert isinstance(clock, ManualClock)
    return clock


def test_create_get_list_update_pause_resume_run_delete(manual_emulator: EmulatorServer) -> None:
    client, _ = make_client(manual_emulator)
    created = client.monitors.create(MonitorRequest("solid-state batteries", cadence="daily"))
    assert created.is_active and created.cadence == "daily" and created.credits == 0
    other = client.monitors.create("sodium-ion cells", cron="0 9 * * 1", limit=5)
    assert client.monitors.get(created.monitor_id).query == "solid-state batteries"
    listed = [m.monitor_id for m in client.monitors.list(page_size=1)]  # paged one at a time
    assert listed == [other.monitor_id, created.monitor_id]  # newest first

    updated = client.monitors.update(created.monitor_id, cadence="hourly")
    assert updated.cadence == "hourly"
    paused = client.monitors.pause(created.monitor_id)
    assert not paused.is_active and paused.next_run_at is None
    resumed = client.monitors.resume(created.monitor_id)
    assert resumed.is_active and resumed.next_run_at is not None

    ran = client.monitors.run(created.monitor_id)
    assert ran.last_run_at is not None and ran.credits == 1
    [event] = client.monitors.events(created.monitor_id)
    assert event.type == "monitor.results" and event.new_results == event.results

    client.monitors.delete(created.monitor_id)
    with pytest.raises(ScoutNotFoundError, match=r"(?s)GET /v1/monitors/.*404"):
        client.monitors.get(created.monitor_id)
    assert [m.monitor_id for m in client.monitors.list()] == [other.monitor_id]


def test_requests_are_checked_before_anything_is_sent(manual_emulator: EmulatorServer) -> None:
    client, _ = make_client(manual_emulator)
    for bad in (
        {"query": "q"},  # no schedule
        {"query": "q", "cadence": "daily", "cron": "0 9 * * *"},
        {"query": "q", "cadence": "monthly"},
        {"query": "q", "cron": "every day"},
        {"query": " ", "cadence": "daily"},
        {"query": "q", "cadence": "daily", "limit": 0},
        {"query": "q", "cadence": "daily", "webhook": "not a url"},
    ):
        with pytest.raises(ValueError):
            client.monitors.create(**bad)
    with pytest.raises(ValueError, match="no field"):
        client.monitors.update("mon_x", cadance="daily")
    with pytest.raises(ValueError, match="not both"):
        client.monitors.update("mon_x", cadence="daily", cron="0 9 * * *")
    assert manual_emulator.ledger.requests == []


def test_the_server_refuses_what_it_cannot_take(manual_emulator: EmulatorServer) -> None:
    """A body the client let through but the server refuses: its 422, named."""
    client, _ = make_client(manual_emulator)
    monitor = client.monitors.create("q", cadence="daily")
    with pytest.raises(ScoutValidationError, match="422"):
        client._request("PATCH", f"/v1/monitors/{monitor.monitor_id}", body={"cron": "61 * * * *"})


def test_events_are_paged_with_after_and_new_results_are_new_once(
    manual_emulator: EmulatorServer,
) -> None:
    client, _ = make_client(manual_emulator)
    monitor = client.monitors.create("AI chip export controls", cadence="hourly").monitor_id
    _clock(manual_emulator).advance(30 * HOUR_S)
    everything = list(client.monitors.iter_events(monitor))
    assert len(everything) >= 2
    pages: list[MonitorEvent] = []
    after = None
    while page := client.monitors.events(monitor, after=after, limit=2):
        pages += page
        after = page[-1].event_id
    assert [e.event_id for e in pages] == [e.event_id for e in everything]
    new_urls = [r.url for e in everything for r in e.new_results]
    assert len(new_urls) == len(set(new_urls))  # first seen once per monitor
    snapshot = manual_emulator.ledger.monitor(monitor)
    assert client.monitors.get(monitor).credits == snapshot.credits == len(snapshot.runs)


def test_the_stream_resumes_after_the_last_event_seen(manual_emulator: EmulatorServer) -> None:
    client, _ = make_client(manual_emulator)
    monitor = client.monitors.create("AI chip export controls", cadence="hourly").monitor_id
    clock = _clock(manual_emulator)
    clock.advance(10 * HOUR_S)
    listed = [e.event_id for e in client.monitors.iter_events(monitor)]
    assert len(listed) >= 2

    streamed: list[str] = []
    for event in client.monitors.stream_events(monitor):
        streamed.append(event.event_id)
        if len(streamed) == 1:
            break
    for event in client.monitors.stream_events(monitor, last_event_id=streamed[-1]):
        streamed.append(event.event_id)
        if len(streamed) == len(listed):
            break
    assert streamed == listed

    # A live stream hands over an event as the monitor makes it.
    got: list[str] = []
    done = threading.Event()

    def follow() -> None:
        for event in client.monitors.stream_events(monitor, last_event_id=listed[-1]):
            got.append(event.event_id)
            done.set()
            return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    before = len(listed)
    while len(list(client.monitors.iter_events(monitor))) == before:
        clock.advance(HOUR_S)
    assert done.wait(10.0)
    thread.join(10.0)
    assert got == [e.event_id for e in client.monitors.iter_events(monitor, after=listed[-1])][:1]
