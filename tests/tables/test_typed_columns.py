"""Types a warehouse expects: arrays of scalars are list columns, objects of
scalars structs, and every table has ``partition_start``. Both read paths
give the identical table, values that do not fit included."""

from __future__ import annotations

import copy
import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scout_dagster import FindAllRequest
from scout_dagster._models import SearchFinding, SearchResult, SearchRun, SearchSource
from scout_dagster.tables import json_reader
from scout_dagster.tables.findall import findall_tables, read_findall_exact
from scout_dagster.tables.provenance import PROVENANCE_COLUMNS, Provenance
from scout_dagster.tables.schemas import (
    CITATIONS_SCHEMA,
    FINDINGS_SCHEMA,
    RESERVED_COLUMNS,
    RESULTS_SCHEMA,
    SOURCES_SCHEMA,
    EntityColumn,
    entities_schema,
    entity_columns,
)
from scout_dagster.tables.search import search_tables

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
PROVENANCE = Provenance("fa-1", "q", START, "2026-01-05", partition_start=START)

HQ = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "employees": {"type": "integer"},
        "public": {"type": "boolean"},
        "lat": {"type": ["number", "null"]},
    },
}
TYPED = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "website": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "years": {"type": "array", "items": {"type": "integer"}},
        "scores": {"type": "array", "items": {"type": "number"}},
        "flags": {"type": ["array", "null"], "items": {"type": ["boolean", "null"]}},
        "hq": HQ,
    },
}
COLUMNS = entity_columns(FindAllRequest("q", output_schema=TYPED))


def _columns(properties: dict[str, Any]) -> tuple[EntityColumn, ...]:
    return entity_columns(
        FindAllRequest("q", output_schema={"type": "object", "properties": properties})
    )


# ---------------------------------------------------------------- the mapping

OBJECT_OF_SCALARS = pa.struct(
    [
        ("city", pa.string()),
        ("employees", pa.int64()),
        ("public", pa.bool_()),
        ("lat", pa.float64()),
    ]
)
MAPPING: dict[str, tuple[dict[str, Any], str, pa.DataType]] = {
    "string": ({"type": "string"}, "string", pa.string()),
    "nullable integer": ({"type": ["integer", "null"]}, "integer", pa.int64()),
    "list of strings": (
        {"type": "array", "items": {"type": "string"}},
        "list",
        pa.list_(pa.string()),
    ),
    "list of integers": (
        {"type": "array", "items": {"type": "integer"}},
        "list",
        pa.list_(pa.int64()),
    ),
    "list of numbers": (
        {"type": "array", "items": {"type": "number"}},
        "list",
        pa.list_(pa.float64()),
    ),
    "list of booleans": (
        {"type": "array", "items": {"type": "boolean"}},
        "list",
        pa.list_(pa.bool_()),
    ),
    "nullable list of nullable numbers": (
        {"type": ["array", "null"], "items": {"type": ["number", "null"]}},
        "list",
        pa.list_(pa.float64()),
    ),
    "object of scalars": (HQ, "struct", OBJECT_OF_SCALARS),
    "object closed to other keys": (
        {**HQ, "additionalProperties": False},
        "struct",
        OBJECT_OF_SCALARS,
    ),
    # Everything else is JSON text.
    "array without items": ({"type": "array"}, "json", pa.string()),
    "array of untyped items": ({"type": "array", "items": {}}, "json", pa.string()),
    "array of objects": ({"type": "array", "items": HQ}, "json", pa.string()),
    "array of arrays": (
        {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "json",
        pa.string(),
    ),
    "array of mixed items": (
        {"type": "array", "items": {"type": ["string", "integer"]}},
        "json",
        pa.string(),
    ),
    "tuple-form items": ({"type": "array", "items": [{"type": "string"}]}, "json", pa.string()),
    "object without properties": ({"type": "object"}, "json", pa.string()),
    "object with a nested object": (
        {"type": "object", "properties": {"hq": HQ}},
        "json",
        pa.string(),
    ),
    "object with a list member": (
        {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}},
        "json",
        pa.string(),
    ),
    "object with an untyped member": (
        {"type": "object", "properties": {"a": {"description": "anything"}}},
        "json",
        pa.string(),
    ),
    "object open to other keys": ({**HQ, "additionalProperties": True}, "json", pa.string()),
    "object with typed other keys": (
        {**HQ, "additionalProperties": {"type": "string"}},
        "json",
        pa.string(),
    ),
    "object with pattern properties": (
        {**HQ, "patternProperties": {"^x_": {"type": "string"}}},
        "json",
        pa.string(),
    ),
    "object with members differing in case": (
        {"type": "object", "properties": {"City": {"type": "string"}, "city": {"type": "string"}}},
        "json",
        pa.string(),
    ),
    "object with an empty member name": (
        {"type": "object", "properties": {"": {"type": "string"}}},
        "json",
        pa.string(),
    ),
    "type union": ({"type": ["string", "integer"]}, "json", pa.string()),
    "enum without a type": ({"enum": ["a", "b"]}, "json", pa.string()),
}


@pytest.mark.parametrize(("spec", "kind", "arrow_type"), MAPPING.values(), ids=list(MAPPING))
def test_json_schema_types_map_to_arrow_types(
    spec: dict[str, Any], kind: str, arrow_type: pa.DataType
) -> None:
    (column,) = _columns({"field": {**spec, "description": "what it is"}})
    assert (column.kind, column.arrow_type) == (kind, arrow_type)
    field = entities_schema([column]).field("field")
    assert field.type == arrow_type and field.metadata == {b"description": b"what it is"}


def test_a_column_says_its_items_or_members_exactly_when_it_has_them() -> None:
    with pytest.raises(ValueError, match="a list column has items"):
        EntityColumn("tags", "list")
    with pytest.raises(ValueError, match="a list column has items"):
        EntityColumn("tags", "string", items="string")
    with pytest.raises(ValueError, match="a struct column has members"):
        EntityColumn("hq", "struct")


# ---------------------------------------------------------------- both paths


def _entity(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"Company {i}",
        "website": f"https://www.company{i}.com/",
        "tags": ["ai", f"t{i}"],
        "years": [2000 + i, 2010],
        "scores": [i / 3, 0.5],
        "flags": [True, None, False],
        "hq": {"city": "Austin", "employees": 10 * i, "public": i % 2 == 0, "lat": 30.27},
        "source": f"https://en.wikipedia.org/wiki/Company_{i}",
        **extra,
    }


def _run(entities: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "findall_id": "fa-1",
        "status": {"status": "completed"},
        "entities": entities,
        "count": len(entities),
        "credits": 3,
        "candidates": None,
    }


# id: (what entity 0 has instead, the path that reads it, what entity 0's columns hold)
CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "typed": ({}, "document", {"tags": ["ai", "t0"], "years": [2000, 2010]}),
    "empty and null": (
        {"tags": [], "years": None, "scores": [None], "flags": None, "hq": None},
        "document",
        {"tags": [], "years": None, "scores": [None], "flags": None, "hq": None},
    ),
    "missing": (
        {"tags": None, "hq": {}},
        "document",
        {"tags": None, "hq": {"city": None, "employees": None, "public": None, "lat": None}},
    ),
    "whole numbers where numbers are declared": (
        {"scores": [1, 2, -0.0], "hq": {"lat": 30}},
        "document",
        {
            "scores": [1.0, 2.0, -0.0],
            "hq": {"city": None, "employees": None, "public": None, "lat": 30.0},
        },
    ),
    "undeclared member": (
        {"hq": {"city": "Oslo", "founded": {"year": 1999}, "tags": [1]}},
        "document",
        {"hq": {"city": "Oslo", "employees": None, "public": None, "lat": None}},
    ),
    "numbers as text in a list": (
        {"years": ["1999", "x", 3, "2.0"]},
        "python",
        {"years": [1999, None, 3, 2]},
    ),
    "not whole numbers in a list": (
        {"years": [1.0, 1.5, 10**30, True, [1], {"y": 1}]},
        "python",
        {"years": [1, None, None, None, None, None]},
    ),
    "other values in a list of strings": (
        {"tags": [5, {"a": 1}, ["x"], True, None, "ok"]},
        "python",
        {"tags": ["5", '{"a": 1}', '["x"]', "true", None, "ok"]},
    ),
    "other values in lists of booleans and numbers": (
        {"flags": ["true", "FALSE", 1, "yes"], "scores": ["0.25", "n/a", False]},
        "python",
        {"flags": [True, False, None, None], "scores": [0.25, None, None]},
    ),
    "a scalar where a list is declared": (
        {"tags": "ai", "years": 2001, "scores": "0.5"},
        "python",
        {"tags": None, "years": None, "scores": None},
    ),
    "an object where a list is declared": ({"tags": {"0": "ai"}}, "python", {"tags": None}),
    "not an object where a struct is declared": (
        {"hq": ["Austin", 10]},
        "python",
        {"hq": None},
    ),
    "text where a struct is declared": ({"hq": "Austin"}, "python", {"hq": None}),
    "members that do not fit": (
        {"hq": {"city": 7, "employees": "12", "public": "yes", "lat": "north"}},
        "python",
        {"hq": {"city": "7", "employees": 12, "public": None, "lat": None}},
    ),
}


@pytest.mark.parametrize(("extra", "expected_path", "expected"), CASES.values(), ids=list(CASES))
@pytest.mark.parametrize("split", [False, True], ids=["whole", "in-pieces"])
def test_both_paths_give_the_identical_table(
    extra: dict[str, Any],
    expected_path: str,
    expected: dict[str, Any],
    split: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if split:  # cut at every element, as a large document is
        monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
        monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
    entities = [_entity(0), _entity(1), _entity(2)]
    entities[0].update(extra)
    run = _run(entities)
    tables = findall_tables(json.dumps(run).encode(), COLUMNS, PROVENANCE)
    assert tables.path == expected_path
    exact = read_findall_exact(copy.deepcopy(run), COLUMNS).tables(PROVENANCE)
    assert exact.path == "python"
    assert tables.entities.schema == exact.entities.schema == entities_schema(COLUMNS)
    assert tables.entities.equals(exact.entities), tables.entities.to_pylist()
    row = tables.entities.to_pylist()[0]
    assert {name: row[name] for name in expected} == expected
    # The other rows are untouched by the first one's values.
    assert (
        tables.entities.to_pylist()[1:]
        == read_findall_exact(_run([_entity(1), _entity(2)]), COLUMNS)
        .tables(PROVENANCE)
        .entities.to_pylist()
    )


def test_a_list_or_struct_named_like_the_id_fields_is_not_taken_for_an_id() -> None:
    columns = _columns(
        {
            "name": {"type": "array", "items": {"type": "string"}},
            "website": {"type": "object", "properties": {"url": {"type": "string"}}},
        }
    )
    run = _run([{"name": ["A"], "website": {"url": "https://a.com"}, "source": "https://s.test/a"}])
    for payload in (json.dumps(run).encode(), run):
        entities = findall_tables(payload, columns, PROVENANCE).entities
        assert entities.column("entity_id").to_pylist() == ["s.test/a"]
        assert entities.column("name").to_pylist() == [["A"]]


def test_list_and_struct_columns_keep_their_types_in_parquet_and_duckdb(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    tables = findall_tables(
        json.dumps(_run([_entity(1), _entity(2)])).encode(), COLUMNS, PROVENANCE
    )
    path = tmp_path / "entities.parquet"
    pq.write_table(tables.entities, path)
    assert pq.read_table(path).schema.remove_metadata() == entities_schema(COLUMNS)
    with duckdb.connect() as con:
        relation = con.sql(
            "select tags, years[1] as first_year, hq.city as city, hq.employees as employees, "
            f"partition_start from read_parquet('{path}') order by first_year"
        )
        types = dict(zip(relation.columns, map(str, relation.types), strict=True))
        rows = relation.fetchall()
    assert types == {
        "tags": "VARCHAR[]",
        "first_year": "BIGINT",
        "city": "VARCHAR",
        "employees": "BIGINT",
        "partition_start": "TIMESTAMP WITH TIME ZONE",
    }
    assert [row[:4] for row in rows] == [
        (["ai", "t1"], 2001, "Austin", 10),
        (["ai", "t2"], 2002, "Austin", 20),
    ]
    assert rows[0][4] == START


# ---------------------------------------------------------------- partition_start


def _search_run() -> SearchRun:
    return SearchRun(
        search_id="s-1",
        results=[SearchResult(url="https://a.test/1", title="A")],
        sources=[SearchSource(url="https://a.test/1", index=1)],
        findings=[SearchFinding(subquery="q", answer="a", citations=["https://a.test/1"])],
    )


def _all_tables(provenance: Provenance) -> dict[str, pa.Table]:
    candidate = {
        "name": "Company 0",
        "url": "https://company0.com",
        "match_status": "matched",
        "basis": [{"field": "name", "citations": [{"url": "https://a.test/1", "excerpts": []}]}],
    }
    run = _run([_entity(0), _entity(1)]) | {"candidates": [candidate]}
    findall = findall_tables(run, COLUMNS, provenance)
    search = search_tables(_search_run(), provenance)
    return {
        "entities": findall.entities,
        "citations": findall.citations,
        "results": search.results,
        "sources": search.sources,
        "findings": search.findings,
    }


SCHEMAS = {
    "entities": entities_schema(COLUMNS),
    "citations": CITATIONS_SCHEMA,
    "results": RESULTS_SCHEMA,
    "sources": SOURCES_SCHEMA,
    "findings": FINDINGS_SCHEMA,
}


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=list(SCHEMAS))
def test_every_schema_has_partition_start_after_partition_key(schema: pa.Schema) -> None:
    names = schema.names
    assert names[names.index("partition_key") + 1] == "partition_start"
    assert tuple(names[-len(PROVENANCE_COLUMNS) :]) == PROVENANCE_COLUMNS
    field = schema.field("partition_start")
    assert field.type == UTC_TIMESTAMP and field.nullable
    assert "partition_start" in RESERVED_COLUMNS


def test_partition_start_fills_every_table_in_utc() -> None:
    start = dt.datetime(2026, 1, 5, tzinfo=zoneinfo.ZoneInfo("America/Los_Angeles"))
    provenance = Provenance("r-1", "q", START, "2026-01-05", partition_start=start)
    for name, table in _all_tables(provenance).items():
        assert table.schema == SCHEMAS[name], name
        assert table.num_rows > 0, name
        assert set(table.column("partition_start").to_pylist()) == {start}, name
        assert table.column("partition_start")[0].as_py().utcoffset() == dt.timedelta(0)
        assert table.column("partition_start")[0].as_py().hour == 8


def test_partition_start_is_null_unless_given() -> None:
    for name, table in _all_tables(Provenance("r-1", "q", START, "emea")).items():
        assert table.schema == SCHEMAS[name], name
        assert table.column("partition_start").null_count == table.num_rows > 0, name


def test_a_partition_start_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="partition_start 2026-01-05T00:00:00 has no time zone"):
        Provenance("r-1", "q", START, "2026-01-05", partition_start=dt.datetime(2026, 1, 5))
