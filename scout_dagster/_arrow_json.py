"""Arrays of a large JSON response read straight into Arrow. No HTTP, no Dagster.

A FindAll run object with a million entities is a ~200 MB JSON document.
pyarrow's JSON reader parses newline-delimited JSON in parallel, small blocks
at a time, but a single document only as one block, holding a raw copy of
every value while it converts them. So the ``entities`` array, a list of
flat objects, is handed to the reader as NDJSON: its objects are cut apart
where one ends and the next begins (``},{``), chunk by chunk, without copying
the document. Nested arrays (the candidates) are read from the whole
document with every other field ignored, which costs little.

Every shortcut here checks itself: a split in the wrong place (inside a string
or a nested value) leaves a fragment that is not valid JSON, so the reader
fails and the caller falls back to the exact path. Nothing is ever guessed.
"""

from __future__ import annotations

import io
import re

import pyarrow as pa
import pyarrow.json as pa_json

__all__ = ["read_array_as_ndjson", "read_document"]

#: What separates two objects of an array in compact JSON and in Python's
#: default ``json.dumps``; both become a newline.
_SEPARATORS = ((b"},{", b"}\n{"), (b"}, {", b"}\n{"))
#: Bytes read, split and parsed at a time: large enough for parallel parsing
#: to pay, small enough that the reader's scratch memory stays small.
_CHUNK_BYTES = 4 << 20
#: A key is only looked for at the top level of the document if what comes
#: before it is small enough to check byte by byte.
_PREFIX_SCAN_LIMIT = 1 << 20


def _depth_at(document: bytes, position: int) -> int | None:
    """Nesting depth of ``position`` in the document (1 = top-level object), or
    None when the prefix is too long to check."""
    if position > _PREFIX_SCAN_LIMIT:
        return None
    depth, in_string, escaped = 0, False, False
    for byte in document[:position]:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
        elif byte in (0x7D, 0x5D):  # } ]
            depth -= 1
    return None if in_string else depth


def _array_span(document: bytes, key: str) -> tuple[int, int] | None:
    """Where the elements of the top-level ``key`` array lie, or None if not found plainly."""
    pattern = re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*\[')
    match = pattern.search(document)
    if match is None or _depth_at(document, match.start()) != 1:
        return None
    start = match.end()
    if document[start : start + 64].lstrip().startswith(b"]"):
        return start, start  # an empty array
    end = document.find(b"}]", start)  # the last object's end (compact or default dumps)
    return (start, end + 1) if end >= 0 else None


class _ArrayAsNDJSON(io.RawIOBase):
    """The objects of ``document[start:end]``, one per line, produced chunk by chunk."""

    def __init__(self, document: bytes, start: int, end: int) -> None:
        self._view = memoryview(document)[start:end]
        self._position = 0
        self._carry = b""
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes:
        if self._position >= len(self._view) and not self._carry:
            return b""
        piece = self._carry + self._view[self._position : self._position + _CHUNK_BYTES].tobytes()
        self._position += _CHUNK_BYTES
        self._carry = b""
        if self._position < len(self._view):
            # Keep the tail from the last "}" for the next chunk, so no
            # separator is cut in two.
            cut = piece.rfind(b"}")
            if cut > 0:
                piece, self._carry = piece[:cut], piece[cut:]
        for separator, newline in _SEPARATORS:
            piece = piece.replace(separator, newline)
        return piece

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if not self._pending:
            self._pending = memoryview(self._next_chunk())
            if not self._pending:
                return 0
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


def read_array_as_ndjson(document: bytes, key: str, item_type: pa.StructType) -> pa.Table | None:
    """The top-level ``key`` array of flat objects, as a table with ``item_type``'s fields.

    None when the array cannot be found plainly (the caller reads the whole
    document instead). Raises ``pyarrow.ArrowInvalid`` when the objects do not
    fit ``item_type`` or a split fell in the wrong place.
    """
    span = _array_span(document, key)
    if span is None:
        return None
    start, end = span
    schema = pa.schema(list(item_type))
    if start == end:
        return schema.empty_table()
    return pa_json.read_json(
        _ArrayAsNDJSON(document, start, end),
        read_options=pa_json.ReadOptions(block_size=_CHUNK_BYTES),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore"
        ),
        # The system allocator hands scratch memory back at once; the default
        # pool keeps it, which doubled the peak on 1M-entity runs.
        memory_pool=pa.system_memory_pool(),
    )


def read_document(document: bytes, schema: pa.Schema) -> pa.Table:
    """The whole document as one row of ``schema``; every other field is skipped.

    Raises ``pyarrow.ArrowInvalid`` when the document does not fit the schema.
    """
    table = pa_json.read_json(
        pa.BufferReader(pa.py_buffer(document)),  # a view of the bytes, not a copy
        # The document is one JSON value: it must fit in one block.
        read_options=pa_json.ReadOptions(block_size=len(document) + 1),
        parse_options=pa_json.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=True
        ),
        memory_pool=pa.system_memory_pool(),
    )
    if table.num_rows != 1:
        raise pa.ArrowInvalid(f"expected one JSON document, found {table.num_rows}")
    return table
