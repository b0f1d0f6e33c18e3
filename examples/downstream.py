"""A downstream asset that summarizes a Scout table with pandas.

Its input is not annotated, so each IO manager hands over its default: an
Arrow table from ``ScoutParquetIOManager``, a DataFrame from
``DuckDBPandasIOManager`` (``examples/duckdb_warehouse.py``). Annotating it
``pd.DataFrame`` would ask for pandas by type, but the annotation is read when
the code location loads, and importing pandas there costs every process that
loads it (a code server, ``dg check defs``) about half a second; pandas is
imported here when the asset runs.
"""

from typing import Any

from dagster import AssetIn, MetadataValue, Output, asset


@asset(
    ins={"entities": AssetIn("ai_infra_entities")},
    io_manager_key="scout_io_manager",
    group_name="analysis",
    kinds={"pandas", "parquet"},
    # Given here rather than as a docstring: Dagster parses an asset function's
    # docstring for its description, and the first parse in a process sets up
    # a docstring parser that costs about 70 ms of loading the code location.
    description="How many of the AI infrastructure companies sit in each headquarters city.",
)
def headquarters_summary(entities: Any) -> Output[Any]:
    import pandas as pd

    frame = entities if isinstance(entities, pd.DataFrame) else entities.to_pandas()
    summary = (
        frame.groupby("headquarters", dropna=False)
        .agg(companies=("entity_id", "nunique"), median_headcount=("headcount", "median"))
        .reset_index()
        .sort_values(["companies", "headquarters"], ascending=[False, True])
    )
    return Output(
        summary,
        metadata={
            "dagster/row_count": MetadataValue.int(len(summary)),
            "top": MetadataValue.md(summary.head(5).to_markdown(index=False)),
        },
    )
