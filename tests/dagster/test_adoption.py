"""No double charge: later attempts adopt the remote run an earlier attempt started.

Each case fails an attempt after the remote run exists, then lets Dagster try
again (a step retry, a re-execution from failure, or a re-execution after the
process was killed) and counts creates in the emulator's ledger.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    ReexecutionOptions,
    RetryPolicy,
    execute_job,
    materialize,
    reconstructable,
)

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from tests import backfill_job as backfill
from tests.conftest import TEST_KEY, wait_until

DAY = "2026-01-01"
TAG = f"scout/run/{backfill.ASSET_NAME}"
#: GETs that fail one attempt after its create with max_retries=1: two to read
#: the created run's state (a failure there is not fatal), two to the event
#: stream and two polls (a retry is coming, so no cancel is tried).
GETS_THAT_FAIL_AN_ATTEMPT = 6


@pytest.fixture
def job_environment(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv(backfill.ENV_URL, emulator.url)
    monkeypatch.setenv(backfill.ENV_KEY, TEST_KEY)
    monkeypatch.setenv(backfill.ENV_DATA, str(data))
    monkeypatch.setenv(backfill.ENV_DAYS, "3")
    return data


def _rows_of(data: Path) -> pd.DataFrame:
    return pd.read_parquet(data / f"{backfill.ASSET_NAME}_entities" / f"partition={DAY}")


def test_a_step_retry_adopts_the_run(emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets(
        "ai", "AI infrastructure companies", limit=4, retry_policy=RetryPolicy(max_retries=1)
    )
    emulator.faults.inject("server_error", times=GETS_THAT_FAIL_AN_ATTEMPT, method="GET")
    result = materialize(
        [assets],
        resources={
            "scout": ScoutResource(
                api_key=TEST_KEY, base_url=emulator.url, max_retries=1, retry_backoff_s=0.01
            ),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
        },
    )
    assert result.success
    assert emulator.ledger.faults_injected()["server_error"] == GETS_THAT_FAIL_AN_ATTEMPT
    assert emulator.ledger.creates() == 1
    (run,) = emulator.ledger.runs()
    assert run.state == "completed" and not run.cancel_requested
    entities = pd.read_parquet(tmp_path / "ai_entities")
    assert len(entities) == 4 and set(entities["run_id"]) == {run.run_id}


def test_a_reexecution_adopts_a_finished_run_that_was_not_written(
    emulator: EmulatorServer, instance: DagsterInstance, job_environment: Path
) -> None:
    job = reconstructable(backfill.get_job)
    # The first run's remote run completes, then writing its table fails: a
    # file stands where the table's folder must go.
    job_environment.mkdir(parents=True)
    blocker = job_environment / f"{backfill.ASSET_NAME}_entities"
    blocker.write_text("in the way")
    first = execute_job(
        job, instance=instance, tags={"dagster/partition": DAY}, raise_on_error=False
    )
    assert not first.success
    remote_id = instance.get_run_by_id(first.run_id).tags[TAG]  # type: ignore[union-attr]
    assert emulator.ledger.run(remote_id).state == "completed"
    assert emulator.ledger.cancels() == 0, "a finished run is never cancelled"

    blocker.unlink()
    with execute_job(
        job,
        instance=instance,
        tags={"dagster/partition": DAY},  # the UI copies the parent's tags; execute_job does not
        reexecution_options=ReexecutionOptions.from_failure(first.run_id, instance),
    ) as second:
        assert second.success
        assert second.dagster_run.parent_run_id == first.run_id
    assert emulator.ledger.creates() == 1, "the re-execution paid for nothing new"
    assert instance.get_run_by_id(second.run_id).tags[TAG] == remote_id  # type: ignore[union-attr]
    rows = _rows_of(job_environment)
    assert set(rows["run_id"]) == {remote_id} and len(rows) == 5


def test_a_failed_wait_with_no_retry_coming_cancels_the_run(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_findall_assets("ai", "AI infrastructure companies", limit=4)
    # Every read fails for good once the run exists; the cancel still gets through.
    slow_emulator.faults.inject("server_error", times=1000, method="GET")
    result = materialize(
        [assets],
        resources={
            "scout": ScoutResource(
                api_key=TEST_KEY, base_url=slow_emulator.url, max_retries=1, retry_backoff_s=0.01
            ),
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
        },
        raise_on_error=False,
    )
    assert not result.success
    (run,) = slow_emulator.ledger.runs()
    assert run.state == "cancelled" and run.cancelled_while_active
    assert slow_emulator.ledger.active_runs() == []
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "returned 50" in failure.message
    assert not (tmp_path / "ai_entities").exists()


_RUN_ONE_PARTITION = """
import sys
from dagster import DagsterInstance, execute_job, reconstructable
from tests import backfill_job as backfill
with DagsterInstance.get() as instance:
    job = reconstructable(backfill.get_job)
    execute_job(job, instance=instance, tags={"dagster/partition": sys.argv[1]})
"""


def test_a_killed_process_leaves_a_run_the_next_attempt_adopts(
    slow_emulator: EmulatorServer, instance: DagsterInstance, job_environment: Path
) -> None:
    os.environ[backfill.ENV_URL] = slow_emulator.url
    env = dict(os.environ, DAGSTER_HOME=str(instance.root_directory))
    worker = subprocess.Popen(
        [sys.executable, "-c", _RUN_ONE_PARTITION, DAY],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def tagged_and_running() -> bool:
            runs = instance.get_runs()
            return bool(runs) and TAG in runs[0].tags and bool(slow_emulator.ledger.active_runs())

        wait_until(tagged_and_running, timeout_s=60)
        worker.send_signal(signal.SIGKILL)  # no cleanup, no cancel: a lost machine
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    (dead,) = instance.get_runs()
    (remote,) = slow_emulator.ledger.active_runs()
    assert dead.tags[TAG] == remote.run_id
    instance.report_run_failed(dead)  # what run monitoring does for a dead worker
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE  # type: ignore[union-attr]

    with execute_job(
        reconstructable(backfill.get_job),
        instance=instance,
        tags={"dagster/partition": DAY},
        reexecution_options=ReexecutionOptions.from_failure(dead.run_id, instance),
    ) as retry:
        assert retry.success
    assert slow_emulator.ledger.creates() == 1
    assert slow_emulator.ledger.run(remote.run_id).state == "completed"
    rows = _rows_of(job_environment)
    assert set(rows["run_id"]) == {remote.run_id} and len(rows) == 5
