"""The current entities: every partition of a FindAll entities table merged
into one row per ``entity_id`` (:func:`build_current_entities`).

Why it is recomputed from the partitions that exist is documented in
:mod:`._history`, which exports it.
"""

# Dagster reads the context annotation at definition time, so annotations here
# must stay real objects (no `from __future__ import annotations`).

from collections.abc import Sequence
from typing import Any, cast

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

from ..tables.columns import CURRENT_COLUMNS, PROVENANCE_COLUMNS
from ._history_tables import _check_table_type, _shown
from ._output_types import TableType
from ._translator import ScoutMetadataSet

__all__ = ["build_current_entities"]


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
    import pyarrow as pa  # asked for by type: Dagster needs the class now

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
        # Imported here: the step needs pyarrow, loading the definitions does not.
        from ..tables.current import as_arrow_table, current_entities
        from ._table_output import table_output

        rows = as_arrow_table(entities)
        table = current_entities(rows)
        context.log.info(f"{rows.num_rows} entity rows merged into {table.num_rows} entities")
        return table_output(
            context,
            table,
            manager,
            table_type,
            {"scout/rows_merged": MetadataValue.int(rows.num_rows)},
        )

    return _current
