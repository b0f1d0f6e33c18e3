"""pyarrow's JSON reader on one document (:func:`whole_arrays`: one read, on
one thread), and the checks :mod:`.json_reader` runs on the parts it cuts a
document into. No HTTP, no Dagster."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

__all__ = [
    "ArraysDocument",
    "Transform",
    "check_lists",
    "cores",
    "elements",
    "escaped",
    "may_leave_array",
    "merge_fields",
    "parse",
    "whole_arrays",
]

#: What a piece of an array's elements becomes, on the thread that parsed it.
Transform = Callable[[pa.StructArray], pa.Table]

#: pyarrow reads a document in one block, whose size is a 32-bit int.
_MAX_BLOCK = 2**31 - 2

# The parser's scratch is large and short-lived; the system allocator gives it
# back at once where the default pool kept it. On 1M-entity runs it measured
# ~30 % faster and lower at peak.
_POOL = pa.system_memory_pool()

_OBJECT_START = re.compile(rb"[ \t\r\n]*\{")
# Closing two lists in a row right after an element: the only way out of the
# piece wrapper's inner list that leaves one list in the outer one. Searched
# by pyarrow (RE2, off the GIL, so pieces search in parallel), the cheap
# pattern first: Python's ``re`` took a quarter of the whole read.
_TWO_CLOSED = r"\]\s*\]"
_LEAVES_ARRAY = r"(?:\}|null)\s*\]\s*\]"


def parse(document: bytes, schema: pa.Schema) -> pa.Table:
    """One JSON object as one row of ``schema``, every other field skipped.

    Raises ``pyarrow.ArrowInvalid`` or ``ArrowTypeError`` when the document
    does not fit the schema.
    """
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


@dataclasses.dataclass(frozen=True)
class ArraysDocument:
    """A JSON object read with its big arrays apart."""

    #: One row: every field of the schema except the arrays.
    fields: pa.Table
    #: Each array's elements, transformed piece by piece, in document order
    #: (but a reader's spilled arrays, handed on instead).
    arrays: dict[str, pa.Table]


def whole_arrays(
    document: bytes, schema: pa.Schema, transforms: Mapping[str, Transform]
) -> ArraysDocument:
    """``document`` read whole on one thread, each array through its transform.

    Raises ``pyarrow.ArrowInvalid`` or ``ArrowTypeError`` when the document
    does not fit the schema.
    """
    check_lists(schema, transforms)
    table = parse(document, schema)
    return ArraysDocument(
        fields=table.drop_columns(list(transforms)),
        arrays={name: transform(elements(table, name)) for name, transform in transforms.items()},
    )


def check_lists(schema: pa.Schema, transforms: Mapping[str, Transform]) -> None:
    """Every array with a transform is a list field of ``schema``."""
    for name in transforms:
        if not pa.types.is_list(schema.field(name).type):
            raise TypeError(f"{name!r} must be a list field of the schema")


def elements(table: pa.Table, field: str) -> pa.Array:
    """The elements of the list in the one row's ``field``."""
    column = table.column(field)
    flat = [chunk.flatten() for chunk in column.chunks]
    if len(flat) == 1:
        return flat[0]  # a view; concatenating even one array would copy it
    return pa.concat_arrays(flat) if flat else pa.array([], type=column.type.value_type)


def may_leave_array(chunk: bytes | memoryview) -> bool:
    """Whether ``chunk`` closes two lists in a row right after an element."""
    offsets = pa.array([0, len(chunk)], pa.int64()).buffers()[1]
    text = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(chunk)])
    return all(  # the second pattern only where the first matched
        pc.match_substring_regex(text, pattern=pattern)[0].as_py()
        for pattern in (_TWO_CLOSED, _LEAVES_ARRAY)
    )


def merge_fields(parts: list[pa.Table]) -> pa.Table | None:
    """One row from the fields of every part; None when a key has a value in
    two parts (a key written twice, which the whole read refuses)."""
    columns = []
    for index in range(parts[0].num_columns):
        present = [part.column(index) for part in parts if not part.column(index).null_count]
        if len(present) > 1:
            return None
        columns.append(present[0] if present else parts[0].column(index))
    return pa.Table.from_arrays(columns, schema=parts[0].schema)


def escaped(text: bytes | bytearray | memoryview, quote: int) -> bool:
    """Whether the quote at ``quote`` is escaped (an odd run of backslashes
    before it). A run that reaches the start of ``text`` may go on before
    it, so it counts as escaped: the caller then does not trust the quote."""
    backslashes = 0
    while quote - backslashes > 0 and text[quote - backslashes - 1] == ord("\\"):
        backslashes += 1
    return backslashes % 2 == 1 or (backslashes > 0 and quote - backslashes == 0)


def cores() -> int:
    """The cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
