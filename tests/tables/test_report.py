"""A deep-search report shown as Markdown links each citation ``[N]`` to the
run's source N, checked against a real CommonMark renderer (markdown-it):
adjacent citations stay separate, reference definitions in the report never
redirect a citation, unknown numbers show literally, and code, existing
links and other brackets are left as they are."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence

import pytest
from markdown_it import MarkdownIt

from scout_dagster._models import SearchSource
from scout_dagster._report import report_for_display

S1 = "https://one.example/a"
S3 = "https://three.example/b?x=1&y=2"
S6 = "https://six.example/c"
SOURCES = [
    SearchSource(url=S1, index=1, title="One"),
    SearchSource(url=S3, index=3, title="Three"),
    SearchSource(url=S6, index=6, title="Six"),
]
HREF = {1: S1, 3: "https://three.example/b?x=1&amp;y=2", 6: S6}  # as rendered

_ANCHOR = re.compile(r'<a href="([^"]*)">(.*?)</a>')


def render(markdown: str) -> str:
    return str(MarkdownIt("commonmark").render(markdown))


def anchors(markdown: str) -> list[tuple[str, str]]:
    """(href, text) of every link in the rendered HTML, in order."""
    return _ANCHOR.findall(render(markdown))


def display(report: str | None, sources: Sequence[SearchSource] | None = SOURCES) -> str:
    return report_for_display(report, sources)


# -- the defect, on the raw report ------------------------------------------


def test_raw_adjacent_citations_link_the_wrong_source() -> None:
    raw = f"Revenue grew [1][3][6].\n\n[3]: {S3}\n"
    # CommonMark reads [1][3] as a link with text "1" and label 3: source 1's
    # citation points at source 3, and [6] is lost as plain text.
    assert anchors(raw) == [(HREF[3], "1")]
    assert "[6]" in render(raw)


def test_raw_adjacent_citations_without_definitions_are_not_links() -> None:
    assert anchors("Revenue grew [1][3][6].") == []


# -- citations become links to their own source -----------------------------


def test_adjacent_citations_are_three_links_to_their_sources() -> None:
    out = display("Revenue grew [1][3][6].")
    assert anchors(out) == [(HREF[1], "[1]"), (HREF[3], "[3]"), (HREF[6], "[6]")]
    assert out == (f"Revenue grew [\\[1\\]](<{S1}>)[\\[3\\]](<{S3}>)[\\[6\\]](<{S6}>).")


def test_reference_definitions_never_redirect_a_citation() -> None:
    report = (
        "Revenue grew [1][3][6], see also [3].\n"
        "\n"
        "[1]: http://wrong/1\n"
        "[3]: http://wrong/3\n"
        '[6]: <http://wrong/6> "Six"\n'
    )
    out = display(report)
    assert anchors(out) == [
        (HREF[1], "[1]"),
        (HREF[3], "[3]"),
        (HREF[6], "[6]"),
        (HREF[3], "[3]"),
    ]
    assert "wrong" not in render(out)
    # The definition lines are kept verbatim (they render as nothing).
    assert out.endswith('[1]: http://wrong/1\n[3]: http://wrong/3\n[6]: <http://wrong/6> "Six"\n')


def test_definitions_after_a_heading_are_kept_and_ignored() -> None:
    report = f"A [1][3].\n\n## Sources\n[1]: {S3}\n[3]: {S1}\n"
    out = display(report)
    assert anchors(out) == [(HREF[1], "[1]"), (HREF[3], "[3]")]
    assert out.endswith(f"## Sources\n[1]: {S3}\n[3]: {S1}\n")


def test_definition_like_line_inside_a_paragraph_is_prose() -> None:
    # Not a definition in CommonMark (it cannot interrupt a paragraph): text.
    out = display("Sources:\n[1]: http://wrong/1\n\n[1]: http://wrong/1\n")
    assert anchors(out) == [(HREF[1], "[1]")]
    assert "<p>Sources:\n<a" in render(out)


def test_citations_in_headings_lists_quotes_and_tables() -> None:
    report = "## Findings [1]\n\n- item [3]\n  - nested [6]\n\n> quoted [1]\n\n| a | [3] |\n"
    assert [text for _, text in anchors(display(report))] == ["[1]", "[3]", "[6]", "[1]", "[3]"]


def test_unknown_citation_renders_literally() -> None:
    out = display("As shown [9], and [1][9][3].\n\n[9]: http://wrong/9\n")
    html = render(out)
    assert "As shown [9], and" in html
    assert anchors(out) == [(HREF[1], "[1]"), (HREF[3], "[3]")]
    assert "[9]" in html
    assert "wrong" not in html
    assert "As shown \\[9\\]" in out


def test_unknown_citation_alone_has_no_link() -> None:
    html = render(display("Only [9].\n\n[9]: http://wrong/9\n"))
    assert "<a" not in html
    assert "Only [9]." in html


def test_no_sources_escapes_every_citation() -> None:
    no_sources: list[list[SearchSource] | None] = [None, []]
    for sources in no_sources:
        out = display("A [1][3].\n\n[1]: http://x\n", sources)
        assert "<a" not in render(out)
        assert "A [1][3]." in render(out)


def test_source_without_index_or_with_unlinkable_url_is_no_source() -> None:
    sources = [
        SearchSource(url="https://no-index.example", index=None),
        SearchSource(url="javascript:alert(1)", index=1),
        SearchSource(url="   ", index=3),
        SearchSource(url="DATA:text/html,x", index=6),
    ]
    html = render(display("A [1][3][6].", sources))
    assert "<a" not in html
    assert "A [1][3][6]." in html


def test_first_source_of_a_duplicated_index_wins() -> None:
    sources = [SearchSource(url=S1, index=1), SearchSource(url=S6, index=1)]
    assert anchors(display("A [1].", sources)) == [(HREF[1], "[1]")]


def test_url_with_parentheses_spaces_and_markup_characters_still_links() -> None:
    url = "https://en.wikipedia.org/wiki/Foo_(bar) baz/<x>\\y&amp;z"
    out = display("A [1].", [SearchSource(url=url, index=1)])
    assert anchors(out) == [
        ("https://en.wikipedia.org/wiki/Foo_(bar)%20baz/%3Cx%3E%5Cy&amp;amp;z", "[1]")
    ]


def test_url_with_a_line_break_still_links() -> None:
    out = display("A [1].", [SearchSource(url="https://x.example/a\nb", index=1)])
    assert anchors(out) == [("https://x.example/a%0Ab", "[1]")]


def test_bang_before_a_citation_does_not_make_an_image() -> None:
    out = display("Wow![1]\n\n[1]: http://img/x.png\n")
    html = render(out)
    assert "<img" not in html
    assert anchors(out) == [(HREF[1], "[1]")]
    assert "Wow!<a" in html


# -- what is left alone -----------------------------------------------------


@pytest.mark.parametrize(
    "report",
    [
        "Use `x[1]` here.",
        "Use ``a ` [1] `` here.",
        "Span over\nlines `a\n[1]` ok.",
        "```\nlist[1][3]\n```\n",
        "````python\nlist[1][3]\n```\nstill code [1]\n````\n",
        "~~~\n[1][3]\n~~~\n",
        "- item\n\n  ```\n  [1]\n  ```\n",
        "> ```\n> [1]\n> ```\n",
        "```\nunclosed [1]\n",
    ],
)
def test_code_is_untouched(report: str) -> None:
    out = display(report)
    assert out == report
    assert "<a" not in render(out)
    assert "[1]" in render(out)


def test_code_and_citations_side_by_side() -> None:
    report = "See `[1]` and [1].\n\n```\n[3]\n```\nThen [3]. ``` `[6]` ```\n"
    out = display(report)
    assert anchors(out) == [(HREF[1], "[1]"), (HREF[3], "[3]")]
    assert "<code>[1]</code>" in render(out)
    assert "<pre><code>[3]\n</code></pre>" in render(out)
    assert "<code>`[6]`</code>" in render(out)


def test_unmatched_backticks_do_not_hide_citations() -> None:
    out = display("A stray ` then [1] and ``[3] too.")
    assert anchors(out) == [(HREF[1], "[1]"), (HREF[3], "[3]")]


@pytest.mark.parametrize(
    "report",
    [
        "[see here](http://x)",
        "[ ]",
        "[a]",
        "[1a] [a1] [-1] [1.5] [ 1 ] [1 ]",
        "\\[1] and \\[3\\]",
        "<https://example.com/page[1]>",
        "[1][paper]\n\n[paper]: http://p\n",
        "[2](http://example.com)",
        "[1](http://example.com)",
        '[1](<http://a b> "title")',
        "[1](http://en.wikipedia.org/wiki/A_(b))",
        "[1]()",
        "[Study [1] and [3]](http://example.com/study)",
        "![Figure [1]](http://example.com/f.png)",
    ],
)
def test_non_citations_and_existing_links_are_unchanged(report: str) -> None:
    assert display(report) == report


def test_existing_numeric_link_stays_the_link_it_is() -> None:
    out = display("See [2](http://x) and [1].")
    assert anchors(out) == [("http://x", "2"), (HREF[1], "[1]")]


def test_existing_link_to_a_source_number_keeps_its_own_url() -> None:
    out = display("See [1](http://elsewhere) and [1].")
    assert anchors(out) == [("http://elsewhere", "1"), (HREF[1], "[1]")]


def test_link_text_holding_citations_stays_one_link() -> None:
    out = display("[Study [1]](http://x) and [3].")
    assert anchors(out) == [("http://x", "Study [1]"), (HREF[3], "[3]")]


def test_empty_and_none_report() -> None:
    assert display(None) == ""
    assert display("") == ""
    assert display(None, None) == ""


def test_text_without_citations_is_unchanged() -> None:
    report = "# Title\r\n\r\nPlain *text*, 3 > 2 & [a] (b).\r\n"
    assert display(report) == report


def test_idempotent() -> None:
    once = display("A [1][3][6] [9] ![1] `[1]`.\n\n[3]: http://wrong\n")
    assert display(once) == once


def test_leading_zeros_and_huge_numbers_are_not_sources() -> None:
    huge = "9" * 5000
    out = display(f"A [01] [{huge}] [1].")
    assert anchors(out) == [(HREF[1], "[1]")]
    assert f"A [01] [{huge}]" in render(out)


# -- against the renderer, on generated reports -----------------------------


def _generated_report(rng: random.Random) -> tuple[str, int]:
    """A report from random pieces, and how many citations should link."""
    pieces: list[str] = []
    linked = 0
    for _ in range(rng.randrange(1, 40)):
        choice = rng.randrange(8)
        if choice < 3:
            numbers = [rng.choice([1, 2, 3, 6, 9]) for _ in range(rng.randrange(1, 4))]
            linked += sum(n in HREF for n in numbers)
            pieces.append("".join(f"[{n}]" for n in numbers))
        elif choice == 3:
            pieces.append(f"`[{rng.choice([1, 3])}]`")
        elif choice == 4:
            pieces.append(f"\n\n```\n[{rng.choice([1, 3])}][6]\n```\n\n")
        elif choice == 5:
            pieces.append("\n\n")
        else:
            pieces.append(rng.choice(["word", "claim.", "**bold**", "- item", "[a]", "x"]))
    definitions = "".join(f"[{n}]: http://wrong/{n}\n" for n in (1, 3, 6, 9))
    return " ".join(pieces) + "\n\n" + definitions, linked


@pytest.mark.parametrize("seed", range(200))
def test_generated_reports_link_every_citation_to_its_source(seed: int) -> None:
    report, linked = _generated_report(random.Random(seed))
    out = display(report)
    links = anchors(out)
    assert len(links) == linked
    for href, text in links:
        number = int(text.strip("[]"))
        assert href == HREF[number]
    # Code renders exactly as it does from the raw report.
    code = re.compile(r"<code>(.*?)</code>", re.S)
    assert code.findall(render(out)) == code.findall(render(report))


# -- size --------------------------------------------------------------------


@pytest.mark.parametrize(
    "unit",
    [
        "Text with a claim [1][3][6] and `code [2]` more [9].\n\n",
        "`a",
        "[1](",
        '[1](x "',
        "[1](a(b",
        "[x [1] ",
        "[a\n(",
        "[1][a ",
        "```\n[1]\n",
    ],
)
def test_a_megabyte_report_is_fast(unit: str) -> None:
    report = unit * (1_000_000 // len(unit))
    start = time.perf_counter()
    display(report)
    assert time.perf_counter() - start < 5  # about 0.3 s here; quadratic would take hours
