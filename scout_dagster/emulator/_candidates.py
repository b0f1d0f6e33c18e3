"""The candidates a FindAll query evaluates, and the conditions it judges them by.

A query picks a deterministic subset of the company pool; because a fraction
of every pick comes from a small "well-known" head of the pool, two different
queries share entities now and then, and a shared entity has the same
``candidate_id`` everywhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from ._companies import Company, company, pool_size
from ._seeded import seeded_rng

__all__ = ["Condition", "Verdict", "WorldCandidate", "findall_candidates", "findall_conditions"]

Verdict = Literal["matched", "unmatched", "discarded"]

# A query draws this share of its entities from the pool's head so that
# different queries overlap sometimes, as real enumerations of one market do.
_WELL_KNOWN_HEAD = 80
_WELL_KNOWN_SHARE = 0.25


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
