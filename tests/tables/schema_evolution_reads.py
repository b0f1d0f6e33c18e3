"""What the schema-evolution tests share: a table folder read the ways a user
would (pandas, pyarrow.dataset with hive partitions, DuckDB with and without
``union_by_name``, ParquetStore), and its files and rows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster import DailyPartitionsDefinition

from scout_dagster import ParquetStore

ROOT = Path(__file__).resolve().parents[2]
DAILY = DailyPartitionsDefinition(start_date="2026-01-01")
DAY_1, DAY_2, DAY_3 = (
    {"partition": "2026-01-01"},
    {"partition": "2026-01-02"},
    {"partition": "2026-01-03"},
)
TABLE = "entities"

# ---------------------------------------------------------------- readers


def plain_reads(folder: Path) -> dict[str, pd.DataFrame]:
    """The table folder as each plain reader sees it, default options, hive columns dropped."""
    glob = f"{folder}/**/*.parquet"
    duckdb_default = duck(f"select * from read_parquet('{glob}', hive_partitioning=true)")
    return plain_reads_but_duckdb_default(folder) | {
        "duckdb": duckdb_default.drop(columns=["partition"])
    }


def plain_reads_but_duckdb_default(folder: Path) -> dict[str, pd.DataFrame]:
    glob = f"{folder}/**/*.parquet"
    frames = {
        "pandas": pd.read_parquet(folder),
        "pyarrow.dataset": ds.dataset(folder, format="parquet", partitioning="hive")
        .to_table()
        .to_pandas(),
        "duckdb union_by_name": duck(
            f"select * from read_parquet('{glob}', hive_partitioning=true, union_by_name=true)"
        ),
    }
    return {name: frame.drop(columns=["partition"]) for name, frame in frames.items()}


def duck(sql: str) -> pd.DataFrame:
    relation = duckdb.sql(sql)
    assert relation is not None
    frame: pd.DataFrame = relation.df()
    return frame


def store_reads(
    store: ParquetStore, table: str, partitions: list[dict[str, str]]
) -> dict[str, pd.DataFrame]:
    return {
        "ParquetStore.read(all)": store.read(table).to_pandas(),
        "ParquetStore.read(partitions)": store.read(table, list(partitions)).to_pandas(),
    }


# ---------------------------------------------------------------- table folders


def data_files(folder: Path) -> dict[str, Path]:
    """The data files of a table folder, by partition folder."""
    return {
        str(path.parent.relative_to(folder)): path
        for path in sorted(folder.rglob("data.parquet"))
        if not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    }


def file_columns(folder: Path) -> dict[str, list[str]]:
    return {name: pq.read_schema(path).names for name, path in data_files(folder).items()}


def contents(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def rows(frame: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """Rows as plain values (every kind of missing value as None), by ``id``."""
    records = frame.to_dict("records")
    return {r["id"]: {str(k): None if missing(v) else v for k, v in r.items()} for r in records}


def assert_every_reader_sees(
    store: ParquetStore,
    folder: Path,
    partitions: list[dict[str, str]],
    columns: list[str],
    expected: dict[Any, dict[str, Any]],
) -> None:
    reads = plain_reads(folder) | store_reads(store, TABLE, partitions)
    for reader, frame in reads.items():
        assert list(frame.columns) == columns, reader
        assert rows(frame) == expected, reader
