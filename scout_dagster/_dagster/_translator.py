"""``DagsterScoutTranslator``: how each table of a Scout run becomes an ``AssetSpec``.

A FindAll run gives two tables (``entities``, ``citations``); a deep-search
run four (``results``, ``sources``, ``findings``, ``report``). The decorators
ask the translator for one spec per table, from that table's properties
(:class:`ScoutTableProps`). Subclass it to change keys, groups,
descriptions, owners, tags, kinds, metadata, deps, ``automation_condition``
or ``freshness_policy`` of any table::

    class MyTranslator(DagsterScoutTranslator):
        def get_asset_spec(self, props: ScoutTableProps) -> AssetSpec:
            spec = super().get_asset_spec(props)
            return spec.replace_attributes(key=spec.key.with_prefix("research"))

What the execution needs (the table each spec holds, the run's settings, the
request's fingerprint) is added after the translator, in
:class:`ScoutMetadataSet`, so no translator can lose it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from dagster import (
    AssetKey,
    AssetSpec,
    MultiPartitionsDefinition,
    PartitionsDefinition,
    TableSchema,
    TimeWindowPartitionsDefinition,
)
from dagster._core.definitions.metadata.metadata_set import NamespacedMetadataSet

from .._requests import FindAllRequest, SearchRequest

__all__ = ["DagsterScoutTranslator", "ScoutMetadataSet", "ScoutTableProps"]

#: The tables of each kind of run, in the order the outputs are yielded.
FINDALL_TABLES = ("entities", "citations")
SEARCH_TABLES = ("results", "sources", "findings", "report")
#: The table whose materialization carries the run's credits and checks.
PRIMARY_TABLE = {"findall": "entities", "search": "results"}


@dataclasses.dataclass(frozen=True)
class ScoutTableProps:
    """One table of a Scout run, as the translator sees it.

    Attributes:
        kind: ``"findall"`` or ``"search"``.
        name: the base name given to the decorator (``"ai_infra"``).
        table: which table: ``entities``/``citations`` (FindAll) or
            ``results``/``sources``/``findings``/``report`` (search).
        request: the run's request as declared (its query may be a template).
        partitions_def: the partitions of the multi-asset, or None.
        table_schema: the table's columns, or None for the report (Markdown).
    """

    kind: Literal["findall", "search"]
    name: str
    table: str
    request: FindAllRequest | SearchRequest
    partitions_def: PartitionsDefinition | None
    table_schema: TableSchema | None

    @property
    def is_report(self) -> bool:
        return self.table == "report"


class DagsterScoutTranslator:
    """Builds the ``AssetSpec`` of each table of a Scout run.

    The defaults: key ``<name>_<table>``, group ``scout``, kinds ``scout`` and
    ``parquet`` (``markdown`` for the report), the table's column schema, a
    description from the request.
    """

    def get_asset_spec(self, props: ScoutTableProps) -> AssetSpec:
        metadata: dict[str, object] = {}
        if props.table_schema is not None:
            metadata["dagster/column_schema"] = props.table_schema
        partition_expr = self.get_partition_expr(props)
        if partition_expr is not None:
            metadata["partition_expr"] = partition_expr
        return AssetSpec(
            key=AssetKey(f"{props.name}_{props.table}"),
            description=self.get_description(props),
            group_name="scout",
            kinds={"scout", "markdown" if props.is_report else "parquet"},
            metadata=metadata,
        )

    def get_partition_expr(self, props: ScoutTableProps) -> str | None:
        """The column a warehouse IO manager selects a partition's rows by
        (``partition_expr``), so re-materializing a partition replaces exactly
        its rows: the window start of a time-window partition, else the key.
        None for unpartitioned and multi-partitioned tables (a multi-partition
        has no column per dimension)."""
        partitions = props.partitions_def
        if partitions is None or isinstance(partitions, MultiPartitionsDefinition):
            return None
        if isinstance(partitions, TimeWindowPartitionsDefinition):
            return "partition_start"
        return "partition_key"

    def get_description(self, props: ScoutTableProps) -> str:
        request = props.request
        name = props.name
        if isinstance(request, FindAllRequest):
            about = f"Entities matching: {request.query}"
            return {
                "entities": f"{about}\n\nOne row per matched entity (Scout FindAll).",
                "citations": f"Citations behind each entity field of {name}_entities: "
                "one row per entity, field and cited page, with excerpts.",
            }[props.table]
        about = f"Deep search: {request.objective or '; '.join(request.queries)}"
        return {
            "results": f"{about}\n\nMerged, de-duplicated results, ranked.",
            "sources": f"Numbered sources the report of {name} cites.",
            "findings": f"Per-subquery findings of {name}, with citations.",
            "report": f"Markdown research report of {name}, with [N] citations.",
        }[props.table]


class ScoutMetadataSet(NamespacedMetadataSet):
    """What a Scout table's spec carries for the execution (``scout/...``).

    Read back at run time with ``ScoutMetadataSet.extract(spec.metadata)``:
    the execution finds each table's (possibly translated) key by ``table``,
    and the run's settings, which were checked when the assets were defined.
    """

    kind: str | None = None
    name: str | None = None
    table: str | None = None
    request_fingerprint: str | None = None
    timeout_s: float | None = None
    credit_budget: int | None = None
    keep_partial: bool | None = None
    blocking_checks: bool | None = None
    table_type: str | None = None

    @classmethod
    def namespace(cls) -> str:
        return "scout"
