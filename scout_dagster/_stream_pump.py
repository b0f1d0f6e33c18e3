"""A run's event stream, read in a thread of its own so the waiting one keeps time."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

__all__ = ["StreamPump"]


class StreamPump(threading.Thread):
    """Reads an event stream in a daemon thread so the waiting thread can keep time.

    A blocked socket read cannot honour a deadline; a queue read with a
    timeout can. The pump ends by itself when the stream ends (the server
    closes it after the terminal event, which our cancel causes), or once
    :meth:`stop` was called, at the stream's next event or failure: ``events``
    gets the stop flag, so a stream stopped mid-read is not resumed (its
    connection fails when the client closes, after the step ends).
    """

    def __init__(self, events: Callable[[threading.Event], Iterator[object]]) -> None:
        super().__init__(daemon=True, name="scout-event-stream")
        self.items: queue.Queue[tuple[str, object]] = queue.Queue()
        self._events = events
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            for event in self._events(self._stopped):
                if self._stopped.is_set():
                    return
                self.items.put(("event", event))
            self.items.put(("end", None))
        except BaseException as exc:  # handed to the waiting thread, which decides
            if not self._stopped.is_set():
                self.items.put(("error", exc))

    def stop(self) -> None:
        self._stopped.set()
