"""The checks' figures, on tables made here: duplicates counted as count_distinct counts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from dagster import AssetKey

from scout_dagster._dagster._checks import check_results


@pytest.mark.parametrize(
    "ids",
    [
        ["a", "b", "c"],
        ["a", "a", "b"],
        ["a", "a", "b", None, None],
        [None, None],
        [],
    ],
)
def test_duplicates_are_rows_less_distinct_ids_nulls_never_distinct(ids: list[str | None]) -> None:
    column = pa.chunked_array([pa.array(ids[:2], pa.string()), pa.array(ids[2:], pa.string())])
    table = pa.table({"entity_id": column, "source_url": pa.array(["u"] * len(ids), pa.string())})
    results = {str(r.check_name): r for r in check_results(AssetKey("t"), table, "entity_id")}
    expected = len(ids) - pc.count_distinct(column).as_py()
    unique = results["unique_entity_id"]
    assert unique.metadata["duplicates"].value == expected
    assert unique.passed is (expected == 0)
    assert results["not_empty"].passed is bool(ids)
