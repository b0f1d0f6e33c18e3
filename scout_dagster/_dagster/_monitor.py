"""Monitors in Dagster: a sensor turns each new monitor event into one partition.

``build_scout_monitor_assets(name, monitor_id)`` defines ``<name>_monitor_results``,
a table with one dynamic partition per monitor event (its key is the event id).
``build_scout_monitor_sensor(assets)`` reads the monitor's new events at each
tick and asks for one run per event:

- the run key is the event id, so a tick evaluated again (or a sensor that
  was stopped and started, which keeps its cursor) never starts a second run
  for one event;
- the cursor is the last event requested, moved only when the runs are
  requested: a tick that fails moves nothing and the next one reads the same
  events, so a restart never skips one;
- a tick reads at most ``max_events_per_tick`` events (one page), the next
  tick carries on after them;
- it is ``STOPPED`` until someone starts it: the monitor's runs cost credits.

Materializing a partition reads that event from the API and writes its
results; it pays for nothing (the monitor's run was paid when it ran, and its
credits are the partition's ``scout/credits``). ``build_scout_monitor_run_job``
asks Scout to run the monitor now; the event that run makes comes through the
sensor like any other, so it is processed once.
"""

# Dagster reads the context annotations at definition time: no postponed annotations.

import re
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DefaultSensorStatus,
    DynamicPartitionsDefinition,
    Failure,
    JobDefinition,
    OpExecutionContext,
    Output,
    RetryPolicy,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    job,
    op,
    sensor,
)

from .._errors import ScoutError
from .._monitors import MonitorEvent
from .._text import truncate
from ..tables.columns import MONITOR_RESULTS_COLUMNS
from ._metadata import column_schema
from ._monitor_keys import AFTER_TAG, EVENT_TAG, MONITOR_TAG, monitor_partition_key

__all__ = [
    "build_scout_monitor_assets",
    "build_scout_monitor_run_job",
    "build_scout_monitor_sensor",
    "monitor_partition_key",
]

#: Metadata on the asset's spec, read back by the sensor and the run job.
_MONITOR_ID = "scout/monitor_id"
_MONITOR_QUERY = "scout/monitor_query"
_MONITOR_RESOURCE = "scout/monitor_resource_key"
#: The run key of the one event a monitor may have with an empty id (a run
#: key must not be empty: Dagster does not de-duplicate an empty one).
EMPTY_EVENT_RUN_KEY = "(empty event id)"
#: The most events one page of the API gives, so the most a tick may read.
MAX_EVENTS_PER_TICK = 100


def build_scout_monitor_assets(
    name: str,
    monitor_id: str,
    *,
    query: str | None = None,
    key: AssetKey | str | Sequence[str] | None = None,
    group_name: str = "scout",
    description: str | None = None,
    io_manager_key: str = "io_manager",
    resource_key: str = "scout",
    owners: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    retry_policy: RetryPolicy | None = None,
    pool: str | None = None,
) -> AssetsDefinition:
    """The ``<name>_monitor_results`` table of one Scout monitor.

    Args:
        name: a base name: the asset is ``<name>_monitor_results`` and its
            dynamic partitions ``scout_monitor_<name>``.
        monitor_id: the monitor whose events it holds (``client.monitors.create``).
        query: the monitor's query, written in each row's ``query`` column;
            when not given it is read from the monitor at each run.
        key: the asset key, instead of ``<name>_monitor_results``.
        io_manager_key: where the table goes (``ScoutParquetIOManager``, or a
            warehouse's IO manager: partitions are selected by ``partition_key``).
        resource_key: the key of the ``ScoutResource``.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name or ""):
        raise ValueError(f"name must be a Python identifier such as 'ai_news', got {name!r}")
    if not isinstance(monitor_id, str) or not monitor_id.strip():
        raise ValueError(f"monitor_id must name a monitor, got {monitor_id!r}")
    partitions_def = DynamicPartitionsDefinition(name=f"scout_monitor_{name}")
    asset_key = (
        AssetKey.from_coercible(key) if key is not None else AssetKey(f"{name}_monitor_results")
    )
    metadata: dict[str, Any] = {
        "dagster/column_schema": column_schema(MONITOR_RESULTS_COLUMNS),
        "partition_expr": "partition_key",
        "scout/kind": "monitor",
        "scout/name": name,
        _MONITOR_ID: monitor_id,
        _MONITOR_RESOURCE: resource_key,
    }
    if query is not None:
        metadata[_MONITOR_QUERY] = query

    @asset(
        key=asset_key,
        partitions_def=partitions_def,
        group_name=group_name,
        description=description
        or f"New results of Scout monitor {monitor_id}: one partition per monitor event.",
        io_manager_key=io_manager_key,
        required_resource_keys={resource_key},
        kinds={"scout", "parquet"},
        metadata=metadata,
        owners=list(owners) if owners else None,
        tags=dict(tags) if tags else None,
        retry_policy=retry_policy,
        pool=pool,
    )
    def _monitor_results(context: AssetExecutionContext) -> Output[Any]:
        # Imported here: the step needs pyarrow, loading the definitions does not.
        from ._monitor_execution import materialize_monitor_event

        return materialize_monitor_event(context, monitor_id, query, resource_key, io_manager_key)

    return _monitor_results


def _cursor_event(cursor: str | None) -> str | None:
    """The event a cursor stands for. An empty event id is kept as
    ``EMPTY_EVENT_RUN_KEY``: an empty cursor is no cursor to Dagster."""
    if cursor == EMPTY_EVENT_RUN_KEY:
        return ""
    return cursor or None


def _run_tags(monitor_id: str, event_id: str, previous: str | None) -> dict[str, str]:
    """Which event a run is for, and the one before it (absent for the first)."""
    tags = {MONITOR_TAG: monitor_id, EVENT_TAG: event_id}
    if previous is not None:
        tags[AFTER_TAG] = previous
    return tags


def _after(events: list[MonitorEvent], cursor: str | None) -> list[MonitorEvent]:
    """``events`` past ``cursor``: a server that ignored ``after=`` and listed
    the events from the first would otherwise have them requested again."""
    ids = [event.event_id for event in events]
    if cursor is not None and cursor in ids:
        return events[ids.index(cursor) + 1 :]
    return events


def _monitor_facts(
    assets: AssetsDefinition,
) -> tuple[AssetKey, str, str, DynamicPartitionsDefinition]:
    if not isinstance(assets, AssetsDefinition):
        raise ValueError(
            "give the assets made by build_scout_monitor_assets, got "
            f"{type(assets).__name__} {getattr(assets, 'name', '')!r}"
        )
    spec = next(iter(assets.specs), None)
    partitions_def = assets.partitions_def
    if (
        spec is None
        or len(assets.keys) != 1
        or spec.metadata.get("scout/kind") != "monitor"
        or not isinstance(partitions_def, DynamicPartitionsDefinition)
    ):
        raise ValueError(
            "give the assets made by build_scout_monitor_assets (one monitor results table)"
        )
    return (
        spec.key,
        str(spec.metadata[_MONITOR_ID]),
        str(spec.metadata[_MONITOR_RESOURCE]),
        partitions_def,
    )


def build_scout_monitor_sensor(
    monitor_results: AssetsDefinition,
    *,
    name: str | None = None,
    minimum_interval_seconds: int = 300,
    max_events_per_tick: int = 25,
    default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
) -> SensorDefinition:
    """A sensor that requests one run of ``monitor_results`` per new monitor event.

    Args:
        monitor_results: what :func:`build_scout_monitor_assets` returned.
        name: the sensor's name; ``<asset name>_sensor`` by default.
        minimum_interval_seconds: between two ticks.
        max_events_per_tick: events one tick reads and requests (1 to 100);
            more wait for the next tick.
        default_status: ``STOPPED`` unless you say otherwise: starting it
            starts the runs, and the monitor's own runs cost credits.
    """
    asset_key, monitor_id, resource_key, partitions_def = _monitor_facts(monitor_results)
    if not 1 <= max_events_per_tick <= MAX_EVENTS_PER_TICK:
        raise ValueError(
            f"max_events_per_tick must be between 1 and {MAX_EVENTS_PER_TICK}, "
            f"got {max_events_per_tick}"
        )
    if minimum_interval_seconds < 1:
        raise ValueError(
            f"minimum_interval_seconds must be at least 1, got {minimum_interval_seconds}"
        )

    @sensor(
        name=name or f"{asset_key.to_python_identifier()}_sensor",
        asset_selection=[asset_key],
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={resource_key},
        description=f"One run of {asset_key.to_user_string()} per new event of Scout monitor "
        f"{monitor_id}.",
    )
    def _monitor_sensor(
        context: SensorEvaluationContext, **_resources: Any
    ) -> SensorResult | SkipReason:
        # Resources come by keyword when the sensor is called directly (tests);
        # context.resources holds them in every case.
        client = getattr(context.resources, resource_key).get_client()
        after = _cursor_event(context.cursor)  # None: from the first event
        if after == "":
            # An empty id cannot be sent as after=: read from the first event.
            listed = list(client.monitors.iter_events(monitor_id))
        else:
            listed = client.monitors.events(monitor_id, after=after, limit=max_events_per_tick)
        # Never more than the bound, even from a server that ignores limit=.
        events = _after(listed, after)[:max_events_per_tick]
        if not events:
            where = "the start" if after is None else repr(after)
            return SkipReason(f"no event of monitor {monitor_id} after {where}")
        known = set(context.instance.get_dynamic_partitions(partitions_def.name or ""))
        new_keys: list[str] = []
        requests: list[RunRequest] = []
        previous = after
        for event in events:
            key = monitor_partition_key(event.event_id)
            if key not in known and key not in new_keys:
                new_keys.append(key)
            requests.append(
                RunRequest(
                    run_key=event.event_id or EMPTY_EVENT_RUN_KEY,
                    partition_key=key,
                    asset_selection=[asset_key],
                    tags=_run_tags(monitor_id, event.event_id, previous),
                )
            )
            previous = event.event_id
        context.log.info(
            f"monitor {monitor_id}: {len(events)} new event(s), {events[0].event_id} "
            f"to {events[-1].event_id}"
        )
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=(
                [partitions_def.build_add_request(new_keys)] if new_keys else []
            ),
            cursor=events[-1].event_id or EMPTY_EVENT_RUN_KEY,
        )

    return _monitor_sensor


def build_scout_monitor_run_job(
    monitor_results: AssetsDefinition, *, name: str | None = None
) -> JobDefinition:
    """A job that asks Scout to run the monitor now (``POST …/run``).

    It costs what a scheduled run costs. Its event, if the run finds anything
    new, is processed by the sensor like every other event: once.
    """
    asset_key, monitor_id, resource_key, _ = _monitor_facts(monitor_results)
    job_name = name or f"{asset_key.to_python_identifier()}_run_now"

    @op(name=f"{job_name}_op", required_resource_keys={resource_key})
    def _run_monitor_now(context: OpExecutionContext) -> None:
        client = getattr(context.resources, resource_key).get_client()
        try:
            # One key per Dagster run: a retry of this op does not run it twice.
            monitor = client.monitors.run(
                monitor_id, idempotency_key=f"scout-dagster-monitor-run-{context.run_id}"
            )
        except ScoutError as exc:
            raise Failure(description=truncate(str(exc), 4000)) from exc
        context.log.info(
            f"monitor {monitor_id} ran at {monitor.last_run_at}; its event, if it found "
            "anything new, comes through the sensor"
        )

    @job(name=job_name, description=f"Run Scout monitor {monitor_id} now.")
    def _run_now_job() -> None:
        _run_monitor_now()

    return _run_now_job
