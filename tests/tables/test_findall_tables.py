"""FindAll payloads to tables: both read paths agree on every payload, tricky or not."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from scout_dagster import FindAllRequest, ScoutRunBodyError
from scout_dagster.tables import json_reader, spool
from scout_dagster.tables.findall import (
    FindAllBodyReader,
    FindAllFacts,
    FindAllTables,
    findall_tables,
    read_findall,
    read_findall_exact,
)
from scout_dagster.tables.provenance import Provenance
from scout_dagster.tables.schemas import entity_columns
from scout_dagster.tables.spool import SpooledTable

DAY = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
PROVENANCE = Provenance("fa-1", "q", DAY, "2026-01-01", partition_start=DAY)
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "website": {"type": "string"},
        "founded_year": {"type": "integer"},
        "public": {"type": "boolean"},
        "score": {"type": "number"},
    },
}
COLUMNS = entity_columns(FindAllRequest("q", output_schema=SCHEMA))


def _entity(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "name": f"Company {i}",
        "website": f"https://www.Company{i}.com/",
        "founded_year": 2000 + i,
        "public": i % 2 == 0,
        "score": i / 3,
        "source": f"https://en.wikipedia.org/wiki/Company_{i}",
        **extra,
    }


def _candidate(i: int) -> dict[str, Any]:
    return {
        "candidate_id": f"c{i}",
        "name": f"Company {i}",
        "url": f"https://company{i}.com",
        "match_status": "matched" if i % 3 else "unmatched",
        "output": {"name": {"value": f"Company {i}", "type": "enrichment"}},
        "basis": [
            {
                "field": "name",
                "citations": [
                    {"url": f"https://a.test/{i}", "title": "A", "excerpts": ["x", "y"]},
                    {"url": f"https://b.test/{i}", "title": None, "excerpts": []},
                ],
                "reasoning": "r",
                "confidence": "high",
            }
        ],
    }


def _run(entities: list[dict[str, Any]], candidates: Any = "default") -> dict[str, Any]:
    return {
        "findall_id": "fa-1",
        "status": {"status": "completed", "metrics": {"matched_candidates_count": len(entities)}},
        "query": "q",
        "entities": entities,
        "count": len(entities),
        "credits": 5,
        "candidates": [_candidate(i) for i in range(len(entities))]
        if candidates == "default"
        else candidates,
    }


def _exact(run: dict[str, Any]) -> FindAllTables:
    return read_findall_exact(run, COLUMNS).tables(PROVENANCE)


PLAIN = _run([_entity(i) for i in range(7)])
TRICKY_STRINGS = _run(
    [_entity(0, name="Brace },{ Co"), _entity(1, name="Ends }]"), _entity(2, name='Spaced }, {"x')]
)
NESTED_EXTRA = _run([_entity(0, extra=[{"a": 1}, {"b": 2}]), _entity(1)])
NESTED_KEY_FIRST = {"metadata": {"entities": [{"name": "decoy"}]}} | _run([_entity(0), _entity(1)])


@pytest.mark.parametrize(
    ("run", "dumps", "expected_path"),
    [
        (PLAIN, {"separators": (",", ":")}, "document"),
        (PLAIN, {}, "document"),
        (PLAIN, {"indent": 2}, "document"),
        (TRICKY_STRINGS, {"separators": (",", ":")}, "document"),
        (NESTED_EXTRA, {}, "document"),
        (NESTED_KEY_FIRST, {}, "document"),
        (_run([]), {}, "document"),
        (_run([_entity(0)], candidates=None), {}, "document"),
        (_run([_entity(0, founded_year="1999")]), {}, "python"),
        (_run([_entity(0, score="n/a")]), {}, "python"),
        (_run([_entity(i) for i in range(3)]) | {"status": "completed"}, {}, "document"),
    ],
    ids=[
        "compact",
        "default-dumps",
        "pretty",
        "separators-inside-strings",
        "nested-extra-key",
        "nested-entities-key-first",
        "no-entities",
        "no-candidates",
        "number-as-text",
        "not-a-number",
        "status-as-a-string",
    ],
)
@pytest.mark.parametrize("split", ["whole", "in-pieces", "downloading"])
def test_every_path_gives_the_exact_tables(
    run: dict[str, Any],
    dumps: dict[str, Any],
    expected_path: str,
    split: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if split != "whole":  # cut at every element, as a large document is
        monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
        monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
        monkeypatch.setattr(spool, "IN_MEMORY_BYTES", 0)  # and its entities spooled
    raw = json.dumps(run, **dumps).encode()
    if split == "downloading":  # fed in chunks as it arrives; read whole if it gives up
        with contextlib.closing(FindAllBodyReader(COLUMNS)) as reader:
            for at in range(0, len(raw), 7):
                reader.feed(raw[at : at + 7])
            body = reader.finish()
        tables = (body or read_findall(raw, COLUMNS)).tables(PROVENANCE)
        # A body that does not fit the types must be read again; a decoy key
        # may make the pieces give up too (then it is read again, whole).
        assert body is None or expected_path == "document"
        assert body is not None or expected_path == "python" or "decoy" in raw.decode()
    else:
        tables = findall_tables(raw, COLUMNS, PROVENANCE)
    assert tables.path == expected_path
    exact = _exact(run)
    entities = tables.entities
    if split == "downloading" and body is not None and entities.num_rows:
        # Read as it downloaded: the entities went to disk as they were parsed.
        assert isinstance(entities, SpooledTable)
        entities = entities.read_all()
    assert isinstance(entities, pa.Table)
    assert entities.equals(exact.entities), entities.to_pylist()
    assert tables.citations.equals(exact.citations)


def test_values_are_typed_and_ids_derived_from_the_entity() -> None:
    tables = findall_tables(json.dumps(PLAIN).encode(), COLUMNS, PROVENANCE)
    row = tables.entities.slice(1, 1).to_pylist()[0]
    assert row["entity_id"] == "company1.com"
    assert row["founded_year"] == 2001 and row["public"] is False
    assert row["score"] == pytest.approx(1 / 3)
    assert row["partition_key"] == "2026-01-01" and row["run_id"] == "fa-1"
    assert row["partition_start"] == DAY
    assert tables.entities.schema.field("founded_year").type == pa.int64()
    # Citations only for matched candidates, each linked to its entity.
    matched = [i for i in range(7) if i % 3]
    assert tables.citations.num_rows == 2 * len(matched)
    assert set(tables.citations.column("entity_id").to_pylist()) == {
        f"company{i}.com" for i in matched
    }
    assert tables.citations.column("citation_index").to_pylist()[:2] == [0, 1]


def test_coercion_on_the_exact_path() -> None:
    run = copy.deepcopy(PLAIN)
    run["entities"][0] |= {"founded_year": "1999", "public": "true", "score": "bad"}
    row = findall_tables(run, COLUMNS, PROVENANCE).entities.to_pylist()[0]
    assert row["founded_year"] == 1999 and row["public"] is True and row["score"] is None


def test_untyped_fields_are_text_and_nested_values_json() -> None:
    columns = entity_columns(FindAllRequest("q", fields=("name", "founded_year", "tags")))
    run = _run([_entity(0, tags=["ai", "gpu"])])
    row = findall_tables(run, columns, PROVENANCE).entities.to_pylist()[0]
    assert row["founded_year"] == "2000" and row["tags"] == '["ai", "gpu"]'


@pytest.mark.parametrize("facts_first", [True, False], ids=["facts-before", "facts-after"])
def test_the_run_facts_are_read_with_the_tables(
    facts_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
    facts = {"findall_id": "fa-9", "count": 7, "credits": 12, "completedAt": "2026-01-02T03:04:05Z"}
    entities = {"entities": PLAIN["entities"], "candidates": PLAIN["candidates"]}
    run = facts | entities if facts_first else entities | facts
    native = read_findall(json.dumps(run).encode(), COLUMNS)
    assert native.path == "document"
    for body in (native, read_findall_exact(run, COLUMNS)):
        assert body.facts == FindAllFacts(
            "fa-9", 7, 12, None, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        )
        assert body.entities.num_rows == 7


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"[1, 2]", "not a run object"),
        (b'{"entities": []}', "no findall_id"),
        (b"{not json", "Expecting property name"),
        (b'{"findall_id": "fa-1", "entities": [{"name": "\xff"}]}', "can't decode"),
    ],
)
def test_a_body_that_is_not_a_run_object_is_a_value_error(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_findall(payload, COLUMNS)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"entities": 5}, "entities is a JSON int, not a list"),
        ({"entities": [_entity(0), "x"]}, "entities[1] is a JSON str, not an object"),
        ({"credits": "many"}, "credits 'many' is not a whole number"),
        ({"count": 1.7}, "count 1.7 is not a whole number"),
        ({"credits": True}, "credits True is not a whole number"),
        ({"completedAt": "soon"}, "completedAt 'soon' is not an ISO-8601 time"),
    ],
)
def test_a_run_whose_contents_cannot_be_read_is_a_run_body_error(
    payload: dict[str, Any], message: str
) -> None:
    run = _run([_entity(0)]) | payload
    with pytest.raises(ScoutRunBodyError, match=re.escape(message)) as caught:
        read_findall(json.dumps(run).encode(), COLUMNS)
    assert not isinstance(caught.value, ValueError), "a ValueError would be read again"


def test_the_exact_path_tolerates_odd_values_where_a_row_survives_them() -> None:
    candidate = _candidate(1)
    candidate["basis"][0]["citations"][0]["excerpts"] = "one excerpt"
    candidate["basis"].append("not an object")
    run = _run([_entity(0, founded_year=10**30), _entity(1)], candidates=[candidate, 7])
    body = read_findall(json.dumps(run).encode(), COLUMNS)
    assert body.path == "python"
    assert body.entities.column("founded_year").to_pylist() == [None, 2001]
    excerpts = body.citations.column("excerpts").to_pylist()
    assert excerpts[0] == ["one excerpt"] and len(excerpts) == 2


@pytest.fixture
def spool_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Bodies read in pieces, their entities spooled (none kept in memory), here."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
    monkeypatch.setattr(spool, "IN_MEMORY_BYTES", 0)
    return folder


@pytest.mark.parametrize("status", ["object", "string"])
def test_a_body_fed_in_one_go_spools_its_entities_while_it_is_read(
    status: str, spool_folder: Path
) -> None:
    run = _run([_entity(i) for i in range(40)])
    if status == "string":  # its fields part fails the first schema: read again by the second
        run["status"] = "completed"
    raw = json.dumps(run).encode()
    with contextlib.closing(FindAllBodyReader(COLUMNS)) as reader:
        reader.feed(raw)  # as bytes a terminal event carried are
        (file,) = spool_folder.iterdir()
        # Pieces already went to disk before the read's end, not held to it.
        assert file.stat().st_size > 0
        body = reader.finish()
    assert body is not None and isinstance(body.entities, SpooledTable)
    assert body.entities.equals(read_findall(raw, COLUMNS).entities)


def test_a_spool_that_cannot_be_written_has_the_body_read_again(
    spool_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(spool_folder / "missing"))
    raw = json.dumps(_run([_entity(i) for i in range(10)])).encode()
    with contextlib.closing(FindAllBodyReader(COLUMNS)) as reader:
        for at in range(0, len(raw), 64):
            reader.feed(raw[at : at + 64])
        assert reader.finish() is None  # the caller reads it again, whole, in memory


def test_a_spooled_body_that_fails_after_its_read_leaves_no_file(spool_folder: Path) -> None:
    run = _run([_entity(i) for i in range(10)]) | {"completedAt": "not a time"}
    with contextlib.closing(FindAllBodyReader(COLUMNS)) as reader:
        reader.feed(json.dumps(run).encode())
        with pytest.raises(ScoutRunBodyError, match="completedAt"):
            reader.finish()
        assert not list(spool_folder.iterdir())
