"""The end-to-end benchmark's loopback server: a FindAll run completed from the first look.

``POST /v1/findall/runs`` answers a queued run, ``GET /v1/findall/runs/{id}``
the completed run (bytes built once per size, as
``benchmarks.normalize.make_response`` builds them), and ``GET …/events`` one
``findall.status`` event whose data is the whole completed run (nested, as
the emulator sends it), then the end of the stream (a JSON array of the same
event with ``Accept: application/json``). Every request goes in a ledger.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from benchmarks.normalize import SCHEMA, make_response

__all__ = ["QUERY", "RUN_ID", "LoopbackServer", "Served"]

QUERY = "benchmark companies"
RUN_ID = "fa-benchmark"  # make_response's


@dataclass
class Served:
    """What the server answers for the run: bytes built once per size."""

    run: bytes = b"{}"
    queued: bytes = b"{}"
    event_prefix: bytes = b""
    event_suffix: bytes = b""


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def add(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(entry)

    def take(self) -> list[dict[str, Any]]:
        with self.lock:
            taken, self.requests = self.requests, []
        return taken


class LoopbackServer:
    """A FindAll run completed from the first look, on 127.0.0.1."""

    def __init__(self) -> None:
        self.served = Served()
        self.ledger = Ledger()
        handler = functools.partial(_Handler, self)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve(self, entities: int, *, candidates: bool) -> float:
        """Build and serve the completed run of ``entities`` (with a candidate
        each, if ``candidates``); its size in MB."""
        run = make_response(entities, candidates=candidates)
        self.served = Served(
            run=run,
            queued=json.dumps(
                {
                    "findall_id": RUN_ID,
                    "status": "queued",
                    "query": QUERY,
                    "entities": [],
                    "count": 0,
                    "credits": 0,
                    "output_schema": SCHEMA,
                    "candidates": None,
                    "createdAt": "2026-01-01T00:00:00Z",
                    "completedAt": None,
                }
            ).encode(),
            # The event's data is the whole run, on one line (nested, as the emulator
            # sends it), written around the run's bytes rather than copied into them.
            event_prefix=b'{"type": "findall.status", "event_id": "1", '
            b'"timestamp": "2026-01-01T00:10:00Z", "data": ',
            event_suffix=b"}",
        )
        return len(run) / 2**20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server

    def __init__(self, server_: LoopbackServer, *args: Any, **kwargs: Any) -> None:
        self.loopback = server_
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path.replace("/v1/lists/", "/v1/findall/", 1)

    def do_POST(self) -> None:
        started = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self._path() == "/v1/findall/runs":
            self._send(200, "application/json", [self.loopback.served.queued], started)
        else:
            self._send(404, "application/json", [b'{"detail": "not found"}'], started)

    def do_GET(self) -> None:
        started = time.perf_counter()
        served = self.loopback.served
        path = self._path()
        if path == f"/v1/findall/runs/{RUN_ID}":
            self._send(200, "application/json", [served.run], started)
        elif path == f"/v1/findall/runs/{RUN_ID}/events":
            accept = self.headers.get("Accept", "")
            event = [served.event_prefix, served.run, served.event_suffix]
            if "application/json" in accept and "text/event-stream" not in accept:
                self._send(200, "application/json", [b"[", *event, b"]"], started)
            else:
                head = b"id: 1\nevent: findall.status\ndata: "
                self._send(200, "text/event-stream", [head, *event, b"\n\n"], started)
        else:
            self._send(404, "application/json", [b'{"detail": "not found"}'], started)

    def _send(self, status: int, content_type: str, parts: list[bytes], started: float) -> None:
        length = sum(len(p) for p in parts)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("x-request-id", f"req-{time.monotonic_ns()}")
        if content_type == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for part in parts:
            self.wfile.write(part)
        self.loopback.ledger.add(
            {
                "method": self.command,
                "path": self._path(),
                "accept": self.headers.get("Accept", ""),
                "status": status,
                "bytes": length,
                "seconds": time.perf_counter() - started,
            }
        )
