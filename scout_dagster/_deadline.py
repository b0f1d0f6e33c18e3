"""One deadline for everything a materialization does: create, wait, final read.

The follower opens a :func:`within` scope; every request the client sends
inside it (and every retry wait) is bounded by what is left of it, as a total
deadline, not a per-read timeout: a body that trickles one byte every few
seconds is abandoned when the deadline passes. The cancel that follows a
deadline opens its own short scope (``override=True``), so it is still sent.

A context variable carries the scope, so the client's signatures stay those of
the contract; threads started inside a scope do not inherit it.
"""

from __future__ import annotations

import contextvars
import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["Deadline", "current_deadline", "within"]


@dataclasses.dataclass(frozen=True)
class Deadline:
    """A point in time on ``clock`` (monotonic seconds) and why it is there."""

    at: float
    why: str = "the deadline"
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(
        cls, seconds: float, why: str, clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        return cls(at=clock() + seconds, why=why, clock=clock)

    def remaining(self) -> float:
        return max(self.at - self.clock(), 0.0)

    def expired(self) -> bool:
        return self.clock() >= self.at


#: Longest deadline: a week, far past any run; ``None`` means none at all.
MAX_DEADLINE_S = 7 * 24 * 3600.0

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "scout_dagster_deadline", default=None
)


def current_deadline() -> Deadline | None:
    """The deadline of the innermost :func:`within` scope, if any."""
    return _current.get()


@contextmanager
def within(deadline: Deadline | None, *, override: bool = False) -> Iterator[Deadline | None]:
    """Bound every request inside by ``deadline``.

    Nested scopes keep the earlier of the two deadlines, unless ``override``
    (the cancel after a passed deadline gets its own time).
    """
    outer = _current.get()
    chosen = deadline
    if not override and outer is not None and (deadline is None or outer.at < deadline.at):
        chosen = outer
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)
