"""The emulator's notion of time.

Every duration inside the emulator (queueing, running phases, heartbeats, the
create-cap window) is measured in *virtual seconds* read from a ``Clock``. Run
state is computed lazily from the clock at each request, so swapping the clock
is all it takes to make a 40 s run finish in 40 ms (``SystemClock(speed=1000)``)
or to step through a lifecycle deterministically (``ManualClock``).

Wall-clock timestamps in API payloads come from ``Timestamps``, which maps
virtual seconds onto a real epoch fixed when the emulator starts.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "Timestamps"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic source of virtual time."""

    def now(self) -> float:
        """Virtual seconds elapsed since the clock started; never decreases."""
        ...


class SystemClock:
    """Real monotonic time scaled by ``speed``.

    ``speed`` is virtual seconds per real second: ``SystemClock(1000.0)`` makes a
    40-virtual-second run complete in 40 real milliseconds.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> float:
        """Virtual seconds since construction: real monotonic seconds times ``speed``."""
        return (time.monotonic() - self._origin) * self.speed

    def __repr__(self) -> str:
        return f"SystemClock(speed={self.speed})"


class ManualClock:
    """A clock that only moves when told to, for deterministic tests.

    Thread-safe: tests advance it from their thread while the server reads it
    from its event-loop thread.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current virtual time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` virtual seconds; returns the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds}))")
        with self._lock:
            self._now += seconds
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self.now()})"


class Timestamps:
    """Maps virtual seconds onto wall-clock ISO-8601 strings.

    ``epoch`` is the Unix time (seconds) that virtual time 0 stands for; the
    emulator fixes it when it starts so timestamps look like real ones. The two
    formats copy the vendor's own examples: FindAll pages show
    ``2025-01-20T14:10:02+00:00`` and search pages ``2024-06-10T09:15:00Z``.
    """

    def __init__(self, epoch: float | None = None) -> None:
        self.epoch = float(int(time.time())) if epoch is None else epoch

    def _datetime(self, virtual_s: float) -> datetime:
        return datetime.fromtimestamp(self.epoch + virtual_s, UTC)

    def offset(self, virtual_s: float) -> str:
        """ISO-8601 with a ``+00:00`` offset, whole seconds (FindAll style)."""
        return self._datetime(virtual_s).isoformat(timespec="seconds")

    def zulu(self, virtual_s: float) -> str:
        """ISO-8601 with a ``Z`` suffix, whole seconds (search style)."""
        return self._datetime(virtual_s).strftime("%Y-%m-%dT%H:%M:%SZ")
