"""The synthetic world's companies: one global pool addressed by index.

A company is a pure function of its index: the pool's stems come in a
scrambled but fixed order and every attribute is drawn from an RNG seeded by
the index, so company ``i`` is the same in every process and on every machine.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass

from ._seeded import seeded_rng

__all__ = ["FIRST_NAMES", "LAST_NAMES", "Company", "company", "pool_size"]

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
FIRST_NAMES = ("Ada", "Ben", "Chen", "Dana", "Emeka", "Farah", "Giulia", "Hiro", "Ines", "Jonas")
LAST_NAMES = ("Alvarez", "Brooks", "Cohen", "Dubois", "Eriksen", "Fischer", "Gupta", "Hale")
_COUNTRIES = {
    "California": "United States", "New York": "United States", "Texas": "United States",
    "Massachusetts": "United States", "Washington": "United States",
    "New Jersey": "United States", "Colorado": "United States", "Illinois": "United States",
    "Georgia": "United States", "Florida": "United States", "England": "United Kingdom",
    "Ontario": "Canada", "Quebec": "Canada",
}  # fmt: skip


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
        ceo=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
    )
