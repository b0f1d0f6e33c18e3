"""The example assets loaded into a local DuckDB file, the embedded warehouse of the demo.

    dagster asset materialize -f examples/duckdb_warehouse.py \\
        --select ai_infra_entities,ai_infra_citations,headquarters_summary
    python -c "import duckdb; print(duckdb.connect('data/warehouse.duckdb')
        .sql('select name, headquarters from scout.ai_infra_entities'))"

The tables are the same as in ``definitions.py``; only the IO manager differs:
``DuckDBPandasIOManager`` from dagster-duckdb-pandas, unchanged (install
``scout-dagster[duckdb]``). The database file is ``SCOUT_DUCKDB`` or
``data/warehouse.duckdb``; its name must not be the schema's (DuckDB names
the catalog after the file, and ``scout.scout`` would be ambiguous).
"""

import os

from dagster import Definitions
from dagster_duckdb_pandas import DuckDBPandasIOManager

from definitions import ai_funding, ai_infra, ev_market
from examples.downstream import headquarters_summary
from scout_dagster import ScoutResource

__all__ = ["ai_funding", "ai_infra", "defs", "ev_market", "headquarters_summary"]

defs = Definitions(
    assets=[ai_infra, ev_market, ai_funding, headquarters_summary],
    resources={
        # The demo's opt-in, as in definitions.py: without SCOUT_API_KEY, the
        # local emulator's SYNTHETIC data.
        "scout": ScoutResource.from_env(emulator_without_key=True),
        "scout_io_manager": DuckDBPandasIOManager(
            database=os.environ.get("SCOUT_DUCKDB", "data/warehouse.duckdb"), schema="scout"
        ),
    },
)
