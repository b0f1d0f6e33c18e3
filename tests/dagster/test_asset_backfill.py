"""Dagster's own asset backfill (the UI's "Launch backfill", run by the daemon).

An asset backfill does not tag its runs with ``dagster/partition``: even with
one partition per run (``BackfillPolicy.multi_run(1)``, these assets' policy)
each run carries ``dagster/asset_partition_range_start`` and ``_end``, both
set to the partition's key. The assets must render their query for that
partition and write it into every row, exactly as with a ``dagster/partition``
run.

The slow test goes the whole way: a real ``DagsterInstance`` (sqlite, in a
temporary ``DAGSTER_HOME``), the backfill launched through the webserver's
GraphQL mutation ``launchPartitionBackfill`` with the same parameters the UI
sends, a real ``dagster-daemon run`` process that submits the runs, its
code server that launches them (``DefaultRunLauncher``), the emulator on
loopback, and the Parquet tables read back. The fast test gives one run the
same tags with ``materialize``.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetsDefinition,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
    materialize,
)
from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES, BulkActionStatus
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    BACKFILL_ID_TAG,
)
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.client.query import LAUNCH_PARTITION_BACKFILL_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY
from tests.dagster import backfill_location as location
from tests.dagster.conftest import write_dagster_home, write_workspace

#: The daemon's loop sleeps 30 s between backfill iterations, and a backfill
#: needs two (one submits the runs, the next sees them finished), so the test
#: takes a little over 30 s; this bounds the wait for a terminal status.
BACKFILL_TIMEOUT_S = 120.0
#: The daemon shuts its threads and code server down on SIGTERM.
DAEMON_STOP_TIMEOUT_S = 30.0
POLL_S = 0.25

DAYS = ("2026-01-01", "2026-01-02", "2026-01-03")
TOPICS = ("batteries", "robotics", "semiconductors")

#: Cases of the fast test: (asset name, partition key, the query its remote run must get).
DIRECT_CASES = {
    "daily-start": ("daily", "2026-01-02", "AI companies in the news on January 02, 2026"),
    "static-partition_key": ("topics", "robotics", "AI startups working on robotics"),
}
ASSETS: dict[str, AssetsDefinition] = {
    "daily": location.daily,
    "topics": location.topics,
}


def _daily_query(day: str) -> str:
    return f"AI companies in the news on {dt.date.fromisoformat(day):%B %d, %Y}"


def _asset_keys(assets: AssetsDefinition) -> list[str]:
    return sorted(key.to_user_string() for key in assets.keys)


def _entities(base: Path, name: str, key: str) -> Any:
    path = base / f"{name}_entities" / f"partition={key}" / "data.parquet"
    assert path.exists(), f"no table for partition {key}: {path} is missing"
    return pq.read_table(path)


def _failures(instance: DagsterInstance, run_id: str) -> list[str]:
    """The errors of a run's failed steps, or of the run itself."""
    messages = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        error = event.step_failure_data.error if event is not None else None
        messages.append(error.message.strip() if error is not None else record.message)
    if not messages:
        messages = [
            r.message for r in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
        ]
    return messages


# -- the fast test: one run with an asset backfill's tags ---------------------------


@pytest.mark.parametrize("case", list(DIRECT_CASES))
def test_a_run_with_partition_range_tags_of_one_partition(
    case: str, emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, key, query = DIRECT_CASES[case]
    monkeypatch.setenv(location.ENV_KEY, TEST_KEY)
    monkeypatch.setenv(location.ENV_URL, emulator.url)
    monkeypatch.setenv(location.ENV_DATA, str(tmp_path))

    # Exactly the tags an asset backfill puts on a one-partition run.
    result = materialize(
        [ASSETS[name]],
        resources=dict(location.defs.resources or {}),
        tags={ASSET_PARTITION_RANGE_START_TAG: key, ASSET_PARTITION_RANGE_END_TAG: key},
        raise_on_error=False,
    )
    errors = [e.step_failure_data.error for e in result.get_step_failure_events()]
    assert result.success, "the run failed: " + "; ".join(
        e.message.strip() if e is not None else "?" for e in errors
    )

    assert [run.query for run in emulator.ledger.runs()] == [query]
    table = _entities(tmp_path, name, key)
    assert table.num_rows > 0
    assert set(table.column("partition_key").to_pylist()) == {key}


# -- the whole way: the UI's backfill, executed by dagster-daemon --------------------


def _write_deployment(tmp_path: Path) -> tuple[Path, Path]:
    """A DAGSTER_HOME with its dagster.yaml, and a workspace.yaml naming the location."""
    # The run coordinator is spelled out although it is Dagster's default: a
    # queued coordinator needs the daemon's run queue (`dagster-daemon run`
    # starts it with the backfill daemon); 1 s instead of 5 s between dequeues.
    # The daemon's code server launches each run in its own process
    # (DefaultRunLauncher, also the default).
    home = write_dagster_home(
        tmp_path / "dagster_home", "QueuedRunCoordinator", "    dequeue_interval_seconds: 1\n"
    )
    workspace = write_workspace(tmp_path / "workspace.yaml", location, "scout_backfill")
    return home, workspace


def _launch_backfills_as_the_ui_does(
    instance: DagsterInstance,
    workspace: Path,
    backfills: Mapping[str, tuple[Sequence[str], Sequence[str]]],
) -> dict[str, str]:
    """For each name, (asset keys, partition keys): the mutation the UI's "Launch
    backfill" dialog sends, run by the webserver's GraphQL schema over the same
    workspace the daemon loads. The resolver builds the backfill with
    ``PartitionBackfill.from_asset_partitions`` and stores it with
    ``instance.add_backfill``. Returns the backfill ids."""
    ids = {}
    target = WorkspaceFileTarget(paths=[str(workspace)])
    with WorkspaceProcessContext(instance, target) as process_context:
        context = process_context.create_request_context()
        errors = context.code_location_errors()
        assert not errors, f"the code location did not load: {errors}"
        for name, (asset_keys, partition_names) in backfills.items():
            result = execute_dagster_graphql(
                context,
                LAUNCH_PARTITION_BACKFILL_MUTATION,
                variables={
                    "backfillParams": {
                        "assetSelection": [{"path": [key]} for key in asset_keys],
                        "partitionNames": list(partition_names),
                    }
                },
            )
            launched = result.data["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            ids[name] = str(launched["backfillId"])
    return ids


def _start_daemon(
    home: Path, workspace: Path, log: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    daemon = Path(sys.executable).with_name("dagster-daemon")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(daemon), "run", "-w", str(workspace)],
            cwd=workspace.parent,
            env={k: v for k, v in os.environ.items() if not k.startswith("SCOUT_")}
            | {"DAGSTER_HOME": str(home)}
            | dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop_daemon(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()  # SIGTERM: the daemon stops its threads and its code server
    try:
        process.wait(timeout=DAEMON_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the session this test started
        process.wait(timeout=DAEMON_STOP_TIMEOUT_S)


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_for_backfills(
    instance: DagsterInstance,
    backfill_ids: Sequence[str],
    daemon: subprocess.Popen[bytes],
    log: Path,
) -> dict[str, BulkActionStatus]:
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        statuses = {}
        for backfill_id in backfill_ids:
            backfill = instance.get_backfill(backfill_id)
            assert backfill is not None, f"backfill {backfill_id} vanished"
            statuses[backfill_id] = backfill.status
        if all(s in BULK_ACTION_TERMINAL_STATUSES for s in statuses.values()):
            return statuses
        if daemon.poll() is not None:
            raise AssertionError(
                f"dagster-daemon exited with {daemon.returncode}; its log ends:\n{_tail(log)}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"backfills still {statuses} after {BACKFILL_TIMEOUT_S:g} s; "
                f"the daemon's log ends:\n{_tail(log)}"
            )
        time.sleep(POLL_S)


@pytest.mark.timeout(180)
def test_an_asset_backfill_launched_from_the_ui_and_run_by_the_daemon(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    home, workspace = _write_deployment(tmp_path)
    daemon_log = tmp_path / "daemon.log"
    data = tmp_path / "data"
    plans = {  # asset name -> (the assets, the partitions backfilled)
        "daily": (location.daily, DAYS),
        "topics": (location.topics, TOPICS),
    }

    with DagsterInstance.from_config(str(home)) as instance:
        backfills = _launch_backfills_as_the_ui_does(
            instance,
            workspace,
            {name: (_asset_keys(assets), keys) for name, (assets, keys) in plans.items()},
        )
        daemon = _start_daemon(
            home,
            workspace,
            daemon_log,
            {
                location.ENV_KEY: TEST_KEY,
                location.ENV_URL: emulator.url,
                location.ENV_DATA: str(data),
            },
        )
        try:
            statuses = _wait_for_backfills(instance, list(backfills.values()), daemon, daemon_log)
        finally:
            _stop_daemon(daemon)

        failures: dict[str, list[str]] = {}
        for name, (_, keys) in plans.items():
            backfill_id = backfills[name]
            runs = instance.get_runs(filters=RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
            # The harness did what the UI does: one run per partition, each tagged
            # as an asset backfill tags it (a range of one), none with dagster/partition.
            by_key = {run.tags.get(ASSET_PARTITION_RANGE_START_TAG, ""): run for run in runs}
            assert sorted(by_key) == sorted(keys), [dict(run.tags) for run in runs]
            for key, run in by_key.items():
                assert run.tags.get(ASSET_PARTITION_RANGE_END_TAG) == key
                assert "dagster/partition" not in run.tags
                if run.status != DagsterRunStatus.SUCCESS:
                    failures[f"{name} {key} ({run.status.value})"] = _failures(instance, run.run_id)

    assert not failures, "runs of the backfill failed:\n" + "\n".join(
        f"  {what}: {' | '.join(messages)}" for what, messages in failures.items()
    )
    assert statuses == dict.fromkeys(backfills.values(), BulkActionStatus.COMPLETED_SUCCESS)

    # One remote run per partition, each asked about its own partition.
    expected = {("daily", day): _daily_query(day) for day in DAYS} | {
        ("topics", topic): f"AI startups working on {topic}" for topic in TOPICS
    }
    remote = {run.run_id: run for run in emulator.ledger.runs()}
    assert sorted(str(run.query) for run in remote.values()) == sorted(expected.values())
    assert emulator.ledger.creates() == len(expected)
    assert emulator.ledger.active_runs() == []

    # Every partition's table holds the rows of that partition's remote run,
    # and every row names the partition.
    for (name, key), query in expected.items():
        table = _entities(data, name, key)
        assert table.num_rows > 0, f"{name} {key}: no rows"
        assert set(table.column("partition_key").to_pylist()) == {key}, f"{name} {key}"
        (run_id,) = set(table.column("run_id").to_pylist())
        assert remote[run_id].query == query
        assert set(table.column("query").to_pylist()) == {query}
