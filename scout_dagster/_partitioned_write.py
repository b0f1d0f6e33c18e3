"""A partitioned write of :class:`~scout_dagster._storage.ParquetStore`.

Schema evolution (issue 12). The partitions of one table always have the same
columns, so that every reader of the folder (pandas, pyarrow.dataset, DuckDB's
``read_parquet``, all of which take the columns of one file) sees all of them:

- a partition whose columns differ from the others' (a field added to or
  removed from the asset) is written with the union of all columns, in the
  existing order with new ones appended, absent ones as nulls; and every other
  partition that lacks one of them is rewritten likewise, each atomically (as
  ``_storage.py`` writes every file), *before* the new partition replaces its
  previous version. Whether anything needs rewriting is decided from the
  Parquet footers alone: when the schemas already agree no data file is read.
  A column once written stays (as nulls) until the folder is deleted and every
  partition re-materialized.
- a column whose type changed cannot be read together with its old values:
  the write raises :class:`SchemaConflictError` before anything is written,
  and the folder stays as it was. What is a type change and what is not
  (nullability, field metadata, a ``null`` column taking a real type):
  ``_schema_union.py``.

Concurrency: writers of different partitions of one table can both change its
schema. Unguarded, each would rewrite the other partitions from what it had
read, and a rewrite from a stale read could replace a partition that another
writer had just materialized with its previous version. So:

- partitioned writes of one table take an exclusive lock (``flock``) for the
  whole scan, rewrite and write: a hidden ``.scout-dagster.lock`` in the table
  folder on a local filesystem (serializing writers on one host, or on a
  network filesystem with working locks); on object storage, which has no
  lock, a lock file in the system temporary folder named after the table's
  URI, so the steps of one host (a multiprocess executor) are serialized;
- between writers the lock does not reach (other hosts on object storage): a
  rewrite replaces a partition only if its file (size, modification time) is
  still the one it read, else the write scans the table again and starts
  over; and after writing, the table is listed again and unified again if
  another writer changed any file meanwhile. What remains is a narrow race: a
  partition materialized on host B while host A uploads its rewrite of that
  same partition (A changing the schema) can be set back to its previous
  version, whole, never half-written; the rows of B's materialization are then
  lost. Object storage offers no compare-and-swap through pyarrow to close it:
  do not change a table's schema on one host while another host materializes
  partitions of that table (e.g. give its runs a Dagster concurrency pool of 1).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from ._parquet_file import parquet_writer
from ._schema_union import check_names, conform, conforms, schema_union, stored_schema
from ._storage import DATA_FILE, FileChanged, ParquetStore
from .tables.spool import SpooledTable

__all__ = ["write_partition"]

#: Scans a partitioned write makes before giving up on a table that keeps
#: changing under it (only writers on other hosts can change it).
MAX_ROUNDS = 5


def write_partition(
    store: ParquetStore,
    table_name: str,
    table: pa.Table | SpooledTable,
    partition: Mapping[str, str],
) -> str:
    """``table`` as the ``partition`` of ``table_name``, every partition of the
    table with the same columns (see the module's docstring); the path written."""
    folder = store.partition_path(table_name, partition)
    own = f"{folder}/{DATA_FILE}"
    being_written = f"the partition being written ({store._where(table_name, own)})"
    check_names(table_name, being_written, table.schema)
    stored = stored_schema(table.schema)
    with store._table_lock(table_name):
        for _ in range(MAX_ROUNDS):
            before = store._data_files(table_name)
            others = sorted(path for path in before if path != own)
            schemas = store._read_schemas(others)
            union = schema_union(
                table_name,
                store.uri_of(store.table_path(table_name)),
                [(store._where(table_name, p), schemas[p]) for p in others]
                + [(being_written, stored)],
                writing=True,
            )
            written: dict[str, tuple[int | None, int | None]] = {}
            try:
                # The others first: should this stop half-way, the table
                # still reads with every column the remaining files have.
                for path in others:
                    if not conforms(schemas[path], union):
                        _rewrite(store, path, schemas[path], before[path], union)
                        written[path] = store._signature(path)
                store._replace_in(folder, DATA_FILE, parquet_writer(_conformed(table, union)))
                written[own] = store._signature(own)
            except FileChanged:
                continue
            # Unchanged but for this write's files: no other writer came between.
            if store._data_files(table_name) == before | written:
                return own
    raise RuntimeError(
        f"table {table_name!r} kept being changed by other writers while this write made "
        f"its partitions' columns agree ({MAX_ROUNDS} attempts); every file is whole, "
        "retry the write"
    )


def _conformed(table: pa.Table | SpooledTable, union: pa.Schema) -> pa.Table | SpooledTable:
    """``table`` with the union's columns: a spooled table batch by batch."""
    if isinstance(table, SpooledTable):
        return table.mapped(lambda batch: conform(batch, union, keep_types=False))
    return conform(table, union, keep_types=False)


def _rewrite(
    store: ParquetStore,
    path: str,
    schema: pa.Schema,
    signature: tuple[int | None, int | None],
    union: pa.Schema,
) -> None:
    """Rewrite an older partition with ``union``'s columns, unless it changed since
    its footer was read."""
    with store.filesystem.open_input_file(path) as source:
        data = pq.read_table(source)
    if data.schema.names != schema.names or store._signature(path) != signature:
        raise FileChanged(path)
    folder = path.rsplit("/", 1)[0]
    store._replace_in(
        folder,
        DATA_FILE,
        parquet_writer(conform(data, union, keep_types=True)),
        unchanged=lambda: store._signature(path) == signature,
    )
