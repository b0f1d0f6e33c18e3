"""Monitors against a hostile server that fails: retryable errors retried,
lasting ones failing the tick naming the call and status, a monitor deleted
mid-way, the run-now job, and an event stream resumed without losing or
repeating an event."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
)

from scout_dagster import (
    MonitorEvent,
    ScoutNotFoundError,
    ScoutServerError,
    build_scout_monitor_assets,
    build_scout_monitor_run_job,
    build_scout_monitor_sensor,
)
from tests.hostile.monitor_support import (
    ASSET,
    KEY,
    ODD_IDS,
    QUERY,
    Daemon,
    client,
    emit,
    monitor_assets,
    resources,
)
from tests.hostile.run_support import failure_text
from tests.hostile.server import HostileServer, Scenario

# ---------------------------------------------------------------- 4. errors


@pytest.mark.timeout(60)
def test_retryable_event_list_errors_are_retried_until_the_tick_succeeds(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    scenario = Scenario(events_failures=[500, 429, 503, 502], events_retry_after="1")
    with HostileServer(KEY, scenario) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        emitted = emit(server, monitor_id, 3)
        daemon = Daemon(
            build_scout_monitor_sensor(assets),
            assets,
            instance,
            resources(server, tmp_path, max_retries=4),
        )
        requests = daemon.tick()
        reads = server.events_reads
        results = daemon.launch()
    assert requests is not None
    assert [r.run_key for r in requests] == [e["event_id"] for e in emitted]
    assert reads == 5  # four refused, the fifth answered
    assert all(r.success for r in results)


@pytest.mark.timeout(60)
def test_an_event_list_that_keeps_failing_fails_the_tick_naming_the_call_and_status(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    with HostileServer(KEY, Scenario(events_failures=[500] * 10)) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        daemon = Daemon(
            build_scout_monitor_sensor(assets),
            assets,
            instance,
            resources(server, tmp_path, max_retries=2),
        )
        with pytest.raises(ScoutServerError) as error:
            daemon.tick()
        reads = server.events_reads
    assert reads == 3  # the first attempt and two retries
    assert f"GET /v1/monitors/{monitor_id}/events returned 500" in str(error.value)
    assert daemon.cursor is None and daemon.ticks == []


@pytest.mark.timeout(60)
def test_a_monitor_deleted_between_the_tick_and_its_run_fails_both_naming_call_and_404(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    with HostileServer(KEY) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = build_scout_monitor_assets("chips", monitor_id)  # the query read at run time
        daemon = Daemon(
            build_scout_monitor_sensor(assets), assets, instance, resources(server, tmp_path)
        )
        emit(server, monitor_id, 2)
        requests = daemon.tick()
        assert requests and len(requests) == 2
        client(server).monitors.delete(monitor_id)  # through the API, between tick and run
        requests_before = len(server.requests)
        results = daemon.launch()
        reads_for_runs = len(server.requests) - requests_before
        with pytest.raises(ScoutNotFoundError) as tick_error:
            daemon.tick()
        cursor = daemon.cursor

    path = f"/v1/monitors/{monitor_id}/events"
    assert [r.success for r in results] == [False, False]
    for result in results:
        text = failure_text(result)
        assert f"GET {path} returned 404" in text, text[:2000]
        assert not (tmp_path / ASSET).exists() or not any((tmp_path / ASSET).iterdir())
    assert reads_for_runs == 2, "a 404 was retried"  # one read per run, none retried
    assert f"GET {path} returned 404" in str(tick_error.value)
    assert monitor_id in str(tick_error.value)
    assert cursor == requests[-1].run_key  # a failed tick moved nothing


@pytest.mark.timeout(60)
def test_the_run_now_job_makes_one_event_that_the_sensor_requests_once(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    with HostileServer(KEY) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        res = resources(server, tmp_path)
        run_now = build_scout_monitor_run_job(assets)
        assert run_now.execute_in_process(instance=instance, resources=res).success
        daemon = Daemon(build_scout_monitor_sensor(assets), assets, instance, res)
        requested = daemon.drain()
        [result] = daemon.launch()
        events = server.monitor_events(monitor_id)
        runs = list(server.monitor_runs)

        server.delete_monitor(monitor_id)
        gone = run_now.execute_in_process(instance=instance, resources=res, raise_on_error=False)
    assert runs == [monitor_id]
    assert requested == [e["event_id"] for e in events] and len(events) == 1
    assert result.success
    assert not gone.success
    text = "\n".join(
        (e.step_failure_data.user_failure_data.description or "")
        for e in gone.get_step_failure_events()
        if e.step_failure_data.user_failure_data is not None
    )
    assert f"POST /v1/monitors/{monitor_id}/run returned 404" in text, text


@pytest.mark.timeout(60)
def test_deleting_a_monitor_whose_server_answers_204_succeeds_once() -> None:
    with HostileServer(KEY, Scenario(delete_answers_204=True)) as server:
        monitor_id = server.add_monitor(QUERY)
        with client(server) as scout:
            outcome: BaseException | None = None
            try:
                scout.monitors.delete(monitor_id)
            except Exception as exc:  # reported below, with what reached the server
                outcome = exc
        deletes = [r for r in server.requests if r.method == "DELETE"]
    assert monitor_id not in server.monitor_ids
    assert outcome is None, f"{len(deletes)} DELETE(s), then: {outcome!r}"
    assert len(deletes) == 1


# ---------------------------------------------------------------- 5. the event stream


STREAM_SCENARIOS = {
    "drops-after-each-event": Scenario(stream_drops=True),
    "drops-with-odd-ids-and-unknown-types": Scenario(
        stream_drops=True, event_ids=list(ODD_IDS), unknown_events=1
    ),
    "trickled-frames-that-drop": Scenario(stream_drops=True, trickle_events_s=0.0001),
    "keeps-the-connection": Scenario(),
    "non-ascii-ids-that-drop": pytest.param(
        Scenario(stream_drops=True, event_ids=["évènement-1", "événement-2", "ev-3", "ev-4"]),
    ),
}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scenario", STREAM_SCENARIOS.values(), ids=STREAM_SCENARIOS.keys())
def test_the_event_stream_resumes_without_losing_or_repeating_an_event(
    scenario: Scenario,
) -> None:
    total = min(len(scenario.event_ids or ODD_IDS), 6)
    with HostileServer(KEY, scenario) as server:
        monitor_id = server.add_monitor(QUERY)
        first = emit(server, monitor_id, total // 2)
        got: list[MonitorEvent] = []
        with client(server) as scout:
            stream = scout.monitors.stream_events(monitor_id)
            got += [next(stream) for _ in first]
            # Events made while the stream is open (or between its connections).
            later = threading.Thread(target=emit, args=(server, monitor_id, total - len(first)))
            later.start()
            got += [next(stream) for _ in range(total - len(first))]
            later.join(10)
            stream.close()

            # A new stream from the middle: only what came after.
            middle = got[len(first) - 1].event_id
            resumed = scout.monitors.stream_events(monitor_id, last_event_id=middle)
            rest = [next(resumed).event_id for _ in range(total - len(first))]
            resumed.close()
        events = server.monitor_events(monitor_id)
        connects = [r for r in server.requests if "/events" in r.raw_path.split("?")[0]]
    assert [e.event_id for e in got] == [e["event_id"] for e in events]
    assert [[r.url for r in e.results] for e in got] == [
        [r["url"] for r in e["results"]] for e in events
    ]
    assert all(e.type == "monitor.results" for e in got)
    assert rest == [e["event_id"] for e in events[len(first) :]]
    if scenario.stream_drops:
        assert len(connects) >= total + 1, "the stream never dropped: the test is blind"
