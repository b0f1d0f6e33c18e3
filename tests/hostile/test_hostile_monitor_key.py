"""Monitors against a hostile server that echoes the API key: it never shows
in logs, metadata, errors, Parquet or run storage."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import httpx
import pytest
from dagster import (
    DagsterInstance,
)

from scout_dagster import (
    ScoutNotFoundError,
    build_scout_monitor_sensor,
)
from tests.hostile.monitor_support import (
    ASSET,
    KEY,
    PARTITIONS,
    QUERY,
    Daemon,
    client,
    leaks,
    monitor_assets,
    resources,
)
from tests.hostile.run_support import failure_text
from tests.hostile.server import HostileServer, Scenario

# ---------------------------------------------------------------- 3. the key never shows


@pytest.mark.timeout(120)
def test_an_echoed_key_never_shows_in_logs_metadata_errors_parquet_or_run_storage(
    instance: DagsterInstance,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """x-request-id echoes the key, a failed event's error names it, a deleted
    monitor's 404 names it, and a 500 (retried) carries the echoing request id."""
    for logger in ("scout_dagster", "dagster"):
        caplog.set_level(logging.DEBUG, logger=logger)
    scenario = Scenario(echo_key=True, events_failures=[500], events_retry_after=None)
    with HostileServer(KEY, scenario) as server:
        monitor_id = server.add_monitor(QUERY)
        assets = monitor_assets(monitor_id)
        daemon = Daemon(
            build_scout_monitor_sensor(assets), assets, instance, resources(server, tmp_path)
        )
        server.emit_monitor_event(monitor_id)
        server.emit_monitor_event(monitor_id, failed=True)
        assert daemon.drain() == [e["event_id"] for e in server.monitor_events(monitor_id)]
        results = daemon.launch()
        # The harness: the server does echo the key, in a failed event's error.
        raw = httpx.get(
            f"{server.url}/v1/monitors/{monitor_id}/events",
            headers={"Authorization": f"Bearer {KEY}", "Accept": "application/json"},
        )
        assert KEY in raw.text and KEY in raw.headers["x-request-id"]

        streamed = client(server).monitors.stream_events(monitor_id)
        stream_errors = [next(streamed).error for _ in range(2)]
        streamed.close()

        # One more event, requested, then the monitor is deleted before its run.
        server.emit_monitor_event(monitor_id)
        assert daemon.tick()
        server.delete_monitor(monitor_id)
        [orphan] = daemon.launch()
        with pytest.raises(ScoutNotFoundError) as tick_error:
            daemon.tick()

    assert all(r.success for r in results), [failure_text(r)[:1500] for r in results]
    assert not orphan.success
    failed = daemon.launched[server.monitor_events(monitor_id)[1]["event_id"]]
    [materialization] = failed.asset_materializations_for_node(ASSET)
    assert materialization.metadata["scout/error"].value == "upstream rejected token ***"
    assert stream_errors == [None, "upstream rejected token ***"]
    runs = instance.get_runs()
    assert len(runs) == 3
    surfaces: dict[str, str | bytes] = {
        "tick error": "".join(traceback.format_exception(tick_error.value)),
        "run failure": failure_text(orphan),
        "event log": str([instance.all_logs(run.run_id) for run in runs]),
        "run storage": str(runs),
        "dynamic partitions": str(instance.get_dynamic_partitions(PARTITIONS)),
        "log records": caplog.text,
        "stream errors": str(stream_errors),
    }
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file():
            surfaces[f"file {path.relative_to(tmp_path)}"] = path.read_bytes()
    out, err = capfd.readouterr()
    surfaces |= {"stdout": out, "stderr": err}
    assert "upstream rejected token ***" in surfaces["event log"], "the scan is blind"
    assert any(str(p).endswith(".parquet") for p in tmp_path.rglob("*")), "no Parquet scanned"
    found = leaks(surfaces)
    assert not found, f"the key shows in {sorted(found)}: {found}"
