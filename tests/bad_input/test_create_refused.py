"""An API that refuses the create leaves no run behind and says which call
failed, with what status, the server's own words and our hint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetsDefinition,
    materialize,
)

from scout_dagster import (
    build_findall_assets,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.bad_input.support import (
    QUERY,
    SEARCH_QUERIES,
    assert_nothing_written_or_running,
    emulator_resource,
    only_step_failure_description,
    resources,
)

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
