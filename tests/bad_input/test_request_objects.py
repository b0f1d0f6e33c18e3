"""Request objects refuse what the factories refuse; what is close to a
mistake is accepted, and the emulator is no stricter than the client."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from scout_dagster._requests import (
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_QUERIES,
    RESERVED_COLUMN_NAMES,
    FindAllRequest,
    SearchRequest,
)
from scout_dagster.emulator import EmulatorServer
from scout_dagster.emulator import _schemas as emulator_schemas
from tests.bad_input.support import (
    QUERY,
)
from tests.conftest import TEST_KEY

# ---------------------------------------------------------------- request objects

# The factories hand their arguments to these; Components and direct callers
# build them themselves, so a bare string reaches them as a string.
REQUEST_ERRORS = [
    pytest.param(
        lambda: FindAllRequest(QUERY, fields="name,website"),  # type: ignore[arg-type]
        "fields must be a list of names, not one string: "
        "write ['name', 'website'] instead of 'name,website'",
        id="findall-fields-a-bare-string",
    ),
    pytest.param(
        lambda: FindAllRequest(QUERY, fields=("name", "name")),
        "field 'name' is given twice: name each field once "
        "(each becomes a column of the entities table)",
        id="findall-fields-duplicate",
    ),
    pytest.param(
        lambda: FindAllRequest(QUERY, fields=("entity_id",)),
        "field name(s) ['entity_id'] are reserved for the entities table's own columns; "
        f"rename them (reserved, in any case: {', '.join(RESERVED_COLUMN_NAMES)})",
        id="findall-fields-reserved",
    ),
    pytest.param(
        lambda: SearchRequest(("ev",), include_domains="reuters.com"),  # type: ignore[arg-type]
        "include_domains must be a list of domains, not one string: "
        "write ['reuters.com'] instead of 'reuters.com'",
        id="search-include-domains-a-bare-string",
    ),
    pytest.param(
        lambda: SearchRequest(("ev",), exclude_domains=("http://reuters.com",)),
        "exclude_domains[0] must be a domain such as 'reuters.com', not a URL: "
        "write 'reuters.com' instead of 'http://reuters.com'",
        id="search-exclude-domains-a-url",
    ),
    pytest.param(
        lambda: SearchRequest(("ev",), freshness=""),
        "freshness must be a non-empty string, got ''",
        id="search-freshness-empty",
    ),
    pytest.param(
        lambda: SearchRequest(("ev",), freshness=7),  # type: ignore[arg-type]
        "freshness must be a non-empty string, got 7",
        id="search-freshness-a-number",
    ),
]


@pytest.mark.parametrize(("build", "message"), REQUEST_ERRORS)
def test_request_objects_refuse_the_same_mistakes(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert str(caught.value) == message


def test_what_is_close_to_a_mistake_is_still_accepted() -> None:
    FindAllRequest(QUERY, fields=("name", "website", "founded year", "x"))
    FindAllRequest(QUERY, fields=("n",))  # one one-letter field is a list of one, not letters
    FindAllRequest(
        QUERY,
        output_schema={
            "type": "object",
            "properties": {"name": {"type": "string"}, "run": {"type": "string"}},
        },
    )
    request = SearchRequest(
        ("ev",),
        include_domains=("reuters.com", "www.bbc.co.uk", "xn--bcher-kva.de", "bücher.de"),
        exclude_domains=("example.com",),
        freshness="week",
    )
    assert request.include_domains == (
        "reuters.com",
        "www.bbc.co.uk",
        "xn--bcher-kva.de",
        "bücher.de",
    )


def test_the_reserved_names_are_the_tables_own_columns() -> None:
    """The request refuses exactly the names the entities table uses for itself
    (plus the hive folder level of a partitioned table), so the two cannot drift."""
    from scout_dagster._base_location import SINGLE_DIMENSION
    from scout_dagster.tables.schemas import RESERVED_COLUMNS, entities_schema

    own = set(entities_schema([]).names)
    assert own == set(RESERVED_COLUMNS)
    assert set(RESERVED_COLUMN_NAMES) == own | {SINGLE_DIMENSION}


def test_the_emulator_is_no_stricter_than_the_client() -> None:
    """The client's bounds are within the emulator's, so nothing the client lets
    through is refused there as a 422 (a run that was paid for in config only)."""
    assert MAX_SEARCH_QUERIES <= emulator_schemas.MAX_SEARCH_QUERIES
    assert MAX_SEARCH_LIMIT <= emulator_schemas.MAX_SEARCH_LIMIT


def test_the_emulator_accepts_a_request_at_every_client_bound(emulator: EmulatorServer) -> None:
    search = SearchRequest(
        tuple("q" * 2000 for _ in range(MAX_SEARCH_QUERIES)),
        objective="o" * 2000,
        limit=MAX_SEARCH_LIMIT,
        country="us",
        language="en",
        include_domains=("reuters.com", "bbc.co.uk"),
        exclude_domains=("example.com",),
        freshness="week",
    )
    findall = FindAllRequest(
        "q" * 2000,
        output_schema={
            "type": "object",
            "properties": {"name": {"type": "string"}, "run": {"type": "string"}},
        },
        limit=1,
        generator="pro",
    )
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with httpx.Client(base_url=emulator.url, headers=headers) as http:
        for path, body in (("/v1/search", search.body()), ("/v1/findall/runs", findall.body())):
            response = http.post(path, json=body)
            assert response.status_code == 200, (path, response.text)
            run_id = response.json().get("search_id") or response.json()["findall_id"]
            cancel = "/v1/searches" if path == "/v1/search" else "/v1/findall/runs"
            http.post(f"{cancel}/{run_id}/cancel")
