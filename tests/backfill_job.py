"""A backfill of a partitioned FindAll asset under a Dagster pool limit: the harness.

The backfill tests run it, and so does ``benchmarks/backfill.py``, which times
it against the ideal. One Dagster run per partition (the assets' backfill policy), executed by
worker processes that share one real ``DagsterInstance`` (sqlite, in a
temporary ``DAGSTER_HOME``) with the pool ``scout`` limited to ``--pool``
slots. Every remote run lasts a fixed ``--duration`` seconds on the emulator.

By default there are as many workers as slots: a run starts when a slot is
free, as Dagster's run coordinator does with run-granularity pools. With more
workers than slots (``--workers 8``) the extra runs start and their steps wait
for a slot, which Dagster's op-granularity claim loop re-checks after 1 s,
then 1.1 s, 1.21 s, ... up to 15 s; that measures Dagster's polling more than
this package.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing as mp
import os
import queue
import time
from pathlib import Path
from typing import Any

#: Environment the job factory reads in the worker processes.
ENV_URL = "SCOUT_BACKFILL_EMULATOR_URL"
ENV_KEY = "SCOUT_BACKFILL_API_KEY"
ENV_DATA = "SCOUT_BACKFILL_DATA"
ENV_DAYS = "SCOUT_BACKFILL_DAYS"
#: Optional: the assets' timeout_s (tests of what follows a deadline).
ENV_TIMEOUT = "SCOUT_BACKFILL_TIMEOUT_S"
ASSET_NAME = "daily_news"
START = dt.date(2026, 1, 1)


def partition_keys(days: int) -> list[str]:
    return [(START + dt.timedelta(days=i)).isoformat() for i in range(days)]


def entities_key() -> Any:
    from dagster import AssetKey

    return AssetKey(f"{ASSET_NAME}_entities")


def get_job() -> Any:
    """The backfill job, rebuilt in each worker from the environment (reconstructable)."""
    return _build_job(3600.0)


def get_deadline_job() -> Any:
    """The same job with the assets' ``timeout_s`` from ``ENV_TIMEOUT``: a job of
    its own, since Dagster caches a reconstructable job per function."""
    return _build_job(float(os.environ[ENV_TIMEOUT]))


def _build_job(timeout_s: float) -> Any:
    from dagster import (
        DailyPartitionsDefinition,
        Definitions,
        EnvVar,
        define_asset_job,
        in_process_executor,
    )

    from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets

    days = int(os.environ[ENV_DAYS])
    partitions = DailyPartitionsDefinition(
        start_date=START.isoformat(), end_date=(START + dt.timedelta(days=days)).isoformat()
    )
    assets = build_findall_assets(
        ASSET_NAME,
        "AI infrastructure companies in the news on {partition_key}",
        partitions_def=partitions,
        limit=5,
        pool="scout",
        timeout_s=timeout_s,
    )
    job = define_asset_job("backfill", selection=[assets], executor_def=in_process_executor)
    defs = Definitions(
        assets=[assets],
        jobs=[job],
        # EnvVars are read when a run starts, not when the job is built (Dagster
        # caches built jobs), so every run sees the environment of its process.
        resources={
            "scout": ScoutResource(api_key=EnvVar(ENV_KEY), base_url=EnvVar(ENV_URL)),
            "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar(ENV_DATA)),
        },
    )
    return defs.resolve_job_def("backfill")


def _worker(home: str, todo: Any, done: Any) -> None:
    """A worker process: run one partition after another until told to stop."""
    os.environ["DAGSTER_HOME"] = home
    from dagster import DagsterInstance, execute_job, reconstructable

    with DagsterInstance.get() as instance:
        done.put(("ready", None, None))
        while (key := todo.get()) is not None:
            result = execute_job(
                reconstructable(get_job), instance=instance, tags={"dagster/partition": key}
            )
            done.put(("done", key, result.success))


@dataclasses.dataclass(frozen=True)
class BackfillReport:
    wall_s: float
    succeeded: dict[str, bool]
    dagster_home: str


def run_backfill(
    *,
    emulator_url: str,
    api_key: str,
    data_dir: str,
    days: int,
    pool: int,
    workers: int,
    dagster_home: str,
    timeout_s: float = 600.0,
) -> BackfillReport:
    """Materialize ``days`` daily partitions, one Dagster run each, ``workers`` at a
    time but at most ``pool`` Scout steps at once. The wall time counts from the
    moment every worker is ready."""
    from dagster import DagsterInstance

    Path(dagster_home).mkdir(parents=True, exist_ok=True)
    Path(dagster_home, "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(dagster_home) as instance:
        instance.event_log_storage.set_concurrency_slots("scout", pool)
    os.environ.update(
        {ENV_URL: emulator_url, ENV_KEY: api_key, ENV_DATA: data_dir, ENV_DAYS: str(days)}
    )
    context = mp.get_context("spawn")  # a clean interpreter: no threads or sockets inherited
    todo: Any = context.Queue()
    done: Any = context.Queue()
    processes = [
        context.Process(target=_worker, args=(dagster_home, todo, done), daemon=True)
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            kind, _, _ = done.get(timeout=120)
            assert kind == "ready"
        started = time.monotonic()
        for key in partition_keys(days):
            todo.put(key)
        for _ in processes:
            todo.put(None)
        succeeded: dict[str, bool] = {}
        while len(succeeded) < days:
            remaining = timeout_s - (time.monotonic() - started)
            try:
                _, key, ok = done.get(timeout=max(remaining, 0.1))
            except queue.Empty:
                raise TimeoutError(f"backfill did not finish within {timeout_s:g} s") from None
            succeeded[key] = ok
        wall = time.monotonic() - started
        for process in processes:
            process.join(timeout=30)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
    return BackfillReport(wall_s=wall, succeeded=succeeded, dagster_home=dagster_home)
