"""The ecosystem's warehouse IO managers, bound as the Scout IO manager, unchanged.

Each case materializes FindAll and search assets against the emulator into a
real engine (DuckDB through pandas and polars, Delta Lake, Iceberg on a SQL
catalog backed by SQLite), reads the rows back with that engine, and
re-materializes a partition to find it replaced, not appended.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dagster import (
    AddDynamicPartitionsRequest,
    AssetSpec,
    DagsterInstance,
    DailyPartitionsDefinition,
    SensorResult,
    StaticPartitionsDefinition,
    materialize,
)
from dagster_duckdb_polars import DuckDBPolarsIOManager

from scout_dagster import (
    DagsterScoutTranslator,
    ScoutResource,
    ScoutTableProps,
    build_current_entities,
    build_findall_assets,
    build_scout_runs_ledger,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

SCHEMA = "scout"


@dataclass
class Warehouse:
    name: str
    io_manager: Any
    read: Callable[[str], pa.Table]  # table name -> its rows, read by the engine itself


def _duckdb(path: Path, io_manager: Any) -> Warehouse:
    import duckdb

    def read(table: str) -> pa.Table:
        # The same configuration as the IO manager's connections (DuckDB refuses
        # two configurations of one file in a process).
        with duckdb.connect(str(path), config={"custom_user_agent": "dagster"}) as con:
            result = con.sql(f"select * from {SCHEMA}.{table}").arrow()
            # duckdb 1 gives a Table, duckdb 2 a RecordBatchReader.
            return result.read_all() if hasattr(result, "read_all") else result

    return Warehouse("duckdb", io_manager, read)


def duckdb_pandas(tmp: Path) -> Warehouse:
    from dagster_duckdb_pandas import DuckDBPandasIOManager

    path = tmp / "warehouse.duckdb"
    return _duckdb(path, DuckDBPandasIOManager(database=str(path), schema=SCHEMA))


def duckdb_polars(tmp: Path) -> Warehouse:
    path = tmp / "warehouse.duckdb"
    return _duckdb(path, DuckDBPolarsIOManager(database=str(path), schema=SCHEMA))


def delta(tmp: Path) -> Warehouse:
    from dagster_deltalake import DeltaLakePyarrowIOManager, LocalConfig
    from deltalake import DeltaTable

    root = tmp / "delta"
    io_manager = DeltaLakePyarrowIOManager(
        root_uri=str(root), storage_options=LocalConfig(), schema=SCHEMA
    )
    return Warehouse(
        "delta", io_manager, lambda table: DeltaTable(str(root / SCHEMA / table)).to_pyarrow_table()
    )


def iceberg(tmp: Path) -> Warehouse:
    from dagster_iceberg.config import IcebergCatalogConfig
    from dagster_iceberg.io_manager.arrow import PyArrowIcebergIOManager
    from pyiceberg.catalog.sql import SqlCatalog

    (tmp / "warehouse").mkdir()
    properties = {
        "uri": f"sqlite:///{tmp}/catalog.db",
        "warehouse": f"file://{tmp}/warehouse",
    }
    # The IO manager writes into a namespace that exists (docs/warehouses.md says so).
    SqlCatalog("scout", **properties).create_namespace(SCHEMA)
    io_manager = PyArrowIcebergIOManager(
        name="scout", config=IcebergCatalogConfig(properties=properties), namespace=SCHEMA
    )

    def read(table: str) -> pa.Table:
        catalog = SqlCatalog("scout", **properties)
        return catalog.load_table(f"{SCHEMA}.{table}").scan().to_arrow()

    return Warehouse("iceberg", io_manager, read)


WAREHOUSES = [duckdb_pandas, duckdb_polars, delta, iceberg]


@pytest.fixture(params=WAREHOUSES, ids=lambda f: f.__name__)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    yield request.param(tmp_path)


def resources(emulator: EmulatorServer, warehouse: Warehouse) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
        "scout_io_manager": warehouse.io_manager,
    }


def test_findall_and_search_tables_land_and_read_back(
    emulator: EmulatorServer, warehouse: Warehouse
) -> None:
    findall = build_findall_assets("ai", "AI infrastructure companies", limit=5)
    search = build_search_assets("ev", ["ev market trends"], objective="Where to?", limit=3)
    result = materialize([findall, search], resources=resources(emulator, warehouse))
    assert result.success
    runs = {run.kind: run for run in emulator.ledger.runs()}

    entities = warehouse.read("ai_entities")
    assert entities.num_rows == 5
    assert set(entities.column("run_id").to_pylist()) == {runs["findall"].run_id}
    assert warehouse.read("ai_citations").num_rows > 0
    results = warehouse.read("ev_results")
    assert results.num_rows > 0
    assert set(results.column("run_id").to_pylist()) == {runs["search"].run_id}
    # The report, in a table IO manager, is one row: the Markdown as the API sent it.
    report = warehouse.read("ev_report")
    assert report.num_rows == 1
    text = report.column("report")[0].as_py()
    assert "[1]" in text and report.column("report_chars")[0].as_py() == len(text)
    assert warehouse.read("ev_sources").num_rows > 0 and warehouse.read("ev_findings").num_rows > 0


def _rows_by_partition(table: pa.Table) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in table.column("partition_key").to_pylist():
        counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.parametrize(
    "partitions_def, query",
    [
        (StaticPartitionsDefinition(["emea", "apac"]), "AI companies in {partition_key}"),
        (
            DailyPartitionsDefinition(start_date="2026-01-01"),
            "AI companies in the news on {start:%B %d, %Y}",
        ),
    ],
    ids=["static", "daily"],
)
def test_rematerializing_a_partition_replaces_exactly_its_rows(
    emulator: EmulatorServer,
    warehouse: Warehouse,
    partitions_def: Any,
    query: str,
) -> None:
    assets = build_findall_assets("reg", query, limit=4, partitions_def=partitions_def)
    first, second = partitions_def.get_partition_keys()[:2]
    for key in (first, first, second, first):
        result = materialize([assets], resources=resources(emulator, warehouse), partition_key=key)
        assert result.success
    entities = warehouse.read("reg_entities")
    assert _rows_by_partition(entities) == {first: 4, second: 4}
    # The first partition's rows are those of its last run only.
    rows = entities.filter(pc.equal(entities.column("partition_key"), first))
    assert set(rows.column("run_id").to_pylist()) == {emulator.ledger.runs()[-1].run_id}


class IcebergSchemaUpdates(DagsterScoutTranslator):
    """dagster-iceberg evolves a table's schema when the asset asks for it."""

    def get_asset_spec(self, props: ScoutTableProps) -> AssetSpec:
        spec = super().get_asset_spec(props)
        return spec.merge_attributes(metadata={"schema_update_mode": "update"})


def test_a_field_added_later_evolves_the_table_or_is_refused_never_dropped(
    emulator: EmulatorServer, warehouse: Warehouse
) -> None:
    regions = StaticPartitionsDefinition(["emea", "apac"])
    translator = IcebergSchemaUpdates() if warehouse.name == "iceberg" else None

    def assets(fields: list[str]) -> Any:
        return build_findall_assets(
            "reg",
            "AI companies in {partition_key}",
            fields=fields,
            limit=3,
            partitions_def=regions,
            translator=translator,
        )

    before = materialize(
        [assets(["name"])], resources=resources(emulator, warehouse), partition_key="emea"
    )
    assert before.success
    after = materialize(
        [assets(["name", "website"])],
        resources=resources(emulator, warehouse),
        partition_key="apac",
        raise_on_error=False,
    )
    table = warehouse.read("reg_entities")
    if warehouse.name == "iceberg":
        # Evolved: both partitions, the new column null where it was not asked.
        assert after.success
        assert _rows_by_partition(table) == {"emea": 3, "apac": 3}
        websites = dict(
            zip(
                table.column("partition_key").to_pylist(),
                table.column("website").to_pylist(),
                strict=True,
            )
        )
        assert websites["emea"] is None and websites["apac"]
    else:
        # DuckDB and Delta refuse a changed schema with the engine's own
        # message; the rows written before stay as they were.
        assert not after.success
        error = after.get_step_failure_events()[0].step_failure_data.error
        assert error is not None and "reg_entities" in error.message
        assert _rows_by_partition(table) == {"emea": 3}
        assert "website" not in table.column_names


def test_the_runs_ledger_and_the_current_entities_land_too(
    emulator: EmulatorServer, warehouse: Warehouse, tmp_path: Path
) -> None:
    findall = build_findall_assets("ai", "AI infrastructure companies", limit=4)
    search = build_search_assets("ev", ["ev market trends"], limit=2)
    ledger = build_scout_runs_ledger(findall, search)
    # Delta and Iceberg load by the input's type; DuckDB's polars manager too.
    loads_by_type = {"delta": "arrow", "iceberg": "arrow"}
    table_type: Any = loads_by_type.get(warehouse.name)
    if isinstance(warehouse.io_manager, DuckDBPolarsIOManager):
        table_type = "polars"
    current = build_current_entities(findall, table_type=table_type)
    home = tmp_path / "home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as instance:
        loads = materialize(
            [findall, search], resources=resources(emulator, warehouse), instance=instance
        )
        assert loads.success
        result = materialize(
            [findall, search, ledger, current],
            resources=resources(emulator, warehouse),
            instance=instance,
            selection=[ledger.key, current.key],
        )
        assert result.success
    runs = warehouse.read("scout_runs")
    served = {run.run_id: run.credits for run in emulator.ledger.runs()}
    assert (
        dict(
            zip(runs.column("run_id").to_pylist(), runs.column("credits").to_pylist(), strict=True)
        )
        == served
    )
    entities = warehouse.read("ai_entities_current")
    assert entities.num_rows == len(set(entities.column("entity_id").to_pylist())) == 4


def test_monitor_results_land_one_partition_per_event(
    emulator: EmulatorServer, warehouse: Warehouse
) -> None:
    from dagster import build_sensor_context

    from scout_dagster import build_scout_monitor_assets, build_scout_monitor_sensor
    from tests.conftest import make_client

    client, _ = make_client(emulator)
    monitor = client.monitors.create("AI chip export controls", cadence="weekly").monitor_id
    for _ in range(2):
        client.monitors.run(monitor)  # a run now: an event at once
    events = client.monitors.events(monitor)
    assert len(events) == 2
    assets = build_scout_monitor_assets("chips", monitor, io_manager_key="scout_io_manager")
    sensor = build_scout_monitor_sensor(assets)
    instance = DagsterInstance.ephemeral()
    bound = resources(emulator, warehouse)
    with build_sensor_context(instance=instance, resources=bound) as context:
        result = sensor(context)
    assert isinstance(result, SensorResult) and result.run_requests
    for added in result.dynamic_partitions_requests or []:
        assert isinstance(added, AddDynamicPartitionsRequest)
        instance.add_dynamic_partitions(added.partitions_def_name, added.partition_keys)
    for request in [*result.run_requests, result.run_requests[0]]:  # the first one twice
        assert materialize(
            [assets], partition_key=request.partition_key, instance=instance, resources=bound
        ).success
    rows = warehouse.read("chips_monitor_results")
    # One event's rows per partition: the re-materialized one replaced, not appended.
    assert _rows_by_partition(rows) == {e.event_id: len(e.results) for e in events}
    assert set(rows.column("monitor_id").to_pylist()) == {monitor}
