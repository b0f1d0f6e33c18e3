"""What every row of every Scout table says about where it came from.

Each table ends with the same five columns, :data:`PROVENANCE_COLUMNS`:
``run_id``, the ``query``, the ``partition_key`` and ``partition_start``
(the start of a time-window partition, a UTC timestamp a warehouse IO
manager can take as its ``partition_expr``; both null when they do not
apply) and ``fetched_at``. :class:`Provenance` holds their values for one
run; :func:`with_provenance` and :func:`table_with_provenance` add them to a
table's other columns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from .columns import PROVENANCE_COLUMNS, PROVENANCE_DECLARED
from .schemas import arrow_schema
from .spool import SpooledTable

__all__ = [
    "PROVENANCE_COLUMNS",
    "PROVENANCE_FIELDS",
    "TIMESTAMP",
    "Provenance",
    "constant",
    "table_with_provenance",
    "with_provenance",
]

#: The type of every time column: microseconds, UTC.
TIMESTAMP = pa.timestamp("us", tz="UTC")

#: The provenance columns' fields, last in every table's schema.
PROVENANCE_FIELDS = tuple(arrow_schema(PROVENANCE_DECLARED))


@dataclasses.dataclass(frozen=True)
class Provenance:
    """What every row says about where it came from."""

    run_id: str
    query: str
    fetched_at: dt.datetime
    partition_key: str | None = None
    #: The start of the time window of a time-window partition (None otherwise):
    #: the ``partition_start`` column, in UTC.
    partition_start: dt.datetime | None = None

    def __post_init__(self) -> None:
        start = self.partition_start
        if start is not None and start.utcoffset() is None:
            raise ValueError(
                f"partition_start {start.isoformat()} has no time zone: give an aware "
                "datetime (a time window's start), so that its instant is known"
            )

    def values(self) -> list[tuple[str, pa.Scalar]]:
        """The provenance columns' values, in :data:`PROVENANCE_COLUMNS` order."""
        return [
            ("run_id", pa.scalar(self.run_id, pa.string())),
            ("query", pa.scalar(self.query, pa.string())),
            ("partition_key", pa.scalar(self.partition_key, pa.string())),
            ("partition_start", pa.scalar(self.partition_start, TIMESTAMP)),
            ("fetched_at", pa.scalar(self.fetched_at, TIMESTAMP)),
        ]

    def columns(self, rows: int) -> list[tuple[str, pa.ChunkedArray]]:
        """The provenance columns of ``rows`` rows, in :data:`PROVENANCE_COLUMNS` order."""
        return [(name, constant(value, rows)) for name, value in self.values()]


#: Rows in the one chunk a constant column repeats.
_CONSTANT_CHUNK_ROWS = 65_536


def constant(value: pa.Scalar, rows: int) -> pa.ChunkedArray:
    """``rows`` copies of ``value`` that cost one chunk of memory.

    Every chunk is the same immutable buffer, so a million rows of run id and
    query take 64k rows' worth of memory instead of a million; readers and the
    Parquet writer see an ordinary column.
    """
    chunk = pa.repeat(value, min(rows, _CONSTANT_CHUNK_ROWS))
    full, rest = divmod(rows, _CONSTANT_CHUNK_ROWS)
    chunks = [chunk] * full + ([chunk.slice(0, rest)] if rest else [])
    return pa.chunked_array(chunks, type=value.type)


def with_provenance(
    table: pa.Table | SpooledTable, schema: pa.Schema, provenance: Provenance
) -> pa.Table | SpooledTable:
    """``table`` (``schema``'s columns but the provenance ones) with them added."""
    if isinstance(table, SpooledTable):
        return table.with_constants(schema, [value for _, value in provenance.values()])
    columns = [*table.columns, *[array for _, array in provenance.columns(table.num_rows)]]
    return pa.Table.from_arrays(columns, schema=schema)


def table_with_provenance(
    columns: Mapping[str, Sequence[Any]], schema: pa.Schema, provenance: Provenance
) -> pa.Table:
    """``schema``'s table from its columns but the provenance ones, given as
    Python values, and the provenance columns."""
    names = schema.names[: len(schema) - len(PROVENANCE_COLUMNS)]
    arrays = [pa.array(columns[name], type=schema.field(name).type) for name in names]
    return with_provenance(pa.Table.from_arrays(arrays, names=names), schema, provenance)
