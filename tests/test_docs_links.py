"""Every relative link in README.md and docs/ points at a file of this repository.

Links into the repository (``[tables](docs/tables.md)``, ``../scout_dagster/...``)
must name a file or folder that exists, and a ``#fragment`` must name a heading
of the page it points at (GitHub's anchors). Links in code blocks and inline
code, and links to other sites, are not checked here.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The pages checked: the README, every page under docs/, the emulator's README.
PAGES = sorted(
    [
        ROOT / "README.md",
        ROOT / "scout_dagster" / "emulator" / "README.md",
        *ROOT.glob("docs/**/*.md"),
    ]
)

#: Pages the docs link to that another change is writing. A link to one of
#: them passes while the page does not exist yet, and is checked like any other
#: once it does; take a name out of this set when its page is committed.
PENDING = {ROOT / "docs" / "enrich-extend.md", ROOT / "docs" / "benchmarks.md"}

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", flags=re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", flags=re.DOTALL)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", flags=re.MULTILINE)


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    return _LINK.findall(_prose(text))


def anchors(text: str) -> set[str]:
    """GitHub's anchors of a page's headings: lower-cased, punctuation dropped,
    spaces as hyphens, repeats numbered -1, -2, ..."""
    seen: dict[str, int] = {}
    result = set()
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", plain.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def _relative(target: str) -> bool:
    return not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) and not target.startswith("//")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    text = page.read_text()
    broken = []
    for target in links(text):
        if not _relative(target):
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not resolved.exists():
            if resolved not in PENDING:
                broken.append(f"{target}: no such file")
            continue
        if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text()):
            broken.append(f"{target}: no heading #{fragment}")
        if ROOT not in resolved.parents and resolved != ROOT:
            broken.append(f"{target}: outside the repository")
    assert broken == [], f"{page.relative_to(ROOT)}: {broken}"


def test_the_checks_find_what_they_look_for() -> None:
    text = (
        "See [a](docs/a.md#b-c), ![img](x.png) and [site](https://example.com).\n"
        "`[not](code.md)`\n```\n[nor](block.md)\n```\n# B c\n## `Code` and, punctuation!\n# B c\n"
    )
    assert links(text) == ["docs/a.md#b-c", "x.png", "https://example.com"]
    assert anchors(text) == {"b-c", "code-and-punctuation", "b-c-1"}
    assert not _relative("https://example.com") and _relative("../x.md")
