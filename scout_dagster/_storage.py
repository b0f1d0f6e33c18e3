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
- on object stores it is written whole in memory (the compressed file), then
  uploaded straight to ``data.parquet``: an object store makes a PUT (or a
  completed multipart upload) visible whole or not at all, and an
  interrupted upload leaves the previous object in place; a write that fails
  before the upload uploads nothing. A fixed
  name, rather than a new name per write, means a reader never sees the old
  and the new version side by side.

Schema evolution (issue 12). The partitions of one table always have the same
columns, so that every reader of the folder sees all of them: a partitioned
write gives every partition the union of their columns
(``_partitioned_write.py``, which also tells how that is kept safe from other
writers; the union itself is ``_schema_union.py``'s).

Reads through :meth:`ParquetStore.read` take every partition's columns too, so
a folder written before this held (partitions with different columns) still
reads whole; its next partitioned write makes its files alike.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import sys
import tempfile
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ._base_location import DATA_FILE, as_uri, check_base_location
from ._parquet_file import parquet_writer
from ._schema_union import SchemaConflictError, conform, schema_union
from .tables.spool import SpooledTable

if sys.platform != "win32":
    import fcntl

__all__ = [
    "DATA_FILE",
    "ParquetStore",
    "SchemaConflictError",
    "WrittenTable",
    "check_base_location",
]

#: The lock partitioned writes of a table take (hidden: readers skip it).
LOCK_FILE = ".scout-dagster.lock"
#: Footers read at once from object storage.
FOOTER_READERS = 16


@dataclasses.dataclass(frozen=True)
class WrittenTable:
    uri: str
    rows: int
    bytes: int


class FileChanged(Exception):
    """A partition changed between being read and being replaced (another writer)."""


def _escape(value: str) -> str:
    # Hive-style folder names: keep them readable but never let a key add a level.
    return urllib.parse.quote(value, safe=" -_.:@+,")


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
            filesystem, root = pafs.FileSystem.from_uri(as_uri(base))
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
        self,
        table_name: str,
        table: pa.Table | SpooledTable,
        partition: Mapping[str, str] | None = None,
    ) -> WrittenTable:
        """Replace the table (or one partition of it) with ``table``, atomically.

        A partition is written with the columns of every partition of the table,
        and the others are given its new columns (``_partitioned_write.py``);
        a changed column type raises :class:`SchemaConflictError` and writes
        nothing. An unpartitioned table is just replaced.
        """
        if partition:
            from ._partitioned_write import write_partition  # it imports this module

            final = write_partition(self, table_name, table, partition)
        else:
            final = self._replace(table_name, DATA_FILE, partition, parquet_writer(table))
        size = self.filesystem.get_file_info(final).size or 0
        return WrittenTable(uri=self.uri_of(final), rows=table.num_rows, bytes=size)

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
        :class:`FileChanged` is raised."""
        self.filesystem.create_dir(folder, recursive=True)
        final = f"{folder}/{file_name}"
        if not self._local and unchanged is not None and not unchanged():
            raise FileChanged(final)
        target = f"{folder}/.{file_name}.{uuid.uuid4().hex}.tmp" if self._local else final
        try:
            if self._local:
                with self.filesystem.open_output_stream(target) as sink:
                    write(sink)
            else:
                # Written whole before the upload starts: an object stream
                # closed by an error mid-write would still be committed
                # (pyarrow's streams cannot abort), a truncated file over
                # the old one. The file, compressed, is what is held.
                staged = pa.BufferOutputStream()
                write(staged)
                with self.filesystem.open_output_stream(target) as sink:
                    sink.write(staged.getvalue())
            if self._before_replace is not None:
                self._before_replace(target)
            if self._local:
                if unchanged is not None and not unchanged():
                    raise FileChanged(final)
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
        """Exclusive among this library's partitioned writers of the table
        (``_partitioned_write.py`` says where the lock lives and why)."""
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
            union = schema_union(
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
        union = schema_union(
            table_name,
            folder,
            [(self._where(table_name, p), t.schema) for p, t in zip(paths, tables, strict=True)],
            writing=False,
        )
        return pa.concat_tables([conform(t, union, keep_types=False) for t in tables])

    def read_text(
        self, table_name: str, file_name: str, partition: Mapping[str, str] | None = None
    ) -> str:
        path = f"{self.partition_path(table_name, partition)}/{file_name}"
        with self.filesystem.open_input_stream(path) as source:
            data: Any = source.read()
        return bytes(data).decode()


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.remove(path)
