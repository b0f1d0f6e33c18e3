"""Content negotiation of ``GET .../events``: an SSE stream or a JSON array.

Scout's own SDK reads events two ways from the same path: streaming (its SSE
reader sends ``Accept: text/event-stream``) and ``events(id)``, a plain GET
with ``Accept: application/json``. Run events default to the stream (as the
vendor documents them); monitor events default to JSON (a list call first).
The middleware asks the same question as the handlers, so a JSON answer gets
the faults of a JSON answer and a stream those of a stream.
"""

from __future__ import annotations

__all__ = ["EVENT_STREAM", "MONITOR_PREFIX", "is_stream_request", "wants_stream"]

EVENT_STREAM = "text/event-stream"
MONITOR_PREFIX = "/v1/monitors"


def _media_types(accept: str | None) -> set[str]:
    """The media types an Accept header asks for; ranges with ``q=0`` are refusals."""
    types: set[str] = set()
    for part in (accept or "").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        refused = any(p.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00") for p in params)
        if media and not refused:
            types.add(media.lower())
    return types


def wants_stream(accept: str | None, *, default_stream: bool) -> bool:
    """Whether to answer with SSE: asked for by name, else JSON if named, else the default."""
    types = _media_types(accept)
    if EVENT_STREAM in types:
        return True
    if "application/json" in types:
        return False
    return default_stream


def is_stream_request(method: str, path: str, accept: str | None) -> bool:
    """Whether a request will be answered with an event stream."""
    if method != "GET" or not path.endswith("/events"):
        return False
    return wants_stream(accept, default_stream=not path.startswith(MONITOR_PREFIX + "/"))
