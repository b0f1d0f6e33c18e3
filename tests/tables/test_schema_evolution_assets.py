"""Partitions of a FindAll asset written under different configurations read
together, or the materialization fails; never a column lost in silence. Every
check reads the table folder the ways a user would
(:mod:`tests.tables.schema_evolution_reads`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from dagster import AssetIn, asset, materialize

from scout_dagster import ParquetStore, ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY
from tests.tables.schema_evolution_reads import (
    DAILY,
    DAY_1,
    DAY_2,
    contents,
    plain_reads,
    store_reads,
)

# ---------------------------------------------------------------- the issue, through Dagster


def findall_resources(server: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def test_a_field_added_to_a_findall_asset_reads_back_with_every_reader(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    def news(fields: list[str]) -> Any:
        return build_findall_assets(
            "news", "AI news on {partition_key}", partitions_def=DAILY, limit=3, fields=fields
        )

    resources = findall_resources(emulator, tmp_path)
    assert materialize([news(["name"])], resources=resources, partition_key="2026-01-01").success
    assert materialize(
        [news(["name", "website"])], resources=resources, partition_key="2026-01-02"
    ).success

    loaded: dict[str, pd.DataFrame] = {}

    @asset(ins={"news_entities": AssetIn()})
    def everything(news_entities: pd.DataFrame) -> None:
        loaded["IO manager"] = news_entities

    assert materialize(
        [news(["name", "website"]), everything], resources=resources, selection=[everything]
    ).success

    folder = tmp_path / "news_entities"
    store = ParquetStore(str(tmp_path))
    reads = plain_reads(folder) | store_reads(store, "news_entities", [DAY_1, DAY_2]) | loaded
    lost = sorted(reader for reader, frame in reads.items() if "website" not in frame.columns)
    assert not lost, f"the new column is missing from: {lost}"
    for reader, frame in reads.items():
        filled = frame.groupby("partition_key")["website"].apply(lambda s: s.notna().sum())
        assert filled.to_dict() == {"2026-01-01": 0, "2026-01-02": 3}, reader


def test_a_findall_field_whose_type_changes_fails_the_materialization(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    def news(employees_type: str) -> Any:
        schema = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "employees": {"type": employees_type}},
        }
        return build_findall_assets(
            "news",
            "AI news on {partition_key}",
            partitions_def=DAILY,
            limit=3,
            output_schema=schema,
        )

    resources = findall_resources(emulator, tmp_path)
    for day in ("2026-01-01", "2026-01-02"):
        assert materialize([news("integer")], resources=resources, partition_key=day).success
    folder = tmp_path / "news_entities"
    before = contents(folder)
    reads_before = plain_reads(folder)

    for day in ("2026-01-02", "2026-01-03"):  # replacing a partition, adding one
        result = materialize(
            [news("string")], resources=resources, partition_key=day, raise_on_error=False
        )
        assert not result.success
        error = result.get_step_failure_events()[0].step_failure_data.error
        assert error is not None and error.cause is not None  # the IO manager's error
        assert error.cause.cls_name == "SchemaConflictError"
        assert (
            "table 'news_entities': column 'employees' is int64 in partition=2026-01-01 but "
            f"string in the partition being written (partition={day}); a column keeps one type "
            "across the partitions of a table, so nothing was written. To proceed: rename the "
            f"field (the new type becomes a new column), or delete {folder} and re-materialize "
            "every partition, or give the asset a new name."
        ) in error.cause.message
        assert contents(folder) == before
        for reader, frame in plain_reads(folder).items():
            pd.testing.assert_frame_equal(frame, reads_before[reader], obj=reader)
        assert ParquetStore(str(tmp_path)).read("news_entities").num_rows == 6
