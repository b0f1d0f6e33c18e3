"""A backfill launched as the UI does, run by the daemon on two Celery
workers, keeps to its concurrency pool (see test_celery_runs for the
deployment)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pytest
from dagster import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG, BACKFILL_ID_TAG
from dagster_graphql.client.query import (
    LAUNCH_PARTITION_BACKFILL_MUTATION,
)

from scout_dagster.emulator import EmulatorServer
from scout_dagster.emulator._runs import FindAllRun
from tests.deployment.celery_steps import (
    BACKFILL_TIMEOUT_S,
    celery_workers,
    entities_table,
    failure_text_of,
    figure,
    graphql,
    ui_webserver,
    wait_for,
)
from tests.deployment.conftest import Deployment, MakeDeployment
from tests.deployment.services import stop_group, tail

# -- 3. a backfill in a pool ------------------------------------------------------

DAYS = [f"2026-01-0{day}" for day in range(1, 9)]
POOL_LIMIT = 2


def _launch_backfill(deploy: Deployment) -> str:
    """The UI's "Launch backfill" of both daily tables over ``DAYS``."""
    with ui_webserver(deploy) as webserver:
        data = graphql(
            webserver,
            LAUNCH_PARTITION_BACKFILL_MUTATION,
            {
                "backfillParams": {
                    "assetSelection": [
                        {"path": ["daily_citations"]},
                        {"path": ["daily_entities"]},
                    ],
                    "partitionNames": DAYS,
                }
            },
        )
    launched = data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return str(launched["backfillId"])


def _start_daemon(deploy: Deployment, log: Path) -> subprocess.Popen[bytes]:
    """``dagster-daemon run``: the backfill daemon submits the runs, the run queue
    launches them as the pool allows, from a code server of its own."""
    daemon = Path(sys.executable).with_name("dagster-daemon")
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(daemon), "run", "-w", str(deploy.workspace)],
            cwd=deploy.root,
            env=dict(os.environ) | deploy.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _intervals(emulator: EmulatorServer) -> list[tuple[float, float]]:
    """(created, ended) of every remote run, in the emulator's virtual seconds."""
    intervals = []
    with emulator.ledger.lock:
        for snapshot in emulator.ledger.runs():
            run = emulator.ledger.find_run(snapshot.run_id)
            assert run is not None
            ended = run.timeline.until(emulator.clock.now())[-1].event.time
            intervals.append((snapshot.created_at, ended))
    return intervals


def _matched(emulator: EmulatorServer, run_id: str) -> int:
    """How many entities the remote run matched (the count its body reports)."""
    with emulator.ledger.lock:
        run = emulator.ledger.find_run(run_id)
        assert isinstance(run, FindAllRun), run
        return len(run.progress(emulator.clock.now()).matched)


def _daily_query(day: str) -> str:
    return f"AI companies in the news on {dt.date.fromisoformat(day):%B %d, %Y}"


def _peak(intervals: Sequence[tuple[float, float]]) -> int:
    """Most runs active at one moment (one that ends as another starts: not both)."""
    edges = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    peak = active = 0
    for _, step in edges:
        active += step
        peak = max(peak, active)
    return peak


# About 50 s: in the long suite (``bash scripts/slow.sh``); the pool limit of a
# backfill is also held in every test run by tests/dagster/test_backfill.py.
@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_backfill_on_two_workers_keeps_to_its_pool(
    deployment: MakeDeployment, backfill_emulator: EmulatorServer
) -> None:
    deploy = deployment(backfill_emulator, queued=True)
    deploy.instance.event_log_storage.set_concurrency_slots("scout", POOL_LIMIT)
    # Four process slots for steps in all: only the pool can hold them to two.
    workers = [deploy.start_worker(f"w{i}", concurrency=2) for i in (1, 2)]
    backfill_id = _launch_backfill(deploy)
    for worker in workers:
        worker.wait_ready()

    log = deploy.root / "daemon.log"
    started = time.monotonic()
    daemon = _start_daemon(deploy, log)

    def runs() -> list[DagsterRun]:
        return list(
            deploy.instance.get_runs(filters=RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        )

    def finished() -> bool:
        assert daemon.poll() is None, f"dagster-daemon exited; its log ends:\n{tail(log)}"
        return sum(run.is_finished for run in runs()) >= len(DAYS)

    # The daemon's first iteration submits a run per partition; the backfill
    # itself is marked done only by an iteration 30 s later, which the runs
    # need not wait for.
    try:
        wait_for(
            finished,
            BACKFILL_TIMEOUT_S,
            lambda: (
                f"backfill runs: {sorted(r.status.value for r in runs())}; "
                f"the daemon's log ends:\n{tail(log)}"
            ),
        )
    finally:
        stop_group(daemon)
    figure("backfill of 8 partitions, pool of 2, two workers", time.monotonic() - started)

    by_day = {run.tags.get(ASSET_PARTITION_RANGE_START_TAG, ""): run for run in runs()}
    assert sorted(by_day) == DAYS, [dict(run.tags) for run in runs()]
    failed = {
        day: f"{run.status.value}: {failure_text_of(deploy.instance, run.run_id)}"
        for day, run in by_day.items()
        if run.status != DagsterRunStatus.SUCCESS
    }
    assert not failed, failed
    steps = [w for run in by_day.values() for w in celery_workers(deploy.instance, run.run_id)]
    print(f"\n[deployment] steps per worker: {dict(sorted(Counter(steps).items()))}")
    assert len(steps) == len(DAYS) and set(steps) <= {"w1", "w2"}, steps
    backfill = deploy.instance.get_backfill(backfill_id)
    assert backfill is not None, backfill_id
    # Done, or to be marked done by the daemon's next iteration.
    assert backfill.status in (BulkActionStatus.REQUESTED, BulkActionStatus.COMPLETED_SUCCESS)

    ledger = backfill_emulator.ledger
    assert ledger.creates() == len(DAYS)
    assert ledger.active_runs() == []
    intervals = _intervals(backfill_emulator)
    peak = _peak(intervals)
    speed = backfill_emulator.config.speed
    print(
        f"\n[deployment] remote runs (real s since the emulator started): "
        f"{[(round(a / speed, 1), round(b / speed, 1)) for a, b in sorted(intervals)]}; "
        f"most active at once: {peak} (pool limit {POOL_LIMIT})"
    )
    assert peak <= POOL_LIMIT

    remote_runs = {run.run_id: run for run in ledger.runs()}
    for day in DAYS:
        table = entities_table(deploy, day)
        (remote,) = set(table.column("run_id").to_pylist())
        assert remote_runs[remote].state == "completed"
        assert remote_runs[remote].query == _daily_query(day)
        assert table.num_rows == _matched(backfill_emulator, remote) > 0, day
        assert set(table.column("partition_key").to_pylist()) == {day}
