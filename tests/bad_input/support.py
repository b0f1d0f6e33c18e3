"""The bad-input matrix: every mistake a user can make fails early, clearly, and for free.

This module holds what its test modules share.

Each case checks the exact sentence the user reads, that nothing was written
under the IO manager's base path, and that no paid run is left running.
Configuration mistakes must not cost a single request; an API that refuses
the create must leave no run behind and say which call failed, with what
status, the server's own words and our hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import (
    ExecuteInProcessResult,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
)
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

QUERY = "S-1 stage AI infrastructure companies"
SEARCH_QUERIES = ["latest electric vehicle market trends"]
URL_EXAMPLE = "'https://core.usescout.sh'"


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
