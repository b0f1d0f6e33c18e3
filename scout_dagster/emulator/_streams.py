"""Server-sent event streams of a run's timeline.

A stream sends every event that has happened (virtual time <= now) with an id
above the resume point, then keeps looking at the timeline every
``stream_tick_s`` real seconds, writing a ``: keep-alive`` comment after
``keepalive_s`` real seconds of silence. It ends once the run is terminal and
every event of its timeline has been sent (a run extended after completing
goes on streaming). Frames are ``id:``, ``event:`` and ``data:`` lines.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from ._faults import DeliberateAbort
from ._middleware import RequestContext
from ._payloads import SseMessage, sse_messages
from ._runs import ACTIVE_STATES, Run
from ._state import EmulatorState

__all__ = ["KEEPALIVE", "event_stream", "frame"]

KEEPALIVE = b": keep-alive\n\n"


def frame(message: SseMessage) -> bytes:
    """One SSE frame; ``data`` is compact JSON on a single line."""
    data = json.dumps(message.data, separators=(",", ":"))
    return f"id: {message.event_id}\nevent: {message.event_type}\ndata: {data}\n\n".encode()


async def event_stream(
    state: EmulatorState, run: Run, after_id: int, context: RequestContext
) -> AsyncIterator[bytes]:
    """Frames of ``run``'s events after ``after_id``, as they happen."""
    config = state.config
    sent = 0
    last_write = time.monotonic()
    while not state.stopping.is_set():
        with state.ledger.lock:
            now = state.clock.now()
            messages = sse_messages(run, after_id, now, state.timestamps)
            ends = run.summary(now).state not in ACTIVE_STATES and (
                (messages[-1].event_id if messages else after_id) >= run.timeline.last_event_id
            )
        for message in messages:
            if context.stream_drop_after is not None and sent >= context.stream_drop_after:
                if context.record_position is not None:
                    state.ledger.mark_fault(context.record_position, "stream_drop")
                raise DeliberateAbort(f"stream_drop fault after {sent} events")
            yield frame(message)
            after_id = message.event_id
            sent += 1
            last_write = time.monotonic()
        if ends:
            return
        if time.monotonic() - last_write >= config.keepalive_s:
            yield KEEPALIVE
            last_write = time.monotonic()
        await asyncio.sleep(config.stream_tick_s)
