"""Monitors against the hostile server, through the real client and real Dagster.

The server (``tests/hostile/server.py``) shares no code with the package or its
emulator; each test switches on misbehaviours of its ``Scenario`` and asserts
the CORRECT outcome. The sensor is evaluated as the daemon evaluates it
(``build_sensor_context`` on a real instance, the cursor the last tick
returned, each run key launched once), its runs are materialized with
``dagster.materialize`` and their Parquet read back with pyarrow. Nothing
waits a fixed time and nothing is timed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    ExecuteInProcessResult,
    RunRequest,
    SensorDefinition,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)

from scout_dagster import (
    MonitorEvent,
    RetryPolicy,
    ScoutClient,
    ScoutNotFoundError,
    ScoutParquetIOManager,
    ScoutResource,
    ScoutServerError,
    build_scout_monitor_assets,
    build_scout_monitor_run_job,
    build_scout_monitor_sensor,
    monitor_partition_key,
)
from scout_dagster._dagster._monitor import EMPTY_EVENT_RUN_KEY
from tests.hostile.server import HostileServer, Scenario
from tests.hostile.test_hostile import failure_text

KEY = "sk-hostile-monitor-9b2e-DO-NOT-LEAK"
QUERY = "AI chip export controls"
ASSET = "chips_monitor_results"
PARTITIONS = "scout_monitor_chips"
#: Ids no partition key can hold as they are, and ids that only look alike.
ODD_IDS = [
    "../ev 1?x#y&after=z+w%2F",
    "ev\n2",
    "x" * 300,
    "ev-9",
    "ev-3",
    "ev-3 ",  # ev-3 with a trailing space: another event
    "ev-07",
]
#: What Dagster itself calls invalid in a partition key (``INVALID_PARTITION_SUBSTRINGS``).
BAD_KEY_PARTS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0", "/")


# ---------------------------------------------------------------- helpers


def resources(server: HostileServer, base: Path, **scout: Any) -> dict[str, Any]:
    options = {"max_retries": 3, "retry_backoff_s": 0.01} | scout
    return {
        "scout": ScoutResource(api_key=KEY, base_url=server.url, **options),
        "io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def client(server: HostileServer, attempts: int = 4) -> ScoutClient:
    policy = RetryPolicy(max_attempts=attempts, initial_backoff_s=0.01, min_retry_after_s=0.0)
    return ScoutClient(KEY, base_url=server.url, retry=policy)


def monitor_assets(monitor_id: str) -> AssetsDefinition:
    return build_scout_monitor_assets("chips", monitor_id, query=QUERY)


def emit(server: HostileServer, monitor_id: str, count: int) -> list[dict[str, Any]]:
    return [server.emit_monitor_event(monitor_id) for _ in range(count)]


def partition_table(base: Path, key: str) -> Any:
    return pq.read_table(base / ASSET / f"partition={key}")


class Daemon:
    """What Dagster's sensor daemon does with the monitor sensor.

    Each tick is evaluated with the cursor the last tick returned; its
    dynamic-partition requests are applied; each run key is launched once (a
    run key already launched is not run again, as Dagster does).
    """

    def __init__(
        self,
        sensor: SensorDefinition,
        assets: AssetsDefinition,
        instance: DagsterInstance,
        res: dict[str, Any],
        cursor: str | None = None,
    ) -> None:
        self.sensor, self.assets, self.instance, self.res = sensor, assets, instance, res
        self.cursor = cursor
        self.ticks: list[list[RunRequest]] = []  # the requests of each tick that had any
        self.launched: dict[str, ExecuteInProcessResult] = {}  # run key -> its run

    def evaluate(self, cursor: str | None) -> SensorResult | SkipReason:
        """One evaluation with ``cursor``, with no effect on the instance."""
        with build_sensor_context(
            instance=self.instance, cursor=cursor, resources=self.res
        ) as context:
            result = self.sensor(context)
        assert isinstance(result, SensorResult | SkipReason), result
        return result

    def tick(self) -> list[RunRequest] | None:
        """A tick as the daemon runs it: its run requests, or None when it skipped."""
        result = self.evaluate(self.cursor)
        if isinstance(result, SkipReason):
            return None
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        requests = list(result.run_requests or [])
        self.ticks.append(requests)
        if result.cursor is not None:
            self.cursor = result.cursor
        return requests

    def drain(self, most: int = 50) -> list[str]:
        """Tick until two ticks in a row skip (a read may miss the newest event
        once), at most ``most`` ticks: the run keys requested."""
        keys: list[str] = []
        quiet = 0
        for _ in range(most):
            requests = self.tick()
            quiet = quiet + 1 if requests is None else 0
            if quiet == 2:
                return keys
            keys += [str(r.run_key) for r in requests or []]
        raise AssertionError(f"still requesting runs after {most} ticks: {keys[-10:]}")

    def launch(self) -> list[ExecuteInProcessResult]:
        """Run every requested run key not launched yet, in the order requested."""
        results = []
        for request in (r for tick in self.ticks for r in tick):
            run_key = str(request.run_key)
            if run_key in self.launched:
                continue
            result = materialize(
                [self.assets],
                partition_key=request.partition_key,
                instance=self.instance,
                resources=self.res,
                tags=dict(request.tags),
                raise_on_error=False,
            )
            self.launched[run_key] = result
            results.append(result)
        return results


def watch(
    server: HostileServer, instance: DagsterInstance, base: Path, **sensor_options: Any
) -> tuple[str, AssetsDefinition, Daemon]:
    """A new monitor on ``server``, its results asset, and the daemon of its sensor."""
    monitor_id = server.add_monitor(QUERY)
    assets = monitor_assets(monitor_id)
    sensor = build_scout_monitor_sensor(assets, **sensor_options)
    return monitor_id, assets, Daemon(sensor, assets, instance, resources(server, base))


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as instance:
        yield instance


def leaks(surfaces: dict[str, str | bytes]) -> dict[str, str]:
    """Where the key shows, with some context around it (the key masked)."""
    found = {}
    for where, text in surfaces.items():
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        at = text.find(KEY)
        if at >= 0:
            found[where] = text[max(at - 100, 0) : at + len(KEY) + 20].replace(KEY, "<KEY>")
    return found


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


# ---------------------------------------------------------------- 3. the key never shows


@pytest.mark.timeout(120)
def test_an_echoed_key_never_shows_in_logs_metadata_errors_parquet_or_run_storage(
    instance: DagsterInstance,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """x-request-id echoes the key, a failed event's error names it, a deleted
    monitor's 404 names it, and a 500 (retried) carries the echoing request id."""
    for logger in ("scout_dagster", "dagster"):
        caplog.set_level(logging.DEBUG, logger=logger)
    scenario = Scenario(echo_key=True, events_failures=[500], events_retry_after=None)
    with HostileServer(KEY, scenario) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        daemon = Daemon(
            build_scout_monitor_sensor(assets), assets, instance, resources(server, tmp_path)
        )
        server.emit_monitor_event(monitor_id)
        server.emit_monitor_event(monitor_id, failed=True)
        assert daemon.drain() == [e["event_id"] for e in server.monitor_events(monitor_id)]
        results = daemon.launch()
        # The harness: the server does echo the key, in a failed event's error.
        raw = httpx.get(
            f"{server.url}/v1/monitors/{monitor_id}/events",
            headers={"Authorization": f"Bearer {KEY}", "Accept": "application/json"},
        )
        assert KEY in raw.text and KEY in raw.headers["x-request-id"]

        streamed = client(server).monitors.stream_events(monitor_id)
        stream_errors = [next(streamed).error for _ in range(2)]
        streamed.close()

        # One more event, requested, then the monitor is deleted before its run.
        server.emit_monitor_event(monitor_id)
        assert daemon.tick()
        server.delete_monitor(monitor_id)
        [orphan] = daemon.launch()
        with pytest.raises(ScoutNotFoundError) as tick_error:
            daemon.tick()

    assert all(r.success for r in results), [failure_text(r)[:1500] for r in results]
    assert not orphan.success
    failed = daemon.launched[server.monitor_events(monitor_id)[1]["event_id"]]
    [materialization] = failed.asset_materializations_for_node(ASSET)
    assert materialization.metadata["scout/error"].value == "upstream rejected token ***"
    assert stream_errors == [None, "upstream rejected token ***"]
    runs = instance.get_runs()
    assert len(runs) == 3
    surfaces: dict[str, str | bytes] = {
        "tick error": "".join(traceback.format_exception(tick_error.value)),
        "run failure": failure_text(orphan),
        "event log": str([instance.all_logs(run.run_id) for run in runs]),
        "run storage": str(runs),
        "dynamic partitions": str(instance.get_dynamic_partitions(PARTITIONS)),
        "log records": caplog.text,
        "stream errors": str(stream_errors),
    }
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            surfaces[f"file {path.relative_to(tmp_path)}"] = path.read_bytes()
    out, err = capfd.readouterr()
    surfaces |= {"stdout": out, "stderr": err}
    assert "upstream rejected token ***" in surfaces["event log"], "the scan is blind"
    assert any(str(p).endswith(".parquet") for p in tmp_path.rglob("*")), "no Parquet scanned"
    found = leaks(surfaces)
    assert not found, f"the key shows in {sorted(found)}: {found}"


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
