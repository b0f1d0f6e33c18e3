"""What the Celery deployment tests share: runs launched, terminated and
re-executed through the webserver's GraphQL schema as the UI does, and what
the instance and the emulator's ledger say of them. Measured seconds are
printed (``-s`` shows them) and, when ``SCOUT_DEPLOYMENT_FIGURES`` names a
file, appended to it; none is asserted."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pyarrow.parquet as pq
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.client.query import (
    LAUNCH_PIPELINE_EXECUTION_MUTATION,
    LAUNCH_PIPELINE_REEXECUTION_MUTATION,
)
from dagster_graphql.test.utils import execute_dagster_graphql

from scout_dagster.emulator import EmulatorServer, ManualClock
from tests.deployment import location
from tests.deployment.conftest import Deployment
from tests.deployment.services import CeleryWorker, tail

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


def figure(name: str, seconds: float) -> None:
    line = f"{name}: {seconds:.2f} s"
    print(f"\n[deployment] {line}")
    path = os.environ.get("SCOUT_DEPLOYMENT_FIGURES")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")


def wait_for(predicate: Callable[[], object], timeout_s: float, failure: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(failure())
        time.sleep(POLL_S)


def clock_of(emulator: EmulatorServer) -> ManualClock:
    clock = emulator.clock
    assert isinstance(clock, ManualClock), clock
    return clock


# -- the webserver's GraphQL, over the deployment's workspace -------------------


@contextmanager
def ui_webserver(deploy: Deployment) -> Iterator[WorkspaceProcessContext]:
    """The workspace as the webserver loads it (the code server it starts
    inherits this process's environment: the run workers it launches read it)."""
    target = WorkspaceFileTarget(paths=[str(deploy.workspace)])
    with WorkspaceProcessContext(deploy.instance, target) as process_context:
        errors = process_context.create_request_context().code_location_errors()
        assert not errors, f"the code location did not load: {errors}"
        yield process_context


def graphql(
    process_context: WorkspaceProcessContext, query: str, variables: Mapping[str, Any]
) -> Any:
    context: WorkspaceRequestContext = process_context.create_request_context()
    return execute_dagster_graphql(context, query, variables=dict(variables)).data


def launch_run(
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
    data = graphql(
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


def terminate_run(process_context: WorkspaceProcessContext, run_id: str, policy: str) -> None:
    data = graphql(
        process_context, TERMINATE_RUN_MUTATION, {"runId": run_id, "terminatePolicy": policy}
    )
    assert data["terminateRun"]["__typename"] == "TerminateRunSuccess", data


def reexecute_from_failure(process_context: WorkspaceProcessContext, parent_run_id: str) -> str:
    """The UI's "Re-execute from failure": the parent's config and tags, its
    failed (or never finished) steps, ``dagster/is_resume_retry``."""
    data = graphql(
        process_context,
        LAUNCH_PIPELINE_REEXECUTION_MUTATION,
        {"reexecutionParams": {"parentRunId": parent_run_id, "strategy": "FROM_FAILURE"}},
    )
    launched = data["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return str(launched["run"]["runId"])


# -- what the instance and the ledger say ------------------------------------------


def run_status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None, f"no run {run_id}"
    return run.status


def failure_text_of(instance: DagsterInstance, run_id: str) -> str:
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


def wait_finished(instance: DagsterInstance, run_id: str, timeout_s: float) -> DagsterRunStatus:
    wait_for(
        lambda: run_status(instance, run_id) in FINISHED,
        timeout_s,
        lambda: f"run {run_id} still {run_status(instance, run_id).value} after {timeout_s:g} s",
    )
    return run_status(instance, run_id)


def wait_success(instance: DagsterInstance, run_id: str) -> None:
    status = wait_finished(instance, run_id, END_TIMEOUT_S)
    assert status == DagsterRunStatus.SUCCESS, (
        f"run {run_id} ended {status.value}: {failure_text_of(instance, run_id)}"
    )


def wait_for_remote_run(deploy: Deployment, run_id: str) -> str:
    """The remote run the step started: active in the ledger, and named in the
    Dagster run's tag (which is what a later attempt adopts)."""
    ledger = deploy.emulator.ledger

    def started() -> str | None:
        run = deploy.instance.get_run_by_id(run_id)
        assert run is not None and not run.is_finished, (
            f"run {run_id} ended {run.status.value if run else '?'} before its remote run "
            f"was seen: {failure_text_of(deploy.instance, run_id)}"
        )
        remote = run.tags.get("scout/run/watched")
        active = {r.run_id for r in ledger.active_runs()}
        return remote if remote in active else None

    wait_for(
        started,
        START_TIMEOUT_S,
        lambda: (
            f"no active remote run tagged on run {run_id} ({run_status(deploy.instance, run_id)}) "
            f"after {START_TIMEOUT_S:g} s; ledger: {ledger.runs()}; "
            + "; ".join(f"{w.name} log: {tail(w.log, 15)}" for w in deploy.workers)
        ),
    )
    return str(started())


def wait_adopted(instance: DagsterInstance, run_id: str, remote: str) -> None:
    """The step's own log line: it follows ``remote`` rather than creating one."""

    def adopted() -> bool:
        return any(f"adopted FindAll run {remote}" in r.message for r in instance.all_logs(run_id))

    wait_for(
        adopted,
        START_TIMEOUT_S,
        lambda: f"run {run_id} did not adopt {remote}: {failure_text_of(instance, run_id)}",
    )


def run_worker_pid(instance: DagsterInstance, run_id: str) -> int:
    """The pid the run worker reported ("Started process for run (pid: N).")."""
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event is not None else None
        if data is not None and "pid" in data.metadata:
            return int(str(data.metadata["pid"].value))
    raise AssertionError(f"run {run_id} reported no run worker pid")


def celery_workers(instance: DagsterInstance, run_id: str) -> list[str]:
    """The workers that ran the run's steps, as the task reported each
    ("Executing steps ... in celery worker", written to the instance by the worker)."""
    names = []
    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = record.dagster_event
        data = event.engine_event_data if event is not None else None
        if data is not None and "Celery worker" in data.metadata:
            names.append(str(data.metadata["Celery worker"].value).split("@")[0])
    return names


def entities_table(deploy: Deployment, partition: str | None = None) -> Any:
    name = "daily_entities" if partition else "watched_entities"
    path = deploy.data / name
    if partition:
        path = path / f"partition={partition}"
    assert path.exists(), f"no table at {path}"
    return pq.read_table(path)


@dataclasses.dataclass(frozen=True)
class LaunchedRun:
    """A run launched as the UI launches it, its step on a Celery worker."""

    webserver: WorkspaceProcessContext
    worker: CeleryWorker
    run_id: str
    #: The remote Scout run its step created.
    remote: str


@contextmanager
def a_launched_run(
    deploy: Deployment, worker_name: str, run_config: Mapping[str, Any] | None = None
) -> Iterator[LaunchedRun]:
    """Start a Celery worker and the webserver, launch the asset's run and wait
    for its step to create its remote run; the webserver stops on exit."""
    worker = deploy.start_worker(worker_name)
    with ui_webserver(deploy) as webserver:
        worker.wait_ready()
        run_id = launch_run(webserver, run_config)
        yield LaunchedRun(webserver, worker, run_id, wait_for_remote_run(deploy, run_id))
