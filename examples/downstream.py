"""A downstream asset that takes a Scout table as a pandas DataFrame.

The Parquet IO manager hands it ``ai_infra_entities`` as pandas because of the
annotation; annotate ``pyarrow.Table`` to get Arrow instead.
"""

import pandas as pd
from dagster import AssetIn, MetadataValue, Output, asset


@asset(
    ins={"entities": AssetIn("ai_infra_entities")},
    io_manager_key="scout_io_manager",
    group_name="analysis",
    kinds={"pandas", "parquet"},
)
def headquarters_summary(entities: pd.DataFrame) -> Output[pd.DataFrame]:
    """How many of the AI infrastructure companies sit in each headquarters city."""
    summary = (
        entities.groupby("headquarters", dropna=False)
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
