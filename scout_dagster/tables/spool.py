"""A large table kept on local disk while a step hands it on, not in memory. No Dagster.

A finished FindAll run of a million entities is a table of ~170 MB. Held in
memory, it is most of the step's peak; yet every consumer in the step reads
it in order, once: the data version, the checks, the Parquet write. So the
piece reader writes each piece of the entities, as it is parsed (once they
pass :data:`IN_MEMORY_BYTES`), to an Arrow IPC stream in a temporary file
(:class:`TableSpool`: a copy into the page cache, not into the process), and
:class:`SpooledTable` reads it back record batch by record batch, each read
into memory of its own and let go, so only a batch or a few are resident at
once.

The file is in ``SCOUT_DAGSTER_SPOOL_DIR``, else the system's temporary
folder (``TMPDIR``), named
``scout-dagster-spool-*.arrows``, and removed when the table is closed or
garbage-collected (or at exit); a killed process leaves it for the system's
cleaning of that folder.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa

__all__ = ["SpooledTable", "TableSpool", "close_if_spooled"]

#: Rows per record batch the spool hands on (pieces are gathered up to it):
#: a Parquet row group each, and the most of the table resident at once.
BATCH_ROWS = 65_536
#: The folder spool files go to, if not the system's temporary folder.
SPOOL_DIR_ENV = "SCOUT_DAGSTER_SPOOL_DIR"
#: A table this small stays in memory: its file would cost more time than
#: its memory is worth (100k entities are ~17 MB; a million ~170 MB).
IN_MEMORY_BYTES = 24 * 2**20


class _SpoolFile:
    """The temporary file, removed once nothing refers to it."""

    def __init__(self) -> None:
        folder = os.environ.get(SPOOL_DIR_ENV) or None  # None: the system's
        handle, self.path = tempfile.mkstemp(
            prefix="scout-dagster-spool-", suffix=".arrows", dir=folder
        )
        os.close(handle)
        self._remove = weakref.finalize(self, _remove_quietly, self.path)

    def remove(self) -> None:
        self._remove()


class TableSpool:
    """Pieces of one table, in order: held in memory while they are small
    (up to :data:`IN_MEMORY_BYTES`), then written to a temporary file, the
    held ones first, as they come.

    A file that cannot be written (a full or read-only ``TMPDIR``) leaves the
    spool :attr:`failed` (its ``OSError``): :meth:`finish` then gives None,
    and the pieces are gone; the reader reads its document again, in memory.
    :meth:`discard` may come from another thread than the one appending (a
    deadline that abandoned a download): it waits for an append under way,
    and later appends do nothing.
    """

    def __init__(self) -> None:
        self._held: list[pa.Table] = []
        self._held_bytes = 0
        self._file: _SpoolFile | None = None
        self._sink: pa.NativeFile | None = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None
        self._schema: pa.Schema | None = None
        self._rows = 0
        self._done = False
        self._lock = threading.Lock()
        self.failed: OSError | None = None

    def append(self, piece: pa.Table) -> None:
        with self._lock:
            if self._done or self.failed is not None:
                return
            if self._schema is None:
                self._schema = piece.schema
            self._rows += piece.num_rows
            try:
                self._append(piece)
            except OSError as exc:
                # Without its traceback, whose frames would keep the caller's
                # (the reader's views of its buffer) alive.
                self.failed = exc.with_traceback(None)
                self._drop()

    def _append(self, piece: pa.Table) -> None:
        if self._writer is None:
            self._held.append(piece)
            self._held_bytes += piece.nbytes
            if self._held_bytes <= IN_MEMORY_BYTES:
                return
            self._file = _SpoolFile()
            # Appending, not "wb": opening mkstemp's file with truncation makes
            # ext4 (auto_da_alloc) write it all to disk as it closes, 60-85 ms
            # for a million entities inside the step, for a file that only
            # lives for the step. The file is empty, so appending writes it
            # from the start.
            self._sink = pa.OSFile(self._file.path, "ab")
            self._writer = pa.ipc.new_stream(self._sink, self._schema)
            held, self._held = self._held, []
            for earlier in held:
                self._writer.write_table(earlier)
            return
        self._writer.write_table(piece)

    def finish(self, schema: pa.Schema) -> pa.Table | SpooledTable | None:
        """The table (``schema``'s, when no piece came): in memory if it
        stayed small, else spooled; None if its file failed."""
        with self._lock:
            if self._done:
                raise RuntimeError("the spool was finished or discarded")
            self._done = True
            try:
                self._close_writer()
            except OSError as exc:
                self.failed = exc.with_traceback(None)
            if self.failed is not None:
                self._drop()
                return None
            if self._schema is not None and self._schema != schema:
                self._drop()
                raise ValueError(f"the spooled pieces are {self._schema}, not {schema}")
            if self._file is None:
                held, self._held = self._held, []
                return pa.concat_tables(held) if held else schema.empty_table()
            file, self._file = self._file, None
            return SpooledTable(file, schema, self._rows)

    def discard(self) -> None:
        """Drop what was held or written (a read that must start over)."""
        with self._lock:
            self._done = True
            self._drop()

    def _drop(self) -> None:
        with contextlib.suppress(OSError):
            self._close_writer()
        self._writer = self._sink = None
        self._held.clear()
        if self._file is not None:
            self._file.remove()
            self._file = None

    def _close_writer(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
        if self._sink is not None:
            sink, self._sink = self._sink, None
            sink.close()


def close_if_spooled(table: object) -> None:
    """Remove ``table``'s file now if it is a spooled table (a step that
    fails before handing it on)."""
    if isinstance(table, SpooledTable):
        table.close()


class SpooledTable:
    """A table in a spool file, read back batch by batch; with columns of one
    value each (a run's provenance) added to every batch as it is read.

    What a consumer in the step needs of a table: its ``schema`` and
    ``num_rows``, its batches in order, one column, its first rows, or all of
    it (:meth:`read_all`, for an IO manager that takes only tables).
    """

    def __init__(
        self,
        file: _SpoolFile,
        stored: pa.Schema,
        num_rows: int,
        schema: pa.Schema | None = None,
        constants: Sequence[pa.Scalar] = (),
    ) -> None:
        self._file = file
        self._stored = stored
        self._constants = tuple(constants)
        self.num_rows = num_rows
        self.schema = schema if schema is not None else stored

    def __repr__(self) -> str:
        return f"SpooledTable({self.num_rows} rows, {len(self.schema)} columns)"

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def with_constants(self, schema: pa.Schema, values: Sequence[pa.Scalar]) -> SpooledTable:
        """This table with a column per value in ``values``, every row that
        value: ``schema`` is the table's columns and then theirs."""
        if len(schema) != len(self.schema) + len(values):
            raise ValueError("the schema must be the table's columns and one per value")
        constants = (*self._constants, *values)
        return SpooledTable(self._file, self._stored, self.num_rows, schema, constants)

    def mapped(self, change: Callable[[pa.Table], pa.Table]) -> SpooledTable:
        """This table with ``change`` applied to each batch as it is read: a
        change row by row (the same on any split of the rows), such as new
        column types."""
        return _Mapped(self, change)

    def batches(
        self, columns: Sequence[str] | None = None, *, rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The table's rows in order (only ``columns``, if given), each batch
        read from the file into memory of its own: at least ``rows`` rows a
        batch (:data:`BATCH_ROWS` by default), or with ``rows=0`` the pieces
        as they were written (what a consumer that regroups them wants: no copy)."""
        least = BATCH_ROWS if rows is None else rows
        names = list(self.schema.names if columns is None else columns)
        schema = pa.schema([self.schema.field(name) for name in names])
        constants = dict(zip(self.schema.names[len(self._stored) :], self._constants, strict=True))
        stored = [name for name in names if name not in constants]
        stored_schema = pa.schema([self._stored.field(name) for name in stored])
        gathered: list[pa.RecordBatch] = []
        count = 0
        for batch in self._read():
            # Only the columns asked for are copied into the batch handed on.
            gathered.append(batch.select(stored))
            count += batch.num_rows
            if count >= least:
                yield _with_constants(_combined(gathered, stored_schema), names, constants, schema)
                gathered, count = [], 0
        if gathered:
            yield _with_constants(_combined(gathered, stored_schema), names, constants, schema)

    def column(self, name: str | int) -> pa.ChunkedArray:
        """One column (by name or position), whole."""
        named: str = name if isinstance(name, str) else self.schema.names[name]
        chunks = [batch.column(0) for batch in self.batches([named], rows=0)]
        return pa.chunked_array(chunks, type=self.schema.field(named).type)

    def slice(self, offset: int, length: int) -> pa.Table:
        """Rows ``offset`` to ``offset + length`` (read up to there only)."""
        taken: list[pa.RecordBatch] = []
        seen = 0
        for batch in self.batches(rows=0):
            taken.append(batch)
            seen += batch.num_rows
            if seen >= offset + length:
                break
        return pa.Table.from_batches(taken, schema=self.schema).slice(offset, length)

    def read_all(self) -> pa.Table:
        """The whole table in memory."""
        return pa.Table.from_batches(list(self.batches()), schema=self.schema)

    def to_pylist(self) -> list[dict[str, Any]]:
        return self.read_all().to_pylist()  # type: ignore[no-any-return]

    def equals(self, other: pa.Table | SpooledTable) -> bool:
        """Whether the rows and schema are ``other``'s (read whole, both)."""
        if isinstance(other, SpooledTable):
            other = other.read_all()
        return bool(self.read_all().equals(other))

    def close(self) -> None:
        """Remove the file: what reads it after this fails."""
        self._file.remove()

    def _read(self) -> Iterator[pa.RecordBatch]:
        # A file read, not a memory map: mapped pages would stay resident
        # in the process once read, which is the memory this avoids.
        with pa.OSFile(self._file.path, "rb") as source:
            reader = pa.ipc.open_stream(source)
            for batch in reader:
                if batch.num_rows:
                    yield batch


class _Mapped(SpooledTable):
    """A spooled table whose batches go through a change as they are read."""

    def __init__(self, source: SpooledTable, change: Callable[[pa.Table], pa.Table]) -> None:
        super().__init__(source._file, source._stored, source.num_rows)
        self.schema = change(source.schema.empty_table()).schema
        self._source = source
        self._change = change

    def with_constants(self, schema: pa.Schema, values: Sequence[pa.Scalar]) -> SpooledTable:
        raise TypeError("constants are added before a change, not after")

    def batches(
        self, columns: Sequence[str] | None = None, *, rows: int | None = None
    ) -> Iterator[pa.RecordBatch]:
        for batch in self._source.batches(rows=rows):
            changed = self._change(pa.Table.from_batches([batch])).combine_chunks()
            out = _combined(changed.to_batches(), self.schema)
            yield out if columns is None else out.select(list(columns))


def _combined(batches: Sequence[pa.RecordBatch], schema: pa.Schema) -> pa.RecordBatch:
    """``batches`` as one batch of ``schema`` (a copy when there are several)."""
    if len(batches) == 1:
        return batches[0]
    if not batches:
        return pa.RecordBatch.from_pylist([], schema=schema)
    return pa.Table.from_batches(batches, schema=schema).combine_chunks().to_batches()[0]


def _with_constants(
    stored: pa.RecordBatch,
    names: Sequence[str],
    constants: Mapping[str, pa.Scalar],
    schema: pa.Schema,
) -> pa.RecordBatch:
    """``stored``'s columns and the ``constants`` in ``names``' order, as ``schema``."""
    arrays = [
        pa.repeat(constants[name], stored.num_rows) if name in constants else stored.column(name)
        for name in names
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)
