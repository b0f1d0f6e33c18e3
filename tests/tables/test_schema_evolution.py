"""Issue 12: partitions written under different configurations read together, or the
write is refused; never a column lost in silence.

Every check reads the table folder the ways a user would: pandas, pyarrow.dataset
(hive), DuckDB (with and without ``union_by_name``), and through ParquetStore / the
IO manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest
from dagster import AssetIn, DailyPartitionsDefinition, asset, materialize

from scout_dagster import ParquetStore, ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

DAILY = DailyPartitionsDefinition(start_date="2026-01-01")
DAY_1, DAY_2, DAY_3 = (
    {"partition": "2026-01-01"},
    {"partition": "2026-01-02"},
    {"partition": "2026-01-03"},
)

# ---------------------------------------------------------------- readers


def plain_reads(folder: Path) -> dict[str, pd.DataFrame]:
    """The table folder as each plain reader sees it, default options, hive columns dropped."""
    glob = f"{folder}/**/*.parquet"
    frames = {
        "pandas": pd.read_parquet(folder),
        "pyarrow.dataset": ds.dataset(folder, format="parquet", partitioning="hive")
        .to_table()
        .to_pandas(),
        "duckdb": duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning=true)").df(),
        "duckdb union_by_name": duckdb.sql(
            f"select * from read_parquet('{glob}', hive_partitioning=true, union_by_name=true)"
        ).df(),
    }
    return {name: frame.drop(columns=["partition"]) for name, frame in frames.items()}


def store_reads(
    store: ParquetStore, table: str, partitions: list[dict[str, str]]
) -> dict[str, pd.DataFrame]:
    return {
        "ParquetStore.read(all)": store.read(table).to_pandas(),
        "ParquetStore.read(partitions)": store.read(table, list(partitions)).to_pandas(),
    }


# ---------------------------------------------------------------- the issue, through Dagster


def findall_resources(server: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


@pytest.mark.xfail(strict=True, reason="issue 12: plain readers take one file's schema")
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
