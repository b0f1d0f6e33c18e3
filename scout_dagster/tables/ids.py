"""Row ids derived from what a row holds, never from the run that found it.

The same entity found by two runs or two partitions gets the same id, and a
reader can tell what it means: ``coreweave.com`` for an entity whose website
is ``https://www.CoreWeave.com/``, ``name:coreweave`` for one known only by
its name. Search results and sources take the id of their URL; a finding the
hash of its subquery and answer. Vectorized: these run once per row of
tables with millions of rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["bare_url", "entity_ids_for", "short_hash", "url_ids"]


def entity_ids_for(
    website: pa.Array | None, name: pa.Array | None, fallback: pa.Array | None
) -> pa.Array:
    """Stable ids derived from the entity itself, never from the run.

    The id is the entity's website without scheme, ``www.``, trailing ``/``
    or case (``coreweave.com``), else ``name:<lower-cased name>``, else the
    ``fallback`` URL likewise, else ``unknown``.
    """
    # Each fallback is computed only while some rows still lack an id: on a
    # million rows every kernel pass counts.
    makers: list[Callable[[], pa.Array]] = []
    if website is not None:
        makers.append(lambda: bare_url(website))
    if name is not None:
        makers.append(lambda: _name_ids(name))
    if fallback is not None:
        makers.append(lambda: bare_url(fallback))
    if not makers:
        raise ValueError("an entity id needs a website, a name or a source URL")
    ids = makers[0]()
    for make in makers[1:]:
        if ids.null_count == 0:
            break
        ids = pc.coalesce(ids, make())
    return pc.fill_null(ids, "unknown")


def url_ids(urls: Sequence[str]) -> pa.Array:
    """Ids of URLs, normalized as entity websites are (see :func:`entity_ids_for`)."""
    return pc.fill_null(bare_url(pa.array(urls, pa.string())), "unknown")


def short_hash(text: str) -> str:
    """The first 16 hex digits of ``text``'s SHA-256: an id for a row without a URL."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _name_ids(names: pa.Array) -> pa.Array:
    lowered = _trimmed_lower(pc.cast(names, pa.string()))
    named = pc.binary_join_element_wise("name:", lowered, "")
    return pc.if_else(pc.equal(lowered, ""), None, named)


def bare_url(urls: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """URLs lower-cased without scheme, ``www.`` or trailing ``/``; null when empty.

    One anchored regex rather than branches: this runs once per row of tables
    with millions of rows, read in many chunks, where each ``if_else`` pass
    measured several times the cost of the regex.
    """
    text = _trimmed_lower(pc.cast(urls, pa.string()))
    text = pc.replace_substring_regex(text, r"^(?:https?://)?(?:www\.)?", "", max_replacements=1)
    text = pc.utf8_rtrim(text, characters="/")
    return pc.if_else(pc.equal(text, ""), None, text)


#: The ASCII characters ``utf8_trim_whitespace`` trims: ``ascii_trim_whitespace``'s
#: six and the four separators U+001C-U+001F, which Unicode counts as whitespace.
_ASCII_WHITESPACE = "\t\n\v\f\r\x1c\x1d\x1e\x1f "


def _trimmed_lower(text: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``text`` trimmed of whitespace and lower-cased, as ``utf8_trim_whitespace``
    and ``utf8_lower`` give it.

    Text whose bytes are all ASCII (URLs nearly always are) takes the ASCII
    kernels, which give the same strings for it: they are several times
    faster, and the first Unicode kernel a process calls builds pyarrow's
    Unicode tables (15 ms, inside a small run's step). Only ``pa.string()``
    text is checked (its offsets are 32-bit); other string types take the
    Unicode kernels.
    """
    if pa.types.is_string(text.type) and _all_ascii(text):
        return pc.ascii_lower(pc.ascii_trim(text, characters=_ASCII_WHITESPACE))
    return pc.utf8_lower(pc.utf8_trim_whitespace(text))


def _all_ascii(text: pa.Array | pa.ChunkedArray) -> bool:
    """Whether every byte of ``text``'s strings (a ``pa.string()`` array) is
    ASCII: the data between its first and last offsets, read as bytes. A null's
    slot may hold bytes; they count too, which can only send ASCII text the
    Unicode way."""
    for chunk in text.chunks if isinstance(text, pa.ChunkedArray) else [text]:
        if len(chunk) == 0:
            continue
        _, offsets, data = chunk.buffers()
        bounds = pa.Array.from_buffers(
            pa.int32(), len(chunk) + 1, [None, offsets], offset=chunk.offset
        )
        first, last = bounds[0].as_py(), bounds[len(chunk)].as_py()
        if last == first:
            continue
        values = pa.Array.from_buffers(pa.uint8(), last - first, [None, data], offset=first)
        if pc.max(values).as_py() >= 0x80:
            return False
    return True
