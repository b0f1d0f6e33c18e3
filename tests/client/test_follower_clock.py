"""The follower's deadline, budget, termination and polling, on virtual time.

The fast deterministic tier: the follower's injectable ``clock`` and
``sleep`` and the emulator's ``ManualClock`` are one virtual time, so a
40-second run, a 10-second deadline or a 3-minute poll schedule take no real
time, and every figure asserted is exact whatever the machine's speed. The
follower polls here (``use_stream=False``): the stream's pump waits in real
time, and the Dagster-level tests cover it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest

from scout_dagster import (
    FindAllRequest,
    RunBudgetExceeded,
    RunDeadlineExceeded,
    RunFollower,
    RunState,
    RunTerminated,
    ScoutClient,
)
from scout_dagster.emulator import EmulatorConfig, EmulatorServer, ManualClock
from tests.conftest import TEST_KEY, make_client

REQUEST = FindAllRequest("AI infrastructure companies", limit=5)
#: The run's phases on the emulator's clock (virtual seconds).
QUEUED_S = 2.0
RUNNING_S = 40.0
#: A fixed-interval poll never sees an end later than this (the issue's yardstick).
FIXED_POLL_S = 10.0


class VirtualTime:
    """One clock for the follower and the emulator: sleeping moves both."""

    def __init__(self, emulator_clock: ManualClock) -> None:
        self.now = emulator_clock.now()
        self._emulator = emulator_clock
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self._emulator.advance(seconds)


@pytest.fixture(scope="module")
def virtual_server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        queued_s=QUEUED_S, findall_duration_s=RUNNING_S, keepalive_s=0.1, stream_tick_s=0.005
    )
    with EmulatorServer(config=config, clock=ManualClock(), api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def server(virtual_server: EmulatorServer) -> EmulatorServer:
    virtual_server.state.reset()
    return virtual_server


def _time(server: EmulatorServer) -> VirtualTime:
    clock = server.state.clock
    assert isinstance(clock, ManualClock)
    return VirtualTime(clock)


def _follower(client: ScoutClient, time: VirtualTime, **options: object) -> RunFollower:
    return RunFollower(
        client,
        use_stream=False,
        clock=time.clock,
        sleep=time.sleep,
        **options,  # type: ignore[arg-type]
    )


def test_the_deadline_cancels_the_run_exactly_when_it_passes(server: EmulatorServer) -> None:
    client, _ = make_client(server)
    time = _time(server)
    started = time.now
    with pytest.raises(RunDeadlineExceeded) as raised:
        _follower(client, time, deadline_s=10.0).run_findall(REQUEST)
    assert time.now - started == pytest.approx(10.0)  # not a poll interval later
    [run] = server.ledger.runs()
    assert raised.value.run_id == run.run_id
    assert run.cancelled_while_active and run.state == "cancelled"
    assert raised.value.final_state == "cancelled"


def test_the_budget_cancels_the_run_at_the_first_read_over_it(server: EmulatorServer) -> None:
    client, _ = make_client(server)
    time = _time(server)
    budget = 6  # 5 fixed + 1 per match: over it at the second match
    with pytest.raises(RunBudgetExceeded) as raised:
        _follower(client, time, credit_budget=budget).run_findall(REQUEST)
    [run] = server.ledger.runs()
    assert run.state == "cancelled" and run.cancelled_while_active
    assert raised.value.credits == run.credits > budget
    assert time.now < QUEUED_S + RUNNING_S  # stopped mid-run, not at its end


def _terminated_after(time: VirtualTime, seconds: float) -> Callable[[], bool]:
    """A ``terminated()`` that says yes once ``seconds`` of virtual time have passed."""
    at = time.now + seconds
    return lambda: time.now >= at


def test_a_termination_cancels_the_run_unless_told_to_leave_it(server: EmulatorServer) -> None:
    client, _ = make_client(server)
    for cancel_on_termination in (True, False):
        server.state.reset()
        time = _time(server)
        follower = _follower(
            client,
            time,
            terminated=_terminated_after(time, 7.0),
            cancel_on_termination=cancel_on_termination,
        )
        with pytest.raises(RunTerminated):
            follower.run_findall(REQUEST)
        [run] = server.ledger.runs()
        assert run.cancelled_while_active is cancel_on_termination
        assert (run.state == "cancelled") is cancel_on_termination


def test_an_adopted_run_is_followed_not_created_again(server: EmulatorServer) -> None:
    client, _ = make_client(server)
    time = _time(server)
    first = client.create_findall_run(REQUEST)
    time.sleep(RUNNING_S / 2)
    result = _follower(client, time).run_findall(REQUEST, adopt_run_id=first.findall_id)
    assert result.adopted and result.run.state == RunState.COMPLETED
    assert server.ledger.creates() == 1


@pytest.mark.parametrize("running_s", [3.5, 9.0, 14.0, 25.0, 61.0, 118.0, 173.0, 300.5, 997.0])
def test_polling_sees_the_end_no_later_than_a_fixed_ten_second_poll(
    server: EmulatorServer, running_s: float
) -> None:
    """The poll backs off from 1 s, but never to gaps longer than 10 s, and
    it reads at every tenth second of the wait too: a fixed 10 s poll, read
    by read, never sees the end before it (each read takes no time here)."""
    with EmulatorServer(
        config=EmulatorConfig(queued_s=0.0, findall_duration_s=running_s),
        clock=ManualClock(),
        api_key=TEST_KEY,
    ) as long_runs:
        client, _ = make_client(long_runs)
        time = _time(long_runs)
        started = time.now
        result = _follower(client, time).run_findall(REQUEST)
    assert result.run.state == RunState.COMPLETED
    lag = time.now - started - running_s
    assert 0 <= lag <= FIXED_POLL_S, f"the end was seen {lag:.1f} s after it happened"
    assert max(time.sleeps) <= FIXED_POLL_S
    # A fixed poll reads at 0, 10, 20 s...: it sees the end at the first of
    # those at or after it.
    fixed_sees = math.ceil(running_s / FIXED_POLL_S) * FIXED_POLL_S
    seen = time.now - started
    assert seen <= fixed_sees + 1e-9, f"seen at {seen:.2f} s, a fixed 10 s poll at {fixed_sees} s"
