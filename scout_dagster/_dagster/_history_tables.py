"""What the runs ledger and the current entities share as table assets: their
timestamp type, how a wrong argument is named, the ``table_type`` check, and
the table handed to the bound IO manager with its data version."""

import warnings
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BetaWarning,
    DataVersion,
    Output,
)

from ..tables.versions import content_version
from ._metadata import table_metadata
from ._output_types import TABLE_TYPES, TableType, as_output, table_type_for

__all__: list[str] = []

_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _shown(value: object) -> str:
    if isinstance(value, AssetsDefinition):
        keys = ", ".join(sorted(k.to_user_string() for k in value.keys))
        return f"the asset definition of {keys}"
    return type(value).__name__


def _output(
    context: AssetExecutionContext,
    table: pa.Table,
    io_manager_key: str,
    table_type: TableType | None,
    metadata: Mapping[str, Any],
) -> Output[Any]:
    """``table`` as the bound IO manager takes it (:mod:`._output_types`)."""
    io_manager = getattr(context.resources, io_manager_key, None)
    handed, _ = table_type_for(io_manager, table_type)
    with warnings.catch_warnings():
        # data_version is beta in Dagster 1.13: an unchanged table leaves
        # what reads it fresh.
        warnings.simplefilter("ignore", BetaWarning)
        return Output(
            as_output(table, handed),
            metadata={**table_metadata(table, partitioned=False), **metadata},
            data_version=DataVersion(content_version(table, exclude=())),
        )


def _check_table_type(table_type: TableType | None) -> None:
    if table_type is not None and table_type not in TABLE_TYPES:
        raise ValueError(
            f"table_type must be one of {', '.join(TABLE_TYPES)} (or None: taken from the "
            f"IO manager), got {table_type!r}"
        )
