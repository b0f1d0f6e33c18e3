"""Materialization metadata: run facts, credits and table facts, typed for the UI.

Numbers are ``MetadataValue.int``/``float`` so Dagster charts them across
materializations (credits per partition across a backfill, wait times).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from dagster import MetadataValue, TableColumn, TableSchema
from dagster._core.definitions.metadata import TableMetadataSet

from .._models import FindAllRun, SearchRun
from .._text import truncate
from ..tables.columns import Column, declared_columns

if TYPE_CHECKING:
    import pyarrow as pa

    from .._follower import FollowResult
    from ..tables.spool import SpooledTable

__all__ = ["column_schema", "run_metadata", "table_metadata"]

#: Rows shown in the preview of each table.
PREVIEW_ROWS = 5
#: Characters of one cell shown in the preview.
PREVIEW_CELL_CHARS = 60


def column_schema(columns: Iterable[Column]) -> TableSchema:
    """Dagster's column schema of a table's declared columns."""
    return TableSchema(
        columns=[
            TableColumn(name=c.name, type=c.type_name, description=c.description) for c in columns
        ]
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    if len(text) > PREVIEW_CELL_CHARS:
        text = text[: PREVIEW_CELL_CHARS - 1] + "…"
    return text


def _preview(table: pa.Table | SpooledTable) -> str:
    rows = table.slice(0, PREVIEW_ROWS).to_pylist()
    header = "| " + " | ".join(table.column_names) + " |"
    rule = "|" + "---|" * len(table.column_names)
    body = [
        "| " + " | ".join(_cell(row[name]) for name in table.column_names) + " |" for row in rows
    ]
    return "\n".join([header, rule, *body])


def table_metadata(table: pa.Table | SpooledTable, *, partitioned: bool) -> dict[str, Any]:
    """Dagster's table metadata: the rows of this materialization are the
    partition's (``partition_row_count``) when partitioned, else the table's."""
    counts = (
        TableMetadataSet(partition_row_count=table.num_rows)
        if partitioned
        else TableMetadataSet(row_count=table.num_rows)
    )
    return {
        **counts,
        **TableMetadataSet(column_schema=column_schema(declared_columns(table.schema))),
        "preview": MetadataValue.md(_preview(table)),
    }


def run_metadata(result: FollowResult[Any], final: FindAllRun | SearchRun) -> dict[str, Any]:
    """Facts of the remote run behind a materialization."""
    metadata: dict[str, Any] = {
        "scout/credits": MetadataValue.int(final.credits),
        "scout/run_id": MetadataValue.text(final.run_id),
        "scout/status": MetadataValue.text(final.state.value),
        "scout/termination_reason": MetadataValue.text(
            truncate(final.status.termination_reason or result.stop_reason or "none", 200)
        ),
        "scout/wait_s": MetadataValue.float(round(result.waited_s, 3)),
        "scout/partial": MetadataValue.bool(result.partial),
        "scout/adopted": MetadataValue.bool(result.adopted),
        "scout/followed_by": MetadataValue.text(result.followed_by),
    }
    # When the remote run was created and ended, as the API said (ISO 8601):
    # the runs ledger's created_at and completed_at.
    for moment, value in (("created_at", final.created_at), ("completed_at", final.completed_at)):
        if value is not None:
            metadata[f"scout/{moment}"] = MetadataValue.text(value.isoformat())
    if isinstance(final, FindAllRun):
        metadata["scout/entity_count"] = MetadataValue.int(final.count)
    if isinstance(final, SearchRun):
        metadata["scout/pages_fetched"] = MetadataValue.int(final.pages_fetched)
        if final.usage is not None:
            for name, value in final.usage.model_dump(exclude_none=True).items():
                if isinstance(value, int | float):
                    metadata[f"scout/usage/{name}"] = MetadataValue.int(int(value))
    return metadata
