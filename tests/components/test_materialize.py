"""Components built from defs.yaml and materialized by real Dagster against the emulator.

The resource is the one the component binds, configured only by the process
environment, as in production: ``SCOUT_API_KEY`` and ``SCOUT_BASE_URL`` point
it at the emulator fixture; the YAML opt-in reaches an emulator where the
machine's shared one would be. The tables are read back from Parquet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    ExecuteInProcessResult,
    HourlyPartitionsDefinition,
    MonthlyPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)

from scout_dagster import ScoutConfigError
from scout_dagster._dagster._resource import NO_KEY_MESSAGE
from scout_dagster.emulator import EmulatorServer
from tests.components.conftest import FINDALL, SEARCH, defs_from_yaml
from tests.conftest import TEST_KEY

DAILY_QUERY = "AI infrastructure companies that announced a funding round on {start:%B %d, %Y}"


def findall_yaml(base: Path, *, partitions: str = "", query: str = DAILY_QUERY) -> str:
    return f"""
        type: {FINDALL}
        attributes:
          name: ai_funding
          request:
            query: "{query}"
            fields: [name, website, headquarters]
            limit: 4
        {partitions}
          timeout_s: 60
          io_manager:
            base_path: "{base}"
        """


DAILY = """
  partitions_def:
    type: daily
    start_date: "2026-01-01"
"""


def _indented(block: str) -> str:
    # The blocks above are written at the attributes' level of the template.
    return block.strip("\n").replace("\n", "\n        ")


def run(defs: Definitions, instance: DagsterInstance, **kwargs: Any) -> ExecuteInProcessResult:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, raise_on_error=False, **kwargs)


@pytest.fixture
def real_path(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The production path: the key and the service from the environment."""
    monkeypatch.setenv("SCOUT_API_KEY", TEST_KEY)
    monkeypatch.setenv("SCOUT_BASE_URL", emulator.url)
    return emulator


def test_a_daily_findall_component_materializes_a_partition(
    real_path: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    base = tmp_path / "tables"
    with defs_from_yaml({"ai_funding": findall_yaml(base, partitions=_indented(DAILY))}) as defs:
        result = run(defs, instance, partition_key="2026-01-05")
    assert result.success

    (snapshot,) = real_path.ledger.runs()
    rendered = "AI infrastructure companies that announced a funding round on January 05, 2026"
    assert snapshot.query == rendered
    assert snapshot.request_body["fields"] == ["name", "website", "headquarters"]
    assert snapshot.request_body["limit"] == 4

    entities = pd.read_parquet(base / "ai_funding_entities")
    assert len(entities) == 4
    assert set(entities["partition_key"]) == {"2026-01-05"}
    assert set(entities["query"]) == {rendered}
    assert list(entities.columns[:4]) == ["entity_id", "name", "website", "headquarters"]
    assert (base / "ai_funding_entities" / "partition=2026-01-05" / "data.parquet").is_file()
    citations = pd.read_parquet(base / "ai_funding_citations")
    assert len(citations) > 0 and set(citations["run_id"]) == {snapshot.run_id}


def test_a_search_component_with_the_yaml_opt_in_uses_the_local_emulator(
    shared_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    base = tmp_path / "tables"
    yaml = f"""
        type: {SEARCH}
        attributes:
          name: ev_market
          request:
            queries: ["latest electric vehicle market trends"]
            objective: "Where is the EV market going?"
            limit: 5
          keep_partial_on_timeout: true
          resource:
            emulator_without_key: true
          io_manager:
            base_path: "{base}"
        """
    with defs_from_yaml({"ev_market": yaml}) as defs:
        result = run(defs, instance)
    assert result.success
    (snapshot,) = shared_emulator.ledger.runs()
    assert snapshot.queries == ("latest electric vehicle market trends",)

    results = pd.read_parquet(base / "ev_market_results")
    assert 0 < len(results) <= 5 and set(results["run_id"]) == {snapshot.run_id}
    assert len(pd.read_parquet(base / "ev_market_sources")) > 0
    assert (base / "ev_market_report" / "report.md").read_text().strip()
    for event in result.get_asset_materialization_events():
        metadata = event.step_materialization_data.materialization.metadata
        assert "SYNTHETIC" in str(metadata["scout/synthetic"].value)


def test_without_a_key_or_the_opt_in_a_run_fails_before_any_request(
    shared_emulator: EmulatorServer, instance: DagsterInstance, tmp_path: Path
) -> None:
    base = tmp_path / "tables"
    with defs_from_yaml({"ai_funding": findall_yaml(base, partitions=_indented(DAILY))}) as defs:
        result = run(defs, instance, partition_key="2026-01-05")
    assert not result.success
    failures = [e for e in result.all_events if e.is_failure]
    assert failures, "the step failed"
    messages = " ".join(str(e.event_specific_data) for e in failures)
    assert "SCOUT_API_KEY" in messages and "emulator_without_key" in messages
    assert shared_emulator.ledger.requests == [], "nothing reached any emulator"
    assert not base.exists(), "nothing was written"


def test_the_fail_closed_error_is_the_resources_own(
    shared_emulator: EmulatorServer, tmp_path: Path
) -> None:
    yaml = findall_yaml(tmp_path, query="S-1 stage AI infrastructure companies")
    with defs_from_yaml({"ai_infra": yaml}) as defs:
        scout = defs.resources["scout"]  # type: ignore[index]
        with pytest.raises(ScoutConfigError) as raised:
            scout.get_client()
    assert str(raised.value) == NO_KEY_MESSAGE
    assert shared_emulator.ledger.requests == []


def test_post_processing_sets_automation_freshness_and_tags(tmp_path: Path) -> None:
    freshness = "dg.FreshnessPolicy.time_window(fail_window=datetime.timedelta(hours=26))"
    post = f"""
        post_processing:
          assets:
            - target: "*"
              attributes:
                automation_condition: "{{{{ dg.AutomationCondition.on_cron('0 6 * * *') }}}}"
                tags:
                  team: research
            - target: "key:ai_funding_entities"
              attributes:
                freshness_policy: "{{{{ {freshness} }}}}"
    """
    yaml = findall_yaml(tmp_path, partitions=_indented(DAILY)) + post
    with defs_from_yaml({"ai_funding": yaml}) as defs:
        specs = {spec.key: spec for spec in defs.resolve_all_asset_specs()}
    entities, citations = (
        specs[AssetKey("ai_funding_entities")],
        specs[AssetKey("ai_funding_citations")],
    )
    for spec in (entities, citations):
        assert spec.automation_condition is not None
        assert "on_cron(0 6 * * *" in spec.automation_condition.get_label()  # type: ignore[operator]
        assert spec.tags["team"] == "research"
    assert entities.freshness_policy is not None and citations.freshness_policy is None
    assert entities.partitions_def == DailyPartitionsDefinition(start_date="2026-01-01")


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("type: hourly\n    start_date: '2026-01-01-00:00'", HourlyPartitionsDefinition),
        ("type: daily\n    start_date: '2026-01-01'", DailyPartitionsDefinition),
        ("type: weekly\n    start_date: '2026-01-04'", WeeklyPartitionsDefinition),
        ("type: monthly\n    start_date: '2026-01-01'", MonthlyPartitionsDefinition),
        (
            "type: time_window\n    start_date: '2026-01-01'\n    fmt: '%Y-%m-%d'\n"
            "    cron_schedule: '0 0 */3 * *'",
            TimeWindowPartitionsDefinition,
        ),
        ("type: static\n    partition_keys: [us, eu]", StaticPartitionsDefinition),
    ],
    ids=["hourly", "daily", "weekly", "monthly", "time_window", "static"],
)
def test_partitions_from_yaml(block: str, expected: type, tmp_path: Path) -> None:
    template = "{partition_key}" if expected is StaticPartitionsDefinition else "{start:%B %Y}"
    yaml = f"""
        type: {FINDALL}
        attributes:
          name: companies
          request:
            query: "AI companies founded in {template}"
          partitions_def:
            {block.replace(chr(10), chr(10) + "        ")}
          io_manager:
            base_path: "{tmp_path}"
        """
    with defs_from_yaml({"companies": yaml}) as defs:
        assets = defs.resolve_assets_def("companies_entities")
    assert isinstance(assets.partitions_def, expected)
    # One partition per Dagster run, as the factory sets it.
    assert assets.backfill_policy is not None
    assert assets.backfill_policy.max_partitions_per_run == 1


def test_partitions_from_a_template(tmp_path: Path) -> None:
    yaml = f"""
        type: {FINDALL}
        attributes:
          name: companies
          request:
            query: "AI companies founded in {{start:%B %Y}}"
          partitions_def: "{{{{ dg.MonthlyPartitionsDefinition(start_date='2026-01-01') }}}}"
          io_manager:
            base_path: "{tmp_path}"
        """
    with defs_from_yaml({"companies": yaml}) as defs:
        assets = defs.resolve_assets_def("companies_entities")
    assert assets.partitions_def == MonthlyPartitionsDefinition(start_date="2026-01-01")


def test_the_older_automation_condition_scope_still_works(tmp_path: Path) -> None:
    post = """
        post_processing:
          assets:
            - attributes:
                automation_condition: "{{ automation_condition.on_cron('0 6 * * *') }}"
    """
    yaml = findall_yaml(tmp_path, partitions=_indented(DAILY)) + post
    with (
        pytest.warns(DeprecationWarning, match="dg.AutomationCondition"),
        defs_from_yaml({"ai_funding": yaml}) as defs,
    ):
        specs = defs.resolve_all_asset_specs()
    labels = {spec.automation_condition.get_label() for spec in specs}  # type: ignore[union-attr]
    assert labels == {"on_cron(0 6 * * *, UTC)"}


def test_two_components_share_one_resource_and_io_manager(tmp_path: Path) -> None:
    search = f"""
        type: {SEARCH}
        attributes:
          name: ev_market
          request:
            queries: ["latest electric vehicle market trends"]
          io_manager:
            base_path: "{tmp_path}"
        """
    with defs_from_yaml(
        {"ai_funding": findall_yaml(tmp_path, partitions=_indented(DAILY)), "ev_market": search}
    ) as defs:
        repository = defs.get_repository_def()
        resources = repository.get_top_level_resources()
        keys = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert set(resources) >= {"scout", "scout_io_manager"}
    assert {"ai_funding_entities", "ev_market_results", "ev_market_report"} <= keys
