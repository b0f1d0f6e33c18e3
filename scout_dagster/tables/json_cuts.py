"""Where :class:`~.json_reader.ArraysReader` cuts a JSON document's big arrays
into pieces, found by pattern in the text as it arrives. No HTTP, no Dagster.

The cuts are not trusted (:mod:`.json_reader` says how every part is checked
when parsed); this module only finds them: each array's opening
(``"<array>": [``) and, inside it, a ``}, {`` before an element that starts
with the same key as the first one, about every ``piece_bytes``.
"""

from __future__ import annotations

import re

from .json_parse import escaped

__all__ = ["ArrayCutter", "Text"]

#: Text of the document as the reader holds it: a chunk read in place, or its buffer.
Text = bytes | bytearray | memoryview
#: How far back a search looks into text it has searched before, for a match
#: that a chunk's end cut short. Longer runs of white space inside a match
#: only lose a cut (a larger piece), or the array's opening (read whole).
_OVERLAP = 4096
#: How much of an array is awaited to see how its first element starts.
_FIRST_KEY_WINDOW = 64 * 2**10

#: Bytes of a view copied at a time to look for a ``[`` in it.
_BRACKET_SLICE = 2**20

_KEY = rb'"(?:[^"\\]|\\.)*"'
_FIRST_KEY = re.compile(rb"\s*\{\s*(" + _KEY + rb")\s*:")


class ArrayCutter:
    """The cutting state of one document fed from its start: what part is
    being gathered, which array is being cut and where, which are still to
    open. A subclass parses the parts it is handed (:meth:`_submit_piece`,
    :meth:`_submit_fields`) and says when to stop (:attr:`failed`)."""

    def __init__(self, arrays: list[str], piece_bytes: int) -> None:
        self._piece_bytes = piece_bytes
        self._buffer = bytearray()
        self._base = 0  # the document offset of the buffer's first byte
        # The fields part being gathered: where it starts, the array it reopens.
        self._part_start = 0
        self._reopens: str | None = None
        # The array being cut, if any.
        self._array: str | None = None
        self._array_start = 0
        self._between: re.Pattern[bytes] | None = None
        self._uncuttable = False
        self._piece_start = 0
        self._cut_from = 0
        self._cuts = 0
        #: The arrays cut, in document order.
        self._planned: list[str] = []
        # Arrays whose opening has not been seen, and where to look for it.
        self._unopened = list(arrays)
        self._opening_from = 0
        self._absent_until: dict[str, int] = {}  # none of its openings before there
        self._found_at: dict[str, int] = {}  # its first opening from the last look
        self._next_opening: tuple[str, int, int] | None = None

    @property
    def failed(self) -> bool:
        raise NotImplementedError

    def _submit_piece(self, data: Text, start: int, end: int) -> None:
        """Elements ``start`` to ``end`` (document offsets) of the array being cut."""
        raise NotImplementedError

    def _submit_fields(
        self, data: Text, start: int, end: int, reopens: str | None, opens: str | None
    ) -> None:
        """The text between cut arrays: it ``reopens`` an array's last elements
        and ``opens`` the next one cut."""
        raise NotImplementedError

    def _advance(self, data: Text, *, final: bool) -> None:
        """Cut what ``data`` (the document from ``self._base``) allows."""
        while not self.failed:
            if self._next_opening is None:
                self._find_opening(data)
            if self._array is None:
                if self._next_opening is None:
                    return  # the fields part goes on
                self._open(*self._next_opening)
                continue
            end = self._base + len(data)
            self._cut(data, self._next_opening[1] if self._next_opening else end, final=final)
            if self._next_opening is None:
                return
            # The array ends before the next one opens: its last elements and
            # the fields up to that opening are the next part.
            if self._cuts:
                self._part_start, self._reopens = self._piece_start, self._array
            self._array = None

    def _find_opening(self, data: Text) -> None:
        """The first ``"<array>": [`` after the last look, of any array not yet opened."""
        start = max(self._opening_from - _OVERLAP - self._base, 0)
        end = self._base + len(data)
        while self._unopened and _holds_bracket(data, start):
            found = []
            for field in self._unopened:
                # Where an earlier look found no opening of it, none is looked for
                # again; where it found one after another array's, the look resumes.
                since = max(
                    start,
                    self._absent_until.get(field, 0) - _OVERLAP - self._base,
                    self._found_at.get(field, 0) - self._base,
                )
                match = _opening(field).search(data, since)
                if match is None:
                    self._absent_until[field] = end
                else:
                    self._found_at[field] = self._base + match.start()
                    found.append((match.start(), field, match))
            if not found:
                break
            at, field, match = min(found)
            self._unopened.remove(field)
            if not escaped(data, at):  # an escaped quote: not the key, so no array to cut
                self._next_opening = (field, self._base + at, self._base + match.end())
                return
        self._opening_from = end

    def _open(self, field: str, _at: int, end: int) -> None:
        self._next_opening = None
        self._array, self._array_start = field, end
        self._between, self._uncuttable = None, False
        self._piece_start, self._cut_from, self._cuts = end, end + self._piece_bytes, 0

    def _cut(self, data: Text, limit: int, *, final: bool) -> None:
        """Pieces of the array being cut, up to ``limit`` (a document offset)."""
        base = self._base
        if self._between is None and not self._uncuttable:
            first_key = _FIRST_KEY.match(data, self._array_start - base)
            if first_key is None:
                if not final and base + len(data) - self._array_start < _FIRST_KEY_WINDOW:
                    return  # its first element has not arrived
                self._uncuttable = True  # empty, or not an array of objects
                return
            # Elements from one serializer start with the same key, so a cut is
            # looked for only where the next element starts as the first one did.
            key = re.escape(first_key.group(1))
            self._between = re.compile(rb"\}\s*(,)\s*\{\s*" + key + rb"\s*:")
        if self._between is None:
            return
        while self._cut_from < limit and not self.failed:
            found = self._between.search(data, self._cut_from - base, limit - base)
            if found is None:
                self._cut_from = max(self._cut_from, limit - _OVERLAP)
                return
            comma = base + found.start(1)
            if not self._cuts:  # the fields before the array, now that it is cut
                assert self._array is not None
                self._planned.append(self._array)
                self._submit_fields(
                    data, self._part_start, self._array_start, self._reopens, self._array
                )
            self._submit_piece(data, self._piece_start, comma)
            self._piece_start, self._cuts = comma + 1, self._cuts + 1
            self._cut_from = base + found.end() + self._piece_bytes

    def _kept_from(self) -> int:
        """The first document offset a later part still needs."""
        if self._array is not None and self._cuts:
            return self._piece_start
        return self._part_start


def _holds_bracket(data: Text, start: int) -> bool:
    """Whether ``data`` has a ``[`` from ``start`` on. Every opening ends with
    one, and entities are flat maps, so most of an entities array has none:
    ``find`` (``memchr``) passes over it about six times as fast as the
    openings' patterns would (0.02 s against 0.13 s for 200 MB). A view has
    no ``find``: it is copied a slice at a time."""
    if not isinstance(data, memoryview):
        return data.find(b"[", start) >= 0
    return any(
        b"[" in data[at : at + _BRACKET_SLICE].tobytes()
        for at in range(start, len(data), _BRACKET_SLICE)
    )


_OPENINGS: dict[str, re.Pattern[bytes]] = {}


def _opening(field: str) -> re.Pattern[bytes]:
    """``"<field>": [``, compiled once per field."""
    pattern = _OPENINGS.get(field)
    if pattern is None:
        pattern = re.compile(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*\[')
        _OPENINGS[field] = pattern
    return pattern
