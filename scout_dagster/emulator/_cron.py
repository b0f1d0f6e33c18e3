"""Five-field cron expressions: parse them, and find the next minute they fire.

``minute hour day-of-month month day-of-week``, each field ``*``, ``n``,
``a-b``, ``*/n``, ``a-b/n`` or a comma list of those; day-of-week runs 0..6
from Sunday, and 7 is Sunday too. As in Vixie cron, when both day fields are
restricted (neither starts with ``*``) a day matches if either matches, else
both must. Names (``MON``, ``JAN``) and ``@daily``-style macros are not
accepted: the contract does not promise them. Times are UTC datetimes.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Cron", "parse_cron"]

# (name, lowest, highest) of each field, in order.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
# How far ahead a cron must fire at least once. Feb 29 can be 8 years away
# (2096 to 2104), so 9 years tells "rare" from "never" (e.g. ``0 0 31 2 *``).
_HORIZON = timedelta(days=366 * 9)


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit():
        raise ValueError(f"cron {name} field: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"cron {name} field: {value} is outside {low}-{high}")
    return value


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        span, slash, step_text = item.partition("/")
        step = _number(step_text, name, 1, high) if slash else 1
        if span == "*":
            first, last = low, high
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _number(start, name, low, high), _number(end, name, low, high)
            if first > last:
                raise ValueError(f"cron {name} field: range {span!r} runs backwards")
        elif slash:
            raise ValueError(f"cron {name} field: a step needs '*' or a range, got {item!r}")
        else:
            first = last = _number(span, name, low, high)
        values.update(range(first, last + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def _day_matches(self, moment: datetime) -> bool:
        by_day = moment.day in self.days
        by_weekday = moment.isoweekday() % 7 in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    def next_after(self, moment: datetime) -> datetime | None:
        """The first whole minute strictly after ``moment`` that matches, within 9 years."""
        at = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        horizon = at + _HORIZON
        # Skip by the coarsest field that fails, so a year ahead is a few
        # hundred steps, not half a million minutes.
        while at < horizon:
            if at.month not in self.months:
                last_day = calendar.monthrange(at.year, at.month)[1]
                at = at.replace(day=last_day, hour=0, minute=0) + timedelta(days=1)
            elif not self._day_matches(at):
                at = at.replace(hour=0, minute=0) + timedelta(days=1)
            elif at.hour not in self.hours:
                at = at.replace(minute=0) + timedelta(hours=1)
            elif at.minute not in self.minutes:
                at += timedelta(minutes=1)
            else:
                return at
        return None


def parse_cron(expression: str) -> Cron:
    """Parse and check ``expression``; ``ValueError`` says what is wrong with it."""
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(
            "cron must have 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    minutes, hours, days, months, weekdays = (
        _field(text, name, low, high)
        for text, (name, low, high) in zip(parts, _FIELDS, strict=True)
    )
    cron = Cron(
        expression=" ".join(parts),
        minutes=minutes,
        hours=hours,
        days=days,
        months=months,
        weekdays=frozenset(day % 7 for day in weekdays),
        days_restricted=not parts[2].startswith("*"),
        weekdays_restricted=not parts[4].startswith("*"),
    )
    if cron.next_after(datetime(2000, 1, 1)) is None:
        raise ValueError(f"cron {expression!r} never fires")
    return cron
