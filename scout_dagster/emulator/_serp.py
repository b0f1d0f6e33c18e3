"""Search-engine results pages: what a search query finds.

A query maps onto SERP pages of deterministic results drawn from a fixed set
of news and reference domains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ._seeded import seeded_rng, slugify

__all__ = ["SOURCES_PER_PAGE", "SerpEntry", "pages_per_query", "serp_page", "subqueries"]

_DOMAINS = (
    "reuters.com", "bloomberg.com", "techcrunch.com", "en.wikipedia.org", "ft.com",
    "theverge.com", "nature.com", "mckinsey.com", "statista.com", "gartner.com",
    "forbes.com", "wsj.com", "arstechnica.com", "arxiv.org", "hbr.org", "economist.com",
    "cnbc.com", "axios.com",
)  # fmt: skip
_HIGH_QUALITY = frozenset(
    {
        "reuters.com",
        "nature.com",
        "ft.com",
        "wsj.com",
        "economist.com",
        "arxiv.org",
        "bloomberg.com",
    }
)
_ANGLES = (
    "market overview", "latest news", "key players", "growth outlook", "analysis",
    "regulation", "funding rounds", "adoption trends", "forecast", "case study",
)  # fmt: skip
_SUBQUERY_ANGLES = ("market size", "key players", "recent developments", "outlook", "risks")

_SNIPPET_PARTS = (
    ("analysts expect", "reports show", "data suggest", "experts see"),
    ("steady growth", "rising adoption", "new entrants", "consolidation"),
    ("this year", "through 2027", "in the near term", "across regions"),
)

# A topic's URL space (outlets x angles x articles) is small enough that pages
# and related queries repeat results, which merging must then de-duplicate.
_OUTLETS_PER_TOPIC = 6
_ARTICLES_PER_ANGLE = 2

# A SERP page lists this many results, as search engines do.
SERP_PAGE_SIZE = 10


@dataclass(frozen=True)
class SerpEntry:
    """One result on a search-engine results page."""

    title: str
    url: str
    snippet: str
    domain: str
    subquery: str

    @property
    def quality(self) -> str:
        if self.domain in _HIGH_QUALITY:
            return "high"
        return "medium" if seeded_rng("quality", self.url).random() < 0.7 else "low"


def pages_per_query(limit: int) -> int:
    """SERP pages fetched per query: one page of ten results per ten wanted."""
    return max(1, math.ceil(limit / SERP_PAGE_SIZE))


def subqueries(query: str) -> tuple[str, ...]:
    """The 2 to 4 subqueries a deep search plans for ``query``."""
    rng = seeded_rng("subqueries", query)
    angles = rng.sample(_SUBQUERY_ANGLES, rng.randint(2, 4))
    return tuple(f"{query} {angle}" for angle in angles)


def serp_page(
    query: str,
    page: int,
    include_domains: Sequence[str] = (),
    exclude_domains: Sequence[str] = (),
) -> tuple[SerpEntry, ...]:
    """Results page ``page`` (0-based) for ``query``.

    URLs are drawn from a small space per topic (the query's first words) so
    pages and related queries repeat some of them, which is what merging and
    de-duplicating by URL is for.
    """
    topic = " ".join(query.split()[:3]) or query
    topic_slug = slugify(topic)
    if include_domains:
        domains = list(include_domains)
    else:
        # Each topic is covered by a handful of outlets, as real result pages are.
        domains = seeded_rng("outlets", topic_slug).sample(_DOMAINS, _OUTLETS_PER_TOPIC)
    domains = [d for d in domains if d not in set(exclude_domains)]
    if not domains:
        return ()
    rng = seeded_rng("serp", query, page, ",".join(domains))
    plans = subqueries(query)
    entries: list[SerpEntry] = []
    for _ in range(SERP_PAGE_SIZE):
        domain = rng.choice(domains)
        angle = rng.choice(_ANGLES)
        article = rng.randint(1, _ARTICLES_PER_ANGLE)
        url = f"https://{domain}/{topic_slug}-{slugify(angle)}-{article}"
        title_rng = seeded_rng("title", url)
        title = f"{topic.title()}: {angle.capitalize()} ({2020 + title_rng.randint(0, 5)})"
        claim = " ".join(title_rng.choice(words) for words in _SNIPPET_PARTS)
        snippet = f"{topic.capitalize()} {angle}: {claim}."
        entries.append(SerpEntry(title, url, snippet, domain, rng.choice(plans)))
    return tuple(entries)


# A deep search reads (and lists as sources) the top results of each SERP page.
SOURCES_PER_PAGE = 3
