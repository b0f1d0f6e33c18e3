"""Large JSON responses read straight into Arrow. No HTTP, no Dagster.

A FindAll run object with a million entities is a ~200 MB JSON document.
pyarrow's JSON reader turns it into typed Arrow arrays without building a
Python object per value, against an explicit schema; every field the schema
does not name is skipped.

pyarrow reads one JSON document on one thread. :func:`read_array_field`
therefore cuts the document's big array (the entities) into pieces of a few
MiB and parses them on every core, without trusting the cuts: each piece is
parsed inside a wrapper that only accepts it if the cut was really between
two elements of that array (see :func:`_cuts`). Anything unexpected (no such
array, an element that is not an object, a cut in the wrong place) and the
document is read whole, as :func:`read_document` does; both give the same
result.

Measured at 1M entities on 2 cores (``benchmarks/normalize.py``): the pieces
halve the parse and lower its peak, because only the pieces in flight and the
parser's scratch for them exist beside the result. Measured and rejected:
converting the array to NDJSON first (an extra pass over 200 MB) and pyarrow's
streaming reader (``open_json``, one thread, slower per row).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import pyarrow as pa
import pyarrow.json as pa_json

__all__ = ["ArrayDocument", "read_array_field", "read_document"]

T = TypeVar("T")

#: Below this size a document is read whole: threads would cost more than they save.
SPLIT_MIN_BYTES = 8 * 2**20
#: About this many bytes of the array per piece. Only the pieces being parsed
#: (one per core) and their parser scratch exist beside the result, so the
#: size bounds the extra memory; a piece's fixed cost is noise at this size.
PIECE_BYTES = 4 * 2**20

# The parser's scratch and the pieces are short-lived and large: the system
# allocator hands them back at once, where the default pool keeps them. On
# 1M-entity runs it measured ~30 % faster and lower at peak.
_POOL = pa.system_memory_pool()


def read_document(document: bytes, schema: pa.Schema) -> pa.Table:
    """The whole document as one row of ``schema``; every other field is skipped.

    Raises ``pyarrow.ArrowInvalid`` when the document does not fit the schema.
    """
    return _parse(document, schema)


@dataclasses.dataclass(frozen=True)
class ArrayDocument(Generic[T]):
    """A JSON object read with its big array in pieces."""

    #: One row: every field of the schema except the array.
    fields: pa.Table
    #: The array's elements, ``transform``-ed piece by piece, in document order.
    pieces: list[T]


def read_array_field(
    document: bytes,
    schema: pa.Schema,
    field: str,
    transform: Callable[[pa.StructArray], T],
    *,
    threads: int | None = None,
) -> ArrayDocument[T]:
    """Read ``document`` (one JSON object) against ``schema``, its array of
    objects ``field`` in pieces parsed on ``threads`` threads (default: one per
    core), each piece of elements passed through ``transform`` on its thread.

    Raises ``pyarrow.ArrowInvalid`` when the document does not fit the schema.
    """
    if not pa.types.is_list(schema.field(field).type):
        raise TypeError(f"{field!r} must be a list field of the schema")
    cuts = _cuts(document, field) if len(document) >= SPLIT_MIN_BYTES else None
    if cuts is not None:
        try:
            return _read_pieces(document, schema, field, cuts, transform, threads)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # a cut was not between two elements after all: read it whole
    table = read_document(document, schema)
    return ArrayDocument(table.drop_columns([field]), [transform(_elements(table, field))])


@dataclasses.dataclass(frozen=True)
class _Cuts:
    #: Just after the array's ``[``.
    start: int
    #: Positions of commas between two elements, ascending.
    commas: list[int]


_KEY = rb'"(?:[^"\\]|\\.)*"'


def _cuts(document: bytes, field: str) -> _Cuts | None:
    """Where the array ``field`` starts, and commas between its elements about
    :data:`PIECE_BYTES` apart; None when the document does not look like that.

    Found by pattern, so nothing here is trusted. The pieces prove it when
    they parse (:func:`_read_pieces`): the text before ``start`` must parse
    as an object ending in an open array, and every piece between two commas
    must parse as whole elements of one array *inside another array*, where
    running past the array's end (``], "key": ...``) is a syntax error.
    """
    opening = re.compile(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*\[')
    match = opening.search(document)
    if match is None or _escaped(document, match.start()):
        return None
    first_key = re.compile(rb"\s*\{\s*(" + _KEY + rb")\s*:").match(document, match.end())
    if first_key is None:
        return None  # empty, or not an array of objects
    # Elements from one serializer start with the same key, so a cut is
    # looked for only where the next element starts as the first one did.
    between = re.compile(rb"\}\s*(,)\s*\{\s*" + re.escape(first_key.group(1)) + rb"\s*:")
    commas: list[int] = []
    position = match.end() + PIECE_BYTES
    while position < len(document):
        found = between.search(document, position)
        if found is None:
            break
        commas.append(found.start(1))
        position = found.end() + PIECE_BYTES
    return _Cuts(match.end(), commas) if commas else None


def _escaped(document: bytes, quote: int) -> bool:
    """Whether the quote at ``quote`` is escaped (odd run of backslashes before it)."""
    backslashes = 0
    while quote - backslashes > 0 and document[quote - backslashes - 1] == ord("\\"):
        backslashes += 1
    return backslashes % 2 == 1


def _read_pieces(
    document: bytes,
    schema: pa.Schema,
    field: str,
    cuts: _Cuts,
    transform: Callable[[pa.StructArray], T],
    threads: int | None,
) -> ArrayDocument[T]:
    element_type = schema.field(field).type
    # A piece must be whole elements of one array nested in another array: a
    # piece that ran past the end of our array would continue with a key
    # (``], "count": ...``) or a ``}``, which no array accepts.
    nested = pa.schema([("pieces", pa.list_(element_type))])
    starts = [cuts.start, *[comma + 1 for comma in cuts.commas[:-1]]]
    bounds = list(zip(starts, cuts.commas, strict=True))
    tail_start = cuts.commas[-1] + 1

    text = memoryview(document)
    reopen = b"{" + json.dumps(field).encode() + b":["

    def head() -> pa.Table:
        # Everything before the array, which the closing ``]}`` proves opens
        # at the top level.
        return _parse(b"".join([text[: cuts.start], b"]}"]), schema)

    def middle(bounds: tuple[int, int]) -> T:
        start, end = bounds
        table = _parse(b"".join([b'{"pieces":[[', text[start:end], b"]]}"]), nested)
        return transform(_elements(table, "pieces").flatten())

    def tail() -> pa.Table:
        # The rest of the array, its end and every field after it.
        return _parse(b"".join([reopen, text[tail_start:]]), schema)

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        head_future = pool.submit(head)
        middle_futures = [pool.submit(middle, piece) for piece in bounds]
        tail_future = pool.submit(tail)
        try:
            before = head_future.result()
            pieces = [future.result() for future in middle_futures]
            after = tail_future.result()
        except BaseException:
            # One bad piece decides it: don't parse the rest before reading whole.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    pieces.append(transform(_elements(after, field)))
    return ArrayDocument(_merge(before.drop_columns([field]), after.drop_columns([field])), pieces)


def _merge(before: pa.Table, after: pa.Table) -> pa.Table:
    """One row from the fields before the array and those after it."""
    columns = []
    for name in before.column_names:
        first, second = before.column(name), after.column(name)
        if not first.null_count and not second.null_count:
            # A key on both sides: the whole document would be refused for it.
            raise pa.ArrowInvalid(f"the key {name!r} appears twice")
        columns.append(second if first.null_count else first)
    return pa.Table.from_arrays(columns, schema=before.schema)


def _elements(table: pa.Table, field: str) -> pa.Array:
    """The elements of the list in the one row's ``field``."""
    column = table.column(field)
    flat = [chunk.flatten() for chunk in column.chunks]
    if len(flat) == 1:
        return flat[0]  # a view; concatenating even one array would copy it
    return pa.concat_arrays(flat) if flat else pa.array([], type=column.type.value_type)


def _parse(document: bytes, schema: pa.Schema) -> pa.Table:
    buffer = pa.py_buffer(document)  # a view of the bytes, not a copy
    table = pa_json.read_json(
        pa.BufferReader(buffer),
        # The document is one JSON value: it must fit in one block.
        read_options=pa_json.ReadOptions(block_size=buffer.size + 1, use_threads=False),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=True
        ),
        memory_pool=_POOL,
    )
    if table.num_rows != 1:
        raise pa.ArrowInvalid(f"expected one JSON document, found {table.num_rows}")
    return table
