"""The ``monitor_results`` table: one monitor event's results as Arrow.

One row per result the monitor run reported, in the order it reported them,
each saying whether the monitor saw it for the first time (the schema is
:data:`.schemas.MONITOR_RESULTS_SCHEMA`). Provenance as in every Scout
table: ``run_id`` is the event's id (one event per monitor run), ``query``
the monitor's query, ``fetched_at`` when the run happened.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from .._monitors import MonitorEvent
from .ids import url_ids
from .provenance import Provenance, table_with_provenance
from .schemas import MONITOR_RESULTS_SCHEMA

__all__ = ["monitor_results_table"]


def monitor_results_table(
    event: MonitorEvent, *, monitor_id: str, query: str, partition_key: str | None
) -> pa.Table:
    """The results of ``event`` (none for a failed run) with their provenance."""
    results = event.results
    rows = len(results)
    run_at = event.run_at or event.timestamp
    provenance = Provenance(
        run_id=event.event_id,
        query=query,
        fetched_at=run_at or dt.datetime.now(dt.UTC),
        partition_key=partition_key,
    )
    return table_with_provenance(
        {
            "result_id": url_ids([r.url for r in results]).to_pylist(),
            "rank": list(range(1, rows + 1)),
            "title": [r.title for r in results],
            "source_url": [r.url for r in results],
            "snippet": [r.snippet for r in results],
            "first_seen": [r.first_seen for r in results],
            "monitor_id": [event.monitor_id or monitor_id] * rows,
            "event_id": [event.event_id] * rows,
            "run_at": [run_at] * rows,
        },
        MONITOR_RESULTS_SCHEMA,
        provenance,
    )
