"""Enrich and extend assets: what is refused when they are defined, the docs'
example, and a server whose reads lag behind an enrich.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, asset, materialize

from scout_dagster import (
    ScoutResource,
    build_findall_assets,
    build_findall_enrich_assets,
    build_findall_extend_assets,
    build_scout_runs_ledger,
    build_search_assets,
)
from scout_dagster.emulator import EmulatorServer
from scout_dagster.emulator._runs import ENRICHMENT_CREDITS
from tests.conftest import TEST_KEY, metadata_of
from tests.dagster.test_enrich_extend import QUERY, _enrich, _resources, _upstream

# ---------------------------------------------------------------- definitions


@asset
def plain() -> None:
    return None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda up: build_findall_extend_assets(up, name="x", additional_limit=0), "at least 1"),
        (lambda up: build_findall_extend_assets(up, name="x", additional_limit=True), "whole"),
        (lambda up: build_findall_enrich_assets(up, name="x"), "needs fields or output_schema"),
        (
            lambda up: build_findall_enrich_assets(up, name="x", fields=["Name"]),
            "'Name' is a column of ai_entities already",
        ),
        (
            lambda up: build_findall_enrich_assets(up, name="x", fields=["run_id"]),
            "reserved",
        ),
        (lambda up: build_findall_enrich_assets(up, name="x", fields="ceo"), "not one string"),
        (
            lambda up: build_findall_enrich_assets(
                up,
                name="x",
                fields=["ceo"],
                output_schema={"type": "object", "properties": {"ceo": {"type": "string"}}},
            ),
            "both in fields and in output_schema",
        ),
        (lambda up: build_findall_enrich_assets(up, name="ai", fields=["ceo"]), "upstream's own"),
        (
            lambda up: build_findall_enrich_assets(up, name="x", fields=["ceo"], timeout_s=0),
            "timeout_s",
        ),
        (
            lambda up: build_findall_enrich_assets(_enrich(up), name="x", fields=["founded"]),
            "is itself the enrich of ai_entities",
        ),
        (
            lambda up: build_findall_enrich_assets(plain, name="x", fields=["ceo"]),
            "builds on the assets of @scout_findall_assets",
        ),
        (
            lambda up: build_findall_extend_assets(
                build_search_assets("web", ["q"]), name="x", additional_limit=1
            ),
            "builds on the assets of @scout_findall_assets",
        ),
        (
            lambda up: build_findall_extend_assets(
                build_findall_assets("all", QUERY), name="x", additional_limit=1
            ),
            "has no limit",
        ),
        (lambda up: build_scout_runs_ledger(_enrich(up)), "pass those assets too"),
    ],
)
def test_definitions_that_cannot_work_are_refused(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(_upstream())


def test_the_docs_example_defines_its_assets() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "enrich-extend.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(compile(code, "enrich-extend.md", "exec"), namespace)
    keys = namespace["defs"].resolve_asset_graph().get_all_asset_keys()
    assert {AssetKey("ai_infra_people_entities"), AssetKey("ai_infra_more_entities")} <= keys


# ---------------------------------------------------------------- reads that lag


class LaggingReads:
    """A proxy in front of the emulator whose reads of a run lag behind an
    enrich: after a POST ``…/enrich``, the next ``lag`` reads of that run are
    answered with the run as it was read before the POST (completed, without
    the new fields), as a replicated store a write has not reached yet would."""

    def __init__(self, upstream: str, lag: int) -> None:
        self.lag = lag
        self.stale_answers = 0
        self.paths: list[str] = []  # every request's path, as it came through
        self._client = httpx.Client(base_url=upstream)
        self._last: dict[str, bytes] = {}  # run path -> its last body read
        self._pending: dict[str, int] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.forward(self, "GET")

            def do_POST(self) -> None:
                proxy.forward(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def forward(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = handler.path.split("?", 1)[0]
        self.paths.append(path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        if method == "GET" and self._pending.get(path, 0) > 0:
            self._pending[path] -= 1
            self.stale_answers += 1
            self._answer(handler, 200, self._last[path])
            return
        names = ("Authorization", "Accept", "Content-Type", "Idempotency-Key", "Scout-Version")
        headers = {n: handler.headers[n] for n in names if handler.headers.get(n)}
        response = self._client.request(method, handler.path, content=body, headers=headers)
        if method == "GET" and response.status_code == 200:
            self._last[path] = response.content
        if method == "POST" and path.endswith("/enrich"):
            self._pending[path.removesuffix("/enrich")] = self.lag
        self._answer(handler, response.status_code, response.content)

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, content: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    def close(self) -> None:
        self._server.shutdown()
        self._client.close()


@pytest.fixture
def lagging(emulator: EmulatorServer) -> Iterator[LaggingReads]:
    proxy = LaggingReads(emulator.url, lag=3)
    yield proxy
    proxy.close()


def test_a_table_comes_only_from_a_body_that_shows_the_enrich(
    emulator: EmulatorServer, lagging: LaggingReads, tmp_path: Path
) -> None:
    upstream = _upstream()
    # The enrich talks to the run through the proxy; the FindAll asset directly.
    enrich = _enrich(upstream, resource_key="lagging_scout")
    resources = _resources(emulator, tmp_path)
    resources["lagging_scout"] = ScoutResource(api_key=TEST_KEY, base_url=lagging.url)
    result = materialize([upstream, enrich], resources=resources)
    assert result.success
    assert lagging.stale_answers == 3, "the first reads after the enrich were stale"
    table = pq.read_table(tmp_path / "ai_ceo_entities" / "data.parquet")
    assert table.num_rows == 4
    assert table.column("ceo").null_count == 0 and table.column("employees").null_count == 0
    assert metadata_of(result, "ai_ceo_entities")["scout/credits"] == 4 * ENRICHMENT_CREDITS
    # The enrich (all its requests come through the proxy) never followed the
    # stream, which would start with the run's old completion.
    assert lagging.paths and not [p for p in lagging.paths if p.endswith("/events")]
