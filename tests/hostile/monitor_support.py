"""What the monitor tests against the hostile server share: its key and
ids, the resources and assets, and :class:`Daemon`, the sensor evaluated as
Dagster's daemon evaluates it. The server (:mod:`tests.hostile.server`)
shares no code with the package or its emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from dagster import (
    AssetsDefinition,
    DagsterInstance,
    ExecuteInProcessResult,
    RunRequest,
    SensorDefinition,
    SensorResult,
    SkipReason,
    build_sensor_context,
    materialize,
)

from scout_dagster import (
    RetryPolicy,
    ScoutClient,
    ScoutParquetIOManager,
    ScoutResource,
    build_scout_monitor_assets,
    build_scout_monitor_sensor,
)
from tests.hostile.server import HostileServer

KEY = "sk-hostile-monitor-9b2e-DO-NOT-LEAK"
QUERY = "AI chip export controls"
ASSET = "chips_monitor_results"
PARTITIONS = "scout_monitor_chips"
#: Ids no partition key can hold as they are, and ids that only look alike.
ODD_IDS = [
    "../ev 1?x#y&after=z+w%2F",
    "ev\n2",
    "x" * 300,
    "ev-9",
    "ev-3",
    "ev-3 ",  # ev-3 with a trailing space: another event
    "ev-07",
]
#: What Dagster itself calls invalid in a partition key (``INVALID_PARTITION_SUBSTRINGS``).
BAD_KEY_PARTS = ("...", "\a", "\b", "\f", "\n", "\r", "\t", "\v", "\0", "/")


# ---------------------------------------------------------------- helpers


def resources(server: HostileServer, base: Path, **scout: Any) -> dict[str, Any]:
    options = {"max_retries": 3, "retry_backoff_s": 0.01} | scout
    return {
        "scout": ScoutResource(api_key=KEY, base_url=server.url, **options),
        "io_manager": ScoutParquetIOManager(base_path=str(base)),
    }


def client(server: HostileServer, attempts: int = 4) -> ScoutClient:
    policy = RetryPolicy(max_attempts=attempts, initial_backoff_s=0.01, min_retry_after_s=0.0)
    return ScoutClient(KEY, base_url=server.url, retry=policy)


def monitor_assets(monitor_id: str) -> AssetsDefinition:
    return build_scout_monitor_assets("chips", monitor_id, query=QUERY)


def emit(server: HostileServer, monitor_id: str, count: int) -> list[dict[str, Any]]:
    return [server.emit_monitor_event(monitor_id) for _ in range(count)]


def partition_table(base: Path, key: str) -> Any:
    return pq.read_table(base / ASSET / f"partition={key}")


class Daemon:
    """What Dagster's sensor daemon does with the monitor sensor.

    Each tick is evaluated with the cursor the last tick returned; its
    dynamic-partition requests are applied; each run key is launched once (a
    run key already launched is not run again, as Dagster does).
    """

    def __init__(
        self,
        sensor: SensorDefinition,
        assets: AssetsDefinition,
        instance: DagsterInstance,
        res: dict[str, Any],
        cursor: str | None = None,
    ) -> None:
        self.sensor, self.assets, self.instance, self.res = sensor, assets, instance, res
        self.cursor = cursor
        self.ticks: list[list[RunRequest]] = []  # the requests of each tick that had any
        self.launched: dict[str, ExecuteInProcessResult] = {}  # run key -> its run

    def evaluate(self, cursor: str | None) -> SensorResult | SkipReason:
        """One evaluation with ``cursor``, with no effect on the instance."""
        with build_sensor_context(
            instance=self.instance, cursor=cursor, resources=self.res
        ) as context:
            result = self.sensor(context)
        assert isinstance(result, SensorResult | SkipReason), result
        return result

    def tick(self) -> list[RunRequest] | None:
        """A tick as the daemon runs it: its run requests, or None when it skipped."""
        result = self.evaluate(self.cursor)
        if isinstance(result, SkipReason):
            return None
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        requests = list(result.run_requests or [])
        self.ticks.append(requests)
        if result.cursor is not None:
            self.cursor = result.cursor
        return requests

    def drain(self, most: int = 50) -> list[str]:
        """Tick until two ticks in a row skip (a read may miss the newest event
        once), at most ``most`` ticks: the run keys requested."""
        keys: list[str] = []
        quiet = 0
        for _ in range(most):
            requests = self.tick()
            quiet = quiet + 1 if requests is None else 0
            if quiet == 2:
                return keys
            keys += [str(r.run_key) for r in requests or []]
        raise AssertionError(f"still requesting runs after {most} ticks: {keys[-10:]}")

    def launch(self) -> list[ExecuteInProcessResult]:
        """Run every requested run key not launched yet, in the order requested."""
        results = []
        for request in (r for tick in self.ticks for r in tick):
            run_key = str(request.run_key)
            if run_key in self.launched:
                continue
            result = materialize(
                [self.assets],
                partition_key=request.partition_key,
                instance=self.instance,
                resources=self.res,
                tags=dict(request.tags),
                raise_on_error=False,
            )
            self.launched[run_key] = result
            results.append(result)
        return results


def watch(
    server: HostileServer, instance: DagsterInstance, base: Path, **sensor_options: Any
) -> tuple[str, AssetsDefinition, Daemon]:
    """A new monitor on ``server``, its results asset, and the daemon of its sensor."""
    monitor_id = server.add_monitor(QUERY)
    assets = monitor_assets(monitor_id)
    sensor = build_scout_monitor_sensor(assets, **sensor_options)
    return monitor_id, assets, Daemon(sensor, assets, instance, resources(server, base))


def leaks(surfaces: dict[str, str | bytes]) -> dict[str, str]:
    """Where the key shows, with some context around it (the key masked)."""
    found = {}
    for where, text in surfaces.items():
        if isinstance(text, bytes):
            text = text.decode("latin-1")
        at = text.find(KEY)
        if at >= 0:
            found[where] = text[max(at - 100, 0) : at + len(KEY) + 20].replace(KEY, "<KEY>")
    return found
