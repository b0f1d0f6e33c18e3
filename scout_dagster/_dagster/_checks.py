"""The asset checks of a Scout run's primary table (entities, or results).

``not_empty``, ``unique_<id>`` and ``has_source_url``, evaluated on the table
the run produced, in the same step. Blocking checks (``blocking_checks=True``)
stop downstream assets of a run that came back empty or broken; on a
partitioned asset the checks are partitioned with it.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, MetadataValue, PartitionsDefinition

if TYPE_CHECKING:  # tables exist only where runs execute; definitions need no pyarrow
    import pyarrow as pa

__all__ = ["check_results", "check_specs"]


def check_specs(
    key: AssetKey,
    id_column: str,
    *,
    blocking: bool,
    partitions_def: PartitionsDefinition | None,
) -> list[AssetCheckSpec]:
    described = {
        "not_empty": "The run returned at least one row.",
        f"unique_{id_column}": f"No two rows share a {id_column}.",
        "has_source_url": "Every row names its source URL.",
    }
    with warnings.catch_warnings():
        # A partitions_def on a check spec is a preview in Dagster 1.13; it is
        # what lets a partition's check results sit with that partition.
        warnings.simplefilter("ignore")
        return [
            AssetCheckSpec(
                name,
                asset=key,
                description=description,
                blocking=blocking,
                partitions_def=partitions_def,
            )
            for name, description in described.items()
        ]


def check_results(key: AssetKey, table: pa.Table, id_column: str) -> list[AssetCheckResult]:
    ids = table.column(id_column)
    # unique() is one hash pass; count_distinct over many chunks measured ten
    # times slower at a million rows. Nulls are not ids: count_distinct's rule.
    distinct = len(ids.unique()) - (1 if ids.null_count else 0)
    duplicates = table.num_rows - distinct
    missing_url = table.column("source_url").null_count
    return [
        AssetCheckResult(
            asset_key=key,
            check_name="not_empty",
            passed=table.num_rows > 0,
            metadata={"rows": MetadataValue.int(table.num_rows)},
        ),
        AssetCheckResult(
            asset_key=key,
            check_name=f"unique_{id_column}",
            passed=duplicates == 0,
            metadata={"duplicates": MetadataValue.int(duplicates)},
        ),
        AssetCheckResult(
            asset_key=key,
            check_name="has_source_url",
            passed=missing_url == 0,
            metadata={"rows_without_source_url": MetadataValue.int(missing_url)},
        ),
    ]
