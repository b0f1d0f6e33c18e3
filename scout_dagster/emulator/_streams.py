"""Server-sent event streams: of a run's timeline, and the loop any stream runs.

A stream sends every event that has happened (virtual time <= now) after the
resume point, then keeps looking every ``stream_tick_s`` real seconds, writing
a ``: keep-alive`` comment after ``keepalive_s`` real seconds of silence. A
run's stream ends once the run is terminal and every event of its timeline has
been sent (a run extended after completing goes on streaming); a monitor's
(``_monitor_routes``) when the monitor is deleted. Every stream honours the
``stream_drop`` fault and ends when the server stops. Frames are ``id:``,
``event:`` and ``data:`` lines.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ._faults import DeliberateAbort
from ._middleware import RequestContext
from ._run_common import ACTIVE_STATES
from ._runs import Run
from ._sse_messages import sse_messages
from ._state import EmulatorState

__all__ = ["KEEPALIVE", "Framed", "Poll", "StreamMessage", "event_stream", "frame", "pump"]

KEEPALIVE = b": keep-alive\n\n"


class Framed(Protocol):
    """What a frame is made of (``SseMessage`` of runs, ``StreamMessage`` of monitors)."""

    @property
    def event_id(self) -> int | str: ...

    @property
    def event_type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StreamMessage:
    """One event with an opaque string id, ready to frame."""

    event_id: str
    event_type: str
    data: dict[str, Any]


# A look at what is new: the messages to send now, and whether the stream
# ends once they are sent.
Poll = Callable[[], tuple[Sequence[Framed], bool]]


def frame(message: Framed) -> bytes:
    """One SSE frame; ``data`` is compact JSON on a single line."""
    data = json.dumps(message.data, separators=(",", ":"))
    return f"id: {message.event_id}\nevent: {message.event_type}\ndata: {data}\n\n".encode()


async def pump(state: EmulatorState, context: RequestContext, poll: Poll) -> AsyncIterator[bytes]:
    """Frames of whatever ``poll`` finds, tick after tick, until it says the stream ends."""
    config = state.config
    sent = 0
    last_write = time.monotonic()
    while not state.stopping.is_set():
        messages, ends = poll()
        for message in messages:
            if context.stream_drop_after is not None and sent >= context.stream_drop_after:
                if context.record_position is not None:
                    state.ledger.mark_fault(context.record_position, "stream_drop")
                raise DeliberateAbort(f"stream_drop fault after {sent} events")
            yield frame(message)
            sent += 1
            last_write = time.monotonic()
        if ends:
            return
        if time.monotonic() - last_write >= config.keepalive_s:
            yield KEEPALIVE
            last_write = time.monotonic()
        await asyncio.sleep(config.stream_tick_s)


async def event_stream(
    state: EmulatorState, run: Run, after_id: int, context: RequestContext
) -> AsyncIterator[bytes]:
    """Frames of ``run``'s events after ``after_id``, as they happen."""

    def poll() -> tuple[Sequence[Framed], bool]:
        nonlocal after_id
        with state.ledger.lock:
            now = state.clock.now()
            messages = sse_messages(run, after_id, now, state.timestamps)
            if messages:
                after_id = messages[-1].event_id
            ends = run.summary(now).state not in ACTIVE_STATES and (
                after_id >= run.timeline.last_event_id
            )
        return messages, ends

    async for chunk in pump(state, context, poll):
        yield chunk
