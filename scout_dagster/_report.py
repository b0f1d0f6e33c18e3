"""A deep-search report as Markdown for display. Pure text, no Dagster.

A deep-search run's report cites its sources as ``[N]``, numbered like the
run's ``sources`` (:attr:`SearchSource.index`). Markdown reads those brackets
as reference links: adjacent citations ``[1][3][6]`` are a *full reference
link* (text ``1``, label ``3``) followed by a shortcut reference ``[6]``. The
Dagster UI shows them mangled ("16"), and a CommonMark renderer, when the
report ends with definitions such as ``[3]: https://...``, links the text "1"
to source 3's URL: a citation pointing at the wrong source.

:func:`report_for_display` rewrites the citations so every renderer shows
what the report means; the raw report (``SearchRun.report``) stays untouched
wherever it is stored:

- ``[N]`` whose N is a source's ``index`` becomes the inline link
  ``[\\[N\\]](<url>)``: it shows as ``[N]``, and adjacent citations are
  separate links. The URL goes in angle brackets (CommonMark's form for a
  destination holding spaces or parentheses), with ``\\``, ``<`` and ``>``
  backslash-escaped, ``&`` escaped where it would read as an entity, and
  line breaks percent-encoded. A source whose URL is empty or uses a scheme
  renderers refuse to link (``javascript:``, ``vbscript:``, ``data:``,
  ``file:``) counts as no source.
- ``[N]`` with no such source is escaped, ``\\[N\\]``: it shows literally
  and is never read as a link or a reference.
- Reference definitions (``[3]: https://...`` lines, typically a report's
  source list) are left as they are: they render as nothing, and since the
  rewritten citations are inline links or escaped text, no citation uses them.
  A citation therefore always links to the source with its index, whatever
  the definitions say.
- Left alone: fenced code blocks, inline code spans, autolinks, backslash
  escapes, brackets that are not a plain integer (``[a]``, ``[ ]``,
  ``[see here](http://x)``), an existing link whose text is a number or
  holds citations (``[2](http://x)``, ``[Study [1]](http://x)``) and a full
  reference link to a defined non-numeric label (``[2][paper]``). A
  ``!`` right before a rewritten citation is escaped so it does not become an
  image.

It works with regular expressions over lines and paragraphs, not a Markdown
parser, in time linear in the report (reports can be megabytes). Known
approximations: indented (4-space) code blocks and raw HTML are treated as
prose, since nested list items in reports are indented as deeply; a link
destination may nest one level of parentheses; a code span or definition is
recognized within the paragraph (blank-line-separated block) it starts in.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

from scout_dagster._models import SearchSource

__all__ = ["report_for_display"]

# Block level, one line at a time (line ending removed). Container prefixes
# (block quotes, a list marker) and any indentation are accepted: a fence or
# definition nested in a list is indented more than CommonMark's 3 spaces.
_CONTAINER = r"(?:[ \t]*>)*[ \t]*"
_LIST_MARKER = r"(?:[-+*]|[0-9]{1,9}[.)])[ \t]+"
_FENCE_OPEN = re.compile(_CONTAINER + r"(?:" + _LIST_MARKER + r")?(`{3,}|~{3,})(.*)")
_FENCE_CLOSE = re.compile(_CONTAINER + r"(`{3,}|~{3,})[ \t]*")
_BLANK = re.compile(r"(?:[ \t]*>)*[ \t]*")
_HEADING = re.compile(_CONTAINER + r"#{1,6}(?:[ \t]|$)")
_LIST_ITEM = re.compile(_CONTAINER + _LIST_MARKER)
_DEFINITION = re.compile(
    _CONTAINER
    + r"("
    + _LIST_MARKER
    + r")?"
    + r"\[((?:[^\[\]\\]|\\.){1,999})\]:[ \t]*"
    + r"(?:<(?:[^<>\\]|\\.)*>|[^\s<]\S*)"
    + r"""(?:[ \t]+(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|\((?:[^()\\]|\\.)*\)))?[ \t]*"""
)

# Inline level. The tail of an inline link, ``(destination "title")``, to
# recognize links already in the report. Possessive repetitions and one
# level of parentheses in a destination keep every scan bounded by the next
# space, parenthesis or quote, so the whole pass stays linear.
_WS = r"[ \t]*(?:\r?\n[ \t]*)?"
_PUNCT = r"""[!-/:-@\[-`{-~]"""
_DEST_CHAR = r"(?:[^\x00-\x20()\\]|\\" + _PUNCT + r"|\\)"
_DEST = (
    r"(?:<(?:[^<>\n\\]|\\[\s\S])*+>"
    r"|(?!<)(?:" + _DEST_CHAR + r"|\((?:" + _DEST_CHAR + r")*+\))*+)"
)
_TITLE = r"""(?:"(?:[^"\\]|\\[\s\S])*+"|'(?:[^'\\]|\\[\s\S])*+'|\((?:[^()\\]|\\[\s\S])*+\))"""
_LINK_TAIL = r"\(" + _WS + _DEST + r"(?:(?=[ \t\r\n])" + _WS + _TITLE + r")?" + _WS + r"\)"
# Link text: anything without brackets, escapes, short code spans, citations.
_LINK_TEXT = r"(?:[^\[\]\\`]|\\[\s\S]|`[^`\[\]]*`|\[[0-9]+\])*+"

_INLINE = re.compile(
    r"(?P<escape>\\[\s\S])"
    r"|(?P<ticks>`+)"
    r"|(?P<autolink><[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>]*>)"
    r"|(?P<link>!?\[" + _LINK_TEXT + r"\]" + _LINK_TAIL + r")"
    r"|(?P<cite>(?P<bang>!)?\[(?P<n>[0-9]+)\])"
)
_LABEL = re.compile(r"\[((?:[^\[\]\\]|\\[\s\S]){1,999})\]")
_BACKTICK_RUN = re.compile(r"`+")
_DEST_ESCAPE = re.compile(r"[\\<>]|&(?=#?[0-9A-Za-z]+;)|\r|\n")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):")
_UNLINKABLE_SCHEMES = frozenset({"javascript", "vbscript", "data", "file"})


def report_for_display(report: str | None, sources: Sequence[SearchSource] | None) -> str:
    """The report as Markdown whose citations render as links to their sources.

    See the module docstring for what is rewritten and what is left alone.
    ``None`` or an empty report gives ``""``. With several sources of one
    index, the first is used.
    """
    if not report:
        return ""
    urls: dict[str, str] = {}
    for source in sources or ():
        if source.index is None:
            continue
        destination = _destination(source.url)
        if destination is not None:
            urls.setdefault(str(source.index), destination)
    segments, labels = _blocks(report)
    return "".join(_inline(text, urls, labels) if prose else text for prose, text in segments)


def _destination(url: str) -> str | None:
    """``url`` as a CommonMark ``<...>`` destination, or None if not linkable."""
    url = url.strip()
    if not url:
        return None
    scheme = _SCHEME.match(re.sub(r"[\x00-\x20]", "", url).lower())
    if scheme is not None and scheme.group(1) in _UNLINKABLE_SCHEMES:
        return None

    def escape(match: re.Match[str]) -> str:
        char = match.group()
        if char == "\r":
            return "%0D"
        if char == "\n":
            return "%0A"
        return "\\" + char

    return "<" + _DEST_ESCAPE.sub(escape, url) + ">"


def _normalize_label(label: str) -> str:
    return " ".join(label.split()).casefold()


def _blocks(report: str) -> tuple[list[tuple[bool, str]], set[str]]:
    """Cut the report into (is_prose, text) pieces, and the defined labels.

    Fenced code blocks, blank lines and reference definitions are not prose.
    Prose pieces are paragraphs (cut at blank lines, headings and list
    items), the units inline code spans cannot cross.
    """
    segments: list[tuple[bool, str]] = []
    labels: set[str] = set()
    paragraph: list[str] = []
    fence: tuple[str, int] | None = None  # the open fence's character and length
    # A definition cannot interrupt a paragraph: it must follow one of these.
    after_break = True

    def flush() -> None:
        if paragraph:
            segments.append((True, "".join(paragraph)))
            paragraph.clear()

    for line in report.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if fence is not None:
            segments.append((False, line))
            close = _FENCE_CLOSE.fullmatch(body)
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= fence[1]:
                fence = None
                after_break = True
            continue
        opening = _FENCE_OPEN.fullmatch(body)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            flush()
            segments.append((False, line))
            fence = (opening.group(1)[0], len(opening.group(1)))
            continue
        if _BLANK.fullmatch(body):
            flush()
            segments.append((False, line))
            after_break = True
            continue
        definition = _DEFINITION.fullmatch(body)
        if definition and (after_break or definition.group(1)):
            flush()
            segments.append((False, line))
            labels.add(_normalize_label(definition.group(2)))
            after_break = True
            continue
        if _HEADING.match(body):
            flush()
            segments.append((True, line))
            after_break = True
            continue
        if _LIST_ITEM.match(body):
            flush()
        paragraph.append(line)
        after_break = False
    flush()
    return segments, labels


def _inline(text: str, urls: dict[str, str], labels: set[str]) -> str:
    """Rewrite the citations of one paragraph (see the module docstring)."""
    runs: dict[int, list[int]] = {}
    for run in _BACKTICK_RUN.finditer(text):
        runs.setdefault(len(run.group()), []).append(run.start())
    out: list[str] = []
    copied = 0  # text[:copied] is in out
    position = 0
    while (match := _INLINE.search(text, position)) is not None:
        kind = match.lastgroup
        position = match.end()
        if kind == "ticks":
            # A code span closes at the next run of exactly as many backticks;
            # an opening run without one is literal backticks.
            starts = runs.get(len(match.group()), [])
            i = bisect_left(starts, match.end())
            if i < len(starts):
                position = starts[i] + len(match.group())
            continue
        if kind != "cite":
            continue  # an escape, an autolink or an existing link: kept as is
        after = _LABEL.match(text, match.end())
        if (
            after is not None
            and not after.group(1).strip().isdigit()
            and _normalize_label(after.group(1)) in labels
        ):
            position = after.end()  # [2][paper]: an existing reference link
            continue
        number = match.group("n")
        url = urls.get(number)
        out.append(text[copied : match.start()])
        if url is None:
            out.append(f"{match.group('bang') or ''}\\[{number}\\]")
        else:
            bang = "\\!" if match.group("bang") else ""
            out.append(f"{bang}[\\[{number}\\]]({url})")
        copied = match.end()
    out.append(text[copied:])
    return "".join(out)
