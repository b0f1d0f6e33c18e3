"""Reading a JSON object's big arrays in pieces gives exactly what reading it
whole gives, whatever the document holds, valid JSON or not: cuts are found
by pattern, and a cut in the wrong place must be caught, never turned into
wrong rows."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from scout_dagster.tables import json_cuts, json_reader
from scout_dagster.tables.json_parse import whole_arrays
from scout_dagster.tables.json_reader import ArraysReader, read_arrays

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
    monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)


@contextlib.contextmanager
def _cut(monkeypatch: pytest.MonkeyPatch, *, piece_bytes: int) -> Iterator[None]:
    """Split every document, in pieces of about ``piece_bytes``."""
    with monkeypatch.context() as patch:
        patch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
        patch.setattr(json_reader, "PIECE_BYTES", piece_bytes)
        yield


def _read(
    document: bytes,
    *,
    threads: int | None = None,
    chunk_sizes: random.Random | None = None,
    views: float = 0.5,
    others: list[int] | None = None,
) -> tuple[Outcome, int]:
    """What reading gives (or the error it raises), and in how many pieces
    the entities were read. With ``chunk_sizes``, the document is fed to an
    :class:`ArraysReader` in chunks of random sizes, as a download arrives, and
    read whole when the reader gives None, as its caller does; that share of
    the chunks (``views``) as views into the document. The sizes of the
    pieces the ``others`` array was read in are added to ``others``."""
    pieces = 0

    def count_pieces(items: pa.StructArray) -> pa.Table:
        nonlocal pieces
        pieces += 1
        return pa.Table.from_struct_array(items)

    def count_others(items: pa.StructArray) -> pa.Table:
        if others is not None:
            others.append(len(items))
        return pa.Table.from_struct_array(items)

    transforms = {"entities": count_pieces, "others": count_others}
    try:
        if chunk_sizes is None:
            read = read_arrays(document, SCHEMA, transforms, threads=threads)
        else:
            with ArraysReader(SCHEMA, transforms, threads=threads) as reader:
                at = 0
                while at < len(document):
                    size = chunk_sizes.randint(1, 40)
                    # A chunk as a download gives it, or a view into one (as
                    # an event's data is fed).
                    view = memoryview(document) if chunk_sizes.random() < views else document
                    reader.feed(view[at : at + size])
                    at += size
                streamed = reader.finish()
            read = streamed or whole_arrays(document, SCHEMA, transforms)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return ("error", type(exc).__name__, None), 0
    arrays = {name: table.to_pylist() for name, table in read.arrays.items()}
    return ("ok", read.fields.to_pylist(), arrays), pieces


def _whole(document: bytes, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    with monkeypatch.context() as patch:
        patch.setattr(json_reader, "SPLIT_MIN_BYTES", len(document) + 1)
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
    assert pieces == 7, "one piece per element"
    assert outcome == _whole(document, monkeypatch)
    assert outcome[2] == {"entities": _items(7), "others": [{"name": "o"}]}


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
    expected = [{"name": e["name"], "n": e.get("n")} for e in document["entities"]]
    assert outcome[2]["entities"] == expected


@pytest.mark.usefixtures("tiny_pieces")
def test_a_key_before_and_after_the_array_is_refused_as_when_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # json.dumps never writes a key twice; a server might.
    for document in [
        b'{"count": 2, "entities": [{"name": "a"}, {"name": "b"}], "count": 1}',
        b'{"others": [], "entities": [{"name": "a"}, {"name": "b"}], "others": [{"name": "x"}]}',
        b'{"entities": [{"name": "a"}, {"name": "b"}], "x": 1, "entities": []}',
    ]:
        outcome, _ = _read(document)
        assert outcome == _whole(document, monkeypatch) == ("error", "ArrowInvalid", None)


@pytest.mark.usefixtures("tiny_pieces")
def test_strings_that_are_not_utf8_are_refused_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # pyarrow's reader passes such bytes into string columns unchecked.
    document = b'{"entities": [{"name": "a"}, {"name": "b\xff"}, {"name": "c"}]}'
    outcome, _ = _read(document)
    assert outcome == _whole(document, monkeypatch) == ("error", "ArrowInvalid", None)


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("threads", [1, 4])
def test_an_error_in_a_transform_is_decided_by_the_whole_read(threads: int) -> None:
    def refuse_b(items: pa.StructArray) -> pa.Table:
        if "b" in items.field("name").to_pylist():
            raise KeyError("b")
        return pa.Table.from_struct_array(items)

    def read(document: bytes) -> pa.Table:
        return read_arrays(document, SCHEMA, {"entities": refuse_b}, threads=threads).arrays[
            "entities"
        ]

    # Another piece has a value of the wrong type: the whole read's error stands.
    wrong_type = b'{"entities": [{"name": "b"}, {"name": "c"}, {"name": "d", "n": "x"}]}'
    with pytest.raises(pa.ArrowInvalid):
        read(wrong_type)
    # Otherwise the transform's own error, raised on the whole array.
    with pytest.raises(KeyError):
        read(b'{"entities": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}')


@pytest.mark.usefixtures("tiny_pieces")
def test_a_document_that_does_not_fit_the_schema_raises() -> None:
    document = json.dumps({"entities": [*_items(3), {"name": "x", "n": "not a number"}]})
    outcome, _ = _read(document.encode())
    assert outcome == ("error", "ArrowInvalid", None)


def test_a_small_document_is_read_whole() -> None:
    outcome, pieces = _read(json.dumps({"entities": _items(50)}).encode())
    assert pieces == 1 and outcome[2] == {"entities": _items(50), "others": []}


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("fed", [None, "bytes", "views"])
def test_two_arrays_are_both_cut_and_the_fields_around_them_kept(
    fed: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read in memory, or fed in chunks (bytes, or views into the document, looked
    through for a "[" two bytes at a time): each opening is found wherever the
    chunks split it, so every element is a piece."""
    document = {
        "count": 1,
        # Brackets in the text, so that it is searched for the openings.
        "entities": [{"name": f"item [{i}]", "n": i} for i in range(5)],
        "middle": "m",
        "others": [{"name": f"o{i}"} for i in range(4)],
    }
    raw = json.dumps(document).encode()
    monkeypatch.setattr(json_cuts, "_BRACKET_SLICE", 2)
    # Text searched before is searched again only as far back as an opening is long.
    monkeypatch.setattr(json_cuts, "_OVERLAP", len('"entities": ['))
    rng = None if fed is None else random.Random(f"{fed}{len(raw)}")
    views = 1.0 if fed == "views" else 0.0
    others: list[int] = []
    outcome, pieces = _read(raw, chunk_sizes=rng, views=views, others=others)
    assert pieces == 5
    assert others == [1, 1, 1, 1]
    assert outcome == _whole(raw, monkeypatch)
    assert outcome[1] == [{"count": 1}]
    assert outcome[2] == {"entities": document["entities"], "others": document["others"]}


INVALID = {
    # Leaving the array and coming back, where only a key or "}" may follow.
    "another list after": b'{"entities":[{"name":"a"}], [{"name":"b"}, {"name":"c"}]}',
    "a null and a list after": b'{"entities":[{"name":"a"}], null, [{"name":"b"}, {"name":"c"}]}',
    "two closed, a key reopened": (
        b'{"entities":[{"name":"a"}]], "x":[[{"name":"b"}, {"name":"c"}]}'
    ),
    "truncated": b'{"count": 1, "entities":[{"name":"a"}, {"name":"b"}, {"name":',
    "trailing comma": b'{"entities":[{"name":"a"}, {"name":"b"},]}',
    "a second document": b'{"entities":[{"name":"a"}, {"name":"b"}]}\n{"count": 2}',
    "null first": b'null {"entities":[{"name":"a"}, {"name":"b"}]}',
    "null": b" null",
}


@pytest.mark.usefixtures("tiny_pieces")
@pytest.mark.parametrize("document", list(INVALID.values()), ids=list(INVALID))
def test_invalid_documents_are_refused_as_when_read_whole(
    document: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, _ = _read(document)
    assert outcome[0] == "error"
    assert outcome == _whole(document, monkeypatch)


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


_MUTATIONS = ["]", "[", "}", "{", ",", "], [", "]]", '"', "null", ', "count": 1', ""]


def _mutated(rng: random.Random, document: bytes) -> bytes:
    """``document`` with a few bytes replaced by structural debris: mostly invalid."""
    text = document.decode()
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        cut = rng.choice([0, 0, 1, 2])
        text = text[:at] + rng.choice(_MUTATIONS) + text[at + cut :]
    return text.encode()


@pytest.mark.parametrize(
    ("seed", "count", "fed"),
    [(20261122, 1200, False), (20261202, 600, True)],
    ids=["in-memory", "fed-in-chunks"],
)
def test_random_documents_read_in_pieces_as_when_read_whole(
    seed: int, count: int, fed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fed in chunks as a download feeds them, the cuts, openings and keys
    also fall across chunks."""
    rng = random.Random(seed)
    split = 0
    for index in range(count):
        document = _document(rng)
        if index % 2:
            document = _mutated(rng, document)
        expected = _whole(document, monkeypatch)
        with _cut(monkeypatch, piece_bytes=rng.randint(1, 80)):
            # A view is looked through for a "[" a slice at a time.
            monkeypatch.setattr(json_cuts, "_BRACKET_SLICE", rng.randint(1, 16))
            if fed:
                outcome, pieces = _read(document, threads=rng.choice([1, 3]), chunk_sizes=rng)
            else:
                outcome, pieces = _read(document)
        assert outcome == expected, document
        split += pieces > 1
    # Most of the rest had a cut in the wrong place, or values of the wrong
    # type, and were read whole after a piece failed.
    assert split >= count // 20, f"only {split} of {count} documents were read in pieces"


def test_a_reader_holds_the_pieces_in_flight_not_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 2_000)
    document = json.dumps({"count": 3, "entities": _items(20_000)}).encode()
    held = 0
    with ArraysReader(SCHEMA, {"entities": pa.Table.from_struct_array}, threads=2) as reader:
        for at in range(0, len(document), 997):
            reader.feed(document[at : at + 997])
            held = max(held, len(reader._buffer))
        read = reader.finish()
    assert read is not None and read.arrays["entities"].num_rows == 20_000
    assert read.fields.to_pylist() == [{"count": 3, "others": None}]
    assert held < 2_000 + 997 + 200, f"held {held} of {len(document)} bytes"


# ---------------------------------------------------------------- typed lists and structs

TYPED_ITEM = pa.struct(
    [
        ("name", pa.string()),
        ("tags", pa.list_(pa.int64())),
        ("hq", pa.struct([("city", pa.string()), ("n", pa.int64())])),
    ]
)
TYPED_SCHEMA = pa.schema([("entities", pa.list_(TYPED_ITEM)), ("count", pa.int64())])


def _read_typed(document: bytes) -> tuple[Outcome, int]:
    pieces = 0

    def count_pieces(items: pa.StructArray) -> pa.Table:
        nonlocal pieces
        pieces += 1
        return pa.Table.from_struct_array(items)

    try:
        read = read_arrays(document, TYPED_SCHEMA, {"entities": count_pieces})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return ("error", type(exc).__name__, None), 0
    return ("ok", read.fields.to_pylist(), read.arrays["entities"].to_pylist()), pieces


def _typed_value(rng: random.Random, name: str) -> Any:
    """Mostly a value of the declared type, sometimes one that does not fit."""
    roll = rng.random()
    if roll < 0.96:
        if name == "tags":
            return [rng.choice([rng.randint(-9, 9), None]) for _ in range(rng.randint(0, 3))]
        return {
            key: value
            for key, value in (("city", _text(rng)), ("n", rng.randint(0, 9)), ("x", [{"n": 1}]))
            if rng.random() < 0.7
        }
    return _value(rng, 1)


def test_list_and_struct_fields_read_in_pieces_as_when_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(20261201)
    split = errors = 0
    for _ in range(400):
        elements = [
            {
                "name": _text(rng),
                **{name: _typed_value(rng, name) for name in ("tags", "hq") if rng.random() < 0.9},
            }
            for _ in range(rng.randint(1, 8))
        ]
        document = json.dumps({"count": len(elements), "entities": elements}).encode()
        with monkeypatch.context() as patch:
            patch.setattr(json_reader, "SPLIT_MIN_BYTES", len(document) + 1)
            expected, _ = _read_typed(document)
        with _cut(monkeypatch, piece_bytes=rng.randint(1, 60)):
            outcome, pieces = _read_typed(document)
        assert outcome == expected, document
        split += pieces > 1
        errors += outcome[0] == "error"
        if outcome[0] == "ok":  # the values written, members not declared left out
            hq_keys = [set(e["hq"]) for e in outcome[2] if e["hq"] is not None]
            assert all(keys == {"city", "n"} for keys in hq_keys)
            assert [e["tags"] for e in outcome[2]] == [e.get("tags") for e in elements]
    assert split >= 150 and errors >= 50, (split, errors)
