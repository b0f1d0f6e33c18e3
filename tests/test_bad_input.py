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

import pytest
from dagster import AssetsDefinition, EnvVar, ExecuteInProcessResult, materialize

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorServer
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
        "timeout_s must be a positive number of seconds, got 0",
        id="timeout-0",
    ),
    pytest.param(
        {"timeout_s": -5},
        "timeout_s must be a positive number of seconds, got -5",
        id="timeout-minus-5",
    ),
    pytest.param(
        {"timeout_s": True},
        "timeout_s must be a positive number of seconds, got True",
        id="timeout-True",
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
        "timeout_s must be a positive number of seconds, got '60'",
        id="timeout-str",
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
        "timeout_s must be a positive number of seconds, got 0",
        id="timeout-0",
    ),
    pytest.param(
        {"timeout_s": -5},
        "timeout_s must be a positive number of seconds, got -5",
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


# ---------------------------------------------------------------- API key

_EMPTY_KEY = "api_key is empty: set SCOUT_API_KEY or pass the key of your Scout account"
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
    scout = ScoutResource(api_key=api_key, base_url=emulator.url)
    with pytest.raises(Exception) as caught:
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
