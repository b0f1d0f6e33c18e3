"""Partitioned assets: queries rendered per partition, one folder each, replaced on re-runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pytest
from dagster import (
    AssetKey,
    BackfillPolicy,
    DailyPartitionsDefinition,
    DynamicPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    materialize,
)

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

DAILY = DailyPartitionsDefinition(start_date="2026-01-01")


def resources(server: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def materialization(result: Any, key: str) -> Any:
    for event in result.get_asset_materialization_events():
        if event.step_materialization_data.materialization.asset_key == AssetKey(key):
            return event.step_materialization_data.materialization
    raise AssertionError(f"no materialization of {key}")


def test_daily_partitions_render_the_window_and_land_in_their_own_folders(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_findall_assets(
        "news",
        "AI companies in the news on {start} (until {end:%d %B %Y})",
        partitions_def=DAILY,
        limit=5,
    )
    for day in ("2026-01-01", "2026-01-02"):
        assert materialize(
            [assets], resources=resources(emulator, tmp_path), partition_key=day
        ).success
    queries = [str(r.query) for r in emulator.ledger.runs()]
    assert sorted(queries) == [
        "AI companies in the news on 2026-01-01 (until 02 January 2026)",
        "AI companies in the news on 2026-01-02 (until 03 January 2026)",
    ]
    for day in ("2026-01-01", "2026-01-02"):
        assert (tmp_path / "news_entities" / f"partition={day}" / "data.parquet").exists()

    frame = pd.read_parquet(tmp_path / "news_entities")
    assert sorted(frame["partition_key"].unique()) == ["2026-01-01", "2026-01-02"]
    assert frame.groupby("partition_key").size().to_dict() == {"2026-01-01": 5, "2026-01-02": 5}
    # Every row names its run and partition.
    assert frame.groupby("partition_key")["run_id"].nunique().to_dict() == {
        "2026-01-01": 1,
        "2026-01-02": 1,
    }


def test_rematerializing_a_partition_replaces_it(emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets(
        "news", "AI news on {partition_key}", partitions_def=DAILY, limit=4
    )
    for day in ("2026-01-01", "2026-01-02", "2026-01-01"):
        assert materialize(
            [assets], resources=resources(emulator, tmp_path), partition_key=day
        ).success
    table = ds.dataset(tmp_path / "news_entities", format="parquet").to_table()
    counts = table.group_by("partition_key").aggregate([("run_id", "count_distinct")])
    assert dict(
        zip(
            counts["partition_key"].to_pylist(),
            counts["run_id_count_distinct"].to_pylist(),
            strict=True,
        )
    ) == {
        "2026-01-01": 1,
        "2026-01-02": 1,
    }
    assert table.num_rows == 8
    folder = tmp_path / "news_entities" / "partition=2026-01-01"
    assert sorted(p.name for p in folder.iterdir()) == ["data.parquet"], "no temporary files left"
    # A second day's run is a refresh: a new remote run (a new Dagster run).
    assert emulator.ledger.creates() == 3


def test_multi_partitions_fill_named_dimensions(emulator: EmulatorServer, tmp_path: Path) -> None:
    partitions = MultiPartitionsDefinition(
        {"date": DAILY, "region": StaticPartitionsDefinition(["europe", "us"])}
    )
    assets = build_findall_assets(
        "regional",
        "AI startups in {region} founded before {start:%Y}",
        partitions_def=partitions,
        limit=3,
    )
    key = MultiPartitionKey({"date": "2026-01-05", "region": "europe"})
    result = materialize([assets], resources=resources(emulator, tmp_path), partition_key=key)
    assert result.success
    (run,) = emulator.ledger.runs()
    assert run.query == "AI startups in europe founded before 2026"
    path = tmp_path / "regional_entities" / "date=2026-01-05" / "region=europe" / "data.parquet"
    assert path.exists()
    frame = pd.read_parquet(path)
    assert set(frame["partition_key"]) == {str(key)}


def test_dynamic_partitions_take_the_key(emulator: EmulatorServer, tmp_path: Path) -> None:
    from dagster import DagsterInstance

    topics = DynamicPartitionsDefinition(name="topics")
    assets = build_findall_assets(
        "topic", "companies working on {partition_key}", partitions_def=topics, limit=2
    )
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("topics", ["solid-state batteries"])
        result = materialize(
            [assets],
            resources=resources(emulator, tmp_path),
            partition_key="solid-state batteries",
            instance=instance,
        )
    assert result.success
    assert emulator.ledger.runs()[0].query == "companies working on solid-state batteries"
    assert (
        tmp_path / "topic_entities" / "partition=solid-state batteries" / "data.parquet"
    ).exists()


@pytest.mark.parametrize(
    ("query", "partitions_def", "message"),
    [
        ("news on {partition_key}", None, "available placeholders: none (no partitions_def)"),
        (
            "news on {start}",
            StaticPartitionsDefinition(["a"]),
            "uses {start}, which this asset cannot fill",
        ),
        ("news on {day}", DAILY, "available placeholders: {partition_key}, {start}, {end}"),
        ("news on {start:%Q", DAILY, "is malformed"),
        ("a {b", DAILY, "is malformed"),
        ("news on {start:%Q}", DAILY, "query {start:%Q}: unknown strftime code(s) %Q"),
        ("news in {end:YYYY}", DAILY, "query {end:YYYY}: a format for a window bound"),
        ("up {start:%d%}", DAILY, "query {start:%d%}: the pattern ends with a lone %"),
    ],
)
def test_bad_templates_fail_at_definition_time(
    query: str, partitions_def: Any, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        build_findall_assets("news", query, partitions_def=partitions_def)
    assert message in str(caught.value)


@pytest.mark.parametrize("spec", ["%-d %B %Y", "%_d", "%^B", "%10Y", "%Ey", "100%% %Y"])
def test_strftime_flags_widths_and_modifiers_are_accepted(spec: str) -> None:
    build_findall_assets("news", "news on {start:" + spec + "}", partitions_def=DAILY)


def test_literal_braces_are_doubled(emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets("braces", "companies with {{curly}} names", limit=1)
    assert materialize([assets], resources=resources(emulator, tmp_path)).success
    assert emulator.ledger.runs()[0].query == "companies with {curly} names"


def test_only_one_partition_per_run() -> None:
    with pytest.raises(ValueError, match="one partition per run"):
        build_findall_assets(
            "news",
            "news on {start}",
            partitions_def=DAILY,
            backfill_policy=BackfillPolicy.single_run(),
        )
    assets = build_findall_assets("news", "news on {start}", partitions_def=DAILY)
    assert assets.backfill_policy == BackfillPolicy.multi_run(max_partitions_per_run=1)


def test_code_version_follows_the_query_configuration() -> None:
    def version(**kwargs: Any) -> str | None:
        arguments: dict[str, Any] = {"name": "ai", "query": "AI companies", "limit": 5} | kwargs
        return build_findall_assets(**arguments).code_versions_by_key[AssetKey("ai_entities")]

    assert version() == version()
    assert version() != version(query="AI companies in Europe")
    assert version() != version(limit=6)
    assert version() != version(fields=["name"])


def test_data_version_changes_only_with_content(emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets("ai", "AI infrastructure companies", limit=5)
    first = materialize([assets], resources=resources(emulator, tmp_path))
    second = materialize([assets], resources=resources(emulator, tmp_path))
    other = build_findall_assets("ai", "AI chip companies", limit=5)
    third = materialize([other], resources=resources(emulator, tmp_path))

    def data_version(result: Any) -> str:
        tags = materialization(result, "ai_entities").tags
        return str(tags["dagster/data_version"])

    runs = [
        materialization(r, "ai_entities").metadata["scout/run_id"].value for r in (first, second)
    ]
    assert runs[0] != runs[1], "two remote runs"
    assert data_version(first) == data_version(second), "same rows, same version"
    assert data_version(first) != data_version(third)


def test_a_partitioned_asset_run_without_a_partition_fails_clearly(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_findall_assets("news", "news on {partition_key}", partitions_def=DAILY)
    result = materialize([assets], resources=resources(emulator, tmp_path), raise_on_error=False)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None
    assert (
        "query needs {partition_key}, which this run does not provide: materialize a partition "
        "of this asset (a run needs a partition key)"
    ) in error.message
    assert emulator.ledger.requests == []
