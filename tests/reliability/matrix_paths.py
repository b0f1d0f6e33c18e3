"""The fault matrix's asset kinds (:mod:`.matrix`): their assets and
resources, the fault mix each seed draws, and how each kind is materialized,
with and without faults."""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.dataset as ds
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    DailyPartitionsDefinition,
    ReexecutionOptions,
    RetryPolicy,
    execute_job,
    materialize,
    reconstructable,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorServer, FaultConfig, ManualClock

KEY = "sk-fault-matrix"
KINDS = (
    "findall",
    "search",
    "partitioned",
    "backfill-range",
    "retry-after-deadline",
    "reexecute-after-cancel",
)
#: Kinds whose first attempt meets its deadline: they run on an emulator whose
#: clock stands still until the first run has been cancelled.
AFTER_A_CANCEL = ("retry-after-deadline", "reexecute-after-cancel")
#: The deadline of their first attempt, in real seconds.
FIRST_DEADLINE_S = 3.0
PARTITION = "2026-01-03"
#: Client timeout per request, in seconds; slow responses take longer.
REQUEST_TIMEOUT_S = 0.5
SLOW_S = 0.8
#: Columns that differ between two runs that found the same rows.
RUN_SPECIFIC = ("run_id", "fetched_at", "source_fetched_at")


def build_assets(kind: str) -> AssetsDefinition:
    if kind == "findall":
        return build_findall_assets(
            "companies", "AI infrastructure companies", limit=8, timeout_s=60
        )
    if kind == "retry-after-deadline":
        return build_findall_assets(
            "companies",
            "AI infrastructure companies",
            limit=8,
            timeout_s=FIRST_DEADLINE_S,
            retry_policy=RetryPolicy(max_retries=2),
        )
    if kind == "search":
        return build_search_assets("research", ["ev market trends"], objective="Why?", timeout_s=60)
    return build_findall_assets(
        "daily",
        "AI companies in the news on {partition_key}",
        partitions_def=DailyPartitionsDefinition(start_date="2026-01-01"),
        limit=6,
        timeout_s=60,
    )


def resources(emulator: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(
            api_key=KEY,
            base_url=emulator.url,
            request_timeout_s=REQUEST_TIMEOUT_S,
            max_retries=6,
            retry_backoff_s=0.01,
            retry_budget_s=30,
        ),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


@dataclasses.dataclass
class FaultMix:
    config: FaultConfig
    outage: bool  # every read fails for good once the run exists: the run is impossible
    capped: bool  # the creation cap is full when the run's create arrives

    def describe(self) -> str:
        on = {
            k: v for k, v in self.config.model_dump().items() if v and k not in ("seed", "slow_s")
        }
        return f"{on} outage={self.outage} capped={self.capped}"


def fault_mix(seed: int) -> FaultMix:
    rng = random.Random(seed)
    config = FaultConfig(
        seed=seed,
        rate_limit_rate=rng.choice([0.0, 0.05, 0.15]),
        retry_after_s=rng.choice([0, 1]),
        server_error_rate=rng.choice([0.0, 0.05, 0.1]),
        drop_rate=rng.choice([0.0, 0.05, 0.1]),
        malformed_json_rate=rng.choice([0.0, 0.05, 0.1]),
        slow_rate=rng.choice([0.0, 0.0, 0.03]),
        slow_s=SLOW_S,
        stream_drop_rate=rng.choice([0.0, 0.2, 0.5]),
        stream_drop_after_events=rng.choice([None, 2, 5]),
        create_cap=1,
        # 200 virtual seconds are 1 s of real time at the emulator's speed: the
        # filler's create still holds the one slot when the run's create comes.
        create_cap_window_s=200.0,
    )
    return FaultMix(config=config, outage=rng.random() < 0.1, capped=rng.random() < 0.15)


@dataclasses.dataclass
class RunResult:
    seed: int
    kind: str
    outcome: str  # "completed", "clean failure" or "UNCLEAN"
    faults: Counter[str]
    cause: str = ""  # for a failure: the last line of its error
    rows_lost: int = 0
    rows_duplicated: int = 0
    orphaned_runs: int = 0
    double_creates: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)


def table_rows(base: Path, kind: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows without run-specific columns, in order."""
    tables = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if not any(folder.rglob("*.parquet")):
            continue
        table: pa.Table = ds.dataset(folder, format="parquet").to_table()
        table = table.drop_columns([c for c in RUN_SPECIFIC if c in table.column_names])
        tables[folder.name] = [tuple(map(repr, row.values())) for row in table.to_pylist()]
    return tables


def materialize_kind(kind: str, emulator: EmulatorServer, base: Path) -> Any:
    if kind == "reexecute-after-cancel":
        return _reexecute_after_cancel(emulator, base)
    tags = (
        {
            "dagster/asset_partition_range_start": PARTITION,
            "dagster/asset_partition_range_end": PARTITION,
        }
        if kind == "backfill-range"
        else None
    )
    with DagsterInstance.ephemeral() as instance:
        return materialize(
            [build_assets(kind)],
            resources=resources(emulator, base),
            partition_key=PARTITION if kind == "partitioned" else None,
            tags=tags,
            instance=instance,
            raise_on_error=False,
        )


def _reexecute_after_cancel(emulator: EmulatorServer, base: Path) -> Any:
    """A partition whose first Dagster run meets its deadline, then a
    re-execution from failure on the same (real, on-disk) instance."""
    from tests import backfill_job as backfill

    settings = {
        backfill.ENV_URL: emulator.url,
        backfill.ENV_KEY: KEY,
        backfill.ENV_DATA: str(base),
        backfill.ENV_DAYS: "5",
        backfill.ENV_TIMEOUT: str(FIRST_DEADLINE_S),
    }
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        with (
            tempfile.TemporaryDirectory() as home,
            DagsterInstance.from_config(home) as instance,
        ):
            job = reconstructable(backfill.get_deadline_job)
            tags = {"dagster/partition": PARTITION}
            first = execute_job(job, instance=instance, tags=tags, raise_on_error=False)
            if first.success:
                return first
            options = ReexecutionOptions.from_failure(first.run_id, instance)
            with execute_job(
                job, instance=instance, tags=tags, reexecution_options=options, raise_on_error=False
            ) as second:
                second.get_step_failure_events()  # read while the instance is open
                return second
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ReleaseAfterCancel(threading.Thread):
    """Holds a manual emulator clock still until a run has been cancelled, then
    keeps it running fast: the first attempt meets its deadline, later ones
    complete."""

    def __init__(self, emulator: EmulatorServer) -> None:
        super().__init__(daemon=True, name="matrix-clock")
        self.emulator = emulator
        self.done = threading.Event()

    def run(self) -> None:
        clock = self.emulator.clock
        assert isinstance(clock, ManualClock)
        released = False
        while not self.done.wait(0.02):
            released = released or any(
                run.state == "cancelled" and run.query != "cap filler"
                for run in self.emulator.ledger.runs()
            )
            if released:
                clock.advance(50.0)


def materialize_fault_free(kind: str, emulator: EmulatorServer, base: Path) -> Any:
    """The fault-free tables a deadline kind must end with."""
    if kind == "findall":
        return materialize_kind("findall", emulator, base)
    from tests import backfill_job as backfill

    with DagsterInstance.ephemeral() as instance:
        return materialize(
            [
                build_findall_assets(
                    backfill.ASSET_NAME,
                    "AI infrastructure companies in the news on {partition_key}",
                    partitions_def=DailyPartitionsDefinition(
                        start_date=backfill.START.isoformat(), end_date="2026-01-06"
                    ),
                    limit=5,
                )
            ],
            resources=resources(emulator, base),
            partition_key=PARTITION,
            instance=instance,
        )


def fill_the_cap(emulator: EmulatorServer) -> None:
    """Take the key's one create slot, so the run's own create meets a 429."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=emulator.url, headers=headers, timeout=5) as http:
        run = http.post("/v1/findall/runs", json={"query": "cap filler", "limit": 1}).json()
        http.post(f"/v1/findall/runs/{run['findall_id']}/cancel", json={})
