"""examples/duckdb_warehouse.py: the example assets into a DuckDB file, queried back."""

from pathlib import Path

import duckdb
import pytest
from dagster import materialize

from scout_dagster import ScoutResource
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY


def test_the_example_assets_load_into_duckdb_and_query_back(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SCOUT_DUCKDB", str(database))
    from examples import duckdb_warehouse

    defs = duckdb_warehouse.defs
    # The example's own IO manager, pointed at this test's file by SCOUT_DUCKDB.
    assert defs.resources is not None
    io_manager = defs.resources["scout_io_manager"]
    assets = [
        duckdb_warehouse.ai_infra,
        duckdb_warehouse.ev_market,
        duckdb_warehouse.headquarters_summary,
    ]
    result = materialize(
        assets,
        resources={
            "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
            "scout_io_manager": io_manager,
        },
    )
    assert result.success
    with duckdb.connect(str(database), read_only=True) as con:
        rows, runs = con.execute(
            "select count(*), count(distinct run_id) from scout.ai_infra_entities"
        ).fetchall()[0]
        assert rows > 0 and runs == 1
        (companies,) = con.execute(
            "select sum(companies) from scout.headquarters_summary"
        ).fetchall()[0]
        assert companies == rows
        report = con.execute("select report from scout.ev_market_report").fetchall()
        assert len(report) == 1 and "[1]" in report[0][0]
