"""The emulator's deterministic synthetic world.

Everything here is a pure function of its arguments: no I/O, no clock, no
global mutable state. Randomness comes from ``random.Random`` instances seeded
with SHA-256 digests of the inputs, so the same query yields the same entities,
in the same order, in every process and on every machine.

Companies form one global pool addressed by index. A FindAll query picks a
deterministic subset of that pool; because a fraction of every pick comes from
a small "well-known" head of the pool, two different queries share entities now
and then, and a shared entity has the same ``candidate_id`` everywhere.

A search query maps onto SERP pages of deterministic results drawn from a fixed
set of news and reference domains.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "FINDALL_DEFAULT_FIELDS",
    "SOURCES_PER_PAGE",
    "Company",
    "Condition",
    "SerpEntry",
    "WorldCandidate",
    "company",
    "entity_row",
    "field_value",
    "findall_candidates",
    "findall_conditions",
    "pages_per_query",
    "schema_value",
    "seeded_rng",
    "serp_page",
    "subqueries",
]

Json = Any
Verdict = Literal["matched", "unmatched", "discarded"]

# Fields an entity carries when a run asks for neither ``fields`` nor
# ``output_schema``; these are the fields of the vendor's FindAll example.
FINDALL_DEFAULT_FIELDS: tuple[str, ...] = ("name", "website", "headquarters")


def seeded_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded by the SHA-256 of ``parts`` (stable across processes)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "topic"


# --- the company pool -------------------------------------------------------

_PREFIXES = (
    "Lum", "Quant", "Vel", "Nex", "Orb", "Zen", "Kal", "Syn", "Aer", "Cor",
    "Hel", "Ix", "Nov", "Pyr", "Sol", "Ter", "Vor", "Ast", "Bry", "Cyn",
    "Dex", "Elo", "Fyn", "Gal", "Hyp", "Jun", "Kor", "Lyr", "Myr", "Pol",
)  # fmt: skip
_MIDDLES = ("o", "a", "i", "e", "ar", "en", "is", "or", "ex", "an", "il", "um", "yx", "el")
_ENDINGS = (
    "ra", "x", "nia", "lo", "sys", "vo", "ta", "dex", "ly", "mo", "rix",
    "na", "ton", "vex", "ium", "zen",
)  # fmt: skip
_SUFFIXES = (
    "AI", "Labs", "Systems", "Cloud", "Robotics", "Bio", "Analytics", "Networks",
    "Data", "Dynamics", "Compute", "Health", "Energy", "Security", "",
)  # fmt: skip
_CITIES = (
    "San Francisco, California", "New York, New York", "Austin, Texas",
    "Boston, Massachusetts", "Seattle, Washington", "Livingston, New Jersey",
    "Palo Alto, California", "Denver, Colorado", "Chicago, Illinois",
    "Atlanta, Georgia", "Miami, Florida", "Los Angeles, California",
    "London, England", "Berlin, Germany", "Paris, France", "Amsterdam, Netherlands",
    "Stockholm, Sweden", "Zurich, Switzerland", "Toronto, Ontario", "Montreal, Quebec",
    "Tel Aviv, Israel", "Singapore, Singapore", "Bangalore, India", "Tokyo, Japan",
    "Sydney, Australia", "Dublin, Ireland",
)  # fmt: skip
_INDUSTRIES = (
    "AI infrastructure", "developer tools", "cybersecurity", "fintech", "healthcare AI",
    "climate tech", "robotics", "data infrastructure", "biotech", "logistics software",
    "edtech", "semiconductors",
)  # fmt: skip
_PRODUCTS = (
    "GPU cloud capacity", "an observability platform", "a vector database",
    "automated compliance tooling", "a payments API", "clinical documentation software",
    "battery analytics", "warehouse robots", "a data-pipeline service",
    "protein-design models", "fleet routing software", "chip verification tools",
)  # fmt: skip
_MARKETS = (
    "enterprises", "startups", "hospitals", "banks", "utilities", "manufacturers",
    "retailers", "research labs", "public agencies", "software teams",
)  # fmt: skip
_FIRST_NAMES = ("Ada", "Ben", "Chen", "Dana", "Emeka", "Farah", "Giulia", "Hiro", "Ines", "Jonas")
_LAST_NAMES = ("Alvarez", "Brooks", "Cohen", "Dubois", "Eriksen", "Fischer", "Gupta", "Hale")
_COUNTRIES = {
    "California": "United States", "New York": "United States", "Texas": "United States",
    "Massachusetts": "United States", "Washington": "United States",
    "New Jersey": "United States", "Colorado": "United States", "Illinois": "United States",
    "Georgia": "United States", "Florida": "United States", "England": "United Kingdom",
    "Ontario": "Canada", "Quebec": "Canada",
}  # fmt: skip

# A query draws this share of its entities from the pool's head so that
# different queries overlap sometimes, as real enumerations of one market do.
_WELL_KNOWN_HEAD = 80
_WELL_KNOWN_SHARE = 0.25


@functools.cache
def _stems() -> tuple[str, ...]:
    """Every distinct company stem, in a scrambled but fixed order."""
    seen: dict[str, None] = {}
    for prefix in _PREFIXES:
        for middle in _MIDDLES:
            for ending in _ENDINGS:
                stem = (prefix + middle + ending).capitalize()
                # Doubled rare letters ("Astyxx") read as typos, not brands.
                if not re.search(r"([xyzkqv])\1|yx[^aeiou]", stem.lower()):
                    seen.setdefault(stem, None)
    stems = list(seen)
    seeded_rng("stems").shuffle(stems)
    return tuple(stems)


def pool_size() -> int:
    """Number of distinct companies in the world."""
    return len(_stems())


@dataclass(frozen=True)
class Company:
    """One company of the synthetic world; a pure function of its index."""

    index: int
    name: str
    slug: str
    website: str
    headquarters: str
    founded_year: int
    headcount: int
    industry: str
    description: str
    source_url: str
    ceo: str

    @property
    def candidate_id(self) -> str:
        """Stable id derived from the entity itself, never from the run that found it."""
        return "cand_" + hashlib.sha256(self.website.encode()).hexdigest()[:16]

    @property
    def country(self) -> str:
        region = self.headquarters.split(", ")[-1]
        return _COUNTRIES.get(region, region)


@functools.lru_cache(maxsize=4096)
def company(index: int) -> Company:
    """The company at ``index`` (0 <= index < pool_size())."""
    stems = _stems()
    if not 0 <= index < len(stems):
        raise IndexError(f"company index {index} outside the pool of {len(stems)}")
    stem = stems[index]
    rng = seeded_rng("company", index)
    suffix = rng.choice(_SUFFIXES)
    name = f"{stem} {suffix}".strip()
    slug = stem.lower()
    website = f"https://{slug}.com"
    industry = rng.choice(_INDUSTRIES)
    source_url = (
        f"https://en.wikipedia.org/wiki/{name.replace(' ', '_')}"
        if rng.random() < 0.5
        else f"{website}/about"
    )
    return Company(
        index=index,
        name=name,
        slug=slug,
        website=website,
        headquarters=rng.choice(_CITIES),
        founded_year=rng.randint(1998, 2023),
        headcount=round(math.exp(rng.uniform(math.log(8), math.log(9000)))),
        industry=industry,
        description=f"{name} builds {rng.choice(_PRODUCTS)} for {rng.choice(_MARKETS)} "
        f"in {industry}.",
        source_url=source_url,
        ceo=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
    )


# --- FindAll ----------------------------------------------------------------


@dataclass(frozen=True)
class WorldCandidate:
    """A candidate a FindAll run evaluates, with the verdict it will reach."""

    company: Company
    verdict: Verdict


@dataclass(frozen=True)
class Condition:
    """A match condition of a FindAll run's schema."""

    name: str
    description: str

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "description": self.description}


@functools.lru_cache(maxsize=1024)
def findall_candidates(query: str) -> tuple[WorldCandidate, ...]:
    """Every candidate a FindAll run for ``query`` evaluates, in processing order.

    Between 8 and 40 of them are matched (the query's entities, in world order);
    2 to 8 more are rejected (about 70 % unmatched, 30 % discarded) and sit at
    deterministic positions between the matches.
    """
    rng = seeded_rng("findall", query)
    size = pool_size()
    n_matched = rng.randint(8, 40)
    n_rejected = rng.randint(2, 8)
    picked: list[int] = []
    taken: set[int] = set()
    while len(picked) < n_matched + n_rejected:
        head = rng.random() < _WELL_KNOWN_SHARE
        index = rng.randrange(_WELL_KNOWN_HEAD) if head else rng.randrange(size)
        if index not in taken:
            taken.add(index)
            picked.append(index)
    sequence = [WorldCandidate(company(i), "matched") for i in picked[:n_matched]]
    for index in picked[n_matched:]:
        verdict: Verdict = "unmatched" if rng.random() < 0.7 else "discarded"
        sequence.insert(rng.randint(0, len(sequence)), WorldCandidate(company(index), verdict))
    return tuple(sequence)


def findall_conditions(query: str) -> tuple[Condition, ...]:
    """The match conditions a run derives from its query."""
    return (
        Condition("matches_query", f"The company fits the description: {query}"),
        Condition("is_operating_company", "The company is an operating business, not a fund"),
    )


def field_value(entity: Company, field: str, variant: int = 0) -> Json:
    """The value of a named entity field.

    Known names (name, website, headquarters, founded_year, headcount, ...) map to
    the company's attributes; any other name gets a deterministic plausible value
    chosen from hints in the name (``*_year`` an int, ``*email*`` an address, ...).
    ``variant`` tells apart the items of a list of the same field.
    """
    key = field.strip().lower().replace(" ", "_").replace("-", "_")
    known: dict[str, Json] = {
        "name": entity.name,
        "company": entity.name,
        "company_name": entity.name,
        "website": entity.website,
        "url": entity.website,
        "homepage": entity.website,
        "domain": f"{entity.slug}.com",
        "headquarters": entity.headquarters,
        "hq": entity.headquarters,
        "location": entity.headquarters,
        "city": entity.headquarters.split(", ")[0],
        "country": entity.country,
        "founded_year": entity.founded_year,
        "founded": entity.founded_year,
        "year_founded": entity.founded_year,
        "headcount": entity.headcount,
        "employees": entity.headcount,
        "employee_count": entity.headcount,
        "num_employees": entity.headcount,
        "description": entity.description,
        "summary": entity.description,
        "industry": entity.industry,
        "sector": entity.industry,
        "ceo": entity.ceo,
        "source": entity.source_url,
    }
    if key in known and variant == 0:
        return known[key]
    rng = seeded_rng("field", entity.index, key, variant)
    if "year" in key:
        return rng.randint(entity.founded_year, 2025)
    if any(hint in key for hint in ("count", "number", "num_", "size")):
        return rng.randint(1, 500)
    if "email" in key:
        return f"{rng.choice(('info', 'hello', 'press', 'sales'))}@{entity.slug}.com"
    if any(hint in key for hint in ("url", "link", "linkedin", "twitter")):
        return f"{entity.website}/{_slugify(key)}"
    if any(hint in key for hint in ("revenue", "funding", "valuation", "raised", "arr")):
        return f"${rng.uniform(1.0, 900.0):.1f}M"
    if any(hint in key for hint in ("founder", "ceo", "cto", "owner", "contact")):
        return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
    if key.startswith(("is_", "has_")):
        return rng.random() < 0.5
    label = key.replace("_", " ")
    adjective = rng.choice(("notable", "growing", "established", "emerging", "leading"))
    return f"{entity.name}: {adjective} {label} in {entity.industry}"


def schema_value(
    entity: Company, name: str, schema: Json, depth: int = 0, variant: int = 0
) -> Json:
    """A value of the JSON type that ``schema`` (one property's JSON Schema) declares.

    Handles string, integer, number, boolean, array and object (one level of
    nested ``properties``); a type list such as ``["string", "null"]`` uses its
    first non-null entry; a missing type is treated as string.
    """
    schema = schema if isinstance(schema, dict) else {}
    declared = schema.get("type", "string")
    if isinstance(declared, list):
        declared = next((t for t in declared if t != "null"), "string")
    rng = seeded_rng("schema", entity.index, name, declared, variant)
    if "enum" in schema and isinstance(schema["enum"], list) and schema["enum"]:
        return schema["enum"][rng.randrange(len(schema["enum"]))]
    natural = field_value(entity, name, variant)
    if declared == "integer":
        return (
            natural
            if isinstance(natural, int) and not isinstance(natural, bool)
            else (rng.randint(1, 1000))
        )
    if declared == "number":
        return (
            float(natural)
            if isinstance(natural, int) and not isinstance(natural, bool)
            else (round(rng.uniform(0.0, 1000.0), 2))
        )
    if declared == "boolean":
        return natural if isinstance(natural, bool) else rng.random() < 0.5
    if declared == "array":
        items = schema.get("items", {"type": "string"})
        count = rng.randint(1, 3)
        return [schema_value(entity, name, items, depth + 1, variant=i + 1) for i in range(count)]
    if declared == "object":
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties and depth < 2:
            return {
                key: schema_value(entity, key, sub, depth + 1) for key, sub in properties.items()
            }
        return {"value": str(natural)}
    return natural if isinstance(natural, str) else str(natural)


def entity_row(
    entity: Company, fields: Sequence[str], output_schema: Json | None
) -> dict[str, Json]:
    """The flat entity map a run reports: the requested fields, then ``source``."""
    row: dict[str, Json] = {field: field_value(entity, field) for field in fields}
    properties = (output_schema or {}).get("properties") or {}
    for name, sub in properties.items():
        row.setdefault(name, schema_value(entity, name, sub))
    row["source"] = entity.source_url
    return row


# --- search -----------------------------------------------------------------

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
    topic_slug = _slugify(topic)
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
        url = f"https://{domain}/{topic_slug}-{_slugify(angle)}-{article}"
        title_rng = seeded_rng("title", url)
        title = f"{topic.title()}: {angle.capitalize()} ({2020 + title_rng.randint(0, 5)})"
        claim = " ".join(title_rng.choice(words) for words in _SNIPPET_PARTS)
        snippet = f"{topic.capitalize()} {angle}: {claim}."
        entries.append(SerpEntry(title, url, snippet, domain, rng.choice(plans)))
    return tuple(entries)


# A deep search reads (and lists as sources) the top results of each SERP page.
SOURCES_PER_PAGE = 3
