"""Writers (threads and processes) adding columns at once lose nothing and
end with one schema."""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from scout_dagster import ParquetStore
from scout_dagster._storage import LOCK_FILE
from tests.conftest import wait_until
from tests.tables.schema_evolution_reads import (
    DAY_1,
    DAY_2,
    DAY_3,
    ROOT,
    TABLE,
    assert_every_reader_sees,
    file_columns,
    plain_reads,
)

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
