"""Data versions: the same rows give the same version however they are
chunked or sliced, run-specific columns never count, any other change does."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random

import pyarrow as pa
import pytest

from scout_dagster import FindAllRequest
from scout_dagster.tables import json_reader, versions
from scout_dagster.tables.findall import findall_tables
from scout_dagster.tables.provenance import Provenance
from scout_dagster.tables.schemas import entity_columns
from scout_dagster.tables.versions import RUN_SPECIFIC_COLUMNS, content_version

UTC = pa.timestamp("us", tz="UTC")
STRUCT = pa.struct([("x", pa.int64()), ("y", pa.string())])


def _table(rows: int, seed: int = 1) -> pa.Table:
    """Every kind of column a Scout table has, nulls in each."""
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def some(*values: object) -> list[object]:
        return [rng.choice(values) for _ in range(rows)]

    return pa.table(
        {
            "n": pa.array(some(None, 0, 7, -3), pa.int64()),
            "flag": pa.array(some(None, True, False), pa.bool_()),
            "text": pa.array(some(None, "", "a", "bcd", "é, ünïcode"), pa.string()),
            "score": pa.array(some(None, 0.5, 1e300), pa.float64()),
            "tags": pa.array(some(None, [], ["a", None], ["bc"]), pa.list_(pa.string())),
            "hq": pa.array(some(None, {"x": 1, "y": "q"}, {"x": None, "y": None}), STRUCT),
            "at": pa.array(some(None, start, start + dt.timedelta(days=1)), UTC),
            "run_id": pa.array(some("r-1", "r-2"), pa.string()),
        }
    )


def _rechunked(table: pa.Table, rng: random.Random) -> pa.Table:
    """``table``'s rows in random chunks: views into it, and some fresh copies."""
    cuts = sorted(rng.sample(range(1, table.num_rows), rng.randint(1, 20)))
    bounds = zip([0, *cuts], [*cuts, table.num_rows], strict=True)
    parts = [table.slice(start, end - start) for start, end in bounds]
    parts = [
        pa.Table.from_pylist(part.to_pylist(), schema=table.schema) if rng.random() < 0.3 else part
        for part in parts
    ]
    return pa.concat_tables(parts)


@pytest.mark.parametrize("batch_rows", [1, 8, 13, 64, versions.BATCH_ROWS])
def test_the_same_rows_give_the_same_version_whatever_the_chunking(
    batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(versions, "BATCH_ROWS", batch_rows)
    rng = random.Random(batch_rows)
    table = _table(301)
    expected = content_version(table)
    for _ in range(20):
        rechunked = _rechunked(table, rng)
        assert rechunked.column(0).num_chunks > 1
        assert content_version(rechunked) == expected
    # A table that is itself a slice, at an odd offset, against a copy of it.
    sliced = table.slice(13, 250)
    copied = pa.Table.from_pylist(sliced.to_pylist(), schema=table.schema)
    assert (
        content_version(sliced)
        == content_version(copied)
        == content_version(_rechunked(sliced, rng))
    )


def test_a_table_of_one_chunk_hashes_as_its_whole_ipc_stream() -> None:
    # So small tables built from Python values keep the versions written before.
    table = _table(500).drop_columns(["run_id"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    whole = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:24]
    assert content_version(table) == content_version(table, exclude=()) == whole


def test_run_specific_columns_are_left_out_and_any_other_change_counts() -> None:
    table = _table(200)
    assert "run_id" in RUN_SPECIFIC_COLUMNS
    other_run = table.set_column(
        table.schema.get_field_index("run_id"), "run_id", pa.array(["r-9"] * 200)
    )
    assert content_version(other_run) == content_version(table)
    assert content_version(other_run, exclude=()) != content_version(table, exclude=())
    # One value, the order of the rows, one row fewer, a column renamed.
    changed = table.set_column(0, "n", pa.array([12345, *table.column("n").to_pylist()[1:]]))
    reordered = pa.concat_tables([table.slice(1), table.slice(0, 1)])
    renamed = table.rename_columns(["m", *table.column_names[1:]])
    versions_seen = {
        content_version(t) for t in (table, changed, reordered, table.slice(1), renamed)
    }
    assert len(versions_seen) == 5
    assert len(content_version(table)) == 24
    assert content_version(table.slice(0, 0)) != content_version(table)


def test_a_body_read_in_pieces_or_whole_has_one_version(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = {"type": "object", "properties": {"name": {"type": "string"}}}
    columns = entity_columns(FindAllRequest("q", output_schema=schema))
    body = {
        "findall_id": "fa-1",
        "status": {"status": "completed"},
        "entities": [{"name": f"Company {i}", "source": f"https://s.test/{i}"} for i in range(40)],
    }
    raw = json.dumps(body).encode()
    whole = findall_tables(raw, columns, Provenance("fa-1", "q", dt.datetime.now(dt.UTC)))
    monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    pieces = findall_tables(raw, columns, Provenance("fa-2", "q", later))
    assert pieces.entities.column(0).num_chunks > whole.entities.column(0).num_chunks
    assert content_version(pieces.entities) == content_version(whole.entities)


def test_versions_are_those_of_earlier_releases() -> None:
    # Digests the version had before it was read as a stream of batches (a
    # spooled table's): a change here changes every stored table's version,
    # and every downstream asset would look stale once.
    table = pa.table(
        {
            "entity_id": ["a", "b", None] * 50_000,
            "n": list(range(150_000)),
            "run_id": ["r"] * 150_000,
        }
    )
    table = pa.concat_tables([table.slice(0, 70_000), table.slice(70_000)])
    assert content_version(table) == "a66943ec37ba1ad8b5d0b5e3"
    assert content_version(table.replace_schema_metadata({"k": "v"})) == "ebcd5c31772cc2771a2af129"


def test_a_table_with_dictionary_columns_hashes_as_its_ipc_stream_too() -> None:
    # The stream writes their dictionaries as messages of their own.
    table = pa.table(
        {
            "kind": pa.array(["a", "b", None, "a"] * 100).dictionary_encode(),
            "tags": pa.array([["x"], None, [], ["y", "x"]] * 100, pa.list_(pa.string())),
            "n": list(range(400)),
        }
    )
    table = table.set_column(
        1,
        "tags",
        pa.array(
            table.column("tags").to_pylist(), pa.list_(pa.dictionary(pa.int32(), pa.string()))
        ),
    )
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    whole = hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:24]
    assert content_version(table) == whole
