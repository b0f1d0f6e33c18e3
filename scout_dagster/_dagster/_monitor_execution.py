"""The step of a monitor results partition: read its event, write its results.

Imported when the step runs, not with the definitions: it needs pyarrow.
"""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, Failure, MetadataValue, Output

from .._errors import ScoutError
from .._monitors import MonitorEvent
from .._text import truncate
from ..tables.monitor import monitor_results_table
from ..tables.versions import RUN_SPECIFIC_COLUMNS
from ._monitor_keys import AFTER_TAG, EVENT_TAG, monitor_partition_key
from ._table_output import table_output

__all__ = ["materialize_monitor_event"]


def materialize_monitor_event(
    context: AssetExecutionContext,
    monitor_id: str,
    query: str | None,
    resource_key: str,
    io_manager_key: str,
) -> Output[Any]:
    partition_key = context.partition_key
    client = getattr(context.resources, resource_key).get_client()
    try:
        event = _find_event(client, monitor_id, partition_key, context.run.tags)
        if query is None:
            query = client.monitors.get(monitor_id).query or ""
    except ScoutError as exc:
        raise Failure(description=truncate(str(exc), 4000)) from exc
    table = monitor_results_table(
        event, monitor_id=monitor_id, query=query, partition_key=partition_key
    )
    new = sum(1 for result in event.results if result.first_seen)
    context.log.info(
        f"monitor {monitor_id} event {event.event_id} ({event.type}): "
        f"{table.num_rows} results, {new} new, {event.credits} credits"
    )
    metadata: dict[str, Any] = {
        "scout/monitor_id": MetadataValue.text(monitor_id),
        "scout/event_id": MetadataValue.text(event.event_id),
        "scout/event_type": MetadataValue.text(event.type),
        "scout/run_id": MetadataValue.text(event.event_id),
        "scout/credits": MetadataValue.int(event.credits),
        "scout/new_results": MetadataValue.int(new),
    }
    if event.run_at is not None:
        metadata["scout/run_at"] = MetadataValue.text(event.run_at.isoformat())
    if event.failed:
        error = truncate(event.error or "no reason given", 500)
        metadata["scout/error"] = MetadataValue.text(error)
        context.log.warning(
            f"monitor {monitor_id}: its run of event {event.event_id} failed: {error}"
        )
    return table_output(
        context,
        table,
        io_manager_key,
        None,
        metadata,
        partitioned=True,
        version_excludes=RUN_SPECIFIC_COLUMNS,
    )


def _find_event(
    client: Any, monitor_id: str, partition_key: str, tags: Mapping[str, str]
) -> MonitorEvent:
    """The event whose partition ``partition_key`` is: one call when the
    sensor said which event came before it, else every event, page by page
    (a partition materialized from the UI, or re-executed)."""
    if EVENT_TAG in tags:
        page = client.monitors.events(monitor_id, after=tags.get(AFTER_TAG), limit=1)
        if page and monitor_partition_key(page[0].event_id) == partition_key:
            return page[0]  # type: ignore[no-any-return]
    for event in client.monitors.iter_events(monitor_id):
        if monitor_partition_key(event.event_id) == partition_key:
            return event  # type: ignore[no-any-return]
    raise Failure(
        description=f"monitor {monitor_id} has no event {partition_key} (was the monitor "
        "deleted, or the partition added by hand?); nothing was written"
    )
