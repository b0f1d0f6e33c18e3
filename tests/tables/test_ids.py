"""Row ids: what they are, and that the ASCII fast path gives the Unicode kernels' ids."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from scout_dagster.tables.ids import _trimmed_lower, bare_url, entity_ids_for


def unicode_bare_url(urls: pa.Array | pa.ChunkedArray) -> list[str | None]:
    """The ids as the Unicode kernels alone make them: what ``bare_url`` must give."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(urls, pa.string())))
    text = pc.replace_substring_regex(text, r"^(?:https?://)?(?:www\.)?", "", max_replacements=1)
    text = pc.utf8_rtrim(text, characters="/")
    ids: list[str | None] = pc.if_else(pc.equal(text, ""), None, text).to_pylist()
    return ids


def test_entity_ids_come_from_the_website_else_the_name_else_the_source() -> None:
    ids = entity_ids_for(
        pa.array(["https://www.CoreWeave.com/", None, None, None]),
        pa.array(["CoreWeave", " Lambda Labs ", None, None]),
        pa.array(["https://a.example/x", None, "HTTP://Source.example/", None]),
    )
    assert ids.to_pylist() == [
        "coreweave.com",
        "name:lambda labs",
        "source.example",
        "unknown",
    ]


@pytest.mark.parametrize("code", range(128))
def test_every_ascii_character_around_a_url_is_trimmed_as_unicode_trims_it(code: int) -> None:
    c = chr(code)
    urls = pa.array([f"{c}HTTPS://WWW.Ex{c}ample.COM/{c}", f"{c}{c}", f"{c}www.A.b{c}"])
    assert bare_url(urls).to_pylist() == unicode_bare_url(urls)


def test_text_beyond_ascii_is_lowered_and_trimmed_by_the_unicode_kernels() -> None:
    urls = pa.array(
        ["https://ÉCOLE.example/", "\u00a0https://A.example\u2003", "https://İ.example", None]
    )
    ids = bare_url(urls).to_pylist()
    assert ids == unicode_bare_url(urls)
    assert ids[:2] == ["école.example", "a.example"]


def test_chunked_and_sliced_text_gives_the_unicode_kernels_strings() -> None:
    # One non-ASCII chunk sends the whole chunked array the Unicode way.
    ascii_chunk = pa.array([" HTTPS://A.example/ ", "\x1fb.example"])
    unicode_chunk = pa.array(["https://www.ÄÖ.example/", "C.example"])
    chunked = pa.chunked_array([ascii_chunk, unicode_chunk])
    assert bare_url(chunked).to_pylist() == unicode_bare_url(chunked)
    # A slice is judged by its own bytes, not by its parent's.
    whole = pa.array(["https://É.example", "https://B.example", "https://C.example/"])
    for sliced in (whole.slice(1), whole.slice(0, 1), whole.slice(3)):
        assert bare_url(sliced).to_pylist() == unicode_bare_url(sliced)
    # The slice's own offsets: the parent's first string is ASCII, the slice's is not.
    after_ascii = pa.array(["https://a.example", "https://É.example"]).slice(1)
    assert bare_url(after_ascii).to_pylist() == ["é.example"]


def test_bytes_under_a_null_send_the_text_the_unicode_way_and_stay_null() -> None:
    # A null's slot may hold bytes (Arrow allows it): here "É", which the ASCII
    # kernels would leave upper-case had it been a value.
    data = "HTTPS://A.example/É".encode()
    offsets = pa.array([0, 18, len(data)], pa.int32()).buffers()[1]
    validity = pa.array([True, False]).buffers()[1]
    urls = pa.Array.from_buffers(pa.string(), 2, [validity, offsets, pa.py_buffer(data)], 1)
    assert bare_url(urls).to_pylist() == ["a.example", None] == unicode_bare_url(urls)


def test_empty_and_null_urls_have_no_id() -> None:
    urls = pa.array(["", " ", "https://", "https://www./", None], pa.string())
    assert bare_url(urls).to_pylist() == [None] * 5 == unicode_bare_url(urls)
    assert bare_url(pa.array([], pa.string())).to_pylist() == []


def test_large_string_text_is_trimmed_and_lowered_as_the_unicode_kernels_do() -> None:
    # Only pa.string()'s 32-bit offsets are read for the ASCII check: read as
    # 32-bit, a large_string's offsets judged this text ASCII ("ÉX" -> "Éx").
    text = pa.array([" abc ", "DEF", "ÉX", None], pa.large_string())
    expected = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    assert _trimmed_lower(text).equals(expected)
    assert _trimmed_lower(pa.chunked_array([text])).equals(pa.chunked_array([expected]))
