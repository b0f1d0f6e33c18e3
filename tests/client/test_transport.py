"""Client behaviour on a faked transport: headers, retries, errors, paging, secrecy.

These pin what the contract says independently of the emulator; the
emulator tests (test_against_emulator.py) exercise the same calls over
real loopback HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from scout_dagster import (
    API_VERSION,
    RetryPolicy,
    ScoutAPIError,
    ScoutAuthenticationError,
    ScoutClient,
    ScoutConnectionError,
    ScoutDecodeError,
    ScoutInsufficientCreditsError,
    ScoutRateLimitError,
    ScoutServerError,
    ScoutValidationError,
)

KEY = "sk-live-SECRET-abc123"
RUN = {"findall_id": "fa-1", "status": "queued", "query": "q"}

Handler = Callable[[httpx.Request], httpx.Response]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(handler: Handler, **kwargs: object) -> tuple[ScoutClient, Sleeps]:
    sleeps = Sleeps()
    client = ScoutClient(
        KEY,
        base_url="https://scout.test",
        transport=httpx.MockTransport(handler),
        sleep=sleeps,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, sleeps


def test_headers_on_every_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=RUN)

    client, _ = make_client(handler)
    client.create_findall_run("q", limit=3)
    client.get_findall_run("fa-1")
    post, get = seen
    for request in seen:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.headers["Scout-Version"] == API_VERSION
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"].startswith("scout-dagster/")
    assert post.url.path == "/v1/findall/runs"
    assert json.loads(post.content) == {"query": "q", "limit": 3}
    assert "Idempotency-Key" in post.headers
    assert "Idempotency-Key" not in get.headers


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses_reuse_the_idempotency_key(status: int) -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) < 3:
            return httpx.Response(status, json={"detail": "try later"})
        return httpx.Response(200, json=RUN)

    client, sleeps = make_client(handler)
    run = client.create_findall_run("q")
    assert run.findall_id == "fa-1"
    assert len(keys) == 3 and len(set(keys)) == 1
    assert len(sleeps) == 2


def test_caller_idempotency_key_is_sent() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        return httpx.Response(200, json=RUN)

    client, _ = make_client(handler)
    client.create_findall_run("q", idempotency_key="asset-x-partition-2026-01-01")
    assert keys == ["asset-x-partition-2026-01-01"]


def test_retry_after_is_honoured_and_capped() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
            httpx.Response(503, headers={"Retry-After": "900"}, json={"detail": "maintenance"}),
            httpx.Response(200, json=RUN),
        ]
    )
    client, sleeps = make_client(lambda request: next(answers))
    client.get_findall_run("fa-1")
    assert sleeps == [7.0, 60.0]


def test_backoff_is_exponential_jittered_and_bounded() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(500, json={"detail": "boom"}, headers={"x-request-id": "req_9"})

    policy = RetryPolicy(max_attempts=6, initial_backoff_s=0.5, max_backoff_s=2.0)
    client, sleeps = make_client(handler, retry=policy)
    with pytest.raises(ScoutServerError) as caught:
        client.get_findall_run("fa-1")
    assert calls == 6
    ceilings = [0.5, 1.0, 2.0, 2.0, 2.0]
    assert len(sleeps) == 5
    for slept, ceiling in zip(sleeps, ceilings, strict=True):
        assert ceiling / 2 <= slept <= ceiling
    assert str(caught.value) == "GET /v1/findall/runs/fa-1 returned 500: boom (request id req_9)"


def test_connection_errors_are_retried_then_raised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client, sleeps = make_client(handler, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ScoutConnectionError) as caught:
        client.list_findall_runs().__next__()
    assert caught.value.method == "GET" and caught.value.path == "/v1/findall/runs"
    assert len(sleeps) == 2


def test_malformed_json_is_retried() -> None:
    answers = iter(
        [httpx.Response(200, content=b'{"findall_id": "fa-'), httpx.Response(200, json=RUN)]
    )
    client, sleeps = make_client(lambda request: next(answers))
    assert client.get_findall_run("fa-1").findall_id == "fa-1"
    assert len(sleeps) == 1


def test_wrong_shape_is_a_decode_error_not_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json={"no_id": True})

    client, _ = make_client(handler)
    with pytest.raises(ScoutDecodeError, match="GET /v1/findall/runs/fa-1: response is not a"):
        client.get_findall_run("fa-1")
    assert calls == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, ScoutAuthenticationError), (402, ScoutInsufficientCreditsError), (404, ScoutAPIError)],
)
def test_client_errors_are_not_retried(status: int, cls: type[ScoutAPIError]) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, json={"detail": "nope"})

    client, sleeps = make_client(handler)
    with pytest.raises(cls):
        client.create_findall_run("q")
    assert calls == 1 and sleeps == []


def test_validation_error_lists_fields() -> None:
    detail = [{"loc": ["body", "limit"], "msg": "Input should be greater than 0", "type": "x"}]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"detail": detail})

    client, _ = make_client(handler)
    with pytest.raises(ScoutValidationError) as caught:
        client.create_findall_run("q", limit=3)
    assert caught.value.errors == detail
    assert "body.limit: Input should be greater than 0" in str(caught.value)


def test_paced_429s_use_the_time_budget_not_the_attempts() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "2"}, json={"detail": "cap"})

    client, sleeps = make_client(handler, retry=RetryPolicy(max_attempts=2, total_budget_s=5))
    with pytest.raises(ScoutRateLimitError) as caught:
        client.create_findall_run("q")
    assert caught.value.retry_after_s == 2.0
    assert sleeps == [2.0, 2.0]  # a third wait would reach 6 s, past the 5 s budget


def test_429_without_retry_after_counts_as_an_attempt() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"detail": "slow down"})

    client, sleeps = make_client(handler, retry=RetryPolicy(max_attempts=3))
    with pytest.raises(ScoutRateLimitError):
        client.create_findall_run("q")
    assert len(sleeps) == 2


def test_the_key_never_shows() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # A careless server that echoes the Authorization header back.
        return httpx.Response(401, json={"detail": f"bad key {request.headers['Authorization']}"})

    client, _ = make_client(handler)
    with pytest.raises(ScoutAuthenticationError) as caught:
        client.get_findall_run("fa-1")
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)
    assert KEY not in repr(client)
    assert KEY not in repr(client._http.auth)
    assert "SCOUT_API_KEY" in str(caught.value)


@pytest.mark.parametrize(
    "page_shape",
    [lambda items: items, lambda items: {"data": items, "has_more": True}],
    ids=["array", "wrapped"],
)
def test_listing_pages_lazily(page_shape: Callable[[list[object]], object]) -> None:
    runs: list[object] = [{"search_id": f"s-{i}", "status": "completed"} for i in range(7)]
    offsets: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params["limit"])
        offset = int(request.url.params["offset"])
        offsets.append(offset)
        return httpx.Response(200, json=page_shape(runs[offset : offset + limit]))

    client, _ = make_client(handler)
    iterator = client.list_search_runs(page_size=3)
    assert offsets == []  # nothing fetched before iteration
    assert next(iterator).search_id == "s-0"
    assert offsets == [0]
    assert [run.search_id for run in iterator] == [f"s-{i}" for i in range(1, 7)]
    assert offsets == [0, 3, 6]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://core.usescout.sh", "https://core.usescout.sh"),
        ("https://core.usescout.sh/", "https://core.usescout.sh"),
        ("https://core.usescout.sh/v1", "https://core.usescout.sh"),
        ("http://127.0.0.1:8787/v1/", "http://127.0.0.1:8787"),
    ],
)
def test_base_url_forms(given: str, expected: str) -> None:
    assert ScoutClient(KEY, base_url=given).base_url == expected


@pytest.mark.parametrize("bad", ["core.usescout.sh", "ftp://x", "https://", "http://h:99999", ""])
def test_malformed_base_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        ScoutClient(KEY, base_url=bad)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="SCOUT_API_KEY"):
        ScoutClient("  ")


def test_a_run_body_that_cannot_be_read_is_not_read_again() -> None:
    from scout_dagster import ScoutRunBodyError
    from scout_dagster.tables.findall import read_findall
    from scout_dagster.tables.schemas import DEFAULT_FINDALL_FIELDS, EntityColumn

    bodies = {
        b'{"findall_id": "fa-1", "entities": 5}': ScoutRunBodyError,  # the run's own fault
        b'{"findall_id": "fa-1", "entities": [1]}': ScoutRunBodyError,
        b'{"findall_id": "fa-1", "credits": 1.5}': ScoutRunBodyError,
        b'{"findall_id": "fa-1", "completedAt": "soon"}': ScoutRunBodyError,
        b"<html>busy</html>": ScoutDecodeError,  # garbled: read again, then given up
        b'{"entities": []}': ScoutDecodeError,
    }
    columns = [EntityColumn(name, "string") for name in DEFAULT_FINDALL_FIELDS]
    for body, error in bodies.items():
        calls: list[httpx.Request] = []

        def handler(
            request: httpx.Request, body: bytes = body, calls: list[httpx.Request] = calls
        ) -> httpx.Response:
            calls.append(request)
            return httpx.Response(200, content=body)

        client, _ = make_client(handler)
        with pytest.raises(error):
            client.get_findall_run_body("fa-1", check=lambda raw: read_findall(raw, columns))
        expected = 1 if error is ScoutRunBodyError else client.retry.max_attempts
        assert len(calls) == expected, body
