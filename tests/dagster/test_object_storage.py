"""Tables on object storage: partitions written to a real S3-compatible server on loopback."""

from __future__ import annotations

import urllib.parse
from typing import Any

import boto3
import pyarrow.dataset as ds
from dagster import DailyPartitionsDefinition, materialize

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY, moto_filesystem

BUCKET = "scout-warehouse"


def test_partitions_land_on_s3_and_read_back(
    emulator: EmulatorServer, s3_endpoint: str, s3_credentials: None
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    endpoint = urllib.parse.quote(s3_endpoint, safe="")
    base = f"s3://{BUCKET}/scout?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    assets = build_findall_assets(
        "news",
        "AI companies in the news on {partition_key}",
        partitions_def=DailyPartitionsDefinition(start_date="2026-01-01"),
        limit=4,
    )
    resources: dict[str, Any] = {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
        "scout_io_manager": ScoutParquetIOManager(base_path=base),
    }
    uris = []
    for day in ("2026-01-01", "2026-01-02", "2026-01-01"):
        result = materialize([assets], resources=resources, partition_key=day)
        assert result.success
        event = result.get_asset_materialization_events()[0]
        uris.append(event.step_materialization_data.materialization.metadata["dagster/uri"].value)
    assert uris[0] == f"s3://{BUCKET}/scout/news_entities/partition=2026-01-01/data.parquet"

    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="scout/news_entities/")
    keys = sorted(o["Key"] for o in listed["Contents"] if o["Key"].endswith(".parquet"))
    assert keys == [
        "scout/news_entities/partition=2026-01-01/data.parquet",
        "scout/news_entities/partition=2026-01-02/data.parquet",
    ]
    filesystem = moto_filesystem(s3_endpoint)
    table = ds.dataset(
        f"{BUCKET}/scout/news_entities", filesystem=filesystem, format="parquet"
    ).to_table()
    per_partition = table.group_by("partition_key").aggregate([("run_id", "count_distinct")])
    assert per_partition["run_id_count_distinct"].to_pylist() == [1, 1]
    assert table.num_rows == 8
    assert emulator.ledger.creates() == 3
