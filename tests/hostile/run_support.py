"""What the run tests against the hostile server share: its key, the assets
and resources, the tables read back, a step's failure text, and
:class:`Background`, a materialization on a thread of its own. The server
(:mod:`tests.hostile.server`) shares no code with the package or its emulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from dagster import (
    AssetsDefinition,
    ExecuteInProcessResult,
    materialize,
)

from scout_dagster import (
    ScoutParquetIOManager,
    ScoutResource,
    build_findall_assets,
    build_search_assets,
)
from tests.conftest import POLL_S
from tests.hostile.server import HostileServer

KEY = "sk-hostile-4c1d-DO-NOT-LEAK"
QUERY = "S-1 stage AI infrastructure companies"
#: Entities a FindAll run of the hostile server finds (its create `limit`).
ROWS = 8
FINDALL_TABLES = ("ai_entities", "ai_citations")
SEARCH_TABLES = ("ev_results", "ev_sources", "ev_findings", "ev_report")
#: A deadline test may take this long past its deadline: generous, not a speed test.
DEADLINE_SLACK_S = 12.0
NO_COMPUTE_LOGS: Any = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


# ---------------------------------------------------------------- helpers


def resources(server: HostileServer, base: Path, **scout: Any) -> dict[str, Any]:
    options = {"max_retries": 2, "retry_backoff_s": 0.01} | scout
    return {
        "scout": ScoutResource(api_key=KEY, base_url=server.url, **options),
        "scout_io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def findall_assets(**kwargs: Any) -> AssetsDefinition:
    return build_findall_assets("ai", QUERY, limit=ROWS, **kwargs)


def search_assets(**kwargs: Any) -> AssetsDefinition:
    return build_search_assets("ev", ["ev market trends"], objective="Where is it going?", **kwargs)


def rows(base: Path, table: str) -> int:
    return int(ds.dataset(base / table, format="parquet").count_rows())


def table_bytes(base: Path, tables: tuple[str, ...]) -> dict[str, bytes]:
    return {table: (base / table / "data.parquet").read_bytes() for table in tables}


def failure_text(result: ExecuteInProcessResult) -> str:
    """Everything the step failures say: errors with their causes, and descriptions."""
    parts = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.error is not None:
            parts.append(data.error.to_string())
        if data.user_failure_data is not None:
            parts.append(data.user_failure_data.description or "")
            parts.append(str(data.user_failure_data.metadata))
    return "\n".join(parts)


def posts(server: HostileServer) -> int:
    return sum(1 for r in server.requests if r.method == "POST")


def settle(predicate: Callable[[], object], timeout_s: float) -> bool:
    """Poll ``predicate`` until truthy or ``timeout_s`` passes; say which."""
    give_up = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > give_up:
            return False
        time.sleep(POLL_S)  # polling a condition, not waiting a fixed time
    return True


class Background:
    """``fn`` in a daemon thread, timed, so a test can bound a wait that may hang."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._value: Any = None
        self._error: BaseException | None = None
        self.started = time.monotonic()
        self.ended: float | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:
            self._error = exc
        finally:
            self.ended = time.monotonic()

    def wait(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return self.done

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    @property
    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def value(self) -> Any:
        assert self.done, "still running"
        if self._error is not None:
            raise self._error
        return self._value


def materialize_in_background(
    assets: AssetsDefinition, res: dict[str, Any], **kw: Any
) -> Background:
    return Background(lambda: materialize([assets], resources=res, raise_on_error=False, **kw))
