"""Monitors against the hostile server: every event requested once and none
skipped, whatever the event lists do, and odd event ids kept as valid,
stable, distinct partition keys holding their own rows.

Each test switches on misbehaviours of the server's ``Scenario`` and asserts
the correct outcome; the sensor is evaluated as the daemon evaluates it (the
cursor the last tick returned, each run key launched once), its runs
materialized and their Parquet read back. Nothing waits a fixed time and
nothing is timed."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from dagster import (
    DagsterInstance,
    SensorResult,
)

from scout_dagster import (
    build_scout_monitor_sensor,
    monitor_partition_key,
)
from scout_dagster._dagster._monitor import EMPTY_EVENT_RUN_KEY
from tests.hostile.monitor_support import (
    BAD_KEY_PARTS,
    KEY,
    ODD_IDS,
    PARTITIONS,
    QUERY,
    Daemon,
    emit,
    monitor_assets,
    partition_table,
    resources,
    watch,
)
from tests.hostile.run_support import failure_text
from tests.hostile.server import HostileServer, Scenario

# ---------------------------------------------------------------- 1. none twice, none skipped

#: Scenarios under which a tick's events must still be exactly the next ones.
TICK_SCENARIOS = {
    "well-behaved": Scenario(),
    "wrapped-list": Scenario(wrap_lists="data"),
    "unknown-types-mixed-in": Scenario(unknown_events=1),
    "newest-missing-from-every-other-read": Scenario(flap_events=6),
    "odd-ids": Scenario(event_ids=list(ODD_IDS)),
    "500-503-429-then-ok": Scenario(events_failures=[500, 503, 429], events_retry_after="1"),
    "trickled-body": Scenario(trickle_events_s=0.0001),
    # Every event from the first on each read: none may be requested again.
    # (Its ticks are not bounded: test_a_server_that_ignores_limit_still_gets_bounded_ticks.)
    "after-and-limit-ignored": Scenario(ignore_after=True),
    "a-page-of-unknown-types": Scenario(unknown_events=3),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("scenario", TICK_SCENARIOS.values(), ids=TICK_SCENARIOS.keys())
def test_bounded_ticks_and_a_restart_request_each_event_once_and_skip_none(
    scenario: Scenario, instance: DagsterInstance, tmp_path: Path
) -> None:
    per_tick = 2
    with HostileServer(KEY, scenario) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        res = resources(server, tmp_path)
        daemon = Daemon(
            build_scout_monitor_sensor(assets, max_events_per_tick=per_tick), assets, instance, res
        )
        assert daemon.tick() is None  # nothing yet
        emit(server, monitor_id, 5)
        first = daemon.drain()
        assert first, "no event was requested"

        # A tick evaluated again with the cursor it started from (the daemon died
        # before storing the new one) asks for the same run keys: Dagster runs
        # none of them twice.
        before_last = daemon.ticks[-2][-1].run_key if len(daemon.ticks) > 1 else None
        again = daemon.evaluate(str(before_last) if before_last is not None else None)
        last = [r.run_key for r in daemon.ticks[-1]]
        replayed = (
            [r.run_key for r in again.run_requests or []] if isinstance(again, SensorResult) else []
        )
        if scenario.flap_events:  # this read may miss the newest event, as the server likes
            assert replayed == last[: len(replayed)]
        else:
            assert replayed == last

        # The sensor stopped and started (a new definition, a new client): same cursor.
        emit(server, monitor_id, 4)
        restarted = Daemon(
            build_scout_monitor_sensor(assets, max_events_per_tick=per_tick),
            assets,
            instance,
            resources(server, tmp_path),
            cursor=daemon.cursor,
        )
        second = restarted.drain()
        events = [e["event_id"] for e in server.monitor_events(monitor_id)]
        ticks = daemon.ticks + restarted.ticks

    assert first + second == events, "an event was requested twice, skipped, or out of order"
    if not scenario.ignore_after:
        assert all(1 <= len(tick) <= per_tick for tick in ticks), [len(t) for t in ticks]
    keys = [str(r.partition_key) for tick in ticks for r in tick]
    assert keys == [monitor_partition_key(e) for e in events]
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == sorted(keys)


@pytest.mark.timeout(60)
def test_a_server_that_ignores_limit_still_gets_bounded_ticks(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    with HostileServer(KEY, Scenario(ignore_after=True)) as server:
        monitor_id, _, daemon = watch(server, instance, tmp_path, max_events_per_tick=2)
        emit(server, monitor_id, 5)
        requested = daemon.drain()
        events = [e["event_id"] for e in server.monitor_events(monitor_id)]
    assert requested == events  # holds: none twice, none skipped
    assert [len(tick) for tick in daemon.ticks] == [2, 2, 1]


# ---------------------------------------------------------------- 2. odd ids, right rows


ROWS_SCENARIOS = {
    "odd-ids": Scenario(event_ids=list(ODD_IDS)),
    "odd-ids-wrapped-with-unknown-types": Scenario(
        event_ids=list(ODD_IDS), wrap_lists="events", unknown_events=1
    ),
    "odd-ids-flapping": Scenario(event_ids=list(ODD_IDS), flap_events=10),
    "odd-ids-trickled": Scenario(event_ids=list(ODD_IDS), trickle_events_s=0.0001),
    "odd-ids-after-ignored": Scenario(event_ids=list(ODD_IDS), ignore_after=True),
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("scenario", ROWS_SCENARIOS.values(), ids=ROWS_SCENARIOS.keys())
def test_odd_event_ids_become_valid_stable_distinct_keys_holding_their_own_rows(
    scenario: Scenario, instance: DagsterInstance, tmp_path: Path
) -> None:
    with HostileServer(KEY, scenario) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        res = resources(server, tmp_path)
        daemon = Daemon(
            build_scout_monitor_sensor(assets, max_events_per_tick=3), assets, instance, res
        )
        emitted = emit(server, monitor_id, len(ODD_IDS))
        requested = daemon.drain()
        results = daemon.launch()
        # Stable: a sensor evaluated from the start again names the same keys.
        replay = daemon.evaluate(None)

    ids = [e["event_id"] for e in emitted]
    assert ids == ODD_IDS  # the harness: the server gave the odd ids
    assert requested == ids
    assert all(r.success for r in results), [failure_text(r)[:1500] for r in results]
    keys = {str(r.run_key): str(r.partition_key) for tick in daemon.ticks for r in tick}
    assert len(set(keys.values())) == len(ids), f"two events share a partition: {keys}"
    for event_id, key in keys.items():
        assert key == monitor_partition_key(event_id)  # stable
        assert 1 <= len(key) <= 128 and key.isprintable() and key.strip() == key, key
        assert not any(part in key for part in BAD_KEY_PARTS), key
    assert isinstance(replay, SensorResult)
    replayed = [(str(r.run_key), str(r.partition_key)) for r in replay.run_requests or []]
    assert replayed and replayed == [(e, keys[e]) for e in ids[: len(replayed)]]
    assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == sorted(keys.values())
    for event in emitted:
        table = partition_table(tmp_path, keys[event["event_id"]])
        assert table.column("source_url").to_pylist() == [r["url"] for r in event["results"]]
        assert table.column("title").to_pylist() == [r["title"] for r in event["results"]]
        assert set(table.column("event_id").to_pylist()) == {event["event_id"]}
        assert set(table.column("monitor_id").to_pylist()) == {monitor_id}
        assert set(table.column("partition_key").to_pylist()) == {keys[event["event_id"]]}


def _collision(odd: str) -> list[str]:
    return [odd, "ev-" + hashlib.sha256(odd.encode()).hexdigest()[:32]]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "event_ids",
    [
        pytest.param(
            _collision("../ev 1"),
            id="a-plain-id-that-spells-another-ids-hash",
        ),
        pytest.param(
            ["a...b", "ev-2"],
            id="three-dots",
        ),
        pytest.param(
            ["ev-1", "", "ev-3", "ev-4"],
            id="an-empty-id",
        ),
    ],
)
def test_ids_that_mimic_keys_still_give_distinct_valid_partitions(
    event_ids: list[str], instance: DagsterInstance, tmp_path: Path
) -> None:
    with HostileServer(KEY, Scenario(event_ids=event_ids)) as server:
        monitor_id, _, daemon = watch(server, instance, tmp_path, max_events_per_tick=2)
        emitted = emit(server, monitor_id, len(event_ids))
        requested = daemon.drain(most=6)
        results = daemon.launch()
    # A run key must not be empty (Dagster would not de-duplicate it).
    assert requested == [e or EMPTY_EVENT_RUN_KEY for e in event_ids]
    assert all(r.success for r in results)
    keys = [monitor_partition_key(e) for e in event_ids]
    assert len(set(keys)) == len(keys), f"two events share a partition: {keys}"
    assert not [k for k in keys if any(part in k for part in BAD_KEY_PARTS)], keys
    for event, key in zip(emitted, keys, strict=True):
        table = partition_table(tmp_path, key)
        assert set(table.column("event_id").to_pylist()) == {event["event_id"]}
