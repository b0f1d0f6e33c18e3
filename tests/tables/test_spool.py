"""A table spooled to disk reads back as the table it was, batch by batch,
and its file goes when it is closed, discarded or let go."""

from __future__ import annotations

import fcntl
import gc
import os
import struct
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from scout_dagster._dagster._checks import count_checks
from scout_dagster._schema_union import conform
from scout_dagster._storage import ParquetStore
from scout_dagster.tables import spool
from scout_dagster.tables.spool import SpooledTable, TableSpool
from scout_dagster.tables.versions import content_version

SCHEMA = pa.schema([("entity_id", pa.string()), ("n", pa.int64()), ("source_url", pa.string())])
CONSTANTS = pa.schema([*SCHEMA, ("run_id", pa.string()), ("query", pa.string())])


@pytest.fixture(autouse=True)
def spool_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every table spooled (none small enough to stay in memory), here."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(spool, "IN_MEMORY_BYTES", 0)
    return folder


def pieces(rows: int, size: int) -> list[pa.Table]:
    """``rows`` rows (every seventh id twice, every fifth URL missing) in pieces of ``size``."""
    table = pa.table(
        {
            "entity_id": [f"e{i - (i % 7 == 6)}" for i in range(rows)],
            "n": list(range(rows)),
            "source_url": [None if i % 5 == 0 else f"https://x/{i}" for i in range(rows)],
        },
        schema=SCHEMA,
    )
    return [table.slice(at, size) for at in range(0, rows, size)]


def spooled(parts: list[pa.Table]) -> SpooledTable:
    writer = TableSpool()
    for part in parts:
        writer.append(part)
    table = writer.finish(SCHEMA)
    assert isinstance(table, SpooledTable)
    return table


@pytest.mark.parametrize("batch_rows", [1, 3, 131_072])
def test_a_spooled_table_reads_back_as_it_was_written(
    batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "BATCH_ROWS", batch_rows)
    parts = pieces(50, 7)
    table = spooled(parts)
    whole = pa.concat_tables(parts)
    assert (table.num_rows, table.schema) == (50, SCHEMA)
    assert table.read_all().equals(whole)
    batches = list(table.batches())
    assert [b.num_rows for b in batches[:-1]] == [max(batch_rows, 7)] * (len(batches) - 1)
    assert pa.Table.from_batches(batches).equals(whole)
    assert table.column("n").equals(whole.column("n"))
    assert table.slice(10, 12).equals(whole.slice(10, 12))
    selected = pa.Table.from_batches(list(table.batches(["source_url", "entity_id"])))
    assert selected.equals(whole.select(["source_url", "entity_id"]))


def test_constants_and_changes_are_added_as_each_batch_is_read() -> None:
    table = spooled(pieces(20, 6))
    values = [pa.scalar("fa-1", pa.string()), pa.scalar("q", pa.string())]
    with_run = table.with_constants(CONSTANTS, values)
    read = with_run.read_all()
    assert read.schema == CONSTANTS
    assert read.column("run_id").to_pylist() == ["fa-1"] * 20
    assert read.drop_columns(["run_id", "query"]).equals(table.read_all())
    assert with_run.column("query").to_pylist() == ["q"] * 20
    union = pa.schema([("extra", pa.float64()), *CONSTANTS])
    changed = with_run.mapped(lambda batch: conform(batch, union, keep_types=False))
    assert changed.schema == union
    assert changed.read_all().equals(conform(read, union, keep_types=False))
    with pytest.raises(ValueError, match="one per value"):
        table.with_constants(CONSTANTS, values[:1])


def test_the_version_and_the_checks_of_a_spooled_table_are_the_tables() -> None:
    parts = pieces(200_000, 30_011)
    table, whole = spooled(parts), pa.concat_tables(parts)
    assert content_version(table) == content_version(whole)
    assert content_version(table, exclude=["n"]) == content_version(whole, exclude=["n"])
    assert content_version(table) != content_version(spooled(pieces(199_999, 30_011)))
    figures = count_checks(table, "entity_id")
    assert figures == count_checks(whole, "entity_id")
    assert (figures.rows, figures.missing_url) == (200_000, 40_000)
    assert figures.duplicates == 200_000 // 7


def test_a_small_table_stays_in_memory_and_a_large_one_goes_whole_to_disk(
    spool_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = TableSpool().finish(SCHEMA)
    assert empty is not None and empty.equals(SCHEMA.empty_table())
    parts = pieces(40, 10)
    monkeypatch.setattr(spool, "IN_MEMORY_BYTES", sum(p.nbytes for p in parts[:2]))
    small = TableSpool()
    for part in parts[:2]:
        small.append(part)
    kept = small.finish(SCHEMA)
    assert isinstance(kept, pa.Table) and kept.equals(pa.concat_tables(parts[:2]))
    assert not list(spool_folder.iterdir())
    # The third piece passes the limit: the two held are written before it.
    large = TableSpool()
    for part in parts:
        large.append(part)
    table = large.finish(SCHEMA)
    assert isinstance(table, SpooledTable) and len(list(spool_folder.iterdir())) == 1
    assert table.read_all().equals(pa.concat_tables(parts))


def test_pieces_of_another_schema_are_refused(spool_folder: Path) -> None:
    writer = TableSpool()
    writer.append(pa.table({"other": [1]}))
    with pytest.raises(ValueError, match="not"):
        writer.finish(SCHEMA)
    assert not list(spool_folder.iterdir())


def test_the_file_goes_when_closed_discarded_or_let_go(spool_folder: Path) -> None:
    table = spooled(pieces(10, 3))
    (file,) = spool_folder.iterdir()
    assert file.name.startswith("scout-dagster-spool-")
    table.close()
    assert not file.exists()
    with pytest.raises(OSError):
        table.read_all()

    writer = TableSpool()
    writer.append(pieces(10, 10)[0])
    writer.discard()
    assert not list(spool_folder.iterdir())

    # A table with constants shares the file: it goes with the last of them.
    kept = spooled(pieces(10, 3)).with_constants(
        CONSTANTS, [pa.scalar("r", pa.string()), pa.scalar("q", pa.string())]
    )
    assert len(list(spool_folder.iterdir())) == 1
    assert kept.read_all().num_rows == 10
    del kept
    gc.collect()
    assert not list(spool_folder.iterdir())


def test_a_spooled_table_is_written_to_parquet_a_row_group_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = 50
    monkeypatch.setattr(spool, "BATCH_ROWS", 16)
    parts = pieces(rows, 7)
    table = spooled(parts)
    written = ParquetStore(str(tmp_path / "store")).write("t", table)
    assert written.rows == rows
    file = pq.ParquetFile(tmp_path / "store" / "t" / "data.parquet")
    # Pieces of 7 rows gathered to at least 16: 21, 21, 8.
    assert [file.metadata.row_group(i).num_rows for i in range(file.num_row_groups)] == [21, 21, 8]
    assert file.read().equals(pa.concat_tables(parts))


@pytest.mark.parametrize("where", ["local", "object store"])
def test_a_spooled_write_that_fails_midway_leaves_the_previous_file(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "BATCH_ROWS", 7)
    root = tmp_path / "store"
    root.mkdir()
    # A filesystem that is not LocalFileSystem takes the object-store path
    # (no temporary file and rename), as s3:// and gs:// do.
    store = (
        ParquetStore(str(root))
        if where == "local"
        else ParquetStore(
            "mem://base", filesystem=pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
        )
    )
    before = spooled(pieces(20, 7))
    store.write("t", before)
    batches = [0]

    def interrupted(batch: pa.Table) -> pa.Table:
        batches[0] += 1
        if batches[0] == 3:
            raise KeyboardInterrupt  # as a run's termination interrupts its step
        return batch

    with pytest.raises(KeyboardInterrupt):
        store.write("t", spooled(pieces(50, 7)).mapped(interrupted))
    assert batches[0] == 3
    (written,) = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert pq.read_table(written).equals(before.read_all())


def test_a_spooled_tables_ids_that_hash_alike_are_still_counted_exactly() -> None:
    # Two ids the checks' hash cannot tell apart (see tables/distinct.py),
    # then a real repeat, and nulls (never distinct ids): the figures are
    # count_distinct's either way.
    alike: list[str | None] = ["a" + "-" * 63 + "b", "b" + "-" * 63 + "a"]
    for ids, duplicates in [
        (alike, 0),
        ([*alike, alike[0]], 1),
        (["x", None, "y", None], 2),
        ([*alike, None], 1),
    ]:
        part = pa.table(
            {"entity_id": ids, "n": range(len(ids)), "source_url": ["u"] * len(ids)},
            schema=SCHEMA,
        )
        figures = count_checks(spooled([part]), "entity_id")
        assert figures == count_checks(part, "entity_id")
        assert figures.duplicates == duplicates


# ------------------------------------------------------------ page cache

_FS_IOC_FIEMAP = 0xC020660B
_EXTENT_DELALLOC = 0x4
_EXTENT_BYTES = 56


def _blocks_still_delayed(path: Path) -> bool | None:
    """Whether every extent of ``path`` is still only in the page cache, its
    disk blocks not yet chosen (ext4's delayed allocation), as FIEMAP reports
    it; None where the file system has no FIEMAP or no such state."""
    count = 64
    request = bytearray(struct.pack("=QQIIII", 0, 2**64 - 1, 0, 0, count, 0))
    request += bytes(_EXTENT_BYTES * count)
    try:
        with open(path, "rb") as file:
            fcntl.ioctl(file.fileno(), _FS_IOC_FIEMAP, request)
    except OSError:
        return None
    mapped = struct.unpack_from("=I", request, 20)[0]
    flags = [
        struct.unpack_from("=I", request, 32 + _EXTENT_BYTES * i + 40)[0] for i in range(mapped)
    ]
    return bool(flags) and all(flag & _EXTENT_DELALLOC for flag in flags)


def _delayed_after_close(folder: Path, mode: str) -> bool | None:
    """Whether a file mkstemp made in ``folder``, written through ``mode`` and
    closed, is still only in the page cache (see _blocks_still_delayed)."""
    handle, name = tempfile.mkstemp(dir=folder)
    os.close(handle)
    with pa.OSFile(name, mode) as file:
        file.write(bytes(4 * 2**20))
    delayed = _blocks_still_delayed(Path(name))
    os.remove(name)
    return delayed


def _flushes_truncated_files_on_close(folder: Path) -> bool:
    """Whether ``folder``'s file system starts writing a file to disk when it
    is closed after being opened with truncation (ext4's auto_da_alloc, for
    programs that replace a file's contents without fsync), and not one that
    was appended to: where it delays neither (no delayed allocation, such as
    ext4 with nodelalloc or data=journal) the test cannot tell them apart."""
    return (
        _delayed_after_close(folder, "wb") is False and _delayed_after_close(folder, "ab") is True
    )


def test_a_spool_file_stays_in_the_page_cache_when_it_is_finished(spool_folder: Path) -> None:
    # Opening mkstemp's file with truncation made ext4 write the whole spool
    # to disk as it closed (60-85 ms for a million entities, inside the step,
    # and ~35 ms more to remove it): the file only lives for the step.
    if not _flushes_truncated_files_on_close(spool_folder):
        pytest.skip("this file system does not write truncated files to disk on close")
    # A truncated file is flushed at every close; an appended one only when
    # something else writes the page cache back (a sync, memory pressure)
    # between its close and the look, which three spools in a row all meeting
    # would take.
    still_delayed = []
    for _ in range(3):
        table = spooled(pieces(200_000, 50_000))
        (file,) = spool_folder.iterdir()
        still_delayed.append(_blocks_still_delayed(file))
        assert table.read_all().num_rows == 200_000
        table.close()
    assert True in still_delayed, still_delayed
