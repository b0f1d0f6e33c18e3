"""A table asset's output: the table as its IO manager takes it
(:mod:`._output_types`), with the table's metadata and its data version.

Imported by the steps of the runs ledger, the current entities and the
monitor results, not with the definitions: it needs pyarrow.
"""

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from dagster import AssetExecutionContext, BetaWarning, DataVersion, Output

from ..tables.versions import content_version
from ._metadata import table_metadata
from ._output_types import TableType, as_output, table_type_for, wants_naive_times

__all__ = ["table_output"]


def table_output(
    context: AssetExecutionContext,
    table: pa.Table,
    io_manager_key: str,
    table_type: TableType | None,
    metadata: Mapping[str, Any],
    *,
    partitioned: bool = False,
    version_excludes: Iterable[str] = (),
) -> Output[Any]:
    """``table`` as the bound IO manager takes it (:mod:`._output_types`),
    versioned by its content without the ``version_excludes`` columns."""
    io_manager = getattr(context.resources, io_manager_key, None)
    handed, _ = table_type_for(io_manager, table_type)
    naive_times = wants_naive_times(io_manager)
    with warnings.catch_warnings():
        # data_version is beta in Dagster 1.13: an unchanged table leaves
        # what reads it fresh.
        warnings.simplefilter("ignore", BetaWarning)
        return Output(
            as_output(table, handed, naive_times=naive_times),
            metadata={**metadata, **table_metadata(table, partitioned=partitioned)},
            data_version=DataVersion(content_version(table, exclude=version_excludes)),
        )
