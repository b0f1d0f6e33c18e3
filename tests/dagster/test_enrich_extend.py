"""Enrich and extend assets downstream of a FindAll asset, under real Dagster
execution against the emulator.

Tables are read back from Parquet; what was sent and what it cost are read
from the emulator's request log and ledger (its price list: 5 credits fixed,
per match by generator, 1 per entity enriched). Runs that must not finish on
their own (deadline, termination, budget) live on the emulator's manual
clock, which only the test moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from dagster import (
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    ExecuteInProcessResult,
    RetryPolicy,
    StaticPartitionsDefinition,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_findall_enrich_assets,
    build_findall_extend_assets,
    build_scout_runs_ledger,
)
from scout_dagster.emulator import EmulatorServer
from scout_dagster.emulator._runs import (
    ENRICHMENT_CREDITS,
    FINDALL_CREDITS_PER_MATCH,
    FINDALL_FIXED_CREDITS,
)
from tests.conftest import TEST_KEY, metadata_of, wait_until
from tests.hostile.run_support import Background, failure_text

QUERY = "AI infrastructure companies"
SCHEMA = {"type": "object", "properties": {"employees": {"type": "integer"}}}
#: Real seconds to wait for what must happen; generous, not a speed test.
BOUND_S = 60.0


def _resources(server: EmulatorServer, base: Path, **scout: Any) -> dict[str, Any]:
    return {
        "scout": ScoutResource(api_key=TEST_KEY, base_url=server.url, max_retries=2, **scout),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def _upstream(**options: Any) -> AssetsDefinition:
    options.setdefault("limit", 4)
    return build_findall_assets("ai", QUERY, **options)


def _enrich(upstream: AssetsDefinition, **options: Any) -> AssetsDefinition:
    return build_findall_enrich_assets(
        upstream, name="ai_ceo", fields=["ceo"], output_schema=SCHEMA, **options
    )


def _posts(server: EmulatorServer, operation: str) -> list[str]:
    """The paths of the POSTs of ``operation`` the emulator answered, replays included."""
    return [
        r.path for r in server.ledger.requests if r.method == "POST" and r.path.endswith(operation)
    ]


# ---------------------------------------------------------------- enrich


def test_enrich_adds_the_fields_and_its_credits_are_what_it_added(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    upstream = _upstream()
    enrich = _enrich(upstream)
    assert enrich.partitions_def is None
    assert AssetKey("ai_entities") in enrich.asset_deps[AssetKey("ai_ceo_entities")]
    result = materialize([upstream, enrich], resources=_resources(emulator, tmp_path))
    assert result.success

    (run,) = emulator.ledger.runs()
    entities = pq.read_table(tmp_path / "ai_ceo_entities" / "data.parquet")
    before = pq.read_table(tmp_path / "ai_entities" / "data.parquet")
    assert entities.column_names == [
        *before.column_names[: before.column_names.index("source_url")],
        "ceo",
        "employees",
        *before.column_names[before.column_names.index("source_url") :],
    ]
    assert entities.column("entity_id").to_pylist() == before.column("entity_id").to_pylist()
    assert all(isinstance(value, str) and value for value in entities.column("ceo").to_pylist())
    assert all(isinstance(value, int) for value in entities.column("employees").to_pylist())
    assert set(entities.column("run_id").to_pylist()) == {run.run_id}
    assert set(entities.column("query").to_pylist()) == {QUERY}
    citations = pq.read_table(tmp_path / "ai_ceo_citations" / "data.parquet")
    assert {"ceo", "employees"} <= set(citations.column("field").to_pylist())

    upstream_facts = metadata_of(result, "ai_entities")
    facts = metadata_of(result, "ai_ceo_entities")
    assert facts["scout/credits"] == 4 * ENRICHMENT_CREDITS
    assert upstream_facts["scout/credits"] + facts["scout/credits"] == run.credits
    assert facts["scout/credits_before"] == upstream_facts["scout/credits"]
    assert facts["scout/run_id"] == facts["scout/upstream_run_id"] == run.run_id
    assert facts["scout/phase_mode"] == "sent" and facts["scout/entity_count"] == 4
    assert facts["dagster/row_count"] == 4
    assert "scout/credits" not in metadata_of(result, "ai_ceo_citations")
    assert _posts(emulator, "/enrich") == [f"/v1/findall/runs/{run.run_id}/enrich"]


def test_without_an_upstream_materialization_nothing_is_sent(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    upstream = _upstream()
    enrich = _enrich(upstream)
    result = materialize(
        [upstream, enrich],
        selection=list(enrich.keys),
        resources=_resources(emulator, tmp_path),
        raise_on_error=False,
    )
    assert not result.success
    assert "materialize ai_entities first" in failure_text(result)
    assert emulator.ledger.requests == []


def test_the_same_upstream_run_is_enriched_once_and_a_new_one_again(
    emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    upstream = _upstream()
    enrich = _enrich(upstream)
    ledger = build_scout_runs_ledger(upstream, enrich)
    resources = _resources(emulator, tmp_path)

    def run(*assets: AssetsDefinition) -> ExecuteInProcessResult:
        result = materialize(
            [upstream, enrich, ledger],
            selection=[key for a in assets for key in a.keys],
            resources=resources,
            instance=instance,
        )
        assert result.success
        return result

    first = run(upstream, enrich)
    again = run(enrich)
    facts = metadata_of(again, "ai_ceo_entities")
    assert facts["scout/phase_mode"] == "already_applied" and facts["scout/credits"] == 0
    (remote,) = emulator.ledger.runs()
    assert len(_posts(emulator, "/enrich")) == 1, "no second enrich of the same run"
    assert (
        metadata_of(first, "ai_entities")["scout/credits"]
        + metadata_of(first, "ai_ceo_entities")["scout/credits"]
        == remote.credits
    )
    table = pq.read_table(tmp_path / "ai_ceo_entities" / "data.parquet")
    assert table.column("ceo").null_count == 0

    run(upstream)  # a refresh: a new remote run
    run(enrich)
    assert len(emulator.ledger.runs()) == 2
    newest = max(emulator.ledger.runs(), key=lambda r: r.created_at)
    assert _posts(emulator, "/enrich")[-1] == f"/v1/findall/runs/{newest.run_id}/enrich"
    assert len(_posts(emulator, "/enrich")) == 2

    run(ledger)
    rows = pq.read_table(tmp_path / "scout_runs" / "data.parquet").to_pylist()
    assert {r["run_id"]: r["credits"] for r in rows} == {
        r.run_id: r.credits for r in emulator.ledger.runs()
    }


#: The tables _FailsOnce failed to write.
FAILED_WRITES: list[str] = []


class _FailsOnce(ScoutParquetIOManager):
    """Fails the first write of the enriched entities, as a full disk would."""

    def handle_output(self, context: Any, obj: Any) -> None:
        key = context.asset_key.to_user_string()
        if key == "ai_ceo_entities" and key not in FAILED_WRITES:
            FAILED_WRITES.append(key)
            raise OSError("no space left on device")
        super().handle_output(context, obj)


def test_a_step_retry_adopts_the_enrich_an_attempt_sent(
    emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    FAILED_WRITES.clear()
    upstream = _upstream()
    enrich = _enrich(upstream, retry_policy=RetryPolicy(max_retries=1))
    resources = _resources(emulator, tmp_path)
    resources["scout_io_manager"] = _FailsOnce(base_path=str(tmp_path))
    result = materialize([upstream, enrich], resources=resources, instance=instance)
    assert result.success
    assert FAILED_WRITES == ["ai_ceo_entities"], "the first attempt failed after the POST"
    (remote,) = emulator.ledger.runs()
    assert len(_posts(emulator, "/enrich")) == 1, "the retry sent no second enrich"
    facts = metadata_of(result, "ai_ceo_entities")
    assert facts["scout/phase_mode"] == "adopted"
    # The retry counts from the credits the first attempt saw before its POST.
    assert facts["scout/credits"] == 4 * ENRICHMENT_CREDITS
    assert metadata_of(result, "ai_entities")["scout/credits"] + facts["scout/credits"] == (
        remote.credits
    )


def test_a_retry_after_an_unanswered_post_sends_it_again_under_its_key(
    emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    """The enrich reached the server but no answer came back, to any of the
    client's attempts: the step fails with its tag saying "sending". The step
    retry sends it again under the same idempotency key, which the API answers
    with the first answer: the run is enriched once."""
    upstream = _upstream()
    enrich = _enrich(upstream, retry_policy=RetryPolicy(max_retries=1))
    resources = _resources(emulator, tmp_path)
    assert materialize([upstream], resources=resources, instance=instance).success
    (remote,) = emulator.ledger.runs()
    attempts = 3  # max_retries=2: every attempt of the first step's POST
    emulator.faults.inject("drop", times=attempts, path=f"/v1/findall/runs/{remote.run_id}/enrich")
    result = materialize(
        [upstream, enrich], selection=list(enrich.keys), resources=resources, instance=instance
    )
    assert result.success
    posts = [r for r in emulator.ledger.requests if r.path.endswith("/enrich")]
    assert len(posts) == attempts + 1 and [r.idempotent_replay for r in posts].count(False) == 1
    assert len({r.idempotency_key for r in posts}) == 1
    facts = metadata_of(result, "ai_ceo_entities")
    assert facts["scout/phase_mode"] == "sent_again"
    assert facts["scout/credits"] == 4 * ENRICHMENT_CREDITS
    upstream_credits = FINDALL_FIXED_CREDITS + 4 * FINDALL_CREDITS_PER_MATCH["base"]
    assert emulator.ledger.run(remote.run_id).credits == upstream_credits + facts["scout/credits"]


def test_each_partition_enriches_its_own_run(
    emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    partitions = StaticPartitionsDefinition(["robotics", "biotech"])
    typed = {"name": {"type": "string"}, "founded_year": {"type": "integer"}}
    upstream = build_findall_assets(
        "topic",
        "{partition_key} companies",
        output_schema={"type": "object", "properties": typed},
        limit=3,
        partitions_def=partitions,
    )
    enrich = build_findall_enrich_assets(upstream, name="topic_ceo", fields=["ceo"])
    assert enrich.partitions_def == partitions
    resources = _resources(emulator, tmp_path)
    for key in partitions.get_partition_keys():
        for assets in (upstream, enrich):
            result = materialize(
                [upstream, enrich],
                selection=list(assets.keys),
                partition_key=key,
                resources=resources,
                instance=instance,
            )
            assert result.success
    by_query = {run.query: run for run in emulator.ledger.runs()}
    for key in partitions.get_partition_keys():
        remote = by_query[f"{key} companies"]
        folder = tmp_path / "topic_ceo_entities" / f"partition={key}"
        table = pq.read_table(folder / "data.parquet")
        assert set(table.column("run_id").to_pylist()) == {remote.run_id}
        assert set(table.column("partition_key").to_pylist()) == {key}
        assert table.column("ceo").null_count == 0
        assert str(table.schema.field("founded_year").type) == "int64"
        assert table.column_names[:4] == ["entity_id", "name", "founded_year", "ceo"]
        assert f"/v1/findall/runs/{remote.run_id}/enrich" in _posts(emulator, "/enrich")
    assert len(_posts(emulator, "/enrich")) == 2


# ---------------------------------------------------------------- extend


def test_extend_finds_more_and_pays_only_for_the_new_matches(
    emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    upstream = _upstream(limit=3, generator="core")
    extend = build_findall_extend_assets(upstream, name="ai_more", additional_limit=2)
    enrich = _enrich(upstream)
    ledger = build_scout_runs_ledger(upstream, extend, enrich)
    resources = _resources(emulator, tmp_path)
    results = [
        materialize(
            [upstream, extend, enrich, ledger],
            selection=list(assets.keys),
            resources=resources,
            instance=instance,
        )
        for assets in (upstream, extend, enrich, ledger)
    ]
    assert all(result.success for result in results)
    (remote,) = emulator.ledger.runs()
    found = pq.read_table(tmp_path / "ai_entities" / "data.parquet")
    more = pq.read_table(tmp_path / "ai_more_entities" / "data.parquet")
    assert more.num_rows == 5 and more.column_names == found.column_names
    assert more.column("entity_id").to_pylist()[:3] == found.column("entity_id").to_pylist()
    per_match = FINDALL_CREDITS_PER_MATCH["core"]
    created = metadata_of(results[0], "ai_entities")["scout/credits"]
    extended = metadata_of(results[1], "ai_more_entities")
    assert created == FINDALL_FIXED_CREDITS + 3 * per_match
    assert extended["scout/credits"] == 2 * per_match, "only the two new matches are paid"
    assert extended["scout/entities_added"] == 2
    # The enrich after it covers all five entities.
    enriched = metadata_of(results[2], "ai_ceo_entities")
    assert enriched["scout/credits"] == 5 * ENRICHMENT_CREDITS
    assert created + extended["scout/credits"] + enriched["scout/credits"] == remote.credits
    (row,) = pq.read_table(tmp_path / "scout_runs" / "data.parquet").to_pylist()
    assert row["run_id"] == remote.run_id and row["credits"] == remote.credits


# ---------------------------------------------------------------- stopping the phase


def _upstream_on_manual_clock(
    server: EmulatorServer, instance: DagsterInstance, resources: dict[str, Any]
) -> AssetsDefinition:
    upstream = _upstream()
    job = Background(lambda: materialize([upstream], resources=resources, instance=instance))
    wait_until(lambda: server.ledger.creates() == 1, BOUND_S)
    server.clock.advance(10_000)  # type: ignore[attr-defined]
    assert job.wait(BOUND_S) and job.value.success
    return upstream


def _enrich_in_background(
    server: EmulatorServer, tmp_path: Path, instance: DagsterInstance, **options: Any
) -> tuple[Background, str]:
    resources = _resources(server, tmp_path)
    upstream = _upstream_on_manual_clock(server, instance, resources)
    (remote,) = server.ledger.runs()
    enrich = _enrich(upstream, **options)
    job = Background(
        lambda: materialize(
            [upstream, enrich],
            selection=list(enrich.keys),
            resources=resources,
            instance=instance,
            raise_on_error=False,
        )
    )
    wait_until(lambda: _posts(server, "/enrich"), BOUND_S)
    return job, remote.run_id


def test_a_deadline_cancels_the_run(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    # The manual clock stands still: the enrich never ends on its own.
    job, run_id = _enrich_in_background(manual_emulator, tmp_path, instance, timeout_s=0.5)
    assert job.wait(BOUND_S)
    result = job.value
    assert not result.success
    assert "did not finish within its deadline of 0.5 s" in failure_text(result)
    snapshot = manual_emulator.ledger.run(run_id)
    assert snapshot.state == "cancelled" and snapshot.cancelled_while_active
    assert not (tmp_path / "ai_ceo_entities").exists()


def test_a_budget_cancels_the_run(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    job, run_id = _enrich_in_background(manual_emulator, tmp_path, instance, credit_budget=1)
    credits = manual_emulator.ledger.run(run_id).credits
    manual_emulator.clock.advance(6.0)  # type: ignore[attr-defined]
    assert manual_emulator.ledger.run(run_id).credits >= credits + 2, "past the budget"
    assert job.wait(BOUND_S)
    result = job.value
    assert not result.success
    assert "passed its credit budget" in failure_text(result)
    assert manual_emulator.ledger.run(run_id).state == "cancelled"
    # What the enrich cost is observed on its primary table, for the runs ledger.
    observations = instance.fetch_observations(AssetKey("ai_ceo_entities"), limit=10).records
    (observed,) = [r.asset_observation for r in observations if r.asset_observation]
    spent = manual_emulator.ledger.run(run_id).credits - credits
    assert observed.metadata["scout/credits"].value == spent


def test_a_termination_cancels_the_run(
    manual_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    job, run_id = _enrich_in_background(manual_emulator, tmp_path, instance)
    (dagster_run,) = instance.get_runs(limit=1)
    instance.run_coordinator.cancel_run(dagster_run.run_id)  # the UI's Terminate
    wait_until(lambda: manual_emulator.ledger.cancels(run_id) == 1, BOUND_S)
    assert job.wait(BOUND_S)
    assert not job.value.success
    assert "this process cancelled it" in failure_text(job.value)
    assert manual_emulator.ledger.run(run_id).state == "cancelled"
    assert len(_posts(manual_emulator, "/enrich")) == 1
