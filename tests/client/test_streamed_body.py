"""A run body read as it downloads: the key redacted across chunk boundaries,
the tables those of the whole body, a body the fast read cannot take read
again whole, and a body that is another run's read again."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from scout_dagster import ScoutClient
from scout_dagster._findall_read import fetch_run_body
from scout_dagster._text import Redactor
from scout_dagster.tables import json_reader
from scout_dagster.tables.columns import EntityColumn

KEY = "sk-live-STREAMED-4c3b2a"
COLUMNS = (EntityColumn("name", "string"), EntityColumn("website", "string"))


class _Gathered:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def feed(self, chunk: bytes | memoryview) -> None:
        self.chunks.append(bytes(chunk))


@pytest.mark.parametrize("secret", [KEY, "k"])
def test_the_key_is_redacted_wherever_the_chunks_cut_it(secret: str) -> None:
    body = f'{{"a":"{secret}","b":"x{secret}{secret}y","c":"{secret[:-1]}"}}'.encode()
    expected = body.replace(secret.encode(), b"***")
    for cut in range(len(body) + 1):
        for size in (1, 3, len(body)):
            gathered = _Gathered()
            feed = Redactor(secret).feeding(gathered)
            pieces = [body[:cut]] + [body[at : at + size] for at in range(cut, len(body), size)]
            for piece in pieces:
                feed.feed(piece)
            feed.flush()
            assert b"".join(gathered.chunks) == expected, (cut, size)


def _run(run_id: str, names: list[str], *, founded: Any = None) -> bytes:
    entities = [
        {"name": name, "website": f"https://{i}.example.com", "source": "https://s.example.com"}
        | ({"website": founded} if founded is not None and i == 1 else {})
        for i, name in enumerate(names)
    ]
    run = {
        "findall_id": run_id,
        "status": {"status": "completed", "termination_reason": "match_limit_met"},
        "entities": entities,
        "count": len(entities),
        "credits": 7,
    }
    return json.dumps(run).encode()


class _Bodies(http.server.ThreadingHTTPServer):
    """Serves ``GET /v1/findall/runs/{id}`` from a queue of bodies, a few bytes per write."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.gets = 0
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Bodies

    def do_GET(self) -> None:
        body = self.server.bodies[min(self.server.gets, len(self.server.bodies) - 1)]
        self.server.gets += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        for at in range(0, len(body), 5):  # the key and the cuts fall across writes
            self.wfile.write(body[at : at + 5])
            self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[_Bodies] = []

    def start(*bodies: bytes) -> tuple[ScoutClient, _Bodies]:
        server = _Bodies(list(bodies))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return ScoutClient(KEY, base_url=f"http://127.0.0.1:{server.server_port}"), server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def tiny_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every body is cut at every element, as a large one is."""
    monkeypatch.setattr(json_reader, "SPLIT_MIN_BYTES", 0)
    monkeypatch.setattr(json_reader, "PIECE_BYTES", 1)


def test_a_body_read_as_it_downloads_never_holds_the_key(serve: Any) -> None:
    client, server = serve(_run("fa-1", ["Acme", f"Echo {KEY} Inc", "Zeta"]))
    body = fetch_run_body(client, "fa-1", COLUMNS)
    assert body.path == "document" and server.gets == 1
    assert body.entities.column("name").to_pylist() == ["Acme", "Echo *** Inc", "Zeta"]


def test_a_body_the_fast_read_cannot_take_is_read_again_whole(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A number where the column is text: the exact path coerces it.
    caplog.set_level(logging.INFO, logger="scout_dagster.client")
    client, server = serve(_run("fa-1", ["Acme", "Beta", "Zeta"], founded=1999))
    body = fetch_run_body(client, "fa-1", COLUMNS)
    assert body.path == "python" and server.gets == 2
    assert body.entities.column("website").to_pylist()[1] == "1999"
    # The second download is said, in the log that reaches the run's.
    assert any("downloading it again" in r.getMessage() for r in caplog.records)


def test_a_body_that_is_another_run_is_read_again(serve: Any) -> None:
    client, server = serve(_run("fa-other", ["Acme"]), _run("fa-1", ["Acme", "Beta"]))
    body = fetch_run_body(client, "fa-1", COLUMNS)
    assert body.facts.run_id == "fa-1" and server.gets == 2
    assert body.entities.num_rows == 2
