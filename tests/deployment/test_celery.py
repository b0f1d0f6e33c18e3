"""Scout assets on the parts a production Dagster deployment uses.

PostgreSQL holds the instance (dagster-postgres), Redis is the Celery broker
and result backend, steps run in real Celery worker processes
(``dagster_celery``), runs are launched and terminated through the
webserver's GraphQL schema as the UI does, each in a run worker that the code
server starts (``DefaultRunLauncher``), and the Scout API is the emulator on
loopback. Every case is judged by the emulator's ledger: how many remote runs
were created, which were cancelled, what they cost.

The services are the tests' own (see ``services.py``): one PostgreSQL server
and one redis-server for the session, and for each test a database, a Redis
database, a DAGSTER_HOME and Celery workers of its own.

Measured seconds are printed (``-s`` shows them) and, when
``SCOUT_DEPLOYMENT_FIGURES`` names a file, appended to it; none is asserted.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_START_TAG, BACKFILL_ID_TAG
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.client.query import (
    LAUNCH_PARTITION_BACKFILL_MUTATION,
    LAUNCH_PIPELINE_EXECUTION_MUTATION,
    LAUNCH_PIPELINE_REEXECUTION_MUTATION,
)
from dagster_graphql.test.utils import execute_dagster_graphql

from scout_dagster.emulator import EmulatorServer, ManualClock
from scout_dagster.emulator._runs import FindAllRun
from tests.deployment import location
from tests.deployment.conftest import Deployment, MakeDeployment
from tests.deployment.services import descendants, is_running, kill_pids, stop_group, tail

#: A remote run's cancel must follow the Dagster run's terminate within this
#: (the step looks at its run's status every 2 s or less); generous on 2 cores.
CANCEL_BOUND_S = 30.0
#: Bounds of the waits for a run to start, end, or a backfill to finish.
START_TIMEOUT_S = 60.0
END_TIMEOUT_S = 60.0
BACKFILL_TIMEOUT_S = 150.0
POLL_S = 0.1

#: Checks the UI selects with an asset it materializes (the factory's checks).
WATCHED_CHECKS = ("not_empty", "unique_entity_id", "has_source_url")
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

#: The UI's Terminate dialog: SAFE_TERMINATE, or MARK_AS_CANCELED_IMMEDIATELY
#: for "Force termination immediately".
TERMINATE_RUN_MUTATION = """
mutation TerminateRun($runId: String!, $terminatePolicy: TerminateRunPolicy) {
  terminateRun(runId: $runId, terminatePolicy: $terminatePolicy) {
    __typename
    ... on TerminateRunFailure { message }
    ... on RunNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""


def _figure(name: str, seconds: float) -> None:
    line = f"{name}: {seconds:.2f} s"
    print(f"\n[deployment] {line}")
    path = os.environ.get("SCOUT_DEPLOYMENT_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")


def _wait(predicate: Callable[[], object], timeout_s: float, failure: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(POLL_S)


def _clock(emulator: EmulatorServer) -> ManualClock:
    clock = emulator.clock
    assert isinstance(clock, ManualClock), clock
    return clock


# -- the webserver's GraphQL, over the deployment's workspace -------------------


@contextmanager
def _webserver(deploy: Deployment) -> Iterator[WorkspaceProcessContext]:
    """The workspace as the webserver loads it (the code server it starts
    inherits this process's environment: the run workers it launches read it)."""
    target = WorkspaceFileTarget(paths=[str(deploy.workspace)])
    with WorkspaceProcessContext(deploy.instance, target) as process_context:
        errors = process_context.create_request_context().code_location_errors()
        assert not errors, f"the code location did not load: {errors}"
        yield process_context


def _graphql(
    process_context: WorkspaceProcessContext, query: str, variables: Mapping[str, Any]
) -> Any:
    context: WorkspaceRequestContext = process_context.create_request_context()
    return execute_dagster_graphql(context, query, variables=dict(variables)).data


def _launch(
    process_context: WorkspaceProcessContext, run_config: Mapping[str, Any] | None = None
) -> str:
    """The UI's "Materialize" of the watched asset and its checks."""
    entities = {"path": ["watched_entities"]}
    selector = {
        "repositoryLocationName": location.LOCATION_NAME,
        "repositoryName": "__repository__",
        "jobName": "__ASSET_JOB",
        "assetSelection": [entities, {"path": ["watched_citations"]}],
        "assetCheckSelection": [{"assetKey": entities, "name": name} for name in WATCHED_CHECKS],
    }
    data = _graphql(
        process_context,
        LAUNCH_PIPELINE_EXECUTION_MUTATION,
        {
            "executionParams": {
                "selector": selector,
                "runConfigData": dict(run_config or {}),
                "mode": "default",
                "executionMetadata": {"tags": [{"key": "test", "value": "deployment"}]},
            }
        },
    )
    launched = data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


def _terminate(process_context: WorkspaceProcessContext, run_id: str, policy: str) -> None:
    data = _graphql(
        process_context, TERMINATE_RUN_MUTATION, {"runId": run_id, "terminatePolicy": policy}
    )
    assert data["terminateRun"]["__typename"] == "TerminateRunSuccess", data


def _reexecute_from_failure(process_context: WorkspaceProcessContext, parent_run_id: str) -> str:
    """The UI's "Re-execute from failure": the parent's config and tags, its
    failed (or never finished) steps, ``dagster/is_resume_retry``."""
    data = _graphql(
        process_context,
        LAUNCH_PIPELINE_REEXECUTION_MUTATION,
        {"reexecutionParams": {"parentRunId": parent_run_id, "strategy": "FROM_FAILURE"}},
    )
    launched = data["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


# -- what the instance and the ledger say ------------------------------------------


def _status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None, f"no run {run_id}"
    return run.status


def _failures(instance: DagsterInstance, run_id: str) -> str:
    """The errors a run's events carry (failed steps, the run's own failure),
    for a message: a step failing under Celery may reach the run only as the
    worker's error in the run's failure."""
    messages = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        if error is not None:
            messages.append(error.to_string().strip()[-2000:])
    return "\n".join(messages) or "no error recorded"


def _wait_finished(instance: DagsterInstance, run_id: str, timeout_s: float) -> DagsterRunStatus:
    _wait(
        lambda: _status(instance, run_id) in FINISHED,
        timeout_s,
        lambda: f"run {run_id} still {_status(instance, run_id).value} after {timeout_s:g} s",
    )
    return _status(instance, run_id)


def _wait_success(instance: DagsterInstance, run_id: str) -> None:
    status = _wait_finished(instance, run_id, END_TIMEOUT_S)
    assert status == DagsterRunStatus.SUCCESS, (
        f"run {run_id} ended {status.value}: {_failures(instance, run_id)}"
    )


def _wait_for_remote_run(deploy: Deployment, run_id: str) -> str:
    """The remote run the step started: active in the ledger, and named in the
    Dagster run's tag (which is what a later attempt adopts)."""
    ledger = deploy.emulator.ledger

    def started() -> str | None:
        run = deploy.instance.get_run_by_id(run_id)
        assert run is not None and not run.is_finished, (
            f"run {run_id} ended {run.status.value if run else '?'} before its remote run "
            f"was seen: {_failures(deploy.instance, run_id)}"
        )
        remote = run.tags.get("scout/run/watched")
        active = {r.run_id for r in ledger.active_runs()}
        return remote if remote in active else None

    _wait(
        started,
        START_TIMEOUT_S,
        lambda: (
            f"no active remote run tagged on run {run_id} ({_status(deploy.instance, run_id)}) "
            f"after {START_TIMEOUT_S:g} s; ledger: {ledger.runs()}; "
            + "; ".join(f"{w.name} log: {tail(w.log, 15)}" for w in deploy.workers)
        ),
    )
    return str(started())


def _wait_adopted(instance: DagsterInstance, run_id: str, remote: str) -> None:
    """The step's own log line: it follows ``remote`` rather than creating one."""

    def adopted() -> bool:
        return any(f"adopted FindAll run {remote}" in r.message for r in instance.all_logs(run_id))

    _wait(
        adopted,
        START_TIMEOUT_S,
        lambda: f"run {run_id} did not adopt {remote}: {_failures(instance, run_id)}",
    )


def _run_worker_pid(instance: DagsterInstance, run_id: str) -> int:
    """The pid the run worker reported ("Started process for run (pid: N).")."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event is not None else None
        if data is not None and "pid" in data.metadata:
            return int(str(data.metadata["pid"].value))
    raise AssertionError(f"run {run_id} reported no run worker pid")


def _celery_workers(instance: DagsterInstance, run_id: str) -> list[str]:
    """The workers that ran the run's steps, as the task reported each
    ("Executing steps ... in celery worker", written to the instance by the worker)."""
    names = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event is not None else None
        if data is not None and "Celery worker" in data.metadata:
            names.append(str(data.metadata["Celery worker"].value).split("@")[0])
    return names


def _entities(deploy: Deployment, partition: str | None = None) -> Any:
    name = "daily_entities" if partition else "watched_entities"
    path = deploy.data / name
    if partition:
        path = path / f"partition={partition}"
    assert path.exists(), f"no table at {path}"
    return pq.read_table(path)


# -- 1. terminate -------------------------------------------------------------------


def test_terminating_a_celery_run_cancels_its_remote_run(
    deployment: MakeDeployment, manual_emulator: EmulatorServer
) -> None:
    deploy = deployment(manual_emulator)
    ledger, clock = manual_emulator.ledger, _clock(manual_emulator)
    worker = deploy.start_worker("solo")
    with _webserver(deploy) as webserver:
        worker.wait_ready()
        run_id = _launch(webserver)
        remote = _wait_for_remote_run(deploy, run_id)
        clock.advance(10)  # out of the queue, accruing credits; far from done

        terminated = time.monotonic()
        _terminate(webserver, run_id, "SAFE_TERMINATE")
        _wait(
            lambda: ledger.run(remote).cancel_requested,
            CANCEL_BOUND_S,
            lambda: (
                f"remote run {remote} not cancelled {CANCEL_BOUND_S:g} s after its Dagster "
                f"run was terminated: it is still {ledger.run(remote).state}, the Dagster "
                f"run is {_status(deploy.instance, run_id).value}"
            ),
        )
        _figure("terminate -> remote cancel (Celery step)", time.monotonic() - terminated)

        # Cancelled, and nothing accrues after: not even when its time passes.
        credits = ledger.run(remote).credits
        clock.advance(1_000)
        after = ledger.run(remote)
        assert after.state == "cancelled" and after.cancelled_while_active, after
        assert after.credits == credits, f"credits grew after the cancel: {credits} -> {after}"

        status = _wait_finished(deploy.instance, run_id, END_TIMEOUT_S)
        print(f"\n[deployment] the terminated Celery run ended {status.value}")
        assert status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)
    assert ledger.creates() == 1


# -- 2. a lost worker, then re-execution ------------------------------------------


def test_a_reexecution_after_a_killed_worker_adopts_the_remote_run(
    deployment: MakeDeployment, manual_emulator: EmulatorServer
) -> None:
    deploy = deployment(manual_emulator)
    ledger, clock = manual_emulator.ledger, _clock(manual_emulator)
    first = deploy.start_worker("first")
    with _webserver(deploy) as webserver:
        first.wait_ready()
        run_id = _launch(webserver)
        remote = _wait_for_remote_run(deploy, run_id)

        # The worker dies mid-wait, the step with it. Its task was acked when
        # it started, so no other worker gets it: the run worker waits forever.
        first.kill()
        run_worker = _run_worker_pid(deploy.instance, run_id)
        assert run_worker in descendants(os.getpid()), "the run worker is not the code server's"
        # The UI's "Force termination immediately": CANCELED at once, while no
        # step is alive to see it.
        _terminate(webserver, run_id, "MARK_AS_CANCELED_IMMEDIATELY")
        assert _status(deploy.instance, run_id) == DagsterRunStatus.CANCELED
        # The run worker, still waiting for its lost task, would never exit.
        assert is_running(run_worker), "the run worker exited by itself"
        kill_pids({run_worker})
        assert ledger.run(remote).state in ("queued", "running"), ledger.run(remote)

        deploy.start_worker("second").wait_ready()
        started = time.monotonic()
        child_id = _reexecute_from_failure(webserver, run_id)
        _wait_adopted(deploy.instance, child_id, remote)
        _figure("re-execution launch -> remote run adopted", time.monotonic() - started)
        clock.advance(1_000)  # the remote run completes
        _wait_success(deploy.instance, child_id)
    assert _celery_workers(deploy.instance, run_id) == ["first"]
    assert _celery_workers(deploy.instance, child_id) == ["second"]

    assert ledger.creates() == 1
    done = ledger.run(remote)
    assert done.state == "completed" and not done.cancel_requested, done
    table = _entities(deploy)
    assert table.num_rows == 4  # the asset's limit
    assert set(table.column("run_id").to_pylist()) == {remote}


# -- 3. a backfill in a pool ------------------------------------------------------

DAYS = [f"2026-01-0{day}" for day in range(1, 9)]
POOL_LIMIT = 2


def _launch_backfill(deploy: Deployment) -> str:
    """The UI's "Launch backfill" of both daily tables over ``DAYS``."""
    with _webserver(deploy) as webserver:
        data = _graphql(
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
        _wait(
            finished,
            BACKFILL_TIMEOUT_S,
            lambda: (
                f"backfill runs: {sorted(r.status.value for r in runs())}; "
                f"the daemon's log ends:\n{tail(log)}"
            ),
        )
    finally:
        stop_group(daemon)
    _figure("backfill of 8 partitions, pool of 2, two workers", time.monotonic() - started)

    by_day = {run.tags.get(ASSET_PARTITION_RANGE_START_TAG, ""): run for run in runs()}
    assert sorted(by_day) == DAYS, [dict(run.tags) for run in runs()]
    failed = {
        day: f"{run.status.value}: {_failures(deploy.instance, run.run_id)}"
        for day, run in by_day.items()
        if run.status != DagsterRunStatus.SUCCESS
    }
    assert not failed, failed
    steps = [w for run in by_day.values() for w in _celery_workers(deploy.instance, run.run_id)]
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
        table = _entities(deploy, day)
        (remote,) = set(table.column("run_id").to_pylist())
        assert remote_runs[remote].state == "completed"
        assert remote_runs[remote].query == _daily_query(day)
        assert table.num_rows == _matched(backfill_emulator, remote) > 0, day
        assert set(table.column("partition_key").to_pylist()) == {day}


# -- 4. cancel_on_termination off -------------------------------------------------

#: Config given at launch replaces the resource's config from the code location
#: whole: a field it leaves out gets the class's default, not the location's
#: value (Dagster 1.13; a bare ``{"cancel_on_termination": False}`` runs with no
#: key and the default base URL). So the launch names every field the location
#: sets, as the same environment variables.
KEEP_RUNNING = {
    "resources": {
        "scout": {
            "config": {
                "api_key": {"env": location.ENV_KEY},
                "base_url": {"env": location.ENV_URL},
                "cancel_on_termination": False,
            }
        }
    }
}


def test_a_run_terminated_without_cancel_leaves_its_remote_run_to_a_reexecution(
    deployment: MakeDeployment, manual_emulator: EmulatorServer
) -> None:
    deploy = deployment(manual_emulator)
    ledger, clock = manual_emulator.ledger, _clock(manual_emulator)
    worker = deploy.start_worker("solo")
    with _webserver(deploy) as webserver:
        worker.wait_ready()
        run_id = _launch(webserver, KEEP_RUNNING)
        remote = _wait_for_remote_run(deploy, run_id)

        terminated = time.monotonic()
        _terminate(webserver, run_id, "SAFE_TERMINATE")
        status = _wait_finished(deploy.instance, run_id, CANCEL_BOUND_S)
        _figure("terminate -> run ended (cancel_on_termination off)", time.monotonic() - terminated)
        print(f"\n[deployment] the terminated run ended {status.value}")
        assert status in (DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE)
        kept = ledger.run(remote)
        assert kept.state in ("queued", "running") and not kept.cancel_requested, kept

        child_id = _reexecute_from_failure(webserver, run_id)
        child = deploy.instance.get_run_by_id(child_id)
        assert child is not None and child.run_config == KEEP_RUNNING  # the parent's
        _wait_adopted(deploy.instance, child_id, remote)
        clock.advance(1_000)
        _wait_success(deploy.instance, child_id)

    assert ledger.creates() == 1
    done = ledger.run(remote)
    assert done.state == "completed" and not done.cancel_requested, done
    table = _entities(deploy)
    assert set(table.column("run_id").to_pylist()) == {remote}
