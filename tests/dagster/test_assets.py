"""The asset factories under real Dagster execution against the emulator.

Tables are read back from the Parquet files and compared with what the
emulator served; the run lifecycle is checked in the emulator's ledger.
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    DagsterInstance,
    EnvVar,
    asset,
    materialize,
)

from scout_dagster import (
    FindAllRequest,
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorConfig, EmulatorServer, FaultConfig, ManualClock
from scout_dagster.tables import json_parse, json_reader
from scout_dagster.tables.schemas import (
    FINDINGS_SCHEMA,
    RESULTS_SCHEMA,
    SOURCES_SCHEMA,
    entities_schema,
    entity_columns,
)
from tests.conftest import TEST_KEY, make_client, metadata_of, wait_until

QUERY = "S-1 stage AI infrastructure companies"
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "Company name"},
        "website": {"type": "string"},
        "founded_year": {"type": "integer"},
        "headcount": {"type": "integer"},
    },
}


def resources(server: EmulatorServer, base: Path) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url, max_retries=3),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


# ---------------------------------------------------------------- FindAll


@pytest.fixture
def watched_emulator() -> Iterator[EmulatorServer]:
    """An emulator whose runs end only once their event stream is open: its
    clock moves past a run's end when the stream's request arrives, however
    slow the machine (a fast emulator's run may end before the step looks)."""
    clock = ManualClock()
    config = EmulatorConfig(keepalive_s=0.2, stream_tick_s=0.005)
    with EmulatorServer(config=config, api_key=TEST_KEY, clock=clock) as server:

        def end_once_watched() -> None:
            wait_until(lambda: any(r.path.endswith("/events") for r in server.ledger.requests))
            clock.advance(3600.0)

        watcher = threading.Thread(target=end_once_watched, daemon=True)
        watcher.start()
        yield server
        watcher.join()


@pytest.mark.parametrize("in_pieces", [False, True], ids=["read-whole", "read-in-pieces"])
def test_findall_tables_match_what_the_emulator_served(
    in_pieces: bool,
    watched_emulator: EmulatorServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = watched_emulator
    whole_reads: list[int] = []
    if in_pieces:  # as a large body is read: cut at every element
        monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
        monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)
        read_whole = json_parse.parse

        def counted(document: bytes, schema: pa.Schema) -> pa.Table:
            # The look after the create reads the queued run (no entities) whole:
            # only a body with entities counts.
            if b'"entities":[{' in document.replace(b" ", b""):
                whole_reads.append(1)
            return read_whole(document, schema)

        # A whole read goes through json_parse.whole_arrays, which calls parse
        # by its module's name (the pieces call their own import of it).
        monkeypatch.setattr(json_parse, "parse", counted)
    assets = build_findall_assets("ai", QUERY, output_schema=SCHEMA, limit=12)
    result = materialize([assets], resources=resources(emulator, tmp_path))
    assert result.success
    assert not whole_reads, "the body was read whole"
    # One create, a read of its state (a create may replay an earlier, dead
    # run), and a stream, whose terminal event carries the completed run.
    run_id = emulator.ledger.runs()[0].run_id
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in emulator.ledger.requests] == [
        ("POST", "runs"),
        ("GET", run_id),
        ("GET", "events"),
    ]

    (snapshot,) = emulator.ledger.runs()
    client, _ = make_client(emulator)
    served = client.get_findall_run(snapshot.run_id)

    entities = pq.read_table(tmp_path / "ai_entities" / "data.parquet")
    expected_schema = entities_schema(entity_columns(FindAllRequest(QUERY, output_schema=SCHEMA)))
    assert entities.schema.remove_metadata() == expected_schema.remove_metadata()
    assert entities.num_rows == served.count == 12
    assert entities.column("name").to_pylist() == [e["name"] for e in served.entities]
    assert entities.column("founded_year").to_pylist() == [
        e["founded_year"] for e in served.entities
    ]
    assert entities.column("source_url").to_pylist() == [e["source"] for e in served.entities]
    assert set(entities.column("run_id").to_pylist()) == {served.findall_id}
    assert set(entities.column("query").to_pylist()) == {QUERY}
    assert len(set(entities.column("entity_id").to_pylist())) == 12

    citations = pq.read_table(tmp_path / "ai_citations" / "data.parquet")
    served_citations = [
        (basis.field, citation.url)
        for candidate in served.candidates or []
        if candidate.match_status == "matched"
        for basis in candidate.basis or []
        for citation in basis.citations
    ]
    assert citations.num_rows == len(served_citations) > 0
    assert (
        list(
            zip(
                citations.column("field").to_pylist(),
                citations.column("source_url").to_pylist(),
                strict=True,
            )
        )
        == served_citations
    )
    assert set(citations.column("entity_id").to_pylist()) <= set(
        entities.column("entity_id").to_pylist()
    )

    metadata = metadata_of(result, "ai_entities")
    assert metadata["scout/credits"] == snapshot.credits == served.credits > 0
    assert metadata["scout/run_id"] == served.findall_id
    assert metadata["scout/status"] == "completed"
    assert metadata["dagster/row_count"] == 12
    assert metadata["dagster/uri"].endswith("ai_entities/data.parquet")
    assert [c.name for c in metadata["dagster/column_schema"].columns] == entities.column_names
    # Credits count once per remote run: on the entities table; every table has the run id.
    citations_metadata = metadata_of(result, "ai_citations")
    assert "scout/credits" not in citations_metadata
    assert citations_metadata["scout/run_id"] == served.findall_id
    assert citations_metadata["scout/credits_on"] == "ai_entities"

    checks = {
        (c.asset_key.to_user_string(), c.check_name): c.passed
        for c in result.get_asset_check_evaluations()
    }
    assert checks == {
        ("ai_entities", "not_empty"): True,
        ("ai_entities", "unique_entity_id"): True,
        ("ai_entities", "has_source_url"): True,
    }
    assert emulator.ledger.creates() == 1 and emulator.ledger.cancels() == 0


def test_a_run_completed_by_the_first_look_is_read_from_that_look(tmp_path: Path) -> None:
    # As on a machine slow enough that the run ended before the step looked.
    config = EmulatorConfig(queued_s=0.0, findall_duration_s=0.0, keepalive_s=0.2)
    with EmulatorServer(config=config, api_key=TEST_KEY) as server:
        assets = build_findall_assets("ai", QUERY, output_schema=SCHEMA, limit=12)
        assert materialize([assets], resources=resources(server, tmp_path)).success
        run_id = server.ledger.runs()[0].run_id
        requests = [(r.method, r.path.rsplit("/", 1)[-1]) for r in server.ledger.requests]
    assert requests == [("POST", "runs"), ("GET", run_id)]
    assert pq.read_table(tmp_path / "ai_entities" / "data.parquet").num_rows == 12


def test_downstream_assets_get_pandas_or_arrow(emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets("ai", QUERY, limit=4)

    @asset(io_manager_key="scout_io_manager")
    def as_pandas(ai_entities: pd.DataFrame) -> pd.DataFrame:
        assert isinstance(ai_entities, pd.DataFrame)
        return ai_entities[["entity_id", "name"]]

    @asset(io_manager_key="scout_io_manager")
    def as_arrow(ai_entities: pa.Table) -> pa.Table:
        assert isinstance(ai_entities, pa.Table)
        return ai_entities.select(["entity_id"])

    result = materialize([assets, as_pandas, as_arrow], resources=resources(emulator, tmp_path))
    assert result.success
    assert len(pd.read_parquet(tmp_path / "as_pandas")) == 4
    assert pq.read_table(tmp_path / "as_arrow" / "data.parquet").num_rows == 4


# ---------------------------------------------------------------- search


def test_search_tables_and_report(emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_search_assets(
        "ev", ["ev market trends", "battery supply"], objective="Where is the EV market going?"
    )
    result = materialize([assets], resources=resources(emulator, tmp_path))
    assert result.success
    (snapshot,) = emulator.ledger.runs()
    client, _ = make_client(emulator)
    served = client.get_search_run(snapshot.run_id)

    results = pq.read_table(tmp_path / "ev_results" / "data.parquet")
    assert results.schema.remove_metadata() == RESULTS_SCHEMA
    assert results.column("source_url").to_pylist() == [r.url for r in served.results]
    sources = pq.read_table(tmp_path / "ev_sources" / "data.parquet")
    assert sources.schema.remove_metadata() == SOURCES_SCHEMA
    assert sources.column("source_index").to_pylist() == [s.index for s in served.sources or []]
    findings = pq.read_table(tmp_path / "ev_findings" / "data.parquet")
    assert findings.schema.remove_metadata() == FINDINGS_SCHEMA
    assert findings.column("answer").to_pylist() == [f.answer for f in served.findings or []]
    report = (tmp_path / "ev_report" / "report.md").read_text()
    assert report == served.report and "[1]" in report

    metadata = metadata_of(result, "ev_results")
    assert metadata["scout/credits"] == snapshot.credits == 2
    assert metadata["scout/usage/pages_fetched"] == served.usage.pages_fetched  # type: ignore[union-attr]
    # Stored as the API sent it; shown in the UI with each [N] a link to source N.
    shown = metadata_of(result, "ev_report")["report"]
    first = next(s for s in served.sources or [] if s.index == 1)
    assert shown != served.report and f"[\\[1\\]](<{first.url}>)" in shown
    assert metadata_of(result, "ev_report")["report_chars"] == len(served.report or "")
    credits = [
        event.step_materialization_data.materialization.metadata.get("scout/credits")
        for event in result.get_asset_materialization_events()
    ]
    assert sum(getattr(c, "value", 0) for c in credits if c is not None) == snapshot.credits
    assert emulator.ledger.cancels() == 0


# ---------------------------------------------------------------- lifecycle


def test_deadline_cancels_findall_and_fails(slow_emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets("ai", QUERY, timeout_s=0.8)
    result = materialize(
        [assets], resources=resources(slow_emulator, tmp_path), raise_on_error=False
    )
    assert not result.success
    (snapshot,) = slow_emulator.ledger.runs()
    assert snapshot.state == "cancelled" and snapshot.cancelled_while_active
    assert slow_emulator.ledger.active_runs() == []
    failure = result.get_step_failure_events()[0].step_failure_data
    message = failure.error.message if failure.error else ""
    assert "did not finish within its deadline of 0.8 s" in message
    assert f"credits charged: {snapshot.credits}" in message
    assert failure.user_failure_data is not None
    assert failure.user_failure_data.metadata["scout/credits"].value == snapshot.credits
    assert not (tmp_path / "ai_entities").exists()


def test_deadline_keeps_partial_search_results_when_asked(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_search_assets(
        "ev", ["ev market"], limit=50, timeout_s=2.0, keep_partial_on_timeout=True
    )
    result = materialize([assets], resources=resources(slow_emulator, tmp_path))
    assert result.success
    (snapshot,) = slow_emulator.ledger.runs()
    assert snapshot.state == "cancelled" and snapshot.cancelled_while_active
    metadata = metadata_of(result, "ev_results")
    assert metadata["scout/partial"] is True
    assert metadata["scout/status"] == "cancelled"
    assert metadata["scout/credits"] == snapshot.credits
    assert pq.read_table(tmp_path / "ev_results" / "data.parquet").num_rows > 0


def test_credit_budget_cancels_the_run(slow_emulator: EmulatorServer, tmp_path: Path) -> None:
    assets = build_findall_assets("ai", QUERY, limit=30, credit_budget=8)
    result = materialize(
        [assets], resources=resources(slow_emulator, tmp_path), raise_on_error=False
    )
    assert not result.success
    (snapshot,) = slow_emulator.ledger.runs()
    assert snapshot.state == "cancelled" and snapshot.cancelled_while_active
    failure = result.get_step_failure_events()[0].step_failure_data
    assert failure.error is not None and "passed its credit budget of 8" in failure.error.message


def test_a_failed_remote_run_fails_the_asset_with_its_error(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    emulator.faults.configure(FaultConfig(run_failure_rate=1.0))
    assets = build_findall_assets("ai", QUERY)
    result = materialize([assets], resources=resources(emulator, tmp_path), raise_on_error=False)
    assert not result.success
    (snapshot,) = emulator.ledger.runs()
    client, _ = make_client(emulator)
    server_error = client.get_findall_run(snapshot.run_id).error
    assert server_error
    failure = result.get_step_failure_events()[0].step_failure_data
    assert failure.error is not None
    assert f"failed on the server: {server_error}" in failure.error.message
    assert emulator.ledger.cancels() == 0, "a finished run is never cancelled"
    assert not (tmp_path / "ai_entities").exists()


@pytest.mark.usefixtures("python_sigint")
def test_terminating_the_dagster_run_cancels_the_remote_run(
    slow_emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_findall_assets("ai", QUERY)

    def interrupt_once_running() -> None:
        wait_until(lambda: any(r.state == "running" for r in slow_emulator.ledger.runs()))
        _thread.interrupt_main()  # what a terminate request does to an in-process run

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    with DagsterInstance.ephemeral() as instance:
        try:
            result = materialize(
                [assets],
                resources=resources(slow_emulator, tmp_path),
                instance=instance,
                raise_on_error=False,
            )
            assert not result.success
        except KeyboardInterrupt:
            pass
    (snapshot,) = slow_emulator.ledger.runs()
    wait_until(lambda: slow_emulator.ledger.run(snapshot.run_id).state == "cancelled")
    assert slow_emulator.ledger.run(snapshot.run_id).cancelled_while_active
    assert not (tmp_path / "ai_entities").exists()


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query must be a non-empty string"),
        ({"query": "q" * 2001}, "query is 2001 characters long; the most allowed is 2000"),
        ({"limit": 0}, "limit must be a whole number of at least 1, got 0"),
        ({"limit": -3}, "limit must be a whole number of at least 1, got -3"),
        (
            {"timeout_s": 0},
            "timeout_s must be a positive number of seconds, got 0 (below 604800, a week)",
        ),
        (
            {"timeout_s": -1},
            "timeout_s must be a positive number of seconds, got -1 (below 604800, a week)",
        ),
        ({"generator": "ultra"}, "generator must be one of ('base', 'core', 'pro'), got 'ultra'"),
        ({"output_schema": {"type": "array"}}, 'output_schema must have "type": "object"'),
        (
            {"output_schema": {"type": "object", "properties": {"a": {"type": "strng"}}}},
            "output_schema property 'a' has unknown type 'strng'",
        ),
        ({"fields": ["run_id"]}, "field name(s) ['run_id'] are reserved"),
        ({"name": "my assets"}, "name must be letters, digits and underscores"),
    ],
)
def test_bad_configuration_fails_at_definition_time(
    emulator: EmulatorServer, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "ai", "query": QUERY} | kwargs
    with pytest.raises(ValueError) as caught:
        build_findall_assets(**arguments)
    assert message in str(caught.value)
    assert emulator.ledger.requests == []


def test_resource_reads_env_vars_at_run_time(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    monkeypatch.setenv("SCOUT_BASE_URL", emulator.url + "/v1")
    resource = ScoutResource(api_key=EnvVar("SCOUT_API_KEY"), base_url=EnvVar("SCOUT_BASE_URL"))
    assets = build_findall_assets("ai", QUERY, limit=2)
    result = materialize(
        [assets],
        resources={
            "scout": resource,
            "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
        },
    )
    assert result.success and emulator.ledger.creates() == 1


def test_a_malformed_base_url_from_the_environment_fails_before_any_call(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    monkeypatch.setenv("SCOUT_BASE_URL", "core.usescout.sh")
    resource = ScoutResource(api_key=EnvVar("SCOUT_API_KEY"), base_url=EnvVar("SCOUT_BASE_URL"))
    with pytest.raises(Exception) as caught:
        materialize(
            [build_findall_assets("ai", QUERY)],
            resources={
                "scout": resource,
                "scout_io_manager": ScoutParquetIOManager(base_path=str(tmp_path)),
            },
        )
    chain, error = [], caught.value
    while error is not None:
        chain.append(str(error))
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    assert any(
        "base_url must be an absolute http(s) URL" in m and "core.usescout.sh'" in m for m in chain
    )
    assert emulator.ledger.requests == []


def test_resource_never_shows_its_key() -> None:
    resource = ScoutResource(api_key=TEST_KEY, base_url="https://core.usescout.sh/v1")
    assert TEST_KEY not in repr(resource) and TEST_KEY not in str(resource)
    assert resource.base_url == "https://core.usescout.sh"
    with pytest.raises(Exception, match="base_url must be an absolute http"):
        ScoutResource(api_key=TEST_KEY, base_url="core.usescout.sh")


def test_a_downstream_asset_gets_the_report_as_text(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_search_assets("ev", ["ev market trends"], objective="Why?")

    @asset(io_manager_key="scout_io_manager")
    def report_length(ev_report: str) -> pa.Table:
        return pa.table({"chars": [len(ev_report)], "cites_first_source": ["[1]" in ev_report]})

    result = materialize([assets, report_length], resources=resources(emulator, tmp_path))
    assert result.success
    written = (tmp_path / "ev_report" / "report.md").read_text()
    row = pq.read_table(tmp_path / "report_length" / "data.parquet").to_pylist()[0]
    assert row == {"chars": len(written), "cites_first_source": True}


def test_the_final_body_must_be_the_run_asked_for_and_readable() -> None:
    from scout_dagster import ScoutRunBodyError
    from scout_dagster._findall_read import read_run_body

    columns = entity_columns(FindAllRequest(QUERY, output_schema=SCHEMA))
    with pytest.raises(
        ScoutRunBodyError, match="FindAll run fa-1: its body cannot be read: entities is a JSON int"
    ):
        read_run_body(b'{"findall_id": "fa-1", "entities": 5}', "fa-1", columns)
    with pytest.raises(ValueError, match="the body is run fa-2, not fa-1"):
        read_run_body(b'{"findall_id": "fa-2", "entities": []}', "fa-1", columns)
    assert read_run_body(b'{"findall_id": "fa-1"}', "fa-1", columns).facts.run_id == "fa-1"
