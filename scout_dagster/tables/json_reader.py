"""Large JSON responses read straight into Arrow. No HTTP, no Dagster.

A finished FindAll run with a million entities is a ~200 MB JSON object, most
of it two arrays: ``entities`` and ``candidates``. pyarrow's JSON reader turns
it into typed Arrow arrays against an explicit schema, without a Python
object per value, skipping every field the schema does not name; but it reads
one document on one thread.

:func:`read_arrays` therefore cuts the big arrays into pieces of a few MiB and
parses them on every core, each piece passed through a ``transform`` on the
thread that parsed it. The cuts are found by pattern and not trusted; every
part of the document is parsed so that a wrong cut cannot parse:

- the text before an array, closed with ``]}``, must be a complete object:
  so the array opens at the top level, under its own key;
- a piece between two cuts is parsed as ``{"pieces":[[ <piece> ]]}`` and must
  leave exactly one list in ``pieces`` without ever closing two lists in a
  row: whatever left the array (``], "key": …``, ``}``, ``], [``) breaks one
  of those, so the piece is whole elements of that one array;
- the text after an array's last cut, reopened as ``{"<array>":[``, must
  complete the object (or reach the next array's opening, as above).

When anything fails (no such array, elements that are not objects, a cut in
the wrong place, a value of the wrong type, an error in a transform) the
document is read whole on one thread, and that result or error stands. So
both reads give the same result, given two things: transforms that work
element by element, the same on any split of the array (they may run on
some pieces and then on the whole); and top-level keys written once. A key
written more than once is refused when two of its values are not null, as
the whole read refuses every repeated key; with one value or none that is
not null, the pieces take that value. And the whole read refuses documents
of 2 GiB or more (pyarrow's block size), which the pieces read when every
part is smaller.

The pieces are worth their complexity: against one whole-document read of
the same bytes (``benchmarks/normalize.py``, its ``ours-whole`` path; the
``parse (read_findall)`` phase of ``benchmarks/e2e.py`` run with the pieces
off), on 2 cores, 2026-12-01, they parse 1M entities (201 MB) in 0.72 s
against 1.67 s and 1M with candidates (963 MB) in 3.8 s against 8.0 s, and
lower the peak (+228 against +307 MB, +797 against +1043 MB), because only
the pieces in flight and the parser's scratch for them exist beside the
result (docs/benchmark-figures.md). Measured and rejected: converting the
array to NDJSON first (an extra pass over 200 MB) and pyarrow's streaming
reader (``open_json``, one thread, slower per row).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

__all__ = ["ArraysDocument", "Transform", "read_arrays", "read_document"]

#: What a piece of an array's elements becomes, on the thread that parsed it.
Transform = Callable[[pa.StructArray], pa.Table]

#: Below this size a document is read whole: threads would cost more than they save.
SPLIT_MIN_BYTES = 8 * 2**20
#: About this many bytes per piece. Only the pieces being parsed (one per
#: thread) and their parser scratch exist beside the result, so the size bounds
#: the extra memory; a piece's fixed cost is noise at this size.
PIECE_BYTES = 4 * 2**20
#: pyarrow reads a document in one block, whose size is a 32-bit int.
_MAX_BLOCK = 2**31 - 2

# The parser's scratch is large and short-lived; the system allocator gives it
# back at once where the default pool kept it. On 1M-entity runs it measured
# ~30 % faster and lower at peak.
_POOL = pa.system_memory_pool()

_OBJECT_START = re.compile(rb"[ \t\r\n]*\{")
_KEY = rb'"(?:[^"\\]|\\.)*"'
# Closing two lists in a row right after an element: the only way out of the
# piece wrapper's inner list that leaves one list in the outer one. Searched
# by pyarrow (RE2, off the GIL, so pieces search in parallel), the cheap
# pattern first: Python's ``re`` took a quarter of the whole read.
_TWO_CLOSED = r"\]\s*\]"
_LEAVES_ARRAY = r"(?:\}|null)\s*\]\s*\]"


def read_document(document: bytes, schema: pa.Schema) -> pa.Table:
    """The whole document (one JSON object) as one row of ``schema``; every
    other field is skipped.

    Raises ``pyarrow.ArrowInvalid`` or ``ArrowTypeError`` when the document
    does not fit the schema.
    """
    return _parse(document, schema)


@dataclasses.dataclass(frozen=True)
class ArraysDocument:
    """A JSON object read with its big arrays in pieces."""

    #: One row: every field of the schema except the arrays.
    fields: pa.Table
    #: Each array's elements, transformed piece by piece, in document order.
    arrays: dict[str, pa.Table]


def read_arrays(
    document: bytes,
    schema: pa.Schema,
    transforms: Mapping[str, Transform],
    *,
    threads: int | None = None,
) -> ArraysDocument:
    """Read ``document`` (one JSON object) against ``schema``; each list-of-struct
    field named in ``transforms`` is read in pieces on ``threads`` threads
    (default: the cores this process may use), each piece passed through its
    transform on the thread that parsed it.

    Raises ``pyarrow.ArrowInvalid`` or ``ArrowTypeError`` when the document
    does not fit the schema.
    """
    for name in transforms:
        if not pa.types.is_list(schema.field(name).type):
            raise TypeError(f"{name!r} must be a list field of the schema")
    if len(document) >= SPLIT_MIN_BYTES:
        plans = _plan(document, list(transforms))
        if plans:
            read = _read_pieces(document, schema, transforms, plans, threads or _cores())
            if read is not None:
                return read
    table = read_document(document, schema)
    return ArraysDocument(
        fields=table.drop_columns(list(transforms)),
        arrays={name: transform(_elements(table, name)) for name, transform in transforms.items()},
    )


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Where one array is cut."""

    field: str
    #: Just after the array's ``[``.
    start: int
    #: Positions of commas between two of its elements, ascending.
    commas: list[int]


def _plan(document: bytes, fields: Sequence[str]) -> list[_Plan]:
    """The arrays that can be cut, in document order, each array's cuts before
    the next one's start. Found by pattern, so nothing here is trusted."""
    starts = sorted(
        (start, field) for field in fields if (start := _opening(document, field)) is not None
    )
    plans = []
    for index, (start, field) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(document)
        commas = _commas(document, start, end)
        if commas:
            plans.append(_Plan(field, start, commas))
    return plans


def _opening(document: bytes, field: str) -> int | None:
    """Just after the first ``"<field>": [`` whose quote is not escaped."""
    match = re.compile(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*\[').search(document)
    if match is None or _escaped(document, match.start()):
        return None
    return match.end()


def _commas(document: bytes, start: int, end: int) -> list[int]:
    """Commas between elements about :data:`PIECE_BYTES` apart, before ``end``."""
    first_key = re.compile(rb"\s*\{\s*(" + _KEY + rb")\s*:").match(document, start)
    if first_key is None:
        return []  # empty, or not an array of objects
    # Elements from one serializer start with the same key, so a cut is
    # looked for only where the next element starts as the first one did.
    between = re.compile(rb"\}\s*(,)\s*\{\s*" + re.escape(first_key.group(1)) + rb"\s*:")
    commas: list[int] = []
    position = start + PIECE_BYTES
    while position < end and (found := between.search(document, position, end)) is not None:
        commas.append(found.start(1))
        position = found.end() + PIECE_BYTES
    return commas


def _escaped(document: bytes, quote: int) -> bool:
    """Whether the quote at ``quote`` is escaped (odd run of backslashes before it)."""
    backslashes = 0
    while quote - backslashes > 0 and document[quote - backslashes - 1] == ord("\\"):
        backslashes += 1
    return backslashes % 2 == 1


class _FieldsPart(NamedTuple):
    """The text between two arrays (or before the first, or after the last)."""

    #: Its fields, one row (the cut arrays' columns dropped).
    fields: pa.Table
    #: The elements after the last cut of the array it reopens, transformed.
    last_elements: pa.Table | None


def _read_pieces(
    document: bytes,
    schema: pa.Schema,
    transforms: Mapping[str, Transform],
    plans: list[_Plan],
    threads: int,
) -> ArraysDocument | None:
    """The document read in parts on ``threads`` threads; None when a part
    does not parse, that is when a cut was not where it seemed."""
    text = memoryview(document)
    planned = [plan.field for plan in plans]

    def fields_part(start: int, end: int, reopens: str | None, opens: str | None) -> _FieldsPart:
        opening = b"{" + json.dumps(reopens).encode() + b":[" if reopens else b""
        closing = b"]}" if opens else b""
        table = _parse(b"".join([opening, text[start:end], closing]), schema)
        for name in planned:
            if name not in (reopens, opens) and not table.column(name).null_count:
                raise pa.ArrowInvalid(f"the key {name!r} appears twice")
        last = transforms[reopens](_elements(table, reopens)) if reopens else None
        return _FieldsPart(table.drop_columns(planned), last)

    def piece(field: str, start: int, end: int) -> pa.Table:
        chunk = text[start:end]
        if _may_leave_array(chunk):
            raise pa.ArrowInvalid("the piece may leave its array")
        nested = pa.schema([("pieces", pa.list_(schema.field(field).type))])
        lists = _elements(_parse(b"".join([b'{"pieces":[[', chunk, b"]]}"]), nested), "pieces")
        if len(lists) != 1:
            raise pa.ArrowInvalid("the piece left its array")
        return transforms[field](lists.flatten())

    # The parts in document order: the fields before the first array, then
    # for each array its pieces and the fields up to the next array (or the
    # end). ``owners`` says whose elements each part holds.
    jobs: list[Callable[[], pa.Table | _FieldsPart]] = [
        functools.partial(fields_part, 0, plans[0].start, None, plans[0].field)
    ]
    owners: list[str | None] = [None]
    for index, plan in enumerate(plans):
        following = plans[index + 1] if index + 1 < len(plans) else None
        starts = [plan.start, *[comma + 1 for comma in plan.commas[:-1]]]
        for start, end in zip(starts, plan.commas, strict=True):
            jobs.append(functools.partial(piece, plan.field, start, end))
            owners.append(plan.field)
        end = following.start if following else len(document)
        opens = following.field if following else None
        jobs.append(functools.partial(fields_part, plan.commas[-1] + 1, end, plan.field, opens))
        owners.append(plan.field)
    results = _run_all(jobs, threads)
    if results is None:
        return None

    parts: list[pa.Table] = []
    pieces: dict[str, list[pa.Table]] = {field: [] for field in planned}
    for owner, result in zip(owners, results, strict=True):
        if isinstance(result, _FieldsPart):
            parts.append(result.fields)
            if owner is not None and result.last_elements is not None:
                pieces[owner].append(result.last_elements)
        elif owner is not None:
            pieces[owner].append(result)
    fields = _merge(parts)
    if fields is None:
        return None
    arrays = {field: pa.concat_tables(tables) for field, tables in pieces.items()}
    for name, transform in transforms.items():
        if name not in arrays:  # an array too small to cut, read with the fields
            arrays[name] = transform(_elements(fields, name))
    unplanned = [name for name in transforms if name not in planned]
    return ArraysDocument(fields.drop_columns(unplanned), arrays)


def _may_leave_array(chunk: memoryview) -> bool:
    """Whether ``chunk`` closes two lists in a row right after an element."""
    offsets = pa.array([0, len(chunk)], pa.int64()).buffers()[1]
    text = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(chunk)])
    return all(  # the second pattern only where the first matched
        pc.match_substring_regex(text, pattern=pattern)[0].as_py()
        for pattern in (_TWO_CLOSED, _LEAVES_ARRAY)
    )


def _run_all(jobs: Sequence[Callable[[], Any]], threads: int) -> list[Any] | None:
    """Every job's result in order; None as soon as one raises (the rest are
    cancelled): the whole read then decides, so which piece failed first,
    and how, never shows."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures: list[Future[Any]] = [pool.submit(job) for job in jobs]
        wait(futures, return_when=FIRST_EXCEPTION)
        if not any(future.done() and future.exception() for future in futures):
            return [future.result() for future in futures]
        for future in futures:
            future.cancel()
        # Drop every reference to the parsed pieces before reading whole:
        # an error's traceback would otherwise keep them alive until the
        # cyclic collector runs.
        futures.clear()
    return None


def _merge(parts: list[pa.Table]) -> pa.Table | None:
    """One row from the fields of every part; None when a key has a value in
    two parts (a key written twice, which the whole read refuses)."""
    columns = []
    for index in range(parts[0].num_columns):
        present = [part.column(index) for part in parts if not part.column(index).null_count]
        if len(present) > 1:
            return None
        columns.append(present[0] if present else parts[0].column(index))
    return pa.Table.from_arrays(columns, schema=parts[0].schema)


def _elements(table: pa.Table, field: str) -> pa.Array:
    """The elements of the list in the one row's ``field``."""
    column = table.column(field)
    flat = [chunk.flatten() for chunk in column.chunks]
    if len(flat) == 1:
        return flat[0]  # a view; concatenating even one array would copy it
    return pa.concat_arrays(flat) if flat else pa.array([], type=column.type.value_type)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parse(document: bytes, schema: pa.Schema) -> pa.Table:
    # pyarrow crashes the process on a document that starts with ``null``:
    # only an object goes in.
    if not _OBJECT_START.match(document):
        raise pa.ArrowInvalid("the document is not a JSON object")
    if len(document) > _MAX_BLOCK:
        raise pa.ArrowInvalid("the document is too large to read whole")
    table = pa_json.read_json(
        pa.BufferReader(pa.py_buffer(document)),  # a view of the bytes, not a copy
        # The document is one JSON value: it must fit in one block.
        read_options=pa_json.ReadOptions(block_size=len(document) + 1, use_threads=False),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=True
        ),
        memory_pool=_POOL,
    )
    if table.num_rows != 1:
        raise pa.ArrowInvalid(f"expected one JSON document, found {table.num_rows}")
    # The reader does not check that strings are UTF-8; a full validation
    # does (~20 ms for a million entities) and raises ArrowInvalid.
    table.validate(full=True)
    return table
