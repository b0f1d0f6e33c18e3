"""A large FindAll body's entities go to disk as they are parsed and from there
to Parquet: the same table, data version and checks as a body read in memory,
any IO manager still gets a table, and no spool file is left behind."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    ExecuteInProcessResult,
    materialize,
    materialize_to_memory,
)

from scout_dagster import ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster.emulator import EmulatorConfig, EmulatorServer
from scout_dagster.tables import json_reader, spool
from scout_dagster.tables.versions import RUN_SPECIFIC_COLUMNS
from tests.conftest import TEST_KEY

QUERY = "S-1 stage AI infrastructure companies"
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "website": {"type": "string"}},
}
#: Runs that have ended by the step's first look: that look's download is read.
AT_ONCE = EmulatorConfig(queued_s=0.0, findall_duration_s=0.0, keepalive_s=0.2)


@pytest.fixture
def spool_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def read_as_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every body is read as a large one is: in pieces, its entities spooled;
    a batch a row, so that the spooled write shows in the Parquet file."""
    monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
    monkeypatch.setattr(spool, "BATCH_ROWS", 1)
    monkeypatch.setattr(spool, "IN_MEMORY_BYTES", 0)


def scout(server: EmulatorServer) -> ScoutResource:
    return ScoutResource(api_key=TEST_KEY, base_url=server.url, max_retries=3)


def materialized(
    server: EmulatorServer, base: Path, instance: DagsterInstance | None = None, **kwargs: Any
) -> ExecuteInProcessResult:
    query = QUERY + " on {partition_key}" if "partitions_def" in kwargs else QUERY
    assets = build_findall_assets("ai", query, output_schema=SCHEMA, limit=12, **kwargs)
    resources = {
        "scout": scout(server),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }
    partition = "2026-01-02" if "partitions_def" in kwargs else None
    result = materialize([assets], resources=resources, partition_key=partition, instance=instance)
    assert result.success
    return result


def versions(result: ExecuteInProcessResult) -> dict[str, str | None]:
    return {
        event.asset_key.to_user_string(): (
            event.step_materialization_data.materialization.tags or {}
        ).get("dagster/data_version")
        for event in result.get_asset_materialization_events()
        if event.asset_key is not None
    }


def checks(result: ExecuteInProcessResult) -> dict[str, tuple[bool, dict[str, Any]]]:
    """Each check's verdict and the figures it reports."""
    return {
        c.check_name: (c.passed, {k: getattr(v, "value", v) for k, v in c.metadata.items()})
        for c in result.get_asset_check_evaluations()
    }


def content(path: Path) -> pa.Table:
    return pq.read_table(path).drop_columns(list(RUN_SPECIFIC_COLUMNS[:2]))


@pytest.mark.parametrize("partitioned", [False, True], ids=["unpartitioned", "partitioned"])
def test_a_spooled_body_is_written_as_a_body_read_in_memory(
    partitioned: bool, spool_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs: dict[str, Any] = (
        {"partitions_def": DailyPartitionsDefinition("2026-01-01")} if partitioned else {}
    )
    file = Path("partition=2026-01-02" if partitioned else "", "data.parquet")
    with EmulatorServer(config=AT_ONCE, api_key=TEST_KEY) as server:
        in_memory = materialized(server, tmp_path / "memory", **kwargs)
        read_as_large(monkeypatch)
        spooled = materialized(server, tmp_path / "spooled", **kwargs)

    written, expected = (
        pq.ParquetFile(tmp_path / name / "ai_entities" / file) for name in ("spooled", "memory")
    )
    # A row group a spooled batch: the entities were written from the spool.
    assert (expected.metadata.num_row_groups, written.metadata.num_row_groups) == (1, 12)
    assert written.schema_arrow == expected.schema_arrow
    assert content(tmp_path / "spooled" / "ai_entities" / file).equals(
        content(tmp_path / "memory" / "ai_entities" / file)
    )
    # The same rows give the same data version, and the checks the same verdicts.
    # (Citations are not spooled; the emulator's differ from run to run.)
    assert versions(spooled)["ai_entities"] == versions(in_memory)["ai_entities"] is not None
    assert checks(spooled) == checks(in_memory) and len(checks(spooled)) == 3
    assert not list(spool_folder.iterdir()), "a spool file was left behind"


def test_any_other_io_manager_gets_the_spooled_entities_as_a_table(
    spool_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_as_large(monkeypatch)
    assets = build_findall_assets("ai", QUERY, output_schema=SCHEMA, limit=12)
    with EmulatorServer(config=AT_ONCE, api_key=TEST_KEY) as server:
        result = materialize_to_memory([assets], resources={"scout": scout(server)})
    assert result.success
    entities = result.asset_value(AssetKey("ai_entities"))
    assert isinstance(entities, pa.Table) and entities.num_rows == 12
    assert entities.column("run_id").to_pylist() == [entities.column("run_id")[0].as_py()] * 12
    assert not list(spool_folder.iterdir()), "a spool file was left behind"


def test_a_spool_that_cannot_be_written_has_the_run_read_again_in_memory(
    spool_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_as_large(monkeypatch)
    # A folder that cannot be written, as a full disk; Dagster's own stays.
    monkeypatch.setenv("SCOUT_DAGSTER_SPOOL_DIR", str(spool_folder / "missing"))
    with (
        EmulatorServer(config=AT_ONCE, api_key=TEST_KEY) as server,
        DagsterInstance.ephemeral() as instance,
    ):
        result = materialized(server, tmp_path / "out", instance)
        requests = [(r.method, r.path.rsplit("/", 1)[-1]) for r in server.ledger.requests]
        logged = [record.user_message for record in instance.all_logs(result.run_id)]
    run_id = requests[1][1]
    # The look's body could not be spooled: it was downloaded once more, read whole.
    assert requests == [("POST", "runs"), ("GET", run_id), ("GET", run_id)]
    assert pq.read_table(tmp_path / "out" / "ai_entities" / "data.parquet").num_rows == 12
    assert any("spool file could not be written" in m for m in logged), logged
