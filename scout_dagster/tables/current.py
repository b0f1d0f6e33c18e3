"""The current entities: every partition of a FindAll entities table merged
into one row per ``entity_id``. Pure pyarrow: sort, group-by, aggregate.

Why it is recomputed from the partitions that exist is documented in
:mod:`scout_dagster._dagster._history`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .columns import CURRENT_COLUMNS
from .provenance import PROVENANCE_COLUMNS, TIMESTAMP

__all__ = ["as_arrow_table", "current_entities"]

_NEEDED = ("entity_id", "run_id", "fetched_at", "partition_key")


def as_arrow_table(value: Any) -> pa.Table:
    """What an IO manager loaded (Arrow, pandas, polars, or a partition -> table
    mapping) as one Arrow table."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, Mapping):
        tables = [as_arrow_table(part) for part in value.values()]
        if not tables:
            return pa.table({})
        return pa.concat_tables(tables, promote_options="permissive")
    module = type(value).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(value, preserve_index=False)
    if module == "polars":
        table: pa.Table = value.to_arrow()
        return table
    raise TypeError(
        "the current entities read a pyarrow.Table, a pandas or polars DataFrame (or a "
        f"mapping of partitions to them) from the entities' IO manager; got {type(value).__name__}"
    )


def _empty_current() -> pa.Table:
    columns: dict[str, pa.Array] = {"entity_id": pa.array([], pa.string())}
    for name, _ in CURRENT_COLUMNS:
        kind = {
            "first_seen_at": TIMESTAMP,
            "last_seen_at": TIMESTAMP,
            "runs_seen": pa.int64(),
            "partitions_seen": pa.int64(),
        }.get(name, pa.string())
        columns[name] = pa.array([], kind)
    return pa.table(columns)


def current_entities(rows: pa.Table) -> pa.Table:
    """One row per ``entity_id`` of ``rows`` (every partition of an entities table).

    The entity's values are those of its latest row by ``fetched_at`` (ties:
    the greater ``run_id``), without the provenance columns; then
    ``first_seen_at``, ``last_seen_at``, ``runs_seen``, ``partitions_seen``
    (distinct non-null partition keys), ``last_run_id`` and
    ``last_partition_key``. Rows without an ``entity_id`` are left out. Sorted
    by ``entity_id``.
    """
    if rows.num_columns == 0:  # no partition materialized yet
        return _empty_current()
    missing = [c for c in _NEEDED if c not in rows.column_names]
    if missing:
        raise ValueError(
            f"the entities table has no {', '.join(missing)} column: current entities are "
            "merged from a Scout entities table"
        )
    rows = rows.filter(pc.is_valid(rows.column("entity_id")))
    ordered = rows.sort_by(
        [("entity_id", "ascending"), ("fetched_at", "descending"), ("run_id", "descending")]
    )
    ids = ordered.column("entity_id").combine_chunks()
    # The first row of each entity in this order is its latest sighting.
    changed = pc.not_equal(ids.slice(1), ids.slice(0, max(len(ids) - 1, 0))).fill_null(True)
    first = pa.concat_arrays([pa.array([True] * min(len(ids), 1), pa.bool_()), changed])
    latest = ordered.filter(first)
    stats = (
        rows.group_by("entity_id")
        .aggregate(
            [
                ("fetched_at", "min"),
                ("fetched_at", "max"),
                ("run_id", "count_distinct", pc.CountOptions(mode="only_valid")),
                ("partition_key", "count_distinct", pc.CountOptions(mode="only_valid")),
            ]
        )
        .sort_by("entity_id")  # the order of `latest`: one row per entity in each
    )
    values = [c for c in latest.column_names if c not in PROVENANCE_COLUMNS]
    current = latest.select(values)
    added = {
        "first_seen_at": stats.column("fetched_at_min"),
        "last_seen_at": stats.column("fetched_at_max"),
        "runs_seen": stats.column("run_id_count_distinct"),
        "partitions_seen": stats.column("partition_key_count_distinct"),
        "last_run_id": latest.column("run_id"),
        "last_partition_key": latest.column("partition_key"),
    }
    for name, column in added.items():
        current = current.append_column(name, column)
    return current
