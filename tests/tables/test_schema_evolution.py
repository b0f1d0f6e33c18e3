"""Issue 12: partitions written under different configurations read together, or the
write is refused; never a column lost in silence.

Every check reads the table folder the ways a user would: pandas, pyarrow.dataset
(hive), DuckDB (with and without ``union_by_name``), and through ParquetStore / the
IO manager.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import io
import math
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import duckdb
import fsspec  # type: ignore[import-untyped]
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from dagster import AssetIn, DailyPartitionsDefinition, asset, materialize

from scout_dagster import ParquetStore, ScoutParquetIOManager, ScoutResource, build_findall_assets
from scout_dagster._storage import LOCK_FILE, SchemaConflictError
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY, wait_until

ROOT = Path(__file__).resolve().parents[2]
DAILY = DailyPartitionsDefinition(start_date="2026-01-01")
DAY_1, DAY_2, DAY_3 = (
    {"partition": "2026-01-01"},
    {"partition": "2026-01-02"},
    {"partition": "2026-01-03"},
)
TABLE = "entities"

# ---------------------------------------------------------------- readers


def plain_reads(folder: Path) -> dict[str, pd.DataFrame]:
    """The table folder as each plain reader sees it, default options, hive columns dropped."""
    glob = f"{folder}/**/*.parquet"
    duckdb_default = duck(f"select * from read_parquet('{glob}', hive_partitioning=true)")
    return plain_reads_but_duckdb_default(folder) | {
        "duckdb": duckdb_default.drop(columns=["partition"])
    }


def plain_reads_but_duckdb_default(folder: Path) -> dict[str, pd.DataFrame]:
    glob = f"{folder}/**/*.parquet"
    frames = {
        "pandas": pd.read_parquet(folder),
        "pyarrow.dataset": ds.dataset(folder, format="parquet", partitioning="hive")
        .to_table()
        .to_pandas(),
        "duckdb union_by_name": duck(
            f"select * from read_parquet('{glob}', hive_partitioning=true, union_by_name=true)"
        ),
    }
    return {name: frame.drop(columns=["partition"]) for name, frame in frames.items()}


def duck(sql: str) -> pd.DataFrame:
    relation = duckdb.sql(sql)
    assert relation is not None
    frame: pd.DataFrame = relation.df()
    return frame


def store_reads(
    store: ParquetStore, table: str, partitions: list[dict[str, str]]
) -> dict[str, pd.DataFrame]:
    return {
        "ParquetStore.read(all)": store.read(table).to_pandas(),
        "ParquetStore.read(partitions)": store.read(table, list(partitions)).to_pandas(),
    }


# ---------------------------------------------------------------- the issue, through Dagster


def findall_resources(server: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def test_a_field_added_to_a_findall_asset_reads_back_with_every_reader(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    def news(fields: list[str]) -> Any:
        return build_findall_assets(
            "news", "AI news on {partition_key}", partitions_def=DAILY, limit=3, fields=fields
        )

    resources = findall_resources(emulator, tmp_path)
    assert materialize([news(["name"])], resources=resources, partition_key="2026-01-01").success
    assert materialize(
        [news(["name", "website"])], resources=resources, partition_key="2026-01-02"
    ).success

    loaded: dict[str, pd.DataFrame] = {}

    @asset(ins={"news_entities": AssetIn()})
    def everything(news_entities: pd.DataFrame) -> None:
        loaded["IO manager"] = news_entities

    assert materialize(
        [news(["name", "website"]), everything], resources=resources, selection=[everything]
    ).success

    folder = tmp_path / "news_entities"
    store = ParquetStore(str(tmp_path))
    reads = plain_reads(folder) | store_reads(store, "news_entities", [DAY_1, DAY_2]) | loaded
    lost = sorted(reader for reader, frame in reads.items() if "website" not in frame.columns)
    assert not lost, f"the new column is missing from: {lost}"
    for reader, frame in reads.items():
        filled = frame.groupby("partition_key")["website"].apply(lambda s: s.notna().sum())
        assert filled.to_dict() == {"2026-01-01": 0, "2026-01-02": 3}, reader


def test_a_findall_field_whose_type_changes_fails_the_materialization(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    def news(employees_type: str) -> Any:
        schema = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "employees": {"type": employees_type}},
        }
        return build_findall_assets(
            "news",
            "AI news on {partition_key}",
            partitions_def=DAILY,
            limit=3,
            output_schema=schema,
        )

    resources = findall_resources(emulator, tmp_path)
    for day in ("2026-01-01", "2026-01-02"):
        assert materialize([news("integer")], resources=resources, partition_key=day).success
    folder = tmp_path / "news_entities"
    before = contents(folder)
    reads_before = plain_reads(folder)

    for day in ("2026-01-02", "2026-01-03"):  # replacing a partition, adding one
        result = materialize(
            [news("string")], resources=resources, partition_key=day, raise_on_error=False
        )
        assert not result.success
        error = result.get_step_failure_events()[0].step_failure_data.error
        assert error is not None and error.cause is not None  # the IO manager's error
        assert error.cause.cls_name == "SchemaConflictError"
        assert (
            "table 'news_entities': column 'employees' is int64 in partition=2026-01-01 but "
            f"string in the partition being written (partition={day}); a column keeps one type "
            "across the partitions of a table, so nothing was written. To proceed: rename the "
            f"field (the new type becomes a new column), or delete {folder} and re-materialize "
            "every partition, or give the asset a new name."
        ) in error.cause.message
        assert contents(folder) == before
        for reader, frame in plain_reads(folder).items():
            pd.testing.assert_frame_equal(frame, reads_before[reader], obj=reader)
        assert ParquetStore(str(tmp_path)).read("news_entities").num_rows == 6


# ---------------------------------------------------------------- the store, locally


def data_files(folder: Path) -> dict[str, Path]:
    """The data files of a table folder, by partition folder."""
    return {
        str(path.parent.relative_to(folder)): path
        for path in sorted(folder.rglob("data.parquet"))
        if not any(part.startswith((".", "_")) for part in path.relative_to(folder).parts)
    }


def file_columns(folder: Path) -> dict[str, list[str]]:
    return {name: pq.read_schema(path).names for name, path in data_files(folder).items()}


def contents(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (hidden ones too) and its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def rows(frame: pd.DataFrame) -> dict[Any, dict[str, Any]]:
    """Rows as plain values (every kind of missing value as None), by ``id``."""
    records = frame.to_dict("records")
    return {r["id"]: {str(k): None if missing(v) else v for k, v in r.items()} for r in records}


def assert_every_reader_sees(
    store: ParquetStore,
    folder: Path,
    partitions: list[dict[str, str]],
    columns: list[str],
    expected: dict[Any, dict[str, Any]],
) -> None:
    reads = plain_reads(folder) | store_reads(store, TABLE, partitions)
    for reader, frame in reads.items():
        assert list(frame.columns) == columns, reader
        assert rows(frame) == expected, reader


def test_older_partitions_take_new_columns_in_the_existing_order(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    folder = tmp_path / TABLE
    store.write(TABLE, pa.table({"id": [1, 2], "name": ["a", "b"]}), DAY_1)
    store.write(TABLE, pa.table({"id": [3], "name": ["c"], "website": ["c.com"]}), DAY_2)
    assert set(map(tuple, file_columns(folder).values())) == {("id", "name", "website")}
    # A later configuration puts its columns in another order and adds one more.
    store.write(TABLE, pa.table({"employees": [40], "name": ["d"], "id": [4]}), DAY_3)

    columns = ["id", "name", "website", "employees"]
    assert file_columns(folder) == {
        "partition=2026-01-01": columns,
        "partition=2026-01-02": columns,
        "partition=2026-01-03": columns,
    }
    expected = {
        1: {"id": 1, "name": "a", "website": None, "employees": None},
        2: {"id": 2, "name": "b", "website": None, "employees": None},
        3: {"id": 3, "name": "c", "website": "c.com", "employees": None},
        4: {"id": 4, "name": "d", "website": None, "employees": 40},
    }
    assert_every_reader_sees(store, folder, [DAY_1, DAY_2, DAY_3], columns, expected)
    # The column added as nulls has the type it has where it has values.
    typed = pq.read_schema(data_files(folder)["partition=2026-01-01"])
    assert typed.field("employees").type == pa.int64()
    assert typed.field("website").type == pa.string()


def test_a_partition_without_a_column_the_others_have_gets_it_as_nulls(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    folder = tmp_path / TABLE
    store.write(TABLE, pa.table({"id": [1], "name": ["a"], "website": ["a.com"]}), DAY_1)
    before = contents(folder)["partition=2026-01-01/data.parquet"]
    store.write(TABLE, pa.table({"id": [2], "name": ["b"]}), DAY_2)

    columns = ["id", "name", "website"]
    assert file_columns(folder)["partition=2026-01-02"] == columns
    assert contents(folder)["partition=2026-01-01/data.parquet"] == before, "not rewritten"
    expected = {
        1: {"id": 1, "name": "a", "website": "a.com"},
        2: {"id": 2, "name": "b", "website": None},
    }
    assert_every_reader_sees(store, folder, [DAY_1, DAY_2], columns, expected)


def test_a_table_written_before_the_fix_reads_whole_and_is_unified_by_the_next_write(
    tmp_path: Path,
) -> None:
    folder = tmp_path / TABLE
    for day, table in (
        (DAY_1, pa.table({"id": [1], "name": ["a"]})),
        (DAY_2, pa.table({"id": [2], "name": ["b"], "website": ["b.com"]})),
    ):
        (folder / f"partition={day['partition']}").mkdir(parents=True)
        pq.write_table(table, folder / f"partition={day['partition']}" / "data.parquet")
    store = ParquetStore(str(tmp_path))
    assert store.read(TABLE).column_names == ["id", "name", "website"]
    assert "website" not in pd.read_parquet(folder).columns, "what issue 12 was"

    store.write(TABLE, pa.table({"id": [3], "name": ["c"]}), DAY_3)
    expected = {
        1: {"id": 1, "name": "a", "website": None},
        2: {"id": 2, "name": "b", "website": "b.com"},
        3: {"id": 3, "name": "c", "website": None},
    }
    columns = ["id", "name", "website"]
    assert_every_reader_sees(store, folder, [DAY_1, DAY_2, DAY_3], columns, expected)


@pytest.mark.parametrize(
    ("old", "new", "old_type"),
    [
        (pa.array([1, 2], pa.int64()), pa.array(["1", "2"]), "int64"),
        (
            pa.array([[1], [2, 3]], pa.list_(pa.int64())),
            pa.array(["[1]", "[2, 3]"]),
            "list<element: int64>",  # as the footer has it
        ),
    ],
    ids=["int64 to string", "list<int64> to string"],
)
def test_a_changed_column_type_is_refused_before_anything_is_replaced(
    tmp_path: Path, old: pa.Array, new: pa.Array, old_type: str
) -> None:
    store = ParquetStore(str(tmp_path))
    folder = tmp_path / TABLE
    store.write(TABLE, pa.table({"id": [1, 2], "count": old}), DAY_1)
    store.write(TABLE, pa.table({"id": [3, 4], "count": old, "extra": ["x", "y"]}), DAY_2)
    before = contents(folder)
    reads_before = plain_reads(folder) | store_reads(store, TABLE, [DAY_1, DAY_2])

    # Replacing a partition, and adding one: both refused, with the way out.
    for partition in (DAY_2, DAY_3):
        changed = pa.table({"id": [5, 6], "count": new, "more": [1.5, 2.5]})
        with pytest.raises(SchemaConflictError) as refused:
            store.write(TABLE, changed, partition)
        message = str(refused.value)
        assert isinstance(refused.value, ValueError)
        assert message.startswith(
            f"table 'entities': column 'count' is {old_type} in partition=2026-01-01 "
            f"but string in the partition being written (partition={partition['partition']}); "
            "a column keeps one type across the partitions of a table, so nothing was written. "
            "To proceed: rename the field (the new type becomes a new column), or delete "
            f"{folder} and re-materialize every partition, or give the asset a new name."
        ), message
        assert (refused.value.column, str(refused.value.old_type)) == ("count", old_type)
        assert refused.value.new_type == pa.string()

        # The old partitions and the previous version of this one, exactly as they were.
        assert contents(folder) == before
        reads = plain_reads(folder) | store_reads(store, TABLE, [DAY_1, DAY_2])
        for reader, frame in reads.items():
            pd.testing.assert_frame_equal(frame, reads_before[reader], obj=reader)
    assert not (folder / "partition=2026-01-03" / "data.parquet").exists()


def test_a_partition_replaced_alone_may_change_types(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    store.write(TABLE, pa.table({"id": [1], "count": [1]}), DAY_1)
    store.write(TABLE, pa.table({"id": [1], "count": ["one"]}), DAY_1)
    assert store.read(TABLE).column("count").to_pylist() == ["one"]


def test_partitions_that_already_disagree_on_a_type_are_not_read_silently(
    tmp_path: Path,
) -> None:
    folder = tmp_path / TABLE
    for day, count in (("2026-01-01", [1]), ("2026-01-02", ["1"])):
        (folder / f"partition={day}").mkdir(parents=True)
        pq.write_table(
            pa.table({"id": [1], "count": count}), folder / f"partition={day}/data.parquet"
        )
    store = ParquetStore(str(tmp_path))
    for partitions in (None, [DAY_1, DAY_2]):
        with pytest.raises(SchemaConflictError, match="so the partitions cannot be read together"):
            store.read(TABLE, partitions)  # type: ignore[arg-type]


def test_nullability_and_metadata_differences_are_not_type_changes(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    folder = tmp_path / TABLE

    def table(ids: list[int], description: str, nullable: bool) -> pa.Table:
        schema = pa.schema(
            [
                pa.field("id", pa.int64(), nullable=nullable),
                pa.field("name", pa.string(), metadata={"description": description}),
                pa.field("tags", pa.list_(pa.field("item", pa.string(), nullable=nullable))),
                pa.field("when", pa.timestamp("s", tz="UTC")),  # stored as timestamp[ms]
            ]
        )
        n = len(ids)
        return pa.table([ids, ["n"] * n, [["t"]] * n, [0] * n], schema=schema)

    store.write(TABLE, table([1], "first", nullable=False), DAY_1)
    store.write(TABLE, table([2], "second", nullable=False), DAY_2)
    day_1 = contents(folder)["partition=2026-01-01/data.parquet"]
    assert contents(folder)["partition=2026-01-02/data.parquet"]
    # Nullable now: the older partition says "not null", so it is rewritten nullable.
    store.write(TABLE, table([3], "third", nullable=True), DAY_3)
    assert contents(folder)["partition=2026-01-01/data.parquet"] != day_1
    assert pq.read_schema(data_files(folder)["partition=2026-01-01"]).field("id").nullable
    # Metadata alone (and the timestamp unit Parquet stores) rewrites nothing.
    unchanged = contents(folder)
    store.write(TABLE, table([4], "fourth", nullable=True), DAY_2)
    after = contents(folder)
    for name in ("partition=2026-01-01/data.parquet", "partition=2026-01-03/data.parquet"):
        assert after[name] == unchanged[name]
    assert sorted(store.read(TABLE).column("id").to_pylist()) == [1, 3, 4]
    described = {
        name: pq.read_schema(path).field("name").metadata[b"description"]
        for name, path in data_files(folder).items()
    }
    assert described == {
        "partition=2026-01-01": b"first",
        "partition=2026-01-02": b"fourth",
        "partition=2026-01-03": b"third",
    }


def test_a_column_that_was_all_nulls_takes_the_type_that_comes_later(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    folder = tmp_path / TABLE
    # As pandas gives a column of only None.
    store.write(TABLE, pa.Table.from_pandas(pd.DataFrame({"id": [1], "note": [None]})), DAY_1)
    store.write(TABLE, pa.table({"id": [2], "note": ["hello"]}), DAY_2)
    store.write(TABLE, pa.Table.from_pandas(pd.DataFrame({"id": [3], "note": [None]})), DAY_3)
    for path in data_files(folder).values():
        assert pq.read_schema(path).field("note").type == pa.string()
    expected: dict[int, dict[str, Any]] = {
        1: {"id": 1, "note": None},
        2: {"id": 2, "note": "hello"},
        3: {"id": 3, "note": None},
    }
    assert_every_reader_sees(store, folder, [DAY_1, DAY_2, DAY_3], ["id", "note"], expected)


def test_unpartitioned_tables_are_just_replaced(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    store.write(TABLE, pa.table({"id": [1], "count": [1]}))
    store.write(TABLE, pa.table({"id": [2], "count": ["two"], "new": [True]}))
    assert store.read(TABLE).to_pylist() == [{"id": 2, "count": "two", "new": True}]
    assert sorted(p.name for p in (tmp_path / TABLE).iterdir()) == ["data.parquet"]


def test_a_write_that_fails_half_way_leaves_every_file_whole(tmp_path: Path) -> None:
    store = ParquetStore(str(tmp_path))
    folder = tmp_path / TABLE
    store.write(TABLE, pa.table({"id": [1], "name": ["a"]}), DAY_1)
    store.write(TABLE, pa.table({"id": [2], "name": ["b"]}), DAY_2)
    replaced: list[str] = []

    def fail_at_the_second_replace(temporary: str) -> None:
        replaced.append(temporary)
        if len(replaced) == 2:
            raise OSError("disk full")

    failing = ParquetStore(str(tmp_path), before_replace=fail_at_the_second_replace)
    with pytest.raises(OSError, match="disk full"):
        failing.write(TABLE, pa.table({"id": [3], "name": ["c"], "website": ["c.com"]}), DAY_2)
    # The older partition has the new column; the write stopped before
    # replacing the old version of its own partition. Nothing half-written.
    assert file_columns(folder) == {
        "partition=2026-01-01": ["id", "name", "website"],
        "partition=2026-01-02": ["id", "name"],
    }
    assert not [p for p in folder.rglob("*.tmp")]
    expected = {
        1: {"id": 1, "name": "a", "website": None},
        2: {"id": 2, "name": "b", "website": None},
    }
    glob = f"{folder}/**/*.parquet"
    with pytest.raises(duckdb.InvalidInputException, match="try setting union_by_name"):
        duck(f"select * from read_parquet('{glob}', hive_partitioning=true)")  # loud, not silent
    reads = plain_reads_but_duckdb_default(folder) | store_reads(store, TABLE, [DAY_1, DAY_2])
    for reader, frame in reads.items():
        assert rows(frame) == expected, reader
    # The next write makes the files alike again.
    store.write(TABLE, pa.table({"id": [3], "name": ["c"], "website": ["c.com"]}), DAY_2)
    assert set(map(tuple, file_columns(folder).values())) == {("id", "name", "website")}


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


# ---------------------------------------------------------------- concurrent writers


@pytest.mark.parametrize("b_writes", ["another partition", "the partition A rewrites"])
@pytest.mark.parametrize("locked", [True, False], ids=["one host", "hosts without a lock"])
def test_two_writers_adding_columns_at_once_lose_nothing(
    tmp_path: Path, locked: bool, b_writes: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writer A adds column ``a`` in a new partition and is held just before its first
    replace: the rewrite of the older partition, from what it read. Meanwhile writer B
    adds column ``b``, in another partition or by re-materializing that older one.

    On one host B waits for A's lock. Without the lock (writers on two hosts) A finds
    the partition changed under it and starts over from the table as B left it;
    replacing it with A's rewrite would have put back the rows B had just replaced.
    """
    folder = tmp_path / TABLE
    ParquetStore(str(tmp_path)).write(TABLE, pa.table({"id": [1], "name": ["a"]}), DAY_1)
    if not locked:
        monkeypatch.setattr(ParquetStore, "_table_lock", lambda self, name: _no_lock())
    b_done = threading.Event()
    held = threading.Event()

    def hold_a_first_time(temporary: str) -> None:
        if not held.is_set():
            held.set()
            # B cannot finish while A holds the lock: then this waits in vain.
            b_done.wait(timeout=0.5 if locked else 10)

    a_store = ParquetStore(str(tmp_path), before_replace=hold_a_first_time)
    b_store = ParquetStore(str(tmp_path))
    b_id, b_partition = (3, DAY_3) if b_writes == "another partition" else (10, DAY_1)
    errors: list[BaseException] = []

    def write_a() -> None:
        a_store.write(TABLE, pa.table({"id": [2], "name": ["b"], "a": [2.0]}), DAY_2)

    def write_b() -> None:
        b_store.write(TABLE, pa.table({"id": [b_id], "name": ["c"], "b": [True]}), b_partition)
        b_done.set()

    def run(write: Any) -> None:
        try:
            write()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    a = threading.Thread(target=run, args=(write_a,))
    a.start()
    assert held.wait(timeout=10)
    b = threading.Thread(target=run, args=(write_b,))
    b.start()
    a.join(timeout=30)
    b.join(timeout=30)
    assert not errors

    columns = ["id", "name", "a", "b"] if locked else ["id", "name", "b", "a"]
    assert set(map(tuple, file_columns(folder).values())) == {tuple(columns)}
    expected = {
        2: {"id": 2, "name": "b", "a": 2.0, "b": None},
        b_id: {"id": b_id, "name": "c", "a": None, "b": True},
    }
    if b_partition != DAY_1:
        expected[1] = {"id": 1, "name": "a", "a": None, "b": None}
    store = ParquetStore(str(tmp_path))
    partitions = sorted({DAY_1["partition"], DAY_2["partition"], b_partition["partition"]})
    assert_every_reader_sees(
        store, folder, [{"partition": p} for p in partitions], columns, expected
    )
    assert not list(folder.rglob("*.tmp"))


@contextlib.contextmanager
def _no_lock() -> Iterator[None]:
    yield


_WRITER = """
import fcntl, pathlib, sys
import pyarrow as pa
from scout_dagster import ParquetStore

base, n, gate = sys.argv[1], int(sys.argv[2]), sys.argv[3]
store = ParquetStore(base)
table = pa.table({"id": [n], "name": [str(n)], f"column_{n}": [n]})
with open(gate, "rb") as opened:
    pathlib.Path(f"{gate}.ready-{n}").touch()
    fcntl.flock(opened, fcntl.LOCK_SH)  # every writer starts when the test lets go
store.write("entities", table, {"partition": f"2026-02-{n:02d}"})
"""


def test_writer_processes_adding_columns_at_once_end_with_one_schema(tmp_path: Path) -> None:
    ParquetStore(str(tmp_path)).write(TABLE, pa.table({"id": [0], "name": ["0"]}), DAY_1)
    gate = tmp_path / ".gate"
    with gate.open("wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(tmp_path), str(n), str(gate)], cwd=ROOT
            )
            for n in range(1, 7)
        ]
        wait_until(lambda: len(list(tmp_path.glob(".gate.ready-*"))) == 6, 60)
    assert [w.wait(timeout=120) for w in writers] == [0] * 6

    folder = tmp_path / TABLE
    schemas = {tuple(columns) for columns in file_columns(folder).values()}
    assert len(schemas) == 1 and len(file_columns(folder)) == 7
    (columns,) = schemas
    assert columns[:2] == ("id", "name")
    assert sorted(columns[2:]) == [f"column_{n}" for n in range(1, 7)]
    for reader, frame in plain_reads(folder).items():
        assert sorted(frame["id"]) == list(range(7)), reader
        for n in range(1, 7):
            assert frame.set_index("id")[f"column_{n}"].notna().to_dict() == {
                i: i == n for i in range(7)
            }, reader
    assert (folder / LOCK_FILE).exists(), "the lock is a hidden file no reader picks up"


# ---------------------------------------------------------------- object storage

BUCKET = "scout-evolution"


def test_partitions_on_s3_are_unified_or_refused(s3_endpoint: str, s3_credentials: None) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    endpoint = urllib.parse.quote(s3_endpoint, safe="")
    store = ParquetStore(
        f"s3://{BUCKET}/scout?endpoint_override={endpoint}&scheme=http&region=us-east-1"
    )
    filesystem = pafs.S3FileSystem(
        endpoint_override=s3_endpoint,
        scheme="http",
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
    )
    folder = f"{BUCKET}/scout/{TABLE}"

    def objects() -> dict[str, bytes]:
        listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"scout/{TABLE}/")["Contents"]
        return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}

    def reads() -> dict[str, pd.DataFrame]:
        frames = {
            "pandas": pd.read_parquet(folder, filesystem=filesystem),
            "pyarrow.dataset": ds.dataset(
                folder, filesystem=filesystem, format="parquet", partitioning="hive"
            )
            .to_table()
            .to_pandas(),
        }
        plain = {name: frame.drop(columns=["partition"]) for name, frame in frames.items()}
        return plain | store_reads(store, TABLE, [DAY_1, DAY_2, DAY_3])

    store.write(TABLE, pa.table({"id": [1], "count": [10]}), DAY_1)
    store.write(TABLE, pa.table({"id": [2], "count": [20]}), DAY_2)
    store.write(TABLE, pa.table({"id": [3], "website": ["c.com"], "count": [30]}), DAY_3)
    expected = {
        1: {"id": 1, "count": 10, "website": None},
        2: {"id": 2, "count": 20, "website": None},
        3: {"id": 3, "count": 30, "website": "c.com"},
    }
    for reader, frame in reads().items():
        assert list(frame.columns) == ["id", "count", "website"], reader
        assert rows(frame) == expected, reader

    before = objects()
    with pytest.raises(SchemaConflictError) as refused:
        store.write(TABLE, pa.table({"id": [4], "count": ["forty"]}), DAY_2)
    assert str(refused.value).startswith(
        "table 'entities': column 'count' is int64 in partition=2026-01-01 but string in the "
        "partition being written (partition=2026-01-02);"
    )
    assert f"delete s3://{BUCKET}/scout/{TABLE} and re-materialize" in str(refused.value)
    assert objects() == before
    for reader, frame in reads().items():
        assert rows(frame) == expected, reader
