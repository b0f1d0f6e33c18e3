"""JSON shapes of monitors and their events, as the contract (and README) gives them.

Timestamps use the ``+00:00`` form, like FindAll's; absent times are null.
"""

from __future__ import annotations

from typing import Any

from ._clock import Timestamps
from ._monitors import Monitor, MonitorEvent

__all__ = ["monitor_event_json", "monitor_json"]

Json = Any


def monitor_json(monitor: Monitor, ts: Timestamps) -> dict[str, Json]:
    """The monitor object; ``nextRunAt`` is null while paused."""
    settings = monitor.settings
    last = monitor.last_run_at
    return {
        "monitor_id": monitor.monitor_id,
        "query": settings.query,
        "cadence": settings.cadence,
        "cron": settings.cron,
        "status": monitor.status,
        "webhook": settings.webhook,
        "limit": settings.limit,
        "country": settings.country,
        "language": settings.language,
        "createdAt": ts.offset(monitor.created_at),
        "lastRunAt": None if last is None else ts.offset(last),
        "nextRunAt": None if monitor.next_due is None else ts.offset(monitor.next_due),
        "credits": monitor.credits,
    }


def monitor_event_json(monitor: Monitor, event: MonitorEvent, ts: Timestamps) -> dict[str, Json]:
    """A monitor event: its run's results (each flagged ``first_seen``), or its error."""
    stamp = ts.offset(event.at)
    return {
        "event_id": event.event_id,
        "monitor_id": monitor.monitor_id,
        "type": event.type,
        "timestamp": stamp,
        "run_at": stamp,
        "results": [item.as_json() for item in event.results],
        "credits": event.credits,
        "error": event.error,
    }
