"""What each output is handed to its IO manager as: Arrow, pandas or polars.

The tables are built as Arrow. ``ScoutParquetIOManager`` takes them as they
are, and the report as Markdown text. The ecosystem's warehouse IO managers
take one table type each (``DuckDBPandasIOManager`` and the Snowflake and
BigQuery pandas managers: ``pandas.DataFrame``; ``DuckDBPolarsIOManager``:
``polars.DataFrame``; ``DeltaLakePyarrowIOManager``, ``PyArrowIcebergIOManager``:
``pyarrow.Table``) and no text. The type is detected from the IO manager bound
for the output (Dagster's ``DbIOManager`` lists the types its handlers take),
or set with ``table_type=`` where it cannot be detected; the report then
travels as a one-row table (``report``, ``report_chars`` and the provenance
columns) so that a table IO manager stores it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

# pyarrow is imported where a table is converted, not here: the table types
# are part of the definitions, which load without pyarrow.
if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "TABLE_TYPES",
    "TableType",
    "as_output",
    "report_table",
    "table_type_for",
    "wants_naive_times",
]

TableType = Literal["arrow", "pandas", "polars"]
TABLE_TYPES: tuple[TableType, ...] = ("arrow", "pandas", "polars")


def _accepted_types(io_manager: object) -> tuple[type, ...] | None:
    """The Python types ``io_manager`` stores, when it says; None when unknown."""
    from ._io_manager import ScoutParquetIOManager

    if isinstance(io_manager, ScoutParquetIOManager):
        import pyarrow as pa

        return (pa.Table, str)
    # dagster's DbIOManager (DuckDB, Snowflake, BigQuery, Delta, Iceberg) keeps
    # its type handlers by the type each one stores.
    handlers = getattr(io_manager, "_handlers_by_type", None)
    if isinstance(handlers, Mapping):
        return tuple(t for t in handlers if isinstance(t, type))
    return None


def _is_type(accepted: type, module: str, name: str) -> bool:
    return accepted.__module__.split(".")[0] == module and accepted.__name__ == name


def wants_naive_times(io_manager: object) -> bool:
    """dagster-iceberg partitions by time only on a date or a timestamp
    without a time zone: ``partition_start`` goes to it as naive UTC."""
    return type(io_manager).__module__.startswith("dagster_iceberg") or any(
        cls.__module__.startswith("dagster_iceberg")
        for cls in type(getattr(io_manager, "_db_client", None)).__mro__
    )


def table_type_for(io_manager: object, given: TableType | None) -> tuple[TableType, bool]:
    """(the table type to hand over, whether the report may stay text).

    ``given`` wins; else the IO manager's own types decide; else Arrow.
    """
    accepted = _accepted_types(io_manager)
    text_ok = accepted is not None and str in accepted
    if given is not None:
        return given, text_ok
    if accepted is None:
        return "arrow", False
    if any(_is_type(t, "pyarrow", "Table") for t in accepted):
        return "arrow", text_ok
    if any(_is_type(t, "pandas", "DataFrame") for t in accepted):
        return "pandas", text_ok
    if any(_is_type(t, "polars", "DataFrame") for t in accepted):
        return "polars", text_ok
    return "arrow", text_ok


def as_output(table: pa.Table, table_type: TableType, *, naive_times: bool = False) -> Any:
    """``table`` as the IO manager takes it (one conversion, no copy for Arrow)."""
    import pyarrow as pa

    if naive_times and "partition_start" in table.column_names:
        index = table.column_names.index("partition_start")
        naive = table.column(index).cast(pa.timestamp("us"))
        table = table.set_column(index, pa.field("partition_start", naive.type), naive)
    if table_type == "arrow":
        return table
    if table_type == "pandas":
        # Arrow-backed columns keep the exact types: a nullable integer stays
        # an integer, an all-null text column stays text (a warehouse would
        # otherwise create a float or a NULL-typed column from it).
        import pandas

        return table.to_pandas(types_mapper=pandas.ArrowDtype)
    import polars  # only when asked for: most users never import it

    return polars.from_arrow(table)


def report_table(report: str, provenance_columns: list[tuple[str, pa.ChunkedArray]]) -> pa.Table:
    """The report as one row: the Markdown as the API sent it, and where it came from."""
    import pyarrow as pa

    columns = {
        "report": pa.array([report], pa.string()),
        "report_chars": pa.array([len(report)], pa.int64()),
    }
    for name, values in provenance_columns:
        columns[name] = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return pa.table(columns)
