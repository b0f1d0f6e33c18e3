"""Reading a JSON object's big array in pieces gives exactly what reading it
whole gives, whatever the document holds: cuts are found by pattern, and a
cut in the wrong place must be caught, never turned into wrong rows."""

from __future__ import annotations

import json
import random
from typing import Any

import pyarrow as pa
import pytest

from scout_dagster import _arrow_json
from scout_dagster._arrow_json import read_array_field

ITEM = pa.struct([("name", pa.string()), ("n", pa.int64())])
SCHEMA = pa.schema(
    [
        ("entities", pa.list_(ITEM)),
        ("count", pa.int64()),
        ("others", pa.list_(pa.struct([("name", pa.string())]))),
    ]
)

Outcome = tuple[str, Any, Any]


@pytest.fixture
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split every document, at every element boundary the pattern finds."""
    monkeypatch.setattr(_arrow_json, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(_arrow_json, "PIECE_BYTES", 1)


def _read(document: bytes, *, threads: int | None = None) -> tuple[Outcome, int]:
    """What reading gives (or the error it raises), and in how many pieces."""
    try:
        read = read_array_field(
            document, SCHEMA, "entities", pa.Table.from_struct_array, threads=threads
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return ("error", type(exc).__name__, None), 0
    items = pa.concat_tables(read.pieces).to_pylist()
    return ("ok", read.fields.to_pylist(), items), len(read.pieces)


def _whole(document: bytes, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    with monkeypatch.context() as patch:
        patch.setattr(_arrow_json, "SPLIT_MIN_BYTES", len(document) + 1)
        outcome, pieces = _read(document)
    assert pieces <= 1
    return outcome


def _items(count: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"name": f"item {i}", "n": i, **extra} for i in range(count)]


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("dumps", [{}, {"separators": (",", ":")}, {"indent": 2}])
@pytest.mark.parametrize("threads", [1, 4])
def test_a_plain_document_is_read_in_pieces_exactly(
    dumps: dict[str, Any], threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = json.dumps(
        {"count": 7, "entities": _items(7), "others": [{"name": "o"}]}, **dumps
    ).encode()
    outcome, pieces = _read(document, threads=threads)
    assert pieces == 7, "one piece per element, then the tail"
    assert outcome == _whole(document, monkeypatch)
    assert outcome[2] == _items(7)


WRONG_CUTS = {
    # The next top-level array's elements start like ours: a cut there
    # would read its elements as ours.
    "same-shaped array after": {"entities": _items(3), "others": [{"name": "x"}, {"name": "y"}]},
    # The array is not the first "entities" in the text.
    "decoy key before": {"meta": {"entities": _items(2)}, "entities": _items(3)},
    # The pattern sits behind an escaped quote in a longer key.
    "escaped key": {'x"entities': _items(2), "entities": _items(3)},
    # Elements hold arrays of objects that start like the elements.
    "nested look-alikes": {"entities": _items(3, sub=[{"name": 1}, {"name": 2}])},
    # Strings that hold the separators the cuts look for.
    "separators in strings": {
        "entities": [{"name": '}, {"name": 1'}, {"name": "}]}, {"}, {"name": "a\\"}]
    },
    # Everything else before the array, and the array last.
    "array last": {"count": 3, "others": [{"name": "x"}, {"name": "y"}], "entities": _items(3)},
}


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("document", list(WRONG_CUTS.values()), ids=list(WRONG_CUTS))
def test_tricky_documents_read_as_when_read_whole(
    document: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = json.dumps(document).encode()
    outcome, _ = _read(raw)
    assert outcome[0] == "ok"
    assert outcome == _whole(raw, monkeypatch)
    assert outcome[2] == [{"name": e["name"], "n": e.get("n")} for e in document["entities"]]


@pytest.mark.usefixtures("tiny_pieces")
def test_a_key_before_and_after_the_array_is_refused_as_when_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # json.dumps never writes a key twice; a server might.
    document = b'{"count": 2, "entities": [{"name": "a"}, {"name": "b"}], "count": 1}'
    outcome, _ = _read(document)
    assert outcome == _whole(document, monkeypatch) == ("error", "ArrowInvalid", None)


@pytest.mark.usefixtures("tiny_pieces")
def test_a_document_that_does_not_fit_the_schema_raises() -> None:
    document = json.dumps({"entities": [*_items(3), {"name": "x", "n": "not a number"}]})
    outcome, _ = _read(document.encode())
    assert outcome == ("error", "ArrowInvalid", None)


def test_a_small_document_is_read_whole() -> None:
    outcome, pieces = _read(json.dumps({"entities": _items(50)}).encode())
    assert pieces == 1 and outcome[2] == _items(50)


# ---------------------------------------------------------------- fuzz

_TEXT = ['}, {"name": ', "},{", '"]', "\\", '"', "}", "]", "{", "[", ",", ":", " ", "a", "é"]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_TEXT) for _ in range(rng.randint(0, 6)))


def _value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 2 or roll < 0.4:
        return rng.choice([_text(rng), rng.randint(-5, 5), None, True, 1.5])
    if roll < 0.7:
        return [_element(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {_text(rng) or "k": _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def _element(rng: random.Random, depth: int) -> dict[str, Any]:
    element: dict[str, Any] = {}
    if rng.random() < 0.9:
        element["name"] = _text(rng) if rng.random() < 0.95 else _value(rng, depth)
    if rng.random() < 0.8:
        element["n"] = rng.randint(0, 99) if rng.random() < 0.95 else _text(rng)
    for _ in range(rng.randint(0, 2)):
        element[rng.choice(["extra", "name2", "sub"])] = _value(rng, depth + 1)
    return element


def _document(rng: random.Random) -> bytes:
    fields: dict[str, Any] = {"entities": [_element(rng, 1) for _ in range(rng.randint(0, 12))]}
    if rng.random() < 0.5:
        fields["others"] = [_element(rng, 1) for _ in range(rng.randint(0, 4))]
    if rng.random() < 0.4:
        fields["meta"] = {"entities": [_element(rng, 2) for _ in range(rng.randint(0, 3))]}
    if rng.random() < 0.5:
        fields["count"] = rng.randint(0, 9)
    keys = list(fields)
    rng.shuffle(keys)
    styles: list[dict[str, Any]] = [
        {},
        {"separators": (",", ":")},
        {"indent": 1},
        {"ensure_ascii": False},
    ]
    style = rng.choice(styles)
    return json.dumps({key: fields[key] for key in keys}, **style).encode()


def test_random_documents_read_in_pieces_as_when_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20261122)
    split = 0
    for _ in range(600):
        document = _document(rng)
        expected = _whole(document, monkeypatch)
        with monkeypatch.context() as patch:
            patch.setattr(_arrow_json, "SPLIT_MIN_BYTES", 0)
            patch.setattr(_arrow_json, "PIECE_BYTES", rng.randint(1, 80))
            outcome, pieces = _read(document)
        assert outcome == expected, document
        split += pieces > 1
    # Most of the rest had a cut in the wrong place, or values of the wrong
    # type, and were read whole after a piece failed.
    assert split >= 50, f"only {split} of 600 documents were read in pieces"
