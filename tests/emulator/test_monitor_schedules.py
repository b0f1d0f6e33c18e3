"""Monitors' schedules on a ManualClock: cadences, cron expressions and a
bounded catch-up."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import httpx
import pytest

from scout_dagster.emulator import (
    EmulatorServer,
    ManualClock,
)
from scout_dagster.emulator._cron import parse_cron
from tests.emulator.monitor_calls import (
    create_monitor,
    wall_time,
)

# --- schedules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cadence", "interval"), [("hourly", 3600), ("daily", 86400), ("weekly", 604800)]
)
def test_cadence_schedule(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer, cadence: str, interval: int
) -> None:
    created = clock.now()
    monitor_id = create_monitor(client, cadence=cadence)["monitor_id"]
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
    monitor = create_monitor(client, cadence=None, cron="*/15 * * * *")
    wall = emu.state.timestamps.epoch + created
    first = (math.floor(wall / 900) + 1) * 900 - emu.state.timestamps.epoch
    assert monitor["nextRunAt"] == emu.state.timestamps.offset(first)
    clock.advance(first - created + 3 * 900 + 1)
    runs = emu.ledger.monitor(monitor["monitor_id"]).runs
    assert [r.at for r in runs] == [first + k * 900 for k in range(4)]
    assert all(
        wall_time(emu, r.at).minute % 15 == 0 and wall_time(emu, r.at).second == 0 for r in runs
    )


def test_cron_schedule_weekdays(
    client: httpx.Client, clock: ManualClock, emu: EmulatorServer
) -> None:
    monitor_id = create_monitor(client, cadence=None, cron="30 9 * * 1-5")["monitor_id"]
    clock.advance(7 * 86400)
    runs = emu.ledger.monitor(monitor_id).runs
    walls = [wall_time(emu, r.at) for r in runs]
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
    monitor_id = create_monitor(client, cadence=None, cron="* * * * *")["monitor_id"]
    clock.advance(2000 * 60.0)
    snapshot = emu.ledger.monitor(monitor_id)
    # 1000 runs executed in one catch-up, the missed ones skipped, the next slot after now.
    assert len(snapshot.runs) == 1000
    assert snapshot.next_run_at is not None and 0 < snapshot.next_run_at - clock.now() <= 60
    clock.advance(60.0)
    assert len(emu.ledger.monitor(monitor_id).runs) == 1001
