"""Large JSON responses read straight into Arrow, as they download. No HTTP, no Dagster.

A finished FindAll run with a million entities is a ~200 MB JSON object, most
of it two arrays: ``entities`` and ``candidates``. pyarrow's JSON reader turns
it into typed Arrow arrays against an explicit schema, without a Python
object per value, skipping every field the schema does not name; but it reads
one document on one thread, and only once the document is all in memory.

:class:`ArraysReader` therefore takes the document chunk by chunk, as it
arrives, cuts the big arrays into pieces of a few MiB and parses them on
every core while the rest downloads, each piece passed through a
``transform`` on the thread that parsed it. Only the pieces in flight are
held, never the document: a 200 MB body costs its tables and a few MiB.
:func:`read_arrays` reads a document already in memory the same way
(:func:`~.json_parse.whole_arrays` reads one whole, on one thread). The cuts
are found by pattern and not trusted; every part of the document is parsed
so that a wrong cut cannot parse:

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
document must be read whole on one thread, and that result or error stands:
:func:`read_arrays` does so; a reader of a download gives None, and its
caller reads the document again, whole. So both reads give the same result,
given two things: transforms that work element by element, the same on any
split of the array (they may run on some pieces and then on the whole); and
top-level keys written once. A key written more than once is refused when two
of its values are not null, as the whole read refuses every repeated key;
with one value or none that is not null, the pieces take that value. And the
whole read refuses documents of 2 GiB or more (pyarrow's block size), which
the pieces read when every part is smaller.

The pieces are worth their complexity: against one whole-document read of
the same bytes (``benchmarks/normalize.py``, its ``ours-whole`` path), on 2
cores, 2026-12-01, they parse 1M entities (201 MB) in 0.72 s against 1.67 s
and 1M with candidates (963 MB) in 3.8 s against 8.0 s, and lower the peak
(+228 against +307 MB, +797 against +1043 MB), because only the pieces in
flight and the parser's scratch for them exist beside the result
(docs/benchmark-figures.md). Measured and rejected: converting the array to
NDJSON first (an extra pass over 200 MB) and pyarrow's streaming reader
(``open_json``, one thread, slower per row).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pyarrow as pa

from .json_cuts import ArrayCutter, Text
from .json_parse import (
    ArraysDocument,
    Transform,
    check_lists,
    cores,
    elements,
    may_leave_array,
    merge_fields,
    parse,
    whole_arrays,
)

__all__ = ["ArraysReader", "Transform", "read_arrays"]

#: Below this size a document is read whole: threads would cost more than they save.
SPLIT_MIN_BYTES = 8 * 2**20
#: About this many bytes per piece. Only the pieces being parsed (one per
#: thread, and one waiting) and their parser scratch exist beside the result,
#: so the size bounds the extra memory; a piece's fixed cost is noise at this size.
PIECE_BYTES = 4 * 2**20

#: A piece is parsed as one list inside another.
_PIECE_OPEN, _PIECE_CLOSE = b'{"pieces":[[', b"]]}"


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
    check_lists(schema, transforms)
    if len(document) >= SPLIT_MIN_BYTES:
        with ArraysReader(schema, transforms, threads=threads) as reader:
            reader.feed(document)
            read = reader.finish()
        if read is not None:
            return read
    return whole_arrays(document, schema, transforms)


@dataclasses.dataclass(frozen=True)
class _Part:
    """What one job of the reader read, in document order."""

    #: The array whose elements it holds: a piece's, or the array a fields
    #: part reopens (None for the text before the first cut array).
    owner: str | None
    #: A fields part's row: the schema's fields (the reopened array dropped).
    fields: pa.Table | None
    #: The owner's elements in it, transformed.
    elements: pa.Table | None
    #: The array a fields part opens (its column holds ``[]``).
    opens: str | None = None


class ArraysReader(ArrayCutter):
    """One JSON object, fed chunk by chunk, read as :func:`read_arrays` reads it.

    :meth:`feed` takes the text as it arrives (on one thread) and hands each
    part to a pool of ``threads``; it blocks while two more pieces than there
    are threads wait, which holds a download back to the pace of the parse.
    :meth:`finish` gives the document, or None when a part failed to parse
    (then the document must be read whole: this reader no longer holds it).

    ``also`` are schemas to read the fields with, in turn, when they do not
    fit ``schema`` (say, a field that is an object in one version of an API
    and a string in another): they must type the arrays as ``schema`` does.
    The result is then the first schema's under which the whole read would
    succeed, as reading the document whole with each in turn would give; the
    fields' text (a few MiB: not the pieces) is kept until :meth:`finish`.

    ``spill`` takes arrays out of the result: each one's transformed
    elements are handed, in document order, to its callable (on the feeding
    thread) as soon as they and every part before them are parsed, and are
    not kept. What was handed on is only the document's once :meth:`finish`
    gives it; when it gives None, the callable's receiver must drop it all.
    """

    def __init__(
        self,
        schema: pa.Schema,
        transforms: Mapping[str, Transform],
        *,
        threads: int | None = None,
        also: Sequence[pa.Schema] = (),
        spill: Mapping[str, Callable[[pa.Table], None]] | None = None,
    ) -> None:
        check_lists(schema, transforms)
        if spill is not None and not set(spill) <= set(transforms):
            raise TypeError("only arrays with a transform can be spilled")
        for other in also:
            if any(other.field(name).type != schema.field(name).type for name in transforms):
                raise TypeError("every schema must type the arrays alike")
        self._schemas = [schema, *also]
        self._transforms = dict(transforms)
        self._spill = dict(spill or {})
        # Parts before this index have handed their elements to ``spill``.
        self._spilled = 0
        self._threads = threads or cores()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="scout-json")
        self._slots = threading.BoundedSemaphore(self._threads + 2)
        # Each part's future, with a fields part's arguments when other
        # schemas may have to read it again.
        self._parts: list[tuple[Future[_Part], tuple[str | None, str | None, bytes] | None]] = []
        self._failed = threading.Event()
        super().__init__(list(transforms), PIECE_BYTES)

    def __enter__(self) -> ArraysReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def failed(self) -> bool:
        """Whether a part failed to parse: what follows need not be fed."""
        return self._failed.is_set()

    def feed(self, chunk: bytes | memoryview) -> None:
        """The next bytes of the document."""
        if self.failed:
            return
        if self._buffer:
            self._buffer += chunk
            data: Text = self._buffer
        else:
            data = chunk  # read in place: a whole document is not copied
        self._advance(data, final=False)
        self._spill_parsed()
        keep = self._kept_from() - self._base
        if data is self._buffer:
            del self._buffer[:keep]
        else:
            self._buffer = bytearray(memoryview(chunk)[keep:])
        self._base += keep

    def finish(self) -> ArraysDocument | None:
        """The document, once every part is parsed; None if one failed."""
        if self.failed:
            self.close()
            return None
        data = self._buffer
        self._advance(data, final=True)
        end = self._base + len(data)
        if self._array is not None and self._cuts:
            self._submit_fields(data, self._piece_start, end, reopens=self._array, opens=None)
        else:
            self._submit_fields(data, self._part_start, end, reopens=self._reopens, opens=None)
        self._buffer = bytearray()
        parts: list[_Part | None] = []
        for future, _ in self._parts:
            try:
                parts.append(future.result())
            except Exception:  # a fields part: another schema may read it
                parts.append(None)
        # Only fields parts fail without stopping the feed (see _done).
        read = self._read_fields_again(parts) if not self.failed else None
        self.close()
        if read is None:
            return None
        for part in read[self._spilled :]:  # those before were handed on
            self._hand_on(part)
        return self._assemble(read)

    def _read_fields_again(self, parts: list[_Part | None]) -> list[_Part] | None:
        """``parts``, every fields part read by the first schema all of them fit."""
        if all(part is not None for part in parts):
            return [part for part in parts if part is not None]
        for schema in self._schemas[1:]:
            again: list[_Part] = []
            for (_, fields_args), part in zip(self._parts, parts, strict=True):
                if fields_args is None:  # a piece
                    assert part is not None
                    again.append(part)
                    continue
                try:
                    again.append(self._fields(*fields_args, schema=schema))
                except Exception:  # this schema does not fit either
                    break
            else:
                return again
        return None

    def close(self) -> None:
        """Stop: parts still waiting are dropped, running ones finish unseen."""
        self._failed.set()
        self._parts.clear()  # their tables and tracebacks go with them
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _spill_parsed(self) -> None:
        """Hand on the spilled elements of the parts parsed, in order, so far."""
        if not self._spill:
            return
        while self._spilled < len(self._parts):
            future, fields_args = self._parts[self._spilled]
            if not future.done():
                return
            if future.cancelled() or future.exception() is not None:
                # A fields part another schema may read (say, a status that is
                # a string) holds no spilled elements unless it reopens a
                # spilled array: those after it go on. Else finish judges.
                if fields_args is not None and fields_args[0] not in self._spill:
                    self._spilled += 1
                    continue
                return
            part = future.result()
            if part.owner in self._spill and part.elements is not None:
                self._hand_on(part)
                handed: Future[_Part] = Future()
                handed.set_result(dataclasses.replace(part, elements=None))
                self._parts[self._spilled] = (handed, fields_args)
            self._spilled += 1

    def _hand_on(self, part: _Part) -> None:
        if part.owner in self._spill and part.elements is not None:
            self._spill[part.owner](part.elements)

    # ------------------------------------------------------------ parsing

    def _submit_piece(self, data: Text, start: int, end: int) -> None:
        assert self._array is not None
        text = memoryview(data)[start - self._base : end - self._base]
        self._submit(self._piece, (self._array, b"".join([_PIECE_OPEN, text, _PIECE_CLOSE])), None)

    def _submit_fields(
        self, data: Text, start: int, end: int, reopens: str | None, opens: str | None
    ) -> None:
        text = b"".join(
            [
                b"{" + json.dumps(reopens).encode() + b":[" if reopens else b"",
                memoryview(data)[start - self._base : end - self._base],
                b"]}" if opens else b"",
            ]
        )
        args = (reopens, opens, text)
        self._submit(self._fields, args, args if len(self._schemas) > 1 else None)

    def _submit(
        self,
        job: Callable[..., _Part],
        args: tuple[object, ...],
        fields_args: tuple[str | None, str | None, bytes] | None,
    ) -> None:
        if self.failed:
            return
        self._slots.acquire()  # blocks the feeding thread while the pool is behind
        try:
            future = self._pool.submit(job, *args)
        except RuntimeError:  # closed meanwhile
            self._slots.release()
            return
        # A failed piece ends the read; a fields part that another schema
        # may read does not.
        future.add_done_callback(functools.partial(self._done, stops=fields_args is None))
        self._parts.append((future, fields_args))
        # A document fed in one go submits all its parts in one feed: what
        # is parsed goes on as they are, not at the feed's end.
        self._spill_parsed()

    def _done(self, future: Future[_Part], *, stops: bool) -> None:
        self._slots.release()
        if stops and (future.cancelled() or future.exception() is not None):
            self._failed.set()

    def _piece(self, field: str, text: bytes) -> _Part:
        if may_leave_array(memoryview(text)[len(_PIECE_OPEN) : -len(_PIECE_CLOSE)]):
            raise pa.ArrowInvalid("the piece may leave its array")
        nested = pa.schema([("pieces", pa.list_(self._schemas[0].field(field).type))])
        lists = elements(parse(text, nested), "pieces")
        if len(lists) != 1:
            raise pa.ArrowInvalid("the piece left its array")
        return _Part(field, None, self._transforms[field](lists.flatten()))

    def _fields(
        self, reopens: str | None, opens: str | None, text: bytes, schema: pa.Schema | None = None
    ) -> _Part:
        table = parse(text, schema or self._schemas[0])
        if reopens is None:
            return _Part(None, table, None, opens)
        last = self._transforms[reopens](elements(table, reopens))
        return _Part(reopens, table.drop_columns([reopens]), last, opens)

    def _assemble(self, parts: list[_Part]) -> ArraysDocument | None:
        planned = self._planned
        rows: list[pa.Table] = []
        pieces: dict[str, list[pa.Table]] = {field: [] for field in planned}
        for part in parts:
            if part.fields is not None:
                present = [name for name in planned if name in part.fields.column_names]
                for name in present:
                    # A cut array's key with a value in another part: written twice.
                    if name != part.opens and not part.fields.column(name).null_count:
                        return None
                rows.append(part.fields.drop_columns(present))
            owner = part.owner
            if owner is not None and owner not in self._spill and part.elements is not None:
                pieces[owner].append(part.elements)
        fields = merge_fields(rows)
        if fields is None:
            return None
        arrays = {
            field: pa.concat_tables(tables)
            for field, tables in pieces.items()
            if field not in self._spill
        }
        for name, transform in self._transforms.items():
            if name in planned:
                continue
            # An array too small to cut, read with the fields.
            read = transform(elements(fields, name))
            if name in self._spill:
                self._spill[name](read)
            else:
                arrays[name] = read
        unplanned = [name for name in self._transforms if name not in planned]
        return ArraysDocument(fields.drop_columns(unplanned), arrays)
