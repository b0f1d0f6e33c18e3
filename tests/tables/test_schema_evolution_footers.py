"""An unchanged schema costs a read of the partitions' footers only."""

from __future__ import annotations

import collections
import io
from pathlib import Path
from typing import Any

import fsspec  # type: ignore[import-untyped]
import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from scout_dagster import ParquetStore
from tests.tables.schema_evolution_reads import (
    TABLE,
    data_files,
)

# ---------------------------------------------------------------- reading footers only


class CountingFile(io.FileIO):
    """A local file that counts the bytes read from it."""

    def __init__(self, path: str, counts: collections.Counter[str]) -> None:
        super().__init__(path, "rb")
        self.counts, self.path = counts, path

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.counts[self.path] += len(data or b"")
        return data

    def readinto(self, buffer: Any) -> int | None:
        n = super().readinto(buffer)
        self.counts[self.path] += n or 0
        return n


class CountingHandler(pafs.FSSpecHandler):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(fsspec.filesystem("file"))
        self.counts: collections.Counter[str] = collections.Counter()

    def open_input_file(self, path: str) -> pa.PythonFile:
        return pa.PythonFile(CountingFile(path, self.counts), mode="r")

    def open_input_stream(self, path: str) -> pa.PythonFile:
        return self.open_input_file(path)


def test_an_unchanged_schema_reads_only_the_footers(tmp_path: Path) -> None:
    rows_per_partition = 200_000  # megabytes: far more than a footer read fetches
    days = [{"partition": f"2026-01-0{d}"} for d in range(1, 5)]

    def table(seed: int) -> pa.Table:
        ids = np.arange(seed * rows_per_partition, (seed + 1) * rows_per_partition)
        return pa.table({"id": ids, "x": np.random.default_rng(seed).random(rows_per_partition)})

    local = ParquetStore(str(tmp_path))
    for seed, day in enumerate(days):
        local.write(TABLE, table(seed), day)
    folder = tmp_path / TABLE
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in data_files(folder).values()}

    handler = CountingHandler()
    counting = ParquetStore(str(tmp_path), filesystem=pafs.PyFileSystem(handler))
    counting.write(TABLE, table(9), days[0])
    for path in list(before)[1:]:
        size = path.stat().st_size
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == before[path], "not rewritten"
        assert 0 < handler.counts[str(path)] < size / 20, f"{path}: more than the footer read"
    assert counting.read(TABLE).num_rows == 4 * rows_per_partition
