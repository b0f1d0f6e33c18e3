"""ParquetStore on local disk: older partitions take new columns, a changed
type is refused before anything is replaced, a failed write leaves every
file whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scout_dagster import ParquetStore
from scout_dagster._storage import SchemaConflictError
from tests.tables.schema_evolution_reads import (
    DAY_1,
    DAY_2,
    DAY_3,
    TABLE,
    assert_every_reader_sees,
    contents,
    data_files,
    duck,
    file_columns,
    plain_reads,
    plain_reads_but_duckdb_default,
    rows,
    store_reads,
)

# ---------------------------------------------------------------- the store, locally


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
