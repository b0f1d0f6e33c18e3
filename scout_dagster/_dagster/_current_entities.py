"""The current entities: every partition of a FindAll entities table merged
into one row per ``entity_id`` (:func:`build_current_entities`).

Why it is recomputed from the partitions that exist is documented in
:mod:`._history`, which exports it.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AllPartitionMapping,
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)

from ..tables.provenance import PROVENANCE_COLUMNS
from ._history_tables import _TIMESTAMP, _check_table_type, _output, _shown
from ._output_types import TableType
from ._translator import ScoutMetadataSet

__all__ = ["CURRENT_COLUMNS", "build_current_entities", "current_entities"]

#: Columns the current table adds after the entity's own, with their descriptions.
CURRENT_COLUMNS = (
    ("first_seen_at", "The earliest fetched_at of the entity in any partition."),
    ("last_seen_at", "The latest fetched_at of the entity."),
    ("runs_seen", "Distinct remote runs that found the entity, in the partitions that exist."),
    ("partitions_seen", "Distinct partitions whose latest run found the entity."),
    ("last_run_id", "The remote run of the latest sighting, whose values these are."),
    ("last_partition_key", "The partition of the latest sighting; null if unpartitioned."),
)
_NEEDED = ("entity_id", "run_id", "fetched_at", "partition_key")


def _to_arrow(value: Any) -> pa.Table:
    """What an IO manager loaded (Arrow, pandas, polars, or a partition -> table
    mapping) as one Arrow table."""
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, Mapping):
        tables = [_to_arrow(part) for part in value.values()]
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
            "first_seen_at": _TIMESTAMP,
            "last_seen_at": _TIMESTAMP,
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


def _entities_spec(findall_assets: object) -> AssetSpec:
    if isinstance(findall_assets, AssetsDefinition):
        for spec in findall_assets.specs:
            facts = ScoutMetadataSet.extract(spec.metadata)
            if facts.kind == "findall" and facts.table == "entities":
                return spec
    raise ValueError(
        "build_current_entities takes the assets of @scout_findall_assets or "
        f"build_findall_assets; got {_shown(findall_assets)}"
    )


def _current_schema(entities: AssetSpec) -> TableSchema | None:
    """The current table's column schema, from the entities' (when they declare one)."""
    declared = entities.metadata.get("dagster/column_schema")
    columns = getattr(declared, "columns", None)
    if columns is None:
        return None
    kept = [c for c in columns if c.name not in PROVENANCE_COLUMNS]
    by_name = {c.name: c for c in columns}
    types = {
        "first_seen_at": by_name["fetched_at"].type if "fetched_at" in by_name else "timestamp",
        "runs_seen": "int64",
        "partitions_seen": "int64",
    }
    types["last_seen_at"] = types["first_seen_at"]
    added = [
        TableColumn(name=name, type=types.get(name, "string"), description=description)
        for name, description in CURRENT_COLUMNS
    ]
    return TableSchema(columns=[*kept, *added])


def _python_type(table_type: TableType) -> type:
    if table_type == "pandas":
        import pandas

        return pandas.DataFrame
    if table_type == "polars":
        import polars

        return cast(type, polars.DataFrame)
    return cast(type, pa.Table)


def build_current_entities(
    findall_assets: AssetsDefinition,
    name: str | None = None,
    *,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    io_manager_key: str | None = None,
    owners: Sequence[str] | None = None,
    automation_condition: AutomationCondition[Any] | None = None,
    table_type: TableType | None = None,
) -> AssetsDefinition:
    """The entities of every partition of a FindAll asset, merged by ``entity_id``.

    An unpartitioned table asset, ``<entities key>_current`` (``ai_infra_entities``
    gives ``ai_infra_entities_current``), that takes every partition of the
    entities table as its input (``AllPartitionMapping``) and keeps, per
    entity, its latest values and when and how often it was seen (see
    :func:`current_entities`). It is recomputed from the partitions that
    exist: a re-materialized partition's earlier run no longer counts (see
    the module's documentation for why).

    Args:
        findall_assets: the multi-asset of ``@scout_findall_assets`` or
            ``build_findall_assets``.
        name: the asset's name; default: the entities' name + ``_current``.
        key_prefix: default: the entities key's prefix.
        group_name: default: the entities' group.
        io_manager_key: default: the entities' IO manager.
        owners, automation_condition: as any asset's.
        table_type: what the entities are loaded as and the table is handed
            over as (``"arrow"``, ``"pandas"``, ``"polars"``); None: what the
            IO manager gives and takes. Set it for IO managers that load by
            type: ``"arrow"`` for Delta and Iceberg, ``"polars"`` for DuckDB's
            polars manager.
    """
    entities = _entities_spec(findall_assets)
    _check_table_type(table_type)
    path = entities.key.path
    prefix = list(path[:-1]) if key_prefix is None else key_prefix
    manager = io_manager_key or str(
        entities.metadata.get("dagster/io_manager_key", "scout_io_manager")
    )
    schema = _current_schema(entities)
    entities_in = AssetIn(key=entities.key, partition_mapping=AllPartitionMapping())
    if table_type is not None:
        # What the entities are loaded as: warehouse IO managers load by the
        # input's type (Delta and Iceberg have no handler for Any).
        entities_in = AssetIn(
            key=entities.key,
            partition_mapping=AllPartitionMapping(),
            dagster_type=_python_type(table_type),
        )

    @asset(
        name=name or f"{path[-1]}_current",
        key_prefix=prefix,
        ins={"entities": entities_in},
        group_name=group_name if group_name is not None else entities.group_name,
        io_manager_key=manager,
        owners=owners,
        automation_condition=automation_condition,
        kinds={"scout"},
        description=f"The entities of every partition of {entities.key.to_user_string()}, "
        "one row per entity_id: its latest values, when it was first and last seen, in how "
        "many runs and partitions. Recomputed from the partitions that exist.",
        metadata={"dagster/column_schema": schema} if schema is not None else None,
    )
    def _current(context: AssetExecutionContext, entities: Any) -> Output[Any]:
        rows = _to_arrow(entities)
        table = current_entities(rows)
        context.log.info(f"{rows.num_rows} entity rows merged into {table.num_rows} entities")
        return _output(
            context,
            table,
            manager,
            table_type,
            {"scout/rows_merged": MetadataValue.int(rows.num_rows)},
        )

    return _current
