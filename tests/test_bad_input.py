"""The bad-input matrix: every mistake a user can make fails early, clearly, and for free.

Each case checks the exact sentence the user reads, that nothing was written
under the IO manager's base path, and that no paid run is left running.
Configuration mistakes must not cost a single request; an API that refuses
the create must leave no run behind and say which call failed, with what
status, the server's own words and our hint.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import (
    AssetsDefinition,
    DailyPartitionsDefinition,
    EnvVar,
    ExecuteInProcessResult,
    StaticPartitionsDefinition,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from scout_dagster._config import normalize_base_url
from scout_dagster._requests import (
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_QUERIES,
    RESERVED_COLUMN_NAMES,
    FindAllRequest,
    SearchRequest,
)
from scout_dagster.emulator import EmulatorServer
from scout_dagster.emulator import _schemas as emulator_schemas
from tests.conftest import TEST_KEY

QUERY = "S-1 stage AI infrastructure companies"
SEARCH_QUERIES = ["latest electric vehicle market trends"]
URL_EXAMPLE = "'https://core.usescout.sh'"


# ---------------------------------------------------------------- helpers


def tables_path(tmp_path: Path) -> Path:
    """The IO manager's base path; it must not exist after a failed materialization."""
    return tmp_path / "tables"


def resources(scout: ScoutResource, tmp_path: Path) -> dict[str, Any]:
    return {
        "scout": scout,
        "scout_io_manager": ScoutParquetIOManager(base_path=str(tables_path(tmp_path))),
    }


def emulator_resource(server: EmulatorServer, **kwargs: Any) -> ScoutResource:
    # max_retries=1: a retried status (409) costs one backoff of at most 0.5 s.
    return ScoutResource(api_key=TEST_KEY, base_url=server.url, max_retries=1, **kwargs)


def error_chain(error: BaseException | None) -> list[BaseException]:
    """The error and everything it was raised from or while handling."""
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def assert_nothing_written_or_running(
    server: EmulatorServer, tmp_path: Path, *, no_requests: bool
) -> None:
    base = tables_path(tmp_path)
    assert not base.exists(), f"tables were written: {sorted(map(str, base.rglob('*')))}"
    assert server.ledger.active_runs() == []
    assert server.ledger.creates() == 0
    if no_requests:
        assert server.ledger.requests == [], "a configuration error reached the API"


def only_step_failure_description(result: ExecuteInProcessResult) -> str:
    """The user-facing message of the one failed step (the Failure's description)."""
    assert not result.success
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data
    assert data.user_failure_data is not None, "the step did not fail with a dagster.Failure"
    description = data.user_failure_data.description
    assert description is not None
    # The same sentence is what the UI shows as the step's error.
    assert data.error is not None and description in data.error.message
    return description


# ---------------------------------------------------------------- the controls


def test_control_the_same_setup_writes_tables_and_leaves_nothing_running(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    """Without a mistake the checks below would see tables, requests and a create,
    so their 'nothing happened' is not vacuous."""
    assets = [
        build_findall_assets("ai", QUERY, limit=2),
        build_search_assets("ev", SEARCH_QUERIES),
    ]
    result = materialize(assets, resources=resources(emulator_resource(emulator), tmp_path))
    assert result.success
    assert (tables_path(tmp_path) / "ai_entities" / "data.parquet").exists()
    assert (tables_path(tmp_path) / "ev_report" / "report.md").exists()
    assert emulator.ledger.creates() == 2 and emulator.ledger.active_runs() == []


def test_the_limits_themselves_are_accepted(emulator: EmulatorServer) -> None:
    build_findall_assets("ai", "q" * 2000, limit=1, timeout_s=0.001, credit_budget=1)
    build_search_assets("ev", ["q" * 2000], limit=1, timeout_s=0.001, credit_budget=1)
    assert emulator.ledger.requests == []


# ---------------------------------------------------------------- factory configuration

_SCHEMA_TYPES = "['array', 'boolean', 'integer', 'null', 'number', 'object', 'string']"

FINDALL_CONFIG_ERRORS = [
    pytest.param(
        {"partitions_def": DailyPartitionsDefinition(start_date="2026-01-01")},
        "this asset is partitioned, but its query names no partition, so every partition "
        "would pay for the same run; use one of {partition_key}, {start}, {end} (e.g. 'AI "
        "startups founded in {start:%B %Y}'), or drop partitions_def",
        id="partitioned-without-a-placeholder",
    ),
    pytest.param({"query": ""}, "query must be a non-empty string, got ''", id="empty-query"),
    pytest.param(
        {"query": "  \t "}, "query must be a non-empty string, got '  \\t '", id="blank-query"
    ),
    pytest.param(
        {"query": "q" * 2001},
        "query is 2001 characters long; the most allowed is 2000",
        id="query-2001-chars",
    ),
    pytest.param({"limit": 0}, "limit must be a whole number of at least 1, got 0", id="limit-0"),
    pytest.param(
        {"limit": -1}, "limit must be a whole number of at least 1, got -1", id="limit-minus-1"
    ),
    pytest.param(
        {"limit": True}, "limit must be a whole number of at least 1, got True", id="limit-True"
    ),
    pytest.param(
        {"timeout_s": 0},
        "timeout_s must be a positive number of seconds, got 0 (below 604800, a week)",
        id="timeout-0",
    ),
    pytest.param(
        {"timeout_s": -5},
        "timeout_s must be a positive number of seconds, got -5 (below 604800, a week)",
        id="timeout-minus-5",
    ),
    pytest.param(
        {"timeout_s": True},
        "timeout_s must be a positive number of seconds, got True (below 604800, a week)",
        id="timeout-True",
    ),
    pytest.param(
        {"timeout_s": float("inf")},
        "timeout_s must be a positive number of seconds, got inf (below 604800, a week)",
        id="timeout-infinite",
    ),
    pytest.param(
        {"output_schema": '{"type": "object", "properties": {"name": {"type": "string"}}}'},
        "output_schema must be a JSON Schema object, got str",
        id="schema-is-json-text-not-an-object",
    ),
    pytest.param(
        {"output_schema": [{"type": "string"}]},
        "output_schema must be a JSON Schema object, got list",
        id="schema-is-a-list",
    ),
    pytest.param(
        {"output_schema": {"type": "array", "items": {"type": "object"}}},
        'output_schema must have "type": "object" at its top level',
        id="schema-top-level-array",
    ),
    pytest.param(
        {"output_schema": {"type": "object"}},
        'output_schema must have a non-empty "properties" object',
        id="schema-without-properties",
    ),
    pytest.param(
        {"output_schema": {"type": "object", "properties": {}}},
        'output_schema must have a non-empty "properties" object',
        id="schema-empty-properties",
    ),
    pytest.param(
        {"output_schema": {"type": "object", "properties": {"founded": {"type": "int"}}}},
        f"output_schema property 'founded' has unknown type 'int'; use one of {_SCHEMA_TYPES}",
        id="schema-unknown-type",
    ),
    pytest.param(
        {"output_schema": {"type": "object", "properties": {"name": "string"}}},
        "output_schema property 'name' must be an object, got 'string'",
        id="schema-property-not-an-object",
    ),
    pytest.param(
        {"generator": "ultra"},
        "generator must be one of ('base', 'core', 'pro'), got 'ultra'",
        id="unknown-generator",
    ),
    pytest.param(
        {"credit_budget": 0},
        "credit_budget must be at least 1 credit, got 0",
        id="credit-budget-0",
    ),
    # bool is an int to Python, never a number of credits or seconds to a user; a
    # number read from the environment as text must be refused by name too.
    pytest.param(
        {"credit_budget": True},
        "credit_budget must be at least 1 credit, got True",
        id="credit-budget-True",
    ),
    pytest.param(
        {"credit_budget": "10"},
        "credit_budget must be at least 1 credit, got '10'",
        id="credit-budget-str",
    ),
    pytest.param(
        {"timeout_s": "60"},
        "timeout_s must be a positive number of seconds, got '60' (below 604800, a week)",
        id="timeout-str",
    ),
    # A bare string reaches the factory as letters (each letter a column): refuse it
    # with the list the user meant.
    pytest.param(
        {"fields": "name,website"},
        "fields must be a list of names, not one string: "
        "write ['name', 'website'] instead of 'name,website'",
        id="fields-a-bare-string",
    ),
    pytest.param(
        {"fields": "name, website"},
        "fields must be a list of names, not one string: "
        "write ['name', 'website'] instead of 'name, website'",
        id="fields-a-bare-string-with-a-space",
    ),
    pytest.param(
        {"fields": "name"},
        "fields must be a list of names, not one string: write ['name'] instead of 'name'",
        id="fields-one-bare-name",
    ),
    # Two columns of one name: pyarrow and pandas refuse to read the Parquet back.
    pytest.param(
        {"fields": ["name", "website", "name"]},
        "field 'name' is given twice: name each field once "
        "(each becomes a column of the entities table)",
        id="fields-duplicate",
    ),
    pytest.param(
        {"fields": ["name", "Name"]},
        "field 'name' and 'Name' differ only in case: Parquet readers that match columns "
        "case-insensitively (Spark, Athena, DuckDB) take them for one column; keep one",
        id="fields-duplicate-but-for-case",
    ),
    pytest.param(
        {"fields": ["name", "run_id"]},
        "field name(s) ['run_id'] are reserved for the entities table's own columns; "
        f"rename them (reserved, in any case: {', '.join(RESERVED_COLUMN_NAMES)})",
        id="fields-provenance-column",
    ),
    pytest.param(
        {"fields": ["name", "Source_URL", "Fetched_At"]},
        "field name(s) ['Source_URL', 'Fetched_At'] are reserved for the entities table's "
        f"own columns; rename them (reserved, in any case: {', '.join(RESERVED_COLUMN_NAMES)})",
        id="fields-provenance-column-but-for-case",
    ),
    # A partitioned table read as a hive dataset gains a 'partition' column.
    pytest.param(
        {"fields": ["name", "partition"]},
        "field name(s) ['partition'] are reserved for the entities table's own columns; "
        f"rename them (reserved, in any case: {', '.join(RESERVED_COLUMN_NAMES)})",
        id="fields-partition-folder-column",
    ),
    pytest.param(
        {
            "output_schema": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "query": {"type": "string"}},
            }
        },
        "output_schema property name(s) ['query'] are reserved for the entities table's own "
        f"columns; rename them (reserved, in any case: {', '.join(RESERVED_COLUMN_NAMES)})",
        id="schema-provenance-column",
    ),
    pytest.param(
        {
            "output_schema": {
                "type": "object",
                "properties": {"Website": {"type": "string"}, "website": {"type": "string"}},
            }
        },
        "output_schema property 'Website' and 'website' differ only in case: Parquet readers "
        "that match columns case-insensitively (Spark, Athena, DuckDB) take them for one "
        "column; keep one",
        id="schema-duplicate-but-for-case",
    ),
    pytest.param(
        {"output_schema": {"type": "object", "properties": {" ": {"type": "string"}}}},
        "output_schema property names must be non-empty strings, got ' '",
        id="schema-blank-property-name",
    ),
]


@pytest.mark.parametrize(("kwargs", "message"), FINDALL_CONFIG_ERRORS)
def test_findall_configuration_errors_fail_at_definition_time(
    emulator: EmulatorServer, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "ai", "query": QUERY} | kwargs
    with pytest.raises(ValueError) as caught:
        build_findall_assets(**arguments)
    assert str(caught.value) == message
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


SEARCH_CONFIG_ERRORS = [
    pytest.param(
        {"keep_partial_on_timeout": "yes"},
        "keep_partial_on_timeout must be True or False, got 'yes'",
        id="keep-partial-a-string",
    ),
    pytest.param(
        {"partitions_def": StaticPartitionsDefinition(["us", "eu"])},
        "this asset is partitioned, but its queries[0] names no partition, so every "
        "partition would pay for the same run; use one of {partition_key} (e.g. 'AI "
        "startups founded in {start:%B %Y}'), or drop partitions_def",
        id="partitioned-without-a-placeholder",
    ),
    pytest.param(
        {"queries": [""]}, "queries[0] must be a non-empty string, got ''", id="empty-query"
    ),
    pytest.param(
        {"queries": ["ev", "   "]},
        "queries[1] must be a non-empty string, got '   '",
        id="blank-query",
    ),
    pytest.param(
        {"queries": ["q" * 2001]},
        "queries[0] is 2001 characters long; the most allowed is 2000",
        id="query-2001-chars",
    ),
    pytest.param(
        {"objective": " "}, "objective must be a non-empty string, got ' '", id="blank-objective"
    ),
    pytest.param({"limit": 0}, "limit must be a whole number of at least 1, got 0", id="limit-0"),
    pytest.param(
        {"limit": -1}, "limit must be a whole number of at least 1, got -1", id="limit-minus-1"
    ),
    pytest.param(
        {"limit": True}, "limit must be a whole number of at least 1, got True", id="limit-True"
    ),
    pytest.param(
        {"timeout_s": 0},
        "timeout_s must be a positive number of seconds, got 0 (below 604800, a week)",
        id="timeout-0",
    ),
    pytest.param(
        {"timeout_s": -5},
        "timeout_s must be a positive number of seconds, got -5 (below 604800, a week)",
        id="timeout-minus-5",
    ),
    # A bare string is one query, not a list of letters (each a paid query).
    pytest.param(
        {"queries": "battery"},
        "queries must be a non-empty list of strings, got 'battery'",
        id="queries-a-bare-string",
    ),
    pytest.param(
        {"queries": "ev market"},
        "queries must be a non-empty list of strings, got 'ev market'",
        id="queries-a-bare-string-with-a-space",
    ),
    # Each letter of a bare string was a domain.
    pytest.param(
        {"include_domains": "reuters.com"},
        "include_domains must be a list of domains, not one string: "
        "write ['reuters.com'] instead of 'reuters.com'",
        id="include-domains-a-bare-string",
    ),
    pytest.param(
        {"exclude_domains": "reuters.com,bbc.co.uk"},
        "exclude_domains must be a list of domains, not one string: "
        "write ['reuters.com', 'bbc.co.uk'] instead of 'reuters.com,bbc.co.uk'",
        id="exclude-domains-a-bare-string",
    ),
    pytest.param(
        {"include_domains": ["https://reuters.com/x"]},
        "include_domains[0] must be a domain such as 'reuters.com', not a URL: "
        "write 'reuters.com' instead of 'https://reuters.com/x'",
        id="include-domains-a-url",
    ),
    pytest.param(
        {"exclude_domains": ["bbc.co.uk", "reuters.com/world"]},
        "exclude_domains[1] must be a domain such as 'reuters.com', not a URL: "
        "write 'reuters.com' instead of 'reuters.com/world'",
        id="exclude-domains-a-path",
    ),
    pytest.param(
        {"include_domains": ["reuters.com", " "]},
        "include_domains[1] must be a domain such as 'reuters.com', got ' '",
        id="include-domains-blank",
    ),
    pytest.param(
        {"include_domains": ["reuters .com"]},
        "include_domains[0] must be a domain such as 'reuters.com', got 'reuters .com'",
        id="include-domains-with-a-space",
    ),
    pytest.param(
        {"include_domains": [3]},
        "include_domains[0] must be a domain such as 'reuters.com', got 3",
        id="include-domains-not-text",
    ),
    pytest.param(
        {"include_domains": ["reuters.com"], "exclude_domains": ["Reuters.com"]},
        "'reuters.com' is in both include_domains and exclude_domains: keep it in one",
        id="domain-included-and-excluded",
    ),
    pytest.param(
        {"queries": [f"query {i}" for i in range(MAX_SEARCH_QUERIES + 1)]},
        f"queries lists {MAX_SEARCH_QUERIES + 1} queries; the most allowed is {MAX_SEARCH_QUERIES}",
        id="too-many-queries",
    ),
    pytest.param(
        {"limit": MAX_SEARCH_LIMIT + 1},
        f"limit must be at most {MAX_SEARCH_LIMIT} for a search, got {MAX_SEARCH_LIMIT + 1}",
        id="limit-above-the-most",
    ),
]


@pytest.mark.parametrize(("kwargs", "message"), SEARCH_CONFIG_ERRORS)
def test_search_configuration_errors_fail_at_definition_time(
    emulator: EmulatorServer, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "ev", "queries": SEARCH_QUERIES} | kwargs
    with pytest.raises(ValueError) as caught:
        build_search_assets(**arguments)
    assert str(caught.value) == message
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


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


# ---------------------------------------------------------------- base URL

MALFORMED_URLS = [
    pytest.param("core.usescout.sh", id="no-scheme"),
    pytest.param("ftp://x", id="ftp"),
    pytest.param("https://", id="no-host"),
]


def _url_sentence(url: str) -> str:
    return f"base_url must be an absolute http(s) URL such as {URL_EXAMPLE}, got {url!r}"


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_base_url_fails_when_the_resource_is_built(
    emulator: EmulatorServer, tmp_path: Path, url: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ScoutResource(api_key=TEST_KEY, base_url=url)
    assert _url_sentence(url) in str(caught.value)
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_base_url_from_the_environment_fails_at_resource_init(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SCOUT_BASE_URL", url)
    scout = ScoutResource(api_key=TEST_KEY, base_url=EnvVar("SCOUT_BASE_URL"))
    with pytest.raises(Exception) as caught:
        materialize([build_findall_assets("ai", QUERY)], resources=resources(scout, tmp_path))
    messages = [str(e) for e in error_chain(caught.value)]
    assert any(_url_sentence(url) in m for m in messages), messages
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


# The client adds /v1/...; a base URL that already has it (or another version)
# sends every call to /v1/findall/v1/findall/runs or /v2/v1/..., a 404 at run time.
PAST_THE_ROOT_URLS = [
    pytest.param(
        "https://core.usescout.sh/v2",
        "base_url names API version 'v2', but this client speaks v1: ",
        "https://core.usescout.sh",
        id="v2",
    ),
    pytest.param(
        "https://proxy.example.com/scout/V3/",
        "base_url names API version 'V3', but this client speaks v1: ",
        "https://proxy.example.com/scout",
        id="v3-behind-a-proxy",
    ),
    pytest.param(
        "https://core.usescout.sh/v2/findall/runs",
        "base_url names API version 'v2', but this client speaks v1: ",
        "https://core.usescout.sh",
        id="v2-and-a-path",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/findall",
        "base_url must not include the API's own path '/v1/findall': ",
        "https://core.usescout.sh",
        id="findall",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/findall/runs/",
        "base_url must not include the API's own path '/v1/findall/runs': ",
        "https://core.usescout.sh",
        id="runs",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/searches",
        "base_url must not include the API's own path '/v1/searches': ",
        "https://core.usescout.sh",
        id="searches",
    ),
    pytest.param(
        "https://core.usescout.sh/v1/search",
        "base_url must not include the API's own path '/v1/search': ",
        "https://core.usescout.sh",
        id="search",
    ),
    pytest.param(
        "https://proxy.example.com/scout/v1/lists",
        "base_url must not include the API's own path '/v1/lists': ",
        "https://proxy.example.com/scout",
        id="lists-behind-a-proxy",
    ),
]


def _root_sentence(url: str, start: str, root: str) -> str:
    return (
        f"{start}the base URL is the service root, e.g. {URL_EXAMPLE}; paths /v1/... are "
        f"added by the client: write {root!r} instead of {url!r}"
    )


@pytest.mark.parametrize(("url", "start", "root"), PAST_THE_ROOT_URLS)
def test_a_base_url_past_the_service_root_fails_when_the_resource_is_built(
    emulator: EmulatorServer, tmp_path: Path, url: str, start: str, root: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ScoutResource(api_key=TEST_KEY, base_url=url)
    assert _root_sentence(url, start, root) in str(caught.value)
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize(("url", "start", "root"), PAST_THE_ROOT_URLS[::3])
def test_a_base_url_past_the_service_root_from_the_environment_fails_at_resource_init(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    start: str,
    root: str,
) -> None:
    monkeypatch.setenv("SCOUT_BASE_URL", url)
    scout = ScoutResource(api_key=TEST_KEY, base_url=EnvVar("SCOUT_BASE_URL"))
    with pytest.raises(Exception) as caught:
        materialize([build_findall_assets("ai", QUERY)], resources=resources(scout, tmp_path))
    messages = [str(e) for e in error_chain(caught.value)]
    assert any(_root_sentence(url, start, root) in m for m in messages), messages
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://core.usescout.sh", "https://core.usescout.sh"),
        ("https://core.usescout.sh/", "https://core.usescout.sh"),
        ("https://core.usescout.sh/v1", "https://core.usescout.sh"),
        ("https://core.usescout.sh/v1/", "https://core.usescout.sh"),
        ("https://proxy.example.com/scout", "https://proxy.example.com/scout"),
        ("https://proxy.example.com/scout/v1/", "https://proxy.example.com/scout"),
        # A gateway's own version prefix, not Scout's API paths after it.
        ("https://gateway.example.com/v1/scout", "https://gateway.example.com/v1/scout"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_base_urls_that_name_the_service_root_are_accepted(url: str, normalized: str) -> None:
    assert normalize_base_url(url) == normalized
    assert ScoutResource(api_key=TEST_KEY, base_url=url).base_url == normalized


# ---------------------------------------------------------------- API key

_EMPTY_KEY = (
    "api_key is empty: pass api_key=EnvVar('SCOUT_API_KEY') with the key of your "
    "Scout account set in that variable"
)
_UNSET_KEY = (
    'You have attempted to fetch the environment variable "SCOUT_API_KEY" which is not set. '
    "In order for this execution to succeed it must be set in this environment."
)


@pytest.mark.parametrize(
    ("environment", "api_key", "sentence"),
    [
        pytest.param(None, EnvVar("SCOUT_API_KEY"), _UNSET_KEY, id="EnvVar-unset"),
        pytest.param("", EnvVar("SCOUT_API_KEY"), _EMPTY_KEY, id="EnvVar-set-but-empty"),
        pytest.param(None, "", _EMPTY_KEY, id="literal-empty"),
        pytest.param(None, "   ", _EMPTY_KEY, id="literal-blank"),
    ],
)
def test_a_missing_api_key_fails_before_any_request(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: str | None,
    api_key: str,
    sentence: str,
) -> None:
    # local_emulator stays False: no emulator is wanted. The base URL points at
    # the test emulator only so that a request, if one went out, is recorded.
    if environment is not None:
        monkeypatch.setenv("SCOUT_API_KEY", environment)
    # A literal blank key is refused when the resource is defined, an EnvVar's
    # value when the run starts: either way before any request.
    with pytest.raises(Exception) as caught:
        scout = ScoutResource(api_key=api_key, base_url=emulator.url)
        materialize([build_findall_assets("ai", QUERY)], resources=resources(scout, tmp_path))
    messages = [str(e) for e in error_chain(caught.value)]
    assert any(sentence in m for m in messages), messages
    assert "SCOUT_API_KEY" in sentence
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


def test_a_wrong_api_key_is_refused_by_the_server_with_our_hint(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    scout = ScoutResource(api_key="sk-not-the-right-key", base_url=emulator.url, max_retries=1)
    result = materialize(
        [build_findall_assets("ai", QUERY)],
        resources=resources(scout, tmp_path),
        raise_on_error=False,
    )
    description = only_step_failure_description(result)
    (request,) = emulator.ledger.requests
    assert description == (
        f"POST /v1/findall/runs returned 401: Invalid API key (request id {request.request_id})"
        ". Check SCOUT_API_KEY (or the resource's api_key)"
    )
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=False)


# ---------------------------------------------------------------- the API refuses the create

_HINTS = {
    401: ". Check SCOUT_API_KEY (or the resource's api_key)",
    402: ". Top up the Scout account's credits or lower the run's limit",
    403: ". The API key is valid but not allowed to make this call",
}
_SERVER_MESSAGES = {
    401: "Invalid API key",
    402: "Insufficient credits: 3 left, a run needs at least 5",
    403: "This API key may not create runs",
    404: "Not Found",
    409: "Idempotency-Key scout-dagster-0 was used with a different request",
    422: "body.query: String should have at most 2000 characters",
}
#: 409 is retried (an Idempotency-Key may still be in flight); the others are final.
_ATTEMPTS = {409: 2}


def _factories() -> list[Any]:
    return [
        pytest.param(
            "/v1/findall/runs", lambda: build_findall_assets("ai", QUERY, limit=3), id="findall"
        ),
        pytest.param("/v1/search", lambda: build_search_assets("ev", SEARCH_QUERIES), id="search"),
    ]


@pytest.mark.parametrize(("path", "build"), _factories())
@pytest.mark.parametrize("status", [401, 402, 403, 404, 409, 422])
def test_the_api_refusing_the_create_fails_with_method_path_status_and_message(
    emulator: EmulatorServer,
    tmp_path: Path,
    path: str,
    build: Callable[[], AssetsDefinition],
    status: int,
) -> None:
    message = _SERVER_MESSAGES[status]
    # More answers than the client makes attempts (max_retries=1: 2 at most).
    emulator.faults.inject(
        "status", status=status, message=message, method="POST", path=path, times=5
    )
    result = materialize(
        [build()],
        resources=resources(emulator_resource(emulator), tmp_path),
        raise_on_error=False,
    )
    description = only_step_failure_description(result)
    attempts = [(r.method, r.path, r.status) for r in emulator.ledger.requests]
    assert attempts == [("POST", path, status)] * _ATTEMPTS.get(status, 1)
    request_id = emulator.ledger.requests[-1].request_id
    if status == 404:
        # A bare "Not Found" is a web framework's 404: the base URL is the suspect.
        message += f" (no such endpoint: {emulator.url}{path}; check SCOUT_BASE_URL)"
    assert description == (
        f"POST {path} returned {status}: {message} (request id {request_id})"
        f"{_HINTS.get(status, '')}"
    )
    if status == 401:
        assert "SCOUT_API_KEY" in description
    if status == 402:
        assert "credits" in description
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=False)
    assert emulator.ledger.runs() == []


# ---------------------------------------------------------------- IO manager base path

_EMPTY_BASE_PATH = (
    "base_path is empty: give a local folder such as 'data/scout' "
    "or a URI such as 's3://bucket/prefix'"
)

BAD_BASE_PATHS = [
    pytest.param("", _EMPTY_BASE_PATH, id="empty"),
    pytest.param("  ", _EMPTY_BASE_PATH, id="blank"),
    pytest.param(
        "data/scout ",
        "base_path 'data/scout ' starts or ends with a space: write 'data/scout'",
        id="trailing-space",
    ),
    # Each of these would silently become a local folder named s3, s3: ...
    pytest.param(
        "s3//bucket/x",
        "base_path 's3//bucket/x' is not a valid s3:// URI and would be taken as a local "
        "folder: write 's3://bucket/x'",
        id="s3-no-colon",
    ),
    pytest.param(
        "s3:/bucket",
        "base_path 's3:/bucket' is not a valid s3:// URI and would be taken as a local "
        "folder: write 's3://bucket'",
        id="s3-one-slash",
    ),
    pytest.param(
        "S3:bucket/x",
        "base_path 'S3:bucket/x' is not a valid s3:// URI and would be taken as a local "
        "folder: write 's3://bucket/x'",
        id="s3-no-slash",
    ),
    pytest.param(
        "gs//bucket",
        "base_path 'gs//bucket' is not a valid gs:// URI and would be taken as a local "
        "folder: write 'gs://bucket'",
        id="gs",
    ),
    pytest.param(
        "gcs:/bucket",
        "base_path 'gcs:/bucket' is not a valid gcs:// URI and would be taken as a local "
        "folder: write 'gcs://bucket'",
        id="gcs",
    ),
    pytest.param(
        "az:/container/x",
        "base_path 'az:/container/x' is not a valid az:// URI and would be taken as a local "
        "folder: write 'az://container/x'",
        id="az",
    ),
    pytest.param(
        "abfs//container@account.dfs.core.windows.net/x",
        "base_path 'abfs//container@account.dfs.core.windows.net/x' is not a valid abfs:// "
        "URI and would be taken as a local folder: "
        "write 'abfs://container@account.dfs.core.windows.net/x'",
        id="abfs",
    ),
    pytest.param(
        "hdfs:/namenode/x",
        "base_path 'hdfs:/namenode/x' is not a valid hdfs:// URI and would be taken as a "
        "local folder: write 'hdfs://namenode/x'",
        id="hdfs",
    ),
    pytest.param(
        "file:/tmp/scout",
        "base_path 'file:/tmp/scout' is not a valid file:// URI and would be taken as a "
        "local folder: write 'file:///tmp/scout'",
        id="file",
    ),
]


@pytest.mark.parametrize(("base_path", "message"), BAD_BASE_PATHS)
def test_a_bad_base_path_fails_when_the_io_manager_is_built(
    emulator: EmulatorServer, tmp_path: Path, base_path: str, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        ScoutParquetIOManager(base_path=base_path)
    assert message in str(caught.value)
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


@pytest.mark.parametrize(("base_path", "message"), BAD_BASE_PATHS[:4])
def test_a_bad_base_path_from_the_environment_fails_before_the_run_is_created(
    emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base_path: str,
    message: str,
) -> None:
    monkeypatch.setenv("SCOUT_TABLES", base_path)
    with pytest.raises(Exception) as caught:
        materialize(
            [build_findall_assets("ai", QUERY)],
            resources={
                "scout": emulator_resource(emulator),
                "scout_io_manager": ScoutParquetIOManager(base_path=EnvVar("SCOUT_TABLES")),
            },
        )
    messages = [str(e) for e in error_chain(caught.value)]
    assert any(message in m for m in messages), messages
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)


def test_a_bad_default_base_path_from_the_environment_fails_when_the_io_manager_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCOUT_DAGSTER_DATA", "s3//bucket/x")
    with pytest.raises(ValueError) as caught:
        ScoutParquetIOManager()
    assert "write 's3://bucket/x'" in str(caught.value)


@pytest.mark.parametrize(
    "base_path",
    [
        "data/scout",
        "/srv/scout",
        "s3/data",  # a local folder that happens to be called s3
        "s3://bucket/x",
        "S3://bucket",
        "gs://bucket/x",
        "file:///tmp/scout",
        "s3://bucket/scout?endpoint_override=http%3A%2F%2F127.0.0.1%3A9000&scheme=http",
    ],
)
def test_good_base_paths_are_accepted_without_touching_storage(base_path: str) -> None:
    assert ScoutParquetIOManager(base_path=base_path).base_path == base_path
