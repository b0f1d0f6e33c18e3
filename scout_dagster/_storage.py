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
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

__all__ = ["DATA_FILE", "ParquetStore", "WrittenTable", "check_base_location"]

DATA_FILE = "data.parquet"
#: Name of the folder level of a single-dimension partition.
SINGLE_DIMENSION = "partition"
#: zstd level 3: about as fast to write as snappy and markedly smaller.
COMPRESSION = "zstd"
COMPRESSION_LEVEL = 3

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
        """Replace the table (or one partition of it) with ``table``, atomically."""

        def write_parquet(sink: pa.NativeFile) -> None:
            pq.write_table(
                table, sink, compression=COMPRESSION, compression_level=COMPRESSION_LEVEL
            )

        final = self._replace(table_name, DATA_FILE, partition, write_parquet)
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
        """Write ``file_name`` in the table's (partition's) folder so that a reader
        sees the old file or the new one, never part of one. Returns its path."""
        folder = self.partition_path(table_name, partition)
        self.filesystem.create_dir(folder, recursive=True)
        final = f"{folder}/{file_name}"
        target = f"{folder}/.{file_name}.{uuid.uuid4().hex}.tmp" if self._local else final
        try:
            with self.filesystem.open_output_stream(target) as sink:
                write(sink)
            if self._before_replace is not None:
                self._before_replace(target)
            if self._local:
                os.replace(target, final)
        except BaseException:
            if self._local:
                _remove_quietly(target)
            raise
        return final

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
        if partitions is None:
            # Imported here: pyarrow.dataset imports pandas, half a second that
            # a code location should not pay at load time.
            import pyarrow.dataset as ds

            root = self.table_path(table_name)
            dataset = ds.dataset(
                root, filesystem=self.filesystem, format="parquet", exclude_invalid_files=False
            )
            return dataset.to_table()
        tables = [
            pq.read_table(
                f"{self.partition_path(table_name, partition)}/{DATA_FILE}",
                filesystem=self.filesystem,
            )
            for partition in partitions
        ]
        return pa.concat_tables(tables, promote_options="default") if tables else pa.table({})

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
