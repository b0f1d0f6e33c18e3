"""The client against the emulator over real loopback HTTP: every call, state,
cancel semantics, stream resume, fault kind and error class."""

from __future__ import annotations

import httpx
import pytest

from scout_dagster import (
    FindAllRun,
    RetryPolicy,
    RunState,
    ScoutAPIError,
    ScoutAuthenticationError,
    ScoutClient,
    ScoutConflictError,
    ScoutConnectionError,
    ScoutInsufficientCreditsError,
    ScoutNotFoundError,
    ScoutPermissionError,
    ScoutRateLimitError,
    ScoutServerError,
    ScoutTimeoutError,
    ScoutValidationError,
)
from scout_dagster.emulator import EmulatorConfig, EmulatorServer, FaultConfig, ManualClock
from tests.conftest import TEST_KEY, make_client, wait_until

QUERY = "S-1 stage AI infrastructure companies"


# ---------------------------------------------------------------- every call


def test_findall_calls(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    sync = client.run_findall(QUERY, limit=3)
    assert sync.state is RunState.COMPLETED and sync.count == 3

    run = client.create_findall_run(QUERY, fields=["name", "website"], limit=4, generator="core")
    assert run.state is RunState.QUEUED
    assert client.get_findall_run(run.findall_id).findall_id == run.findall_id
    events = list(client.stream_findall_events(run.findall_id))
    assert events[-1].is_terminal
    final = client.get_findall_run(run.findall_id)
    assert final.state is RunState.COMPLETED and final.count == 4
    assert set(final.entities[0]) == {"name", "website", "source"}
    assert final.status.termination_reason == "match_limit_met"
    assert final.status.metrics is not None and final.status.metrics.matched_candidates_count == 4
    matched = [c for c in final.candidates or [] if c.match_status == "matched"]
    assert len(matched) == 4 and all(c.basis for c in matched)

    # After extend or enrich the run goes on: follow it from the last event seen,
    # or the old terminal event would end the stream at once.
    extended = client.extend_findall_run(run.findall_id, 2)
    assert extended.state in (RunState.RUNNING, RunState.QUEUED)
    more = list(client.stream_findall_events(run.findall_id, last_event_id=events[-1].event_id))
    assert more[-1].is_terminal
    assert client.get_findall_run(run.findall_id).count == 6

    client.enrich_findall_run(run.findall_id, fields=["headquarters"])
    enriching = list(client.stream_findall_events(run.findall_id, last_event_id=more[-1].event_id))
    assert any(e.type == "findall.candidate.enriched" for e in enriching)
    enriched = client.get_findall_run(run.findall_id)
    assert all("headquarters" in entity for entity in enriched.entities)

    listed = [r.findall_id for r in client.list_findall_runs(page_size=1)]
    assert listed == [run.findall_id, sync.findall_id]  # newest first, paged one by one


def test_a_run_is_watched_without_reading_its_entities(emulator: EmulatorServer) -> None:
    client, sleeps = make_client(emulator)
    run = client.create_findall_run(QUERY, limit=5)
    events = list(client.stream_findall_events(run.findall_id, entities=False))
    full_events = list(client.stream_findall_events(run.findall_id))
    assert [e.type for e in events] == [e.type for e in full_events]
    statuses = [(e, f) for e, f in zip(events, full_events, strict=True) if e.run is not None]
    assert statuses and any(f.run is not None and f.run.entities for _, f in statuses)
    for event, full in statuses:
        assert event.run is not None and full.run is not None
        assert event.run.entities == [] and event.run.candidates is None
        assert event.run.model_dump(exclude={"entities", "candidates"}) == full.run.model_dump(
            exclude={"entities", "candidates"}
        )
    # Candidate events are small and keep their candidate.
    matched = [e for e in events if e.type == "findall.candidate.matched"]
    assert matched and all(e.candidate is not None for e in matched)

    sleeps_before = len(sleeps)
    emulator.faults.inject("malformed_json", times=1, method="GET")
    watched = client.get_findall_run(run.findall_id, entities=False)
    assert len(sleeps) == sleeps_before + 1, "the malformed body was read again"
    final = client.get_findall_run(run.findall_id)
    assert final.entities and final.candidates
    assert watched.entities == [] and watched.candidates is None
    assert (watched.state, watched.count, watched.credits, watched.completed_at) == (
        final.state,
        final.count,
        final.credits,
        final.completed_at,
    )


def test_search_calls(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    quick = client.search(["ev market"], depth="standard")
    assert quick.state is RunState.COMPLETED and quick.results

    run = client.create_search_run(["ev market", "battery supply"], objective="Why?", limit=20)
    assert run.state is RunState.QUEUED and run.depth == "deep"
    events = list(client.stream_search_events(run.search_id))
    assert [e.type for e in events][-1] == "run.completed"
    assert any(e.type == "run.progress" and e.pages_fetched for e in events)
    final = client.get_search_run(run.search_id)
    assert final.state is RunState.COMPLETED
    assert final.credits == 2  # one per query
    assert final.results and final.sources and final.findings and final.report
    assert final.usage is not None and final.prompt == "Why?"
    assert [r.search_id for r in client.list_search_runs(page_size=1)] == [
        run.search_id,
        quick.search_id,
    ]
    assert client.get_search_run(run.search_id).run_id == run.search_id


# ---------------------------------------------------------------- states


def test_every_state_of_a_findall_run(manual_emulator: EmulatorServer) -> None:
    client, _ = make_client(manual_emulator)
    clock = manual_emulator.clock
    assert isinstance(clock, ManualClock)
    run = client.create_findall_run(QUERY, limit=6)
    assert client.get_findall_run(run.findall_id).state is RunState.QUEUED
    clock.advance(manual_emulator.config.queued_s + 1)
    running = client.get_findall_run(run.findall_id)
    assert running.state is RunState.RUNNING and running.candidates is None
    clock.advance(manual_emulator.config.findall_duration_s / 2)
    halfway = client.get_findall_run(run.findall_id)
    assert 0 < halfway.count < 6, "entities arrive over time"
    clock.advance(manual_emulator.config.findall_duration_s)
    done = client.get_findall_run(run.findall_id)
    assert done.state is RunState.COMPLETED and done.status.raw is not None
    assert isinstance(done.status.raw, dict)  # the rich status object
    assert done.completed_at is not None


def test_failed_run_reports_its_error(emulator: EmulatorServer) -> None:
    emulator.faults.configure(FaultConfig(run_failure_rate=1.0))
    client, _ = make_client(emulator)
    run = client.create_findall_run(QUERY)
    list(client.stream_findall_events(run.findall_id))
    failed = client.get_findall_run(run.findall_id)
    assert failed.state is RunState.FAILED
    assert failed.error and failed.status.termination_reason == "error_occurred"


# ---------------------------------------------------------------- cancel


def test_findall_cancel_discards_partial_result(manual_emulator: EmulatorServer) -> None:
    client, _ = make_client(manual_emulator)
    clock = manual_emulator.clock
    assert isinstance(clock, ManualClock)
    run = client.create_findall_run(QUERY, limit=10)
    clock.advance(manual_emulator.config.queued_s + manual_emulator.config.findall_duration_s / 2)
    assert client.get_findall_run(run.findall_id).count > 0
    answer = client.cancel_findall_run(run.findall_id)
    assert answer.status.raw is None and answer.state is RunState.UNKNOWN  # as the vendor shows
    after = client.get_findall_run(run.findall_id)
    assert after.state is RunState.CANCELLED
    assert after.entities == [] and after.count == 0 and after.candidates is None
    assert after.credits == manual_emulator.ledger.run(run.findall_id).credits > 0


def test_search_cancel_keeps_what_it_gathered(manual_emulator: EmulatorServer) -> None:
    client, _ = make_client(manual_emulator)
    clock = manual_emulator.clock
    assert isinstance(clock, ManualClock)
    run = client.create_search_run(["ev market"], limit=50)
    clock.advance(manual_emulator.config.queued_s + manual_emulator.config.search_duration_s / 2)
    cancelled = client.cancel_search_run(run.search_id)
    after = client.get_search_run(run.search_id)
    assert RunState.CANCELLED in (cancelled.state, after.state)
    assert 0 < after.pages_fetched < after.pages_target
    assert after.results, "gathered results are kept"


def test_cancelling_a_finished_run_changes_nothing(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    run = client.run_findall(QUERY, limit=2)
    again = client.cancel_findall_run(run.findall_id)
    assert again.state is RunState.COMPLETED and again.count == 2
    snapshot = emulator.ledger.run(run.findall_id)
    assert snapshot.state == "completed" and not snapshot.cancelled_while_active


# ---------------------------------------------------------------- streams


def test_stream_resumes_after_drops_without_gaps_or_repeats(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    run = client.create_findall_run(QUERY, limit=8)
    wait_until(lambda: emulator.ledger.run(run.findall_id).state == "completed")
    clean = [e.event_id for e in client.stream_findall_events(run.findall_id)]

    emulator.faults.configure(FaultConfig(stream_drop_after_events=3))
    resumed = [e.event_id for e in client.stream_findall_events(run.findall_id)]
    assert resumed == clean
    drops = emulator.ledger.faults_injected().get("stream_drop", 0)
    assert drops >= len(clean) // 3 - 1
    connections = [r for r in emulator.ledger.requests if r.path.endswith("/events")]
    assert len(connections) == 1 + drops + 1  # the clean read, then one per drop, plus the last


def test_stream_from_a_given_event(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    run = client.run_findall(QUERY, limit=3)
    every = [e.event_id for e in client.stream_findall_events(run.findall_id)]
    later = [
        e.event_id for e in client.stream_findall_events(run.findall_id, last_event_id=every[2])
    ]
    assert later == every[3:]


def test_unknown_event_types_are_ignored(emulator: EmulatorServer) -> None:
    emulator.faults.configure(FaultConfig(unknown_events=True))
    client, _ = make_client(emulator)
    run = client.create_search_run(["ev market"])
    types = {e.type for e in client.stream_search_events(run.search_id)}
    assert types <= {"run.progress", "run.completed"}
    raw = httpx.get(
        f"{emulator.url}/v1/searches/{run.search_id}/events",
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ).text
    assert "event: run.plan" in raw or "run.plan" in raw, "the emulator did send unknown events"


# ---------------------------------------------------------------- faults


def test_rate_limit_is_retried_after_retry_after(emulator: EmulatorServer) -> None:
    emulator.faults.inject("rate_limit", times=2, method="POST", path="/v1/findall/runs")
    client, sleeps = make_client(emulator)
    run = client.create_findall_run(QUERY)
    assert sleeps == [emulator.faults.config.retry_after_s] * 2
    assert emulator.ledger.creates() == 1
    keys = {r.idempotency_key for r in emulator.ledger.requests if r.method == "POST"}
    assert len(keys) == 1 and run.findall_id


@pytest.mark.parametrize("kind", ["server_error", "drop", "malformed_json"])
def test_transient_faults_are_retried_without_double_creates(
    emulator: EmulatorServer, kind: str
) -> None:
    emulator.faults.inject(kind, times=2, method="POST", path="/v1/findall/runs")
    client, sleeps = make_client(emulator)
    run = client.create_findall_run(QUERY, limit=2)
    assert len(sleeps) == 2
    assert emulator.ledger.faults_injected()[kind] == 2
    assert emulator.ledger.creates() == 1
    assert client.get_findall_run(run.findall_id).findall_id == run.findall_id


def test_slow_responses_time_out_and_are_retried(emulator: EmulatorServer) -> None:
    emulator.faults.configure(FaultConfig(slow_s=1.0))
    client, sleeps = make_client(emulator, timeout=0.3)
    run = client.run_findall(QUERY, limit=1)
    emulator.faults.inject("slow", times=1, method="GET")
    assert client.get_findall_run(run.findall_id).findall_id == run.findall_id
    assert len(sleeps) == 1


def test_slow_responses_beyond_every_attempt_raise_timeout(emulator: EmulatorServer) -> None:
    emulator.faults.configure(FaultConfig(slow_rate=1.0, slow_s=1.0))
    client, _ = make_client(emulator, timeout=0.2, retry=RetryPolicy(max_attempts=2))
    with pytest.raises(
        ScoutTimeoutError,
        match=r"GET /v1/findall/runs/fa-x: timed out .* waiting for http://127\.0\.0\.1:",
    ):
        client.get_findall_run("fa-x")


def test_create_cap_answers_429_with_retry_after(emulator: EmulatorServer) -> None:
    emulator.faults.configure(FaultConfig(create_cap=2, create_cap_window_s=3600))
    # A paced 429 costs no attempt, only budget: here the wait it asks for is
    # longer than the whole 1 s budget, so the client gives up at once.
    client, sleeps = make_client(emulator, retry=RetryPolicy(max_attempts=1, total_budget_s=1))
    client.create_findall_run("a")
    client.create_findall_run("b")
    with pytest.raises(ScoutRateLimitError) as caught:
        client.create_findall_run("c")
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 0
    assert sleeps == []
    assert emulator.ledger.creates() == 2


def test_connection_refused_is_a_connection_error() -> None:
    client = ScoutClient(
        TEST_KEY,
        base_url="http://127.0.0.1:9",
        retry=RetryPolicy(max_attempts=2),
        sleep=lambda s: None,
    )
    with pytest.raises(ScoutConnectionError) as caught:
        client.get_search_run("s-1")
    message = str(caught.value)
    assert message.startswith("GET /v1/searches/s-1: connection failed (ConnectError: ")
    assert message.endswith(
        "reaching http://127.0.0.1:9; check the network and the base URL (SCOUT_BASE_URL)"
    )


def test_a_base_url_that_is_not_the_api_says_so(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator, retry=RetryPolicy(max_attempts=1))
    client = ScoutClient(TEST_KEY, base_url=f"{emulator.url}/api", sleep=lambda s: None)
    with pytest.raises(ScoutNotFoundError) as caught:
        client.create_findall_run(QUERY)
    assert (
        f"POST /v1/findall/runs returned 404: Not Found (no such endpoint: {emulator.url}/api"
        "/v1/findall/runs; check SCOUT_BASE_URL)"
    ) in str(caught.value)


def test_stream_gives_up_when_every_reconnect_fails(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator, retry=RetryPolicy(max_attempts=3))
    run = client.create_search_run(["ev market"])
    emulator.faults.configure(FaultConfig(server_error_rate=1.0))
    with pytest.raises(ScoutServerError):
        list(client.stream_search_events(run.search_id))


# ---------------------------------------------------------------- errors


def test_401_names_the_call_and_hides_the_key(emulator: EmulatorServer) -> None:
    wrong = "sk-wrong-key-123456"
    client = ScoutClient(wrong, base_url=emulator.url)
    with pytest.raises(ScoutAuthenticationError) as caught:
        client.create_findall_run(QUERY)
    message = str(caught.value)
    assert message.startswith("POST /v1/findall/runs returned 401: ")
    assert "request id req_" in message
    assert wrong not in message and TEST_KEY not in message
    assert emulator.ledger.creates() == 0


def test_402_when_credits_run_out() -> None:
    config = EmulatorConfig(speed=200.0, credit_balance=7)
    with EmulatorServer(config=config, api_key=TEST_KEY) as server:
        client, _ = make_client(server)
        client.run_findall(QUERY, limit=2)  # 5 + 2 credits: the balance is spent
        with pytest.raises(ScoutInsufficientCreditsError, match="402"):
            client.create_findall_run(QUERY)


def test_403_from_the_server(emulator: EmulatorServer) -> None:
    emulator.faults.inject("status", status=403, message="key is read-only")
    client, sleeps = make_client(emulator)
    with pytest.raises(ScoutPermissionError, match="returned 403: key is read-only"):
        client.create_search_run(["x"])
    assert sleeps == []


def test_404_for_unknown_runs(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    with pytest.raises(ScoutNotFoundError, match="GET /v1/findall/runs/fa-missing returned 404"):
        client.get_findall_run("fa-missing")
    with pytest.raises(ScoutNotFoundError):
        list(client.stream_search_events("no-such-search"))


def test_409_when_an_idempotency_key_is_reused_for_another_body(emulator: EmulatorServer) -> None:
    client, sleeps = make_client(emulator, retry=RetryPolicy(max_attempts=2))
    first = client.create_findall_run(QUERY, idempotency_key="key-1")
    replay = client.create_findall_run(QUERY, idempotency_key="key-1")
    assert replay.findall_id == first.findall_id
    assert emulator.ledger.creates() == 1
    with pytest.raises(ScoutConflictError, match="409"):
        client.create_findall_run("another query", idempotency_key="key-1")
    assert len(sleeps) == 1  # 409 is retried once (the contract's SDKs do), then raised
    assert emulator.ledger.creates() == 1


def test_422_lists_what_is_invalid(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    with pytest.raises(ScoutValidationError) as caught:
        client._request("POST", "/v1/findall/runs", body={"query": QUERY, "limit": 0})
    assert caught.value.errors and caught.value.errors[0]["loc"][-1] == "limit"
    assert "body.limit" in str(caught.value)
    assert emulator.ledger.creates() == 0


def test_every_api_error_is_a_scout_api_error(emulator: EmulatorServer) -> None:
    for status in (400, 401, 402, 403, 404, 409, 422, 429, 500, 503):
        emulator.faults.reset()
        emulator.faults.inject("status", times=3, status=status, message=f"synthetic {status}")
        client, _ = make_client(emulator, retry=RetryPolicy(max_attempts=1, total_budget_s=0.5))
        with pytest.raises(ScoutAPIError) as caught:
            client.get_findall_run("fa-1")
        assert caught.value.status == status
        assert f"synthetic {status}" in str(caught.value)


def test_requests_carry_the_contract_headers(emulator: EmulatorServer) -> None:
    client, _ = make_client(emulator)
    client.create_findall_run(QUERY)
    record = emulator.ledger.requests[-1]
    assert record.scout_version == "2026-06-21"
    assert record.user_agent and record.user_agent.startswith("scout-dagster/")
    assert record.idempotency_key


def test_a_run_body_is_read_as_bytes_and_checked(emulator: EmulatorServer) -> None:
    from scout_dagster.tables.findall import read_findall
    from scout_dagster.tables.schemas import DEFAULT_FINDALL_FIELDS, EntityColumn

    client, sleeps = make_client(emulator)
    run = client.run_findall(QUERY, limit=4)
    emulator.faults.inject("malformed_json", times=1, method="GET")
    columns = [EntityColumn(name, "string") for name in DEFAULT_FINDALL_FIELDS]
    read, body = client.get_findall_run_body(
        run.findall_id, check=lambda raw: read_findall(raw, columns)
    )
    assert len(sleeps) == 1, "the malformed body was read again"
    assert read.entities.num_rows == 4
    facts = read.facts
    assert facts.run_id == run.findall_id and facts.count == 4 and facts.credits == run.credits
    assert facts.completed_at == run.completed_at
    assert FindAllRun.model_validate_json(body).findall_id == run.findall_id
