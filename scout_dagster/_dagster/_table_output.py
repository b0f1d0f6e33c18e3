"""A table's output: the table as its IO manager takes it
(:mod:`._output_types`), with the table's metadata and its data version.

Every table asset's step yields its tables through :func:`table_output`: a
Scout run's (:mod:`._run_outputs`), the runs ledger, the current entities
and the monitor results. Imported by those steps, not with the definitions:
it needs pyarrow.
"""

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from dagster import AssetExecutionContext, BetaWarning, DataVersion, Output

from ..tables.spool import SpooledTable
from ..tables.versions import content_version
from ._io_manager import ScoutParquetIOManager
from ._metadata import table_metadata
from ._output_types import TableType, as_output, table_type_for, wants_naive_times

__all__ = ["handed_over", "table_output", "versioned_output"]


def table_output(
    context: AssetExecutionContext,
    table: pa.Table | SpooledTable,
    io_manager_key: str,
    table_type: TableType | None,
    metadata: Mapping[str, Any],
    *,
    partitioned: bool = False,
    version_excludes: Iterable[str] = (),
    output_name: str | None = None,
) -> Output[Any]:
    """``table`` as the bound IO manager takes it (:mod:`._output_types`),
    versioned by its content without the ``version_excludes`` columns;
    ``output_name`` is a multi-asset's name of it."""
    return versioned_output(
        handed_over(context, table, io_manager_key, table_type),
        {**metadata, **table_metadata(table, partitioned=partitioned)},
        DataVersion(content_version(table, exclude=version_excludes)),
        output_name,
    )


def handed_over(
    context: AssetExecutionContext,
    table: pa.Table | SpooledTable,
    io_manager_key: str,
    table_type: TableType | None,
) -> Any:
    """``table`` in the type the IO manager bound to ``io_manager_key`` takes.

    A spooled table goes to ``ScoutParquetIOManager`` as it is (written from
    its file batch by batch); any other IO manager gets it read into memory."""
    io_manager = getattr(context.resources, io_manager_key, None)
    handed, _ = table_type_for(io_manager, table_type)
    if isinstance(table, SpooledTable):
        if handed == "arrow" and _writes_spooled(io_manager):
            return table
        table = table.read_all()
    return as_output(table, handed, naive_times=wants_naive_times(io_manager))


def _writes_spooled(io_manager: object) -> bool:
    """Whether ``io_manager`` is one whose ``handle_output`` is ours (a
    subclass that writes tables its own way gets a ``pyarrow.Table``)."""
    return (
        isinstance(io_manager, ScoutParquetIOManager)
        and type(io_manager).handle_output is ScoutParquetIOManager.handle_output
    )


def versioned_output(
    value: Any, metadata: Mapping[str, Any], version: DataVersion, output_name: str | None = None
) -> Output[Any]:
    with warnings.catch_warnings():
        # data_version is beta in Dagster 1.13: an unchanged table leaves
        # what reads it fresh.
        warnings.simplefilter("ignore", BetaWarning)
        if output_name is None:
            return Output(value, metadata=dict(metadata), data_version=version)
        return Output(value, output_name, metadata=dict(metadata), data_version=version)
