"""A backfill on a real DagsterInstance: every partition once, no double creates, no
run left active, and 429s (a creation cap, and three sent whatever the machine's
speed) absorbed by waiting as Retry-After says."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
from dagster import AssetKey, DagsterInstance

from scout_dagster.emulator import EmulatorConfig, EmulatorServer, FaultConfig
from tests import backfill_job as backfill
from tests.conftest import TEST_KEY

PARTITIONS = 12


def test_backfill_with_a_creation_cap(tmp_path: Path) -> None:
    # Runs take 0.8 s, so 4 pool slots would start about 2 runs a second; the
    # cap allows 4 creates per 3 real seconds, so creates meet 429s and wait.
    config = EmulatorConfig(speed=50.0, stream_tick_s=0.005, keepalive_s=0.5)
    faults = FaultConfig(create_cap=4, create_cap_window_s=150.0, retry_after_s=1)
    with EmulatorServer(config=config, faults=faults, api_key=TEST_KEY) as emulator:
        # Whether the cap is met depends on how fast this machine starts runs; these
        # three 429s (with Retry-After) are met whatever its speed.
        emulator.faults.inject("rate_limit", times=3, method="POST", path="/v1/findall/runs")
        report = backfill.run_backfill(
            emulator_url=emulator.url,
            api_key=TEST_KEY,
            data_dir=str(tmp_path / "data"),
            days=PARTITIONS,
            pool=4,
            workers=4,
            dagster_home=str(tmp_path / "home"),
            timeout_s=240,
        )
        assert report.succeeded == dict.fromkeys(backfill.partition_keys(PARTITIONS), True)
        assert emulator.ledger.faults_injected()["rate_limit"] == 3  # each one waited out
        assert emulator.ledger.creates() == PARTITIONS
        assert emulator.ledger.active_runs() == []
        credits = {run.run_id: run.credits for run in emulator.ledger.runs()}

    with DagsterInstance.from_config(report.dagster_home) as instance:
        records = instance.fetch_materializations(
            AssetKey(f"{backfill.ASSET_NAME}_entities"), limit=1000
        ).records
        partitions = Counter(r.partition_key for r in records)
        assert partitions == Counter(dict.fromkeys(backfill.partition_keys(PARTITIONS), 1))
        for record in records:
            metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
            assert metadata["scout/credits"].value == credits[str(metadata["scout/run_id"].value)]

    table = ds.dataset(
        tmp_path / "data" / f"{backfill.ASSET_NAME}_entities", format="parquet"
    ).to_table()
    rows = Counter(table.column("partition_key").to_pylist())
    assert rows == Counter(dict.fromkeys(backfill.partition_keys(PARTITIONS), 5))
    runs_per_partition = table.group_by("partition_key").aggregate([("run_id", "count_distinct")])
    assert set(runs_per_partition["run_id_count_distinct"].to_pylist()) == {1}
