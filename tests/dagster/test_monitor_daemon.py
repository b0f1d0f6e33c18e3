"""The monitor sensor the whole way: Dagster's own sensor ticks over a real instance.

A real ``DagsterInstance`` (sqlite, in a temporary ``DAGSTER_HOME``), the code
location loaded as a deployment loads it (a code server process), the sensor
started as the UI starts it (``instance.start_sensor``), its ticks evaluated by
the sensor daemon's own iteration (``execute_sensor_iteration``), its runs
launched by Dagster's run launcher into processes of their own, against the
emulator on loopback whose clock the test moves. Each monitor event must be
materialized exactly once, across bounded ticks and a stop and start of the
sensor; pausing the monitor stops events; deleting it ends them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.remote_representation.external import RemoteSensor
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration

from scout_dagster import monitor_partition_key
from scout_dagster.emulator import EmulatorServer, ManualClock
from tests.conftest import TEST_KEY, make_client
from tests.dagster import monitor_location as location
from tests.dagster.conftest import write_dagster_home, write_workspace

HOUR_S = 3600.0
#: Bounds of the waits on Dagster (a tick, runs in their own processes).
WAIT_S = 120.0
POLL_S = 0.1
TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


class Deployment:
    """The instance, the loaded location and the sensor, ticked on demand."""

    def __init__(self, instance: DagsterInstance, context: WorkspaceProcessContext) -> None:
        self.instance = instance
        self.context = context
        self.log = logging.getLogger("test_monitor_daemon")

    @property
    def sensor(self) -> RemoteSensor:
        location_ = self.context.create_request_context().get_code_location("scout_monitor")
        [repository] = location_.get_repositories().values()
        return repository.get_sensor("chips_monitor_results_sensor")

    def ticks(self) -> list[object]:
        sensor = self.sensor
        return list(
            self.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id, limit=1000)
        )

    def tick(self) -> object:
        """One tick of the sensor daemon's loop (it waits out the sensor's
        minimum interval, as the daemon does), then every run it launched, to
        their end."""
        before = len(self.ticks())
        deadline = time.monotonic() + WAIT_S
        while len(self.ticks()) == before:
            assert time.monotonic() < deadline, "the sensor did not tick"
            list(execute_sensor_iteration(self.context, self.log, None, None))
            time.sleep(POLL_S)
        self.wait_for_runs()
        return self.ticks()[0]

    def wait_for_runs(self) -> None:
        deadline = time.monotonic() + WAIT_S
        while any(r.status not in TERMINAL for r in self.instance.get_runs()):
            assert time.monotonic() < deadline, "runs did not end"
            time.sleep(POLL_S)


@pytest.fixture
def deployment(
    manual_emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Deployment, str]]:
    client, _ = make_client(manual_emulator)
    monitor = client.monitors.create("AI chip export controls", cadence="hourly").monitor_id
    for name, value in {
        location.ENV_KEY: TEST_KEY,
        location.ENV_URL: manual_emulator.url,
        location.ENV_DATA: str(tmp_path / "data"),
        location.ENV_MONITOR: monitor,
    }.items():
        monkeypatch.setenv(name, value)
    # Runs the sensor asks for are launched at once (DefaultRunCoordinator), each in a
    # process of its own started by the code server (DefaultRunLauncher).
    home = write_dagster_home(tmp_path / "dagster_home", "DefaultRunCoordinator")
    workspace = write_workspace(tmp_path / "workspace.yaml", location, "scout_monitor")
    with (
        DagsterInstance.from_config(str(home)) as instance,
        WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as context,
    ):
        yield Deployment(instance, context), monitor


def test_every_event_is_materialized_once_across_ticks_and_a_restart_of_the_sensor(
    deployment: tuple[Deployment, str], manual_emulator: EmulatorServer, tmp_path: Path
) -> None:
    dagster, monitor = deployment
    clock = manual_emulator.state.clock
    assert isinstance(clock, ManualClock)
    client, _ = make_client(manual_emulator)
    instance = dagster.instance

    # Declared STOPPED: nothing ticks until someone starts it.
    list(execute_sensor_iteration(dagster.context, dagster.log, None, None))
    assert dagster.ticks() == []
    instance.start_sensor(dagster.sensor)

    clock.advance(4 * HOUR_S)
    made = [e.event_id for e in client.monitors.iter_events(monitor)]
    assert len(made) > location.EVENTS_PER_TICK  # more than one tick takes
    while len({r.tags.get("dagster/run_key") for r in instance.get_runs()}) < len(made):
        dagster.tick()

    # Stopped while the monitor goes on, then started again: its cursor is kept.
    instance.stop_sensor(dagster.sensor.get_remote_origin_id(), dagster.sensor.selector_id, None)
    clock.advance(3 * HOUR_S)
    instance.start_sensor(dagster.sensor)
    made = [e.event_id for e in client.monitors.iter_events(monitor)]
    while len({r.tags.get("dagster/run_key") for r in instance.get_runs()}) < len(made):
        dagster.tick()
    assert dagster.tick().status == TickStatus.SKIPPED  # type: ignore[attr-defined]

    runs = instance.get_runs(RunsFilter(tags={"scout/monitor_id": monitor}))
    assert sorted(r.tags["dagster/run_key"] for r in runs) == sorted(made)  # once each
    assert all(r.status == DagsterRunStatus.SUCCESS for r in runs)
    keys = [monitor_partition_key(e) for e in made]
    assert sorted(instance.get_dynamic_partitions("scout_monitor_chips")) == sorted(keys)
    for event in client.monitors.iter_events(monitor):
        key = monitor_partition_key(event.event_id)
        table = pq.read_table(tmp_path / "data" / "chips_monitor_results" / f"partition={key}")
        assert table.column("source_url").to_pylist() == [r.url for r in event.results]

    # Paused: the clock moves, no run happens, no event, the tick skips.
    client.monitors.pause(monitor)
    clock.advance(6 * HOUR_S)
    assert client.monitors.events(monitor, after=made[-1]) == []
    assert dagster.tick().status == TickStatus.SKIPPED  # type: ignore[attr-defined]

    # Deleted: the events end; the tick fails saying which monitor is gone.
    client.monitors.delete(monitor)
    failed = dagster.tick()
    assert failed.status == TickStatus.FAILURE  # type: ignore[attr-defined]
    assert monitor in str(failed.error)  # type: ignore[attr-defined]
    assert len(instance.get_runs(RunsFilter(tags={"scout/monitor_id": monitor}))) == len(made)
