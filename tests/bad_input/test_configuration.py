"""The bad-input matrix, first part: the controls that prove the checks are not
vacuous, and every mistake in a factory's configuration failing when the
definitions load (see :mod:`tests.bad_input.support`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DailyPartitionsDefinition,
    StaticPartitionsDefinition,
    materialize,
)

from scout_dagster import (
    build_findall_assets,
    build_search_assets,
)
from scout_dagster._requests import (
    MAX_SEARCH_LIMIT,
    MAX_SEARCH_QUERIES,
    RESERVED_COLUMN_NAMES,
)
from scout_dagster.emulator import EmulatorServer
from tests.bad_input.support import (
    QUERY,
    SEARCH_QUERIES,
    assert_nothing_written_or_running,
    emulator_resource,
    resources,
    tables_path,
)

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

#: Both factories' limit and timeout mistakes, and the sentences they give.
LIMIT_AND_TIMEOUT_ERRORS = [
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
]

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
    *LIMIT_AND_TIMEOUT_ERRORS,
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


def _fails_at_definition_time(
    build: Callable[..., Any], arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        build(**arguments)
    assert str(caught.value) == message


@pytest.mark.parametrize(("kwargs", "message"), FINDALL_CONFIG_ERRORS)
def test_findall_configuration_errors_fail_at_definition_time(
    emulator: EmulatorServer, tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    _fails_at_definition_time(
        build_findall_assets, {"name": "ai", "query": QUERY} | kwargs, message
    )
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
    *LIMIT_AND_TIMEOUT_ERRORS,
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
    _fails_at_definition_time(
        build_search_assets, {"name": "ev", "queries": SEARCH_QUERIES} | kwargs, message
    )
    assert_nothing_written_or_running(emulator, tmp_path, no_requests=True)
