"""Partitions on S3 (a local object store) are unified or refused as on disk."""

from __future__ import annotations

import urllib.parse

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from scout_dagster import ParquetStore
from scout_dagster._storage import SchemaConflictError
from tests.conftest import moto_filesystem
from tests.tables.schema_evolution_reads import (
    DAY_1,
    DAY_2,
    DAY_3,
    TABLE,
    rows,
    store_reads,
)

# ---------------------------------------------------------------- object storage

BUCKET = "scout-evolution"


def test_partitions_on_s3_are_unified_or_refused(s3_endpoint: str, s3_credentials: None) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    endpoint = urllib.parse.quote(s3_endpoint, safe="")
    store = ParquetStore(
        f"s3://{BUCKET}/scout?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    )
    filesystem = moto_filesystem(s3_endpoint)
    folder = f"{BUCKET}/scout/{TABLE}"

    def objects() -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"scout/{TABLE}/")["Contents"]
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    def reads() -> dict[str, pd.DataFrame]:
        frames = {
            "pandas": pd.read_parquet(folder, filesystem=filesystem),
            "pyarrow.dataset": ds.dataset(
                folder, filesystem=filesystem, format="parquet", partitioning="hive"
            )
            .to_table()
            .to_pandas(),
        }
        plain = {name: frame.drop(columns=["partition"]) for name, frame in frames.items()}
        return plain | store_reads(store, TABLE, [DAY_1, DAY_2, DAY_3])

    store.write(TABLE, pa.table({"id": [1], "count": [10]}), DAY_1)
    store.write(TABLE, pa.table({"id": [2], "count": [20]}), DAY_2)
    store.write(TABLE, pa.table({"id": [3], "website": ["c.com"], "count": [30]}), DAY_3)
    expected = {
        1: {"id": 1, "count": 10, "website": None},
        2: {"id": 2, "count": 20, "website": None},
        3: {"id": 3, "count": 30, "website": "c.com"},
    }
    for reader, frame in reads().items():
        assert list(frame.columns) == ["id", "count", "website"], reader
        assert rows(frame) == expected, reader

    before = objects()
    with pytest.raises(SchemaConflictError) as refused:
        store.write(TABLE, pa.table({"id": [4], "count": ["forty"]}), DAY_2)
    assert str(refused.value).startswith(
        "table 'entities': column 'count' is int64 in partition=2026-01-01 but string in the "
        "partition being written (partition=2026-01-02);"
    )
    assert f"delete s3://{BUCKET}/scout/{TABLE} and re-materialize" in str(refused.value)
    assert objects() == before
    for reader, frame in reads().items():
        assert rows(frame) == expected, reader
