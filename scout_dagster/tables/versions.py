"""A table's data version: a hash of its rows that changes only when they do.

:func:`content_version` writes the table as an Arrow IPC stream into a sink
whose every write updates a SHA-256, so no copy of the table is held: only
one record batch of :data:`BATCH_ROWS` rows at a time, its serialized
buffers hashed as they are written. The batches are cut at fixed row
counts, not at the table's own chunks, and each is a fresh copy of its
rows (the IPC writer writes a sliced array's whole buffers), so the same
rows give the same digest however they are chunked or sliced: the piece
reader's pieces, a table concatenated from partitions.

Columns that differ between two runs that found the same rows
(:data:`RUN_SPECIFIC_COLUMNS`) are left out, so a refresh that changes
nothing changes no version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from .spool import SpooledTable

__all__ = ["BATCH_ROWS", "RUN_SPECIFIC_COLUMNS", "content_version"]

#: Columns that differ between two runs that found the same rows: the run's
#: id and when it fetched them.
RUN_SPECIFIC_COLUMNS = ("run_id", "fetched_at", "source_fetched_at")
#: Rows per record batch hashed: the most of the table copied at once.
BATCH_ROWS = 65_536
#: Hex digits of the digest a version keeps.
_DIGITS = 24


def content_version(
    table: pa.Table | SpooledTable, exclude: Iterable[str] = RUN_SPECIFIC_COLUMNS
) -> str:
    """The hex SHA-256 (first 24 digits) of ``table`` without the columns in
    ``exclude`` (those it has), written as an IPC stream of fixed-size batches.
    A spooled table is read from its file batch by batch."""
    excluded = set(exclude)
    names = [name for name in table.column_names if name not in excluded]
    schema = pa.schema([table.schema.field(name) for name in names], metadata=table.schema.metadata)
    batches = (
        table.batches(names, rows=0)
        if isinstance(table, SpooledTable)
        else table.select(names).to_batches()
    )
    sink = _HashingSink()
    with pa.PythonFile(sink, mode="w") as file, pa.ipc.new_stream(file, schema) as writer:
        for window in _windows(batches, BATCH_ROWS):
            # A copy, exactly the window's rows, whatever batches they were in.
            arrays = [
                pa.concat_arrays([batch.column(i) for batch in window]) for i in range(len(names))
            ]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return sink.hash.hexdigest()[:_DIGITS]


def _windows(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[list[pa.RecordBatch]]:
    """``batches`` regrouped, in order, as slices of exactly ``rows`` rows
    (the last may have fewer)."""
    window: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            taken = batch.slice(0, rows - count)
            window.append(taken)
            count += taken.num_rows
            batch = batch.slice(taken.num_rows)
            if count == rows:
                yield window
                window, count = [], 0
    if window:
        yield window


class _HashingSink:
    """A write-only file that keeps nothing: each write updates a SHA-256."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.closed = False
        self._position = 0

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self._position += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True
