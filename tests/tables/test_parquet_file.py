"""How a table is encoded as Parquet: a dictionary only for the columns whose
values repeat, in memory and spooled alike, and the same rows read back."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scout_dagster import _parquet_file
from scout_dagster._parquet_file import dictionary_columns
from scout_dagster._storage import ParquetStore
from scout_dagster.tables import spool
from scout_dagster.tables.spool import SpooledTable, TableSpool

ROWS = 5_000


def table() -> pa.Table:
    """Unique ids, a few repeated towns, a repeated number, a list column whose
    values repeat, and a column of nulls."""
    return pa.table(
        {
            "entity_id": [f"e{i}" for i in range(ROWS)],
            "town": [["Paris", "Lyon", "Nice"][i % 3] for i in range(ROWS)],
            "serial": list(range(ROWS)),
            "year": [1990 + i % 30 for i in range(ROWS)],
            "tags": [["a", "b"][: i % 3] for i in range(ROWS)],
            "nothing": pa.nulls(ROWS, pa.string()),
        }
    )


def dictionary_encoded(path: Path) -> dict[str, bool]:
    """Each column's path: whether every one of its chunks has a dictionary page."""
    metadata = pq.read_metadata(path)
    encoded: dict[str, bool] = {}
    for group in range(metadata.num_row_groups):
        for i in range(metadata.num_columns):
            chunk = metadata.row_group(group).column(i)
            has = chunk.has_dictionary_page
            encoded[chunk.path_in_schema] = encoded.get(chunk.path_in_schema, True) and has
    return encoded


EXPECTED = {
    "entity_id": False,
    "town": True,
    "serial": False,
    "year": True,
    "tags.list.element": True,
    "nothing": True,
}


def test_only_the_columns_whose_values_repeat_get_a_dictionary(tmp_path: Path) -> None:
    written = ParquetStore(str(tmp_path)).write("entities", table())
    path = Path(written.uri.removeprefix("file://"))
    assert dictionary_encoded(path) == EXPECTED
    assert pq.read_table(path).equals(table())


@pytest.mark.parametrize("first", [1, 2, 700], ids=["one-row", "two-rows", "700-rows"])
def test_a_spooled_table_is_encoded_as_the_same_rows_in_memory(
    first: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the size of its first pieces: the choice is made on its first
    rows, as many as in memory."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(spool, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(spool, "BATCH_ROWS", 1_000)
    monkeypatch.setattr(_parquet_file, "SAMPLE_ROWS", 2_000)
    writer = TableSpool()
    writer.append(table().slice(0, first))
    for at in range(first, ROWS, 700):
        writer.append(table().slice(at, 700))
    spooled = writer.finish(table().schema)
    assert isinstance(spooled, SpooledTable)
    written = ParquetStore(str(tmp_path / "out")).write("entities", spooled)
    path = Path(written.uri.removeprefix("file://"))
    assert pq.read_metadata(path).num_row_groups > 1
    assert dictionary_encoded(path) == EXPECTED
    assert pq.read_table(path).equals(table())
    spooled.close()


def test_a_type_whose_values_are_not_compared_here_keeps_the_writers_default(
    tmp_path: Path,
) -> None:
    """An extension type (``unique`` has no kernel for it) is written as before."""
    storage = pa.array([uuid.UUID(int=i).bytes for i in range(10)], pa.binary(16))
    ids = pa.table({"id": pa.ExtensionArray.from_storage(pa.uuid(), storage)})
    assert dictionary_columns(ids) == ["id"]
    written = ParquetStore(str(tmp_path)).write("ids", ids)
    path = Path(written.uri.removeprefix("file://"))
    assert pq.read_table(path).column("id").to_pylist() == ids.column("id").to_pylist()


def test_an_extension_type_stored_nested_keeps_its_leaves_dictionaries(tmp_path: Path) -> None:
    tags = pa.array([["a", "b"][: i % 3] for i in range(ROWS)], pa.list_(pa.string()))
    ids = pa.table({"tags": pa.ExtensionArray.from_storage(_Tags(), tags)})
    assert dictionary_columns(ids) == ["tags.list.element"]
    written = ParquetStore(str(tmp_path)).write("tags", ids)
    path = Path(written.uri.removeprefix("file://"))
    assert dictionary_encoded(path) == {"tags.list.element": True}


class _Tags(pa.ExtensionType):  # type: ignore[misc]  # pyarrow ships no stubs
    """A list of strings, as an extension type (its storage is nested)."""

    def __init__(self) -> None:
        super().__init__(pa.list_(pa.string()), "test.tags")

    def __arrow_ext_serialize__(self) -> bytes:
        return b""

    @classmethod
    def __arrow_ext_deserialize__(cls, storage_type: pa.DataType, serialized: bytes) -> _Tags:
        return cls()


def test_the_choice_is_made_on_the_values_not_the_nulls() -> None:
    ids = pa.table({"id": [None] * 90 + [f"e{i}" for i in range(10)]})
    assert dictionary_columns(ids) == []
    assert dictionary_columns(pa.table({"id": pa.array([], pa.string())})) == ["id"]
    assert dictionary_columns(pa.table({"kind": pa.array(["a", "b"] * 3).dictionary_encode()})) == [
        "kind"
    ]
