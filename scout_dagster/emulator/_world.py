"""The emulator's deterministic synthetic world, in one namespace.

Everything in it is a pure function of its arguments: no I/O, no clock, no
global mutable state, and randomness seeded by the inputs (``_seeded``), so the
same query yields the same entities, in the same order, in every process and
on every machine. Its parts:

- ``_companies``: the global pool of companies, addressed by index;
- ``_candidates``: the candidates a FindAll query evaluates and its conditions;
- ``_field_values``: the values of an entity's fields and schema properties;
- ``_serp``: the search-engine results pages a search query maps onto.
"""

from __future__ import annotations

from ._candidates import Condition, Verdict, WorldCandidate, findall_candidates, findall_conditions
from ._companies import Company, company, pool_size
from ._field_values import FINDALL_DEFAULT_FIELDS, entity_row, field_value, schema_value
from ._seeded import seeded_rng
from ._serp import (
    SERP_PAGE_SIZE,
    SOURCES_PER_PAGE,
    SerpEntry,
    pages_per_query,
    serp_page,
    subqueries,
)

__all__ = [
    "FINDALL_DEFAULT_FIELDS",
    "SERP_PAGE_SIZE",
    "SOURCES_PER_PAGE",
    "Company",
    "Condition",
    "SerpEntry",
    "Verdict",
    "WorldCandidate",
    "company",
    "entity_row",
    "field_value",
    "findall_candidates",
    "findall_conditions",
    "pages_per_query",
    "pool_size",
    "schema_value",
    "seeded_rng",
    "serp_page",
    "subqueries",
]
