"""Monitors: a query Scout runs on a schedule, its new results reported as events.

The request to create or change one (:class:`MonitorRequest`) and the records
the API answers (:class:`Monitor`, :class:`MonitorEvent`,
:class:`MonitorResult`). The shapes are the contract's "Monitors" section
(``docs/api-contract.md``), marked [assumed] there until the vendor documents
them; they are kept in this one module so that reading is easy to change.
No I/O.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from ._models import _Record
from ._requests import _check_limit, _check_query

__all__ = [
    "MONITOR_CADENCES",
    "Monitor",
    "MonitorCadence",
    "MonitorEvent",
    "MonitorRequest",
    "MonitorResult",
]

MonitorCadence = Literal["hourly", "daily", "weekly"]
MONITOR_CADENCES: tuple[str, ...] = ("hourly", "daily", "weekly")
#: The event types of a monitor's events; others are skipped, as the contract says.
MONITOR_EVENT_TYPES = frozenset({"monitor.results", "monitor.run.failed"})
#: Results a monitor run may report (the emulator's and our reading of the contract).
MAX_MONITOR_LIMIT = 100
#: One cron field: ``*``, ``n``, ``a-b``, with ``/step``, in comma lists.
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def _check_cron(cron: object) -> None:
    if not isinstance(cron, str) or len(cron.split()) != 5:
        raise ValueError(
            f"cron must have five fields (minute hour day month weekday), got {cron!r}"
        )
    for part in cron.split():
        if not _CRON_FIELD.match(part):
            raise ValueError(f"cron field {part!r} of {cron!r} is not understood")


@dataclasses.dataclass(frozen=True)
class MonitorRequest:
    """A monitor to create: ``POST /v1/monitors``. Give ``cadence`` or ``cron``.

    Each of its runs costs credits (one per query, as a search); a run that
    finds something new is reported as a :class:`MonitorEvent`.
    """

    query: str
    cadence: MonitorCadence | None = None
    cron: str | None = None
    webhook: str | None = None
    limit: int | None = None
    country: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        _check_query(self.query)
        if (self.cadence is None) == (self.cron is None):
            raise ValueError(
                "a monitor needs exactly one of cadence ('hourly', 'daily', 'weekly') or cron"
            )
        if self.cadence is not None and self.cadence not in MONITOR_CADENCES:
            raise ValueError(f"cadence must be one of {MONITOR_CADENCES}, got {self.cadence!r}")
        if self.cron is not None:
            _check_cron(self.cron)
        _check_limit(self.limit, MAX_MONITOR_LIMIT, " for a monitor")
        if self.webhook is not None and not re.match(r"^https?://\S+$", str(self.webhook)):
            raise ValueError(f"webhook must be an http(s) URL, got {self.webhook!r}")
        for name in ("country", "language"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.isalpha()):
                raise ValueError(f"{name} must be a short code such as 'us' or 'en', got {value!r}")

    def body(self) -> dict[str, Any]:
        return {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if getattr(self, field.name) is not None
        }


def monitor_update_body(fields: dict[str, Any]) -> dict[str, Any]:
    """The body of ``PATCH /v1/monitors/{id}``: the given create fields, checked.

    Setting ``cadence`` clears ``cron`` on the server, and the other way round.
    """
    allowed = {f.name for f in dataclasses.fields(MonitorRequest)}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValueError(f"a monitor has no field {', '.join(unknown)} (fields: {sorted(allowed)})")
    if not fields:
        raise ValueError("give at least one field to change")
    if "cadence" in fields and "cron" in fields:
        raise ValueError("give cadence or cron, not both")
    # Checked as a whole request would be: the query stands in when not changed.
    schedule = {} if "cadence" in fields or "cron" in fields else {"cadence": "daily"}
    MonitorRequest(**{"query": "-", **schedule, **fields})
    return dict(fields)


class Monitor(_Record):
    """A monitor as ``GET /v1/monitors/{monitor_id}`` returns it."""

    monitor_id: str
    query: str | None = None
    cadence: str | None = None
    cron: str | None = None
    status: str | None = None  # "active" or "paused"
    webhook: str | None = None
    created_at: datetime | None = Field(default=None, alias="createdAt")
    last_run_at: datetime | None = Field(default=None, alias="lastRunAt")
    next_run_at: datetime | None = Field(default=None, alias="nextRunAt")
    credits: int = 0

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class MonitorResult(_Record):
    """One result of a monitor run; ``first_seen`` when no earlier run had it."""

    url: str
    title: str | None = None
    snippet: str | None = None
    first_seen: bool = False


class MonitorEvent(_Record):
    """One monitor run that found something (``monitor.results``) or failed."""

    event_id: str
    type: str
    monitor_id: str | None = None
    timestamp: datetime | None = None
    run_at: datetime | None = None
    results: list[MonitorResult] = Field(default_factory=list)
    credits: int = 0
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.type == "monitor.run.failed"

    @property
    def new_results(self) -> list[MonitorResult]:
        return [result for result in self.results if result.first_seen]
