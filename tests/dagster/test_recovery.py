"""Recovery: a step retry or a re-execution gets past a dead remote run.

An earlier attempt's remote run that ended cancelled (our deadline) or failed
(on the server) is never adopted, and the create that the API answers with it
(the same idempotency key, replayed) is followed by a new run under a derived
key. Each case counts creates in the emulator's ledger and reads the table
back: its rows come from the run that completed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    ReexecutionOptions,
    RetryPolicy,
    execute_job,
    materialize,
    reconstructable,
)

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster._follower import successor_key
from scout_dagster.emulator import EmulatorServer, FaultConfig
from tests import backfill_job as backfill
from tests.conftest import TEST_KEY, wait_until

DAY = "2026-01-01"


def _resources(emulator: EmulatorServer, tmp_path: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url, retry_backoff_s=0.01),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path / "data")),
    }


def _complete_the_second_run(emulator: EmulatorServer) -> threading.Thread:
    """Holds the emulator's clock until a second run exists, then lets it finish:
    the first attempt meets its deadline, the second completes."""

    def advance() -> None:
        wait_until(lambda: emulator.ledger.creates() >= 2, timeout_s=60)
        emulator.clock.advance(10_000)  # type: ignore[attr-defined]

    thread = threading.Thread(target=advance, daemon=True)
    thread.start()
    return thread


def _failure_messages(result: Any) -> list[str]:
    return [
        event.step_failure_data.error.message
        for event in result.get_step_failure_events()
        if event.step_failure_data.error is not None
    ]


def test_a_step_retry_after_our_deadline_starts_a_new_run(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    assets = build_findall_assets(
        "ai", "AI infrastructure companies", limit=4, timeout_s=1.5, retry_policy=RetryPolicy(1)
    )
    helper = _complete_the_second_run(manual_emulator)
    result = materialize(
        [assets], resources=_resources(manual_emulator, tmp_path), instance=instance
    )
    helper.join(timeout=5)
    assert result.success
    first, second = manual_emulator.ledger.runs()  # in creation order
    assert first.state == "cancelled" and first.cancelled_while_active
    assert second.state == "completed"
    assert manual_emulator.ledger.creates() == 2
    rows = pq.read_table(tmp_path / "data" / "ai_entities")
    assert set(rows.column("run_id").to_pylist()) == {second.run_id} and rows.num_rows == 4


def test_a_step_retry_after_a_failed_remote_run_starts_a_new_run(
    slow_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    slow_emulator.faults.configure(FaultConfig(run_failure_rate=1.0))

    def heal_after_first_create() -> None:
        # Whether a run fails is decided when it is created: only the first does.
        wait_until(lambda: slow_emulator.ledger.creates() >= 1, timeout_s=60)
        slow_emulator.faults.configure(FaultConfig())

    threading.Thread(target=heal_after_first_create, daemon=True).start()
    assets = build_findall_assets(
        "ai", "AI infrastructure companies", limit=4, retry_policy=RetryPolicy(1)
    )
    result = materialize([assets], resources=_resources(slow_emulator, tmp_path), instance=instance)
    assert result.success
    first, second = slow_emulator.ledger.runs()  # in creation order
    assert first.state == "failed" and second.state == "completed"
    assert slow_emulator.ledger.creates() == 2 and slow_emulator.ledger.cancels() == 0
    rows = pq.read_table(tmp_path / "data" / "ai_entities")
    assert set(rows.column("run_id").to_pylist()) == {second.run_id}


def test_a_reexecution_after_our_cancel_starts_a_new_run_once(
    manual_emulator: EmulatorServer,
    instance: DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv(backfill.ENV_URL, manual_emulator.url)
    monkeypatch.setenv(backfill.ENV_KEY, TEST_KEY)
    monkeypatch.setenv(backfill.ENV_DATA, str(data))
    monkeypatch.setenv(backfill.ENV_DAYS, "3")
    monkeypatch.setenv(backfill.ENV_TIMEOUT, "3")  # as the fault matrix: the job is cached
    job = reconstructable(backfill.get_deadline_job)
    first = execute_job(
        job, instance=instance, tags={"dagster/partition": DAY}, raise_on_error=False
    )
    assert not first.success
    (message,) = _failure_messages(first)
    assert "did not finish within its deadline of 3 s; this process cancelled it" in message
    (cancelled,) = manual_emulator.ledger.runs()
    assert cancelled.state == "cancelled"

    helper = _complete_the_second_run(manual_emulator)
    with execute_job(
        job,
        instance=instance,
        tags={"dagster/partition": DAY},
        reexecution_options=ReexecutionOptions.from_failure(first.run_id, instance),
    ) as second:
        assert second.success
    helper.join(timeout=5)
    assert manual_emulator.ledger.creates() == 2
    (completed,) = [run for run in manual_emulator.ledger.runs() if run.state == "completed"]
    rows = pq.read_table(data / f"{backfill.ASSET_NAME}_entities" / f"partition={DAY}")
    assert set(rows.column("run_id").to_pylist()) == {completed.run_id}

    # The new run's key derives from the dead one's: any other attempt that
    # meets the same dead run asks for this same run, not a third.
    (dead,) = [run for run in manual_emulator.ledger.runs() if run.state == "cancelled"]
    assert completed.idempotency_key == successor_key(str(dead.idempotency_key), dead.run_id)


_RUN_ONE_PARTITION = """
import sys
from dagster import DagsterInstance, execute_job, reconstructable
from tests import backfill_job as backfill
with DagsterInstance.get() as instance:
    job = reconstructable(backfill.get_job)
    result = execute_job(job, instance=instance, tags={"dagster/partition": sys.argv[1]})
    sys.exit(0 if result.success else 1)
"""


def test_two_dagster_runs_of_one_partition_at_once_pay_once(
    slow_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    """Two processes (two run workers) materialize one partition at once: they
    share one idempotency key, read from the instance, and so one remote run."""
    env = dict(
        os.environ,
        DAGSTER_HOME=str(instance.root_directory),
        **{
            backfill.ENV_URL: slow_emulator.url,
            backfill.ENV_KEY: TEST_KEY,
            backfill.ENV_DATA: str(tmp_path / "data"),
            backfill.ENV_DAYS: "3",
        },
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN_ONE_PARTITION, DAY],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        codes = [worker.wait(timeout=90) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert codes == [0, 0]
    assert slow_emulator.ledger.creates() == 1, "both runs share one remote run"
    (run,) = slow_emulator.ledger.runs()
    records = instance.fetch_materializations(backfill.entities_key(), limit=10).records
    assert len(records) == 2
    for record in records:
        assert record.asset_materialization is not None
        assert record.asset_materialization.metadata["scout/run_id"].value == run.run_id
