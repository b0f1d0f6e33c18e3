"""The checks' figures, on tables made here: duplicates counted as count_distinct counts;
counted on a thread of their own beside the writes, only those selected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dagster import AssetKey, ConfigurableIOManager, InputContext, OutputContext, materialize

from scout_dagster import FindAllRequest, ScoutResource, build_findall_assets
from scout_dagster._dagster._checks import CheckEvaluation, check_results
from scout_dagster.emulator import EmulatorServer
from tests.conftest import TEST_KEY

IDS = [
    ["a", "b", "c"],
    ["a", "a", "b"],
    ["a", "a", "b", None, None],
    [None, None],
    [],
]


def _table(ids: list[str | None]) -> pa.Table:
    column = pa.chunked_array([pa.array(ids[:2], pa.string()), pa.array(ids[2:], pa.string())])
    return pa.table({"entity_id": column, "source_url": pa.array(["u"] * len(ids), pa.string())})


@pytest.mark.parametrize("ids", IDS)
def test_duplicates_are_rows_less_distinct_ids_nulls_never_distinct(ids: list[str | None]) -> None:
    column = _table(ids).column("entity_id")
    results = {str(r.check_name): r for r in check_results(AssetKey("t"), _table(ids), "entity_id")}
    expected = len(ids) - pc.count_distinct(column).as_py()
    unique = results["unique_entity_id"]
    assert unique.metadata["duplicates"].value == expected
    assert unique.passed is (expected == 0)
    assert results["not_empty"].passed is bool(ids)


ALL = ("not_empty", "unique_entity_id", "has_source_url")


@pytest.mark.parametrize("ids", IDS)
def test_counted_on_a_thread_of_their_own_they_are_the_same_results(ids: list[str | None]) -> None:
    evaluation = CheckEvaluation(AssetKey("t"), _table(ids), "entity_id", ALL)
    assert evaluation.results() == check_results(AssetKey("t"), _table(ids), "entity_id")


@pytest.mark.parametrize(
    "selected", [("not_empty",), ("unique_entity_id",), ("has_source_url", "not_empty")]
)
def test_only_the_selected_checks_are_reported(selected: tuple[str, ...]) -> None:
    table = _table(["a", "a", "b"])
    results = CheckEvaluation(AssetKey("t"), table, "entity_id", selected).results()
    every = {str(r.check_name): r for r in check_results(AssetKey("t"), table, "entity_id")}
    assert [str(r.check_name) for r in results] == [n for n in ALL if n in selected]
    assert all(r == every[str(r.check_name)] for r in results)


def test_an_error_while_counting_is_raised_on_the_steps_thread() -> None:
    no_urls = pa.table({"entity_id": pa.array(["a"])})
    evaluation = CheckEvaluation(AssetKey("t"), no_urls, "entity_id", ALL)
    with pytest.raises(KeyError, match="source_url"):
        evaluation.results()


class _FailingEntitiesIOManager(ConfigurableIOManager):
    """Fails to store the entities table: the step fails while its checks are counted."""

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if context.asset_key.path[-1].endswith("entities"):
            raise RuntimeError("the warehouse is down")

    def load_input(self, context: InputContext) -> Any:
        raise NotImplementedError


def test_a_step_that_fails_writing_its_tables_fails_with_that_error_and_reports_no_check(
    emulator: EmulatorServer, tmp_path: Path
) -> None:
    assets = build_findall_assets(
        "checked", request=FindAllRequest(query="AI infrastructure companies", limit=20)
    )
    result = materialize(
        [assets],
        resources={
            "scout": ScoutResource(api_key=TEST_KEY, base_url=emulator.url),
            "scout_io_manager": _FailingEntitiesIOManager(),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "the warehouse is down" in str(failure.event_specific_data)
    # The checks come after the tables: a step that could not store them reports none.
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
