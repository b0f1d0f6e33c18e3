"""Terminating a Dagster run cancels its remote run, whatever reaches the step.

Under the in-process and multiprocess executors a terminate reaches the step
as an interrupt. Under Celery, or a step-delegating executor (k8s, docker)
with run resumption on, nothing reaches it: the run is only marked
``CANCELING`` in the instance. So the step watches the run's status itself.

Here the run is terminated through the instance's own path
(``instance.run_coordinator.cancel_run``, what the UI's Terminate calls) on a
run that no code server launched: the run launcher cannot forward it, so,
as under Celery, only the status changes. The multiprocess executor is
interrupted by SIGINT, as ``dagster job execute`` is on Ctrl-C. Each case
holds against the emulator and the hostile server, and prints the seconds
from the termination to the remote cancel (``-s`` shows them).
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RetryPolicy,
    RunsFilter,
    materialize,
)

from scout_dagster import (
    FindAllRequest,
    RunFollower,
    RunTerminated,
    ScoutClient,
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY, wait_until
from tests.hostile.run_support import KEY as HOSTILE_KEY
from tests.hostile.run_support import Background, failure_text
from tests.hostile.server import HostileServer, Scenario

ROOT = Path(__file__).resolve().parents[2]
QUERY = "S-1 stage AI infrastructure companies"
#: Real seconds to wait for what must happen; generous, not a speed test.
BOUND_S = 60.0


def record_figure(name: str, seconds: float) -> None:
    """Print a measured figure, and keep it where SCOUT_DEPLOYMENT_FIGURES says."""
    line = f"{name}: {seconds:.2f} s from termination to the remote cancel"
    print(line)
    path = os.environ.get("SCOUT_DEPLOYMENT_FIGURES")
    if path:
        with open(path, "a") as figures:
            figures.write(line + "\n")


def _resources(url: str, key: str, base: Path, **scout: Any) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=key, base_url=url, retry_backoff_s=0.05, **scout),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def _terminate_once_started(
    instance: DagsterInstance, remote_started: Callable[[], bool]
) -> tuple[str, float]:
    """Wait until the Dagster run is going and its remote run exists, then
    terminate the run as the UI does; the run id and when it was asked."""
    wait_until(lambda: instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED])), BOUND_S)
    (run,) = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED]))
    wait_until(remote_started, BOUND_S)
    asked = time.monotonic()
    instance.run_coordinator.cancel_run(run.run_id)
    return run.run_id, asked


def _materialize_in_background(
    instance: DagsterInstance, resources: dict[str, Any], **asset_options: Any
) -> Background:
    assets = build_findall_assets("ai", QUERY, limit=8, **asset_options)
    return Background(
        lambda: materialize([assets], resources=resources, instance=instance, raise_on_error=False)
    )


def test_a_terminated_run_cancels_its_remote_run_on_the_emulator(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    base = tmp_path / "tables"
    job = _materialize_in_background(instance, _resources(manual_emulator.url, TEST_KEY, base))
    ledger = manual_emulator.ledger
    _, asked = _terminate_once_started(instance, lambda: ledger.creates() == 1)
    wait_until(lambda: ledger.cancels() == 1, BOUND_S)
    record_figure("instance terminate, emulator", time.monotonic() - asked)

    assert job.wait(BOUND_S)
    result = job.value
    assert not result.success
    (remote,) = ledger.runs()
    wait_until(lambda: ledger.run(remote.run_id).state == "cancelled", BOUND_S)
    credits = ledger.run(remote.run_id).credits
    manual_emulator.clock.advance(10_000)  # type: ignore[attr-defined]
    assert ledger.run(remote.run_id).credits == credits, "no credit after the cancel"
    assert ledger.creates() == 1
    assert "the Dagster run was terminated while waiting on it; this process cancelled it" in (
        failure_text(result)
    )
    assert not base.exists() or not any(base.rglob("*.parquet"))


def test_a_terminated_step_is_not_retried(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    """A RetryPolicy is for failures, not for a run someone stopped: the step
    fails once, and no retry starts (nor pays for) another remote run."""
    job = _materialize_in_background(
        instance,
        _resources(manual_emulator.url, TEST_KEY, tmp_path / "tables"),
        retry_policy=RetryPolicy(max_retries=2),
    )
    ledger = manual_emulator.ledger
    _terminate_once_started(instance, lambda: ledger.creates() == 1)
    assert job.wait(BOUND_S)
    result = job.value
    assert not result.success
    starts = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_START]
    restarts = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_RESTARTED]
    assert (len(starts), len(restarts)) == (1, 0)
    assert ledger.creates() == 1 and ledger.cancels() == 1


def _terminate_hostile_run(
    server: HostileServer, tmp_path: Path, instance: DagsterInstance, **scout: Any
) -> tuple[Any, float]:
    """A long hostile run, terminated once started: the result, and when it was asked."""
    base = tmp_path / "tables"
    job = _materialize_in_background(instance, _resources(server.url, HOSTILE_KEY, base, **scout))
    _, asked = _terminate_once_started(instance, lambda: server.creates == 1)
    assert job.wait(BOUND_S), "the step did not end after the termination"
    assert not base.exists() or not any(base.rglob("*.parquet"))
    return job.value, asked


def test_a_terminated_run_cancels_its_remote_run_on_the_hostile_server(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    with HostileServer(HOSTILE_KEY, Scenario(run_s=600)) as server:
        result, asked = _terminate_hostile_run(server, tmp_path, instance)
        (run_id,) = server.cancels
        record_figure("instance terminate, hostile server", time.monotonic() - asked)
        assert f"FindAll run {run_id}" in failure_text(result)
        assert "this process cancelled it" in failure_text(result)
        assert server.creates == 1


def test_polling_without_a_stream_also_sees_the_termination(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    # No stream: the wait polls, backing off to 15 s between reads; the
    # termination is seen between two reads, not at the next one.
    with HostileServer(HOSTILE_KEY, Scenario(run_s=600, no_stream=True)) as server:
        result, _ = _terminate_hostile_run(server, tmp_path, instance)
        assert len(server.cancels) == 1
        assert "this process cancelled it" in failure_text(result)


def test_with_cancel_on_termination_off_the_remote_run_is_left_running(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    with HostileServer(HOSTILE_KEY, Scenario(run_s=600)) as server:
        result, _ = _terminate_hostile_run(server, tmp_path, instance, cancel_on_termination=False)
        assert server.cancels == []
        (run,) = server.runs()
        assert server.state_of(run) == "running"
        assert "it was left running (cancel_on_termination is off)" in failure_text(result)


def test_a_refused_cancel_is_retried(tmp_path: Path, instance: DagsterInstance) -> None:
    with HostileServer(HOSTILE_KEY, Scenario(run_s=600, cancel_failures=2)) as server:
        result, _ = _terminate_hostile_run(server, tmp_path, instance)
        assert server.cancel_attempts == 3 and len(server.cancels) == 1
        (run,) = server.runs()
        assert server.state_of(run) == "cancelled"
        assert "this process cancelled it" in failure_text(result)


def test_a_cancel_that_keeps_failing_names_the_run_to_cancel_by_hand(
    tmp_path: Path, instance: DagsterInstance
) -> None:
    with HostileServer(HOSTILE_KEY, Scenario(run_s=600, cancel_failures=-1)) as server:
        result, _ = _terminate_hostile_run(server, tmp_path, instance, max_retries=2)
        (run,) = server.runs()
        assert server.cancel_attempts == 3, "the cancel is retried"
        text = failure_text(result)
        assert f"FindAll run {run.run_id} may still be running and using credits" in text
        assert f"POST /v1/findall/runs/{run.run_id}/cancel" in text


def test_a_run_terminated_before_the_create_sends_nothing(manual_emulator: EmulatorServer) -> None:
    with ScoutClient(TEST_KEY, base_url=manual_emulator.url) as client:
        follower = RunFollower(client, terminated=lambda: True)
        with pytest.raises(RunTerminated, match="terminated before a FindAll run was started"):
            follower.run_findall(FindAllRequest(query=QUERY), idempotency_key="k")
    assert manual_emulator.ledger.requests == []


def test_a_run_that_completed_when_the_termination_is_seen_is_not_cancelled(
    manual_emulator: EmulatorServer,
) -> None:
    calls = 0

    def terminated_once_it_completed() -> bool:
        # The first look (before the create) says no; the next one comes after
        # the run has finished on the server: a paid result, never cancelled.
        nonlocal calls
        calls += 1
        if calls == 2:
            manual_emulator.clock.advance(10_000)  # type: ignore[attr-defined]
        return calls >= 2

    with ScoutClient(TEST_KEY, base_url=manual_emulator.url) as client:
        follower = RunFollower(client, terminated=terminated_once_it_completed)
        with pytest.raises(RunTerminated, match="had already ended completed, so it was not"):
            follower.run_findall(FindAllRequest(query=QUERY, limit=3), idempotency_key="k")
    (remote,) = manual_emulator.ledger.runs()
    assert manual_emulator.ledger.run(remote.run_id).state == "completed"
    assert manual_emulator.ledger.cancels() == 0


# ---------------------------------------------------------------- the windows around the create


def test_an_interrupt_between_the_create_and_the_wait_cancels_the_run(
    manual_emulator: EmulatorServer,
) -> None:
    """The interrupt lands while the run id is being recorded (on the Dagster
    run, in the asset), before the wait began: the run is cancelled all the same."""

    def interrupted(run: object, adopted: bool) -> None:
        raise KeyboardInterrupt

    with ScoutClient(TEST_KEY, base_url=manual_emulator.url) as client:
        follower = RunFollower(client)
        with pytest.raises(KeyboardInterrupt):
            follower.run_findall(
                FindAllRequest(query=QUERY), idempotency_key="k", on_started=interrupted
            )
    (remote,) = manual_emulator.ledger.runs()
    assert manual_emulator.ledger.run(remote.run_id).cancel_requested


@pytest.mark.usefixtures("python_sigint")
def test_an_interrupt_while_the_create_is_in_flight_finds_and_cancels_the_run() -> None:
    """The server made the run but had not answered when the interrupt came:
    the same key, sent again, brings the run's id back, and it is cancelled."""
    with HostileServer(HOSTILE_KEY, Scenario(run_s=600, slow_create_s=1.0)) as server:

        def interrupt_once_created() -> None:
            wait_until(lambda: server.creates == 1, BOUND_S)
            _thread.interrupt_main()

        threading.Thread(target=interrupt_once_created, daemon=True).start()
        with ScoutClient(HOSTILE_KEY, base_url=server.url) as client:
            follower = RunFollower(client)
            with pytest.raises(KeyboardInterrupt):
                follower.run_findall(FindAllRequest(query=QUERY), idempotency_key="k")
        (run,) = server.runs()
        assert server.creates == 1 and server.cancels == [run.run_id]


def test_with_cancel_on_termination_off_an_interrupt_leaves_the_run(
    manual_emulator: EmulatorServer,
) -> None:
    def interrupted(run: object, adopted: bool) -> None:
        raise KeyboardInterrupt

    with ScoutClient(TEST_KEY, base_url=manual_emulator.url) as client:
        follower = RunFollower(client, cancel_on_termination=False)
        with pytest.raises(KeyboardInterrupt):
            follower.run_findall(
                FindAllRequest(query=QUERY), idempotency_key="k", on_started=interrupted
            )
    assert manual_emulator.ledger.cancels() == 0


# ---------------------------------------------------------------- multiprocess, SIGINT


def _run_worker(
    job: str,
    home: Path,
    emulator: EmulatorServer,
    tmp_path: Path,
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
) -> Any:
    """A process that runs ``termination_location.<job>`` as ``dagster job execute`` does."""
    from tests.dagster import termination_location as location

    script = (
        "import sys\n"
        "from dagster import DagsterInstance, execute_job, reconstructable\n"
        "from tests.dagster.termination_location import *\n"
        "with DagsterInstance.get() as instance:\n"
        f"    result = execute_job(reconstructable({job}), instance=instance)\n"
        "    sys.exit(0 if result.success else 1)\n"
    )
    environment = (
        dict(os.environ)
        | {
            "DAGSTER_HOME": str(home),
            "PYTHONPATH": str(ROOT),
            location.ENV_URL: emulator.url,
            location.ENV_KEY: TEST_KEY,
            location.ENV_DATA: str(tmp_path / "tables"),
        }
        | (env or {})
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env=environment,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_sigint_under_the_multiprocess_executor_cancels_the_remote_run(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    worker = _run_worker("get_job", Path(instance.root_directory), manual_emulator, tmp_path)
    try:
        ledger = manual_emulator.ledger
        wait_until(lambda: ledger.creates() == 1, BOUND_S)
        asked = time.monotonic()
        worker.send_signal(signal.SIGINT)  # Ctrl-C of `dagster job execute`
        wait_until(lambda: ledger.cancels() == 1, BOUND_S)
        record_figure("multiprocess executor, SIGINT", time.monotonic() - asked)
        assert worker.wait(timeout=BOUND_S) != 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    (remote,) = ledger.runs()
    wait_until(lambda: ledger.run(remote.run_id).state == "cancelled", BOUND_S)
    assert not (tmp_path / "tables").exists() or not any((tmp_path / "tables").rglob("*.parquet"))


# ---------------------------------------------------------------- step-delegating executor


def test_a_step_delegating_executor_that_does_not_forward_termination(
    manual_emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Dagster's StepDelegatingExecutor (what dagster-k8s and dagster-docker use)
    with run monitoring on: interrupted, it does not forward the termination to
    its steps ("run will be resumed", dagster issue #33923). The step, in its
    own process, still cancels the remote run."""
    from tests.dagster import termination_location as location

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_monitoring:\n  enabled: true\n  max_resume_run_attempts: 3\n"
        "run_launcher:\n  module: tests.dagster.termination_location\n"
        "  class: ResumingRunLauncher\n"
    )
    pids = tmp_path / "step_pids"
    worker = _run_worker(
        "get_delegated_job",
        home,
        manual_emulator,
        tmp_path,
        env={location.ENV_STEP_PIDS: str(pids)},
    )
    ledger = manual_emulator.ledger
    with DagsterInstance.from_config(str(home)) as instance:
        try:
            wait_until(lambda: ledger.creates() == 1, BOUND_S)
            (run,) = instance.get_runs()
            asked = time.monotonic()
            instance.run_coordinator.cancel_run(run.run_id)  # the UI's Terminate
            worker.send_signal(signal.SIGINT)  # and the run worker is interrupted
            wait_until(lambda: ledger.cancels() == 1, BOUND_S)
            record_figure("step-delegating executor, not forwarded", time.monotonic() - asked)
            worker.wait(timeout=BOUND_S)
            messages = [record.user_message for record in instance.all_logs(run.run_id)]
            assert any("not forwarding to steps because run will be resumed" in m for m in messages)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            for pid in pids.read_text().split() if pids.exists() else []:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(int(pid), signal.SIGKILL)
    (remote,) = ledger.runs()
    wait_until(lambda: ledger.run(remote.run_id).state == "cancelled", BOUND_S)
    assert ledger.creates() == 1


def test_a_relative_folder_under_a_step_delegating_executor_warns(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The warning comes from a real step: the job's executor is read from the
    step's own context, in the step's own process."""
    from tests.dagster import termination_location as location

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    worker = _run_worker(
        "get_delegated_job",
        home,
        emulator,
        tmp_path,
        cwd=tmp_path,
        env={location.ENV_DATA: "data/scout", location.ENV_STEP_PIDS: str(tmp_path / "pids")},
    )
    assert worker.wait(timeout=BOUND_S) == 0
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        messages = [record.user_message for record in instance.all_logs(run.run_id)]
    warnings = [m for m in messages if "writes to the relative local folder 'data/scout'" in m]
    assert len(warnings) == 1, messages
    assert "(process_per_step)" in warnings[0] and "'s3://bucket/scout'" in warnings[0]
    assert (tmp_path / "data" / "scout" / "ai_entities" / "data.parquet").exists()
