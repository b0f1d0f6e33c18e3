"""The hostile server's HTTP side: each request recorded, its key checked,
then routed to the server's runs (:mod:`.server`) or monitors
(:mod:`.monitors`) and answered as the scenario says."""

from __future__ import annotations

import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from .model import CREATES, RUN_CALLS, Abort, Kind, Monitor, RequestRecord, Run
from .monitors import sse_id

if TYPE_CHECKING:
    from .server import HostileServer

#: The most events one list answer gives (and the largest ``limit`` taken).
_MAX_EVENTS_LIMIT = 100


def _ints(query: dict[str, list[str]], **defaults: int) -> tuple[int, ...] | None:
    """The query's integer parameters (defaults where absent), or None if one is not."""
    values = []
    for name, default in defaults.items():
        text = (query.get(name) or [str(default)])[0]
        if not text.lstrip("-").isdigit():
            return None
        values.append(int(text))
    return tuple(values)


def _first(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    hostile: HostileServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HTTPServer
    token = ""  # the bearer key of the request being answered
    event_id = 0

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    @property
    def hostile(self) -> HostileServer:
        return self.server.hostile

    def _handle(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.hostile.lock:
            record = RequestRecord(method, self.path, headers, body, time.monotonic())
            self.hostile.requests.append(record)
        auth = headers.get("authorization", "")
        self.token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        try:
            if self.hostile.stopping.is_set():
                raise Abort
            if self.token != self.hostile.api_key:
                self._json(401, {"detail": "invalid or missing API key"})
            else:
                self._route(method, body, headers)
        except (Abort, BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _wait(self, seconds: float) -> None:
        if self.hostile.stopping.wait(seconds):
            raise Abort

    def _start(self, status: int, kind: str, length: int | None, extra: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        echo = self.hostile.scenario.echo_key
        self.send_header("x-request-id", f"req-{self.token if echo else uuid.uuid4().hex[:12]}")
        for name, value in extra.items():
            self.send_header(name, value)
        if length is None:  # a stream: its end is the connection's end
            self.send_header("Connection", "close")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self._start(status, "application/json", len(data), headers or {})
        self.wfile.write(data)

    def _trickle(self, payload: Any, every_s: float) -> None:
        data = json.dumps(payload).encode()
        self._start(200, "application/json", len(data), {})
        self._dribble(data, every_s)

    def _dribble(self, data: bytes, every_s: float) -> None:
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            self._wait(every_s)

    def _route(self, method: str, body: bytes, headers: dict[str, str]) -> None:
        path, _, query = self.path.partition("?")
        if path == "/v1/monitors" or path.startswith("/v1/monitors/"):
            return self._monitors(method, path, parse_qs(query), body, headers)
        if method == "POST" and path in CREATES:
            return self._create(CREATES[path], body, headers.get("idempotency-key"))
        parts = tuple(path.split("/")[1:])
        run: Run | None = None
        action: tuple[str, ...] = ()
        if len(parts) in (4, 5) and parts[:3] == ("v1", "findall", "runs"):
            run, action = self.hostile.find("findall", parts[3]), parts[4:]
        elif len(parts) in (3, 4) and parts[:2] == ("v1", "searches"):
            run, action = self.hostile.find("search", parts[2]), parts[3:]
        sc = self.hostile.scenario
        if run is None or (method, action) not in RUN_CALLS:
            self._json(404, {"detail": "Not Found"})
        elif action == ("cancel",):
            if self.hostile.cancel_refused():
                self._json(503, {"detail": "cancel is unavailable, try again"})
            else:
                self._json(200, self.hostile.cancel(run, self.token))
        elif action == ("events",):
            self._events(run, headers.get("last-event-id") or parse_qs(query).get("last_event_id"))
        else:
            if sc.slow_get_s:
                self._wait(sc.slow_get_s)
            with self.hostile.lock:
                state, payload = self.hostile.get_view(run, self.token)
            if sc.trickle_body_s and state == "completed":
                self._trickle(payload, sc.trickle_body_s)
            else:
                self._json(200, payload)

    # ------------------------------------------------------------ monitors

    def _not_found(self, monitor_id: str) -> None:
        echo = f" for key {self.token}" if self.hostile.scenario.echo_key else ""
        self._json(404, {"detail": f"monitor {monitor_id} not found{echo}"})

    def _invalid(self, field: str, msg: str) -> None:
        detail = [{"loc": ["query", field], "msg": msg, "type": "value_error"}]
        self._json(422, {"detail": detail})

    def _list(self, items: list[dict[str, Any]]) -> Any:
        wrap = self.hostile.scenario.wrap_lists
        return {wrap: items} if wrap else items

    def _monitors(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
        headers: dict[str, str],
    ) -> None:
        hostile = self.hostile
        parts = path.split("/")[3:]  # after "", "v1", "monitors"
        key = headers.get("idempotency-key")
        if not parts:
            if method == "POST":
                return self._json(
                    *hostile.monitor_write("POST", raw, key, lambda: hostile.create_monitor(raw))
                )
            if method == "GET":
                numbers = _ints(query, limit=50, offset=0)
                if numbers is None:
                    return self._invalid("limit", "limit and offset must be integers")
                return self._json(200, self._list(hostile.monitors_page(*numbers)))
            return self._json(405, {"detail": "Method Not Allowed"})
        monitor = hostile.monitor(parts[0]) if len(parts) in (1, 2) else None
        if monitor is None:
            return self._not_found(unquote(parts[0]))
        action = tuple(parts[1:])
        call = f"{method} {monitor.monitor_id} {'/'.join(action)}"
        if (method, action) == ("GET", ()):
            return self._json(200, hostile.monitor_body(monitor))
        if (method, action) == ("GET", ("events",)):
            accept = headers.get("accept", "")
            if "application/json" in accept and "text/event-stream" not in accept:
                return self._event_list(monitor, query)
            last = headers.get("last-event-id") or _first(query, "last_event_id")
            return self._monitor_stream(monitor, last)
        if method == "PATCH" and action == ():
            answer = hostile.monitor_write(
                call, raw, key, lambda: hostile.update_monitor(monitor, raw)
            )
            return self._json(*answer)
        if method == "DELETE" and action == ():
            status, payload = hostile.monitor_write(
                call, raw, key, lambda: (200, hostile.monitor_body(monitor) | {"deleted": True})
            )
            if status == 200:
                hostile.delete_monitor(monitor.monitor_id)
                if hostile.scenario.delete_answers_204:
                    self.send_response(204)
                    self.send_header("x-request-id", f"req-{uuid.uuid4().hex[:12]}")
                    self.end_headers()
                    return None
            return self._json(status, payload)
        if method == "POST" and action in (("pause",), ("resume",), ("run",)):
            act = action[0]
            return self._json(
                *hostile.monitor_write(call, raw, key, lambda: hostile.act(monitor, act))
            )
        return self._json(404, {"detail": "Not Found"})

    def _event_list(self, monitor: Monitor, query: dict[str, list[str]]) -> None:
        hostile = self.hostile
        sc = hostile.scenario
        with hostile.lock:
            hostile.events_reads += 1
            reads = hostile.events_reads
        if reads <= len(sc.events_failures):
            status = sc.events_failures[reads - 1]
            retry = {"Retry-After": sc.events_retry_after} if sc.events_retry_after else {}
            extra = retry if status in (429, 503) else {}
            return self._json(status, {"detail": f"events are unavailable ({status})"}, extra)
        numbers = _ints(query, limit=_MAX_EVENTS_LIMIT)
        if numbers is None or numbers[0] < 1:
            return self._invalid("limit", "limit must be a positive integer")
        after = _first(query, "after")
        page = hostile.events_page(monitor, after, min(numbers[0], _MAX_EVENTS_LIMIT), self.token)
        if page is None:
            return self._invalid("after", f"monitor {monitor.monitor_id} has no event {after!r}")
        if sc.trickle_events_s:
            return self._trickle(self._list(page), sc.trickle_events_s)
        return self._json(200, self._list(page))

    def _monitor_stream(self, monitor: Monitor, last: str | None) -> None:
        hostile = self.hostile
        sc = hostile.scenario
        position = hostile.position_after(monitor, last)
        if position is None:
            return self._json(422, {"detail": f"no event {last!r} to resume after"})
        self._start(200, "text/event-stream", None, {"Cache-Control": "no-cache"})
        while True:
            with hostile.changed:
                pending = list(enumerate(monitor.events))[position:]
                if not pending and not monitor.deleted and not hostile.stopping.is_set():
                    hostile.changed.wait(sc.keepalive_s)
                    pending = list(enumerate(monitor.events))[position:]
                views = [(i, sse_id(i, e), hostile.event_view(e, self.token)) for i, e in pending]
                gone = monitor.deleted
            if hostile.stopping.is_set():
                raise Abort
            for index, frame_id, view in views:
                frame = f"id: {frame_id}\nevent: {view['type']}\ndata: {json.dumps(view)}\n\n"
                if sc.trickle_events_s:
                    self._dribble(frame.encode(), sc.trickle_events_s)
                else:
                    self.wfile.write(frame.encode())
                    self.wfile.flush()
                position = index + 1
                if sc.stream_drops:
                    return None  # the connection closes after each event
            if gone:
                return None  # a deleted monitor's stream ends
            if not views:
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()

    def _create(self, kind: Kind, raw: bytes, key: str | None) -> None:
        refusal = self.hostile.create_refusal()
        if refusal is not None:
            return self._json(*refusal)
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        needed = "query" if kind == "findall" else "queries"
        if not isinstance(request, dict) or not request.get(needed):
            detail = [{"loc": ["body", needed], "msg": "field required", "type": "missing"}]
            return self._json(422, {"detail": detail})
        answer = self.hostile.create(kind, request, raw, key, self.token)
        if self.hostile.scenario.slow_create_s:
            self._wait(self.hostile.scenario.slow_create_s)
        return self._json(*answer)

    def _events(self, run: Run, last: str | list[str] | None) -> None:
        hostile = self.hostile
        if hostile.scenario.no_stream:
            return self._json(503, {"detail": "event streams are unavailable"})
        last = last[0] if isinstance(last, list) else last
        with hostile.lock:
            run.watched = run.watched or time.monotonic()
        self.event_id = int(last) if last and last.isdigit() else 0
        self._start(200, "text/event-stream", None, {"Cache-Control": "no-cache"})
        pages, quiet = -1, 0.0
        while True:
            with hostile.lock:
                state = hostile.state_of(run)
                done, target = hostile.search_pages(run)
                status = run.kind == "findall" and (pages < 0 or state != "running")
                if status:  # a status event on connecting, and the terminal one
                    body = hostile.reported(run, hostile.findall_body(run, state, self.token))
                    if hostile.scenario.status_events_without_entities and isinstance(body, dict):
                        body = {
                            k: v for k, v in body.items() if k not in ("entities", "candidates")
                        }
            if status:
                self._event("findall.status", {"type": "findall.status", "data": body})
                pages = 0
            elif run.kind == "search" and (state != "running" or done != pages):
                pages, kind = done, "run.progress" if state == "running" else f"run.{state}"
                fields = {"search_id": run.run_id, "status": state} if state != "running" else {}
                self._event(
                    kind, {"type": kind, "pagesFetched": done, "pagesTarget": target} | fields
                )
            if state != "running":
                return
            self._wait(0.02)
            quiet += 0.02
            if quiet >= hostile.scenario.keepalive_s:
                quiet = 0.0
                self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        self.event_id += 1
        self.wfile.write(
            f"id: {self.event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()
        )
        self.wfile.flush()
