"""The synthetic world: determinism, overlap, stable ids (pure functions and over HTTP)."""

from __future__ import annotations

import itertools

import httpx

from scout_dagster.emulator import _world


def test_company_is_a_pure_function_of_its_index() -> None:
    assert _world.company(17) == _world.company(17)
    names = {_world.company(i).name for i in range(500)}
    websites = {_world.company(i).website for i in range(_world.pool_size())}
    assert len(names) == 500 and len(websites) == _world.pool_size()
    company = _world.company(3)
    assert company.website == f"https://{company.slug}.com"
    assert company.source_url in (
        f"https://en.wikipedia.org/wiki/{company.name.replace(' ', '_')}",
        f"{company.website}/about",
    )
    assert ", " in company.headquarters


def test_query_worlds_are_stable_and_sized() -> None:
    for query in ("a", "fintech in Berlin", "S-1 stage AI infrastructure companies"):
        candidates = _world.findall_candidates(query)
        matched = [c for c in candidates if c.verdict == "matched"]
        assert 8 <= len(matched) <= 40
        assert len(candidates) > len(matched)
        assert candidates == _world.findall_candidates(query)


def test_different_queries_overlap_sometimes() -> None:
    worlds = {
        q: {c.company.index for c in _world.findall_candidates(q) if c.verdict == "matched"}
        for q in (f"market segment {n}" for n in range(12))
    }
    pairs = list(itertools.combinations(worlds.values(), 2))
    overlapping = sum(bool(a & b) for a, b in pairs)
    assert 0 < overlapping < len(pairs)


def test_same_query_same_entities_over_http(client: httpx.Client) -> None:
    body = {"query": "climate tech in Europe", "limit": 6}
    first = client.post("/v1/findall", json=body).json()
    second = client.post("/v1/findall", json=body).json()
    assert first["findall_id"] != second["findall_id"]
    assert first["entities"] == second["entities"]
    assert first["candidates"] == second["candidates"]


def test_candidate_ids_come_from_the_entity(client: httpx.Client) -> None:
    queries = [f"market segment {n}" for n in range(12)]
    by_query = {
        q: client.post("/v1/findall", json={"query": q}).json()["candidates"] for q in queries
    }
    ids_by_website: dict[str, set[str]] = {}
    for candidates in by_query.values():
        for candidate in candidates:
            ids_by_website.setdefault(candidate["url"], set()).add(candidate["candidate_id"])
    assert all(len(ids) == 1 for ids in ids_by_website.values())
    shared = [
        (a, b)
        for a, b in itertools.combinations(queries, 2)
        if {c["candidate_id"] for c in by_query[a]} & {c["candidate_id"] for c in by_query[b]}
    ]
    assert shared  # the same entity found by two runs keeps its id


def test_unknown_fields_get_plausible_values() -> None:
    company = _world.company(42)
    assert isinstance(_world.field_value(company, "series_a_year"), int)
    assert _world.field_value(company, "press_email").endswith(f"@{company.slug}.com")
    assert _world.field_value(company, "total_funding").startswith("$")
    assert _world.field_value(company, "linkedin_url").startswith(company.website)
    assert _world.field_value(company, "favourite colour") == _world.field_value(
        company, "favourite colour"
    )


def test_search_pages_are_deterministic_and_overlap() -> None:
    page = _world.serp_page("solar panels", 0)
    assert page == _world.serp_page("solar panels", 0) and len(page) == 10
    urls = [e.url for p in range(3) for e in _world.serp_page("solar panels", p)]
    assert len(set(urls)) < len(urls)  # pages repeat some results: merging has work to do
    assert all(e.subquery in _world.subqueries("solar panels") for e in page)
