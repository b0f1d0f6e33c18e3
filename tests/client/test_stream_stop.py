"""A stopped event stream stays stopped: no reconnection, no log line, no thread left.

The follower reads a run's events in a thread of its own. When it stops
waiting (a deadline, a termination, a budget), that thread must not go on
resuming the stream: it would keep a connection to a run we cancelled and
write to the step's log after the step ended (into an instance a test, or a
run worker, has already closed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from scout_dagster import FindAllRequest, RunFollower, RunTerminated
from scout_dagster.emulator import EmulatorConfig, EmulatorServer, FaultConfig
from tests.conftest import TEST_KEY, make_client

#: Every stream drops after one event: a stream nobody stops is resumed.
DROPPING = FaultConfig(stream_drop_after_events=1)


@pytest.fixture(scope="module")
def long_runs() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        # 100x: an hour of real time, a heartbeat every 100 s of it; between
        # events a stream carries keep-alive comments only.
        speed=100.0,
        queued_s=0.0,
        findall_duration_s=360_000.0,
        findall_heartbeat_s=10_000.0,
        keepalive_s=0.2,
        stream_tick_s=0.005,
    )
    with EmulatorServer(config=config, api_key=TEST_KEY) as server:
        yield server


@pytest.fixture()
def dropping(long_runs: EmulatorServer) -> Iterator[EmulatorServer]:
    long_runs.state.reset()
    long_runs.faults.configure(DROPPING)
    try:
        yield long_runs
    finally:
        long_runs.faults.configure(FaultConfig())


def resumptions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "resuming after event" in r.getMessage()]


def test_a_stream_stopped_between_events_ends_instead_of_resuming(
    dropping: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = make_client(dropping)
    run = client.create_findall_run(FindAllRequest("AI infrastructure companies", limit=5))
    stop = threading.Event()
    events = client.stream_findall_events(run.findall_id, stop=stop)
    first = next(events)
    assert first.run is not None and first.run.run_id == run.findall_id
    stop.set()
    caplog.set_level(logging.INFO)
    assert list(events) == []  # the dropped stream is not resumed
    assert resumptions(caplog) == []


def test_the_follower_stream_thread_ends_when_the_follower_stops_waiting(
    long_runs: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    long_runs.state.reset()
    caplog.set_level(logging.INFO)
    client, _ = make_client(long_runs)
    # The wait stops once it has seen the run going (from the create, then its
    # stream), as when the Dagster run is terminated, and leaves the run going:
    # its stream then waits 100 s for its next event.
    seen: list[object] = []
    follower = RunFollower(
        client,
        use_stream=True,
        on_progress=seen.append,
        progress_interval_s=1e-9,
        terminated=lambda: len(seen) >= 2,
        cancel_on_termination=False,
    )
    with pytest.raises(RunTerminated):
        follower.run_findall(FindAllRequest("AI infrastructure companies", limit=5))
    stopped_at = len(resumptions(caplog))
    # As a resource's teardown does once the step has ended: the stream thread,
    # waiting for its next event, has its connection closed under it.
    client.close()
    pumps = [t for t in threading.enumerate() if t.name == "scout-event-stream"]
    for pump in pumps:
        pump.join(30)
    assert not [pump for pump in pumps if pump.is_alive()], "the stream thread outlived the wait"
    assert len(resumptions(caplog)) == stopped_at, resumptions(caplog)[stopped_at:]
