"""Arrow tables to and from Parquet, atomically, on any pyarrow filesystem. No Dagster.

Layout under the base location (a local path or any URI pyarrow's
filesystems understand, e.g. ``s3://bucket/prefix``)::

    <base>/<table>/data.parquet                          unpartitioned
    <base>/<table>/partition=<key>/data.parquet          one partition
    <base>/<table>/<dim>=<key>/<dim>=<key>/data.parquet  multi-dimensional

Folders are hive-style, so reading ``<base>/<table>`` with pandas or pyarrow
gives every partition exactly once. A write never shows a reader half a file:

- locally it goes to a hidden temporary file in the same folder (readers skip
  names starting with ``.``) and is renamed over ``data.parquet``, which is
  atomic on POSIX;
- on object stores it is uploaded straight to ``data.parquet``: an object
  store makes a PUT (or a completed multipart upload) visible whole or not at
  all, and an interrupted upload leaves the previous object in place. A fixed
  name, rather than a new name per write, means a reader never sees the old
  and the new version side by side.

Schema evolution (issue 12). The partitions of one table always have the same
columns, so that every reader of the folder (pandas, pyarrow.dataset, DuckDB's
``read_parquet``, all of which take the columns of one file) sees all of them:

- a partition whose columns differ from the others' (a field added to or
  removed from the asset) is written with the union of all columns, in the
  existing order with new ones appended, absent ones as nulls; and every other
  partition that lacks one of them is rewritten likewise, each atomically as
  above, *before* the new partition replaces its previous version. Whether
  anything needs rewriting is decided from the Parquet footers alone: when the
  schemas already agree no data file is read. A column once written stays (as
  nulls) until the folder is deleted and every partition re-materialized.
- a column whose type changed (int64 to string, list<int64> to string) cannot be
  read together with its old values: the write raises
  :class:`SchemaConflictError` before anything is written, and the folder stays
  as it was. Differences in nullability or field metadata are not type changes
  (a partition that declares a column non-null is rewritten as nullable when
  another partition may hold nulls there, so no reader is told otherwise); nor
  is a column that was all nulls (type ``null``, as pandas gives all-None
  columns) taking a real type.

Reads through :meth:`ParquetStore.read` take every partition's columns too, so
a folder written before this held (partitions with different columns) still
reads whole; its next partitioned write makes its files alike.

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

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import re
import sys
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

if sys.platform != "win32":
    import fcntl

__all__ = [
    "DATA_FILE",
    "ParquetStore",
    "SchemaConflictError",
    "WrittenTable",
    "check_base_location",
]

DATA_FILE = "data.parquet"
#: Name of the folder level of a single-dimension partition.
SINGLE_DIMENSION = "partition"
#: zstd level 3: about as fast to write as snappy and markedly smaller.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3
#: The lock partitioned writes of a table take (hidden: readers skip it).
LOCK_FILE = ".scout-dagster.lock"
#: Scans a partitioned write makes before giving up on a table that keeps
#: changing under it (only writers on other hosts can change it).
MAX_ROUNDS = 5
#: Footers read at once from object storage.
FOOTER_READERS = 16

#: URI schemes of the filesystems pyarrow reads and writes. A base location
#: that starts with one of them but is not ``<scheme>://`` (``s3//bucket``,
#: ``s3:/bucket``, ``s3:bucket``) would be taken as a local folder and fill
#: it silently, so it is refused.
_URI_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss", "hdfs", "viewfs", "file")
_MISTYPED_URI = re.compile(
    rf"(?P<scheme>{'|'.join(_URI_SCHEMES)})(?::(?!//)|//)(?P<rest>.*)", re.IGNORECASE | re.DOTALL
)


def check_base_location(base: object, what: str = "base_path") -> str:
    """Return ``base`` if it is a usable base location, else raise ValueError.

    Refused: an empty or blank value, one with spaces around it, and a
    mistyped URI (``s3//bucket/x``) that would silently be a local folder.
    Pure: no filesystem is built and nothing is touched.
    """
    if not isinstance(base, str) or not base.strip():
        raise ValueError(
            f"{what} is empty: give a local folder such as 'data/scout' "
            "or a URI such as 's3://bucket/prefix'"
        )
    if base != base.strip():
        raise ValueError(f"{what} {base!r} starts or ends with a space: write {base.strip()!r}")
    mistyped = _MISTYPED_URI.fullmatch(base)
    if mistyped is not None:
        scheme = mistyped["scheme"].lower()
        rest = mistyped["rest"].lstrip("/") or "bucket/prefix"
        meant = f"file:///{rest}" if scheme == "file" else f"{scheme}://{rest}"
        raise ValueError(
            f"{what} {base!r} is not a valid {scheme}:// URI and would be taken as a "
            f"local folder: write {meant!r}"
        )
    return base


@dataclasses.dataclass(frozen=True)
class WrittenTable:
    uri: str
    rows: int
    bytes: int


class SchemaConflictError(ValueError):
    """A column's type differs between partitions of one table.

    Raised by a write before anything is written (the folder stays as it was),
    and by a read of a folder whose partitions already disagree.
    """

    def __init__(
        self,
        *,
        table: str,
        column: str,
        old_type: pa.DataType,
        new_type: pa.DataType,
        old_where: str,
        new_where: str,
        folder: str,
        writing: bool,
    ) -> None:
        self.table = table
        self.column = column
        self.old_type = old_type
        self.new_type = new_type
        self.folder = folder
        outcome = (
            "so nothing was written" if writing else "so the partitions cannot be read together"
        )
        super().__init__(
            f"table {table!r}: column {column!r} is {old_type} in {old_where} but {new_type} "
            f"in {new_where}; a column keeps one type across the partitions of a table, "
            f"{outcome}. To proceed: rename the field (the new type becomes a new column), "
            f"or delete {folder} and re-materialize every partition, or give the asset a "
            "new name."
        )


class _Changed(Exception):
    """A partition changed between being read and being replaced (another writer)."""


def _escape(value: str) -> str:
    # Hive-style folder names: keep them readable but never let a key add a level.
    return urllib.parse.quote(value, safe=" -_.:@+,")


# ---------------------------------------------------------------- schemas


def _bare(type_: pa.DataType) -> pa.DataType:
    """``type_`` with every nested field nullable and without metadata."""
    if pa.types.is_struct(type_):
        return pa.struct([pa.field(f.name, _bare(f.type)) for f in type_])
    if pa.types.is_map(type_):
        return pa.map_(_bare(type_.key_type), _bare(type_.item_type), type_.keys_sorted)
    if pa.types.is_large_list(type_):
        return pa.large_list(_bare(type_.value_type))
    if pa.types.is_fixed_size_list(type_):
        return pa.list_(_bare(type_.value_type), type_.list_size)
    if pa.types.is_list(type_):
        return pa.list_(_bare(type_.value_type))
    if pa.types.is_dictionary(type_):
        return pa.dictionary(type_.index_type, _bare(type_.value_type), type_.ordered)
    return type_


def _merged_type(old: pa.DataType, new: pa.DataType) -> pa.DataType | None:
    """The type both can be read as, or None when the type really changed."""
    if old.equals(new):
        return new
    if pa.types.is_null(old):
        return new
    if pa.types.is_null(new):
        return old
    if _bare(old).equals(_bare(new)):  # only nested nullability or metadata differ
        return _bare(new)
    return None


def _as_stored(schema: pa.Schema) -> pa.Schema:
    """``schema`` as a Parquet footer will give it back (date64 becomes date32,
    timestamp[s] timestamp[ms], ...): what the new partition is compared as."""
    sink = pa.BufferOutputStream()
    pq.write_table(schema.empty_table(), sink)
    stored: pa.Schema = pq.read_schema(pa.BufferReader(sink.getvalue()))
    return stored


def _check_names(table: str, where: str, schema: pa.Schema) -> None:
    duplicates = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if duplicates:
        raise ValueError(
            f"table {table!r}: {where} has more than one column named {duplicates}; "
            "partitions are matched by column name, so give each column its own name"
        )


def _union(
    table: str, folder: str, schemas: Sequence[tuple[str, pa.Schema]], *, writing: bool
) -> pa.Schema:
    """Every column of ``schemas`` (``(where, schema)``, oldest first): the first
    schema's order, then columns as they first appear. A column takes the newest
    field (type, metadata), and is nullable where any schema lacks it or lets it
    be null. Raises :class:`SchemaConflictError` on a type change."""
    fields: dict[str, pa.Field] = {}
    where_typed: dict[str, str] = {}
    present: dict[str, int] = {}
    for where, schema in schemas:
        _check_names(table, where, schema)
        for field in schema:
            name = field.name
            present[name] = present.get(name, 0) + 1
            seen = fields.get(name)
            if seen is None:
                fields[name] = field
                where_typed[name] = where
                continue
            merged = _merged_type(seen.type, field.type)
            if merged is None:
                raise SchemaConflictError(
                    table=table,
                    column=name,
                    old_type=seen.type,
                    new_type=field.type,
                    old_where=where_typed[name],
                    new_where=where,
                    folder=folder,
                    writing=writing,
                )
            if pa.types.is_null(seen.type) and not pa.types.is_null(field.type):
                where_typed[name] = where
            fields[name] = field.with_type(merged).with_nullable(seen.nullable or field.nullable)
    metadata = schemas[-1][1].metadata if schemas else None
    return pa.schema(
        [
            field.with_nullable(field.nullable or present[name] < len(schemas))
            for name, field in fields.items()
        ],
        metadata=metadata,
    )


def _conforms(schema: pa.Schema, union: pa.Schema) -> bool:
    """Whether a file of ``schema`` reads as ``union`` with any reader: the same
    columns in the same order, none declared non-null or null-typed where the
    union is not."""
    if schema.names != union.names:
        return False
    for field, wanted in zip(schema, union, strict=True):
        if wanted.nullable and not field.nullable:
            return False
        if pa.types.is_null(field.type) and not pa.types.is_null(wanted.type):
            return False
    return True


def _conform(table: pa.Table, union: pa.Schema, *, keep_types: bool) -> pa.Table:
    """``table`` with ``union``'s columns, in its order; absent ones as nulls.

    ``keep_types``: a rewritten old partition keeps its own columns' types and
    metadata (only nullability is widened and ``null`` columns typed); else every
    column is cast to the union's type.
    """
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    for wanted in union:
        if wanted.name not in table.column_names:
            columns.append(pa.chunked_array([pa.nulls(table.num_rows, wanted.type)]))
            fields.append(wanted)
            continue
        column = table.column(wanted.name)
        field = table.schema.field(wanted.name)
        if keep_types and not pa.types.is_null(field.type):
            fields.append(field.with_nullable(field.nullable or wanted.nullable))
        else:
            if not column.type.equals(wanted.type):
                column = column.cast(wanted.type)
            fields.append(wanted)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def _parquet_writer(table: pa.Table) -> Callable[[pa.NativeFile], None]:
    def write(sink: pa.NativeFile) -> None:
        pq.write_table(table, sink, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL)

    return write


class ParquetStore:
    """Reads and writes tables below one base location.

    Args:
        base: a local path or a URI (``s3://…``, ``gs://…``, ``file://…``).
        filesystem: a pyarrow filesystem to use instead of the one the URI
            names (e.g. an ``S3FileSystem`` with an endpoint override).
        before_replace: test hook called after the new file is fully written
            and before it replaces the old one (crash-safety tests kill the
            process there).
    """

    def __init__(
        self,
        base: str,
        *,
        filesystem: pafs.FileSystem | None = None,
        before_replace: Callable[[str], None] | None = None,
    ) -> None:
        check_base_location(base, "the storage base location")
        if filesystem is None:
            filesystem, root = pafs.FileSystem.from_uri(_as_uri(base))
        else:
            root = str(base).split("://", 1)[-1]
        self.base = str(base).rstrip("/")
        self.filesystem = filesystem
        self._root = root.rstrip("/")
        self._local = isinstance(filesystem, pafs.LocalFileSystem)
        self._before_replace = before_replace

    def __repr__(self) -> str:
        return f"ParquetStore({self.base!r})"

    # ------------------------------------------------------------ paths

    def table_path(self, table: str) -> str:
        return f"{self._root}/{table}"

    def partition_path(self, table: str, partition: Mapping[str, str] | None) -> str:
        path = self.table_path(table)
        for dimension, key in (partition or {}).items():
            path += f"/{dimension}={_escape(key)}"
        return path

    def uri_of(self, path: str) -> str:
        """The user-facing location of a filesystem path."""
        if self._local:
            return path
        scheme = self.base.split("://", 1)[0] if "://" in self.base else "file"
        return f"{scheme}://{path}"

    # ------------------------------------------------------------ write

    def write(
        self, table_name: str, table: pa.Table, partition: Mapping[str, str] | None = None
    ) -> WrittenTable:
        """Replace the table (or one partition of it) with ``table``, atomically.

        A partition is written with the columns of every partition of the table,
        and the others are given its new columns (see the module's docstring);
        a changed column type raises :class:`SchemaConflictError` and writes
        nothing. An unpartitioned table is just replaced.
        """
        if partition:
            final = self._write_partition(table_name, table, partition)
        else:
            final = self._replace(table_name, DATA_FILE, partition, _parquet_writer(table))
        size = self.filesystem.get_file_info(final).size or 0
        return WrittenTable(uri=self.uri_of(final), rows=table.num_rows, bytes=size)

    def _write_partition(
        self, table_name: str, table: pa.Table, partition: Mapping[str, str]
    ) -> str:
        folder = self.partition_path(table_name, partition)
        own = f"{folder}/{DATA_FILE}"
        being_written = f"the partition being written ({self._where(table_name, own)})"
        _check_names(table_name, being_written, table.schema)
        stored = _as_stored(table.schema)
        with self._table_lock(table_name):
            for _ in range(MAX_ROUNDS):
                before = self._data_files(table_name)
                others = sorted(path for path in before if path != own)
                schemas = self._read_schemas(others)
                union = _union(
                    table_name,
                    self.uri_of(self.table_path(table_name)),
                    [(self._where(table_name, p), schemas[p]) for p in others]
                    + [(being_written, stored)],
                    writing=True,
                )
                written: dict[str, tuple[int | None, int | None]] = {}
                try:
                    # The others first: should this stop half-way, the table
                    # still reads with every column the remaining files have.
                    for path in others:
                        if not _conforms(schemas[path], union):
                            self._rewrite(path, schemas[path], before[path], union)
                            written[path] = self._signature(path)
                    self._replace_in(
                        folder, DATA_FILE, _parquet_writer(_conform(table, union, keep_types=False))
                    )
                    written[own] = self._signature(own)
                except _Changed:
                    continue
                # Unchanged but for this write's files: no other writer came between.
                if self._data_files(table_name) == before | written:
                    return own
        raise RuntimeError(
            f"table {table_name!r} kept being changed by other writers while this write made "
            f"its partitions' columns agree ({MAX_ROUNDS} attempts); every file is whole, "
            "retry the write"
        )

    def _rewrite(
        self,
        path: str,
        schema: pa.Schema,
        signature: tuple[int | None, int | None],
        union: pa.Schema,
    ) -> None:
        """Rewrite an older partition with ``union``'s columns, unless it changed since
        its footer was read."""
        with self.filesystem.open_input_file(path) as source:
            data = pq.read_table(source)
        if data.schema.names != schema.names or self._signature(path) != signature:
            raise _Changed(path)
        folder = path.rsplit("/", 1)[0]
        self._replace_in(
            folder,
            DATA_FILE,
            _parquet_writer(_conform(data, union, keep_types=True)),
            unchanged=lambda: self._signature(path) == signature,
        )

    def write_text(
        self, table_name: str, file_name: str, text: str, partition: Mapping[str, str] | None
    ) -> str:
        """Write a text file (a report) beside a table's data, atomically likewise."""
        return self.uri_of(
            self._replace(table_name, file_name, partition, lambda sink: sink.write(text.encode()))
        )

    def _replace(
        self,
        table_name: str,
        file_name: str,
        partition: Mapping[str, str] | None,
        write: Callable[[pa.NativeFile], object],
    ) -> str:
        return self._replace_in(self.partition_path(table_name, partition), file_name, write)

    def _replace_in(
        self,
        folder: str,
        file_name: str,
        write: Callable[[pa.NativeFile], object],
        unchanged: Callable[[], bool] | None = None,
    ) -> str:
        """Write ``file_name`` in ``folder`` so that a reader sees the old file or the
        new one, never part of one. Returns its path. ``unchanged`` is asked last
        before the old file is replaced; if it says no, nothing is replaced and
        :class:`_Changed` is raised."""
        self.filesystem.create_dir(folder, recursive=True)
        final = f"{folder}/{file_name}"
        if not self._local and unchanged is not None and not unchanged():
            raise _Changed(final)
        target = f"{folder}/.{file_name}.{uuid.uuid4().hex}.tmp" if self._local else final
        try:
            with self.filesystem.open_output_stream(target) as sink:
                write(sink)
            if self._before_replace is not None:
                self._before_replace(target)
            if self._local:
                if unchanged is not None and not unchanged():
                    raise _Changed(final)
                os.replace(target, final)
        except BaseException:
            if self._local:
                _remove_quietly(target)
            raise
        return final

    # ------------------------------------------------------------ the table's files

    def _data_files(self, table_name: str) -> dict[str, tuple[int | None, int | None]]:
        """Every ``data.parquet`` below the table folder that a reader of the folder
        reads, with its (size, modification time)."""
        root = self.table_path(table_name)
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        files = {}
        for info in self.filesystem.get_file_info(selector):
            if info.type != pafs.FileType.File or info.base_name != DATA_FILE:
                continue
            relative = info.path[len(root) + 1 :].split("/")
            if any(part.startswith((".", "_")) for part in relative):
                continue  # readers skip hidden folders
            files[info.path] = (info.size, info.mtime_ns)
        return files

    def _signature(self, path: str) -> tuple[int | None, int | None]:
        info = self.filesystem.get_file_info(path)
        return (info.size, info.mtime_ns)

    def _read_schemas(self, paths: Sequence[str]) -> dict[str, pa.Schema]:
        """The schemas of ``paths``, from their footers alone."""

        def read(path: str) -> pa.Schema:
            schema: pa.Schema = pq.read_schema(path, filesystem=self.filesystem)
            return schema

        if self._local or len(paths) < 2:
            return {path: read(path) for path in paths}
        with concurrent.futures.ThreadPoolExecutor(min(FOOTER_READERS, len(paths))) as pool:
            return dict(zip(paths, pool.map(read, paths), strict=True))

    def _where(self, table_name: str, path: str) -> str:
        """A file named for messages: its partition folder, relative to the table."""
        relative = path[len(self.table_path(table_name)) + 1 :]
        folder = relative.rsplit("/", 1)[0] if "/" in relative else ""
        return folder or "the unpartitioned data.parquet"

    @contextlib.contextmanager
    def _table_lock(self, table_name: str) -> Iterator[None]:
        """Exclusive among this library's partitioned writers of the table (see the
        module's docstring for where the lock lives)."""
        if sys.platform == "win32":  # no flock: writers are not serialized
            yield
            return
        if self._local:
            folder = self.table_path(table_name)
            self.filesystem.create_dir(folder, recursive=True)
            path = f"{folder}/{LOCK_FILE}"
        else:
            key = hashlib.sha256(self.uri_of(self.table_path(table_name)).encode()).hexdigest()
            locks = os.path.join(tempfile.gettempdir(), "scout-dagster-locks")
            os.makedirs(locks, exist_ok=True)
            path = os.path.join(locks, f"{key[:32]}.lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    # ------------------------------------------------------------ read

    def exists(
        self,
        table_name: str,
        partition: Mapping[str, str] | None = None,
        file_name: str = DATA_FILE,
    ) -> bool:
        path = f"{self.partition_path(table_name, partition)}/{file_name}"
        return bool(self.filesystem.get_file_info(path).type == pafs.FileType.File)

    def read(
        self,
        table_name: str,
        partitions: list[Mapping[str, str]] | None = None,
    ) -> pa.Table:
        """Read the whole table, or the given partitions, as one Arrow table.

        Partition folders are not turned into columns: every row already
        carries its ``partition_key``.
        """
        folder = self.uri_of(self.table_path(table_name))
        if partitions is None:
            # Imported here: pyarrow.dataset imports pandas, half a second that
            # a code location should not pay at load time.
            import pyarrow.dataset as ds

            files = sorted(self._data_files(table_name))
            if not files:  # an empty table, or none (which raises)
                root = self.table_path(table_name)
                return ds.dataset(root, filesystem=self.filesystem, format="parquet").to_table()
            schemas = self._read_schemas(files)
            # Every partition's columns, not just one file's: a table written
            # before its partitions were kept alike reads whole too.
            union = _union(
                table_name,
                folder,
                [(self._where(table_name, path), schemas[path]) for path in files],
                writing=False,
            )
            dataset = ds.dataset(files, schema=union, filesystem=self.filesystem, format="parquet")
            return dataset.to_table()
        paths = [f"{self.partition_path(table_name, p)}/{DATA_FILE}" for p in partitions]
        tables = [pq.read_table(path, filesystem=self.filesystem) for path in paths]
        if not tables:
            return pa.table({})
        union = _union(
            table_name,
            folder,
            [(self._where(table_name, p), t.schema) for p, t in zip(paths, tables, strict=True)],
            writing=False,
        )
        return pa.concat_tables([_conform(t, union, keep_types=False) for t in tables])

    def read_text(
        self, table_name: str, file_name: str, partition: Mapping[str, str] | None = None
    ) -> str:
        path = f"{self.partition_path(table_name, partition)}/{file_name}"
        with self.filesystem.open_input_stream(path) as source:
            data: Any = source.read()
        return bytes(data).decode()


def _as_uri(base: str) -> str:
    if "://" in base:
        return base
    return os.path.abspath(base)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
