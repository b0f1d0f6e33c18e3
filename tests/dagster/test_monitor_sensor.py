"""Monitors in Dagster, against the emulator on a clock the tests move.

The sensor is evaluated as Dagster evaluates it (``build_sensor_context`` with
a real instance here; the daemon's own tick loop in ``test_monitor_daemon``),
its runs materialized with ``materialize`` and their Parquet read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    DefaultSensorStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_scout_monitor_assets,
    build_scout_monitor_run_job,
    build_scout_monitor_sensor,
    monitor_partition_key,
)
from scout_dagster.emulator import EmulatorServer, ManualClock
from tests.conftest import TEST_KEY, make_client

HOUR_S = 3600.0
QUERY = "AI chip export controls"


def _resources(server: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url, max_retries=3),
        "io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def _clock(server: EmulatorServer) -> ManualClock:
    clock = server.state.clock
    assert isinstance(clock, ManualClock)
    return clock


def _tick(
    sensor: Any, instance: DagsterInstance, resources: dict[str, Any], cursor: str | None
) -> SensorResult | SkipReason:
    with build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        result = sensor(context)
    assert isinstance(result, SensorResult | SkipReason), result
    return result


def _requests(result: SensorResult | SkipReason) -> list[RunRequest]:
    assert isinstance(result, SensorResult), result
    return list(result.run_requests or [])


def _apply(instance: DagsterInstance, result: SensorResult) -> None:
    """What the daemon does with a tick's partition requests."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))


def _materialize(
    assets: Any, request: RunRequest, instance: DagsterInstance, resources: dict[str, Any]
) -> Any:
    result = materialize(
        [assets],
        partition_key=request.partition_key,
        instance=instance,
        resources=resources,
        tags=dict(request.tags),
    )
    assert result.success
    return result


@pytest.fixture
def monitor(manual_emulator: EmulatorServer) -> str:
    client, _ = make_client(manual_emulator)
    with client:
        return client.monitors.create(QUERY, cadence="hourly", limit=10).monitor_id


def test_each_new_event_is_one_partition_and_one_run_keyed_by_the_event(
    manual_emulator: EmulatorServer, monitor: str, tmp_path: Path
) -> None:
    instance = DagsterInstance.ephemeral()
    resources = _resources(manual_emulator, tmp_path)
    assets = build_scout_monitor_assets("chips", monitor, query=QUERY)
    sensor = build_scout_monitor_sensor(assets)
    assert sensor.default_status == DefaultSensorStatus.STOPPED  # its runs cost credits

    assert isinstance(_tick(sensor, instance, resources, None), SkipReason)  # nothing yet
    _clock(manual_emulator).advance(3 * HOUR_S)
    client, _ = make_client(manual_emulator)
    events = client.monitors.events(monitor)
    assert len(events) >= 2  # three runs; the first always finds something new

    result = _tick(sensor, instance, resources, None)
    assert isinstance(result, SensorResult)
    requests = _requests(result)
    assert [r.run_key for r in requests] == [e.event_id for e in events]
    assert [r.partition_key for r in requests] == [
        monitor_partition_key(e.event_id) for e in events
    ]
    assert result.cursor == events[-1].event_id
    _apply(instance, result)
    assert instance.get_dynamic_partitions("scout_monitor_chips") == [
        r.partition_key for r in requests
    ]

    # The same tick again (the cursor did not move): the same run keys, which
    # Dagster never runs twice; a tick after the cursor: nothing.
    again = _requests(_tick(sensor, instance, resources, None))
    assert [r.run_key for r in again] == [r.run_key for r in requests]
    assert isinstance(_tick(sensor, instance, resources, result.cursor), SkipReason)

    credits = 0
    for request, event in zip(requests, events, strict=True):
        run = _materialize(assets, request, instance, resources)
        [materialization] = run.asset_materializations_for_node("chips_monitor_results")
        metadata = materialization.metadata
        assert metadata["scout/event_id"].value == event.event_id
        assert metadata["scout/monitor_id"].value == monitor
        credits += metadata["scout/credits"].value
        table = pq.read_table(
            tmp_path / "chips_monitor_results" / f"partition={request.partition_key}"
        )
        assert table.column("source_url").to_pylist() == [r.url for r in event.results]
        assert table.column("first_seen").to_pylist() == [r.first_seen for r in event.results]
        assert set(table.column("event_id").to_pylist()) == {event.event_id}
        assert set(table.column("monitor_id").to_pylist()) == {monitor}
        assert set(table.column("partition_key").to_pylist()) == {request.partition_key}
        assert set(table.column("query").to_pylist()) == {QUERY}
        assert any(table.column("first_seen").to_pylist())
    # Credits of the events read equal what the monitor's runs that made them cost.
    ledger = manual_emulator.ledger.monitor(monitor)
    assert credits == sum(r.credits for r in ledger.runs if r.event_id is not None)


def test_a_tick_reads_a_bounded_number_of_events_and_the_next_carries_on(
    manual_emulator: EmulatorServer, monitor: str, tmp_path: Path
) -> None:
    instance = DagsterInstance.ephemeral()
    resources = _resources(manual_emulator, tmp_path)
    assets = build_scout_monitor_assets("chips", monitor)
    sensor = build_scout_monitor_sensor(assets, max_events_per_tick=2)
    _clock(manual_emulator).advance(12 * HOUR_S)
    client, _ = make_client(manual_emulator)
    everything = [e.event_id for e in client.monitors.iter_events(monitor)]
    assert len(everything) > 2

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(len(everything)):
        result = _tick(sensor, instance, resources, cursor)
        if isinstance(result, SkipReason):
            break
        requests = _requests(result)
        assert 1 <= len(requests) <= 2
        seen += [str(r.run_key) for r in requests]
        cursor = result.cursor
    assert seen == everything  # none twice, none skipped


def test_a_partition_materialized_without_the_sensor_finds_its_event(
    manual_emulator: EmulatorServer, monitor: str, tmp_path: Path
) -> None:
    """A re-execution from the UI carries no sensor tags: the event is looked up."""
    instance = DagsterInstance.ephemeral()
    resources = _resources(manual_emulator, tmp_path)
    assets = build_scout_monitor_assets("chips", monitor)
    _clock(manual_emulator).advance(5 * HOUR_S)
    client, _ = make_client(manual_emulator)
    event = client.monitors.events(monitor)[-1]
    key = monitor_partition_key(event.event_id)
    instance.add_dynamic_partitions("scout_monitor_chips", [key])
    assert materialize([assets], partition_key=key, instance=instance, resources=resources).success
    table = pq.read_table(tmp_path / "chips_monitor_results" / f"partition={key}")
    assert table.column("source_url").to_pylist() == [r.url for r in event.results]
    assert set(table.column("query").to_pylist()) == {QUERY}  # read from the monitor


def test_pausing_stops_the_events_and_deleting_ends_them(
    manual_emulator: EmulatorServer, monitor: str, tmp_path: Path
) -> None:
    instance = DagsterInstance.ephemeral()
    resources = _resources(manual_emulator, tmp_path)
    sensor = build_scout_monitor_sensor(build_scout_monitor_assets("chips", monitor))
    clock = _clock(manual_emulator)
    client, _ = make_client(manual_emulator)
    clock.advance(2 * HOUR_S)
    result = _tick(sensor, instance, resources, None)
    assert isinstance(result, SensorResult)
    cursor = result.cursor

    client.monitors.pause(monitor)
    clock.advance(10 * HOUR_S)
    assert isinstance(_tick(sensor, instance, resources, cursor), SkipReason)
    client.monitors.resume(monitor)
    clock.advance(10 * HOUR_S)
    assert _requests(_tick(sensor, instance, resources, cursor))

    client.monitors.delete(monitor)
    clock.advance(10 * HOUR_S)
    with pytest.raises(Exception, match=f"(?s)404.*{monitor}"):
        _tick(sensor, instance, resources, cursor)


def test_a_run_dagster_triggered_is_processed_once_through_the_sensor(
    manual_emulator: EmulatorServer, tmp_path: Path
) -> None:
    client, _ = make_client(manual_emulator)
    monitor = client.monitors.create(QUERY, cadence="weekly").monitor_id
    instance = DagsterInstance.ephemeral()
    resources = _resources(manual_emulator, tmp_path)
    assets = build_scout_monitor_assets("chips", monitor)
    sensor = build_scout_monitor_sensor(assets)
    run_now = build_scout_monitor_run_job(assets)

    assert run_now.execute_in_process(instance=instance, resources=resources).success
    [event] = client.monitors.events(monitor)  # the run Dagster asked for found something
    runs = manual_emulator.ledger.monitor(monitor).runs
    assert [r.trigger for r in runs] == ["manual"]

    first = _tick(sensor, instance, resources, None)
    assert [r.run_key for r in _requests(first)] == [event.event_id]
    assert isinstance(first, SensorResult)
    assert isinstance(_tick(sensor, instance, resources, first.cursor), SkipReason)


def test_bad_declarations_fail_when_defined() -> None:
    with pytest.raises(ValueError, match="identifier"):
        build_scout_monitor_assets("ai news", "mon_1")
    with pytest.raises(ValueError, match="monitor_id"):
        build_scout_monitor_assets("chips", "")
    assets = build_scout_monitor_assets("chips", "mon_1")
    with pytest.raises(ValueError, match="max_events_per_tick"):
        build_scout_monitor_sensor(assets, max_events_per_tick=0)
    with pytest.raises(ValueError, match="build_scout_monitor_assets"):
        build_scout_monitor_sensor(build_scout_monitor_run_job(assets))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event_id", "plain"),
    [("mev_0a1b2c_000001", True), ("../ev 1", False), ("ev\n1", False), ("x" * 300, False)],
)
def test_event_ids_a_partition_key_cannot_hold_are_hashed(event_id: str, plain: bool) -> None:
    key = monitor_partition_key(event_id)
    assert (key == event_id) is plain
    assert key == monitor_partition_key(event_id)  # stable
    if not plain:
        assert key.startswith("ev-") and len(key) == 35


def test_the_monitor_component_builds_the_table_and_a_stopped_sensor_from_yaml(
    manual_emulator: EmulatorServer, monitor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.components.conftest import defs_from_yaml

    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    monkeypatch.setenv("SCOUT_BASE_URL", manual_emulator.url)
    yaml = f"""
        type: scout_dagster.components.ScoutMonitorComponent
        attributes:
          name: chips
          monitor_id: {monitor}
          max_events_per_tick: 3
          io_manager:
            base_path: "{tmp_path}"
        """
    with defs_from_yaml({"chips": yaml}) as defs:
        sensor = defs.get_sensor_def("chips_monitor_results_sensor")
        assert sensor.default_status == DefaultSensorStatus.STOPPED
        assets = defs.get_assets_def("chips_monitor_results")
        resources = dict(defs.resources or {})
        instance = DagsterInstance.ephemeral()
        _clock(manual_emulator).advance(8 * HOUR_S)
        result = _tick(sensor, instance, resources, None)
        assert isinstance(result, SensorResult)
        requests = _requests(result)
        assert 1 <= len(requests) <= 3
        _apply(instance, result)
        _materialize(assets, requests[0], instance, resources)
    table = pq.read_table(
        tmp_path / "chips_monitor_results" / f"partition={requests[0].partition_key}"
    )
    assert set(table.column("monitor_id").to_pylist()) == {monitor}
