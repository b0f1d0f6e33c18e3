"""The ecosystem's shape: decorators, translator, one remote run for all tables.

Every case materializes with real Dagster against the emulator (or the
hostile server) and reads the Parquet back.
"""

# Dagster reads the context annotations of the bodies: no `from __future__ import annotations`.
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    DagsterInvalidDefinitionError,
    Definitions,
    FreshnessPolicy,
    StaticPartitionsDefinition,
    asset,
    materialize,
)

from scout_dagster import (
    DagsterScoutTranslator,
    FindAllRequest,
    ScoutParquetIOManager,
    ScoutResource,
    ScoutTableProps,
    SearchRequest,
    build_findall_assets,
    build_search_assets,
    scout_findall_assets,
    scout_search_assets,
)
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY
from tests.hostile.server import HostileServer, Scenario

QUERY = "S-1 stage AI infrastructure companies"
REQUEST = FindAllRequest(QUERY, fields=("name", "website"), limit=4)
SEARCH = SearchRequest(("ev market trends",), objective="Where is the EV market going?")


def resources(server: EmulatorServer | HostileServer, base: Path, key: str = TEST_KEY) -> Any:
    return {
        "scout": ScoutResource(api_key=key, base_url=server.url, max_retries=2),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def materializations(result: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for event in result.get_asset_materialization_events():
        m = event.step_materialization_data.materialization
        found[m.asset_key.to_user_string()] = {
            k: getattr(v, "value", v) for k, v in m.metadata.items()
        }
    return found


def table(base: Path, name: str) -> pa.Table:
    return pq.read_table(base / name / "data.parquet")


# ---------------------------------------------------------------- decorators


def test_the_decorator_body_is_one_line_and_may_work_around_it(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    seen: list[str] = []

    @scout_findall_assets(name="ai", request=REQUEST)
    def ai(context: AssetExecutionContext, scout: ScoutResource) -> Iterator[Any]:
        seen.append("before")
        yield from scout.run_findall(context, REQUEST)
        seen.append("after")

    result = materialize([ai], resources=resources(emulator, tmp_path))
    assert result.success and seen == ["before", "after"]
    (snapshot,) = emulator.ledger.runs()
    assert emulator.ledger.creates() == 1
    entities, citations = table(tmp_path, "ai_entities"), table(tmp_path, "ai_citations")
    assert entities.num_rows == 4
    assert set(entities.column("run_id").to_pylist()) == {snapshot.run_id}
    assert set(citations.column("run_id").to_pylist()) == {snapshot.run_id}
    metadata = materializations(result)
    assert metadata["ai_entities"]["scout/credits"] == snapshot.credits
    assert metadata["ai_citations"]["scout/run_id"] == snapshot.run_id


def test_the_search_decorator_sends_every_create_field_of_the_request(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    request = SearchRequest(
        ("ev market trends",),
        objective="Where is it going?",
        limit=5,
        country="us",
        language="en",
        include_domains=("reuters.com",),
        freshness="week",
    )

    @scout_search_assets(name="ev", request=request)
    def ev(context: AssetExecutionContext, scout: ScoutResource) -> Iterator[Any]:
        yield from scout.run_search(context, request)

    result = materialize([ev], resources=resources(emulator, tmp_path))
    assert result.success
    (snapshot,) = emulator.ledger.runs()
    assert snapshot.request_body == request.body()
    assert snapshot.request_body["freshness"] == "week"
    # The factory takes the same fields by name: freshness was not settable before.
    factory = build_search_assets("ev2", ["ev market trends"], freshness="month")
    assert materialize([factory], resources=resources(emulator, tmp_path / "2")).success
    assert emulator.ledger.runs()[-1].request_body["freshness"] == "month"


def test_a_body_running_another_request_fails_before_any_call(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    @scout_findall_assets(name="ai", request=REQUEST)
    def ai(context: AssetExecutionContext, scout: ScoutResource) -> Iterator[Any]:
        yield from scout.run_findall(context, FindAllRequest(QUERY, limit=400))

    result = materialize([ai], resources=resources(emulator, tmp_path), raise_on_error=False)
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message  # type: ignore[union-attr]
    assert "runs a request other than the one its decorator declared" in message
    assert emulator.ledger.creates() == 0 and not (tmp_path / "ai_entities").exists()


def test_the_factory_takes_a_request_or_its_fields_not_both() -> None:
    assert build_findall_assets("a", request=REQUEST).keys == {
        AssetKey("a_entities"),
        AssetKey("a_citations"),
    }
    with pytest.raises(ValueError, match="give request or its fields, not both: query given"):
        build_findall_assets("a", QUERY, request=REQUEST)
    with pytest.raises(ValueError, match="not both: limit given beside request="):
        build_findall_assets("a", request=REQUEST, limit=3)
    # A mapping is not a request (its keys would become the queries of a paid run).
    with pytest.raises(ValueError, match="expected a SearchRequest, got a dict"):
        build_search_assets("a", request={"queries": ["heat pumps"]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queries must be a non-empty list of strings"):
        SearchRequest({"heat pumps": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"has no field.*fieldz.*its fields are query, fields"):
        build_findall_assets("a", QUERY, fieldz=["name"])
    with pytest.raises(ValueError, match="request must be a FindAllRequest"):
        scout_findall_assets(name="a", request=SEARCH)  # type: ignore[arg-type]


# ---------------------------------------------------------------- one run, all tables


def test_selecting_one_table_is_refused_before_anything_is_paid(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_findall_assets("ai", request=REQUEST)
    with pytest.raises(DagsterInvalidDefinitionError) as caught:
        materialize([assets], resources=resources(emulator, tmp_path), selection=["ai_citations"])
    assert "required_multi_asset_neighbors" in str(caught.value) or "required" in str(
        caught.value.__cause__
    )
    assert emulator.ledger.creates() == 0


def test_one_table_with_its_run_materializes_every_table_from_one_run(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    findall = build_findall_assets("ai", request=REQUEST)
    search = build_search_assets("ev", request=SEARCH)
    # What the UI asks (assetNodeAdditionalRequiredKeys) when Materialize is
    # clicked on one table: the rest of the run's tables.
    defs = Definitions(assets=[findall, search], resources=resources(emulator, tmp_path))
    graph = defs.resolve_asset_graph()
    assert graph.get(AssetKey("ev_report")).execution_set_asset_keys == set(search.keys)
    assert graph.get(AssetKey("ai_citations")).execution_set_asset_keys == set(findall.keys)

    for key, assets, tables in (
        ("ai_citations", findall, ["ai_entities", "ai_citations"]),
        ("ev_report", search, ["ev_results", "ev_sources", "ev_findings"]),
    ):
        emulator.state.reset()
        selection = AssetSelection.assets(key).required_multi_asset_neighbors()
        result = materialize([assets], resources=resources(emulator, tmp_path), selection=selection)
        assert result.success
        assert set(materializations(result)) == {k.to_user_string() for k in assets.keys}
        (snapshot,) = emulator.ledger.runs()
        assert emulator.ledger.creates() == 1
        for name in tables:
            assert set(table(tmp_path, name).column("run_id").to_pylist()) == {snapshot.run_id}
        metadata = materializations(result)
        assert {m["scout/run_id"] for m in metadata.values()} == {snapshot.run_id}
        # Credits once: summing them over the run's materializations gives the cost.
        assert sum(m.get("scout/credits", 0) for m in metadata.values()) == snapshot.credits


# ---------------------------------------------------------------- translator


class ResearchTranslator(DagsterScoutTranslator):
    """Changes every attribute a translator may change, for some tables."""

    def get_asset_spec(self, props: ScoutTableProps) -> AssetSpec:
        spec = super().get_asset_spec(props)
        spec = spec.replace_attributes(
            key=spec.key.with_prefix(["research", props.kind]),
            group_name=f"research_{props.kind}",
            owners=["team:research"],
            tags={"tier": "gold" if props.table == "entities" else "silver"},
            kinds={"scout", "duckdb"} if props.table == "citations" else spec.kinds,
            automation_condition=AutomationCondition.on_cron("0 6 * * *"),
            freshness_policy=FreshnessPolicy.time_window(fail_window=dt.timedelta(days=2)),
        )
        if props.table == "citations":
            spec = spec.replace_attributes(
                description="Who said so.", deps=[AssetKey("upstream_seed")]
            )
        return spec.merge_attributes(metadata={"research/table": props.table})


def test_a_translator_changes_every_spec_and_the_run_still_finds_its_tables(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    @asset
    def upstream_seed() -> int:
        return 1

    @scout_findall_assets(name="ai", request=REQUEST, translator=ResearchTranslator())
    def ai(context: AssetExecutionContext, scout: ScoutResource) -> Iterator[Any]:
        yield from scout.run_findall(context, REQUEST)

    specs = {spec.key: spec for spec in ai.specs}
    entities = specs[AssetKey(["research", "findall", "ai_entities"])]
    citations = specs[AssetKey(["research", "findall", "ai_citations"])]
    assert entities.group_name == "research_findall" and entities.owners == ["team:research"]
    assert entities.tags["tier"] == "gold" and citations.tags["tier"] == "silver"
    assert citations.kinds == {"scout", "duckdb"} and entities.kinds == {"scout", "parquet"}
    assert citations.description == "Who said so."
    assert {dep.asset_key for dep in citations.deps} == {AssetKey("upstream_seed")}
    assert entities.automation_condition is not None and entities.freshness_policy is not None
    assert entities.metadata["research/table"] == "entities"
    assert entities.code_version and entities.code_version.endswith(REQUEST.fingerprint)
    assert {c.asset_key for c in ai.check_specs} == {entities.key}

    result = materialize([upstream_seed, ai], resources=resources(emulator, tmp_path))
    assert result.success
    written = pq.read_table(tmp_path / "research" / "findall" / "ai_entities" / "data.parquet")
    assert written.num_rows == 4
    checks = {(c.asset_key, c.check_name) for c in result.get_asset_check_evaluations()}
    assert (entities.key, "not_empty") in checks
    assert emulator.ledger.creates() == 1


def test_the_default_translator_gives_the_keys_and_metadata_of_before() -> None:
    findall = build_findall_assets("ai", QUERY, fields=["name"], group_name=None)
    search = build_search_assets("ev", ["q"], key_prefix="scout", owners=["a@b.co"])
    specs = {spec.key.to_user_string(): spec for spec in [*findall.specs, *search.specs]}
    assert set(specs) == {
        "ai_entities",
        "ai_citations",
        "scout/ev_results",
        "scout/ev_sources",
        "scout/ev_findings",
        "scout/ev_report",
    }
    assert {spec.group_name for spec in specs.values()} == {"scout"}
    assert specs["ai_entities"].kinds == {"scout", "parquet"}
    assert specs["scout/ev_report"].kinds == {"scout", "markdown"}
    assert "dagster/column_schema" in specs["ai_entities"].metadata
    assert "dagster/column_schema" not in specs["scout/ev_report"].metadata
    assert specs["scout/ev_results"].owners == ["a@b.co"]
    assert all(s.metadata["dagster/io_manager_key"] == "scout_io_manager" for s in specs.values())
    assert specs["ai_entities"].description.startswith("Entities matching: " + QUERY)  # type: ignore[union-attr]


def test_factories_take_automation_conditions_and_freshness_policies() -> None:
    condition = AutomationCondition.on_cron("0 6 * * *")
    policy = FreshnessPolicy.cron(
        deadline_cron="0 9 * * *", lower_bound_delta=dt.timedelta(hours=4)
    )
    assets = build_findall_assets(
        "ai", QUERY, automation_condition=condition, freshness_policy=policy
    )
    assert all(spec.automation_condition == condition for spec in assets.specs)
    assert all(spec.freshness_policy == policy for spec in assets.specs)


# ---------------------------------------------------------------- checks and table metadata


def test_blocking_checks_stop_downstream_loads_of_a_broken_run(tmp_path: Path) -> None:
    key = "sk-hostile-decorators"
    loaded: list[int] = []

    @asset(deps=[AssetKey("ai_entities")])
    def warehouse_load() -> None:
        loaded.append(1)

    blocking = build_findall_assets("ai", QUERY, limit=3, blocking_checks=True)
    assert all(spec.blocking for spec in blocking.check_specs)
    with HostileServer(key, Scenario(no_sources=True, run_s=0.05)) as server:
        result = materialize(
            [blocking, warehouse_load],
            resources=resources(server, tmp_path, key),
            raise_on_error=False,
        )
    assert not result.success
    evaluations = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert evaluations["has_source_url"] is False
    assert loaded == []

    # Not blocking (the default): the same run's load goes on.
    relaxed = build_findall_assets("ai", QUERY, limit=3)
    with HostileServer(key, Scenario(no_sources=True, run_s=0.05)) as server:
        result = materialize(
            [relaxed, warehouse_load], resources=resources(server, tmp_path / "2", key)
        )
    assert result.success and loaded == [1]


def test_partitioned_assets_have_partitioned_checks_and_partition_row_counts(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    regions = StaticPartitionsDefinition(["emea", "apac"])
    assets = build_findall_assets(
        "ai", "AI infrastructure companies in {partition_key}", limit=3, partitions_def=regions
    )
    assert all(spec.partitions_def == regions for spec in assets.check_specs)
    result = materialize([assets], resources=resources(emulator, tmp_path), partition_key="emea")
    assert result.success
    (evaluation, *_) = result.get_asset_check_evaluations()
    assert evaluation.partition == "emea"
    entities = materializations(result)["ai_entities"]
    assert entities["dagster/partition_row_count"] == 3
    assert "dagster/row_count" not in entities
    assert entities["dagster/table_name"] == "ai_entities"
    assert entities["dagster/storage_kind"] == "parquet"
    check_key = AssetCheckKey(AssetKey("ai_entities"), "not_empty")
    assert check_key in assets.check_keys


def test_every_create_field_is_documented_where_the_factories_take_it() -> None:
    """The fields come from the request classes; the factories' docs name them
    all, so a field added to the contract shows up here as a failure."""
    from scout_dagster._requests import request_field_names

    for kind, factory in (
        (FindAllRequest, build_findall_assets),
        (SearchRequest, build_search_assets),
    ):
        first, *rest = request_field_names(kind)
        doc = factory.__doc__ or ""
        assert f"``{first}``" in doc and all(f"``{name}``" in doc for name in rest), kind
